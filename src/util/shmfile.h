/*
 * shmfile: a file that every worker process of a host maps MAP_SHARED, of
 * a fixed size and layout. The first worker to take the file's flock lays
 * it out; a file of another size or layout (an older binary, another
 * setting) is never changed under the workers still mapping it: a fresh
 * one is renamed over the name, and they keep their copy until they exit.
 * Used for the rate-limit counters and the metrics.
 */
#ifndef DBAUDIT_SHMFILE_H
#define DBAUDIT_SHMFILE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The first bytes of every such file. */
struct shmfile_header {
	uint64_t magic;   /* written last: a half-made file is remade */
	uint64_t tag;     /* the layout: kind, version and sizes, hashed */
};

/*
 * Maps path (created if missing, mode 0600) as len bytes that start with a
 * shmfile_header of tag. When it must be made, the rest is zeroed and
 * format(map, arg) may fill it (return 0, or -1 with *why). Returns the
 * mapping, or NULL with *why set. Unmap it with shmfile_unmap(map, len).
 */
void *shmfile_map(const char *path, size_t len, uint64_t tag,
		  int (*format)(void *map, void *arg, const char **why), void *arg,
		  const char **why);

/* Unmaps what shmfile_map returned; NULL is a no-op. */
void shmfile_unmap(void *map, size_t len);

/* FNV-1a of s, continuing from h (start with SHMFILE_HASH_INIT): for tags and keys. */
#define SHMFILE_HASH_INIT 0xcbf29ce484222325ULL
uint64_t shmfile_hash(uint64_t h, const void *s, size_t n);

/*
 * Initialises the n process-shared robust mutexes found every stride bytes
 * from first (a fresh file's locks, from a format callback). Returns 0, or
 * -1 with *why set.
 */
int shmfile_locks_init(void *first, size_t n, size_t stride, const char **why);

/*
 * Locks a mutex that shmfile_locks_init made. A holder that died (kill -9)
 * left it "owner dead": it is marked consistent and the caller goes on
 * (what the dead holder half did is the caller's to tolerate). Returns 0,
 * or the pthread error of an unusable lock.
 */
int shmfile_lock(pthread_mutex_t *m);

#endif
