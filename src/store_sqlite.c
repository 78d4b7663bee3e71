/*
 * store_sqlite: the SQLite engine's connection, schema, error mapping,
 * statement helpers, API keys and its table of functions. Events are in
 * store_sqlite_events.c, databases in store_sqlite_databases.c.
 *
 * The file and its directory are created 0600/0700 (umask 077 around the
 * open: the -wal and -shm files take the database file's mode). The
 * schema is created on first use and by `dbaudit-admin migrate`; every
 * statement is idempotent (IF NOT EXISTS).
 */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "metrics.h"
#include "util/log.h"
#include "util/timeutil.h"

/*
 * The schema. events.seq is the commit sequence: an INTEGER PRIMARY KEY
 * AUTOINCREMENT assigned inside the write transaction, so the commit order
 * is the transaction order and a sequence is never reused (not even after
 * the newest event is deleted). docs/storage.md lists the query each index
 * serves; tests/unit/test_store_sqlite.c checks every one with EXPLAIN
 * QUERY PLAN.
 */
/* The bucket of a timestamp column in a span (floor division, as in C). */
#define BUCKET(col, span) "((" col " - ((" col " % " span ") + " span ") % " span ") / " span ")"

/* Trigger steps: take the old row off the counters of span S, add the new row's. */
#define SUB_OLD(S) \
	"UPDATE event_counts SET n = n - 1, ok = ok - old.ok WHERE tenant = old.tenant" \
	" AND span = " S " AND bucket = " BUCKET("old.ts", S) "; UPDATE event_names SET n = n - 1" \
	" WHERE tenant = old.tenant AND span = " S " AND bucket = " BUCKET("old.ts", S) \
	" AND ((kind = 0 AND name = old.database_name) OR (kind = 1 AND name = old.user)); "
#define ADD_NEW(S) \
	"INSERT INTO event_counts (tenant, span, bucket, n, ok) VALUES (new.tenant, " S ", " \
	BUCKET("new.ts", S) ", 1, new.ok) ON CONFLICT (tenant, span, bucket) DO UPDATE" \
	" SET n = n + 1, ok = ok + excluded.ok; INSERT INTO event_names (tenant, span, bucket, n," \
	" kind, name) SELECT new.tenant, " S ", " BUCKET("new.ts", S) ", 1, k, v FROM" \
	" (SELECT 0 AS k, new.database_name AS v UNION ALL SELECT 1, new.user) WHERE v IS NOT NULL" \
	" ON CONFLICT (tenant, span, bucket, kind, name) DO UPDATE SET n = n + 1; "

static const char *const schema[] = {
	"CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, created INTEGER NOT NULL,"
	" doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS api_key_tenants (tenant TEXT NOT NULL, key_id TEXT NOT NULL,"
	" PRIMARY KEY (tenant, key_id)) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS api_keys_created ON api_keys (created, key_id)",
	"CREATE TABLE IF NOT EXISTS databases (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" status TEXT, type TEXT, host TEXT, port INTEGER, dbname TEXT, created INTEGER NOT NULL,"
	" hb_at INTEGER, doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE UNIQUE INDEX IF NOT EXISTS databases_unique ON databases (tenant, host, port, dbname)",
	"CREATE INDEX IF NOT EXISTS databases_tenant_created ON databases (tenant, created DESC, id DESC)",
	"CREATE INDEX IF NOT EXISTS databases_status_hb ON databases (status, hb_at)",
	/* open_key: policy, database and user of an open or acknowledged alert
	 * (its id once resolved), so that one alert absorbs repeated matches */
	"CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" database_id TEXT, status TEXT, open_key TEXT NOT NULL, created TEXT NOT NULL,"
	" doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS alerts_tenant_db_status ON alerts (tenant, database_id, status)",
	"CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_key ON alerts (open_key)",
	"CREATE INDEX IF NOT EXISTS alerts_tenant_created ON alerts (tenant, created DESC, id DESC)",
	"CREATE INDEX IF NOT EXISTS alerts_tenant_status_created ON alerts"
	" (tenant, status, created DESC, id DESC)",
	/* webhooks (store_sqlite_webhooks.c) */
	"CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" created INTEGER NOT NULL, status TEXT NOT NULL, position INTEGER NOT NULL,"
	" lease_owner TEXT NOT NULL, lease_until INTEGER NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS webhooks_tenant_created ON webhooks (tenant, created DESC, id DESC)",
	"CREATE INDEX IF NOT EXISTS webhooks_status ON webhooks (status, id)",
	"CREATE TABLE IF NOT EXISTS webhook_deliveries (id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL,"
	" tenant TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL,"
	" doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS webhook_deliveries_created ON webhook_deliveries"
	" (webhook_id, created DESC, id DESC)",
	"CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON webhook_deliveries"
	" (webhook_id, status, seq, created)",
	"CREATE TABLE IF NOT EXISTS policies (id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
	" enabled INTEGER NOT NULL, database_ids TEXT, doc TEXT NOT NULL) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS policies_tenant_enabled ON policies (tenant, enabled)",
	"CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" id TEXT NOT NULL, tenant TEXT NOT NULL, external_id TEXT, type TEXT NOT NULL,"
	" severity TEXT NOT NULL, database_id TEXT, database_name TEXT, user TEXT, source_ip TEXT,"
	" session_id TEXT, aid TEXT, ok INTEGER NOT NULL, ts INTEGER NOT NULL, doc TEXT NOT NULL)",
	"CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id)",
	"CREATE UNIQUE INDEX IF NOT EXISTS events_tenant_xid ON events (tenant, external_id)"
	" WHERE external_id IS NOT NULL",
	"CREATE INDEX IF NOT EXISTS events_tenant ON events (tenant)",
	"CREATE INDEX IF NOT EXISTS events_tenant_ts ON events (tenant, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_type_ts ON events (tenant, type, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_sev_type_ts ON events (tenant, severity, type, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_db_ts ON events (tenant, database_id, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_dbname_ts ON events (tenant, database_name, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_user_ts ON events (tenant, user, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_ip_ts ON events (tenant, source_ip, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_aid_ts ON events (tenant, aid, ts)",
	"CREATE INDEX IF NOT EXISTS events_tenant_session ON events (tenant, session_id)",
	/* kAudit search: case-insensitive substring by trigrams, rowid = seq */
	"CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(query, user, dbuser, dbname,"
	" schema_name, object_name, app, host, ip, tokenize = 'trigram')",
	/* the kAudit summary's counters (store_sqlite_summary.c) */
	"CREATE TABLE IF NOT EXISTS event_counts (tenant TEXT NOT NULL, span INTEGER NOT NULL,"
	" bucket INTEGER NOT NULL, n INTEGER NOT NULL, ok INTEGER NOT NULL,"
	" PRIMARY KEY (tenant, span, bucket)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS event_names (tenant TEXT NOT NULL, span INTEGER NOT NULL,"
	" bucket INTEGER NOT NULL, kind INTEGER NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL,"
	" PRIMARY KEY (tenant, span, bucket, kind, name)) WITHOUT ROWID",
	"CREATE TRIGGER IF NOT EXISTS events_counts_delete AFTER DELETE ON events BEGIN "
	SUB_OLD("60000") SUB_OLD("3600000") SUB_OLD("86400000") "END",
	"CREATE TRIGGER IF NOT EXISTS events_counts_update AFTER UPDATE OF tenant, ts, ok,"
	" database_name, user ON events BEGIN "
	SUB_OLD("60000") SUB_OLD("3600000") SUB_OLD("86400000")
	ADD_NEW("60000") ADD_NEW("3600000") ADD_NEW("86400000") "END",
};

/* Fills the counters from the events stored before they existed (schema 1). */
static const char backfill[] =
	"INSERT INTO event_counts (tenant, span, bucket, n, ok)"
	" SELECT tenant, s.span, " BUCKET("ts", "s.span") ", count(*), sum(ok)"
	" FROM events, (SELECT 60000 AS span UNION ALL SELECT 3600000 UNION ALL SELECT 86400000) s"
	" GROUP BY 1, 2, 3;"
	" INSERT INTO event_names (tenant, span, bucket, kind, name, n)"
	" SELECT tenant, s.span, " BUCKET("ts", "s.span") ", k.kind,"
	" CASE k.kind WHEN 0 THEN database_name ELSE user END AS v, count(*)"
	" FROM events, (SELECT 60000 AS span UNION ALL SELECT 3600000 UNION ALL SELECT 86400000) s,"
	" (SELECT 0 AS kind UNION ALL SELECT 1) k WHERE v IS NOT NULL GROUP BY 1, 2, 3, 4, 5";

/*
 * 2: the summary counters (filled from the events of a version 1 file);
 * 3: alerts gained open_key and created (versions 1 and 2 only ever read
 *    the table, empty: it is recreated)
 */
#define SCHEMA_VERSION 3
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---------------------------------------------------------------- statements */

static void sq_vadd(struct sq_query *q, const char *fmt, va_list ap)
{
	int n = vsnprintf(q->sql + q->len, sizeof(q->sql) - q->len, fmt, ap);

	if (n < 0 || (size_t)n >= sizeof(q->sql) - q->len) {
		q->ok = false;
		return;
	}
	q->len += (size_t)n;
}

void sq_init(struct sq_query *q, const char *fmt, ...)
{
	va_list ap;

	q->len = 0;
	q->nb = 0;
	q->ok = true;
	q->sql[0] = '\0';
	va_start(ap, fmt);
	sq_vadd(q, fmt, ap);
	va_end(ap);
}

void sq_add(struct sq_query *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sq_vadd(q, fmt, ap);
	va_end(ap);
}

void sq_str(struct sq_query *q, const char *v)
{
	if (q->nb == SQ_MAX_BINDS) {
		q->ok = false;
		return;
	}
	q->b[q->nb].is_int = false;
	q->b[q->nb++].str = v;
}

void sq_int(struct sq_query *q, int64_t v)
{
	if (q->nb == SQ_MAX_BINDS) {
		q->ok = false;
		return;
	}
	q->b[q->nb].is_int = true;
	q->b[q->nb++].i = v;
}

void sq_tenants(struct sq_query *q, const char *col, const struct principal *p)
{
	sq_add(q, " AND %s IN (", col);
	for (size_t i = 0; i < p->ntenants; i++) {
		sq_add(q, i ? ", ?" : "?");
		sq_str(q, p->tenants[i]);
	}
	if (p->ntenants == 0)
		sq_add(q, "NULL");
	sq_add(q, ")");
}

/* ---------------------------------------------------------------- errors */

enum api_err sq_error(struct store *s, int rc, const char *what)
{
	struct store_sqlite *q = store_sqlite_of(s);
	const char *msg = q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc);
	enum api_err e = API_ERR_INTERNAL;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
	case SQLITE_NOLFS:
	case SQLITE_AUTH:
	case SQLITE_PERM:
		e = API_ERR_UNAVAILABLE;
		break;
	case SQLITE_FULL:
		e = API_ERR_STORAGE_FULL;
		break;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return API_ERR_CONFLICT;
		break;
	}
	metrics_add(METRIC_STORE_ERRORS, 1);
	log_msg(e == API_ERR_INTERNAL ? LOG_ERROR : LOG_WARN, "store: %s failed: sqlite %d: %s",
		what, rc, msg);
	return e;
}

/* ---------------------------------------------------------------- connection */

/* Runs SQL without parameters or rows on db. */
static int exec_plain(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/*
 * The busy handler: polls the lock every 200 us until busy_ms have passed
 * since the first attempt. SQLite's own busy timeout backs off to 100 ms
 * sleeps, so with several writers queued a lock freed after 3 ms was taken
 * again up to 100 ms later; ingest through four workers spent most of its
 * time asleep.
 */
static int busy_wait(void *arg, int count)
{
	struct store_sqlite *q = arg;
	struct timespec pause = { 0, 200 * 1000 };

	if (count == 0)
		q->busy_since_us = time_mono_us();
	else if (time_mono_us() - q->busy_since_us >= (int64_t)q->busy_ms * 1000)
		return 0;
	nanosleep(&pause, NULL);
	return 1;
}

/* Creates the directory of path (0700) when it is missing. */
static void make_parent_dir(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		log_msg(LOG_WARN, "store: cannot create %s: %s", dir, strerror(errno));
}

/* The schema version of db (PRAGMA user_version). */
static int schema_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	*version = 0;
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* Creates the tables and indexes, or brings an older schema up to date; idempotent. */
static int create_schema(sqlite3 *db)
{
	int version = 0, rc = exec_plain(db, "BEGIN IMMEDIATE");

	if (rc == SQLITE_OK)
		rc = schema_version(db, &version); /* another process may have done it */
	if (rc == SQLITE_OK && version >= 1 && version < 3)
		rc = exec_plain(db, "DROP TABLE IF EXISTS alerts");
	for (size_t i = 0; rc == SQLITE_OK && version < SCHEMA_VERSION &&
	     i < sizeof(schema) / sizeof(schema[0]); i++)
		rc = exec_plain(db, schema[i]);
	if (rc == SQLITE_OK && version == 1)
		rc = exec_plain(db, backfill);
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = exec_plain(db, "PRAGMA user_version = " STR(SCHEMA_VERSION));
	if (rc == SQLITE_OK)
		rc = exec_plain(db, "COMMIT");
	else
		exec_plain(db, "ROLLBACK");
	return rc;
}

enum api_err sq_db(struct store *s, sqlite3 **out)
{
	struct store_sqlite *q = store_sqlite_of(s);
	char pragma[96];
	mode_t old;
	int rc, version = 0;

	if (q->db != NULL && q->pid != getpid())
		q->db = NULL; /* the parent's connection: never used (nor closed) after fork */
	if (q->db != NULL) {
		*out = q->db;
		return API_OK;
	}
	make_parent_dir(q->path);
	old = umask(077);
	rc = sqlite3_open_v2(q->path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	umask(old);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_handler(q->db, busy_wait, q);
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous = %s", q->synchronous);
	rc = exec_plain(q->db, "PRAGMA journal_mode = WAL");
	if (rc == SQLITE_OK)
		rc = exec_plain(q->db, pragma);
	if (rc == SQLITE_OK)
		rc = exec_plain(q->db, "PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY;"
				" PRAGMA cache_size = -32000; PRAGMA mmap_size = 1073741824;"
				" PRAGMA wal_autocheckpoint = 4000");
	if (rc == SQLITE_OK)
		rc = schema_version(q->db, &version);
	if (rc == SQLITE_OK && version < SCHEMA_VERSION)
		rc = create_schema(q->db);
	if (rc != SQLITE_OK)
		goto fail;
	q->pid = getpid();
	*out = q->db;
	return API_OK;
fail:
	{
		enum api_err e = sq_error(s, rc, "open");

		sqlite3_close_v2(q->db);
		q->db = NULL;
		return e == API_ERR_INTERNAL || e == API_ERR_CONFLICT ? API_ERR_UNAVAILABLE : e;
	}
}

enum api_err sq_prepare(struct store *s, const struct sq_query *q, sqlite3_stmt **st,
			const char *what)
{
	sqlite3 *db;
	enum api_err e;
	int rc;

	*st = NULL;
	if (!q->ok) {
		log_msg(LOG_ERROR, "store: %s: statement too long", what);
		return API_ERR_INTERNAL;
	}
	if ((e = sq_db(s, &db)) != API_OK)
		return e;
	rc = sqlite3_prepare_v2(db, q->sql, (int)q->len, st, NULL);
	for (int i = 0; rc == SQLITE_OK && i < q->nb; i++)
		rc = q->b[i].is_int ? sqlite3_bind_int64(*st, i + 1, q->b[i].i) :
		     sqlite3_bind_text(*st, i + 1, q->b[i].str, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*st);
		*st = NULL;
		return sq_error(s, rc, what);
	}
	return API_OK;
}

enum api_err sq_exec(struct store *s, const struct sq_query *q, int64_t *changes,
		     const char *what)
{
	sqlite3_stmt *st;
	enum api_err e = sq_prepare(s, q, &st, what);
	int rc;

	if (e != API_OK)
		return e;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_error(s, rc, what);
	if (changes != NULL)
		*changes = sqlite3_changes64(store_sqlite_of(s)->db);
	return API_OK;
}

static enum api_err exec_simple(struct store *s, const char *sql, const char *what)
{
	struct sq_query q;

	sq_init(&q, "%s", sql);
	return sq_exec(s, &q, NULL, what);
}

enum api_err sq_begin(struct store *s)
{
	return exec_simple(s, "BEGIN IMMEDIATE", "begin");
}

enum api_err sq_commit(struct store *s)
{
	enum api_err e = exec_simple(s, "COMMIT", "commit");

	if (e != API_OK)
		sq_rollback(s);
	return e;
}

void sq_rollback(struct store *s)
{
	struct store_sqlite *q = store_sqlite_of(s);

	if (q->db != NULL && !sqlite3_get_autocommit(q->db))
		exec_plain(q->db, "ROLLBACK");
}

/* Parses column 0 of the current row as JSON. */
static json_t *column_json(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	return text ? json_loadb(text, (size_t)sqlite3_column_bytes(st, col), JSON_DECODE_ANY, NULL) : NULL;
}

enum api_err sq_docs(struct store *s, const struct sq_query *q, json_t **items, const char *what)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	enum api_err e = arr ? sq_prepare(s, q, &st, what) : API_ERR_INTERNAL;
	int rc;

	*items = NULL;
	if (e != API_OK) {
		json_decref(arr);
		return e;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *j = column_json(st, 0);

		if (j == NULL || json_array_append_new(arr, j) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return sq_error(s, rc, what);
	}
	*items = arr;
	return API_OK;
}

enum api_err sq_doc(struct store *s, const struct sq_query *q, json_t **out, const char *what)
{
	sqlite3_stmt *st;
	enum api_err e = sq_prepare(s, q, &st, what);
	int rc;

	*out = NULL;
	if (e != API_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = column_json(st, 0);
		e = *out ? API_OK : API_ERR_INTERNAL;
	} else if (rc == SQLITE_DONE) {
		e = API_ERR_NOT_FOUND;
	} else {
		e = sq_error(s, rc, what);
	}
	sqlite3_finalize(st);
	return e;
}

enum api_err sq_int64(struct store *s, const struct sq_query *q, int64_t *out, const char *what)
{
	sqlite3_stmt *st;
	enum api_err e = sq_prepare(s, q, &st, what);
	int rc;

	*out = 0;
	if (e != API_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		e = sq_error(s, rc, what);
	sqlite3_finalize(st);
	return e;
}

char *sq_json_text(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---------------------------------------------------------------- lifecycle */

enum api_err store_sqlite_open(const struct config *cfg, const char *target, struct store **out,
			       const char **why)
{
	struct store_sqlite *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	q->base.engine = &store_sqlite_engine;
	q->path = strdup(target);
	if (q->path == NULL || target[0] == '\0') {
		*why = target[0] ? "out of memory" : "store = sqlite:PATH needs a path";
		store_sqlite_free(&q->base);
		return API_ERR_INTERNAL;
	}
	q->busy_ms = (int)cfg->store_timeout_ms;
	snprintf(q->synchronous, sizeof(q->synchronous), "%s", cfg->sqlite_synchronous);
	*out = &q->base;
	return API_OK;
}

void store_sqlite_free(struct store *s)
{
	struct store_sqlite *q = store_sqlite_of(s);

	if (q == NULL)
		return;
	if (q->db != NULL && q->pid == getpid())
		sqlite3_close_v2(q->db);
	free(q->path);
	free(q);
}

void store_sqlite_reset(struct store *s)
{
	struct store_sqlite *q = store_sqlite_of(s);

	if (q->db != NULL && q->pid == getpid()) {
		sq_rollback(s);
		sqlite3_close_v2(q->db);
	}
	q->db = NULL;
}

enum api_err store_sqlite_ping(struct store *s)
{
	struct sq_query q;
	int64_t v;

	sq_init(&q, "SELECT count(*) FROM meta");
	return sq_int64(s, &q, &v, "ping");
}

enum api_err store_sqlite_migrate(struct store *s)
{
	sqlite3 *db;
	enum api_err e = sq_db(s, &db);
	int rc;

	if (e != API_OK)
		return e;
	rc = create_schema(db);
	return rc == SQLITE_OK ? API_OK : sq_error(s, rc, "migrate");
}

enum api_err store_sqlite_backup(struct store *s, const char *path)
{
	sqlite3 *src, *dst = NULL;
	sqlite3_backup *b;
	enum api_err e = sq_db(s, &src);
	mode_t old;
	int rc, fd;

	if (e != API_OK)
		return e;
	/* A new file only, 0600 from the start. */
	old = umask(077);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	umask(old);
	if (fd < 0) {
		log_msg(LOG_ERROR, "store: backup: cannot create %s: %s", path, strerror(errno));
		return API_ERR_CONFLICT;
	}
	close(fd);
	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		/* One step: the whole copy is one read snapshot of the source
		 * (writers go on in the WAL meanwhile), so it is consistent. */
		b = sqlite3_backup_init(dst, "main", src, "main");
		if (b == NULL) {
			rc = sqlite3_errcode(dst);
		} else {
			rc = sqlite3_backup_step(b, -1);
			sqlite3_backup_finish(b);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	if (rc == SQLITE_OK)
		rc = exec_plain(dst, "PRAGMA journal_mode = DELETE");
	sqlite3_close_v2(dst);
	if (rc != SQLITE_OK) {
		unlink(path);
		return sq_error(s, rc, "backup");
	}
	return API_OK;
}

/* ---------------------------------------------------------------- keys */

static json_t *key_to_json(const struct key_record *k)
{
	json_t *tenants = json_array(), *scopes = json_array();

	for (size_t i = 0; tenants && i < k->ntenants; i++)
		json_array_append_new(tenants, json_string(k->tenants[i]));
	for (unsigned bit = 1; scopes && (bit & SCOPE_ALL); bit <<= 1)
		if (k->scopes & bit)
			json_array_append_new(scopes, json_string(principal_scope_name(bit)));
	return json_pack("{s:s,s:s,s:o*,s:o*,s:s,s:s,s:I,s:I,s:b}", "key_id", k->key_id, "hash",
			 k->hash, "tenants", tenants, "scopes", scopes, "plan",
			 principal_plan_name(k->plan), "name", k->name, "created",
			 (json_int_t)k->created_ms, "expires", (json_int_t)k->expires_ms, "revoked", 0);
}

static void key_from_json(json_t *d, int64_t last_used, struct key_record *k)
{
	size_t i;
	json_t *v;
	int plan = principal_plan_parse(json_string_value(json_object_get(d, "plan")) ?: "");

	memset(k, 0, sizeof(*k));
	snprintf(k->key_id, sizeof(k->key_id), "%s",
		 json_string_value(json_object_get(d, "key_id")) ?: "");
	snprintf(k->hash, sizeof(k->hash), "%s", json_string_value(json_object_get(d, "hash")) ?: "");
	snprintf(k->name, sizeof(k->name), "%s", json_string_value(json_object_get(d, "name")) ?: "");
	k->plan = plan < 0 ? PLAN_FREE : (enum plan)plan;
	json_array_foreach(json_object_get(d, "tenants"), i, v)
		if (json_is_string(v) && k->ntenants < PRINCIPAL_MAX_TENANTS)
			snprintf(k->tenants[k->ntenants++], sizeof(k->tenants[0]), "%s",
				 json_string_value(v));
	json_array_foreach(json_object_get(d, "scopes"), i, v)
		if (json_is_string(v))
			k->scopes |= principal_scope_bit(json_string_value(v));
	k->created_ms = json_integer_value(json_object_get(d, "created"));
	k->expires_ms = json_integer_value(json_object_get(d, "expires"));
	k->revoked = json_is_true(json_object_get(d, "revoked"));
	k->last_used_ms = last_used;
}

enum api_err store_sqlite_key_insert(struct store *s, const struct key_record *k)
{
	json_t *doc = key_to_json(k);
	char *text = doc ? sq_json_text(doc) : NULL;
	struct sq_query q;
	enum api_err e = text ? sq_begin(s) : API_ERR_INTERNAL;

	if (e != API_OK)
		goto out;
	sq_init(&q, "INSERT INTO api_keys (key_id, created, doc) VALUES (?, ?, ?)");
	sq_str(&q, k->key_id);
	sq_int(&q, k->created_ms);
	sq_str(&q, text);
	e = sq_exec(s, &q, NULL, "api key insert");
	for (size_t i = 0; e == API_OK && i < k->ntenants; i++) {
		sq_init(&q, "INSERT OR IGNORE INTO api_key_tenants (tenant, key_id) VALUES (?, ?)");
		sq_str(&q, k->tenants[i]);
		sq_str(&q, k->key_id);
		e = sq_exec(s, &q, NULL, "api key insert");
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
out:
	free(text);
	json_decref(doc);
	return e;
}

/* The key rows of q (columns doc, last_used) to cb. */
static enum api_err key_rows(struct store *s, const struct sq_query *q,
			     void (*cb)(const struct key_record *k, void *arg), void *arg,
			     const char *what)
{
	sqlite3_stmt *st;
	struct key_record k;
	enum api_err e = sq_prepare(s, q, &st, what);
	int rc;

	if (e != API_OK)
		return e;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *d = column_json(st, 0);

		if (d == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		key_from_json(d, json_integer_value(json_object_get(d, "last_used")), &k);
		json_decref(d);
		cb(&k, arg);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? API_OK : sq_error(s, rc, what);
}

static void key_copy(const struct key_record *k, void *arg)
{
	struct key_record *out = arg;

	*out = *k;
}

enum api_err store_sqlite_key_get(struct store *s, const char *key_id, struct key_record *out)
{
	struct sq_query q;
	enum api_err e;

	out->key_id[0] = '\0';
	sq_init(&q, "SELECT doc FROM api_keys WHERE key_id = ?");
	sq_str(&q, key_id);
	e = key_rows(s, &q, key_copy, out, "api key lookup");
	if (e == API_OK && out->key_id[0] == '\0')
		e = API_ERR_NOT_FOUND;
	return e;
}

enum api_err store_sqlite_key_list(struct store *s, const char *tenant,
				   void (*cb)(const struct key_record *k, void *arg), void *arg)
{
	struct sq_query q;

	if (tenant == NULL) {
		sq_init(&q, "SELECT doc FROM api_keys ORDER BY created, key_id");
	} else {
		sq_init(&q, "SELECT k.doc FROM api_key_tenants t JOIN api_keys k ON k.key_id = t.key_id"
			" WHERE t.tenant = ? ORDER BY k.created, k.key_id");
		sq_str(&q, tenant);
	}
	return key_rows(s, &q, cb, arg, "api key list");
}

enum api_err store_sqlite_key_revoke(struct store *s, const char *key_id)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	sq_init(&q, "UPDATE api_keys SET doc = json_set(doc, '$.revoked', json('true'))"
		" WHERE key_id = ?");
	sq_str(&q, key_id);
	e = sq_exec(s, &q, &n, "api key revoke");
	return e == API_OK && n == 0 ? API_ERR_NOT_FOUND : e;
}

enum api_err store_sqlite_key_touch(struct store *s, const char *key_id, int64_t ms)
{
	struct sq_query q;

	/* Only forward: several workers flush the same key. One statement is
	 * its own transaction, which takes the write lock at once. */
	sq_init(&q, "UPDATE api_keys SET doc = json_set(doc, '$.last_used', ?) WHERE key_id = ?"
		" AND coalesce(json_extract(doc, '$.last_used'), 0) < ?");
	sq_int(&q, ms);
	sq_str(&q, key_id);
	sq_int(&q, ms);
	return sq_exec(s, &q, NULL, "api key touch");
}

/* ---------------------------------------------------------------- engine */

const struct store_engine store_sqlite_engine = {
	.name = "sqlite",
	.open = store_sqlite_open,
	.free = store_sqlite_free,
	.reset = store_sqlite_reset,
	.ping = store_sqlite_ping,
	.migrate = store_sqlite_migrate,
	.backup = store_sqlite_backup,
	.key_insert = store_sqlite_key_insert,
	.key_get = store_sqlite_key_get,
	.key_list = store_sqlite_key_list,
	.key_revoke = store_sqlite_key_revoke,
	.key_touch = store_sqlite_key_touch,
	.events_check_databases = store_sqlite_events_check_databases,
	.events_insert = store_sqlite_events_insert,
	.events_list = store_sqlite_events_list,
	.events_after = store_sqlite_events_after,
	.events_after_all = store_sqlite_events_after_all,
	.events_watermark = store_sqlite_events_watermark,
	.events_allocate = store_sqlite_events_allocate,
	.events_allocated = store_sqlite_events_allocated,
	.events_invalidate = store_sqlite_events_invalidate,
	.events_gc = store_sqlite_events_gc,
	.events_scan = store_sqlite_events_scan,
	.events_import = store_sqlite_events_import,
	.database_import = store_sqlite_database_import,
	.events_get = store_sqlite_events_get,
	.events_session = store_sqlite_events_session,
	.events_summary = store_sqlite_events_summary,
	.database_name = store_sqlite_database_name,
	.database_insert = store_sqlite_database_insert,
	.database_get = store_sqlite_database_get,
	.database_list = store_sqlite_database_list,
	.database_update = store_sqlite_database_update,
	.database_check_unique = store_sqlite_database_check_unique,
	.database_delete = store_sqlite_database_delete,
	.policies_disable_for_database = store_sqlite_policies_disable_for_database,
	.database_set_test = store_sqlite_database_set_test,
	.database_heartbeat = store_sqlite_database_heartbeat,
	.database_stats = store_sqlite_database_stats,
	.database_last_event = store_sqlite_database_last_event,
	.database_last_event_times = store_sqlite_database_last_event_times,
	.database_mark_stale = store_sqlite_database_mark_stale,
	.database_foreach = store_sqlite_database_foreach,
	.database_replace_secrets = store_sqlite_database_replace_secrets,
	.policy_put = store_sqlite_policy_put,
	.policy_get = store_sqlite_policy_get,
	.policy_delete = store_sqlite_policy_delete,
	.policy_list = store_sqlite_policy_list,
	.alert_record = store_sqlite_alert_record,
	.alert_get = store_sqlite_alert_get,
	.alert_list = store_sqlite_alert_list,
	.alert_update = store_sqlite_alert_update,
	.webhook_insert = store_sqlite_webhook_insert,
	.webhook_get = store_sqlite_webhook_get,
	.webhook_list = store_sqlite_webhook_list,
	.webhook_update = store_sqlite_webhook_update,
	.webhook_delete = store_sqlite_webhook_delete,
	.webhook_active = store_sqlite_webhook_active,
	.webhook_lease = store_sqlite_webhook_lease,
	.webhook_advance = store_sqlite_webhook_advance,
	.delivery_insert = store_sqlite_delivery_insert,
	.delivery_get = store_sqlite_delivery_get,
	.delivery_list = store_sqlite_delivery_list,
	.delivery_next = store_sqlite_delivery_next,
	.delivery_update = store_sqlite_delivery_update,
};
