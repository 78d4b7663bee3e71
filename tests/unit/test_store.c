/*
 * The store conformance suite: the same tests at the store interface
 * (store.h, store_databases.h) against both real engines, SQLite on a
 * file of its own and MongoDB when DBAUDIT_TEST_MONGODB_URI names a server
 * (scripts/test points it at the FerretDB of its MongoDB stack; without
 * it the MongoDB group says so and is skipped).
 *
 * Each group ends with its engine's query check: on SQLite every
 * statement the suite made is run through EXPLAIN QUERY PLAN and none may
 * scan the events table; on MongoDB every query shape the engine sent
 * (seen through libmongoc's command monitoring) must have an index whose
 * keys serve it: equality fields, then the sort, then the range.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "principal.h"
#include "store_mongo.h"
#include "store_sqlite.h"
#include "store_webhooks.h"

#define MAX_SEEN 256

struct fixture {
	struct config cfg;
	struct store *s;
	struct principal p, other;
	char dir[64];
	char *seen[MAX_SEEN];      /* SQLite statements, or MongoDB query shapes */
	size_t nseen;
};

static struct fixture *fx_of(void **state)
{
	return *state;
}

static void seen_add(struct fixture *f, const char *text)
{
	for (size_t i = 0; i < f->nseen; i++)
		if (strcmp(f->seen[i], text) == 0)
			return;
	if (f->nseen < MAX_SEEN)
		f->seen[f->nseen++] = strdup(text);
}

/* ---------------------------------------------------------------- setup */

static int sqlite_trace(unsigned type, void *ctx, void *p, void *x)
{
	(void)x;
	if (type == SQLITE_TRACE_STMT && sqlite3_sql(p) != NULL)
		seen_add(ctx, sqlite3_sql(p));
	return 0;
}

static struct fixture *fixture_new(const char *engine)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	assert_int_equal(config_load(&f->cfg, NULL, err, sizeof(err)), 0);
	snprintf(f->p.tenants[0], sizeof(f->p.tenants[0]), "conf-%s-%d", engine, (int)getpid());
	f->p.ntenants = 1;
	snprintf(f->other.tenants[0], sizeof(f->other.tenants[0]), "conf-other-%d", (int)getpid());
	f->other.ntenants = 1;
	return f;
}

static int setup_sqlite(void **state)
{
	struct fixture *f = fixture_new("sqlite");
	const char *why = NULL;
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/dbaudit-conformance.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "sqlite:%s/store/dbaudit.db", f->dir);
	print_message("store on SQLite: %s\n", path);
	free(f->cfg.store);
	f->cfg.store = strdup(path);
	assert_int_equal(store_open(&f->cfg, &f->s, &why), API_OK);
	assert_string_equal(store_engine_name(f->s), "sqlite");
	assert_int_equal(store_migrate(f->s), API_OK);
	sqlite3_trace_v2(store_sqlite_of(f->s)->db, SQLITE_TRACE_STMT, sqlite_trace, f);
	*state = f;
	return 0;
}

/* The query shape of a command: "coll|eq fields|sort fields|range fields". */
static void shape_add(struct fixture *f, const char *coll, const bson_t *filter,
		      const bson_t *sort)
{
	char eq[512] = "", rng[256] = "", srt[256] = "", text[1200];
	bson_iter_t it;

	if (filter != NULL && bson_iter_init(&it, filter)) {
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);
			bson_iter_t sub;
			bool range = false;

			if (k[0] == '$')
				continue; /* $or (search, policies): served by the fields beside it */
			if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub))
				while (bson_iter_next(&sub))
					if (strcmp(bson_iter_key(&sub), "$in") != 0)
						range = true;
			if (range && strcmp(k, "_id") != 0)
				snprintf(rng + strlen(rng), sizeof(rng) - strlen(rng), "%s,", k);
			else
				snprintf(eq + strlen(eq), sizeof(eq) - strlen(eq), "%s,", k);
		}
	}
	if (sort != NULL && bson_iter_init(&it, sort))
		while (bson_iter_next(&it))
			snprintf(srt + strlen(srt), sizeof(srt) - strlen(srt), "%s,", bson_iter_key(&it));
	snprintf(text, sizeof(text), "%s|%s|%s|%s", coll, eq, srt, rng);
	seen_add(f, text);
}

/* A sub-document of doc by key, or false. */
static bool sub_doc(const bson_t *doc, const char *key, bson_t *out)
{
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;

	if (!bson_iter_init_find(&it, doc, key) ||
	    !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
		return false;
	if (BSON_ITER_HOLDS_ARRAY(&it))
		bson_iter_array(&it, &len, &data);
	else
		bson_iter_document(&it, &len, &data);
	return bson_init_static(out, data, len);
}

static void apm_started(const mongoc_apm_command_started_t *ev)
{
	struct fixture *f = mongoc_apm_command_started_get_context(ev);
	const bson_t *cmd = mongoc_apm_command_started_get_command(ev);
	const char *name = mongoc_apm_command_started_get_command_name(ev);
	bson_iter_t it;
	bson_t filter, sort, pipe, stage, list, one;
	const char *coll;

	if (!bson_iter_init_find(&it, cmd, name) || !BSON_ITER_HOLDS_UTF8(&it))
		return;
	coll = bson_iter_utf8(&it, NULL);
	if (strcmp(name, "find") == 0) {
		bool hs = sub_doc(cmd, "sort", &sort);

		shape_add(f, coll, sub_doc(cmd, "filter", &filter) ? &filter : NULL, hs ? &sort : NULL);
	} else if (strcmp(name, "aggregate") == 0 && sub_doc(cmd, "pipeline", &pipe) &&
		   sub_doc(&pipe, "0", &stage) && sub_doc(&stage, "$match", &filter)) {
		shape_add(f, coll, &filter, NULL);
	} else if (strcmp(name, "findAndModify") == 0 && sub_doc(cmd, "query", &filter)) {
		shape_add(f, coll, &filter, NULL);
	} else if ((strcmp(name, "update") == 0 && sub_doc(cmd, "updates", &list)) ||
		   (strcmp(name, "delete") == 0 && sub_doc(cmd, "deletes", &list))) {
		if (sub_doc(&list, "0", &one) && sub_doc(&one, "q", &filter))
			shape_add(f, coll, &filter, NULL);
	}
}

static int setup_mongo(void **state)
{
	const char *uri = getenv("DBAUDIT_TEST_MONGODB_URI");
	struct fixture *f;
	const char *why = NULL;
	mongoc_apm_callbacks_t *cbs;
	char db[64];

	if (uri == NULL || uri[0] == '\0') {
		print_message("MongoDB engine: no server (DBAUDIT_TEST_MONGODB_URI unset; scripts/test "
			      "sets it to its FerretDB): its conformance tests are skipped\n");
		*state = NULL;
		return 0;
	}
	print_message("store on MongoDB: %s\n", uri);
	f = fixture_new("mongodb");
	free(f->cfg.store);
	f->cfg.store = strdup(uri);
	snprintf(db, sizeof(db), "dbaudit_conformance_%d", (int)getpid());
	free(f->cfg.mongodb_database);
	f->cfg.mongodb_database = strdup(db);
	free(f->cfg.write_concern);
	f->cfg.write_concern = strdup("1");
	assert_int_equal(store_open(&f->cfg, &f->s, &why), API_OK);
	assert_string_equal(store_engine_name(f->s), "mongodb");
	cbs = mongoc_apm_callbacks_new();
	mongoc_apm_set_command_started_cb(cbs, apm_started);
	mongoc_client_set_apm_callbacks(store_mongo_of(f->s)->client, cbs, f);
	mongoc_apm_callbacks_destroy(cbs);
	assert_int_equal(store_migrate(f->s), API_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f == NULL)
		return 0;
	if (strcmp(store_engine_name(f->s), "mongodb") == 0) {
		bson_error_t err;

		mongoc_database_drop(store_mongo_of(f->s)->db, &err);
	}
	store_free(f->s);
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		assert_int_equal(system(cmd), 0);
	}
	for (size_t i = 0; i < f->nseen; i++)
		free(f->seen[i]);
	config_cleanup(&f->cfg);
	free(f);
	return 0;
}

#define FIXTURE(state) \
	struct fixture *f = fx_of(state); \
	if (f == NULL) \
		skip()

/* ---------------------------------------------------------------- keys */

static int nkeys;

static void count_key(const struct key_record *k, void *arg)
{
	(void)k;
	(void)arg;
	nkeys++;
}

static void test_keys(void **state)
{
	FIXTURE(state);
	struct key_record k, got;

	memset(&k, 0, sizeof(k));
	snprintf(k.key_id, sizeof(k.key_id), "key_%08x%08x", (unsigned)getpid(), 1u);
	memset(k.hash, 'a', 64);
	snprintf(k.tenants[0], sizeof(k.tenants[0]), "%s", f->p.tenants[0]);
	k.ntenants = 1;
	k.scopes = principal_scope_bit("read:events") | principal_scope_bit("write:events");
	k.plan = PLAN_FREE;
	snprintf(k.name, sizeof(k.name), "conformance");
	k.created_ms = 1700000000000;
	assert_int_equal(store_key_insert(f->s, &k), API_OK);
	assert_int_equal(store_key_insert(f->s, &k), API_ERR_CONFLICT);
	assert_int_equal(store_key_get(f->s, k.key_id, &got), API_OK);
	assert_string_equal(got.hash, k.hash);
	assert_int_equal(got.scopes, k.scopes);
	assert_int_equal(got.created_ms, k.created_ms);
	assert_false(got.revoked);
	assert_int_equal(store_key_touch(f->s, k.key_id, 1700000005000), API_OK);
	assert_int_equal(store_key_touch(f->s, k.key_id, 1700000001000), API_OK);
	assert_int_equal(store_key_get(f->s, k.key_id, &got), API_OK);
	assert_int_equal(got.last_used_ms, 1700000005000);
	nkeys = 0;
	assert_int_equal(store_key_list(f->s, f->p.tenants[0], count_key, NULL), API_OK);
	assert_int_equal(nkeys, 1);
	nkeys = 0;
	assert_int_equal(store_key_list(f->s, f->other.tenants[0], count_key, NULL), API_OK);
	assert_int_equal(nkeys, 0);
	assert_int_equal(store_key_revoke(f->s, k.key_id), API_OK);
	assert_int_equal(store_key_get(f->s, k.key_id, &got), API_OK);
	assert_true(got.revoked);
	assert_int_equal(store_key_revoke(f->s, "key_0000000000000000"), API_ERR_NOT_FOUND);
	assert_int_equal(store_key_get(f->s, "key_0000000000000000", &got), API_ERR_NOT_FOUND);
}

/* ---------------------------------------------------------------- databases */

static json_t *db_set(const char *name, int port)
{
	return json_pack("{s:s,s:s,s:s,s:i,s:s,s:[s],s:{s:b,s:i}}", "name", name, "type", "postgresql",
			 "host", "db.example", "port", port, "database", "app", "tags", "prod",
			 "audit_options", "capture_queries", 1, "retention_days", 30);
}

static void test_databases(void **state)
{
	FIXTURE(state);
	json_t *set = db_set("one", 5432), *set2 = db_set("two", 5433), *secrets, *rec = NULL;
	json_t *patch, *unset, *items = NULL, *ids, *times = NULL;
	struct store_database_filter lf = { .limit = 10 };
	int64_t total = 0, n = 0;
	char name[64];

	secrets = json_pack("{s:{s:s,s:s}}", "password", "ct", "c1", "kid", "k1");
	assert_int_equal(store_database_insert(f->s, "db_conf000001", f->p.tenants[0], set, secrets,
					       1700000000000, &rec), API_OK);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "pending");
	assert_string_equal(json_string_value(json_object_get(rec, "created_at")),
			    "2023-11-14T22:13:20Z");
	json_decref(rec);
	assert_int_equal(store_database_insert(f->s, "db_conf000002", f->p.tenants[0], set, secrets,
					       1700000000001, &rec), API_ERR_CONFLICT);
	assert_int_equal(store_database_insert(f->s, "db_conf000002", f->p.tenants[0], set2, secrets,
					       1700000000002, &rec), API_OK);
	json_decref(rec);
	assert_int_equal(store_database_get(f->s, &f->other, "db_conf000001", &rec), API_ERR_NOT_FOUND);
	assert_int_equal(store_database_check_unique(f->s, f->p.tenants[0], "db.example", 5433,
						     "app", "db_conf000001"), API_ERR_CONFLICT);
	assert_int_equal(store_database_check_unique(f->s, f->p.tenants[0], "db.example", 5433,
						     "app", "db_conf000002"), API_OK);
	patch = json_pack("{s:s,s:{s:i}}", "name", "uno", "audit_options", "retention_days", 90);
	unset = json_pack("[s]", "password");
	assert_int_equal(store_database_update(f->s, &f->p, "db_conf000001", patch, NULL, unset,
					       1700000001000, &rec), API_OK);
	assert_string_equal(json_string_value(json_object_get(rec, "name")), "uno");
	assert_true(json_is_true(json_object_get(json_object_get(rec, "audit_options"),
						 "capture_queries")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "audit_options"),
							    "retention_days")), 90);
	assert_null(json_object_get(json_object_get(rec, "secrets"), "password"));
	json_decref(rec);
	assert_int_equal(store_database_update(f->s, &f->other, "db_conf000001", patch, NULL, NULL,
					       1700000001000, &rec), API_ERR_NOT_FOUND);
	assert_int_equal(store_database_name(f->s, &f->p, "db_conf000001", name, sizeof(name)), API_OK);
	assert_string_equal(name, "uno");
	assert_int_equal(store_database_list(f->s, &f->p, &lf, &items, &total), API_OK);
	assert_int_equal(total, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")),
			    "db_conf000002");
	json_decref(items);
	lf.status = "connected";
	assert_int_equal(store_database_list(f->s, &f->p, &lf, &items, &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);
	json_decref(patch);
	patch = json_pack("{s:s,s:s}", "collector_version", "1.0", "status", "healthy");
	assert_int_equal(store_database_heartbeat(f->s, &f->p, "db_conf000001", patch, 1700000002000,
						  &rec), API_OK);
	assert_string_equal(json_string_value(json_object_get(rec, "audit_status")), "active");
	json_decref(rec);
	assert_int_equal(store_database_mark_stale(f->s, 1700000003000, &n), API_OK);
	assert_int_equal(store_database_get(f->s, &f->p, "db_conf000001", &rec), API_OK);
	assert_int_equal(n, strcmp(json_string_value(json_object_get(rec, "status")), "connected") != 0);
	json_decref(rec);
	ids = json_pack("[s,s]", "db_conf000001", "db_conf000002");
	assert_int_equal(store_database_last_event_times(f->s, &f->p, ids, &times), API_OK);
	assert_int_equal(json_object_size(times), 0);
	json_decref(times);
	assert_int_equal(store_database_delete(f->s, &f->p, "db_conf000002"), API_OK);
	assert_int_equal(store_database_delete(f->s, &f->p, "db_conf000002"), API_ERR_NOT_FOUND);
	json_decref(ids);
	json_decref(patch);
	json_decref(unset);
	json_decref(set);
	json_decref(set2);
	json_decref(secrets);
}

/* ---------------------------------------------------------------- events */

/* Parses and stores the events of a JSON array text for p; ids into out. */
static enum api_err ingest(struct fixture *f, const char *text, char ids[][EVENT_ID_LEN + 1],
			   bool *dup)
{
	json_t *arr = json_loads(text, 0, NULL), *o;
	struct event_in ev[16];
	size_t n = json_array_size(arr), i;
	char msg[256];
	enum api_err e;

	assert_non_null(arr);
	memset(ev, 0, sizeof(ev));
	json_array_foreach(arr, i, o)
		assert_int_equal(event_parse(o, &f->p, &ev[i], msg, sizeof(msg)), EVENT_PARSE_OK);
	e = store_events_check_databases(f->s, ev, n, &i);
	if (e == API_OK)
		e = store_events_insert(f->s, ev, n, 1700000100000, 30000);
	for (i = 0; i < n; i++) {
		if (ids != NULL)
			memcpy(ids[i], ev[i].id, sizeof(ids[i]));
		if (dup != NULL)
			dup[i] = ev[i].duplicate;
		event_in_cleanup(&ev[i]);
	}
	json_decref(arr);
	return e;
}

/* The batch's database check also hands over each database's type and
 * audit_options (what ingest masks with), and refuses another's database. */
static void test_events_database_facts(void **state)
{
	FIXTURE(state);
	json_t *o = json_pack("{s:s,s:s,s:s}", "type", "database.query",
			      "timestamp", "2024-01-01T00:00:00Z", "database_id", "db_conf000001");
	json_t *o2 = json_pack("{s:s,s:s}", "type", "database.query",
			       "timestamp", "2024-01-01T00:00:00Z");
	json_t *o3 = json_pack("{s:s,s:s,s:s}", "type", "database.query",
			       "timestamp", "2024-01-01T00:00:00Z", "database_id", "db_nosuch0001");
	struct event_in ev[3];
	char msg[256];
	size_t bad = 99;

	memset(ev, 0, sizeof(ev));
	assert_int_equal(event_parse(o, &f->p, &ev[0], msg, sizeof(msg)), EVENT_PARSE_OK);
	assert_int_equal(event_parse(o2, &f->p, &ev[1], msg, sizeof(msg)), EVENT_PARSE_OK);
	assert_int_equal(store_events_check_databases(f->s, ev, 2, &bad), API_OK);
	assert_string_equal(ev[0].db_type, "postgresql");
	assert_string_equal(ev[0].database_name, "uno");
	assert_true(json_is_true(json_object_get(ev[0].db_audit_options, "capture_queries")));
	assert_int_equal(json_integer_value(json_object_get(ev[0].db_audit_options,
							    "retention_days")), 90);
	assert_string_equal(ev[1].db_type, "");
	assert_null(ev[1].db_audit_options);
	event_in_cleanup(&ev[1]);
	assert_int_equal(event_parse(o3, &f->p, &ev[1], msg, sizeof(msg)), EVENT_PARSE_OK);
	assert_int_equal(store_events_check_databases(f->s, ev, 2, &bad), API_ERR_UNPROCESSABLE);
	assert_int_equal(bad, 1);
	for (size_t i = 0; i < 3; i++)
		event_in_cleanup(&ev[i]);
	json_decref(o);
	json_decref(o2);
	json_decref(o3);
}

static void test_events(void **state)
{
	FIXTURE(state);
	char ids[16][EVENT_ID_LEN + 1], again[16][EVENT_ID_LEN + 1];
	bool dup[16];
	struct event_filter flt;
	struct event_summary sum;
	json_t *items = NULL, *doc = NULL, *sess = NULL, *times = NULL, *dbids;
	int64_t total = 0, w0 = 0, w1 = 0;
	bool more;

	memset(&flt, 0, sizeof(flt));
	assert_int_equal(store_events_watermark(f->s, 30000, 1700000100000, 100, &w0), API_OK);
	assert_int_equal(ingest(f, "[{\"type\":\"database.query\",\"timestamp\":\"2024-01-01T00:00:01Z\","
				"\"external_id\":\"e1\",\"database_id\":\"db_conf000001\",\"details\":"
				"{\"user\":\"Alice\",\"query\":\"SELECT * FROM Orders\",\"session_id\":\"s1\"}},"
				"{\"type\":\"security.threat_detected\",\"timestamp\":\"2024-01-01T00:00:02Z\","
				"\"external_id\":\"e2\",\"details\":{\"user\":\"bob\",\"session_id\":\"s1\"}},"
				"{\"type\":\"user.login_failed\",\"timestamp\":\"2024-01-01T00:00:03Z\","
				"\"details\":{\"user\":\"bob\",\"source_ip\":\"10.0.0.7\"}},"
				"{\"type\":\"database.query\",\"timestamp\":\"2024-01-01T00:00:04Z\","
				"\"external_id\":\"e1\"}]", ids, dup), API_OK);
	assert_false(dup[0]);
	assert_false(dup[2]);
	assert_true(dup[3]);                       /* same external_id in the batch */
	assert_string_equal(ids[3], ids[0]);
	assert_int_equal(ingest(f, "[{\"type\":\"database.query\",\"timestamp\":\"2024-01-01T00:00:05Z\","
				"\"external_id\":\"e2\"}]", again, dup), API_OK);
	assert_true(dup[0]);                       /* stored before: never twice */
	assert_string_equal(again[0], ids[1]);
	assert_int_equal(ingest(f, "[{\"type\":\"database.query\",\"timestamp\":\"2024-01-01T00:00:05Z\","
				"\"database_id\":\"db_nosuch\"}]", NULL, NULL), API_ERR_UNPROCESSABLE);

	/* newest first, with the total */
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 2, &items,
					   &total), API_OK);
	assert_int_equal(total, 3);
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")), ids[2]);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "timestamp")),
			    "2024-01-01T00:00:03Z");
	json_decref(items);
	assert_int_equal(store_events_list(f->s, &f->other, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);
	flt.types = 1u << 3;
	flt.severity = "critical";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	memset(&flt, 0, sizeof(flt));
	flt.user = "bob";
	flt.has_start = true;
	flt.start_ms = 1704067203000;
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", true, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);

	/* search: a literal, case-insensitive substring; short terms too */
	memset(&flt, 0, sizeof(flt));
	flt.search = "from orders";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	flt.search = "0.7";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	flt.search = "*";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	flt.search = ".*";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);

	/* one event, its session, the summary */
	assert_int_equal(store_events_get(f->s, &f->p, ids[0], &doc), API_OK);
	assert_string_equal(json_string_value(json_object_get(doc, "database_id")), "db_conf000001");
	assert_string_equal(json_string_value(json_object_get(doc, "database_name")), "uno");
	json_decref(doc);
	assert_int_equal(store_events_get(f->s, &f->other, ids[0], &doc), API_ERR_NOT_FOUND);
	assert_int_equal(store_events_session(f->s, &f->p, ids[0], "s1", 10, &sess), API_OK);
	assert_int_equal(json_array_size(sess), 1);
	assert_string_equal(json_string_value(json_array_get(sess, 0)), ids[1]);
	json_decref(sess);
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(store_events_summary(f->s, &f->p, &flt, &sum), API_OK);
	assert_int_equal(sum.total, 3);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.distinct_principals, 2);
	assert_int_equal(sum.distinct_databases, 1);
	assert_true(sum.has_latest);
	assert_int_equal(sum.latest_ms, 1704067203000);

	/* the cursor: every event once, in commit order, up to the watermark */
	assert_int_equal(store_events_watermark(f->s, 30000, 1700000100000, 100, &w1), API_OK);
	assert_true(w1 > w0);
	assert_int_equal(store_events_after(f->s, &f->p, &flt, w0, w1, 2, &items, &more), API_OK);
	assert_int_equal(json_array_size(items), 2);
	assert_true(more);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")), ids[0]);
	w0 = json_integer_value(json_object_get(json_array_get(items, 1), "seq"));
	json_decref(items);
	assert_int_equal(store_events_after(f->s, &f->p, &flt, w0, w1, 2, &items, &more), API_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_false(more);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")), ids[2]);
	json_decref(items);

	/* the databases list's last events: one call for the page */
	dbids = json_pack("[s,s]", "db_conf000001", "db_nosuch");
	assert_int_equal(store_database_last_event_times(f->s, &f->p, dbids, &times), API_OK);
	assert_int_equal(json_object_size(times), 1);
	assert_string_equal(json_string_value(json_object_get(times, "db_conf000001")),
			    "2024-01-01T00:00:01Z");
	json_decref(times);
	json_decref(dbids);
	assert_int_equal(store_database_last_event(f->s, &f->p, "db_conf000001", &doc), API_OK);
	assert_string_equal(json_string_value(json_object_get(doc, "user")), "Alice");
	json_decref(doc);
}

/* ---------------------------------------------------------------- the summary */

/* Events across minute, hour and day boundaries: timestamp, user, succeeded. */
static const struct {
	const char *ts;
	int64_t ms;
	const char *user;
	bool ok;
} sum_events[] = {
	{ "2024-02-29T23:59:59.999Z", 1709251199999, "ann", true },
	{ "2024-03-01T00:00:00.000Z", 1709251200000, "ben", false },
	{ "2024-03-01T00:59:30.500Z", 1709254770500, "ann", true },
	{ "2024-03-01T01:00:00.000Z", 1709254800000, "cy", false },
	{ "2024-03-02T12:00:00.000Z", 1709380800000, "dee", true },
	{ "2024-03-05T00:00:00.001Z", 1709596800001, "ann", true },
};
#define NSUM (sizeof(sum_events) / sizeof(sum_events[0]))

/* The summary of sum_events in [lo, hi] (absent bounds: INT64_MIN/MAX), by hand. */
static void summary_by_hand(int64_t lo, int64_t hi, struct event_summary *want)
{
	const char *users[NSUM];
	size_t nu = 0;

	memset(want, 0, sizeof(*want));
	for (size_t i = 0; i < NSUM; i++) {
		bool seen = false;

		if (sum_events[i].ms < lo || sum_events[i].ms > hi)
			continue;
		want->total++;
		want->succeeded += sum_events[i].ok;
		if (!want->has_latest || sum_events[i].ms > want->latest_ms)
			want->latest_ms = sum_events[i].ms;
		want->has_latest = true;
		for (size_t j = 0; j < nu; j++)
			seen = seen || strcmp(users[j], sum_events[i].user) == 0;
		if (!seen)
			users[nu++] = sum_events[i].user;
	}
	want->failed = want->total - want->succeeded;
	want->distinct_principals = (int64_t)nu;
}

static void check_summary(struct fixture *f, bool has_start, int64_t lo, bool has_end, int64_t hi)
{
	struct event_filter flt;
	struct event_summary got, want;

	memset(&flt, 0, sizeof(flt));
	flt.has_start = has_start;
	flt.start_ms = lo;
	flt.has_end = has_end;
	flt.end_ms = hi;
	summary_by_hand(has_start ? lo : INT64_MIN, has_end ? hi : INT64_MAX, &want);
	assert_int_equal(store_events_summary(f->s, &f->p, &flt, &got), API_OK);
	assert_int_equal(got.total, want.total);
	assert_int_equal(got.succeeded, want.succeeded);
	assert_int_equal(got.failed, want.failed);
	assert_int_equal(got.distinct_principals, want.distinct_principals);
	assert_int_equal(got.distinct_databases, 0);
	assert_int_equal(got.has_latest, want.has_latest);
	if (want.has_latest)
		assert_int_equal(got.latest_ms, want.latest_ms);
}

/* The summary of a time range is exact at every edge of its minutes, hours and days. */
static void test_summary(void **state)
{
	FIXTURE(state);
	struct principal saved = f->p;
	char text[4096];
	size_t len = 0;

	snprintf(f->p.tenants[0], sizeof(f->p.tenants[0]), "sum-%s-%d",
		 store_engine_name(f->s), (int)getpid());
	len += (size_t)snprintf(text, sizeof(text), "[");
	for (size_t i = 0; i < NSUM; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s{\"type\":\"database.query\",\"timestamp\":\"%s\","
					"\"details\":{\"user\":\"%s\",\"succeeded\":%s}}", i ? "," : "",
					sum_events[i].ts, sum_events[i].user,
					sum_events[i].ok ? "true" : "false");
	snprintf(text + len, sizeof(text) - len, "]");
	assert_int_equal(ingest(f, text, NULL, NULL), API_OK);

	check_summary(f, false, 0, false, 0);
	for (size_t i = 0; i < NSUM; i++) {
		int64_t t = sum_events[i].ms;

		check_summary(f, true, t, true, t);
		check_summary(f, true, t + 1, false, 0);
		check_summary(f, false, 0, true, t - 1);
		for (size_t j = i; j < NSUM; j++) {
			check_summary(f, true, t, true, sum_events[j].ms);
			check_summary(f, true, t + 1, true, sum_events[j].ms - 1);
			check_summary(f, true, t - 86400000, true, sum_events[j].ms + 3600000);
		}
	}
	check_summary(f, true, 1709251200000, true, 1709337599999);  /* one whole day */
	check_summary(f, true, 1706745600000, true, 1711929599999);  /* February and March */
	check_summary(f, true, 1709596800002, true, 1709596800001);  /* empty range */
	f->p = saved;
}

/*
 * SQLite: a term matching more events than the engine looks up one by one
 * (RARE_MATCHES, 2000) takes the other plan (the time-ordered walk); both
 * give the same page and total.
 */
static void test_search_dense(void **state)
{
	FIXTURE(state);
	struct principal saved = f->p;
	struct event_filter flt;
	json_t *items = NULL;
	int64_t total = 0;
	char text[4096];

	snprintf(f->p.tenants[0], sizeof(f->p.tenants[0]), "dense-%d", (int)getpid());
	for (int b = 0; b < 140; b++) {
		size_t len = (size_t)snprintf(text, sizeof(text), "[");

		for (int i = 0; i < 16; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%s{\"type\":\"database.query\",\"timestamp\":"
						"\"2024-04-01T00:%02d:%02dZ\",\"details\":{\"query\":"
						"\"SELECT %s FROM Dense\"}}", i ? "," : "", b / 60 % 60, b % 60,
						i == 0 && b == 139 ? "last" : "x");
		snprintf(text + len, sizeof(text) - len, "]");
		assert_int_equal(ingest(f, text, NULL, NULL), API_OK);
	}
	memset(&flt, 0, sizeof(flt));
	flt.search = "from dense";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 140 * 16);
	assert_int_equal(json_array_size(items), 10);
	json_decref(items);
	flt.search = "select last";
	assert_int_equal(store_events_list(f->s, &f->p, &flt, "timestamp", false, 0, 10, &items,
					   &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	f->p = saved;
}

/* ---------------------------------------------------------------- webhooks */

static json_t *wh_doc(const char *id, const char *tenant, int64_t created)
{
	return json_pack("{s:s,s:s,s:s,s:[s],s:{s:s},s:s,s:I,s:I,s:s}", "_id", id, "tenant_id", tenant,
			 "url", "https://example.com/h", "events", "security.*", "secret", "ct", "x",
			 "status", "active", "position", (json_int_t)7, "created_ms", (json_int_t)created,
			 "created_at", "2023-11-14T22:13:20Z");
}

static json_t *whd_doc(const char *id, const char *wh, const char *tenant, int64_t seq,
		       int64_t created)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:i,s:I,s:I}", "_id", id, "webhook_id", wh,
			 "tenant_id", tenant, "event_id", "evt_1", "seq", (json_int_t)seq, "body", "{}",
			 "status", "pending", "attempts", 0, "next_ms", (json_int_t)0,
			 "created_ms", (json_int_t)created);
}

static void test_webhooks(void **state)
{
	FIXTURE(state);
	const char *t = f->p.tenants[0];
	json_t *doc, *items = NULL, *set;
	int64_t total = 0;
	char w1[32], w2[32], d1[32], d2[32], d3[32];

	snprintf(w1, sizeof(w1), "wh_%08x00000001", (unsigned)getpid());
	snprintf(w2, sizeof(w2), "wh_%08x00000002", (unsigned)getpid());
	snprintf(d1, sizeof(d1), "whd_%08x0000000000000001", (unsigned)getpid());
	snprintf(d2, sizeof(d2), "whd_%08x0000000000000002", (unsigned)getpid());
	snprintf(d3, sizeof(d3), "whd_%08x0000000000000003", (unsigned)getpid());
	doc = wh_doc(w1, t, 1000);
	assert_int_equal(store_webhook_insert(f->s, doc), API_OK);
	assert_int_equal(store_webhook_insert(f->s, doc), API_ERR_CONFLICT);
	json_decref(doc);
	doc = wh_doc(w2, t, 2000);
	assert_int_equal(store_webhook_insert(f->s, doc), API_OK);
	json_decref(doc);
	assert_int_equal(store_webhook_list(f->s, &f->p, 0, 10, &items, &total), API_OK);
	assert_int_equal(total, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")), w2);
	json_decref(items);
	assert_int_equal(store_webhook_list(f->s, &f->other, 0, 10, &items, &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);
	assert_int_equal(store_webhook_get(f->s, &f->other, w1, &doc), API_ERR_NOT_FOUND);
	/* leases: one owner at a time, taken over once expired */
	assert_int_equal(store_webhook_lease(f->s, w1, "a", 100, 200), API_OK);
	assert_int_equal(store_webhook_lease(f->s, w1, "b", 150, 250), API_ERR_CONFLICT);
	assert_int_equal(store_webhook_lease(f->s, w1, "a", 150, 300), API_OK);
	assert_int_equal(store_webhook_advance(f->s, w1, "b", 9), API_ERR_CONFLICT);
	assert_int_equal(store_webhook_advance(f->s, w1, "a", 9), API_OK);
	assert_int_equal(store_webhook_lease(f->s, w1, "b", 301, 400), API_OK);
	set = json_pack("{s:s}", "url", "https://example.com/2");
	assert_int_equal(store_webhook_update(f->s, &f->p, w1, set, &doc), API_OK);
	assert_int_equal(store_webhook_update(f->s, &f->other, w1, set, NULL), API_ERR_NOT_FOUND);
	json_decref(set);
	assert_string_equal(json_string_value(json_object_get(doc, "url")), "https://example.com/2");
	assert_int_equal(json_integer_value(json_object_get(doc, "position")), 9);
	assert_string_equal(json_string_value(json_object_get(doc, "lease_owner")), "b");
	json_decref(doc);
	set = json_pack("{s:s}", "status", "paused");
	assert_int_equal(store_webhook_update(f->s, &f->p, w2, set, NULL), API_OK);
	json_decref(set);
	assert_int_equal(store_webhook_active(f->s, &items), API_OK);
	for (size_t i = 0; i < json_array_size(items); i++)
		assert_string_not_equal(json_string_value(json_object_get(json_array_get(items, i),
									  "_id")), w2);
	json_decref(items);
	/* deliveries */
	doc = whd_doc(d2, w1, t, 20, 3000);
	assert_int_equal(store_delivery_insert(f->s, doc), API_OK);
	assert_int_equal(store_delivery_insert(f->s, doc), API_ERR_CONFLICT);
	json_decref(doc);
	doc = whd_doc(d1, w1, t, 10, 4000);
	assert_int_equal(store_delivery_insert(f->s, doc), API_OK);
	json_decref(doc);
	doc = whd_doc(d3, w2, t, 5, 5000);
	assert_int_equal(store_delivery_insert(f->s, doc), API_OK);
	json_decref(doc);
	assert_int_equal(store_delivery_next(f->s, w1, &doc), API_OK);
	assert_string_equal(json_string_value(json_object_get(doc, "_id")), d1);
	json_decref(doc);
	set = json_pack("{s:s,s:i}", "status", "delivered", "attempts", 1);
	assert_int_equal(store_delivery_update(f->s, d1, set), API_OK);
	json_decref(set);
	assert_int_equal(store_delivery_next(f->s, w1, &doc), API_OK);
	assert_string_equal(json_string_value(json_object_get(doc, "_id")), d2);
	json_decref(doc);
	assert_int_equal(store_delivery_list(f->s, &f->p, w1, NULL, 0, 10, &items, &total), API_OK);
	assert_int_equal(total, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")), d1);
	json_decref(items);
	assert_int_equal(store_delivery_list(f->s, &f->p, w1, "pending", 0, 10, &items, &total),
			 API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	assert_int_equal(store_delivery_get(f->s, &f->p, w1, d1, &doc), API_OK);
	assert_int_equal(json_integer_value(json_object_get(doc, "attempts")), 1);
	json_decref(doc);
	assert_int_equal(store_delivery_get(f->s, &f->other, w1, d1, &doc), API_ERR_NOT_FOUND);
	assert_int_equal(store_delivery_get(f->s, &f->p, w2, d1, &doc), API_ERR_NOT_FOUND);
	assert_int_equal(store_webhook_delete(f->s, &f->other, w1), API_ERR_NOT_FOUND);
	assert_int_equal(store_webhook_delete(f->s, &f->p, w1), API_OK);
	assert_int_equal(store_delivery_next(f->s, w1, &doc), API_OK);
	assert_null(doc);
	assert_int_equal(store_webhook_delete(f->s, &f->p, w2), API_OK);
}

/* ---------------------------------------------------------------- query plans */

/* Whether a plan line scans events or the summary's counters (not an index range or FTS). */
static bool scans_events(const char *detail)
{
	static const char *const tables[] = { "SCAN events", "SCAN event_counts", "SCAN event_names" };

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		const char *p = strstr(detail, tables[i]);
		size_t n = strlen(tables[i]);

		if (p != NULL && (p[n] == '\0' || p[n] == ' '))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- policies and alerts */

static json_t *alert_doc(const char *id, const char *tenant, const char *policy, const char *at)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:i,s:s,s:s,s:s,s:s}", "_id", id,
			 "tenant_id", tenant, "status", "open", "severity", "warning",
			 "policy_id", policy, "database_id", "db_1", "user", "count", 1,
			 "first_seen_at", at, "last_seen_at", at, "created_at", at, "updated_at", at);
}

static void test_policies(void **state)
{
	FIXTURE(state);
	const char *t = f->p.tenants[0];
	json_t *doc = json_pack("{s:s,s:b,s:[s],s:s,s:s}", "id", "pol_conf1", "enabled", 1,
				"database_ids", "db_1", "name", "one", "tenant_id", t);
	json_t *got = NULL, *items = NULL, *a, *b, *set, *out = NULL;
	struct store_alert_filter af = { .limit = 10 };
	struct dbrec_stats st;
	int64_t total = 0;
	bool absorbed = true;

	assert_int_equal(store_policy_put(f->s, t, doc, STORE_PUT_CREATE), API_OK);
	assert_int_equal(store_policy_put(f->s, t, doc, STORE_PUT_CREATE), API_ERR_CONFLICT);
	assert_int_equal(store_policy_get(f->s, t, "pol_conf1", &got), API_OK);
	assert_string_equal(json_string_value(json_object_get(got, "name")), "one");
	json_decref(got);
	assert_int_equal(store_policy_get(f->s, f->other.tenants[0], "pol_conf1", &got),
			 API_ERR_NOT_FOUND);
	json_object_set_new(doc, "name", json_string("renamed"));
	assert_int_equal(store_policy_put(f->s, t, doc, STORE_PUT_REPLACE), API_OK);
	assert_int_equal(store_policy_put(f->s, f->other.tenants[0], doc, STORE_PUT_REPLACE),
			 API_ERR_NOT_FOUND);
	json_object_set_new(doc, "id", json_string("pol_builtin_x"));
	assert_int_equal(store_policy_put(f->s, t, doc, STORE_PUT_UPSERT), API_OK);
	assert_int_equal(store_policy_put(f->s, t, doc, STORE_PUT_UPSERT), API_OK);
	assert_int_equal(store_policy_list(f->s, t, &items), API_OK);
	assert_int_equal(json_array_size(items), 2);
	json_decref(items);
	assert_int_equal(store_policy_list(f->s, f->other.tenants[0], &items), API_OK);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	assert_int_equal(store_database_stats(f->s, &f->p, "db_1", 0, &st), API_OK);
	assert_int_equal(st.policies_active, 2);
	assert_int_equal(store_policy_delete(f->s, t, "pol_builtin_x"), API_OK);
	assert_int_equal(store_policy_delete(f->s, t, "pol_builtin_x"), API_ERR_NOT_FOUND);
	assert_int_equal(store_policy_get(f->s, t, "pol_conf1", &got), API_OK);
	assert_string_equal(json_string_value(json_object_get(got, "name")), "renamed");
	json_decref(got);
	json_decref(doc);

	/* alerts: one per open key; a resolved alert releases its key */
	a = alert_doc("alt_000000000000000000000001", t, "pol_conf1", "2025-01-01T00:00:00.000Z");
	b = alert_doc("alt_000000000000000000000002", t, "pol_conf1", "2025-01-02T00:00:00.000Z");
	assert_int_equal(store_alert_record(f->s, a, "k1", &absorbed), API_OK);
	assert_false(absorbed);
	assert_int_equal(store_alert_record(f->s, b, "k1", &absorbed), API_OK);
	assert_true(absorbed);
	assert_int_equal(store_alert_get(f->s, &f->p, "alt_000000000000000000000001", &got), API_OK);
	assert_int_equal(json_integer_value(json_object_get(got, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(got, "last_seen_at")),
			    "2025-01-02T00:00:00.000Z");
	assert_null(json_object_get(got, "open_key"));
	json_decref(got);
	assert_int_equal(store_alert_get(f->s, &f->other, "alt_000000000000000000000001", &got),
			 API_ERR_NOT_FOUND);
	assert_int_equal(store_database_stats(f->s, &f->p, "db_1", 0, &st), API_OK);
	assert_int_equal(st.alerts_pending, 1);
	set = json_pack("{s:s}", "status", "resolved");
	assert_int_equal(store_alert_update(f->s, t, "alt_000000000000000000000001", "acknowledged",
					    set, true, &out), API_ERR_CONFLICT);
	assert_int_equal(store_alert_update(f->s, f->other.tenants[0], "alt_000000000000000000000001",
					    "open", set, true, &out), API_ERR_NOT_FOUND);
	assert_int_equal(store_alert_update(f->s, t, "alt_000000000000000000000001", "open", set,
					    true, &out), API_OK);
	assert_string_equal(json_string_value(json_object_get(out, "status")), "resolved");
	json_decref(out);
	json_decref(set);
	assert_int_equal(store_alert_record(f->s, b, "k1", &absorbed), API_OK);
	assert_false(absorbed);
	assert_int_equal(store_alert_list(f->s, &f->p, &af, &items, &total), API_OK);
	assert_int_equal(total, 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "_id")),
			    "alt_000000000000000000000002");
	json_decref(items);
	af.status = "open";
	af.policy_id = "pol_conf1";
	assert_int_equal(store_alert_list(f->s, &f->p, &af, &items, &total), API_OK);
	assert_int_equal(total, 1);
	json_decref(items);
	af.policy_id = NULL;
	af.status = NULL;
	af.severity = "critical";
	assert_int_equal(store_alert_list(f->s, &f->p, &af, &items, &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);
	af.severity = NULL;
	af.database_id = "db_1";
	assert_int_equal(store_alert_list(f->s, &f->other, &af, &items, &total), API_OK);
	assert_int_equal(total, 0);
	json_decref(items);
	json_decref(a);
	json_decref(b);
}

static void test_sqlite_plans(void **state)
{
	FIXTURE(state);
	sqlite3 *db = store_sqlite_of(f->s)->db;
	size_t checked = 0, bad = 0;

	for (size_t i = 0; i < f->nseen; i++) {
		char sql[SQ_SQL_MAX + 32];
		sqlite3_stmt *st = NULL;

		if (strncmp(f->seen[i], "SELECT", 6) != 0 && strncmp(f->seen[i], "UPDATE", 6) != 0 &&
		    strncmp(f->seen[i], "DELETE", 6) != 0)
			continue;
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", f->seen[i]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 3);

			if (d != NULL && scans_events(d)) {
				print_message("full scan of events: %s\n  plan: %s\n", f->seen[i], d);
				bad++;
			}
		}
		sqlite3_finalize(st);
		checked++;
	}
	print_message("SQLite: %zu statements checked with EXPLAIN QUERY PLAN\n", checked);
	assert_true(checked >= 20);
	assert_int_equal(bad, 0);
}

/* The field names of an index's keys, in order. */
static size_t index_keys(const char *json, char keys[][64], size_t max)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	bson_iter_t it;
	size_t n = 0;

	assert_non_null(b);
	if (bson_iter_init(&it, b))
		while (bson_iter_next(&it) && n < max)
			snprintf(keys[n++], 64, "%s", bson_iter_key(&it));
	bson_destroy(b);
	return n;
}

/* Whether field is in a comma-terminated list. */
static bool in_list(const char *list, const char *field)
{
	char pat[80];

	snprintf(pat, sizeof(pat), ",%s,", field);
	return strstr(list, pat) != NULL;
}

/*
 * Whether an index serves shape "coll|eq,|sort,|range,": its keys start
 * with equality fields (tenant_id and, when the query has more, at least
 * one more: the most selective filter is served by the index, the others
 * filter what it finds), then every sort field in order (one bound by an
 * equality needs no order; the seq tie-breaker of a list may follow the
 * index), then at most the range field (or the range is on a sort field).
 * An _id equality is served by the primary key.
 */
static bool shape_served(const char *shape)
{
	char coll[64], eq[512], srt[256], rng[256], keys[8][64];
	const struct store_mongo_index *ix;
	size_t nix;
	const char *p = strchr(shape, '|'), *q;
	char *outs[3] = { eq, srt, rng };
	size_t lens[3] = { sizeof(eq), sizeof(srt), sizeof(rng) };

	if (p == NULL)
		return false;
	snprintf(coll, sizeof(coll), "%.*s", (int)(p - shape), shape);
	p++;
	for (int k = 0; k < 3; k++) {
		q = strchr(p, '|');
		if (q == NULL)
			q = p + strlen(p);
		snprintf(outs[k], lens[k], ",%.*s", (int)(q - p), p);
		p = *q ? q + 1 : q;
	}
	if (in_list(eq, "_id"))
		return true;
	ix = store_mongo_indexes(&nix);
	for (size_t i = 0; i < nix; i++) {
		size_t nk, k = 0, neq = 0, need_eq = 0;
		const char *s;
		bool ok = true;

		if (strcmp(ix[i].collection, coll) != 0)
			continue;
		nk = index_keys(ix[i].keys, keys, 8);
		for (const char *c = eq + 1; *c; c++)
			need_eq += *c == ',';
		while (k < nk && in_list(eq, keys[k])) {
			k++;
			neq++;
		}
		if (need_eq > 0 && (neq == 0 || (need_eq > 1 && neq < 2)))
			continue;
		for (s = srt + 1; ok && *s; ) {
			const char *comma = strchr(s, ',');
			char f[64];

			snprintf(f, sizeof(f), "%.*s", (int)(comma - s), s);
			if (in_list(eq, f))
				;    /* bound by an equality: no order to serve */
			else if (k < nk && strcmp(keys[k], f) == 0)
				k++;
			else if (strcmp(f, "seq") != 0 || k != nk)
				ok = false;  /* the seq tie-breaker of a list may follow the index */
			s = comma + 1;
		}
		for (s = rng + 1; ok && *s; ) {
			const char *comma = strchr(s, ',');
			char f[64];

			snprintf(f, sizeof(f), "%.*s", (int)(comma - s), s);
			if (!in_list(srt, f) && !(k < nk && strcmp(keys[k], f) == 0))
				ok = false;
			s = comma + 1;
		}
		if (ok)
			return true;
	}
	return false;
}

static void test_mongo_indexes(void **state)
{
	FIXTURE(state);
	size_t bad = 0;

	for (size_t i = 0; i < f->nseen; i++) {
		bool ok = shape_served(f->seen[i]);

		print_message("%s %s\n", ok ? "served  " : "UNSERVED", f->seen[i]);
		bad += !ok;
	}
	assert_true(f->nseen >= 10);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_databases),
		cmocka_unit_test(test_events_database_facts),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_search_dense),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_webhooks),
		cmocka_unit_test(test_sqlite_plans),
	};
	const struct CMUnitTest mongo_tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_databases),
		cmocka_unit_test(test_events_database_facts),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_webhooks),
		cmocka_unit_test(test_mongo_indexes),
	};
	int failed = cmocka_run_group_tests_name("store on SQLite", sqlite_tests, setup_sqlite,
						 teardown);

	return failed + cmocka_run_group_tests_name("store on MongoDB", mongo_tests, setup_mongo,
						    teardown);
}
