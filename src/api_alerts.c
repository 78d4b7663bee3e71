/*
 * api_alerts: /v1/alerts (CONTRACT §6). Alerts are opened at ingest
 * (policy_eval.c); people list them and move them along
 * open -> acknowledged -> resolved (or open -> resolved), with who and when
 * recorded. Any other transition is 409, and so is a transition that lost
 * a race with another one.
 */
#include <ctype.h>
#include <string.h>

#include "api_handlers.h"
#include "event.h"
#include "principal.h"
#include "store.h"
#include "store_policies.h"
#include "util/log.h"
#include "util/timeutil.h"

#define ALERT_NOTE_MAX 2000

static bool status_ok(const char *s)
{
	return strcmp(s, "open") == 0 || strcmp(s, "acknowledged") == 0 ||
	       strcmp(s, "resolved") == 0;
}

static bool alert_id_ok(const char *id)
{
	if (strlen(id) != EVENT_ID_LEN || strncmp(id, "alt_", 4) != 0)
		return false;
	for (id += 4; *id; id++)
		if (!isdigit((unsigned char)*id) && !(*id >= 'a' && *id <= 'f'))
			return false;
	return true;
}

/* The public form of a stored alert (a new object). */
static json_t *alert_view(json_t *doc)
{
	json_t *out = json_deep_copy(doc);

	if (out == NULL)
		return NULL;
	json_object_set(out, "id", json_object_get(doc, "_id"));
	json_object_del(out, "_id");
	json_object_del(out, "open_key");
	return out;
}

enum api_err api_alerts_list(struct ctx *c)
{
	static const char *const allowed[] = { "status", "severity", "database_id", "policy_id",
		"page", "per_page", NULL };
	struct store_alert_filter f;
	int64_t page, per_page, total = 0;
	json_t *items = NULL, *data, *d;
	size_t i;
	enum api_err rc;

	memset(&f, 0, sizeof(f));
	if ((rc = api_query_only(c, allowed)) != API_OK ||
	    (rc = api_query_str(c, "status", 16, &f.status)) != API_OK ||
	    (rc = api_query_str(c, "severity", 16, &f.severity)) != API_OK ||
	    (rc = api_query_str(c, "database_id", EVENT_DATABASE_ID_MAX, &f.database_id)) != API_OK ||
	    (rc = api_query_str(c, "policy_id", 64, &f.policy_id)) != API_OK ||
	    (rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "per_page", 1, 100, 20, &per_page)) != API_OK)
		return rc;
	if (f.status != NULL && !status_ok(f.status))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"status must be open, acknowledged or resolved");
	if (f.severity != NULL && !event_severity_valid(f.severity))
		return api_fail(c, API_ERR_INVALID_PARAMETER, "severity must be info, warning or critical");
	if ((f.database_id != NULL && f.database_id[0] == '\0') ||
	    (f.policy_id != NULL && f.policy_id[0] == '\0'))
		return api_fail(c, API_ERR_INVALID_PARAMETER, "database_id and policy_id must not be empty");
	f.skip = (page - 1) * per_page;
	f.limit = per_page;
	if ((rc = store_alert_list(c->app->store, c->who, &f, &items, &total)) != API_OK)
		return rc;
	data = json_array();
	json_array_foreach(items, i, d)
		json_array_append_new(data, alert_view(d));
	json_decref(items);
	api_respond_page(c, data, total, page, per_page);
	return API_OK;
}

static enum api_err find(struct ctx *c, json_t **doc)
{
	enum api_err rc;

	*doc = NULL;
	if (!alert_id_ok(c->params[0]))
		return api_fail(c, API_ERR_NOT_FOUND, "no such alert");
	rc = store_alert_get(c->app->store, c->who, c->params[0], doc);
	return rc == API_ERR_NOT_FOUND ? api_fail(c, rc, "no such alert") : rc;
}

enum api_err api_alerts_get(struct ctx *c)
{
	json_t *doc = NULL;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = find(c, &doc)) != API_OK)
		return rc;
	http_response_json(c->res, 200, alert_view(doc));
	json_decref(doc);
	return API_OK;
}

/* Whether from -> to is a transition of the lifecycle. */
static bool transition_ok(const char *from, const char *to)
{
	if (strcmp(from, "open") == 0)
		return strcmp(to, "acknowledged") == 0 || strcmp(to, "resolved") == 0;
	return strcmp(from, "acknowledged") == 0 && strcmp(to, "resolved") == 0;
}

/* Checks body {status, note?}; *to and *note point into it. */
static enum api_err patch_body(struct ctx *c, json_t *body, const char **to, json_t **note)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v)
		if (strcmp(k, "status") != 0 && strcmp(k, "note") != 0)
			return api_fail(c, API_ERR_INVALID_PARAMETER, "unknown field \"%.40s\"", k);
	*to = json_string_value(json_object_get(body, "status"));
	if (*to == NULL || !status_ok(*to))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"status is required: acknowledged or resolved");
	*note = json_object_get(body, "note");
	if (*note != NULL && !json_is_null(*note) &&
	    (!json_is_string(*note) || json_string_length(*note) > ALERT_NOTE_MAX))
		return api_fail(c, API_ERR_INVALID_PARAMETER, "note must be a string of at most %d bytes",
				ALERT_NOTE_MAX);
	return API_OK;
}

enum api_err api_alerts_patch(struct ctx *c)
{
	char at[TIME_RFC3339_LEN];
	const char *to = NULL, *from, *tenant;
	json_t *body = NULL, *doc = NULL, *set = NULL, *note = NULL, *out = NULL;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = find(c, &doc)) != API_OK)
		return rc;
	if ((rc = api_body_object(c, &body)) != API_OK || (rc = patch_body(c, body, &to, &note)) != API_OK)
		goto out;
	from = json_string_value(json_object_get(doc, "status")) ?: "";
	tenant = json_string_value(json_object_get(doc, "tenant_id")) ?: "";
	if (!transition_ok(from, to)) {
		rc = api_fail(c, API_ERR_CONFLICT, "an alert that is %s cannot become %s", from, to);
		goto out;
	}
	time_format_rfc3339(time_now_ms(), at);
	set = json_pack("{s:s,s:s}", "status", to, "updated_at", at);
	if (set == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	json_object_set_new(set, strcmp(to, "resolved") == 0 ? "resolved_at" : "acknowledged_at",
			    json_string(at));
	json_object_set_new(set, strcmp(to, "resolved") == 0 ? "resolved_by" : "acknowledged_by",
			    json_string(c->who->id));
	if (note != NULL)
		json_object_set(set, "note", note);
	rc = store_alert_update(c->app->store, tenant, c->params[0], from, set,
				strcmp(to, "resolved") == 0, &out);
	if (rc == API_ERR_CONFLICT)
		rc = api_fail(c, rc, "the alert changed meanwhile; read it again");
	else if (rc == API_ERR_NOT_FOUND)
		rc = api_fail(c, rc, "no such alert");
	if (rc == API_OK) {
		log_msg(LOG_INFO, "alert %s: %s -> %s by %s", c->params[0], from, to, c->who->id);
		http_response_json(c->res, 200, alert_view(out));
	}
out:
	json_decref(out);
	json_decref(set);
	json_decref(body);
	json_decref(doc);
	return rc;
}
