/*
 * dbprobe_slot: the cap on concurrent connection tests per principal,
 * shared by every worker process. A principal has max slot files in the
 * slot directory, named by a hash of its id; a test holds an exclusive
 * flock on one of them. The kernel drops a lock when its holder exits,
 * however it ends (kill -9 included), so a slot is never lost.
 */
#include "dbprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

enum dbprobe_slot_rc dbprobe_slot_take(const char *dir, const char *who, int max, int *fd)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[33], path[4096];

	*fd = -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return DBPROBE_SLOT_ERROR;
	if (EVP_Digest(who, strlen(who), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
		return DBPROBE_SLOT_ERROR;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	for (int i = 0; i < max; i++) {
		int f;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s.%d", dir, hex, i) >= sizeof(path))
			return DBPROBE_SLOT_ERROR;
		f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (f < 0)
			return DBPROBE_SLOT_ERROR;
		if (flock(f, LOCK_EX | LOCK_NB) == 0) {
			*fd = f;
			return DBPROBE_SLOT_TAKEN;
		}
		close(f);
		if (errno != EWOULDBLOCK)
			return DBPROBE_SLOT_ERROR;
	}
	return DBPROBE_SLOT_BUSY;
}

void dbprobe_slot_give(int fd)
{
	if (fd >= 0)
		close(fd);  /* closing the only descriptor drops the lock */
}
