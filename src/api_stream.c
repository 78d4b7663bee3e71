/*
 * api_stream: GET /v1/events/stream, Server-Sent Events. The handler checks
 * everything that can fail with a status (filters, Last-Event-ID, the
 * per-principal limit) and answers 200 with a streamed body; the body runs
 * after the head is sent: catch up from the store when the resume point is
 * older than the hub's ring, then follow the hub (stream_hub.h) with a
 * comment line whenever nothing was written for stream_heartbeat_ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "config.h"
#include "event.h"
#include "metrics.h"
#include "principal.h"
#include "store.h"
#include "stream_hub.h"
#include "stream_slots.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#define STREAM_BATCH 64
#define CATCH_UP_PAGE 200
#define WATERMARK_MAX_STEPS 2000
#define CATCH_UP_RETRY_MS 1000
#define CATCH_UP_RETRY_MAX_MS 16000

/* One open stream. Its filter's strings point into the request, which the
 * server keeps until the stream has ended. */
struct stream_session {
	struct app *app;              /* borrowed: store and lock for catch-up reads */
	struct stream_hub *hub;       /* borrowed */
	struct principal who;
	struct event_filter f;
	int64_t pos;                  /* commit sequence of the last event passed */
	struct stream_slot *slot;     /* owned */
	char rid[65];
};

static void session_free(void *arg)
{
	struct stream_session *s = arg;

	if (s == NULL)
		return;
	stream_hub_detach(s->hub);   /* attached by the handler */
	stream_slot_release(s->slot);
	free(s);
}

static void store_lock(struct app *app)
{
	if (app->lock != NULL)
		pthread_mutex_lock(app->lock);
}

static void store_unlock(struct app *app)
{
	if (app->lock != NULL)
		pthread_mutex_unlock(app->lock);
}

static int frame(struct buf *b, const char *id, const char *type, const char *data, size_t len)
{
	return buf_appends(b, "id: ") | buf_appends(b, id) | buf_appends(b, "\nevent: ") |
	       buf_appends(b, type) | buf_appends(b, "\ndata: ") | buf_append(b, data, len) |
	       buf_append(b, "\n\n", 2);
}

/*
 * Sends the events of (s->pos, upto] from the store, a page at a time.
 * Returns 0, -1 when the client is gone, or 1 when the store failed (the
 * caller retries from s->pos: the events sent so far stay sent).
 */
static int catch_up(struct stream_session *s, struct http_sink *sink, int64_t upto)
{
	while (s->pos < upto) {
		json_t *docs = NULL, *doc;
		struct buf b;
		bool more = false;
		int64_t next = upto;
		size_t i;
		enum api_err rc;
		int failed = 0;

		buf_init(&b);
		store_lock(s->app);
		rc = store_events_after(s->app->store, &s->who, &s->f, s->pos, upto, CATCH_UP_PAGE,
					&docs, &more);
		json_array_foreach(docs, i, doc) {
			const char *id = json_string_value(json_object_get(doc, "_id"));
			const char *type = json_string_value(json_object_get(doc, "type"));
			int64_t seq = json_integer_value(json_object_get(doc, "seq"));
			char *data;

			if (rc != API_OK || id == NULL || type == NULL)
				break;
			data = api_events_render(s->app->store, doc, &rc);
			if (data == NULL || frame(&b, id, type, data, strlen(data)) != 0)
				failed = 1;
			free(data);
			if (failed)
				break;
			next = seq;
		}
		store_unlock(s->app);
		json_decref(docs);
		if (rc != API_OK || failed) {
			buf_cleanup(&b);
			return 1;
		}
		if (!more)
			next = upto;
		if (b.len > 0 && http_sink_send(sink, b.data, b.len) != 0) {
			buf_cleanup(&b);
			return -1;
		}
		buf_cleanup(&b);
		s->pos = next;
	}
	return 0;
}

/* Sends events taken from the hub and drops their references. */
static int send_events(struct http_sink *sink, struct stream_event **ev, size_t n)
{
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		const char *type = ev[i]->type >= 0 ? event_types[ev[i]->type].name : "event";

		rc |= frame(&b, ev[i]->id, type, ev[i]->data, ev[i]->data_len);
		stream_event_unref(ev[i]);
	}
	if (rc == 0 && n > 0)
		rc = http_sink_send(sink, b.data, b.len);
	buf_cleanup(&b);
	return rc;
}

static void stream_run(void *arg, struct http_sink *sink)
{
	struct stream_session *s = arg;
	const struct config *cfg = s->app->cfg;
	struct stream_event *ev[STREAM_BATCH];
	char line[64];
	int64_t beat = time_mono_ms() + cfg->stream_heartbeat_ms;
	const char *why = "client gone";
	bool failing = false;
	int64_t retry_ms = CATCH_UP_RETRY_MS;

	log_set_request_id(s->rid);
	metrics_add(METRIC_STREAM_SUBSCRIBERS, 1);
	snprintf(line, sizeof(line), "retry: %lld\n\n", (long long)cfg->stream_retry_ms);
	if (http_sink_send(sink, line, strlen(line)) != 0)
		goto out;
	for (;;) {
		size_t n = 0;
		int64_t newpos = s->pos;
		enum stream_next r = stream_hub_next(s->hub, s->pos, &s->who, &s->f, beat, ev,
						     STREAM_BATCH, &n, &newpos);

		if (r == STREAM_STOP) {
			why = "server stopping";
			/* A clean end: the client reconnects (retry:) and resumes from its last id. */
			http_sink_send(sink, ": the server is restarting; reconnect\n\n", 39);
			break;
		}
		if (r == STREAM_TIMEOUT) {
			if (http_sink_send(sink, ": heartbeat\n\n", 13) != 0)
				break;
		} else if (r == STREAM_BEHIND) {
			int cu = catch_up(s, sink, newpos);

			if (cu < 0)
				break;
			if (cu > 0) {
				/*
				 * The store failed or was too slow: ending the stream
				 * would lose the position of a client that has seen no
				 * event yet (it would reconnect "from now"). Keep it,
				 * check the client is still there, try again.
				 */
				if (!failing)
					log_msg(LOG_WARN, "stream: catching up from the store failed; "
						"retrying after %d ms, then less and less often",
						CATCH_UP_RETRY_MS);
				failing = true;
				if (http_sink_send(sink, ": heartbeat\n\n", 13) != 0)
					break;
				beat = time_mono_ms() + cfg->stream_heartbeat_ms;
				/*
				 * A stop cuts the pause short; the next turn ends the
				 * stream. The pause doubles, so that a store too slow
				 * for the query is not asked it again and again.
				 */
				stream_hub_pause(s->hub, retry_ms);
				if (retry_ms < CATCH_UP_RETRY_MAX_MS)
					retry_ms *= 2;
				continue;
			}
			if (failing)
				log_msg(LOG_INFO, "stream: caught up from the store");
			failing = false;
			retry_ms = CATCH_UP_RETRY_MS;
			continue;
		} else {
			if (send_events(sink, ev, n) != 0)
				break;
			s->pos = newpos;
			if (n == 0)
				continue;
		}
		beat = time_mono_ms() + cfg->stream_heartbeat_ms;
	}
out:
	metrics_add(METRIC_STREAM_SUBSCRIBERS, -1);
	log_msg(LOG_INFO, "stream of %s ended: %s", s->who.id, why);
	log_set_request_id(NULL);
}

static const char *const stream_params[] = {
	"type", "severity", "database_id", "start_date", "end_date", "user", "source_ip",
	"last_event_id", NULL,
};

/*
 * The commit sequence after which the stream starts: the resume id's; else
 * *now is set and the position is taken from the hub when the stream
 * attaches (start_now).
 */
static enum api_err resume_position(struct ctx *c, int64_t *pos, bool *now)
{
	const char *id = c->req->last_event_id, *q = NULL;
	json_t *doc = NULL, *seq;
	enum api_err rc;

	if ((rc = api_query_str(c, "last_event_id", 64, &q)) != API_OK)
		return rc;
	/* The header wins: a client that reconnects sends the newer id there. */
	if (id == NULL || id[0] == '\0')
		id = q;
	*now = id == NULL || id[0] == '\0';
	if (*now)
		return API_OK;
	if (!event_id_valid(id))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"Last-Event-ID must be an event id (evt_ and 24 hex digits)");
	rc = store_events_get(c->app->store, c->who, id, &doc);
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"Last-Event-ID is not an event of your tenants; reconnect without it "
				"to start from now");
	if (rc != API_OK)
		return rc;
	seq = json_object_get(doc, "seq");
	if (json_is_integer(seq))
		*pos = json_integer_value(seq);
	else
		rc = API_ERR_INTERNAL;
	json_decref(doc);
	return rc;
}

enum api_err api_events_stream(struct ctx *c)
{
	const struct config *cfg = c->app->cfg;
	struct stream_session *s = NULL;
	struct event_filter f;
	int64_t pos = 0, hub_pos = 0;
	bool now = false;
	enum api_err rc;

	if (c->app->hub == NULL)
		return api_fail(c, API_ERR_NOT_FOUND,
				"the event stream is served by the stream pool (location = /v1/events/stream)");
	if ((rc = api_query_only(c, stream_params)) != API_OK ||
	    (rc = api_events_parse_filter(c, &f)) != API_OK ||
	    (rc = resume_position(c, &pos, &now)) != API_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return API_ERR_INTERNAL;
	rc = stream_slot_acquire(cfg->stream_slot_dir, c->who->id,
				 (int)cfg->stream_max_per_principal, &s->slot);
	if (rc != API_OK) {
		free(s);
		if (rc != API_ERR_RATE_LIMITED)
			return rc;
		http_response_header(c->res, "Retry-After", "%d", 5);
		c->reason = "stream_limit";
		return api_fail(c, rc, "at most %lld concurrent event streams per principal; "
				"close one first", (long long)cfg->stream_max_per_principal);
	}
	s->app = c->app;
	s->hub = c->app->hub;
	/*
	 * Attached from here until session_free. From now: the hub's
	 * position, taken as the stream attaches, so the ring has every later
	 * event. A position read from the store instead could be older than
	 * the ring (the reader skips ahead while no stream is open) and cost a
	 * catch-up read.
	 */
	if (stream_hub_attach_now(s->hub, &hub_pos) && now) {
		pos = hub_pos;
	} else if (now) {
		/* The reader has not read its first position yet. */
		rc = store_events_watermark(c->app->store, cfg->cursor_gap_lease_ms, time_now_ms(),
					    WATERMARK_MAX_STEPS, &pos);
		if (rc != API_OK) {
			session_free(s);
			return rc;
		}
	}
	s->who = *c->who;
	s->f = f;
	s->pos = pos;
	snprintf(s->rid, sizeof(s->rid), "%s", c->req->request_id ? c->req->request_id : "");
	c->res->status = 200;
	http_response_header(c->res, "Content-Type", "text/event-stream; charset=utf-8");
	http_response_header(c->res, "Cache-Control", "no-cache");
	http_response_header(c->res, "X-Accel-Buffering", "no");
	c->res->stream = stream_run;
	c->res->stream_free = session_free;
	c->res->stream_arg = s;
	return API_OK;
}
