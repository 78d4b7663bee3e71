/*
 * store_mongo_policies: policies and alerts on MongoDB (store_policies.h).
 * A policy's _id is "<tenant>/<policy id>". An alert carries open_key under
 * a unique index: a match first tries to absorb into the alert holding its
 * key; when none does it inserts one, and a duplicate key (another worker
 * inserted it first) sends it back to absorb. Resolving releases the key
 * (open_key becomes the alert's id). FerretDB 1.24 may lose concurrent
 * $inc updates (PLATFORM.md): there, count can undercount a burst from
 * several workers; it never opens a second alert.
 */
#include "store_mongo.h"

#include <stdio.h>
#include <string.h>

#include "principal.h"
#include "util/log.h"

#define POLICIES "policies"
#define ALERTS "alerts"

static void policy_key(const char *tenant, const char *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", tenant, id);
}

/* doc as BSON with _id key and tenant_id tenant first. */
static bool policy_bson(bson_t *b, const char *key, const char *tenant, json_t *doc)
{
	const char *k;
	json_t *v;
	bool ok = BSON_APPEND_UTF8(b, "_id", key) && BSON_APPEND_UTF8(b, "tenant_id", tenant);

	json_object_foreach(doc, k, v)
		if (strcmp(k, "_id") != 0 && strcmp(k, "tenant_id") != 0)
			ok = ok && store_mongo_json_append(b, k, v);
	return ok;
}

enum api_err store_mongo_policy_put(struct store *s, const char *tenant, json_t *doc,
				    enum store_put_mode mode)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	bson_t b = BSON_INITIALIZER, q = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	enum api_err rc = API_ERR_INTERNAL;
	bool ok;

	policy_key(tenant, json_string_value(json_object_get(doc, "id")) ?: "", key, sizeof(key));
	ok = policy_bson(&b, key, tenant, doc) && store_mongo_append_write_concern(s, &opts) &&
	     BSON_APPEND_UTF8(&q, "_id", key);
	if (ok && mode == STORE_PUT_UPSERT)
		ok = BSON_APPEND_BOOL(&opts, "upsert", true);
	if (!ok) {
		log_msg(LOG_ERROR, "store: cannot build the policy document");
		goto out;
	}
	if (mode == STORE_PUT_CREATE) {
		if (!mongoc_collection_insert_one(store_mongo_coll(s, POLICIES), &b, &opts, NULL, &err))
			rc = store_mongo_error(&err, "policy insert");
		else
			rc = API_OK;
		bson_init(&reply);
	} else if (!mongoc_collection_replace_one(store_mongo_coll(s, POLICIES), &q, &b, &opts, &reply,
						  &err)) {
		rc = store_mongo_error(&err, "policy write");
	} else {
		rc = API_OK;
		if (mode == STORE_PUT_REPLACE && bson_iter_init_find(&it, &reply, "matchedCount") &&
		    bson_iter_as_int64(&it) == 0)
			rc = API_ERR_NOT_FOUND;
	}
	bson_destroy(&reply);
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	bson_destroy(&b);
	return rc;
}

enum api_err store_mongo_policy_get(struct store *s, const char *tenant, const char *id,
				    json_t **doc)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	bson_t q = BSON_INITIALIZER;
	enum api_err rc;

	/* _id alone (FerretDB pushes only that down); the key holds the tenant. */
	policy_key(tenant, id, key, sizeof(key));
	*doc = NULL;
	if (!BSON_APPEND_UTF8(&q, "_id", key)) {
		bson_destroy(&q);
		return API_ERR_INTERNAL;
	}
	rc = store_mongo_find_one_json(store_mongo_coll(s, POLICIES), &q, NULL, doc, "policy lookup");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_policy_delete(struct store *s, const char *tenant, const char *id)
{
	char key[PRINCIPAL_TENANT_MAX_LEN + 80];
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	enum api_err rc = API_ERR_INTERNAL;

	policy_key(tenant, id, key, sizeof(key));
	if (BSON_APPEND_UTF8(&q, "_id", key) && store_mongo_append_write_concern(s, &opts)) {
		if (!mongoc_collection_delete_one(store_mongo_coll(s, POLICIES), &q, &opts, &reply, &err))
			rc = store_mongo_error(&err, "policy delete");
		else if (bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) > 0)
			rc = API_OK;
		else
			rc = API_ERR_NOT_FOUND;
		bson_destroy(&reply);
	}
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_policy_list(struct store *s, const char *tenant, json_t **items)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*items = NULL;
	if (BSON_APPEND_UTF8(&q, "tenant_id", tenant))
		rc = store_mongo_find_json(store_mongo_coll(s, POLICIES), &q, NULL, items, "policy list");
	bson_destroy(&q);
	return rc;
}

/* ---------------------------------------------------------------- alerts */

/* Adds one match to the alert holding open_key; *found tells whether one does. */
static enum api_err alert_absorb(struct store *s, const char *open_key, const char *seen,
				 bool *found)
{
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, inc, set, opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	enum api_err rc = API_ERR_INTERNAL;

	*found = false;
	if (BSON_APPEND_UTF8(&q, "open_key", open_key) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&u, "$inc", &inc) && BSON_APPEND_INT64(&inc, "count", 1) &&
	    bson_append_document_end(&u, &inc) && BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set) &&
	    BSON_APPEND_UTF8(&set, "last_seen_at", seen) && BSON_APPEND_UTF8(&set, "updated_at", seen) &&
	    bson_append_document_end(&u, &set) && store_mongo_append_write_concern(s, &opts)) {
		if (!mongoc_collection_update_one(store_mongo_coll(s, ALERTS), &q, &u, &opts, &reply, &err)) {
			rc = store_mongo_error(&err, "alert absorb");
		} else {
			rc = API_OK;
			*found = bson_iter_init_find(&it, &reply, "matchedCount") &&
				 bson_iter_as_int64(&it) > 0;
		}
		bson_destroy(&reply);
	}
	bson_destroy(&opts);
	bson_destroy(&u);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_alert_record(struct store *s, json_t *alert, const char *open_key,
				      bool *absorbed)
{
	const char *seen = json_string_value(json_object_get(alert, "last_seen_at"));
	bson_t b = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc;
	const char *k;
	json_t *v;
	bool ok = true;

	*absorbed = false;
	rc = alert_absorb(s, open_key, seen ? seen : "", absorbed);
	if (rc != API_OK || *absorbed)
		return rc;
	json_object_foreach(alert, k, v)
		ok = ok && store_mongo_json_append(&b, k, v);
	ok = ok && BSON_APPEND_UTF8(&b, "open_key", open_key) &&
	     store_mongo_append_write_concern(s, &opts);
	if (!ok)
		rc = API_ERR_INTERNAL;
	else if (!mongoc_collection_insert_one(store_mongo_coll(s, ALERTS), &b, &opts, NULL, &err))
		rc = store_mongo_error(&err, "alert insert");
	if (rc == API_ERR_CONFLICT) {
		/* Another worker opened the alert of this key meanwhile. */
		rc = alert_absorb(s, open_key, seen ? seen : "", absorbed);
		if (rc == API_OK && !*absorbed)
			rc = API_ERR_CONFLICT;
	}
	bson_destroy(&opts);
	bson_destroy(&b);
	return rc;
}

static void alert_strip(json_t *doc)
{
	json_object_del(doc, "open_key");
}

enum api_err store_mongo_alert_get(struct store *s, const struct principal *p, const char *id,
				   json_t **doc)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*doc = NULL;
	if (BSON_APPEND_UTF8(&q, "_id", id) && store_mongo_append_tenant_filter(&q, p))
		rc = store_mongo_find_one_json(store_mongo_coll(s, ALERTS), &q, NULL, doc, "alert lookup");
	if (rc == API_OK)
		alert_strip(*doc);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_alert_list(struct store *s, const struct principal *p,
				    const struct store_alert_filter *f, json_t **items,
				    int64_t *total)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;
	bool ok = store_mongo_append_tenant_filter(&q, p);
	size_t i;
	json_t *d;
	int64_t n;

	*items = NULL;
	if (f->status)
		ok = ok && BSON_APPEND_UTF8(&q, "status", f->status);
	if (f->database_id)
		ok = ok && BSON_APPEND_UTF8(&q, "database_id", f->database_id);
	if (f->severity)
		ok = ok && BSON_APPEND_UTF8(&q, "severity", f->severity);
	if (f->policy_id)
		ok = ok && BSON_APPEND_UTF8(&q, "policy_id", f->policy_id);
	if (!ok)
		goto out;
	n = mongoc_collection_count_documents(store_mongo_coll(s, ALERTS), &q, NULL, NULL, NULL, &err);
	if (n < 0) {
		rc = store_mongo_error(&err, "alert count");
		goto out;
	}
	*total = n;
	if (!BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort) ||
	    !BSON_APPEND_INT32(&sort, "created_at", -1) || !BSON_APPEND_INT32(&sort, "_id", -1) ||
	    !bson_append_document_end(&opts, &sort) || !BSON_APPEND_INT64(&opts, "skip", f->skip) ||
	    !BSON_APPEND_INT64(&opts, "limit", f->limit))
		goto out;
	rc = store_mongo_find_json(store_mongo_coll(s, ALERTS), &q, &opts, items, "alert list");
	json_array_foreach(rc == API_OK ? *items : NULL, i, d)
		alert_strip(d);
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_alert_update(struct store *s, const char *tenant, const char *id,
				      const char *from_status, json_t *set, bool close,
				      json_t **out)
{
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, st, reply, extra = BSON_INITIALIZER;
	bson_error_t err;
	bson_iter_t it;
	enum api_err rc = API_ERR_INTERNAL;
	const char *k;
	json_t *v, *cur = NULL;
	bool ok;

	*out = NULL;
	ok = BSON_APPEND_UTF8(&q, "_id", id) && BSON_APPEND_UTF8(&q, "tenant_id", tenant) &&
	     BSON_APPEND_UTF8(&q, "status", from_status) &&
	     BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &st);
	json_object_foreach(set, k, v)
		ok = ok && store_mongo_json_append(&st, k, v);
	if (close)
		ok = ok && BSON_APPEND_UTF8(&st, "open_key", id);
	ok = ok && bson_append_document_end(&u, &st) && store_mongo_append_write_concern(s, &extra);
	if (!ok)
		goto done;
	mongoc_find_and_modify_opts_set_update(fam, &u);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	mongoc_find_and_modify_opts_append(fam, &extra);
	if (!mongoc_collection_find_and_modify_with_opts(store_mongo_coll(s, ALERTS), &q, fam, &reply,
							 &err)) {
		rc = store_mongo_error(&err, "alert update");
	} else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		*out = store_mongo_iter_to_json(&it);
		rc = *out ? API_OK : API_ERR_INTERNAL;
		if (*out)
			alert_strip(*out);
	} else {
		/* Not in from_status: gone, or changed by someone else meanwhile. */
		bson_t q2 = BSON_INITIALIZER;

		rc = API_ERR_INTERNAL;
		if (BSON_APPEND_UTF8(&q2, "_id", id))
			rc = store_mongo_find_one_json(store_mongo_coll(s, ALERTS), &q2, NULL, &cur,
						       "alert lookup");
		if (rc == API_OK)
			rc = strcmp(json_string_value(json_object_get(cur, "tenant_id")) ?: "", tenant) == 0 ?
			     API_ERR_CONFLICT : API_ERR_NOT_FOUND;
		json_decref(cur);
		bson_destroy(&q2);
	}
	bson_destroy(&reply);
done:
	bson_destroy(&extra);
	bson_destroy(&u);
	bson_destroy(&q);
	mongoc_find_and_modify_opts_destroy(fam);
	return rc;
}
