/*
 * store_sqlite_events: events on SQLite. Writing: one BEGIN IMMEDIATE per
 * batch; the commit sequence is events.seq, assigned inside that
 * transaction (the highest sequence ever used, from sqlite_sequence, plus
 * one per stored event), so the commit order is the transaction order and
 * the cursor watermark is the highest committed sequence: no blocks, leases
 * or tombstones. Idempotency: the unique index on (tenant, external_id)
 * (and on id, which derives from them) turns a repeated event into a
 * no-op that the writer reports as a duplicate.
 *
 * Reading: every filter is a column of events with an index led by the
 * tenant (docs/storage.md); kAudit search goes through events_fts
 * (trigram FTS5) for terms of 3 characters or more, and through a bounded
 * window of the newest events for shorter ones (SHORT_SEARCH_WINDOW).
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Terms shorter than a trigram are matched against the newest events only. */
#define SHORT_SEARCH_WINDOW 50000

/* A search term with at most this many matches is looked up match by match. */
#define RARE_MATCHES 2000

/* ---------------------------------------------------------------- filters */

/*
 * term between open and close, each character of specials preceded by esc:
 * the FTS5 phrase of a literal ("..." with " doubled) and a LIKE pattern
 * matching it anywhere (%...% with \ escaping % _ \).
 */
static char *quote_term(const char *term, char open, char close, const char *specials, char esc)
{
	size_t n = strlen(term), k = 0;
	char *out = malloc(2 * n + 3);

	if (out == NULL)
		return NULL;
	out[k++] = open;
	for (size_t i = 0; i < n; i++) {
		if (strchr(specials, term[i]) != NULL)
			out[k++] = esc;
		out[k++] = term[i];
	}
	out[k++] = close;
	out[k] = '\0';
	return out;
}

/* What a filter needs to keep alive while its statement runs. */
struct filter_mem {
	char *search;
	const char *types[EVENT_NTYPES];
};

static void filter_mem_free(struct filter_mem *m)
{
	free(m->search);
	m->search = NULL;
}

/* The FTS5 phrase of a search term of three characters or more, or NULL. */
static char *fts_phrase(const struct event_filter *f)
{
	if (f->search == NULL || event_utf8_prefix(f->search, 2) >= strlen(f->search))
		return NULL;
	return quote_term(f->search, '"', '"', "\"", '"');
}

/*
 * Whether f searches for a term with at most RARE_MATCHES matches over all
 * tenants. Left to itself, SQLite walks events_tenant_ts in time order and
 * tests each event against the term's matches: right when most events
 * match (the first page comes quickly), a pass over every event when few
 * do. For a rare term the query is turned around: each match is looked up
 * by its sequence and the few are sorted.
 */
static bool search_is_rare(struct store *s, const struct event_filter *f)
{
	char *phrase = fts_phrase(f);
	struct sq_query q;
	int64_t n = RARE_MATCHES + 1;

	if (phrase == NULL)
		return false;
	sq_init(&q, "SELECT count(*) FROM (SELECT rowid FROM events_fts WHERE events_fts MATCH ?"
		" LIMIT %d)", RARE_MATCHES + 1);
	sq_str(&q, phrase);
	if (sq_int64(s, &q, &n, "event search probe") != API_OK)
		n = RARE_MATCHES + 1;
	free(phrase);
	return n <= RARE_MATCHES;
}

/*
 * Appends the WHERE conditions of p and f (after "WHERE 1"): the tenant
 * first, then each filter as an equality on its column, the time range,
 * and the search.
 */
static void build_filter(struct store *s, struct sq_query *q, const struct principal *p,
			 const struct event_filter *f, struct filter_mem *m)
{
	uint32_t mask = f->types & EVENT_TYPES_ALL;
	size_t nt = 0;

	/* A rare term: its matches drive the query, not a tenant index walk. */
	sq_tenants(q, search_is_rare(s, f) ? "+tenant" : "tenant", p);
	if (mask != 0 && mask != EVENT_TYPES_ALL) {
		for (int i = 0; i < EVENT_NTYPES; i++)
			if (mask & (1u << i))
				m->types[nt++] = event_types[i].name;
		sq_add(q, " AND type IN (");
		for (size_t i = 0; i < nt; i++) {
			sq_add(q, i ? ", ?" : "?");
			sq_str(q, m->types[i]);
		}
		sq_add(q, ")");
	}
#define EQ(field, col) \
	do { if (f->field) { sq_add(q, " AND " col " = ?"); sq_str(q, f->field); } } while (0)
	EQ(severity, "severity");
	EQ(database_id, "database_id");
	EQ(database_name, "database_name");
	EQ(user, "user");
	EQ(source_ip, "source_ip");
	EQ(action_id, "aid");
#undef EQ
	if (f->has_start) {
		sq_add(q, " AND ts >= ?");
		sq_int(q, f->start_ms);
	}
	if (f->has_end) {
		sq_add(q, " AND ts <= ?");
		sq_int(q, f->end_ms);
	}
	if (f->search && f->search[0]) {
		if (event_utf8_prefix(f->search, 2) < strlen(f->search)) {
			/* three characters or more: one trigram at least */
			m->search = fts_phrase(f);
			sq_add(q, " AND seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)");
			sq_str(q, m->search);
		} else {
			static const char *const cols[] = { "query", "user", "dbuser", "dbname",
				"schema_name", "object_name", "app", "host", "ip" };
			struct sq_query top;
			int64_t max = 0;

			sq_init(&top, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
			if (sq_int64(s, &top, &max, "event search window") != API_OK)
				max = 0;
			m->search = quote_term(f->search, '%', '%', "%_\\", '\\');
			sq_add(q, " AND seq > ? AND seq IN (SELECT rowid FROM events_fts WHERE rowid > ?"
			       " AND (");
			sq_int(q, max - SHORT_SEARCH_WINDOW);
			sq_int(q, max - SHORT_SEARCH_WINDOW);
			for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
				sq_add(q, "%s%s LIKE ? ESCAPE '\\'", i ? " OR " : "", cols[i]);
				sq_str(q, m->search);
			}
			sq_add(q, "))");
		}
		if (m->search == NULL)
			q->ok = false;
	}
}

/* The column a sort field of the API names; NULL for one that has none. */
static const char *sort_column(const char *field)
{
	static const struct {
		const char *field, *col;
	} cols[] = {
		{ "timestamp", "ts" }, { "seq", "seq" }, { "_id", "id" }, { "tenant_id", "tenant" },
		{ "aid", "aid" }, { "ok", "ok" }, { "database_name", "database_name" },
		{ "details.user", "user" }, { "details.source_ip", "source_ip" },
	};

	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (strcmp(cols[i].field, field) == 0)
			return cols[i].col;
	return NULL;
}

/* Whether a field name may go into SQL as a JSON path (a fixed table of the API's). */
static bool field_is_safe(const char *f)
{
	for (; *f; f++)
		if (!((*f >= 'a' && *f <= 'z') || *f == '_' || *f == '.'))
			return false;
	return true;
}

/* ---------------------------------------------------------------- counts */

/* The canonical key of a statement and its values. */
static char *count_key(const struct sq_query *q)
{
	size_t cap = q->len + 1, len = q->len;
	char *k;

	for (int i = 0; i < q->nb; i++)
		cap += q->b[i].is_int ? 24 : strlen(q->b[i].str) + 2;
	k = malloc(cap);
	if (k == NULL)
		return NULL;
	memcpy(k, q->sql, q->len);
	for (int i = 0; i < q->nb; i++) {
		if (q->b[i].is_int)
			len += (size_t)snprintf(k + len, cap - len, "\x1f%lld", (long long)q->b[i].i);
		else
			len += (size_t)snprintf(k + len, cap - len, "\x1f%s", q->b[i].str);
	}
	k[len] = '\0';
	return k;
}

/*
 * count(*) of q, through store_counts (store.c) keyed on the statement and
 * the events version: the highest sequence and the invalidations.
 */
static enum api_err count_cached(struct store *s, const struct sq_query *q, int64_t *total)
{
	struct sq_query v;
	int64_t seq = 0, inval = 0;
	char *key;
	enum api_err e;

	sq_init(&v, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
	e = sq_int64(s, &v, &seq, "event version");
	if (e == API_OK) {
		sq_init(&v, "SELECT v FROM meta WHERE k = 'events_invalidated'");
		e = sq_int64(s, &v, &inval, "event version");
	}
	if (e != API_OK)
		return e;
	key = count_key(q);
	if (key != NULL && store_counts_get(s, key, seq, inval, total)) {
		free(key);
		return API_OK;
	}
	e = sq_int64(s, q, total, "event count");
	if (e == API_OK && key != NULL)
		store_counts_put(s, key, seq, inval, *total);
	free(key);
	return e;
}

/* ---------------------------------------------------------------- reads */

enum api_err store_sqlite_events_list(struct store *s, const struct principal *p,
				      const struct event_filter *f, const char *sort_field,
				      bool ascending, int64_t skip, int64_t limit, json_t **items,
				      int64_t *total)
{
	struct filter_mem m = { 0 };
	struct sq_query q;
	const char *col = sort_column(sort_field), *dir = ascending ? "ASC" : "DESC";
	enum api_err e;

	*items = NULL;
	if (col == NULL && !field_is_safe(sort_field))
		return API_ERR_INTERNAL;
	sq_init(&q, "SELECT doc FROM events WHERE 1");
	build_filter(s, &q, p, f, &m);
	if (col != NULL)
		sq_add(&q, " ORDER BY %s %s", col, dir);
	else
		sq_add(&q, " ORDER BY json_extract(doc, '$.%s') %s", sort_field, dir);
	if (col == NULL || strcmp(col, "seq") != 0)
		sq_add(&q, ", seq %s", dir);
	sq_add(&q, " LIMIT ? OFFSET ?");
	sq_int(&q, limit);
	sq_int(&q, skip);
	e = sq_docs(s, &q, items, "event list");
	if (e == API_OK && total != NULL) {
		/* A first page shorter than the limit is the whole result. */
		if (skip == 0 && (int64_t)json_array_size(*items) < limit) {
			*total = (int64_t)json_array_size(*items);
		} else {
			filter_mem_free(&m);
			sq_init(&q, "SELECT count(*) FROM events WHERE 1");
			build_filter(s, &q, p, f, &m);
			e = count_cached(s, &q, total);
		}
		if (e != API_OK) {
			json_decref(*items);
			*items = NULL;
		}
	}
	filter_mem_free(&m);
	return e;
}

/*
 * Events with after < seq <= upto in commit order, at most limit: the
 * principal's matching f, or every tenant's when p is NULL (the stream's
 * reader; only store_sqlite_events_after_all passes NULL). *has_more tells
 * whether more lie beyond them.
 */
static enum api_err page_by_seq(struct store *s, const struct principal *p,
				const struct event_filter *f, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more)
{
	struct filter_mem m = { 0 };
	struct sq_query q;
	enum api_err e;

	*has_more = false;
	if (upto <= after) {
		*items = json_array();
		return *items ? API_OK : API_ERR_INTERNAL;
	}
	sq_init(&q, "SELECT doc FROM events WHERE seq > ? AND seq <= ?");
	sq_int(&q, after);
	sq_int(&q, upto);
	if (p != NULL)
		build_filter(s, &q, p, f, &m);
	sq_add(&q, " ORDER BY seq LIMIT ?");
	sq_int(&q, limit + 1);
	e = sq_docs(s, &q, items, p ? "event cursor page" : "event stream page");
	if (e == API_OK && (int64_t)json_array_size(*items) > limit) {
		json_array_remove(*items, json_array_size(*items) - 1);
		*has_more = true;
	}
	filter_mem_free(&m);
	return e;
}

enum api_err store_sqlite_events_after(struct store *s, const struct principal *p,
				       const struct event_filter *f, int64_t after, int64_t upto,
				       int64_t limit, json_t **items, bool *has_more)
{
	if (p == NULL) /* never every tenant's events through the principal's door */
		return API_ERR_INTERNAL;
	return page_by_seq(s, p, f, after, upto, limit, items, has_more);
}

enum api_err store_sqlite_events_after_all(struct store *s, int64_t after, int64_t upto,
					   int64_t limit, json_t **items, bool *has_more)
{
	return page_by_seq(s, NULL, NULL, after, upto, limit, items, has_more);
}

enum api_err store_sqlite_events_get(struct store *s, const struct principal *p, const char *id,
				     json_t **doc)
{
	struct sq_query q;

	sq_init(&q, "SELECT doc FROM events WHERE id = ?");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	return sq_doc(s, &q, doc, "event get");
}

enum api_err store_sqlite_events_session(struct store *s, const struct principal *p,
					 const char *id, const char *session_id, size_t max,
					 json_t **ids)
{
	struct sq_query q;

	sq_init(&q, "SELECT json_quote(id) FROM events WHERE session_id = ? AND id <> ?");
	sq_str(&q, session_id);
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	sq_add(&q, " ORDER BY seq DESC LIMIT ?");
	sq_int(&q, (int64_t)max);
	return sq_docs(s, &q, ids, "event session lookup");
}

enum api_err sq_summary_scan(struct store *s, const struct principal *p,
			     const struct event_filter *f, struct event_summary *out)
{
	struct filter_mem m = { 0 };
	struct sq_query q;
	sqlite3_stmt *st = NULL;
	enum api_err e;
	int rc;

	memset(out, 0, sizeof(*out));
	sq_init(&q, "SELECT count(*), coalesce(sum(ok), 0), count(DISTINCT database_name),"
		" count(DISTINCT user), max(ts) FROM events WHERE 1");
	build_filter(s, &q, p, f, &m);
	e = sq_prepare(s, &q, &st, "event summary");
	if (e == API_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			out->total = sqlite3_column_int64(st, 0);
			out->succeeded = sqlite3_column_int64(st, 1);
			out->failed = out->total - out->succeeded;
			out->distinct_databases = sqlite3_column_int64(st, 2);
			out->distinct_principals = sqlite3_column_int64(st, 3);
			out->has_latest = out->total > 0;
			out->latest_ms = sqlite3_column_int64(st, 4);
		} else {
			e = sq_error(s, rc, "event summary");
		}
	}
	sqlite3_finalize(st);
	filter_mem_free(&m);
	return e;
}

/* ---------------------------------------------------------------- the cursor */

enum api_err store_sqlite_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
					   int max_steps, int64_t *w)
{
	struct sq_query q;

	(void)lease_ms;
	(void)now_ms;
	(void)max_steps;
	/* Sequences are assigned inside the write transaction: every sequence
	 * up to the highest committed one is decided. */
	sq_init(&q, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
	return sq_int64(s, &q, w, "event watermark");
}

enum api_err store_sqlite_events_allocated(struct store *s, int64_t *seq)
{
	return store_sqlite_events_watermark(s, 0, 0, 0, seq);
}

enum api_err store_sqlite_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi)
{
	struct sq_query q;
	int64_t top = 0;
	enum api_err e = sq_begin(s);

	/* Sequences skipped in one transaction: decided (empty) when it commits. */
	if (e != API_OK)
		return e;
	sq_init(&q, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
	e = sq_int64(s, &q, &top, "event allocation");
	if (e == API_OK) {
		sq_init(&q, "INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES ('events', ?)");
		sq_int(&q, top + n);
		e = sq_exec(s, &q, NULL, "event allocation");
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	if (e == API_OK) {
		*lo = top + 1;
		*hi = top + n;
	}
	return e;
}

enum api_err store_sqlite_events_invalidate(struct store *s)
{
	struct sq_query q;

	sq_init(&q, "INSERT INTO meta (k, v) VALUES ('events_invalidated', 1)"
		" ON CONFLICT (k) DO UPDATE SET v = v + 1");
	return sq_exec(s, &q, NULL, "event invalidation");
}

enum api_err store_sqlite_events_gc(struct store *s)
{
	(void)s;
	return API_OK; /* no block records to collect */
}

/* ---------------------------------------------------------------- writes */

static const char *detail(const struct event_in *e, const char *name)
{
	return json_string_value(json_object_get(e->details, name));
}

/* The stored document of e (dates as RFC 3339, as the MongoDB engine returns them). */
static json_t *event_doc(const struct event_in *e, int64_t now_ms)
{
	char ts[TIME_RFC3339_LEN], at[TIME_RFC3339_LEN];
	json_t *d;

	time_format_rfc3339(e->timestamp_ms, ts);
	time_format_rfc3339(now_ms, at);
	d = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:b}", "_id", e->id, "seq",
		      (json_int_t)e->seq, "xid", e->xid, "tenant_id", e->tenant, "type", e->type,
		      "severity", e->severity, "timestamp", ts, "processed_at", at, "details",
		      e->details, "ok", e->succeeded);
	if (d == NULL)
		return NULL;
	if (e->database_id)
		json_object_set_new(d, "database_id", json_string(e->database_id));
	if (e->database_name[0])
		json_object_set_new(d, "database_name", json_string(e->database_name));
	if (e->external_id)
		json_object_set_new(d, "external_id", json_string(e->external_id));
	if (e->context)
		json_object_set(d, "context", e->context);
	if (e->related)
		json_object_set(d, "related_events", e->related);
	if (e->action_id[0])
		json_object_set_new(d, "aid", json_string(e->action_id));
	return d;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v != NULL && v[0] != '\0')
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Inserts e with sequence e->seq; *stored false when it is a duplicate. */
static int insert_one(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *fts, struct event_in *e,
		      int64_t now_ms, bool *stored)
{
	json_t *doc = event_doc(e, now_ms);
	char *text = doc ? sq_json_text(doc) : NULL;
	int rc = SQLITE_NOMEM;

	*stored = false;
	if (text == NULL)
		goto out;
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	sqlite3_bind_int64(ins, 1, e->seq);
	sqlite3_bind_text(ins, 2, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, e->tenant, -1, SQLITE_STATIC);
	bind_opt(ins, 4, e->external_id);
	sqlite3_bind_text(ins, 5, e->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 6, e->severity, -1, SQLITE_STATIC);
	bind_opt(ins, 7, e->database_id);
	bind_opt(ins, 8, e->database_name);
	bind_opt(ins, 9, detail(e, "user"));
	bind_opt(ins, 10, detail(e, "source_ip"));
	bind_opt(ins, 11, detail(e, "session_id"));
	bind_opt(ins, 12, e->action_id);
	sqlite3_bind_int(ins, 13, e->succeeded);
	sqlite3_bind_int64(ins, 14, e->timestamp_ms);
	sqlite3_bind_text(ins, 15, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	sqlite3_reset(ins);
	if (rc != SQLITE_DONE)
		goto out;
	if (sqlite3_changes(db) == 0) {
		rc = SQLITE_OK; /* the same (tenant, external_id) is stored */
		goto out;
	}
	sqlite3_reset(fts);
	sqlite3_clear_bindings(fts);
	sqlite3_bind_int64(fts, 1, e->seq);
	bind_opt(fts, 2, detail(e, "query"));
	bind_opt(fts, 3, detail(e, "user"));
	bind_opt(fts, 4, detail(e, "database_principal_name"));
	bind_opt(fts, 5, e->database_name);
	bind_opt(fts, 6, detail(e, "schema_name"));
	bind_opt(fts, 7, detail(e, "object_name"));
	bind_opt(fts, 8, detail(e, "client_application"));
	bind_opt(fts, 9, detail(e, "host_name"));
	bind_opt(fts, 10, detail(e, "source_ip"));
	rc = sqlite3_step(fts);
	sqlite3_reset(fts);
	if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
		*stored = true;
	}
out:
	free(text);
	json_decref(doc);
	return rc;
}

/* Adds the events of ev that are not duplicates to the summary counters. */
static int add_counts(sqlite3 *db, const struct event_in *ev, size_t n)
{
	bool *stored = malloc(n + 1);
	int rc = SQLITE_NOMEM;

	if (stored != NULL) {
		for (size_t i = 0; i < n; i++)
			stored[i] = !ev[i].duplicate;
		rc = sq_counts_add(db, ev, stored, n);
	}
	free(stored);
	return rc;
}

enum api_err store_sqlite_events_insert(struct store *s, struct event_in *ev, size_t n,
					int64_t now_ms, int64_t lease_ms)
{
	sqlite3 *db;
	sqlite3_stmt *ins = NULL, *fts = NULL;
	struct sq_query q;
	int64_t top = 0;
	enum api_err e;
	int rc = SQLITE_OK;

	(void)lease_ms;
	if ((e = sq_db(s, &db)) != API_OK || (e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "SELECT seq FROM sqlite_sequence WHERE name = 'events'");
	if ((e = sq_int64(s, &q, &top, "event insert")) != API_OK)
		goto fail;
	rc = sqlite3_prepare_v2(db, "INSERT INTO events (seq, id, tenant, external_id, type, severity,"
				" database_id, database_name, user, source_ip, session_id, aid, ok, ts,"
				" doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
				" ON CONFLICT DO NOTHING", -1, &ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO events_fts (rowid, query, user, dbuser, dbname,"
					" schema_name, object_name, app, host, ip)"
					" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &fts, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		bool stored;

		if (ev[i].duplicate)
			continue;
		ev[i].seq = top + 1;
		rc = insert_one(db, ins, fts, &ev[i], now_ms, &stored);
		if (rc == SQLITE_OK && stored) {
			top++;
		} else if (rc == SQLITE_OK) {
			ev[i].duplicate = true;
			ev[i].seq = 0;
		}
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);
	if (rc == SQLITE_OK)
		rc = add_counts(db, ev, n);
	if (rc != SQLITE_OK) {
		e = sq_error(s, rc, "event insert");
		goto fail;
	}
	/* Nothing is acknowledged before this commit is durable (synchronous). */
	return sq_commit(s);
fail:
	sq_rollback(s);
	for (size_t i = 0; i < n; i++)
		if (!ev[i].duplicate)
			ev[i].seq = 0;
	return e == API_ERR_CONFLICT || e == API_ERR_INTERNAL ? API_ERR_INTERNAL : e;
}

enum api_err store_sqlite_events_check_databases(struct store *s, struct event_in *ev, size_t n,
						 size_t *bad)
{
	struct sq_query q;
	sqlite3_stmt *st = NULL;
	enum api_err e = API_OK;
	size_t nids = 0;
	json_t *found = json_object();
	int rc;

	if (found == NULL)
		return API_ERR_INTERNAL;
	sq_init(&q, "SELECT json_array(id, tenant, json_extract(doc, '$.name'),"
		" json_extract(doc, '$.type'), json(json_extract(doc, '$.audit_options')))"
		" FROM databases WHERE id IN (");
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		if (ev[i].database_id == NULL)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = ev[j].database_id && strcmp(ev[j].database_id, ev[i].database_id) == 0;
		if (seen)
			continue;
		sq_add(&q, nids++ ? ", ?" : "?");
		sq_str(&q, ev[i].database_id);
	}
	sq_add(&q, ")");
	if (nids == 0)
		goto out;
	if (!q.ok) {
		/* more distinct databases than one statement binds: look them up one by one */
		for (size_t i = 0; e == API_OK && i < n; i++) {
			if (ev[i].database_id == NULL)
				continue;
			json_t *row = NULL;

			sq_init(&q, "SELECT json_array(id, tenant, json_extract(doc, '$.name'),"
				" json_extract(doc, '$.type'), json(json_extract(doc, '$.audit_options')))"
				" FROM databases WHERE id = ?");
			sq_str(&q, ev[i].database_id);
			e = sq_doc(s, &q, &row, "database check");
			if (e == API_ERR_NOT_FOUND)
				e = API_OK;
			if (row != NULL)
				json_object_set_new(found, ev[i].database_id, row);
		}
	} else if ((e = sq_prepare(s, &q, &st, "database check")) == API_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *text = (const char *)sqlite3_column_text(st, 0);
			json_t *row = text ? json_loads(text, 0, NULL) : NULL;
			const char *id = json_string_value(json_array_get(row, 0));

			if (id != NULL)
				json_object_set(found, id, row);
			json_decref(row);
		}
		if (rc != SQLITE_DONE)
			e = sq_error(s, rc, "database check");
		sqlite3_finalize(st);
	}
	for (size_t i = 0; e == API_OK && i < n; i++) {
		json_t *row;
		const char *t, *name;

		if (ev[i].database_id == NULL)
			continue;
		row = json_object_get(found, ev[i].database_id);
		t = json_string_value(json_array_get(row, 1));
		name = json_string_value(json_array_get(row, 2));
		if (t == NULL || strcmp(t, ev[i].tenant) != 0) {
			*bad = i;
			e = API_ERR_UNPROCESSABLE;
		} else {
			event_set_database(&ev[i], name, json_string_value(json_array_get(row, 3)),
					   json_array_get(row, 4));
		}
	}
out:
	json_decref(found);
	return e;
}

/* ---------------------------------------------------------------- export, import */

enum api_err store_sqlite_events_scan(struct store *s, const char *tenant, int64_t after,
				      int64_t limit, json_t **items)
{
	struct sq_query q;

	sq_init(&q, "SELECT doc FROM events WHERE seq > ?");
	sq_int(&q, after);
	if (tenant != NULL) {
		sq_add(&q, " AND tenant = ?");
		sq_str(&q, tenant);
	}
	sq_add(&q, " ORDER BY seq LIMIT ?");
	sq_int(&q, limit);
	return sq_docs(s, &q, items, "event export");
}

enum api_err store_sqlite_events_import(struct store *s, struct event_in *ev,
					const int64_t *processed_ms, size_t n)
{
	sqlite3 *db;
	sqlite3_stmt *ins = NULL, *fts = NULL;
	struct sq_query q;
	enum api_err e;
	int rc = SQLITE_OK;

	if ((e = sq_db(s, &db)) != API_OK || (e = sq_begin(s)) != API_OK)
		return e;
	rc = sqlite3_prepare_v2(db, "INSERT INTO events (seq, id, tenant, external_id, type, severity,"
				" database_id, database_name, user, source_ip, session_id, aid, ok, ts,"
				" doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
				" ON CONFLICT DO NOTHING", -1, &ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO events_fts (rowid, query, user, dbuser, dbname,"
					" schema_name, object_name, app, host, ip)"
					" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &fts, NULL);
	for (size_t i = 0; rc == SQLITE_OK && e == API_OK && i < n; i++) {
		bool stored;
		int64_t same = 0;

		rc = insert_one(db, ins, fts, &ev[i], processed_ms[i], &stored);
		ev[i].duplicate = !stored;
		if (rc != SQLITE_OK || stored)
			continue;
		/* Not stored: the same event from an earlier run, or a clash. */
		sq_init(&q, "SELECT count(*) FROM events WHERE seq = ? AND id = ?");
		sq_int(&q, ev[i].seq);
		sq_str(&q, ev[i].id);
		e = sq_int64(s, &q, &same, "event import");
		if (e == API_OK && same == 0) {
			log_msg(LOG_ERROR, "store: import: event %s or its sequence %lld is taken by"
				" another event", ev[i].id, (long long)ev[i].seq);
			e = API_ERR_CONFLICT;
		}
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(fts);
	if (rc == SQLITE_OK && e == API_OK)
		rc = add_counts(db, ev, n);
	if (rc != SQLITE_OK)
		e = sq_error(s, rc, "event import");
	if (e != API_OK) {
		sq_rollback(s);
		return e;
	}
	return sq_commit(s);
}
