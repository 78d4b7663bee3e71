/*
 * store_sqlite_summary: the kAudit summary on SQLite, served from counters
 * kept with the events instead of a pass over them.
 *
 * event_counts holds, per tenant and per minute, hour and day of the
 * events' timestamps, how many events there are and how many succeeded;
 * event_names, per tenant, span and bucket, how many events name each
 * database and each user. Every insert path of the engine adds its
 * events' counts in the transaction that stores them (sq_counts_add);
 * triggers on events take deleted and rewritten events off again
 * (store_sqlite.c), so a retention job or a cascade that deletes rows
 * keeps them exact without knowing about them.
 *
 * A summary over [start, end] is then the whole days, hours and minutes
 * inside the range, read from the counters, plus the partial minutes at
 * its two ends, read from events through events_tenant_ts: its cost
 * follows the length of the range and the distinct names in it, not the
 * number of events stored. The newest event is a max() on the same index.
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"

static const int64_t spans[] = { 60000, 3600000, 86400000 };
#define NSPANS (sizeof(spans) / sizeof(spans[0]))

/* Beyond any timestamp RFC 3339 can carry, and a whole number of days. */
#define FAR_MS (86400000LL * 46000000LL)

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* ---------------------------------------------------------------- ingest */

/* One event's share of a counter: kind -1 counts, 0 a database, 1 a user. */
struct share {
	const char *tenant;
	int64_t span, bucket;
	int kind;
	const char *name;
	int ok;
};

static int share_cmp(const void *x, const void *y)
{
	const struct share *a = x, *b = y;
	int c = strcmp(a->tenant, b->tenant);

	if (c != 0)
		return c;
	if (a->span != b->span)
		return a->span < b->span ? -1 : 1;
	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	return a->kind < 0 ? 0 : strcmp(a->name, b->name);
}

static const char *user_of(const struct event_in *e)
{
	const char *u = json_string_value(json_object_get(e->details, "user"));

	return u != NULL && u[0] != '\0' ? u : NULL;
}

/* Upserts one run of equal shares (n of them, ok succeeded). */
static int add_run(sqlite3_stmt *counts, sqlite3_stmt *names, const struct share *s, int64_t n,
		   int64_t ok)
{
	sqlite3_stmt *st = s->kind < 0 ? counts : names;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->span);
	sqlite3_bind_int64(st, 3, s->bucket);
	sqlite3_bind_int64(st, 4, n);
	if (s->kind < 0) {
		sqlite3_bind_int64(st, 5, ok);
	} else {
		sqlite3_bind_int(st, 5, s->kind);
		sqlite3_bind_text(st, 6, s->name, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sq_counts_add(sqlite3 *db, const struct event_in *ev, const bool *stored, size_t n)
{
	struct share *sh = malloc((n * NSPANS * 3 + 1) * sizeof(*sh));
	sqlite3_stmt *counts = NULL, *names = NULL;
	size_t k = 0;
	int rc;

	if (sh == NULL)
		return SQLITE_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *user = user_of(&ev[i]);

		if (!stored[i])
			continue;
		for (size_t j = 0; j < NSPANS; j++) {
			struct share base = { ev[i].tenant, spans[j],
					      floor_div(ev[i].timestamp_ms, spans[j]), -1, NULL,
					      ev[i].succeeded ? 1 : 0 };

			sh[k++] = base;
			if (ev[i].database_name[0] != '\0') {
				sh[k] = base;
				sh[k].kind = 0;
				sh[k++].name = ev[i].database_name;
			}
			if (user != NULL) {
				sh[k] = base;
				sh[k].kind = 1;
				sh[k++].name = user;
			}
		}
	}
	qsort(sh, k, sizeof(*sh), share_cmp);
	rc = sqlite3_prepare_v2(db, "INSERT INTO event_counts (tenant, span, bucket, n, ok)"
				" VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, span, bucket) DO UPDATE"
				" SET n = n + excluded.n, ok = ok + excluded.ok", -1, &counts, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO event_names (tenant, span, bucket, n, kind,"
					" name) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, span,"
					" bucket, kind, name) DO UPDATE SET n = n + excluded.n",
					-1, &names, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < k;) {
		size_t j = i;
		int64_t ok = 0;

		for (; j < k && share_cmp(&sh[i], &sh[j]) == 0; j++)
			ok += sh[j].ok;
		rc = add_run(counts, names, &sh[i], (int64_t)(j - i), ok);
		i = j;
	}
	sqlite3_finalize(counts);
	sqlite3_finalize(names);
	free(sh);
	return rc;
}

/* ---------------------------------------------------------------- the summary */

/* A part of the range: whole buckets lo..hi of a span, or (span 0) ms [lo, hi) of events. */
struct piece {
	int64_t span, lo, hi;
};

/* Splits [lo, hi) into at most 2 edges and 2 * NSPANS - 1 runs of whole buckets. */
static size_t split_range(int64_t lo, int64_t hi, struct piece *out)
{
	int64_t a = -floor_div(-lo, spans[0]) * spans[0], b = floor_div(hi, spans[0]) * spans[0];
	size_t n = 0;

	if (a >= b) {
		out[n++] = (struct piece){ 0, lo, hi };
		return n;
	}
	if (lo < a)
		out[n++] = (struct piece){ 0, lo, a };
	if (b < hi)
		out[n++] = (struct piece){ 0, b, hi };
	for (size_t j = 0; j < NSPANS; j++) {
		int64_t s = spans[j], up = j + 1 < NSPANS ? spans[j + 1] : 0;
		int64_t a2 = up ? -floor_div(-a, up) * up : 0, b2 = up ? floor_div(b, up) * up : 0;

		if (up == 0 || a2 >= b2) {
			out[n++] = (struct piece){ s, a / s, b / s - 1 };
			break;
		}
		if (a < a2)
			out[n++] = (struct piece){ s, a / s, a2 / s - 1 };
		if (b2 < b)
			out[n++] = (struct piece){ s, b2 / s, b / s - 1 };
		a = a2;
		b = b2;
	}
	return n;
}

/* Appends the pieces of one tenant as SELECTs joined by UNION ALL (kind -1:
 * counts) or UNION (kind 0, 1: the distinct database or user names). */
static void add_pieces(struct sq_query *q, const char *tenant, const struct piece *pc, size_t n,
		       int kind)
{
	static const char *const ev_col[] = { "database_name", "user" };

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sq_add(q, kind < 0 ? " UNION ALL " : " UNION ");
		if (pc[i].span == 0 && kind < 0)
			sq_add(q, "SELECT count(*) AS n, coalesce(sum(ok), 0) AS ok FROM events");
		else if (pc[i].span == 0)
			sq_add(q, "SELECT %s FROM events", ev_col[kind]);
		else if (kind < 0)
			sq_add(q, "SELECT n, ok FROM event_counts");
		else
			sq_add(q, "SELECT name FROM event_names");
		sq_add(q, " WHERE tenant = ?");
		sq_str(q, tenant);
		if (pc[i].span == 0) {
			sq_add(q, " AND ts >= ? AND ts < ?");
		} else {
			sq_add(q, " AND span = ? AND bucket BETWEEN ? AND ?");
			sq_int(q, pc[i].span);
		}
		sq_int(q, pc[i].lo);
		sq_int(q, pc[i].hi);
		if (kind >= 0 && pc[i].span == 0) {
			sq_add(q, " AND %s IS NOT NULL", ev_col[kind]);
		} else if (kind >= 0) {
			sq_add(q, " AND kind = ? AND n > 0");
			sq_int(q, kind);
		}
	}
}

/* Adds the distinct names of kind in the pieces of tenant to set. */
static enum api_err collect_names(struct store *s, const char *tenant, const struct piece *pc,
				  size_t n, int kind, json_t *set)
{
	struct sq_query q;
	sqlite3_stmt *st;
	enum api_err e;
	int rc;

	sq_init(&q, " ");
	add_pieces(&q, tenant, pc, n, kind);
	if ((e = sq_prepare(s, &q, &st, "event summary")) != API_OK)
		return e;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set(set, (const char *)sqlite3_column_text(st, 0), json_true());
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? API_OK : sq_error(s, rc, "event summary");
}

/* Counts, distinct names and the newest timestamp of one tenant's pieces. */
static enum api_err summarise_tenant(struct store *s, const char *tenant, const struct piece *pc,
				     size_t n, int64_t lo, int64_t hi, struct event_summary *out,
				     json_t *sets[2])
{
	struct sq_query q;
	sqlite3_stmt *st;
	enum api_err e;
	int rc;

	sq_init(&q, "SELECT coalesce(sum(n), 0), coalesce(sum(ok), 0) FROM (");
	add_pieces(&q, tenant, pc, n, -1);
	sq_add(&q, ")");
	if ((e = sq_prepare(s, &q, &st, "event summary")) != API_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->total += sqlite3_column_int64(st, 0);
		out->succeeded += sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sq_error(s, rc, "event summary");
	for (int kind = 0; kind < 2; kind++)
		if ((e = collect_names(s, tenant, pc, n, kind, sets[kind])) != API_OK)
			return e;
	sq_init(&q, "SELECT max(ts) FROM events WHERE tenant = ? AND ts >= ? AND ts < ?");
	sq_str(&q, tenant);
	sq_int(&q, lo);
	sq_int(&q, hi);
	if ((e = sq_prepare(s, &q, &st, "event summary")) != API_OK)
		return e;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		int64_t ts = sqlite3_column_int64(st, 0);

		if (!out->has_latest || ts > out->latest_ms)
			out->latest_ms = ts;
		out->has_latest = true;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? API_OK : sq_error(s, rc, "event summary");
}

/* Whether f asks for more than a time range (then the counters cannot answer). */
static bool filters_more_than_time(const struct event_filter *f)
{
	uint32_t mask = f->types & EVENT_TYPES_ALL;

	return (mask != 0 && mask != EVENT_TYPES_ALL) || f->severity || f->database_id ||
	       f->database_name || f->user || f->source_ip || f->action_id ||
	       (f->search && f->search[0]);
}

enum api_err store_sqlite_events_summary(struct store *s, const struct principal *p,
					 const struct event_filter *f, struct event_summary *out)
{
	struct piece pc[2 * NSPANS + 2];
	int64_t lo = f->has_start ? f->start_ms : -FAR_MS;
	int64_t hi = f->has_end ? f->end_ms + 1 : FAR_MS;
	json_t *sets[2] = { json_object(), json_object() };
	struct sq_query q;
	size_t n;
	enum api_err e = API_OK;

	memset(out, 0, sizeof(*out));
	if (filters_more_than_time(f)) {
		json_decref(sets[0]);
		json_decref(sets[1]);
		return sq_summary_scan(s, p, f, out);
	}
	if (sets[0] == NULL || sets[1] == NULL)
		e = API_ERR_INTERNAL;
	n = lo < hi ? split_range(lo, hi, pc) : 0;
	/* one snapshot: the counts, the names and the newest event agree */
	sq_init(&q, "BEGIN");
	if (e == API_OK && n > 0)
		e = sq_exec(s, &q, NULL, "event summary");
	for (size_t t = 0; e == API_OK && n > 0 && t < p->ntenants; t++)
		e = summarise_tenant(s, p->tenants[t], pc, n, lo, hi, out, sets);
	if (n > 0)
		sq_rollback(s);
	if (e == API_OK) {
		out->failed = out->total - out->succeeded;
		out->distinct_databases = (int64_t)json_object_size(sets[0]);
		out->distinct_principals = (int64_t)json_object_size(sets[1]);
	} else {
		memset(out, 0, sizeof(*out));
	}
	json_decref(sets[0]);
	json_decref(sets[1]);
	return e;
}
