/*
 * api_kaudit: the kAudit-compatible surface, /api/v1/public/audit-activity
 * (list, one record, summary), over the same events as /v1/events, in the
 * kAudit envelope {"data", "meta"} and field names (mapping: CONTRACT §5,
 * docs/events.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_handlers.h"
#include "event.h"
#include "store.h"
#include "util/timeutil.h"

#define KAUDIT_API_VERSION "1.0"

/* kAudit sortBy names (case-insensitive) and the stored field they sort on. */
static const struct {
	const char *name;
	const char *field;
} sort_fields[] = {
	{ "eventTime", "timestamp" },
	{ "timestamp", "timestamp" },
	{ "recordId", "_id" },
	{ "tenantId", "tenant_id" },
	{ "actionId", "aid" },
	{ "succeeded", "ok" },
	{ "serverInstanceName", "details.server_instance_name" },
	{ "databaseName", "database_name" },
	{ "schemaName", "details.schema_name" },
	{ "objectName", "details.object_name" },
	{ "serverPrincipalName", "details.user" },
	{ "databasePrincipalName", "details.database_principal_name" },
	{ "applicationName", "details.client_application" },
	{ "hostName", "details.host_name" },
	{ "clientIp", "details.source_ip" },
	{ "sourceType", "details.source_type" },
	{ "statementPreview", "details.query" },
	{ "statement", "details.query" },
};

static const char *sort_field(const char *name)
{
	for (size_t i = 0; i < sizeof(sort_fields) / sizeof(sort_fields[0]); i++)
		if (strcasecmp(sort_fields[i].name, name) == 0)
			return sort_fields[i].field;
	return NULL;
}

static void meta_now(char *ts)
{
	time_format_rfc3339(time_now_ms() / 1000 * 1000, ts);
}

/* The kAudit service message for a store outage, as the seed words it. */
static enum api_err kaudit_store_error(struct ctx *c, enum api_err rc)
{
	if (rc == API_ERR_UNAVAILABLE)
		return api_fail(c, rc, "The audit activity query service is temporarily offline.");
	return rc;
}

static void set_str(json_t *out, const char *key, json_t *v)
{
	json_object_set_new(out, key, json_is_string(v) ? json_incref(v) : json_null());
}

/* The kAudit record of a stored event; detail adds the whole statement. */
static json_t *kaudit_record(json_t *doc, bool detail)
{
	json_t *out = json_object(), *d = json_object_get(doc, "details"), *v;
	const char *type = json_string_value(json_object_get(doc, "type"));
	const char *q = json_string_value(json_object_get(d, "query"));
	char aid[EVENT_ACTION_ID_MAX + 1];

	if (out == NULL)
		return NULL;
	if (!json_is_object(d))
		d = NULL;
	set_str(out, "recordId", json_object_get(doc, "_id"));
	set_str(out, "tenantId", json_object_get(doc, "tenant_id"));
	set_str(out, "eventTime", json_object_get(doc, "timestamp"));
	v = json_object_get(doc, "aid");
	if (json_is_string(v)) {
		json_object_set(out, "actionId", v);
	} else {
		event_action_id(type ? type : "", d, aid);
		json_object_set_new(out, "actionId", aid[0] ? json_string(aid) : json_null());
	}
	v = json_object_get(doc, "ok");
	json_object_set_new(out, "succeeded", json_boolean(json_is_boolean(v) ? json_is_true(v) :
							   event_succeeded(type ? type : "", d)));
	set_str(out, "serverInstanceName", json_object_get(d, "server_instance_name"));
	set_str(out, "databaseName", json_object_get(doc, "database_name"));
	set_str(out, "schemaName", json_object_get(d, "schema_name"));
	set_str(out, "objectName", json_object_get(d, "object_name"));
	set_str(out, "serverPrincipalName", json_object_get(d, "user"));
	set_str(out, "databasePrincipalName", json_object_get(d, "database_principal_name"));
	set_str(out, "applicationName", json_object_get(d, "client_application"));
	set_str(out, "hostName", json_object_get(d, "host_name"));
	set_str(out, "clientIp", json_object_get(d, "source_ip"));
	if (detail) {
		json_object_set_new(out, "statement", q ? json_string(q) : json_null());
		return out;
	}
	v = json_object_get(d, "source_type");
	json_object_set_new(out, "sourceType", json_is_string(v) ? json_incref(v) : json_string("SqlAudit"));
	json_object_set_new(out, "statementPreview",
			    q ? json_stringn(q, event_utf8_prefix(q, EVENT_PREVIEW_CHARS)) : json_null());
	return out;
}

static enum api_err query_name(struct ctx *c, const char *name, const char **out)
{
	enum api_err rc = api_query_str(c, name, EVENT_NAME_MAX, out);

	if (rc == API_OK && *out != NULL && (*out)[0] == '\0')
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s must not be empty", name);
	return rc;
}

static enum api_err parse_time_range(struct ctx *c, struct event_filter *f)
{
	enum api_err rc;

	if ((rc = api_query_time(c, "startTime", false, &f->has_start, &f->start_ms)) != API_OK ||
	    (rc = api_query_time(c, "endTime", true, &f->has_end, &f->end_ms)) != API_OK)
		return rc;
	if (f->has_start && f->has_end && f->start_ms > f->end_ms)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "startTime is after endTime");
	return API_OK;
}

static const char *const list_params[] = {
	"page", "pageSize", "search", "sortBy", "sortDirection", "actionId", "databaseName",
	"principalName", "startTime", "endTime", "cursor", NULL,
};

/* Filters carried over into the Link of the next cursor page. */
static const char *const link_params[] = {
	"search", "actionId", "databaseName", "principalName", "startTime", "endTime", NULL,
};

static enum api_err parse_list(struct ctx *c, struct event_filter *f, char *aid,
			       const char **field, bool *asc)
{
	const char *sort = NULL, *dir = NULL, *action = NULL;
	enum api_err rc;

	memset(f, 0, sizeof(*f));
	if ((rc = api_query_str(c, "search", EVENT_SEARCH_MAX, &f->search)) != API_OK ||
	    (rc = api_query_str(c, "sortBy", 64, &sort)) != API_OK ||
	    (rc = api_query_str(c, "sortDirection", 8, &dir)) != API_OK ||
	    (rc = api_query_str(c, "actionId", 16, &action)) != API_OK ||
	    (rc = query_name(c, "databaseName", &f->database_name)) != API_OK ||
	    (rc = query_name(c, "principalName", &f->user)) != API_OK ||
	    (rc = parse_time_range(c, f)) != API_OK)
		return rc;
	*field = sort_field(sort ? sort : "eventTime");
	if (*field == NULL)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "sortBy must be a field of the "
				"response: eventTime, actionId, succeeded, databaseName, "
				"serverPrincipalName, clientIp, ...");
	if (dir == NULL || strcasecmp(dir, "desc") == 0)
		*asc = false;
	else if (strcasecmp(dir, "asc") == 0)
		*asc = true;
	else
		return api_fail(c, API_ERR_INVALID_PARAMETER, "sortDirection must be asc or desc");
	if (action != NULL) {
		if (!event_action_id_valid(action))
			return api_fail(c, API_ERR_INVALID_PARAMETER,
					"actionId must be 1 to 8 letters or digits, such as SL");
		for (size_t i = 0; action[i]; i++)
			aid[i] = (char)((action[i] >= 'a' && action[i] <= 'z') ? action[i] - 32 : action[i]);
		aid[strlen(action)] = '\0';
		f->action_id = aid;
	}
	if (f->search != NULL && f->search[0] == '\0')
		f->search = NULL;
	return API_OK;
}

static json_t *kaudit_records(json_t *docs)
{
	json_t *data = json_array(), *d;
	size_t i;

	json_array_foreach(docs, i, d) {
		json_t *r = kaudit_record(d, false);

		if (data == NULL || r == NULL || json_array_append_new(data, r) != 0) {
			json_decref(r);
			json_decref(data);
			return NULL;
		}
	}
	return data;
}

/* Cursor mode: commit order, oldest first, exactly once (docs/events.md). */
static enum api_err kaudit_cursor(struct ctx *c)
{
	static const char *const sorting[] = { "page", "sortBy", "sortDirection" };
	struct event_filter f;
	char aid[EVENT_ACTION_ID_MAX + 1], ts[TIME_RFC3339_LEN], next[EVENT_CURSOR_LEN];
	const char *field = NULL;
	bool asc = false, more = false;
	int64_t size, next_seq = 0;
	json_t *docs = NULL, *data;
	enum api_err rc;

	for (size_t i = 0; i < sizeof(sorting) / sizeof(sorting[0]); i++)
		if (http_query_get(c->req, sorting[i]) != NULL)
			return api_fail(c, API_ERR_INVALID_PARAMETER, "%s cannot be used with cursor: "
					"a cursor pages in commit order", sorting[i]);
	if ((rc = api_query_int(c, "pageSize", 1, 100, 20, &size)) != API_OK ||
	    (rc = parse_list(c, &f, aid, &field, &asc)) != API_OK)
		return rc;
	rc = api_events_cursor_page(c, &f, http_query_get(c->req, "cursor"), size, &docs,
				    &next_seq, &more);
	if (rc != API_OK)
		return kaudit_store_error(c, rc);
	data = kaudit_records(docs);
	json_decref(docs);
	if (data == NULL)
		return API_ERR_INTERNAL;
	event_cursor_encode(next_seq, next);
	meta_now(ts);
	http_response_json(c->res, 200,
			   json_pack("{s:o,s:{s:I,s:s,s:b,s:s,s:s}}", "data", data, "meta",
				     "pageSize", (json_int_t)size, "nextCursor", next, "hasMore", more,
				     "timestamp", ts, "apiVersion", KAUDIT_API_VERSION));
	api_link_next(c, "/api/v1/public/audit-activity", "cursor", next, "pageSize", size,
		      link_params);
	return API_OK;
}

enum api_err api_kaudit_list(struct ctx *c)
{
	struct event_filter f;
	char aid[EVENT_ACTION_ID_MAX + 1], ts[TIME_RFC3339_LEN];
	const char *field = NULL;
	bool asc = false;
	int64_t page, size, total = 0, pages;
	json_t *docs = NULL, *data;
	enum api_err rc;

	if ((rc = api_query_only(c, list_params)) != API_OK)
		return rc;
	if (http_query_get(c->req, "cursor") != NULL)
		return kaudit_cursor(c);
	if ((rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "pageSize", 1, 100, 20, &size)) != API_OK ||
	    (rc = parse_list(c, &f, aid, &field, &asc)) != API_OK)
		return rc;
	rc = store_events_list(c->app->store, c->who, &f, field, asc, (page - 1) * size, size,
			       &docs, &total);
	if (rc != API_OK)
		return kaudit_store_error(c, rc);
	data = kaudit_records(docs);
	json_decref(docs);
	if (data == NULL)
		return API_ERR_INTERNAL;
	pages = (total + size - 1) / size;
	meta_now(ts);
	http_response_json(c->res, 200,
			   json_pack("{s:o,s:{s:I,s:I,s:I,s:I,s:b,s:b,s:s,s:s}}", "data", data, "meta",
				     "totalCount", (json_int_t)total, "page", (json_int_t)page,
				     "pageSize", (json_int_t)size, "totalPages", (json_int_t)pages,
				     "hasPreviousPage", page > 1, "hasNextPage", page < pages,
				     "timestamp", ts, "apiVersion", KAUDIT_API_VERSION));
	return API_OK;
}

enum api_err api_kaudit_get(struct ctx *c)
{
	const char *id = c->params[0];
	char ts[TIME_RFC3339_LEN];
	json_t *doc = NULL, *rec;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK)
		return rc;
	if (!event_id_valid(id))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"Invalid record ID format: expected evt_ followed by 24 hex digits");
	rc = store_events_get(c->app->store, c->who, id, &doc);
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "Record not found within your authorized tenants");
	if (rc != API_OK)
		return kaudit_store_error(c, rc);
	rec = kaudit_record(doc, true);
	json_decref(doc);
	if (rec == NULL)
		return API_ERR_INTERNAL;
	meta_now(ts);
	http_response_json(c->res, 200, json_pack("{s:o,s:{s:s,s:s}}", "data", rec, "meta",
						  "timestamp", ts, "apiVersion", KAUDIT_API_VERSION));
	return API_OK;
}

enum api_err api_kaudit_summary(struct ctx *c)
{
	static const char *const params[] = { "startTime", "endTime", NULL };
	struct event_filter f;
	struct event_summary sum;
	char ts[TIME_RFC3339_LEN], latest[TIME_RFC3339_LEN];
	enum api_err rc;

	memset(&f, 0, sizeof(f));
	if ((rc = api_query_only(c, params)) != API_OK || (rc = parse_time_range(c, &f)) != API_OK)
		return rc;
	if (!f.has_end) {
		f.has_end = true;
		f.end_ms = time_now_ms();
		if (f.has_start && f.start_ms > f.end_ms)
			return api_fail(c, API_ERR_INVALID_PARAMETER, "startTime is in the future");
	}
	rc = store_events_summary(c->app->store, c->who, &f, &sum);
	if (rc != API_OK)
		return kaudit_store_error(c, rc);
	if (sum.has_latest)
		time_format_rfc3339(sum.latest_ms, latest);
	meta_now(ts);
	http_response_json(c->res, 200,
			   json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:o},s:{s:s,s:s}}", "data",
				     "totalCount", (json_int_t)sum.total,
				     "successfulCount", (json_int_t)sum.succeeded,
				     "failedCount", (json_int_t)sum.failed,
				     "distinctDatabases", (json_int_t)sum.distinct_databases,
				     "distinctPrincipals", (json_int_t)sum.distinct_principals,
				     "latestEventTime", sum.has_latest ? json_string(latest) : json_null(),
				     "meta", "timestamp", ts, "apiVersion", KAUDIT_API_VERSION));
	return API_OK;
}
