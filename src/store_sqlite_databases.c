/*
 * store_sqlite_databases: registered databases on SQLite (see
 * store_databases.h), and the counts of their detail view. A record is its
 * JSON document (doc, dates as RFC 3339 strings, as the API returns them)
 * plus the columns its queries filter and sort on, written together from
 * the document. Every change is a read-modify-write of the document inside
 * one BEGIN IMMEDIATE, so concurrent updates never lose each other's fields.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

/* Sets key of o to the RFC 3339 form of ms. */
static void set_date(json_t *o, const char *key, int64_t ms)
{
	char ts[TIME_RFC3339_LEN];

	time_format_rfc3339(ms, ts);
	json_object_set_new(o, key, json_string(ts));
}

/* Writes doc (a whole record) to its row: insert or update of id. */
static enum api_err row_write(struct store *s, json_t *doc, int64_t created_ms, bool insert,
			      const char *what)
{
	json_t *hb_at = json_object_get(json_object_get(doc, "heartbeat"), "received_at");
	char *text = sq_json_text(doc);
	int64_t hb = 0;
	struct sq_query q;
	enum api_err e;

	if (text == NULL)
		return API_ERR_INTERNAL;
	if (insert)
		sq_init(&q, "INSERT INTO databases (status, type, host, port, dbname, hb_at, doc, id,"
			" tenant, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	else
		sq_init(&q, "UPDATE databases SET status = ?, type = ?, host = ?, port = ?, dbname = ?,"
			" hb_at = ?, doc = ? WHERE id = ?");
	sq_str(&q, json_string_value(json_object_get(doc, "status")));
	sq_str(&q, json_string_value(json_object_get(doc, "type")));
	sq_str(&q, json_string_value(json_object_get(doc, "host")));
	sq_int(&q, json_integer_value(json_object_get(doc, "port")));
	sq_str(&q, json_string_value(json_object_get(doc, "database")));
	if (json_is_string(hb_at))
		time_parse_rfc3339(json_string_value(hb_at), &hb);
	sq_int(&q, hb);
	sq_str(&q, text);
	sq_str(&q, json_string_value(json_object_get(doc, "_id")));
	if (insert) {
		sq_str(&q, json_string_value(json_object_get(doc, "tenant_id")));
		sq_int(&q, created_ms);
	}
	e = sq_exec(s, &q, NULL, what);
	free(text);
	return e;
}

/* " AND tenant IN (...)" for p, or " AND tenant = ?" for tenant; nothing when both are NULL. */
static void owner_filter(struct sq_query *q, const struct principal *p, const char *tenant)
{
	if (p != NULL)
		sq_tenants(q, "tenant", p);
	if (tenant != NULL) {
		sq_add(q, " AND tenant = ?");
		sq_str(q, tenant);
	}
}

/*
 * The read-modify-write of record id (of p's tenants, or of tenant): fn
 * changes the document (API_ERR_NOT_FOUND from it: leave it as it is).
 * *out (when not NULL) receives the record after the change.
 */
static enum api_err modify(struct store *s, const struct principal *p, const char *tenant,
			   const char *id, enum api_err (*fn)(json_t *doc, void *arg), void *arg,
			   const char *what, json_t **out)
{
	struct sq_query q;
	json_t *doc = NULL;
	enum api_err e;

	if (out != NULL)
		*out = NULL;
	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM databases WHERE id = ?");
	sq_str(&q, id);
	owner_filter(&q, p, tenant);
	e = sq_doc(s, &q, &doc, what);
	if (e == API_OK)
		e = fn(doc, arg);
	if (e == API_OK)
		e = row_write(s, doc, 0, false, what);
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	if (e == API_OK && out != NULL)
		*out = json_incref(doc);
	json_decref(doc);
	return e;
}

enum api_err store_sqlite_database_insert(struct store *s, const char *id, const char *tenant,
					  json_t *set, json_t *secrets, int64_t now_ms,
					  json_t **out)
{
	json_t *doc = json_deep_copy(set);
	enum api_err e = API_ERR_INTERNAL;

	*out = NULL;
	if (doc == NULL)
		return e;
	json_object_set_new(doc, "_id", json_string(id));
	json_object_set_new(doc, "tenant_id", json_string(tenant));
	json_object_set(doc, "secrets", secrets);
	json_object_set_new(doc, "status", json_string("pending"));
	json_object_set_new(doc, "audit_status", json_string("initializing"));
	set_date(doc, "created_at", now_ms);
	set_date(doc, "updated_at", now_ms);
	if ((e = sq_begin(s)) == API_OK) {
		e = row_write(s, doc, now_ms, true, "database insert");
		if (e == API_OK)
			e = sq_commit(s);
		else
			sq_rollback(s);
	}
	if (e == API_OK)
		*out = json_incref(doc);
	json_decref(doc);
	return e;
}

enum api_err store_sqlite_database_get(struct store *s, const struct principal *p, const char *id,
				       json_t **out)
{
	struct sq_query q;

	sq_init(&q, "SELECT doc FROM databases WHERE id = ?");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	return sq_doc(s, &q, out, "database lookup");
}

enum api_err store_sqlite_database_name(struct store *s, const struct principal *p,
					const char *db_id, char *out, size_t outlen)
{
	json_t *rec = NULL;
	enum api_err e = store_sqlite_database_get(s, p, db_id, &rec);
	const char *name = json_string_value(json_object_get(rec, "name"));

	out[0] = '\0';
	if (name != NULL)
		snprintf(out, outlen, "%s", name);
	json_decref(rec);
	return e == API_ERR_NOT_FOUND ? API_OK : e;
}

/* The WHERE of a list (after "WHERE 1"). */
static void list_filter(struct sq_query *q, const struct principal *p,
			const struct store_database_filter *f)
{
	size_t i;
	json_t *t;

	sq_tenants(q, "tenant", p);
	if (f->status != NULL) {
		sq_add(q, " AND status = ?");
		sq_str(q, f->status);
	}
	if (f->type != NULL) {
		sq_add(q, " AND type = ?");
		sq_str(q, f->type);
	}
	if (f->tags != NULL && json_array_size(f->tags) > 0) {
		sq_add(q, " AND EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value IN (");
		json_array_foreach(f->tags, i, t) {
			sq_add(q, i ? ", ?" : "?");
			sq_str(q, json_string_value(t));
		}
		sq_add(q, "))");
	}
}

enum api_err store_sqlite_database_list(struct store *s, const struct principal *p,
					const struct store_database_filter *f, json_t **items,
					int64_t *total)
{
	struct sq_query q;
	enum api_err e;

	*items = NULL;
	sq_init(&q, "SELECT count(*) FROM databases WHERE 1");
	list_filter(&q, p, f);
	if ((e = sq_int64(s, &q, total, "database count")) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM databases WHERE 1");
	list_filter(&q, p, f);
	sq_add(&q, " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?");
	sq_int(&q, f->limit);
	sq_int(&q, f->skip);
	return sq_docs(s, &q, items, "database list");
}

struct update_arg {
	json_t *set, *secrets_set, *secrets_unset;
	int64_t now_ms;
};

static enum api_err apply_update(json_t *doc, void *arg)
{
	struct update_arg *u = arg;
	const char *k;
	json_t *v, *secrets = json_object_get(doc, "secrets");
	size_t i;

	json_object_foreach(u->set, k, v) {
		json_t *cur = json_object_get(doc, k);

		if (strcmp(k, "audit_options") == 0 && json_is_object(cur))
			json_object_update(cur, v);
		else
			json_object_set(doc, k, v);
	}
	if (!json_is_object(secrets)) {
		secrets = json_object();
		json_object_set_new(doc, "secrets", secrets);
	}
	if (u->secrets_set != NULL)
		json_object_update(secrets, u->secrets_set);
	json_array_foreach(u->secrets_unset, i, v)
		if (json_is_string(v))
			json_object_del(secrets, json_string_value(v));
	set_date(doc, "updated_at", u->now_ms);
	return API_OK;
}

enum api_err store_sqlite_database_update(struct store *s, const struct principal *p,
					  const char *id, json_t *set, json_t *secrets_set,
					  json_t *secrets_unset, int64_t now_ms, json_t **out)
{
	struct update_arg u = { set, secrets_set, secrets_unset, now_ms };

	return modify(s, p, NULL, id, apply_update, &u, "database update", out);
}

enum api_err store_sqlite_database_check_unique(struct store *s, const char *tenant,
						const char *host, int64_t port,
						const char *database, const char *id)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	sq_init(&q, "SELECT count(*) FROM databases WHERE tenant = ? AND host = ? AND port = ?"
		" AND dbname = ? AND id <> ?");
	sq_str(&q, tenant);
	sq_str(&q, host);
	sq_int(&q, port);
	sq_str(&q, database);
	sq_str(&q, id);
	e = sq_int64(s, &q, &n, "database uniqueness check");
	return e == API_OK && n > 0 ? API_ERR_CONFLICT : e;
}

enum api_err store_sqlite_database_delete(struct store *s, const struct principal *p,
					  const char *id)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	sq_init(&q, "DELETE FROM databases WHERE id = ?");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	e = sq_exec(s, &q, &n, "database delete");
	return e == API_OK && n == 0 ? API_ERR_NOT_FOUND : e;
}

enum api_err store_sqlite_policies_disable_for_database(struct store *s, const char *tenant,
							const char *id, int64_t now_ms,
							int64_t *n)
{
	char ts[TIME_RFC3339_LEN];
	struct sq_query q;

	time_format_rfc3339(now_ms, ts);
	sq_init(&q, "UPDATE policies SET enabled = 0, doc = json_set(doc, '$.enabled',"
		" json('false'), '$.updated_at', ?) WHERE tenant = ? AND enabled = 1"
		" AND database_ids = json_array(?)");
	sq_str(&q, ts);
	sq_str(&q, tenant);
	sq_str(&q, id);
	*n = 0;
	return sq_exec(s, &q, n, "policy disable");
}

struct test_arg {
	const char *status;
	json_t *result;
	int64_t now_ms;
};

static enum api_err apply_test(json_t *doc, void *arg)
{
	struct test_arg *t = arg;
	json_t *lt = json_deep_copy(t->result);

	if (lt == NULL)
		return API_ERR_INTERNAL;
	set_date(lt, "at", t->now_ms);
	json_object_set_new(doc, "last_test", lt);
	json_object_set_new(doc, "status", json_string(t->status));
	return API_OK;
}

enum api_err store_sqlite_database_set_test(struct store *s, const char *tenant, const char *id,
					    const char *status, json_t *result, int64_t now_ms)
{
	struct test_arg t = { status, result, now_ms };

	return modify(s, NULL, tenant, id, apply_test, &t, "database test result", NULL);
}

struct hb_arg {
	json_t *hb;
	int64_t now_ms;
};

static enum api_err apply_heartbeat(json_t *doc, void *arg)
{
	struct hb_arg *h = arg;
	json_t *hb = json_deep_copy(h->hb);
	const char *audit = json_string_value(json_object_get(doc, "audit_status"));

	if (hb == NULL)
		return API_ERR_INTERNAL;
	set_date(hb, "received_at", h->now_ms);
	json_object_set_new(doc, "heartbeat", hb);
	json_object_set_new(doc, "status", json_string(dbrec_heartbeat_status(h->hb)));
	/* First heartbeat: the collector is capturing (a pause stays a pause). */
	if (audit == NULL || (strcmp(audit, "paused") != 0 && strcmp(audit, "active") != 0))
		json_object_set_new(doc, "audit_status", json_string("active"));
	return API_OK;
}

enum api_err store_sqlite_database_heartbeat(struct store *s, const struct principal *p,
					     const char *id, json_t *hb, int64_t now_ms,
					     json_t **out)
{
	struct hb_arg h = { hb, now_ms };

	return modify(s, p, NULL, id, apply_heartbeat, &h, "database heartbeat", out);
}

/* count(*) of q into *n. */
static enum api_err count(struct store *s, struct sq_query *q, int64_t *n, const char *what)
{
	return sq_int64(s, q, n, what);
}

enum api_err store_sqlite_database_stats(struct store *s, const struct principal *p,
					 const char *id, int64_t now_ms, struct dbrec_stats *out)
{
	struct sq_query q;
	enum api_err e;

	memset(out, 0, sizeof(*out));
	sq_init(&q, "SELECT count(*) FROM events WHERE database_id = ? AND ts >= ?");
	sq_str(&q, id);
	sq_int(&q, dbrec_day_start_ms(now_ms));
	sq_tenants(&q, "tenant", p);
	if ((e = count(s, &q, &out->events_today, "event count")) != API_OK)
		return e;
	sq_init(&q, "SELECT count(*) FROM events WHERE database_id = ? AND ts >= ?");
	sq_str(&q, id);
	sq_int(&q, dbrec_week_start_ms(now_ms));
	sq_tenants(&q, "tenant", p);
	if ((e = count(s, &q, &out->events_this_week, "event count")) != API_OK)
		return e;
	sq_init(&q, "SELECT count(*) FROM alerts WHERE database_id = ?"
		" AND status IN ('open', 'acknowledged')");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	if ((e = count(s, &q, &out->alerts_pending, "alert count")) != API_OK)
		return e;
	sq_init(&q, "SELECT count(*) FROM policies WHERE enabled = 1 AND (database_ids IS NULL"
		" OR json_array_length(database_ids) = 0"
		" OR EXISTS (SELECT 1 FROM json_each(database_ids) WHERE value = ?))");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	return count(s, &q, &out->policies_active, "policy count");
}

enum api_err store_sqlite_database_last_event(struct store *s, const struct principal *p,
					      const char *id, json_t **out)
{
	struct sq_query q;
	enum api_err e;

	sq_init(&q, "SELECT json_object('timestamp', json_extract(doc, '$.timestamp'), 'type', type,"
		" 'severity', severity, 'user', user) FROM events WHERE database_id = ?");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	sq_add(&q, " ORDER BY ts DESC LIMIT 1");
	e = sq_doc(s, &q, out, "last event lookup");
	return e == API_ERR_NOT_FOUND ? API_OK : e;
}

enum api_err store_sqlite_database_last_event_times(struct store *s, const struct principal *p,
						    json_t *ids, json_t **out)
{
	char *list = sq_json_text(ids);
	struct sq_query q;
	sqlite3_stmt *st = NULL;
	json_t *res = json_object();
	enum api_err e = API_ERR_INTERNAL;
	int rc;

	/* One statement for the page: per id, the newest timestamp is the last
	 * entry of events_tenant_db_ts (a seek, not a scan of its events). */
	*out = NULL;
	if (list == NULL || res == NULL)
		goto out;
	sq_init(&q, "SELECT j.value, (SELECT max(ts) FROM events WHERE database_id = j.value");
	sq_tenants(&q, "tenant", p);
	sq_add(&q, ") FROM json_each(?) AS j");
	sq_str(&q, list);
	if ((e = sq_prepare(s, &q, &st, "last event times")) != API_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if (id != NULL && sqlite3_column_type(st, 1) != SQLITE_NULL)
			set_date(res, id, sqlite3_column_int64(st, 1));
	}
	if (rc != SQLITE_DONE)
		e = sq_error(s, rc, "last event times");
	if (e == API_OK) {
		*out = res;
		res = NULL;
	}
out:
	sqlite3_finalize(st);
	json_decref(res);
	free(list);
	return e;
}

enum api_err store_sqlite_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n)
{
	struct sq_query q;

	*n = 0;
	sq_init(&q, "UPDATE databases SET status = 'disconnected',"
		" doc = json_set(doc, '$.status', 'disconnected')"
		" WHERE status = 'connected' AND hb_at < ?");
	sq_int(&q, before_ms);
	return sq_exec(s, &q, n, "stale databases");
}

enum api_err store_sqlite_database_foreach(struct store *s,
					   enum api_err (*cb)(json_t *rec, void *arg), void *arg)
{
	struct sq_query q;
	json_t *all = NULL, *rec;
	size_t i;
	enum api_err e;

	/* Read first, then call back: cb may write (key rotation). */
	sq_init(&q, "SELECT doc FROM databases ORDER BY id");
	if ((e = sq_docs(s, &q, &all, "database walk")) != API_OK)
		return e;
	json_array_foreach(all, i, rec) {
		if ((e = cb(rec, arg)) != API_OK)
			break;
	}
	json_decref(all);
	return e;
}

struct secrets_arg {
	json_t *old, *secrets;
};

static enum api_err apply_secrets(json_t *doc, void *arg)
{
	struct secrets_arg *a = arg;
	json_t *cur = json_object_get(doc, "secrets"), *v;
	const char *k;

	json_object_foreach(a->old, k, v) {
		json_t *ct = json_object_get(json_object_get(cur, k), "ct");

		if (!json_is_string(ct) || !json_equal(ct, json_object_get(v, "ct")))
			return API_ERR_NOT_FOUND;
	}
	json_object_set(doc, "secrets", a->secrets);
	return API_OK;
}

enum api_err store_sqlite_database_replace_secrets(struct store *s, const char *id, json_t *old,
						   json_t *secrets)
{
	struct secrets_arg a = { old, secrets };

	return modify(s, NULL, NULL, id, apply_secrets, &a, "secret re-encryption", NULL);
}

enum api_err store_sqlite_database_import(struct store *s, json_t *rec)
{
	const char *created = json_string_value(json_object_get(rec, "created_at"));
	int64_t created_ms = 0;
	enum api_err e;

	if (created != NULL)
		time_parse_rfc3339(created, &created_ms);
	if ((e = sq_begin(s)) != API_OK)
		return e;
	e = row_write(s, rec, created_ms, true, "database import");
	if (e == API_ERR_CONFLICT) {
		json_t *have = NULL;
		struct sq_query q;

		/* the same record from an earlier run: keep it */
		sq_init(&q, "SELECT doc FROM databases WHERE id = ?");
		sq_str(&q, json_string_value(json_object_get(rec, "_id")));
		e = sq_doc(s, &q, &have, "database import");
		if (e == API_ERR_NOT_FOUND)
			e = API_ERR_CONFLICT;
		json_decref(have);
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	return e;
}
