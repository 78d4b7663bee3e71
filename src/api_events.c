/*
 * api_events: the /v1 events routes: ingest (POST /v1/events), the list
 * with its filters and page numbers or, with ?cursor=, in commit order for
 * pollers, and one event with its context (GET /v1/events/{id}).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_handlers.h"
#include "audit_apply.h"
#include "principal.h"
#include "config.h"
#include "event.h"
#include "metrics.h"
#include "policy_eval.h"
#include "store.h"
#include "util/str.h"
#include "util/timeutil.h"

#define RELATED_MAX 20
#define POLL_MAX_STEPS 2000

/* ---------------------------------------------------------------- output */

static void copy_field(json_t *out, json_t *doc, const char *from, const char *to, bool null_if_absent)
{
	json_t *v = json_object_get(doc, from);

	if (v != NULL)
		json_object_set(out, to, v);
	else if (null_if_absent)
		json_object_set_new(out, to, json_null());
}

/* The public form of a stored event (the events seed's fields). */
static json_t *event_public(json_t *doc, bool detail)
{
	json_t *out = json_object(), *d;

	if (out == NULL)
		return NULL;
	copy_field(out, doc, "_id", "id", true);
	copy_field(out, doc, "type", "type", true);
	copy_field(out, doc, "severity", "severity", true);
	copy_field(out, doc, "database_id", "database_id", true);
	copy_field(out, doc, "database_name", "database_name", detail);
	copy_field(out, doc, "timestamp", "timestamp", true);
	if (detail)
		copy_field(out, doc, "processed_at", "processed_at", true);
	d = json_object_get(doc, "details");
	json_object_set_new(out, "details", json_is_object(d) ? json_incref(d) : json_object());
	if (detail) {
		copy_field(out, doc, "context", "context", true);
		copy_field(out, doc, "related_events", "related_events", false);
	}
	copy_field(out, doc, "external_id", "external_id", false);
	return out;
}

static json_t *events_public(json_t *docs)
{
	json_t *out = json_array(), *d;
	size_t i;

	json_array_foreach(docs, i, d) {
		json_t *e = event_public(d, false);

		if (out == NULL || e == NULL || json_array_append_new(out, e) != 0) {
			json_decref(e);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* ---------------------------------------------------------------- ingest */

static bool line_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i]))
			return false;
	return true;
}

static enum api_err parse_ndjson(struct ctx *c, json_t *arr)
{
	const char *p = c->req->body, *end = p + c->req->body_len;
	size_t line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_error_t jerr;
		json_t *j;

		line++;
		if (!line_blank(p, n)) {
			if (json_array_size(arr) == EVENT_MAX_BATCH)
				return api_fail(c, API_ERR_INVALID_PARAMETER,
						"a batch holds at most %d events", EVENT_MAX_BATCH);
			j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
			if (j == NULL)
				return api_fail(c, API_ERR_INVALID_PARAMETER,
						"line %zu is not valid JSON (column %d)", line, jerr.column);
			if (json_array_append_new(arr, j) != 0)
				return API_ERR_INTERNAL;
		}
		p += n + (nl ? 1 : 0);
	}
	return API_OK;
}

/* The body's events as a JSON array (new reference in *out). */
static enum api_err parse_body(struct ctx *c, json_t **out)
{
	const char *ct = c->req->content_type;
	json_t *arr = NULL, *obj = NULL, *events;
	enum api_err rc;

	if (ct != NULL && strncasecmp(ct, "application/x-ndjson", 20) == 0) {
		arr = json_array();
		if (arr == NULL)
			return API_ERR_INTERNAL;
		rc = parse_ndjson(c, arr);
		if (rc == API_OK && json_array_size(arr) == 0)
			rc = api_fail(c, API_ERR_INVALID_PARAMETER, "the body holds no events");
		if (rc != API_OK) {
			json_decref(arr);
			return rc;
		}
		*out = arr;
		return API_OK;
	}
	rc = api_body_object(c, &obj);
	if (rc != API_OK)
		return rc;
	events = json_object_get(obj, "events");
	if (events == NULL) {
		arr = json_array();
		if (arr == NULL || json_array_append_new(arr, obj) != 0) {
			json_decref(arr);
			return API_ERR_INTERNAL;
		}
		*out = arr;
		return API_OK;
	}
	if (json_object_size(obj) != 1)
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "a batch object holds only \"events\"");
	else if (!json_is_array(events) || json_array_size(events) == 0)
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "events must be a non-empty array");
	else if (json_array_size(events) > EVENT_MAX_BATCH)
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "a batch holds at most %d events",
			      EVENT_MAX_BATCH);
	if (rc == API_OK)
		*out = json_incref(events);
	json_decref(obj);
	return rc;
}

/* Validates every event; on failure names the first invalid indexes. */
static enum api_err validate_all(struct ctx *c, json_t *arr, struct event_in *ev)
{
	char first[200] = "", msg[200], list[64] = "";
	size_t n = json_array_size(arr), nbad = 0, first_i = 0, llen = 0;
	enum event_parse_result first_r = EVENT_PARSE_OK;

	for (size_t i = 0; i < n; i++) {
		enum event_parse_result r = event_parse(json_array_get(arr, i), c->who, &ev[i],
							msg, sizeof(msg));

		if (r == EVENT_PARSE_INTERNAL)
			return API_ERR_INTERNAL;
		if (r == EVENT_PARSE_OK)
			continue;
		if (nbad == 0) {
			first_i = i;
			first_r = r;
			snprintf(first, sizeof(first), "%s", msg);
		}
		if (nbad < 8) {
			int w = snprintf(list + llen, sizeof(list) - llen, "%s%zu", nbad ? ", " : "", i);

			if (w > 0 && (size_t)w < sizeof(list) - llen)
				llen += (size_t)w;
		}
		nbad++;
	}
	if (nbad == 0)
		return API_OK;
	if (nbad == 1)
		return api_fail(c, first_r == EVENT_PARSE_FORBIDDEN ? API_ERR_FORBIDDEN :
				API_ERR_INVALID_PARAMETER, "event %zu is invalid: %s", first_i, first);
	return api_fail(c, first_r == EVENT_PARSE_FORBIDDEN ? API_ERR_FORBIDDEN :
			API_ERR_INVALID_PARAMETER, "%zu events are invalid (indexes %s%s); event %zu: %s",
			nbad, list, nbad > 8 ? ", ..." : "", first_i, first);
}

enum api_err api_events_post(struct ctx *c)
{
	json_t *arr = NULL, *ids = NULL;
	struct event_in *ev = NULL;
	size_t n = 0, bad = 0, dups = 0, total = 0;  /* total: n and the derived events */
	enum api_err rc;

	rc = api_query_only(c, (const char *const[]){ NULL });
	if (rc == API_OK)
		rc = parse_body(c, &arr);
	if (rc != API_OK)
		return rc;
	n = json_array_size(arr);
	ev = calloc(n, sizeof(*ev));
	if (ev == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	rc = validate_all(c, arr, ev);
	if (rc != API_OK)
		goto out;
	rc = store_events_check_databases(c->app->store, ev, n, &bad);
	if (rc == API_ERR_UNPROCESSABLE) {
		rc = api_fail(c, rc, "event %zu: database_id %s is not a database of tenant %s",
			      bad, ev[bad].database_id, ev[bad].tenant);
		goto out;
	}
	/* Policies and detectors see the statements as sent; then the
	 * audit_options of each event's database, derived events included. */
	if (rc == API_OK)
		rc = policy_eval_batch(c->app, &ev, n, &total);
	if (rc == API_OK)
		rc = audit_apply_batch(ev, total);
	if (rc == API_OK)
		rc = policy_eval_store(c->app->store, ev, total, time_now_ms(),
				       c->app->cfg->cursor_gap_lease_ms);
	if (rc == API_OK)
		rc = policy_eval_alerts(c->app, ev, n, total);
	if (rc == API_ERR_UNAVAILABLE) {
		rc = api_fail(c, rc, "the events could not be stored durably; retry the batch "
			      "(events with an external_id are never stored twice)");
		goto out;
	}
	if (rc != API_OK)
		goto out;
	ids = json_array();
	for (size_t i = 0; ids != NULL && i < n; i++) {
		json_array_append_new(ids, json_string(ev[i].id));
		dups += ev[i].duplicate;
	}
	if (ids == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	metrics_add(METRIC_EVENTS_INGESTED, (int64_t)(n - dups));
	metrics_add(METRIC_EVENTS_DUPLICATE, (int64_t)dups);
	http_response_json(c->res, 201, json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)(n - dups),
						   "duplicates", (json_int_t)dups, "ids", ids));
out:
	for (size_t i = 0; ev != NULL && i < (total > n ? total : n); i++)
		event_in_cleanup(&ev[i]);
	free(ev);
	json_decref(arr);
	return rc;
}

/* ---------------------------------------------------------------- list */

static const char *const list_params[] = {
	"type", "severity", "database_id", "start_date", "end_date", "user", "source_ip",
	"limit", "page", "cursor", NULL,
};

/* Parameters carried over into the Link of the next cursor page. */
static const char *const link_params[] = {
	"type", "severity", "database_id", "start_date", "end_date", "user", "source_ip", NULL,
};

static bool ident_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

enum api_err api_events_parse_filter(struct ctx *c, struct event_filter *f)
{
	const char *type = NULL, *ip = NULL;
	unsigned char addr[16];
	enum api_err rc;

	memset(f, 0, sizeof(*f));
	if ((rc = api_query_str(c, "type", 256, &type)) != API_OK ||
	    (rc = api_query_str(c, "severity", 16, &f->severity)) != API_OK ||
	    (rc = api_query_str(c, "database_id", EVENT_DATABASE_ID_MAX, &f->database_id)) != API_OK ||
	    (rc = api_query_str(c, "user", 256, &f->user)) != API_OK ||
	    (rc = api_query_str(c, "source_ip", 64, &ip)) != API_OK ||
	    (rc = api_query_time(c, "start_date", false, &f->has_start, &f->start_ms)) != API_OK ||
	    (rc = api_query_time(c, "end_date", true, &f->has_end, &f->end_ms)) != API_OK)
		return rc;
	if (type != NULL) {
		if (event_type_pattern(type, &f->types) != 0)
			return api_fail(c, API_ERR_INVALID_PARAMETER, "type must be an event type or a "
					"pattern such as security.* (letters, '_', '.', '*', ',')");
		if (f->types == 0)
			return api_fail(c, API_ERR_INVALID_PARAMETER, "type matches no event type");
	}
	if (f->severity != NULL && !event_severity_valid(f->severity))
		return api_fail(c, API_ERR_INVALID_PARAMETER, "severity must be info, warning or critical");
	if (f->database_id != NULL && !ident_ok(f->database_id))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"database_id must be 1 to 64 of A-Z a-z 0-9 _ -");
	if (f->user != NULL && f->user[0] == '\0')
		return api_fail(c, API_ERR_INVALID_PARAMETER, "user must not be empty");
	if (ip != NULL && inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"source_ip must be an IPv4 or IPv6 address");
	f->source_ip = ip;
	if (f->has_start && f->has_end && f->start_ms > f->end_ms)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "start_date is after end_date");
	return API_OK;
}

enum api_err api_events_cursor_page(struct ctx *c, const struct event_filter *f,
				    const char *cur, int64_t limit, json_t **docs,
				    int64_t *next_seq, bool *more)
{
	int64_t after = 0, w = 0;
	enum api_err rc;

	if (http_query_count(c->req, "cursor") > 1)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "cursor is given more than once");
	if (cur[0] != '\0' && event_cursor_decode(cur, &after) != 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"cursor is not a cursor this API returned (use the next cursor as is)");
	rc = store_events_watermark(c->app->store, c->app->cfg->cursor_gap_lease_ms,
				    time_now_ms(), POLL_MAX_STEPS, &w);
	if (rc != API_OK)
		return rc;
	if (after > w) {
		/* A cursor handed out by another worker can be ahead of this
		 * worker's view for a moment: nothing new yet. One never handed
		 * out is beyond every allocated sequence. */
		int64_t top = 0;

		rc = store_events_allocated(c->app->store, &top);
		if (rc != API_OK)
			return rc;
		if (after > top)
			return api_fail(c, API_ERR_INVALID_PARAMETER,
					"cursor is ahead of the event stream");
		w = after;
	}
	rc = store_events_after(c->app->store, c->who, f, after, w, limit, docs, more);
	if (rc != API_OK)
		return rc;
	*next_seq = w;
	if (*more) {
		json_t *last = json_array_get(*docs, json_array_size(*docs) - 1);

		*next_seq = json_integer_value(json_object_get(last, "seq"));
	}
	return API_OK;
}

static enum api_err list_cursor(struct ctx *c, const struct event_filter *f, int64_t limit)
{
	char next[EVENT_CURSOR_LEN];
	int64_t next_seq = 0;
	json_t *docs = NULL, *items = NULL;
	bool more = false;
	enum api_err rc;

	if (http_query_get(c->req, "page") != NULL)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "page and cursor exclude each other");
	rc = api_events_cursor_page(c, f, http_query_get(c->req, "cursor"), limit, &docs,
				    &next_seq, &more);
	if (rc != API_OK)
		return rc;
	items = events_public(docs);
	json_decref(docs);
	if (items == NULL)
		return API_ERR_INTERNAL;
	event_cursor_encode(next_seq, next);
	http_response_json(c->res, 200,
			   json_pack("{s:o,s:{s:I,s:s,s:b}}", "events", items, "pagination",
				     "per_page", (json_int_t)limit, "next_cursor", next,
				     "has_more", more));
	api_link_next(c, "/v1/events", "cursor", next, "limit", limit, link_params);
	return API_OK;
}

enum api_err api_events_list(struct ctx *c)
{
	struct event_filter f;
	int64_t limit, page, total = 0;
	json_t *docs = NULL, *items;
	enum api_err rc;

	if ((rc = api_query_only(c, list_params)) != API_OK ||
	    (rc = api_events_parse_filter(c, &f)) != API_OK ||
	    (rc = api_query_int(c, "limit", 1, 1000, 50, &limit)) != API_OK)
		return rc;
	if (http_query_get(c->req, "cursor") != NULL)
		return list_cursor(c, &f, limit);
	if ((rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK)
		return rc;
	rc = store_events_list(c->app->store, c->who, &f, "timestamp", false, (page - 1) * limit,
			       limit, &docs, &total);
	if (rc != API_OK)
		return rc;
	items = events_public(docs);
	json_decref(docs);
	if (items == NULL)
		return API_ERR_INTERNAL;
	http_response_json(c->res, 200,
			   json_pack("{s:o,s:{s:I,s:I,s:I}}", "events", items, "pagination",
				     "total", (json_int_t)total, "page", (json_int_t)page,
				     "per_page", (json_int_t)limit));
	return API_OK;
}

/* ---------------------------------------------------------------- one event */

static bool array_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* related_events: the stored list, then the other events of the session. */
static enum api_err related_events(struct store *st, const struct principal *p, json_t *doc,
				   json_t **out)
{
	json_t *rel = json_array(), *stored = json_object_get(doc, "related_events"), *v, *sess = NULL;
	const char *id = json_string_value(json_object_get(doc, "_id"));
	const char *sid = json_string_value(json_object_get(json_object_get(doc, "details"), "session_id"));
	size_t i;
	enum api_err rc = API_OK;

	if (rel == NULL)
		return API_ERR_INTERNAL;
	json_array_foreach(stored, i, v)
		if (json_is_string(v) && !array_has(rel, json_string_value(v)))
			json_array_append(rel, v);
	if (sid != NULL && sid[0] != '\0' && id != NULL) {
		rc = store_events_session(st, p, id, sid, RELATED_MAX, &sess);
		json_array_foreach(sess, i, v)
			if (!array_has(rel, json_string_value(v)))
				json_array_append(rel, v);
		json_decref(sess);
	}
	if (rc != API_OK) {
		json_decref(rel);
		return rc;
	}
	*out = rel;
	return API_OK;
}

/* The GET /v1/events/{id} form of a stored event of p (doc is changed). */
static enum api_err event_detail(struct store *st, const struct principal *p, json_t *doc,
				 json_t **out)
{
	char name[EVENT_NAME_MAX + 1];
	const char *db = json_string_value(json_object_get(doc, "database_id"));
	json_t *rel = NULL;
	enum api_err rc = API_OK;

	if (json_object_get(doc, "database_name") == NULL && db != NULL) {
		rc = store_database_name(st, p, db, name, sizeof(name));
		if (rc == API_OK && name[0] != '\0')
			json_object_set_new(doc, "database_name", json_string(name));
	}
	if (rc == API_OK)
		rc = related_events(st, p, doc, &rel);
	if (rc != API_OK)
		return rc;
	json_object_set_new(doc, "related_events", rel);
	*out = event_public(doc, true);
	return *out ? API_OK : API_ERR_INTERNAL;
}

enum api_err api_events_get(struct ctx *c)
{
	const char *id = c->params[0];
	json_t *doc = NULL, *out = NULL;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK)
		return rc;
	if (!event_id_valid(id))
		return api_fail(c, API_ERR_NOT_FOUND, "no such event");
	rc = store_events_get(c->app->store, c->who, id, &doc);
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "no such event");
	if (rc == API_OK)
		rc = event_detail(c->app->store, c->who, doc, &out);
	if (rc == API_OK)
		http_response_json(c->res, 200, out);
	json_decref(doc);
	return rc;
}

char *api_events_render(struct store *st, json_t *doc, enum api_err *rc)
{
	struct principal owner;
	const char *tenant = json_string_value(json_object_get(doc, "tenant_id"));
	json_t *out = NULL;
	char *text;

	/* The event's own tenant is the only one its lookups may see. */
	memset(&owner, 0, sizeof(owner));
	if (tenant == NULL || strlen(tenant) > PRINCIPAL_TENANT_MAX_LEN) {
		*rc = API_ERR_INTERNAL;
		return NULL;
	}
	memcpy(owner.tenants[0], tenant, strlen(tenant) + 1);
	owner.ntenants = 1;
	*rc = event_detail(st, &owner, doc, &out);
	if (*rc != API_OK)
		return NULL;
	text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(out);
	if (text == NULL)
		*rc = API_ERR_INTERNAL;
	return text;
}

/* ---------------------------------------------------------------- debug */

enum api_err api_events_debug_allocate(struct ctx *c)
{
	int64_t n, lo, hi;
	enum api_err rc;

	if ((rc = api_query_int(c, "n", 1, 1000, 1, &n)) != API_OK)
		return rc;
	rc = store_events_allocate(c->app->store, n, &lo, &hi);
	if (rc != API_OK)
		return rc;
	http_response_json(c->res, 200, json_pack("{s:I,s:I,s:I}", "lo", (json_int_t)lo, "hi",
						  (json_int_t)hi, "lease_ms",
						  (json_int_t)c->app->cfg->cursor_gap_lease_ms));
	return API_OK;
}
