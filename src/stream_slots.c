/*
 * stream_slots: per-principal stream slots as flock'd files. A file name is
 * the SHA-256 of the principal id (ids may hold any character) and the slot
 * number: <dir>/<64 hex>.<n>.
 */
#include "stream_slots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "util/log.h"

struct stream_slot {
	int fd;
};

static void hash_hex(const char *s, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), d);
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * sizeof(d)] = '\0';
}

enum api_err stream_slot_acquire(const char *dir, const char *principal_id, int max,
				 struct stream_slot **out)
{
	char h[2 * SHA256_DIGEST_LENGTH + 1], path[4096];
	struct stream_slot *slot;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_msg(LOG_ERROR, "stream slots: cannot create %s: %s", dir, strerror(errno));
		return API_ERR_INTERNAL;
	}
	hash_hex(principal_id, h);
	for (int i = 0; i < max; i++) {
		int fd, n = snprintf(path, sizeof(path), "%s/%s.%d", dir, h, i);

		if (n < 0 || (size_t)n >= sizeof(path)) {
			log_msg(LOG_ERROR, "stream slots: directory name too long");
			return API_ERR_INTERNAL;
		}
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_msg(LOG_ERROR, "stream slots: cannot open %s: %s", path, strerror(errno));
			return API_ERR_INTERNAL;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			slot = malloc(sizeof(*slot));
			if (slot == NULL) {
				close(fd);
				return API_ERR_INTERNAL;
			}
			slot->fd = fd;
			*out = slot;
			return API_OK;
		}
		close(fd);
	}
	return API_ERR_RATE_LIMITED;
}

void stream_slot_release(struct stream_slot *slot)
{
	if (slot == NULL)
		return;
	close(slot->fd);
	free(slot);
}
