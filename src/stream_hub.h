/*
 * stream_hub: the commit order of the store, followed once per stream
 * process and fanned out in memory. One reader thread reads the watermark
 * and the events up to it (store_events_watermark, store_events_after_all),
 * renders each event once and appends it to a ring of recent events; every
 * stream of the process takes its events from the ring. The store's load is
 * therefore the same for one subscriber or a thousand.
 *
 * Positions are commit sequences. The hub guarantees that the ring holds
 * every event with ring_lo < seq <= pos (pos: how far the reader got), and
 * events up to pos are fixed forever (docs/events.md), so a stream that
 * read the store up to some p <= pos and continues from the ring after p
 * misses nothing and repeats nothing.
 */
#ifndef DBAUDIT_STREAM_HUB_H
#define DBAUDIT_STREAM_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"
#include "event.h"
#include "principal.h"

struct config;
struct store;
struct event_filter;

/* One event as every stream of the process shares it; immutable once published. */
struct stream_event {
	int refs;                 /* atomic; the ring holds one */
	int64_t seq;
	int type;                 /* index in event_types, -1 when unknown */
	char id[EVENT_ID_LEN + 1];
	char tenant[PRINCIPAL_TENANT_MAX_LEN + 1];
	char *severity, *database_id, *database_name, *user, *source_ip; /* NULL when absent */
	int64_t timestamp_ms;
	char *data;               /* the event JSON, rendered once */
	size_t data_len;
};

/*
 * Renders a stored event (as store_events_after returns it) into the JSON
 * text a stream sends as data:. Returns a malloc'ed string, or NULL with
 * *rc set (API_ERR_UNAVAILABLE: the store failed; try again).
 */
typedef char *(*stream_render_fn)(struct store *s, json_t *doc, enum api_err *rc);

/*
 * Builds a shared event from a stored document and its rendering (data
 * passes to the event). NULL when memory runs out or doc has no seq.
 */
struct stream_event *stream_event_create(json_t *doc, char *data);

/* Takes a reference. */
void stream_event_ref(struct stream_event *e);

/* Drops a reference; the last one frees e. NULL is a no-op. */
void stream_event_unref(struct stream_event *e);

/* Whether e is one of p's tenants and passes f (types, severity,
 * database, user, source address, time range; search and action id unused). */
bool stream_event_match(const struct stream_event *e, const struct principal *p,
			const struct event_filter *f);

struct stream_hub;

/*
 * Starts the reader thread with a store handle of its own. The hub is
 * usable at once; streams wait until the reader knows its first position.
 */
enum api_err stream_hub_create(const struct config *cfg, stream_render_fn render,
			       struct stream_hub **out);

/* Makes every stream_hub_next return STREAM_STOP, now and later (a reload). */
void stream_hub_stop(struct stream_hub *h);

/*
 * Stops the reader and frees the hub; NULL is a no-op. Call after every
 * stream ended. A reader still in a store call after a few seconds (an
 * outage) is left running and the hub is not freed: for a process about
 * to exit.
 */
void stream_hub_free(struct stream_hub *h);

enum stream_next {
	STREAM_EVENTS,   /* *n events (maybe 0) and the new position */
	STREAM_BEHIND,   /* pos is older than the ring: read (pos, *newpos] from the store */
	STREAM_TIMEOUT,  /* nothing new before the deadline */
	STREAM_STOP,     /* the process is stopping */
};

/*
 * What comes after position pos for a stream of p filtered by f. Waits
 * until there is something or the monotonic deadline (ms) passes. On
 * STREAM_EVENTS, out[0..*n) are matching events (references the caller
 * drops) and *newpos the position after them; on STREAM_BEHIND, *newpos is
 * a position the store must be read up to before asking again.
 */
enum stream_next stream_hub_next(struct stream_hub *h, int64_t pos, const struct principal *p,
				 const struct event_filter *f, int64_t deadline_ms,
				 struct stream_event **out, size_t max, size_t *n, int64_t *newpos);

/* Sleeps ms, or less when the hub stops; returns true when it is stopping. */
bool stream_hub_pause(struct stream_hub *h, int64_t ms);

/* Counts the streams of this process (a stream attaches while it runs). */
void stream_hub_attach(struct stream_hub *h);

/*
 * Attaches a stream that starts "now" and, when the reader knows its
 * position, writes it to *pos and returns true. Taken under the hub's lock
 * with the attach, so the ring holds everything after it: the reader no
 * longer skips ahead once a stream is attached, and the stream needs no
 * read from the store to start.
 */
bool stream_hub_attach_now(struct stream_hub *h, int64_t *pos);
void stream_hub_detach(struct stream_hub *h);
int stream_hub_streams(struct stream_hub *h);

#endif
