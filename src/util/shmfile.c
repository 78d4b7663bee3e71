/* shmfile: fixed-layout files mapped MAP_SHARED by every worker of a host. */
#include "util/shmfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define SHMFILE_MAGIC 0x64626175646d6170ULL   /* "dbaudmap" */

uint64_t shmfile_hash(uint64_t h, const void *s, size_t n)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Lays out the (empty or fresh) file open on fd. */
static int shm_format(int fd, size_t len, uint64_t tag,
		      int (*format)(void *, void *, const char **), void *arg, const char **why)
{
	struct shmfile_header *h;
	void *map;
	int rc = 0;

	if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)len) != 0) {
		*why = "a shared file cannot be sized";
		return -1;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		*why = "a shared file cannot be mapped";
		return -1;
	}
	h = map;
	h->tag = tag;
	if (format != NULL)
		rc = format(map, arg, why);
	if (rc == 0) {
		__atomic_store_n(&h->magic, SHMFILE_MAGIC, __ATOMIC_RELEASE);
		if (msync(map, len, MS_SYNC) != 0) {
			*why = "a shared file cannot be written";
			rc = -1;
		}
	}
	munmap(map, len);
	return rc;
}

/* Makes a fresh file beside path and renames it over path. */
static int shm_replace(const char *path, size_t len, uint64_t tag,
		       int (*format)(void *, void *, const char **), void *arg, const char **why)
{
	char tmp[4096];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= sizeof(tmp)) {
		*why = "a shared file's path is too long";
		return -1;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = "a shared file's directory is not writable";
		return -1;
	}
	rc = shm_format(fd, len, tag, format, arg, why);
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0) {
		*why = "a shared file cannot be replaced";
		rc = -1;
	}
	if (rc != 0)
		unlink(tmp);
	return rc;
}

void *shmfile_map(const char *path, size_t len, uint64_t tag,
		  int (*format)(void *map, void *arg, const char **why), void *arg,
		  const char **why)
{
	*why = "a shared file keeps changing under us";
	for (int attempt = 0; attempt < 8; attempt++) {
		struct shmfile_header h;
		struct stat st, ps;
		void *map = NULL;
		int fd, rc = 0;

		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			*why = "a shared file cannot be opened";
			return NULL;
		}
		/* Every worker starts at once: one lays it out, the others wait. */
		if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
			close(fd);
			*why = "a shared file cannot be locked";
			return NULL;
		}
		if (stat(path, &ps) != 0 || ps.st_ino != st.st_ino || ps.st_dev != st.st_dev) {
			close(fd);   /* replaced while we waited: open the new one */
			continue;
		}
		memset(&h, 0, sizeof(h));
		if (st.st_size == 0) {
			rc = shm_format(fd, len, tag, format, arg, why);   /* nobody maps it yet */
		} else if ((size_t)st.st_size != len ||
			   pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
			   h.magic != SHMFILE_MAGIC || h.tag != tag) {
			log_msg(LOG_WARN, "%s has another layout; replacing it", path);
			rc = shm_replace(path, len, tag, format, arg, why);
			flock(fd, LOCK_UN);
			close(fd);
			if (rc != 0)
				return NULL;
			continue;
		}
		if (rc == 0) {
			map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (map == MAP_FAILED) {
				*why = "a shared file cannot be mapped";
				map = NULL;
			}
		}
		/* Unlock by hand: the mapping keeps the file, and so its flock, open. */
		flock(fd, LOCK_UN);
		close(fd);
		return map;
	}
	return NULL;
}

void shmfile_unmap(void *map, size_t len)
{
	if (map != NULL)
		munmap(map, len);
}

int shmfile_locks_init(void *first, size_t n, size_t stride, const char **why)
{
	pthread_mutexattr_t attr;
	int rc = 0;

	if (pthread_mutexattr_init(&attr) != 0) {
		*why = "cannot create a mutex attribute";
		return -1;
	}
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (pthread_mutex_init((pthread_mutex_t *)((char *)first + i * stride), &attr) != 0) {
			*why = "cannot initialise the counters' locks";
			rc = -1;
		}
	}
	pthread_mutexattr_destroy(&attr);
	return rc;
}

int shmfile_lock(pthread_mutex_t *m)
{
	int rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		return 0;
	}
	return rc;
}
