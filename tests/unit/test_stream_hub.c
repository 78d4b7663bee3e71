/*
 * The stream hub against a real SQLite store of its own: the reader
 * follows the commit order into the ring, streams take what matches them
 * in commit order, a stream older than the ring is sent to the store
 * (STREAM_BEHIND) with the position to read up to, an idle hub skips ahead,
 * and stop ends every wait at once. The hub's reader is a real thread with
 * its own store handle, as in a stream process; the waits below are
 * bounded by deadlines, never by sleeps that a slow machine could outrun.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "principal.h"
#include "store.h"
#include "stream_hub.h"
#include "util/timeutil.h"

struct fixture {
	struct config cfg;
	struct store *s;          /* the writer's handle; the hub opens its own */
	struct stream_hub *hub;
	struct principal p, other;
	char dir[64];
};

static char *render(struct store *s, json_t *doc, enum api_err *rc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	(void)s;
	if (text == NULL)
		*rc = API_ERR_INTERNAL;
	return text;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *why = NULL;
	char err[256], path[128];

	assert_non_null(f);
	assert_int_equal(config_load(&f->cfg, NULL, err, sizeof(err)), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/dbaudit-hub.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "sqlite:%s/store/dbaudit.db", f->dir);
	free(f->cfg.store);
	f->cfg.store = strdup(path);
	f->cfg.stream_poll_ms = 5;
	f->cfg.stream_buffer_events = 100;     /* the smallest ring the config allows */
	assert_int_equal(store_open(&f->cfg, &f->s, &why), API_OK);
	assert_int_equal(store_migrate(f->s), API_OK);
	snprintf(f->p.id, sizeof(f->p.id), "key_hub");
	snprintf(f->p.tenants[0], sizeof(f->p.tenants[0]), "hub-a");
	f->p.ntenants = 1;
	snprintf(f->other.id, sizeof(f->other.id), "key_other");
	snprintf(f->other.tenants[0], sizeof(f->other.tenants[0]), "hub-b");
	f->other.ntenants = 1;
	assert_int_equal(stream_hub_create(&f->cfg, render, &f->hub), API_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	stream_hub_free(f->hub);
	store_free(f->s);
	config_cleanup(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Stores n events of type for p's first tenant, one batch; ids out (may be NULL). */
static void ingest(struct fixture *f, const struct principal *p, const char *type, size_t n,
		   char (*ids)[EVENT_ID_LEN + 1])
{
	struct event_in *ev = calloc(n, sizeof(*ev));
	char msg[256], text[256];
	size_t bad = 0;

	assert_non_null(ev);
	for (size_t i = 0; i < n; i++) {
		json_t *o;

		snprintf(text, sizeof(text), "{\"type\":\"%s\",\"timestamp\":\"2024-01-01T00:00:%02zuZ\","
			 "\"details\":{\"user\":\"u%zu\"}}", type, i % 60, i);
		o = json_loads(text, 0, NULL);
		assert_non_null(o);
		assert_int_equal(event_parse(o, p, &ev[i], msg, sizeof(msg)), EVENT_PARSE_OK);
		json_decref(o);
	}
	assert_int_equal(store_events_check_databases(f->s, ev, n, &bad), API_OK);
	assert_int_equal(store_events_insert(f->s, ev, n, time_now_ms(), f->cfg.cursor_gap_lease_ms),
			 API_OK);
	for (size_t i = 0; i < n; i++) {
		if (ids != NULL)
			memcpy(ids[i], ev[i].id, sizeof(ids[i]));
		event_in_cleanup(&ev[i]);
	}
	free(ev);
}

static int64_t watermark(struct fixture *f)
{
	int64_t w = 0;

	assert_int_equal(store_events_watermark(f->s, f->cfg.cursor_gap_lease_ms, time_now_ms(),
						1000, &w), API_OK);
	return w;
}

/* Records e in got/seqs when it matches and there is room; drops the reference. */
static void take(struct stream_event *e, const struct principal *p, const struct event_filter *flt,
		 size_t want, size_t *have, char (*got)[EVENT_ID_LEN + 1], int64_t *seqs)
{
	if (*have < want && stream_event_match(e, p, flt)) {
		memcpy(got[*have], e->id, sizeof(got[*have]));
		if (seqs != NULL)
			seqs[*have] = e->seq;
		(*have)++;
	}
	stream_event_unref(e);
}

/*
 * Follows the hub from *pos for p and f as a stream does, until want
 * events arrived or 5 s passed; their ids go to got. STREAM_BEHIND (the
 * stream began before the reader's first position, or fell behind the
 * ring) reads (pos, newpos] from the store, as api_stream's catch-up does.
 * Returns how many arrived; *pos moves on.
 */
static size_t follow(struct fixture *f, const struct principal *p, const struct event_filter *flt,
		     int64_t *pos, size_t want, char (*got)[EVENT_ID_LEN + 1], int64_t *seqs)
{
	int64_t end = time_mono_ms() + 5000;
	size_t have = 0;

	while (have < want && time_mono_ms() < end) {
		struct stream_event *ev[16];
		size_t n = 0, i;
		int64_t newpos = *pos;
		enum stream_next r = stream_hub_next(f->hub, *pos, p, flt, end, ev, 16, &n, &newpos);
		bool more = true;

		assert_int_not_equal(r, STREAM_STOP);
		for (i = 0; i < n; i++)
			take(ev[i], p, flt, want, &have, got, seqs);
		if (r == STREAM_EVENTS)
			*pos = newpos;
		while (r == STREAM_BEHIND && more) {
			json_t *docs = NULL, *doc;
			enum api_err rc = API_OK;

			assert_int_equal(store_events_after_all(f->s, *pos, newpos, 64, &docs, &more),
					 API_OK);
			json_array_foreach(docs, i, doc) {
				struct stream_event *e = stream_event_create(doc, render(f->s, doc, &rc));

				assert_non_null(e);
				assert_true(e->seq > *pos);
				*pos = e->seq;
				take(e, p, flt, want, &have, got, seqs);
			}
			json_decref(docs);
			if (!more)
				*pos = newpos;
		}
	}
	return have;
}

static void test_live_in_commit_order(void **state)
{
	struct fixture *f = *state;
	struct event_filter any;
	char ids[5][EVENT_ID_LEN + 1], got[8][EVENT_ID_LEN + 1];
	int64_t seqs[8], pos;

	memset(&any, 0, sizeof(any));
	stream_hub_attach(f->hub);
	pos = watermark(f);
	ingest(f, &f->p, "database.query", 3, ids);
	ingest(f, &f->other, "database.query", 4, NULL);     /* another tenant's: never seen */
	ingest(f, &f->p, "user.login_failed", 2, ids + 3);
	assert_int_equal(follow(f, &f->p, &any, &pos, 5, got, seqs), 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(got[i], ids[i]);
		if (i > 0)
			assert_true(seqs[i] > seqs[i - 1]);
	}
	/* Nothing more: the other tenant's four are not p's, and none repeats. */
	{
		struct stream_event *ev[4];
		size_t n = 9;
		int64_t newpos = pos;
		enum stream_next r = stream_hub_next(f->hub, pos, &f->p, &any,
						     time_mono_ms() + 100, ev, 4, &n, &newpos);

		assert_true(r == STREAM_TIMEOUT || (r == STREAM_EVENTS && n == 0));
	}
	stream_hub_detach(f->hub);
}

static void test_filter_in_memory(void **state)
{
	struct fixture *f = *state;
	struct event_filter logins;
	char ids[2][EVENT_ID_LEN + 1], got[4][EVENT_ID_LEN + 1];
	int64_t pos;

	memset(&logins, 0, sizeof(logins));
	logins.types = 1u << event_type_index("user.login_failed");
	stream_hub_attach(f->hub);
	pos = watermark(f);
	ingest(f, &f->p, "database.query", 5, NULL);
	ingest(f, &f->p, "user.login_failed", 2, ids);
	assert_int_equal(follow(f, &f->p, &logins, &pos, 2, got, NULL), 2);
	assert_string_equal(got[0], ids[0]);
	assert_string_equal(got[1], ids[1]);
	stream_hub_detach(f->hub);
}

/* A stream that fell further behind than the ring holds is sent to the store. */
static void test_behind_the_ring(void **state)
{
	struct fixture *f = *state;
	struct event_filter any;
	struct stream_event *ev[4];
	size_t n = 0;
	int64_t start, newpos = 0, end = time_mono_ms() + 5000;
	enum stream_next r;

	memset(&any, 0, sizeof(any));
	stream_hub_attach(f->hub);
	start = watermark(f);
	ingest(f, &f->p, "database.query", 151, NULL);   /* more than the 100 the ring keeps */
	/* From start, the ring serves events until the reader has pushed the oldest out. */
	do {
		r = stream_hub_next(f->hub, start, &f->p, &any, end, ev, 4, &n, &newpos);
		for (size_t i = 0; i < n; i++) {
			assert_true(ev[i]->seq > start);
			stream_event_unref(ev[i]);
		}
	} while (r != STREAM_BEHIND && time_mono_ms() < end);
	assert_int_equal(r, STREAM_BEHIND);
	assert_true(newpos > start + 100);   /* read the store up to here, then ask again */
	stream_hub_detach(f->hub);
}

/* With no stream attached, the reader moves on without reading events. */
static void test_idle_hub_skips(void **state)
{
	struct fixture *f = *state;
	struct event_filter any;
	struct stream_event *ev[4];
	size_t n = 0;
	int64_t before, newpos = 0, end;
	enum stream_next r;

	memset(&any, 0, sizeof(any));
	before = watermark(f);
	ingest(f, &f->p, "database.query", 3, NULL);
	/* Idle, the reader reads the watermark once a second and empties the ring. */
	end = time_mono_ms() + 5000;
	do {
		r = stream_hub_next(f->hub, before, &f->p, &any, time_mono_ms() + 200, ev, 4, &n,
				    &newpos);
		for (size_t i = 0; i < n; i++)
			stream_event_unref(ev[i]);
	} while (r != STREAM_BEHIND && time_mono_ms() < end);
	assert_int_equal(r, STREAM_BEHIND);
	assert_true(newpos >= before + 3);
}

static void test_stop_ends_waits(void **state)
{
	struct fixture *f = *state;
	struct event_filter any;
	struct stream_event *ev[1];
	size_t n = 0;
	int64_t newpos = 0, pos = watermark(f), t0;

	memset(&any, 0, sizeof(any));
	t0 = time_mono_ms();
	assert_int_equal(stream_hub_next(f->hub, pos + 1000000, &f->p, &any, t0 + 50, ev, 1, &n,
					 &newpos), STREAM_TIMEOUT);
	stream_hub_stop(f->hub);
	assert_int_equal(stream_hub_next(f->hub, pos, &f->p, &any, time_mono_ms() + 60000, ev, 1,
					 &n, &newpos), STREAM_STOP);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_live_in_commit_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_behind_the_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_hub_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_ends_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
