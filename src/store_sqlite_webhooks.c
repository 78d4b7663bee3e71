/*
 * store_sqlite_webhooks: webhooks and deliveries on SQLite (see
 * store_webhooks.h). A row is the JSON document plus the columns its
 * queries filter and sort on; the sender's state of a webhook (position,
 * lease) lives in columns only, so an API update of the document never
 * overwrites it, and reads merge it into the document.
 */
#include "store_sqlite.h"
#include "store_webhooks.h"

#include <stdlib.h>
#include <string.h>

#define WEBHOOK_DOC "json_set(doc, '$.position', position, '$.lease_owner', lease_owner," \
	" '$.lease_until_ms', lease_until)"

static const char *str_of(json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

enum api_err store_sqlite_webhook_insert(struct store *s, json_t *doc)
{
	char *text = sq_json_text(doc);
	struct sq_query q;
	enum api_err e;
	int64_t created = 0;

	if (text == NULL)
		return API_ERR_INTERNAL;
	created = json_integer_value(json_object_get(doc, "created_ms"));
	sq_init(&q, "INSERT INTO webhooks (id, tenant, created, status, position, lease_owner,"
		" lease_until, doc) VALUES (?, ?, ?, ?, ?, '', 0, ?)");
	sq_str(&q, str_of(doc, "_id"));
	sq_str(&q, str_of(doc, "tenant_id"));
	sq_int(&q, created);
	sq_str(&q, str_of(doc, "status"));
	sq_int(&q, json_integer_value(json_object_get(doc, "position")));
	sq_str(&q, text);
	e = sq_exec(s, &q, NULL, "webhook insert");
	free(text);
	return e;
}

enum api_err store_sqlite_webhook_get(struct store *s, const struct principal *p, const char *id,
				      json_t **out)
{
	struct sq_query q;

	*out = NULL;
	sq_init(&q, "SELECT " WEBHOOK_DOC " FROM webhooks WHERE id = ?");
	sq_str(&q, id);
	if (p != NULL)
		sq_tenants(&q, "tenant", p);
	return sq_doc(s, &q, out, "webhook get");
}

enum api_err store_sqlite_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				       int64_t limit, json_t **items, int64_t *total)
{
	struct sq_query q;
	enum api_err e;

	*items = NULL;
	sq_init(&q, "SELECT count(*) FROM webhooks WHERE 1");
	sq_tenants(&q, "tenant", p);
	if ((e = sq_int64(s, &q, total, "webhook count")) != API_OK)
		return e;
	sq_init(&q, "SELECT " WEBHOOK_DOC " FROM webhooks WHERE 1");
	sq_tenants(&q, "tenant", p);
	sq_add(&q, " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?");
	sq_int(&q, limit);
	sq_int(&q, skip);
	return sq_docs(s, &q, items, "webhook list");
}

enum api_err store_sqlite_webhook_update(struct store *s, const struct principal *p, const char *id,
					 json_t *set, json_t **out)
{
	struct sq_query q;
	json_t *doc = NULL;
	char *text = NULL;
	enum api_err e;

	if (out != NULL)
		*out = NULL;
	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM webhooks WHERE id = ?");
	sq_str(&q, id);
	if (p != NULL)
		sq_tenants(&q, "tenant", p);
	e = sq_doc(s, &q, &doc, "webhook get");
	if (e == API_OK) {
		json_object_update(doc, set);
		text = sq_json_text(doc);
		e = text ? API_OK : API_ERR_INTERNAL;
	}
	if (e == API_OK) {
		sq_init(&q, "UPDATE webhooks SET status = ?, doc = ? WHERE id = ?");
		sq_str(&q, str_of(doc, "status"));
		sq_str(&q, text);
		sq_str(&q, id);
		e = sq_exec(s, &q, NULL, "webhook update");
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	free(text);
	json_decref(doc);
	if (e == API_OK && out != NULL)
		e = store_sqlite_webhook_get(s, NULL, id, out);
	return e;
}

enum api_err store_sqlite_webhook_delete(struct store *s, const struct principal *p, const char *id)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "DELETE FROM webhooks WHERE id = ?");
	sq_str(&q, id);
	if (p != NULL)
		sq_tenants(&q, "tenant", p);
	e = sq_exec(s, &q, &n, "webhook delete");
	if (e == API_OK && n == 0)
		e = API_ERR_NOT_FOUND;
	if (e == API_OK) {
		sq_init(&q, "DELETE FROM webhook_deliveries WHERE webhook_id = ?");
		sq_str(&q, id);
		e = sq_exec(s, &q, NULL, "webhook deliveries delete");
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	return e;
}

enum api_err store_sqlite_webhook_active(struct store *s, json_t **items)
{
	struct sq_query q;

	sq_init(&q, "SELECT " WEBHOOK_DOC " FROM webhooks WHERE status = 'active' ORDER BY id");
	return sq_docs(s, &q, items, "webhook active");
}

enum api_err store_sqlite_webhook_lease(struct store *s, const char *id, const char *owner,
					int64_t now_ms, int64_t until_ms)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	sq_init(&q, "UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE id = ?"
		" AND (lease_until < ? OR lease_owner = ?)");
	sq_str(&q, owner);
	sq_int(&q, until_ms);
	sq_str(&q, id);
	sq_int(&q, now_ms);
	sq_str(&q, owner);
	e = sq_exec(s, &q, &n, "webhook lease");
	return e == API_OK && n == 0 ? API_ERR_CONFLICT : e;
}

enum api_err store_sqlite_webhook_advance(struct store *s, const char *id, const char *owner,
					  int64_t position)
{
	struct sq_query q;
	int64_t n = 0;
	enum api_err e;

	sq_init(&q, "UPDATE webhooks SET position = ? WHERE id = ? AND lease_owner = ?");
	sq_int(&q, position);
	sq_str(&q, id);
	sq_str(&q, owner);
	e = sq_exec(s, &q, &n, "webhook advance");
	return e == API_OK && n == 0 ? API_ERR_CONFLICT : e;
}

/* Writes delivery doc to its row (insert, or update of its id). */
static enum api_err delivery_write(struct store *s, json_t *doc, bool insert)
{
	char *text = sq_json_text(doc);
	struct sq_query q;
	enum api_err e;

	if (text == NULL)
		return API_ERR_INTERNAL;
	if (insert)
		sq_init(&q, "INSERT INTO webhook_deliveries (status, doc, id, webhook_id, tenant, seq,"
			" created) VALUES (?, ?, ?, ?, ?, ?, ?)");
	else
		sq_init(&q, "UPDATE webhook_deliveries SET status = ?, doc = ? WHERE id = ?");
	sq_str(&q, str_of(doc, "status"));
	sq_str(&q, text);
	sq_str(&q, str_of(doc, "_id"));
	if (insert) {
		sq_str(&q, str_of(doc, "webhook_id"));
		sq_str(&q, str_of(doc, "tenant_id"));
		sq_int(&q, json_integer_value(json_object_get(doc, "seq")));
		sq_int(&q, json_integer_value(json_object_get(doc, "created_ms")));
	}
	e = sq_exec(s, &q, NULL, insert ? "delivery insert" : "delivery update");
	free(text);
	return e;
}

enum api_err store_sqlite_delivery_insert(struct store *s, json_t *doc)
{
	return delivery_write(s, doc, true);
}

enum api_err store_sqlite_delivery_get(struct store *s, const struct principal *p,
				       const char *webhook_id, const char *id, json_t **out)
{
	struct sq_query q;

	*out = NULL;
	sq_init(&q, "SELECT doc FROM webhook_deliveries WHERE id = ? AND webhook_id = ?");
	sq_str(&q, id);
	sq_str(&q, webhook_id);
	if (p != NULL)
		sq_tenants(&q, "tenant", p);
	return sq_doc(s, &q, out, "delivery get");
}

enum api_err store_sqlite_delivery_list(struct store *s, const struct principal *p,
					const char *webhook_id, const char *status, int64_t skip,
					int64_t limit, json_t **items, int64_t *total)
{
	struct sq_query q;
	enum api_err e;

	*items = NULL;
	for (int pass = 0; pass < 2; pass++) {
		sq_init(&q, pass == 0 ? "SELECT count(*)" : "SELECT doc");
		sq_add(&q, " FROM webhook_deliveries WHERE webhook_id = ?");
		sq_str(&q, webhook_id);
		if (status != NULL) {
			sq_add(&q, " AND status = ?");
			sq_str(&q, status);
		}
		sq_tenants(&q, "tenant", p);
		if (pass == 0) {
			if ((e = sq_int64(s, &q, total, "delivery count")) != API_OK)
				return e;
			continue;
		}
		sq_add(&q, " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?");
		sq_int(&q, limit);
		sq_int(&q, skip);
	}
	return sq_docs(s, &q, items, "delivery list");
}

enum api_err store_sqlite_delivery_next(struct store *s, const char *webhook_id, json_t **out)
{
	struct sq_query q;
	enum api_err e;

	sq_init(&q, "SELECT doc FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending'"
		" ORDER BY seq, created LIMIT 1");
	sq_str(&q, webhook_id);
	e = sq_doc(s, &q, out, "delivery next");
	if (e == API_ERR_NOT_FOUND) {
		*out = NULL;
		e = API_OK;
	}
	return e;
}

enum api_err store_sqlite_delivery_update(struct store *s, const char *id, json_t *set)
{
	struct sq_query q;
	json_t *doc = NULL;
	enum api_err e;

	if ((e = sq_begin(s)) != API_OK)
		return e;
	sq_init(&q, "SELECT doc FROM webhook_deliveries WHERE id = ?");
	sq_str(&q, id);
	e = sq_doc(s, &q, &doc, "delivery get");
	if (e == API_OK) {
		json_object_update(doc, set);
		e = delivery_write(s, doc, false);
	}
	if (e == API_OK)
		e = sq_commit(s);
	else
		sq_rollback(s);
	json_decref(doc);
	return e;
}
