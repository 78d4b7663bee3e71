/*
 * stream_hub: the reader thread, the ring of recent events and the wait of
 * each stream. One mutex guards the ring and the positions; the reader
 * renders outside it and holds it only to append. Streams copy references
 * to matching events under the mutex and write them without it.
 */
#include "stream_hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "metrics.h"
#include "store.h"
#include "util/log.h"
#include "util/timeutil.h"

#define READER_PAGE 500
#define READER_MAX_STEPS 2000
#define READER_RETRY_MS 1000
#define READER_IDLE_MS 1000
/*
 * The reader's own store calls may take this long (store_timeout_ms, when
 * longer, wins). No client waits on them, and a slow store (FerretDB scans
 * every document) retried every second on a short timeout would never
 * answer and only be loaded more.
 */
#define READER_STORE_TIMEOUT_MS 30000
#define READER_JOIN_GRACE_S 3

struct stream_hub {
	const struct config *cfg;       /* borrowed */
	stream_render_fn render;
	struct store *store;            /* the reader's own */
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t mu;
	pthread_cond_t news;            /* the position moved, or stop */
	pthread_cond_t pause;           /* the reader's sleep, cut short by stop */
	bool stopping, ready;
	int64_t pos, ring_lo;
	struct stream_event **ring;     /* circular, oldest at head */
	size_t cap, head, len;
	int streams;
};

/* ---------------------------------------------------------------- events */

static char *dup_str(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static void copy_bounded(char *out, size_t cap, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;

	if (n >= cap)
		n = 0;
	memcpy(out, s ? s : "", n);
	out[n] = '\0';
}

struct stream_event *stream_event_create(json_t *doc, char *data)
{
	struct stream_event *e;
	json_t *d = json_object_get(doc, "details"), *seq = json_object_get(doc, "seq");
	const char *type = json_string_value(json_object_get(doc, "type"));
	const char *ts = json_string_value(json_object_get(doc, "timestamp"));

	if (!json_is_integer(seq) || data == NULL)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->refs = 1;
	e->seq = json_integer_value(seq);
	e->type = type ? event_type_index(type) : -1;
	copy_bounded(e->id, sizeof(e->id), json_object_get(doc, "_id"));
	copy_bounded(e->tenant, sizeof(e->tenant), json_object_get(doc, "tenant_id"));
	e->severity = dup_str(json_object_get(doc, "severity"));
	e->database_id = dup_str(json_object_get(doc, "database_id"));
	e->database_name = dup_str(json_object_get(doc, "database_name"));
	e->user = dup_str(json_object_get(d, "user"));
	e->source_ip = dup_str(json_object_get(d, "source_ip"));
	if (ts == NULL || time_parse_rfc3339(ts, &e->timestamp_ms) != 0)
		e->timestamp_ms = 0;
	e->data = data;
	e->data_len = strlen(data);
	return e;
}

void stream_event_ref(struct stream_event *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
}

void stream_event_unref(struct stream_event *e)
{
	if (e == NULL || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(e->severity);
	free(e->database_id);
	free(e->database_name);
	free(e->user);
	free(e->source_ip);
	free(e->data);
	free(e);
}

static bool str_eq(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

bool stream_event_match(const struct stream_event *e, const struct principal *p,
			const struct event_filter *f)
{
	if (!principal_has_tenant(p, e->tenant))
		return false;
	if (f->types != 0 && f->types != EVENT_TYPES_ALL &&
	    (e->type < 0 || !(f->types & (1u << e->type))))
		return false;
	if (!str_eq(f->severity, e->severity) || !str_eq(f->database_id, e->database_id) ||
	    !str_eq(f->database_name, e->database_name) || !str_eq(f->user, e->user) ||
	    !str_eq(f->source_ip, e->source_ip))
		return false;
	if (f->has_start && e->timestamp_ms < f->start_ms)
		return false;
	if (f->has_end && e->timestamp_ms > f->end_ms)
		return false;
	return true;
}

/* ---------------------------------------------------------------- ring */

static struct stream_event *ring_at(struct stream_hub *h, size_t i)
{
	return h->ring[(h->head + i) % h->cap];
}

/* Appends e (the ring takes the caller's reference); evicts the oldest when full. */
static void ring_push(struct stream_hub *h, struct stream_event *e)
{
	if (h->len == h->cap) {
		struct stream_event *old = h->ring[h->head];

		h->ring_lo = old->seq;
		stream_event_unref(old);
		h->head = (h->head + 1) % h->cap;
		h->len--;
	}
	h->ring[(h->head + h->len) % h->cap] = e;
	h->len++;
}

/* Index of the first event with seq > pos (len when none). */
static size_t ring_after(struct stream_hub *h, int64_t pos)
{
	size_t lo = 0, hi = h->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ring_at(h, mid)->seq <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---------------------------------------------------------------- reader */

static void deadline_ts(int64_t mono_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(mono_ms / 1000);
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* Sleeps ms on cond or until stop; returns true when stopping. */
static bool wait_stop(struct stream_hub *h, pthread_cond_t *cond, int64_t ms)
{
	struct timespec ts;
	bool stop;

	deadline_ts(time_mono_ms() + ms, &ts);
	pthread_mutex_lock(&h->mu);
	while (!h->stopping && pthread_cond_timedwait(cond, &h->mu, &ts) != ETIMEDOUT)
		;
	stop = h->stopping;
	pthread_mutex_unlock(&h->mu);
	return stop;
}

/* The reader's sleep: a new first stream cuts it short (the pause cond). */
static bool reader_pause(struct stream_hub *h, int64_t ms)
{
	return wait_stop(h, &h->pause, ms);
}

static bool hub_stopping(struct stream_hub *h)
{
	bool stop;

	pthread_mutex_lock(&h->mu);
	stop = h->stopping;
	pthread_mutex_unlock(&h->mu);
	return stop;
}

/*
 * Reads and publishes the events of (pos, w], one page at a time. Returns
 * the position reached (pos when nothing could be read).
 */
static int64_t reader_publish(struct stream_hub *h, int64_t pos, int64_t w, enum api_err *rc)
{
	while (pos < w && !hub_stopping(h)) {
		json_t *docs = NULL, *doc;
		struct stream_event *batch[READER_PAGE];
		size_t n = 0, i;
		bool more = false, partial = false;
		int64_t next;

		*rc = store_events_after_all(h->store, pos, w, READER_PAGE, &docs, &more);
		metrics_add(METRIC_STREAM_STORE_READS, 1);
		if (*rc != API_OK)
			return pos;
		json_array_foreach(docs, i, doc) {
			char *data = h->render(h->store, doc, rc);
			struct stream_event *e = data ? stream_event_create(doc, data) : NULL;

			if (e == NULL) {
				if (data != NULL) {
					free(data);
					*rc = API_ERR_INTERNAL;
				}
				partial = true;
				break;
			}
			batch[n++] = e;
		}
		json_decref(docs);
		/* A page published in part ends at its last published event. */
		if (partial)
			next = n ? batch[n - 1]->seq : pos;
		else
			next = more && n ? batch[n - 1]->seq : w;
		pthread_mutex_lock(&h->mu);
		for (size_t k = 0; k < n; k++)
			ring_push(h, batch[k]);
		h->pos = next;
		pthread_cond_broadcast(&h->news);
		pthread_mutex_unlock(&h->mu);
		if (partial)
			return next;
		pos = next;
	}
	*rc = API_OK;
	return pos;
}

/*
 * With no stream open, the reader reads no events: it moves to w and
 * empties the ring, which keeps "the ring holds (ring_lo, pos]" true. A
 * stream that then resumes from before w catches up from the store.
 */
static int64_t reader_skip(struct stream_hub *h, int64_t w)
{
	pthread_mutex_lock(&h->mu);
	if (h->pos < w) {
		for (size_t i = 0; i < h->len; i++)
			stream_event_unref(ring_at(h, i));
		h->head = h->len = 0;
		h->pos = h->ring_lo = w;
		pthread_cond_broadcast(&h->news);
	}
	pthread_mutex_unlock(&h->mu);
	return w;
}

static void *reader_main(void *arg)
{
	struct stream_hub *h = arg;
	int64_t pos = 0, w = 0;
	bool failing = false;

	log_msg(LOG_INFO, "stream reader started");
	while (!hub_stopping(h)) {
		enum api_err rc = store_events_watermark(h->store, h->cfg->cursor_gap_lease_ms,
							 time_now_ms(), READER_MAX_STEPS, &w);

		metrics_add(METRIC_STREAM_STORE_READS, 1);

		if (rc == API_OK && !h->ready) {
			pthread_mutex_lock(&h->mu);
			h->pos = h->ring_lo = pos = w;
			h->ready = true;
			pthread_cond_broadcast(&h->news);
			pthread_mutex_unlock(&h->mu);
		}
		if (rc == API_OK && stream_hub_streams(h) == 0)
			pos = reader_skip(h, w);
		else if (rc == API_OK)
			pos = reader_publish(h, pos, w, &rc);
		if (rc != API_OK) {
			if (!failing)
				log_msg(LOG_WARN, "stream reader: the store failed; retrying every %d ms",
					READER_RETRY_MS);
			failing = true;
			store_reset(h->store);
			if (reader_pause(h, READER_RETRY_MS))
				break;
			continue;
		}
		if (failing)
			log_msg(LOG_INFO, "stream reader: the store is back");
		failing = false;
		/* Idle, the watermark is read once a second; a new stream wakes the reader. */
		if (reader_pause(h, stream_hub_streams(h) > 0 ? h->cfg->stream_poll_ms : READER_IDLE_MS))
			break;
	}
	log_msg(LOG_INFO, "stream reader stopped");
	return NULL;
}

/* ---------------------------------------------------------------- hub */

enum api_err stream_hub_create(const struct config *cfg, stream_render_fn render,
			       struct stream_hub **out)
{
	struct stream_hub *h = calloc(1, sizeof(*h));
	struct config reader_cfg;   /* the store keeps none of it */
	pthread_condattr_t ca;
	const char *why = NULL;
	enum api_err rc;

	*out = NULL;
	if (h == NULL)
		return API_ERR_INTERNAL;
	h->cfg = cfg;
	h->render = render;
	h->cap = (size_t)cfg->stream_buffer_events;
	h->ring = calloc(h->cap, sizeof(*h->ring));
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->news, &ca);
	pthread_cond_init(&h->pause, &ca);
	pthread_condattr_destroy(&ca);
	reader_cfg = *cfg;
	if (reader_cfg.store_timeout_ms < READER_STORE_TIMEOUT_MS)
		reader_cfg.store_timeout_ms = READER_STORE_TIMEOUT_MS;
	rc = h->ring ? store_open(&reader_cfg, &h->store, &why) : API_ERR_INTERNAL;
	if (rc != API_OK) {
		log_msg(LOG_ERROR, "stream reader: %s", why ? why : "out of memory");
		stream_hub_free(h);
		return rc;
	}
	if (pthread_create(&h->reader, NULL, reader_main, h) != 0) {
		log_msg(LOG_ERROR, "stream reader: cannot start its thread");
		stream_hub_free(h);
		return API_ERR_INTERNAL;
	}
	h->reader_started = true;
	*out = h;
	return API_OK;
}

void stream_hub_stop(struct stream_hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->news);
	pthread_cond_broadcast(&h->pause);
	pthread_mutex_unlock(&h->mu);
}

void stream_hub_free(struct stream_hub *h)
{
	if (h == NULL)
		return;
	stream_hub_stop(h);
	if (h->reader_started) {
		struct timespec until;

		/*
		 * The reader may be inside a store call of up to
		 * READER_STORE_TIMEOUT_MS (a store outage). A process that is
		 * exiting does not wait for it: it leaves the hub to the exit.
		 */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += READER_JOIN_GRACE_S;
		if (pthread_timedjoin_np(h->reader, NULL, &until) != 0) {
			log_msg(LOG_WARN, "stream reader: still in a store call after %d s; "
				"not waiting for it", READER_JOIN_GRACE_S);
			return;
		}
	}
	for (size_t i = 0; h->ring != NULL && i < h->len; i++)
		stream_event_unref(ring_at(h, i));
	free(h->ring);
	store_free(h->store);
	pthread_cond_destroy(&h->news);
	pthread_cond_destroy(&h->pause);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* Collects the matching events after pos; the caller holds the mutex. */
static void collect(struct stream_hub *h, int64_t pos, const struct principal *p,
		    const struct event_filter *f, struct stream_event **out, size_t max,
		    size_t *n, int64_t *newpos)
{
	*n = 0;
	*newpos = h->pos;
	for (size_t i = ring_after(h, pos); i < h->len; i++) {
		struct stream_event *e = ring_at(h, i);

		if (!stream_event_match(e, p, f))
			continue;
		stream_event_ref(e);
		out[(*n)++] = e;
		if (*n == max) {
			*newpos = e->seq;
			return;
		}
	}
}

enum stream_next stream_hub_next(struct stream_hub *h, int64_t pos, const struct principal *p,
				 const struct event_filter *f, int64_t deadline_ms,
				 struct stream_event **out, size_t max, size_t *n, int64_t *newpos)
{
	struct timespec ts;
	enum stream_next r;

	*n = 0;
	deadline_ts(deadline_ms, &ts);
	pthread_mutex_lock(&h->mu);
	for (;;) {
		if (h->stopping) {
			r = STREAM_STOP;
			break;
		}
		if (h->ready && pos < h->ring_lo) {
			*newpos = h->pos;
			r = STREAM_BEHIND;
			break;
		}
		if (h->ready && pos < h->pos) {
			collect(h, pos, p, f, out, max, n, newpos);
			r = STREAM_EVENTS;
			break;
		}
		if (pthread_cond_timedwait(&h->news, &h->mu, &ts) == ETIMEDOUT && !h->stopping) {
			r = STREAM_TIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

bool stream_hub_pause(struct stream_hub *h, int64_t ms)
{
	return wait_stop(h, &h->news, ms);
}

bool stream_hub_attach_now(struct stream_hub *h, int64_t *pos)
{
	bool ready;

	pthread_mutex_lock(&h->mu);
	if (h->streams++ == 0)
		pthread_cond_broadcast(&h->pause);
	ready = h->ready;
	if (ready)
		*pos = h->pos;
	pthread_mutex_unlock(&h->mu);
	return ready;
}

void stream_hub_attach(struct stream_hub *h)
{
	int64_t pos;

	(void)stream_hub_attach_now(h, &pos);
}

void stream_hub_detach(struct stream_hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->streams--;
	pthread_mutex_unlock(&h->mu);
}

int stream_hub_streams(struct stream_hub *h)
{
	int n;

	pthread_mutex_lock(&h->mu);
	n = h->streams;
	pthread_mutex_unlock(&h->mu);
	return n;
}
