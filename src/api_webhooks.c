/*
 * api_webhooks: the webhooks API (CONTRACT §6, Webhooks; docs/webhooks.md).
 * Handlers validate, seal the secret (never returned, never logged) and
 * store; the background worker's sender (webhook_send.c) delivers.
 * POST /v1/webhooks/{id}/test sends a webhook.test payload from here, now.
 */
#include "api.h"
#include "api_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "principal.h"
#include "store.h"
#include "store_webhooks.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"
#include "webhook.h"
#include "webhook_send.h"

static const char *const no_params[] = { NULL };

static void set_date(json_t *o, const char *key, int64_t ms)
{
	char ts[TIME_RFC3339_LEN];

	time_format_rfc3339(ms, ts);
	json_object_set_new(o, key, json_string(ts));
}

/* The webhook as the API shows it: never its secret or the sender's state. */
static json_t *view(const json_t *doc)
{
	return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(doc, "_id"),
			 "url", json_object_get(doc, "url"), "events", json_object_get(doc, "events"),
			 "status", json_object_get(doc, "status"),
			 "created_at", json_object_get(doc, "created_at"),
			 "updated_at", json_object_get(doc, "updated_at"));
}

static json_t *or_null(const json_t *v)
{
	return v ? json_incref((json_t *)v) : json_null();
}

/* A delivery as the API shows it (CONTRACT §6). */
static json_t *delivery_view(const json_t *d)
{
	static const char *const keys[] = { "event_id", "event_type", "status", "attempts",
		"last_status_code", "last_error", "next_attempt_at", "delivered_at", "created_at" };
	json_t *o = json_pack("{s:O,s:O}", "id", json_object_get(d, "_id"),
			      "webhook_id", json_object_get(d, "webhook_id"));

	for (size_t i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_set_new(o, keys[i], or_null(json_object_get(d, keys[i])));
	return o;
}

static enum api_err not_found(struct ctx *c, enum api_err rc, const char *what)
{
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "no such %s", what);
	return rc;
}

/* The webhook id of the path (anything malformed is simply not found). */
static enum api_err path_id(struct ctx *c, const char *const *allowed, const char **id)
{
	enum api_err rc = api_query_only(c, allowed);

	if (rc != API_OK)
		return rc;
	*id = c->nparams > 0 ? c->params[0] : NULL;
	if (!webhook_id_valid(*id))
		return api_fail(c, API_ERR_NOT_FOUND, "no such webhook");
	return API_OK;
}

/*
 * Checks body's fields (all required on create; on PATCH at least one):
 * url, events, secret, status (PATCH only), tenant_id (create only). The
 * checked fields go to set, except the secret.
 */
static enum api_err parse_body(struct ctx *c, json_t *body, bool create, json_t *set,
			       const char **secret, const char **tenant)
{
	const char *k;
	json_t *v;

	*secret = NULL;
	*tenant = NULL;
	json_object_foreach(body, k, v) {
		if (strcmp(k, "url") == 0) {
			if (!json_is_string(v))
				return api_fail(c, API_ERR_INVALID_PARAMETER, "url must be a string");
			if (webhook_url_check(json_string_value(v), c->msg, sizeof(c->msg)) != 0)
				return API_ERR_INVALID_PARAMETER;
		} else if (strcmp(k, "events") == 0) {
			if (webhook_events_check(v, c->msg, sizeof(c->msg)) != 0)
				return API_ERR_INVALID_PARAMETER;
		} else if (strcmp(k, "secret") == 0) {
			if (webhook_secret_check(v, c->msg, sizeof(c->msg)) != 0)
				return API_ERR_INVALID_PARAMETER;
			*secret = json_string_value(v);
			continue;
		} else if (strcmp(k, "status") == 0 && !create) {
			const char *s = json_string_value(v);

			if (s == NULL || (strcmp(s, "active") != 0 && strcmp(s, "paused") != 0))
				return api_fail(c, API_ERR_INVALID_PARAMETER,
						"status must be active or paused");
		} else if (strcmp(k, "tenant_id") == 0 && create) {
			if (!json_is_string(v))
				return api_fail(c, API_ERR_INVALID_PARAMETER, "tenant_id must be a string");
			*tenant = json_string_value(v);
			continue;
		} else {
			return api_fail(c, API_ERR_INVALID_PARAMETER, "unknown field %.64s", k);
		}
		json_object_set(set, k, v);
	}
	if (create && (json_object_get(set, "url") == NULL || json_object_get(set, "events") == NULL ||
		       *secret == NULL))
		return api_fail(c, API_ERR_INVALID_PARAMETER, "url, events and secret are required");
	if (!create && json_object_size(set) == 0 && *secret == NULL)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"give at least one of url, events, secret, status");
	return API_OK;
}

static enum api_err seal(struct ctx *c, const char *id, const char *secret, json_t *set)
{
	json_t *sealed;

	if (crypto_keyring_current_kid(c->app->keys) == NULL)
		return api_fail(c, API_ERR_UNAVAILABLE, "secret encryption is not configured on this "
				"server (crypto_key_file); webhook secrets cannot be stored");
	sealed = webhook_secret_seal(c->app->keys, id, secret);
	if (sealed == NULL) {
		log_msg(LOG_ERROR, "webhook %s: sealing its secret failed", id);
		return API_ERR_INTERNAL;
	}
	json_object_set_new(set, "secret", sealed);
	return API_OK;
}

enum api_err api_webhooks_create(struct ctx *c)
{
	json_t *body = NULL, *doc = json_object(), *rec = NULL;
	const char *secret, *req_tenant, *tenant;
	char id[WEBHOOK_ID_LEN + 1] = "wh_";
	int64_t now = time_now_ms(), w = 0;
	enum api_err rc;

	if (doc == NULL)
		return API_ERR_INTERNAL;
	if ((rc = api_query_only(c, no_params)) != API_OK ||
	    (rc = api_body_object(c, &body)) != API_OK ||
	    (rc = parse_body(c, body, true, doc, &secret, &req_tenant)) != API_OK ||
	    (rc = api_write_tenant(c, req_tenant, &tenant)) != API_OK)
		goto out;
	if (str_random_hex(id + 3, 8) != 0) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	if ((rc = seal(c, id, secret, doc)) != API_OK)
		goto out;
	/* Deliveries start with the events committed from now on. */
	rc = store_events_watermark(c->app->store, c->app->cfg->cursor_gap_lease_ms, now, 2000, &w);
	if (rc != API_OK)
		goto out;
	json_object_set_new(doc, "_id", json_string(id));
	json_object_set_new(doc, "tenant_id", json_string(tenant));
	json_object_set_new(doc, "status", json_string("active"));
	json_object_set_new(doc, "position", json_integer(w));
	json_object_set_new(doc, "created_ms", json_integer(now));
	set_date(doc, "created_at", now);
	set_date(doc, "updated_at", now);
	if ((rc = store_webhook_insert(c->app->store, doc)) != API_OK)
		goto out;
	log_msg(LOG_INFO, "webhook %s created by %s", id, c->who->id);
	http_response_json(c->res, 201, view(doc));
	http_response_header(c->res, "Location", "/v1/webhooks/%s", id);
out:
	json_decref(rec);
	json_decref(doc);
	json_decref(body);
	return rc;
}

enum api_err api_webhooks_list(struct ctx *c)
{
	static const char *const allowed[] = { "page", "per_page", NULL };
	int64_t page, per_page, total = 0;
	json_t *items = NULL, *data, *rec;
	enum api_err rc;
	size_t i;

	if ((rc = api_query_only(c, allowed)) != API_OK ||
	    (rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "per_page", 1, 100, 20, &per_page)) != API_OK)
		return rc;
	rc = store_webhook_list(c->app->store, c->who, (page - 1) * per_page, per_page, &items, &total);
	if (rc != API_OK)
		return rc;
	data = json_array();
	json_array_foreach(items, i, rec)
		json_array_append_new(data, view(rec));
	json_decref(items);
	api_respond_page(c, data, total, page, per_page);
	return API_OK;
}

enum api_err api_webhooks_get(struct ctx *c)
{
	const char *id;
	json_t *rec = NULL;
	enum api_err rc;

	if ((rc = path_id(c, no_params, &id)) != API_OK)
		return rc;
	if ((rc = store_webhook_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc, "webhook");
	http_response_json(c->res, 200, view(rec));
	json_decref(rec);
	return API_OK;
}

enum api_err api_webhooks_patch(struct ctx *c)
{
	json_t *body = NULL, *set = json_object(), *rec = NULL;
	const char *id, *secret, *tenant;
	enum api_err rc;

	if (set == NULL)
		return API_ERR_INTERNAL;
	if ((rc = path_id(c, no_params, &id)) != API_OK ||
	    (rc = api_body_object(c, &body)) != API_OK ||
	    (rc = parse_body(c, body, false, set, &secret, &tenant)) != API_OK)
		goto out;
	if (secret != NULL && (rc = seal(c, id, secret, set)) != API_OK)
		goto out;
	set_date(set, "updated_at", time_now_ms());
	rc = store_webhook_update(c->app->store, c->who, id, set, &rec);
	if (rc != API_OK) {
		rc = not_found(c, rc, "webhook");
		goto out;
	}
	log_msg(LOG_INFO, "webhook %s updated by %s", id, c->who->id);
	http_response_json(c->res, 200, view(rec));
out:
	json_decref(rec);
	json_decref(set);
	json_decref(body);
	return rc;
}

enum api_err api_webhooks_delete(struct ctx *c)
{
	const char *id;
	enum api_err rc;

	if ((rc = path_id(c, no_params, &id)) != API_OK)
		return rc;
	if ((rc = store_webhook_delete(c->app->store, c->who, id)) != API_OK)
		return not_found(c, rc, "webhook");
	log_msg(LOG_INFO, "webhook %s deleted by %s", id, c->who->id);
	http_response_json(c->res, 204, NULL);
	return API_OK;
}

enum api_err api_webhooks_deliveries(struct ctx *c)
{
	static const char *const allowed[] = { "status", "page", "per_page", NULL };
	const char *id, *status = NULL;
	int64_t page, per_page, total = 0;
	json_t *rec = NULL, *items = NULL, *data, *d;
	enum api_err rc;
	size_t i;

	if ((rc = path_id(c, allowed, &id)) != API_OK ||
	    (rc = api_query_str(c, "status", 16, &status)) != API_OK ||
	    (rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "per_page", 1, 100, 20, &per_page)) != API_OK)
		return rc;
	if (status != NULL && strcmp(status, "pending") != 0 && strcmp(status, "delivered") != 0 &&
	    strcmp(status, "failed") != 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"status must be one of pending, delivered, failed");
	if ((rc = store_webhook_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc, "webhook");
	json_decref(rec);
	rc = store_delivery_list(c->app->store, c->who, id, status, (page - 1) * per_page, per_page,
				 &items, &total);
	if (rc != API_OK)
		return rc;
	data = json_array();
	json_array_foreach(items, i, d)
		json_array_append_new(data, delivery_view(d));
	json_decref(items);
	api_respond_page(c, data, total, page, per_page);
	return API_OK;
}

enum api_err api_webhooks_test(struct ctx *c)
{
	const char *id;
	json_t *rec = NULL, *d = NULL, *payload = NULL;
	char did[WEBHOOK_DELIVERY_ID_LEN + 1] = "whd_", evt[29] = "evt_", err[256] = "";
	char *secret = NULL, *body = NULL;
	int64_t now = time_now_ms();
	enum api_err rc;
	long status;
	bool ok;

	if ((rc = path_id(c, no_params, &id)) != API_OK)
		return rc;
	if ((rc = store_webhook_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc, "webhook");
	if (str_random_hex(did + 4, 12) != 0 || str_random_hex(evt + 4, 12) != 0 ||
	    (secret = webhook_secret_open(c->app->keys, rec)) == NULL) {
		rc = api_fail(c, API_ERR_INTERNAL, "the webhook's secret cannot be opened");
		goto out;
	}
	payload = json_pack("{s:s,s:s,s:o,s:{s:O}}", "id", evt, "type", "webhook.test",
			    "created", json_null(), "data", "webhook_id", json_object_get(rec, "_id"));
	set_date(payload, "created", now);
	body = json_dumps(payload, JSON_COMPACT);
	if (body == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	status = webhook_send_now(json_string_value(json_object_get(rec, "url")), secret, did, body,
				  c->app->cfg->webhook_allow_private, err, sizeof(err));
	ok = status >= 200 && status <= 299;
	d = json_pack("{s:s,s:O,s:O,s:n,s:s,s:I,s:s,s:s,s:i,s:I,s:I}", "_id", did,
		      "webhook_id", json_object_get(rec, "_id"),
		      "tenant_id", json_object_get(rec, "tenant_id"), "event_id",
		      "event_type", "webhook.test", "seq", (json_int_t)0, "body", body,
		      "status", ok ? "delivered" : "failed", "attempts", 1,
		      "created_ms", (json_int_t)now, "window_ms", (json_int_t)now);
	if (d == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	json_object_set_new(d, "last_status_code", status ? json_integer(status) : json_null());
	json_object_set_new(d, "last_error", ok ? json_null() : json_string(err));
	json_object_set_new(d, "next_attempt_at", json_null());
	set_date(d, "created_at", now);
	if (ok)
		set_date(d, "delivered_at", now);
	else
		json_object_set_new(d, "delivered_at", json_null());
	if ((rc = store_delivery_insert(c->app->store, d)) != API_OK)
		goto out;
	http_response_json(c->res, 200, delivery_view(d));
out:
	crypto_secret_free(secret);
	free(body);
	json_decref(payload);
	json_decref(d);
	json_decref(rec);
	return rc;
}

enum api_err api_webhooks_retry(struct ctx *c)
{
	const char *id, *did = c->nparams > 1 ? c->params[1] : NULL;
	json_t *rec = NULL, *d = NULL, *set = NULL;
	int64_t now = time_now_ms();
	enum api_err rc;

	if ((rc = path_id(c, no_params, &id)) != API_OK)
		return rc;
	if (!webhook_delivery_id_valid(did))
		return api_fail(c, API_ERR_NOT_FOUND, "no such delivery");
	if ((rc = store_webhook_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc, "webhook");
	json_decref(rec);
	if ((rc = store_delivery_get(c->app->store, c->who, id, did, &d)) != API_OK)
		return not_found(c, rc, "delivery");
	if (json_integer_value(json_object_get(d, "seq")) == 0) {
		rc = api_fail(c, API_ERR_CONFLICT, "a test delivery is not retried: send another test");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(d, "status")), "failed") != 0) {
		rc = api_fail(c, API_ERR_CONFLICT, "only a failed delivery can be retried");
		goto out;
	}
	set = json_pack("{s:s,s:I,s:I}", "status", "pending", "next_ms", (json_int_t)now,
			"window_ms", (json_int_t)now);
	set_date(set, "next_attempt_at", now);
	if ((rc = store_delivery_update(c->app->store, did, set)) != API_OK)
		goto out;
	json_object_update(d, set);
	log_msg(LOG_INFO, "webhook %s: delivery %s queued again by %s", id, did, c->who->id);
	http_response_json(c->res, 202, delivery_view(d));
out:
	json_decref(set);
	json_decref(d);
	return rc;
}
