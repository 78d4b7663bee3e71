/*
 * stream_slots: how many event streams a principal holds open, counted
 * across every stream process of the host. A stream holds one slot: an
 * exclusive flock(2) on one of N files per principal in a directory. The
 * kernel drops the lock when the stream's descriptor closes, whether the
 * process ended the stream, exited or was killed (kill -9 included), so a
 * slot is never leaked.
 */
#ifndef DBAUDIT_STREAM_SLOTS_H
#define DBAUDIT_STREAM_SLOTS_H

#include "api_err.h"

struct stream_slot;

/*
 * Takes a free slot of principal_id among max in dir (created if missing,
 * mode 0700). API_OK and *out (release it with stream_slot_release);
 * API_ERR_RATE_LIMITED when all max are held; API_ERR_INTERNAL (logged)
 * when the directory or a file cannot be used.
 */
enum api_err stream_slot_acquire(const char *dir, const char *principal_id, int max,
				 struct stream_slot **out);

/* Frees the slot for the next stream; NULL is a no-op. */
void stream_slot_release(struct stream_slot *slot);

#endif
