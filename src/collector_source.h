/*
 * collector_source: one followed log (a file and its rotated copies, or a
 * directory of log files) of one database. Reads new records, keeps the
 * events they yield in a bounded queue until the API acknowledged them,
 * and keeps the checkpoint: for each file, identified by a fingerprint of
 * its first line (so that a renamed or copied file keeps its identity), the
 * offset up to which every event was acknowledged. The checkpoint file
 * <state_dir>/<name>.json is replaced atomically (write, fsync, rename).
 * Each event's external_id is "<database_id>:<fingerprint>:<offset>".
 */
#ifndef DBAUDIT_COLLECTOR_SOURCE_H
#define DBAUDIT_COLLECTOR_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"
#include "collector_conf.h"

struct collector_source;

/* What a source knows about its log, for the heartbeat. */
struct collector_source_health {
	bool file_missing;      /* no readable log file at path */
	bool permission_denied; /* a log file or the directory could not be read */
	bool paused;            /* the queue is full: reading stopped */
	int64_t lag_ms;         /* how long the oldest queued event has waited */
};

/*
 * Opens a source and loads its checkpoint (a missing checkpoint file means
 * "from the start of every file"). sc must outlive the source. On failure
 * writes a reason to err. The caller frees *out with collector_source_free.
 */
enum api_err collector_source_open(const struct collector_source_conf *sc,
				   const char *state_dir, int64_t idle_ms,
				   struct collector_source **out, char *err, size_t errlen);

/* Frees a source (its queue is lost: the checkpoint makes it read again). */
void collector_source_free(struct collector_source *s);

/*
 * Reads what is new in the log, at most max_bytes, while fewer than
 * max_queue events are queued. *added counts the events queued. Errors of
 * the log (missing file, permissions) are no failure: they show in the
 * health and are logged once when they start. Returns API_ERR_INTERNAL only
 * when memory runs out.
 */
enum api_err collector_source_poll(struct collector_source *s, size_t max_queue,
				   size_t max_bytes, size_t *added);

/* Number of queued events. */
size_t collector_source_queued(const struct collector_source *s);

/* Monotonic time (ms) the oldest queued event was read, or -1. */
int64_t collector_source_oldest_ms(const struct collector_source *s);

/* True when every byte of every file was read (nothing new to poll). */
bool collector_source_caught_up(const struct collector_source *s);

/*
 * The queued events from index from, at most n: a new {"events": [...]}
 * document the caller frees, and *count the events in it.
 */
json_t *collector_source_batch(struct collector_source *s, size_t from, size_t n, size_t *count);

/*
 * Drops the first count queued events (the API stored them) and writes the
 * checkpoint. Returns API_ERR_INTERNAL when the checkpoint cannot be
 * written (logged; the events may then be sent again after a restart,
 * which their external_id makes harmless).
 */
enum api_err collector_source_ack(struct collector_source *s, size_t count);

/*
 * When no event is queued, moves the checkpoint up to what was read (records
 * that yield no event) and writes it if it changed and force is set or
 * a second has passed since the last write.
 */
enum api_err collector_source_sync(struct collector_source *s, bool force);

/* Appends one line to <state_dir>/<name>.rejected.ndjson: the event the API
 * refused and why. Returns 0 or -1. */
int collector_source_reject(struct collector_source *s, json_t *event, const char *why);

/* Fills the health. */
void collector_source_health(const struct collector_source *s, struct collector_source_health *h);

#endif
