/*
 * store_sqlite_policies: policies and alerts on SQLite (store_policies.h).
 * A policy row's id is "<tenant>/<policy id>"; an alert row carries its
 * open_key under a unique index, so the writer that finds no open alert of
 * a key and inserts one is alone (BEGIN IMMEDIATE serialises writers), and
 * resolving an alert releases the key by setting it to the alert's id.
 */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "principal.h"

static void policy_key(const char *tenant, const char *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", tenant, id);
}

enum api_err store_sqlite_policy_put(struct store *s, const char *tenant, json_t *doc,
				     enum store_put_mode mode)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	char *text = sq_json_text(doc), *dbs = sq_json_text(json_object_get(doc, "database_ids"));
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	if (text == NULL || dbs == NULL) {
		free(text);
		free(dbs);
		return API_ERR_INTERNAL;
	}
	policy_key(tenant, json_string_value(json_object_get(doc, "id")) ?: "", key, sizeof(key));
	if (mode == STORE_PUT_REPLACE)
		sq_init(&q, "UPDATE policies SET enabled = ?, database_ids = ?, doc = ?"
			" WHERE id = ? AND tenant = ?");
	else
		sq_init(&q, "INSERT INTO policies (enabled, database_ids, doc, id, tenant)"
			" VALUES (?, ?, ?, ?, ?)%s", mode == STORE_PUT_UPSERT ?
			" ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled,"
			" database_ids = excluded.database_ids, doc = excluded.doc" : "");
	sq_int(&q, json_is_true(json_object_get(doc, "enabled")));
	sq_str(&q, dbs);
	sq_str(&q, text);
	sq_str(&q, key);
	sq_str(&q, tenant);
	e = sq_exec(s, &q, &n, "policy write");
	if (e == API_OK && n == 0)
		e = API_ERR_NOT_FOUND;
	free(text);
	free(dbs);
	return e;
}

enum api_err store_sqlite_policy_get(struct store *s, const char *tenant, const char *id,
				     json_t **doc)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	struct sq_query q;

	policy_key(tenant, id, key, sizeof(key));
	sq_init(&q, "SELECT doc FROM policies WHERE id = ? AND tenant = ?");
	sq_str(&q, key);
	sq_str(&q, tenant);
	return sq_doc(s, &q, doc, "policy lookup");
}

enum api_err store_sqlite_policy_delete(struct store *s, const char *tenant, const char *id)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	policy_key(tenant, id, key, sizeof(key));
	sq_init(&q, "DELETE FROM policies WHERE id = ? AND tenant = ?");
	sq_str(&q, key);
	sq_str(&q, tenant);
	e = sq_exec(s, &q, &n, "policy delete");
	return e == API_OK && n == 0 ? API_ERR_NOT_FOUND : e;
}

enum api_err store_sqlite_policy_list(struct store *s, const char *tenant, json_t **items)
{
	struct sq_query q;

	sq_init(&q, "SELECT doc FROM policies WHERE tenant = ?");
	sq_str(&q, tenant);
	return sq_docs(s, &q, items, "policy list");
}

/* ---------------------------------------------------------------- alerts */

static enum api_err alert_insert(struct store *s, json_t *alert, const char *open_key)
{
	char *text = sq_json_text(alert);
	struct sq_query q;
	enum api_err e;

	if (text == NULL)
		return API_ERR_INTERNAL;
	sq_init(&q, "INSERT INTO alerts (id, tenant, database_id, status, open_key, created, doc)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)");
	sq_str(&q, json_string_value(json_object_get(alert, "_id")));
	sq_str(&q, json_string_value(json_object_get(alert, "tenant_id")));
	sq_str(&q, json_string_value(json_object_get(alert, "database_id")));
	sq_str(&q, json_string_value(json_object_get(alert, "status")));
	sq_str(&q, open_key);
	sq_str(&q, json_string_value(json_object_get(alert, "created_at")));
	sq_str(&q, text);
	e = sq_exec(s, &q, NULL, "alert insert");
	free(text);
	return e;
}

enum api_err store_sqlite_alert_record(struct store *s, json_t *alert, const char *open_key,
				       bool *absorbed)
{
	const char *seen = json_string_value(json_object_get(alert, "last_seen_at"));
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	*absorbed = false;
	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "UPDATE alerts SET doc = json_set(doc, '$.count',"
		" json_extract(doc, '$.count') + 1, '$.last_seen_at', ?, '$.updated_at', ?)"
		" WHERE open_key = ?");
	sq_str(&q, seen);
	sq_str(&q, seen);
	sq_str(&q, open_key);
	e = sq_exec(s, &q, &n, "alert absorb");
	if (e == API_OK && n > 0)
		*absorbed = true;
	else if (e == API_OK)
		e = alert_insert(s, alert, open_key);
	if (e == API_OK)
		return sq_commit(s);
	sq_rollback(s);
	return e;
}

enum api_err store_sqlite_alert_get(struct store *s, const struct principal *p, const char *id,
				    json_t **doc)
{
	struct sq_query q;

	sq_init(&q, "SELECT doc FROM alerts WHERE id = ?");
	sq_str(&q, id);
	sq_tenants(&q, "tenant", p);
	return sq_doc(s, &q, doc, "alert lookup");
}

static void alert_filter(struct sq_query *q, const struct principal *p,
			 const struct store_alert_filter *f)
{
	sq_tenants(q, "tenant", p);
	if (f->status) {
		sq_add(q, " AND status = ?");
		sq_str(q, f->status);
	}
	if (f->database_id) {
		sq_add(q, " AND database_id = ?");
		sq_str(q, f->database_id);
	}
	if (f->severity) {
		sq_add(q, " AND json_extract(doc, '$.severity') = ?");
		sq_str(q, f->severity);
	}
	if (f->policy_id) {
		sq_add(q, " AND json_extract(doc, '$.policy_id') = ?");
		sq_str(q, f->policy_id);
	}
}

enum api_err store_sqlite_alert_list(struct store *s, const struct principal *p,
				     const struct store_alert_filter *f, json_t **items,
				     int64_t *total)
{
	struct sq_query q;
	enum api_err e;

	*items = NULL;
	sq_init(&q, "SELECT count(*) FROM alerts WHERE 1");
	alert_filter(&q, p, f);
	if ((e = sq_int64(s, &q, total, "alert count")) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM alerts WHERE 1");
	alert_filter(&q, p, f);
	sq_add(&q, " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?");
	sq_int(&q, f->limit);
	sq_int(&q, f->skip);
	return sq_docs(s, &q, items, "alert list");
}

enum api_err store_sqlite_alert_update(struct store *s, const char *tenant, const char *id,
				       const char *from_status, json_t *set, bool close,
				       json_t **out)
{
	const char *k;
	json_t *doc = NULL, *v;
	char *text = NULL;
	struct sq_query q;
	enum api_err e;

	*out = NULL;
	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM alerts WHERE id = ? AND tenant = ?");
	sq_str(&q, id);
	sq_str(&q, tenant);
	if ((e = sq_doc(s, &q, &doc, "alert lookup")) != API_OK)
		goto out;
	if (strcmp(json_string_value(json_object_get(doc, "status")) ?: "", from_status) != 0) {
		e = API_ERR_CONFLICT;
		goto out;
	}
	json_object_foreach(set, k, v)
		json_object_set(doc, k, v);
	text = sq_json_text(doc);
	if (text == NULL) {
		e = API_ERR_INTERNAL;
		goto out;
	}
	sq_init(&q, "UPDATE alerts SET status = ?, doc = ?%s WHERE id = ?",
		close ? ", open_key = id" : "");
	sq_str(&q, json_string_value(json_object_get(doc, "status")));
	sq_str(&q, text);
	sq_str(&q, id);
	e = sq_exec(s, &q, NULL, "alert update");
out:
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	if (e == API_OK)
		*out = doc;
	else
		json_decref(doc);
	free(text);
	return e;
}
