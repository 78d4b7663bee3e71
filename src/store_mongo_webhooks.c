/*
 * store_mongo_webhooks: webhooks and deliveries on MongoDB (see
 * store_webhooks.h). Documents are stored as the API builds them (dates
 * as RFC 3339 strings, with created_ms and next_ms for sorting); the
 * sender's state of a webhook (position, lease_owner, lease_until_ms) sits
 * in the same document and only the sender's conditional updates change it.
 */
#include "store_mongo.h"
#include "store_webhooks.h"

#define WEBHOOKS "webhooks"
#define DELIVERIES "webhook_deliveries"

/* Appends every member of the JSON object o to b. */
static bool append_all(bson_t *b, json_t *o)
{
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach(o, k, v)
		ok = ok && store_mongo_json_append(b, k, v);
	return ok;
}

/* Inserts doc into coll (API_ERR_CONFLICT on a duplicate _id). */
static enum api_err insert(struct store *s, const char *coll, json_t *doc, json_t *extra,
			   const char *what)
{
	bson_t b = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	if (append_all(&b, doc) && (extra == NULL || append_all(&b, extra)) &&
	    store_mongo_append_write_concern(s, &opts)) {
		if (mongoc_collection_insert_one(store_mongo_coll(s, coll), &b, &opts, NULL, &err))
			rc = API_OK;
		else
			rc = store_mongo_error(&err, what);
	}
	bson_destroy(&opts);
	bson_destroy(&b);
	return rc;
}

/* Runs update (a $set of set) on the first document of coll matching q; *matched says if any. */
static enum api_err update_one(struct store *s, const char *coll, const bson_t *q, json_t *set,
			       int64_t *matched, const char *what)
{
	bson_t u = BSON_INITIALIZER, sb, opts = BSON_INITIALIZER, reply;
	bson_iter_t it;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	*matched = 0;
	if (!BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &sb) || !append_all(&sb, set) ||
	    !bson_append_document_end(&u, &sb) || !store_mongo_append_write_concern(s, &opts)) {
		bson_destroy(&u);
		bson_destroy(&opts);
		return rc;
	}
	if (!mongoc_collection_update_one(store_mongo_coll(s, coll), q, &u, &opts, &reply, &err)) {
		rc = store_mongo_error(&err, what);
	} else {
		rc = API_OK;
		if (bson_iter_init_find(&it, &reply, "matchedCount"))
			*matched = bson_iter_as_int64(&it);
	}
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&u);
	return rc;
}

/* {_id: id} plus p's tenant filter (none when p is NULL). */
static bool id_filter(bson_t *q, const struct principal *p, const char *id)
{
	return BSON_APPEND_UTF8(q, "_id", id) && (p == NULL || store_mongo_append_tenant_filter(q, p));
}

/* Sort {created_ms: -1, _id: -1}, skip, limit. */
static bool newest_first(bson_t *opts, int64_t skip, int64_t limit)
{
	bson_t sort;

	return BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort) &&
	       BSON_APPEND_INT32(&sort, "created_ms", -1) && BSON_APPEND_INT32(&sort, "_id", -1) &&
	       bson_append_document_end(opts, &sort) && BSON_APPEND_INT64(opts, "skip", skip) &&
	       BSON_APPEND_INT64(opts, "limit", limit);
}

/* count and page of q in coll, newest first. */
static enum api_err list(struct store *s, const char *coll, const bson_t *q, int64_t skip,
			 int64_t limit, json_t **items, int64_t *total, const char *what)
{
	bson_t opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;
	int64_t n;

	*items = NULL;
	n = mongoc_collection_count_documents(store_mongo_coll(s, coll), q, NULL, NULL, NULL, &err);
	if (n < 0)
		return store_mongo_error(&err, what);
	*total = n;
	if (newest_first(&opts, skip, limit))
		rc = store_mongo_find_json(store_mongo_coll(s, coll), q, &opts, items, what);
	bson_destroy(&opts);
	return rc;
}

enum api_err store_mongo_webhook_insert(struct store *s, json_t *doc)
{
	json_t *extra = json_pack("{s:s,s:I}", "lease_owner", "", "lease_until_ms", (json_int_t)0);
	enum api_err rc = extra ? insert(s, WEBHOOKS, doc, extra, "webhook insert") : API_ERR_INTERNAL;

	json_decref(extra);
	return rc;
}

enum api_err store_mongo_webhook_get(struct store *s, const struct principal *p, const char *id,
				     json_t **out)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	if (id_filter(&q, p, id))
		rc = store_mongo_find_one_json(store_mongo_coll(s, WEBHOOKS), &q, NULL, out,
					       "webhook get");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				      int64_t limit, json_t **items, int64_t *total)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*items = NULL;
	if (store_mongo_append_tenant_filter(&q, p))
		rc = list(s, WEBHOOKS, &q, skip, limit, items, total, "webhook list");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_webhook_update(struct store *s, const struct principal *p, const char *id,
					json_t *set, json_t **out)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;
	int64_t matched = 0;

	if (out != NULL)
		*out = NULL;
	if (id_filter(&q, p, id))
		rc = update_one(s, WEBHOOKS, &q, set, &matched, "webhook update");
	bson_destroy(&q);
	if (rc == API_OK && matched == 0)
		rc = API_ERR_NOT_FOUND;
	if (rc == API_OK && out != NULL)
		rc = store_mongo_webhook_get(s, NULL, id, out);
	return rc;
}

enum api_err store_mongo_webhook_delete(struct store *s, const struct principal *p, const char *id)
{
	bson_t q = BSON_INITIALIZER, dq = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_iter_t it;
	bson_error_t err;
	enum api_err rc = API_ERR_INTERNAL;

	if (!id_filter(&q, p, id) || !BSON_APPEND_UTF8(&dq, "webhook_id", id) ||
	    !store_mongo_append_write_concern(s, &opts))
		goto out;
	if (!mongoc_collection_delete_one(store_mongo_coll(s, WEBHOOKS), &q, &opts, &reply, &err))
		rc = store_mongo_error(&err, "webhook delete");
	else if (bson_iter_init_find(&it, &reply, "deletedCount") && bson_iter_as_int64(&it) == 1)
		rc = API_OK;
	else
		rc = API_ERR_NOT_FOUND;
	bson_destroy(&reply);
	if (rc == API_OK &&
	    !mongoc_collection_delete_many(store_mongo_coll(s, DELIVERIES), &dq, &opts, NULL, &err))
		rc = store_mongo_error(&err, "webhook deliveries delete");
out:
	bson_destroy(&opts);
	bson_destroy(&dq);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_webhook_active(struct store *s, json_t **items)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	enum api_err rc = API_ERR_INTERNAL;

	*items = NULL;
	if (BSON_APPEND_UTF8(&q, "status", "active") &&
	    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort) && BSON_APPEND_INT32(&sort, "_id", 1) &&
	    bson_append_document_end(&opts, &sort))
		rc = store_mongo_find_json(store_mongo_coll(s, WEBHOOKS), &q, &opts, items,
					   "webhook active");
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_webhook_lease(struct store *s, const char *id, const char *owner,
				       int64_t now_ms, int64_t until_ms)
{
	bson_t q = BSON_INITIALIZER, or, a, b, lt;
	json_t *set = json_pack("{s:s,s:I}", "lease_owner", owner, "lease_until_ms",
				(json_int_t)until_ms);
	enum api_err rc = API_ERR_INTERNAL;
	int64_t matched = 0;

	if (set != NULL && BSON_APPEND_UTF8(&q, "_id", id) && BSON_APPEND_ARRAY_BEGIN(&q, "$or", &or) &&
	    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a) && BSON_APPEND_DOCUMENT_BEGIN(&a, "lease_until_ms", &lt) &&
	    BSON_APPEND_INT64(&lt, "$lt", now_ms) && bson_append_document_end(&a, &lt) &&
	    bson_append_document_end(&or, &a) && BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b) &&
	    BSON_APPEND_UTF8(&b, "lease_owner", owner) && bson_append_document_end(&or, &b) &&
	    bson_append_array_end(&q, &or))
		rc = update_one(s, WEBHOOKS, &q, set, &matched, "webhook lease");
	json_decref(set);
	bson_destroy(&q);
	return rc == API_OK && matched == 0 ? API_ERR_CONFLICT : rc;
}

enum api_err store_mongo_webhook_advance(struct store *s, const char *id, const char *owner,
					 int64_t position)
{
	bson_t q = BSON_INITIALIZER;
	json_t *set = json_pack("{s:I}", "position", (json_int_t)position);
	enum api_err rc = API_ERR_INTERNAL;
	int64_t matched = 0;

	if (set != NULL && BSON_APPEND_UTF8(&q, "_id", id) && BSON_APPEND_UTF8(&q, "lease_owner", owner))
		rc = update_one(s, WEBHOOKS, &q, set, &matched, "webhook advance");
	json_decref(set);
	bson_destroy(&q);
	return rc == API_OK && matched == 0 ? API_ERR_CONFLICT : rc;
}

enum api_err store_mongo_delivery_insert(struct store *s, json_t *doc)
{
	return insert(s, DELIVERIES, doc, NULL, "delivery insert");
}

enum api_err store_mongo_delivery_get(struct store *s, const struct principal *p,
				      const char *webhook_id, const char *id, json_t **out)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	if (id_filter(&q, p, id) && BSON_APPEND_UTF8(&q, "webhook_id", webhook_id))
		rc = store_mongo_find_one_json(store_mongo_coll(s, DELIVERIES), &q, NULL, out,
					       "delivery get");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_delivery_list(struct store *s, const struct principal *p,
				       const char *webhook_id, const char *status, int64_t skip,
				       int64_t limit, json_t **items, int64_t *total)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*items = NULL;
	if (BSON_APPEND_UTF8(&q, "webhook_id", webhook_id) &&
	    (status == NULL || BSON_APPEND_UTF8(&q, "status", status)) &&
	    store_mongo_append_tenant_filter(&q, p))
		rc = list(s, DELIVERIES, &q, skip, limit, items, total, "delivery list");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_delivery_next(struct store *s, const char *webhook_id, json_t **out)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	if (BSON_APPEND_UTF8(&q, "webhook_id", webhook_id) && BSON_APPEND_UTF8(&q, "status", "pending") &&
	    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort) && BSON_APPEND_INT32(&sort, "seq", 1) &&
	    BSON_APPEND_INT32(&sort, "created_ms", 1) && bson_append_document_end(&opts, &sort))
		rc = store_mongo_find_one_json(store_mongo_coll(s, DELIVERIES), &q, &opts, out,
					       "delivery next");
	bson_destroy(&opts);
	bson_destroy(&q);
	if (rc == API_ERR_NOT_FOUND) {
		*out = NULL;
		rc = API_OK;
	}
	return rc;
}

enum api_err store_mongo_delivery_update(struct store *s, const char *id, json_t *set)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;
	int64_t matched = 0;

	if (BSON_APPEND_UTF8(&q, "_id", id))
		rc = update_one(s, DELIVERIES, &q, set, &matched, "delivery update");
	bson_destroy(&q);
	return rc == API_OK && matched == 0 ? API_ERR_NOT_FOUND : rc;
}
