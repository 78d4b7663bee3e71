/*
 * store_databases: the databases collection and the lookups around it
 * (see store_databases.h). Dates are stored as BSON dates; everything a
 * client sent goes through store_json_append after validation in dbrec.
 */
#include "store_mongo.h"
#include "store_databases.h"

#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

#define DATABASES "databases"
#define EVENTS "events"
#define ALERTS "alerts"
#define POLICIES "policies"

static int64_t count(struct store *s, const char *coll, const bson_t *q, const char *what,
		     enum api_err *rc);

/* Appends every member of the JSON object o to b (keys already validated). */
static bool append_members(bson_t *b, json_t *o, const char *prefix)
{
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach(o, k, v) {
		char key[128];

		if (prefix != NULL) {
			snprintf(key, sizeof(key), "%s.%s", prefix, k);
			ok = ok && store_mongo_json_append(b, key, v);
		} else {
			ok = ok && store_mongo_json_append(b, k, v);
		}
	}
	return ok;
}

/* {_id: id} plus p's tenant filter. */
static bool id_filter(bson_t *q, const struct principal *p, const char *id)
{
	return BSON_APPEND_UTF8(q, "_id", id) && store_mongo_append_tenant_filter(q, p);
}

enum api_err store_mongo_database_insert(struct store *s, const char *id, const char *tenant,
				   json_t *set, json_t *secrets, int64_t now_ms, json_t **out)
{
	bson_t doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;
	bool ok;

	*out = NULL;
	ok = BSON_APPEND_UTF8(&doc, "_id", id) && BSON_APPEND_UTF8(&doc, "tenant_id", tenant) &&
	     append_members(&doc, set, NULL) && store_mongo_json_append(&doc, "secrets", secrets) &&
	     BSON_APPEND_UTF8(&doc, "status", "pending") &&
	     BSON_APPEND_UTF8(&doc, "audit_status", "initializing") &&
	     BSON_APPEND_DATE_TIME(&doc, "created_at", now_ms) &&
	     BSON_APPEND_DATE_TIME(&doc, "updated_at", now_ms) &&
	     store_mongo_append_write_concern(s, &opts);
	if (!ok) {
		log_msg(LOG_ERROR, "store: cannot build the database document");
		goto out;
	}
	if (!mongoc_collection_insert_one(store_mongo_coll(s, DATABASES), &doc, &opts, NULL, &err)) {
		rc = store_mongo_error(&err, "database insert");
		goto out;
	}
	*out = store_mongo_bson_to_json(&doc);
	rc = *out ? API_OK : API_ERR_INTERNAL;
out:
	bson_destroy(&opts);
	bson_destroy(&doc);
	return rc;
}

enum api_err store_mongo_database_get(struct store *s, const struct principal *p, const char *id,
				json_t **out)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc;

	*out = NULL;
	if (!id_filter(&q, p, id)) {
		bson_destroy(&q);
		return API_ERR_INTERNAL;
	}
	rc = store_mongo_find_one_json(store_mongo_coll(s, DATABASES), &q, NULL, out, "database lookup");
	bson_destroy(&q);
	return rc;
}

static bool list_filter(bson_t *q, const struct principal *p, const struct store_database_filter *f)
{
	bool ok = store_mongo_append_tenant_filter(q, p);

	if (f->status != NULL)
		ok = ok && BSON_APPEND_UTF8(q, "status", f->status);
	if (f->type != NULL)
		ok = ok && BSON_APPEND_UTF8(q, "type", f->type);
	if (f->tags != NULL && json_array_size(f->tags) > 0) {
		bson_t in;

		ok = ok && BSON_APPEND_DOCUMENT_BEGIN(q, "tags", &in) &&
		     store_mongo_json_append(&in, "$in", f->tags) && bson_append_document_end(q, &in);
	}
	return ok;
}

enum api_err store_mongo_database_list(struct store *s, const struct principal *p,
				       const struct store_database_filter *f, json_t **items,
				       int64_t *total)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;
	int64_t n;

	*items = NULL;
	if (!list_filter(&q, p, f))
		goto out;
	n = mongoc_collection_count_documents(store_mongo_coll(s, DATABASES), &q, NULL, NULL, NULL,
					      &err);
	if (n < 0) {
		rc = store_mongo_error(&err, "database count");
		goto out;
	}
	*total = n;
	if (!BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort) ||
	    !BSON_APPEND_INT32(&sort, "created_at", -1) || !BSON_APPEND_INT32(&sort, "_id", -1) ||
	    !bson_append_document_end(&opts, &sort) || !BSON_APPEND_INT64(&opts, "skip", f->skip) ||
	    !BSON_APPEND_INT64(&opts, "limit", f->limit))
		goto out;
	rc = store_mongo_find_json(store_mongo_coll(s, DATABASES), &q, &opts, items, "database list");
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/* findAndModify(q, update) returning the new document as JSON; NOT_FOUND when q matches nothing. */
static enum api_err modify(struct store *s, const bson_t *q, const bson_t *update, const char *what,
			   json_t **out)
{
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_t reply, extra = BSON_INITIALIZER;
	bson_iter_t it;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	mongoc_find_and_modify_opts_set_update(fam, update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	store_mongo_append_write_concern(s, &extra);
	mongoc_find_and_modify_opts_append(fam, &extra);
	if (!mongoc_collection_find_and_modify_with_opts(store_mongo_coll(s, DATABASES), q, fam, &reply,
							 &err)) {
		rc = store_mongo_error(&err, what);
		goto out;
	}
	if (!bson_iter_init_find(&it, &reply, "value") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
		rc = API_ERR_NOT_FOUND;
		goto out;
	}
	rc = API_OK;
	if (out != NULL) {
		*out = store_mongo_iter_to_json(&it);
		if (*out == NULL)
			rc = API_ERR_INTERNAL;
	}
out:
	bson_destroy(&reply);
	bson_destroy(&extra);
	mongoc_find_and_modify_opts_destroy(fam);
	return rc;
}

/* $set of an update: set's fields (audit_options merged key by key), then sealed secrets. */
static bool update_set(bson_t *u, json_t *set, json_t *secrets_set, int64_t now_ms)
{
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach(set, k, v) {
		if (strcmp(k, "audit_options") == 0)
			ok = ok && append_members(u, v, "audit_options");
		else
			ok = ok && store_mongo_json_append(u, k, v);
	}
	if (secrets_set != NULL)
		ok = ok && append_members(u, secrets_set, "secrets");
	return ok && BSON_APPEND_DATE_TIME(u, "updated_at", now_ms);
}

enum api_err store_mongo_database_update(struct store *s, const struct principal *p, const char *id,
				   json_t *set, json_t *secrets_set, json_t *secrets_unset,
				   int64_t now_ms, json_t **out)
{
	bson_t q = BSON_INITIALIZER, update = BSON_INITIALIZER, part;
	enum api_err rc = API_ERR_INTERNAL;
	bool ok;

	ok = id_filter(&q, p, id) && BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &part) &&
	     update_set(&part, set, secrets_set, now_ms) && bson_append_document_end(&update, &part);
	if (ok && secrets_unset != NULL && json_array_size(secrets_unset) > 0) {
		size_t i;
		json_t *name;

		ok = BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &part);
		json_array_foreach(secrets_unset, i, name) {
			char key[64];

			snprintf(key, sizeof(key), "secrets.%s", json_string_value(name));
			ok = ok && BSON_APPEND_UTF8(&part, key, "");
		}
		ok = ok && bson_append_document_end(&update, &part);
	}
	if (ok)
		rc = modify(s, &q, &update, "database update", out);
	bson_destroy(&update);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_check_unique(struct store *s, const char *tenant, const char *host,
					 int64_t port, const char *database, const char *id)
{
	bson_t q = BSON_INITIALIZER, ne;
	enum api_err rc = API_ERR_INTERNAL;
	int64_t n;

	if (BSON_APPEND_UTF8(&q, "tenant_id", tenant) && BSON_APPEND_UTF8(&q, "host", host) &&
	    BSON_APPEND_INT64(&q, "port", port) && BSON_APPEND_UTF8(&q, "database", database) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &ne) && BSON_APPEND_UTF8(&ne, "$ne", id) &&
	    bson_append_document_end(&q, &ne)) {
		n = count(s, DATABASES, &q, "database uniqueness check", &rc);
		if (n >= 0)
			rc = n > 0 ? API_ERR_CONFLICT : API_OK;
	}
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_delete(struct store *s, const struct principal *p, const char *id)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_iter_t it;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	if (!id_filter(&q, p, id) || !store_mongo_append_write_concern(s, &opts)) {
		bson_destroy(&q);
		bson_destroy(&opts);
		return rc;
	}
	if (!mongoc_collection_delete_one(store_mongo_coll(s, DATABASES), &q, &opts, &reply, &err))
		rc = store_mongo_error(&err, "database delete");
	else if (bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 1)
		rc = API_OK;
	else
		rc = API_ERR_NOT_FOUND;
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/* updateMany(q, update) on coll; *n gets the number modified. */
static enum api_err update_many(struct store *s, const char *coll, const bson_t *q,
				const bson_t *update, const char *what, int64_t *n)
{
	bson_t opts = BSON_INITIALIZER, reply;
	bson_iter_t it;
	bson_error_t err;
	enum api_err rc = API_OK;

	*n = 0;
	store_mongo_append_write_concern(s, &opts);
	if (!mongoc_collection_update_many(store_mongo_coll(s, coll), q, update, &opts, &reply, &err))
		rc = store_mongo_error(&err, what);
	else if (bson_iter_init_find(&it, &reply, "modifiedCount"))
		*n = bson_iter_as_int64(&it);
	bson_destroy(&reply);
	bson_destroy(&opts);
	return rc;
}

enum api_err store_mongo_policies_disable_for_database(struct store *s, const char *tenant,
						 const char *id, int64_t now_ms, int64_t *n)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, arr, set;
	enum api_err rc = API_ERR_INTERNAL;

	*n = 0;
	if (BSON_APPEND_UTF8(&q, "tenant_id", tenant) && BSON_APPEND_BOOL(&q, "enabled", true) &&
	    BSON_APPEND_ARRAY_BEGIN(&q, "database_ids", &arr) && BSON_APPEND_UTF8(&arr, "0", id) &&
	    bson_append_array_end(&q, &arr) && BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) &&
	    BSON_APPEND_BOOL(&set, "enabled", false) &&
	    BSON_APPEND_DATE_TIME(&set, "updated_at", now_ms) && bson_append_document_end(&u, &set))
		rc = update_many(s, POLICIES, &q, &u, "policy disable", n);
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_set_test(struct store *s, const char *tenant, const char *id,
				     const char *status, json_t *result, int64_t now_ms)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, set, test;
	enum api_err rc = API_ERR_INTERNAL;

	if (BSON_APPEND_UTF8(&q, "_id", id) && BSON_APPEND_UTF8(&q, "tenant_id", tenant) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) && BSON_APPEND_UTF8(&set, "status", status) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&set, "last_test", &test) &&
	    BSON_APPEND_DATE_TIME(&test, "at", now_ms) && append_members(&test, result, NULL) &&
	    bson_append_document_end(&set, &test) && bson_append_document_end(&u, &set))
		rc = modify(s, &q, &u, "database test result", NULL);
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_heartbeat(struct store *s, const struct principal *p, const char *id,
				      json_t *hb, int64_t now_ms, json_t **out)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, set, h, nin;
	const char *audit;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	if (!id_filter(&q, p, id) || !BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) ||
	    !BSON_APPEND_DOCUMENT_BEGIN(&set, "heartbeat", &h) || !append_members(&h, hb, NULL) ||
	    !BSON_APPEND_DATE_TIME(&h, "received_at", now_ms) || !bson_append_document_end(&set, &h) ||
	    !BSON_APPEND_UTF8(&set, "status", dbrec_heartbeat_status(hb)) ||
	    !bson_append_document_end(&u, &set))
		goto out;
	rc = modify(s, &q, &u, "database heartbeat", out);
	if (rc != API_OK)
		goto out;
	audit = json_string_value(json_object_get(*out, "audit_status"));
	if (audit == NULL || (strcmp(audit, "paused") != 0 && strcmp(audit, "active") != 0)) {
		json_t *after = NULL;

		/* First heartbeat: the collector is capturing. A pause set meanwhile wins. */
		bson_reinit(&q);
		bson_reinit(&u);
		if (!id_filter(&q, p, id) || !BSON_APPEND_DOCUMENT_BEGIN(&q, "audit_status", &nin) ||
		    !BSON_APPEND_UTF8(&nin, "$ne", "paused") || !bson_append_document_end(&q, &nin) ||
		    !BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) ||
		    !BSON_APPEND_UTF8(&set, "audit_status", "active") ||
		    !bson_append_document_end(&u, &set)) {
			rc = API_ERR_INTERNAL;
			goto out;
		}
		rc = modify(s, &q, &u, "database audit status", &after);
		if (rc == API_OK) {
			json_decref(*out);
			*out = after;
		} else if (rc == API_ERR_NOT_FOUND) {
			rc = API_OK;  /* paused (or deleted) in between: keep what we have */
		}
	}
out:
	if (rc != API_OK) {
		json_decref(*out);
		*out = NULL;
	}
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

/* count_documents on coll; -1 (and *rc) on error. */
static int64_t count(struct store *s, const char *coll, const bson_t *q, const char *what,
		     enum api_err *rc)
{
	bson_error_t err;
	int64_t n = mongoc_collection_count_documents(store_mongo_coll(s, coll), q, NULL, NULL, NULL, &err);

	if (n < 0)
		*rc = store_mongo_error(&err, what);
	return n;
}

/* {tenant filter, database_id: id} */
static bool db_ref_filter(bson_t *q, const struct principal *p, const char *id)
{
	return store_mongo_append_tenant_filter(q, p) && BSON_APPEND_UTF8(q, "database_id", id);
}

static int64_t count_events_since(struct store *s, const struct principal *p, const char *id,
				  int64_t since_ms, enum api_err *rc)
{
	bson_t q = BSON_INITIALIZER, ts;
	int64_t n = -1;

	if (db_ref_filter(&q, p, id) && BSON_APPEND_DOCUMENT_BEGIN(&q, "timestamp", &ts) &&
	    BSON_APPEND_DATE_TIME(&ts, "$gte", since_ms) && bson_append_document_end(&q, &ts))
		n = count(s, EVENTS, &q, "event count", rc);
	bson_destroy(&q);
	return n;
}

static int64_t count_open_alerts(struct store *s, const struct principal *p, const char *id,
				 enum api_err *rc)
{
	bson_t q = BSON_INITIALIZER, in;
	int64_t n = -1;

	if (db_ref_filter(&q, p, id) && BSON_APPEND_DOCUMENT_BEGIN(&q, "status", &in) &&
	    store_mongo_append_str_array(&in, "$in", (const char *[]){ "open", "acknowledged" }, 2) &&
	    bson_append_document_end(&q, &in))
		n = count(s, ALERTS, &q, "alert count", rc);
	bson_destroy(&q);
	return n;
}

/* Enabled policies with database_ids empty, absent, or containing id. */
static int64_t count_active_policies(struct store *s, const struct principal *p, const char *id,
				     enum api_err *rc)
{
	bson_t q = BSON_INITIALIZER, or, a, b, c, sz, ex;
	int64_t n = -1;

	if (store_mongo_append_tenant_filter(&q, p) && BSON_APPEND_BOOL(&q, "enabled", true) &&
	    BSON_APPEND_ARRAY_BEGIN(&q, "$or", &or) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a) && BSON_APPEND_UTF8(&a, "database_ids", id) &&
	    bson_append_document_end(&or, &a) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&b, "database_ids", &sz) && BSON_APPEND_INT32(&sz, "$size", 0) &&
	    bson_append_document_end(&b, &sz) && bson_append_document_end(&or, &b) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&or, "2", &c) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&c, "database_ids", &ex) && BSON_APPEND_BOOL(&ex, "$exists", false) &&
	    bson_append_document_end(&c, &ex) && bson_append_document_end(&or, &c) &&
	    bson_append_array_end(&q, &or))
		n = count(s, POLICIES, &q, "policy count", rc);
	bson_destroy(&q);
	return n;
}

enum api_err store_mongo_database_stats(struct store *s, const struct principal *p, const char *id,
				  int64_t now_ms, struct dbrec_stats *out)
{
	enum api_err rc = API_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	if ((out->events_today = count_events_since(s, p, id, dbrec_day_start_ms(now_ms), &rc)) < 0 ||
	    (out->events_this_week = count_events_since(s, p, id, dbrec_week_start_ms(now_ms), &rc)) < 0 ||
	    (out->alerts_pending = count_open_alerts(s, p, id, &rc)) < 0 ||
	    (out->policies_active = count_active_policies(s, p, id, &rc)) < 0)
		return rc;
	return API_OK;
}

enum api_err store_mongo_database_last_event(struct store *s, const struct principal *p, const char *id,
				       json_t **out)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	json_t *ev = NULL;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	if (!db_ref_filter(&q, p, id) || !BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort) ||
	    !BSON_APPEND_INT32(&sort, "timestamp", -1) || !bson_append_document_end(&opts, &sort) ||
	    !BSON_APPEND_INT64(&opts, "limit", 1))
		goto out;
	rc = store_mongo_find_one_json(store_mongo_coll(s, EVENTS), &q, &opts, &ev, "last event lookup");
	if (rc == API_ERR_NOT_FOUND) {
		rc = API_OK;
		goto out;
	}
	if (rc != API_OK)
		goto out;
	*out = json_pack("{s:O?,s:O?,s:O?,s:O?}", "timestamp", json_object_get(ev, "timestamp"),
			 "type", json_object_get(ev, "type"), "severity", json_object_get(ev, "severity"),
			 "user", json_object_get(json_object_get(ev, "details"), "user"));
	if (*out == NULL)
		rc = API_ERR_INTERNAL;
out:
	json_decref(ev);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_last_event_times(struct store *s, const struct principal *p,
						  json_t *ids, json_t **out)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, in, proj;
	json_t *docs = NULL, *res = NULL, *d;
	enum api_err rc = API_ERR_INTERNAL;
	size_t i;

	/* last_event_at is kept at ingest (store_mongo_event_seq.c): one find
	 * by _id for the page ($group has no $max on FerretDB). */
	*out = NULL;
	if (!BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &in) || !store_mongo_json_append(&in, "$in", ids) ||
	    !bson_append_document_end(&q, &in) || !store_mongo_append_tenant_filter(&q, p) ||
	    !BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj) ||
	    !BSON_APPEND_INT32(&proj, "last_event_at", 1) || !bson_append_document_end(&opts, &proj))
		goto out;
	rc = store_mongo_find_json(store_mongo_coll(s, DATABASES), &q, &opts, &docs,
				   "last event times");
	if (rc != API_OK)
		goto out;
	res = json_object();
	json_array_foreach(docs, i, d) {
		const char *id = json_string_value(json_object_get(d, "_id"));
		json_t *t = json_object_get(d, "last_event_at");

		if (res != NULL && id != NULL && json_is_string(t))
			json_object_set(res, id, t);
	}
	*out = res;
	rc = res ? API_OK : API_ERR_INTERNAL;
out:
	json_decref(docs);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, lt, set;
	enum api_err rc = API_ERR_INTERNAL;

	if (BSON_APPEND_UTF8(&q, "status", "connected") &&
	    BSON_APPEND_DOCUMENT_BEGIN(&q, "heartbeat.received_at", &lt) &&
	    BSON_APPEND_DATE_TIME(&lt, "$lt", before_ms) && bson_append_document_end(&q, &lt) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) &&
	    BSON_APPEND_UTF8(&set, "status", "disconnected") && bson_append_document_end(&u, &set))
		rc = update_many(s, DATABASES, &q, &u, "stale databases", n);
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_foreach(struct store *s,
				    enum api_err (*cb)(json_t *rec, void *arg), void *arg)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(&opts, &sort);
	cur = mongoc_collection_find_with_opts(store_mongo_coll(s, DATABASES), &q, &opts, NULL);
	while (rc == API_OK && mongoc_cursor_next(cur, &doc)) {
		json_t *j = store_mongo_bson_to_json(doc);

		rc = j ? cb(j, arg) : API_ERR_INTERNAL;
		json_decref(j);
	}
	if (rc == API_OK && mongoc_cursor_error(cur, &err))
		rc = store_mongo_error(&err, "database walk");
	mongoc_cursor_destroy(cur);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_replace_secrets(struct store *s, const char *id, json_t *old,
					    json_t *secrets)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, set;
	const char *k;
	json_t *v;
	enum api_err rc = API_ERR_INTERNAL;
	bool ok = BSON_APPEND_UTF8(&q, "_id", id);

	json_object_foreach(old, k, v) {
		char key[80];

		snprintf(key, sizeof(key), "secrets.%s.ct", k);
		ok = ok && json_is_string(json_object_get(v, "ct")) &&
		     BSON_APPEND_UTF8(&q, key, json_string_value(json_object_get(v, "ct")));
	}
	ok = ok && BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) &&
	     store_mongo_json_append(&set, "secrets", secrets) && bson_append_document_end(&u, &set);
	if (ok)
		rc = modify(s, &q, &u, "secret re-encryption", NULL);
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

/* Appends the members of o to b, as BSON dates where the dotted path is one of dates. */
static bool append_with_dates(bson_t *b, json_t *o, const char *prefix)
{
	static const char *const dates[] = { "created_at", "updated_at", "last_event_at",
		"heartbeat.received_at", "last_test.at" };
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach(o, k, v) {
		char path[128];
		bool date = false;
		int64_t ms = 0;

		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
			date |= strcmp(path, dates[i]) == 0;
		if (date && json_is_string(v) && time_parse_rfc3339(json_string_value(v), &ms) == 0) {
			ok = ok && BSON_APPEND_DATE_TIME(b, k, ms);
		} else if (json_is_object(v) && prefix[0] == '\0' &&
			   (strcmp(k, "heartbeat") == 0 || strcmp(k, "last_test") == 0)) {
			bson_t child;

			ok = ok && BSON_APPEND_DOCUMENT_BEGIN(b, k, &child) &&
			     append_with_dates(&child, v, k) && bson_append_document_end(b, &child);
		} else {
			ok = ok && store_mongo_json_append(b, k, v);
		}
	}
	return ok;
}

enum api_err store_mongo_database_import(struct store *s, json_t *rec)
{
	bson_t doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	if (append_with_dates(&doc, rec, "") && store_mongo_append_write_concern(s, &opts)) {
		rc = API_OK;
		if (!mongoc_collection_insert_one(store_mongo_coll(s, DATABASES), &doc, &opts, NULL,
						  &err))
			rc = store_mongo_error(&err, "database import");
	}
	if (rc == API_ERR_CONFLICT) {
		bson_t q = BSON_INITIALIZER, have;
		bool found = false;

		/* the same record from an earlier run: keep it */
		BSON_APPEND_UTF8(&q, "_id", json_string_value(json_object_get(rec, "_id")));
		rc = store_mongo_find_one(store_mongo_coll(s, DATABASES), &q, NULL, &have, &found,
					  "database import");
		if (found)
			bson_destroy(&have);
		else if (rc == API_OK)
			rc = API_ERR_CONFLICT;
		bson_destroy(&q);
	}
	bson_destroy(&opts);
	bson_destroy(&doc);
	return rc;
}
