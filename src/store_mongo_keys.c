/*
 * store_keys: the api_keys collection. A key document holds the SHA-256 of
 * the key, never the key.
 */
#include "store_mongo.h"

#include <stdio.h>
#include <string.h>

#define KEYS "api_keys"

static bool append_scopes(bson_t *doc, unsigned scopes)
{
	bson_t arr;
	char idx[16];
	const char *key;
	uint32_t n = 0;
	bool ok = BSON_APPEND_ARRAY_BEGIN(doc, "scopes", &arr);

	for (unsigned bit = 1; bit & SCOPE_ALL; bit <<= 1) {
		if (!(scopes & bit))
			continue;
		bson_uint32_to_string(n++, &key, idx, sizeof(idx));
		ok &= bson_append_utf8(&arr, key, -1, principal_scope_name(bit), -1);
	}
	return ok && bson_append_array_end(doc, &arr);
}

enum api_err store_mongo_key_insert(struct store *s, const struct key_record *k)
{
	bson_t doc = BSON_INITIALIZER, arr, opts = BSON_INITIALIZER;
	bson_error_t err;
	char idx[16];
	const char *key;
	enum api_err rc = API_OK;

	BSON_APPEND_UTF8(&doc, "_id", k->key_id);
	BSON_APPEND_UTF8(&doc, "key_id", k->key_id);
	BSON_APPEND_UTF8(&doc, "hash", k->hash);
	BSON_APPEND_ARRAY_BEGIN(&doc, "tenants", &arr);
	for (size_t i = 0; i < k->ntenants; i++) {
		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		bson_append_utf8(&arr, key, -1, k->tenants[i], -1);
	}
	bson_append_array_end(&doc, &arr);
	append_scopes(&doc, k->scopes);
	BSON_APPEND_UTF8(&doc, "plan", principal_plan_name(k->plan));
	BSON_APPEND_UTF8(&doc, "name", k->name);
	BSON_APPEND_DATE_TIME(&doc, "created", k->created_ms);
	if (k->expires_ms)
		BSON_APPEND_DATE_TIME(&doc, "expires", k->expires_ms);
	BSON_APPEND_BOOL(&doc, "revoked", false);
	store_mongo_append_write_concern(s, &opts);
	if (!mongoc_collection_insert_one(store_mongo_coll(s, KEYS), &doc, &opts, NULL, &err))
		rc = store_mongo_error(&err, "api key insert");
	bson_destroy(&opts);
	bson_destroy(&doc);
	return rc;
}

static void copy_str(const bson_t *doc, const char *field, char *out, size_t size)
{
	bson_iter_t it;

	out[0] = '\0';
	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_UTF8(&it))
		snprintf(out, size, "%s", bson_iter_utf8(&it, NULL));
}

static void key_from_bson(const bson_t *doc, struct key_record *k)
{
	bson_iter_t it, child;
	char plan[16];

	memset(k, 0, sizeof(*k));
	copy_str(doc, "key_id", k->key_id, sizeof(k->key_id));
	copy_str(doc, "hash", k->hash, sizeof(k->hash));
	copy_str(doc, "name", k->name, sizeof(k->name));
	copy_str(doc, "plan", plan, sizeof(plan));
	k->plan = principal_plan_parse(plan) < 0 ? PLAN_FREE : (enum plan)principal_plan_parse(plan);
	if (bson_iter_init_find(&it, doc, "tenants") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &child)) {
		while (bson_iter_next(&child) && k->ntenants < PRINCIPAL_MAX_TENANTS)
			if (BSON_ITER_HOLDS_UTF8(&child))
				snprintf(k->tenants[k->ntenants++], sizeof(k->tenants[0]), "%s",
					 bson_iter_utf8(&child, NULL));
	}
	if (bson_iter_init_find(&it, doc, "scopes") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &child)) {
		while (bson_iter_next(&child))
			if (BSON_ITER_HOLDS_UTF8(&child))
				k->scopes |= principal_scope_bit(bson_iter_utf8(&child, NULL));
	}
	k->created_ms = store_mongo_get_date(doc, "created");
	k->expires_ms = store_mongo_get_date(doc, "expires");
	k->last_used_ms = store_mongo_get_date(doc, "last_used");
	k->revoked = bson_iter_init_find(&it, doc, "revoked") && bson_iter_as_bool(&it);
}

enum api_err store_mongo_key_get(struct store *s, const char *key_id, struct key_record *out)
{
	bson_t q = BSON_INITIALIZER;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	enum api_err rc = API_ERR_NOT_FOUND;

	BSON_APPEND_UTF8(&q, "_id", key_id);
	cur = mongoc_collection_find_with_opts(store_mongo_coll(s, KEYS), &q, NULL, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		key_from_bson(doc, out);
		rc = API_OK;
	} else if (mongoc_cursor_error(cur, &err)) {
		rc = store_mongo_error(&err, "api key lookup");
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_key_list(struct store *s, const char *tenant,
			    void (*cb)(const struct key_record *k, void *arg), void *arg)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	struct key_record k;
	enum api_err rc = API_OK;

	if (tenant != NULL)
		BSON_APPEND_UTF8(&q, "tenants", tenant);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "created", 1);
	BSON_APPEND_INT32(&sort, "_id", 1);
	bson_append_document_end(&opts, &sort);
	cur = mongoc_collection_find_with_opts(store_mongo_coll(s, KEYS), &q, &opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		key_from_bson(doc, &k);
		cb(&k, arg);
	}
	if (mongoc_cursor_error(cur, &err))
		rc = store_mongo_error(&err, "api key list");
	mongoc_cursor_destroy(cur);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

static enum api_err key_update(struct store *s, const char *key_id, bson_t *extra_q,
			       bson_t *update, bool durable, const char *what)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	bson_iter_t it;
	enum api_err rc = API_OK;

	BSON_APPEND_UTF8(&q, "_id", key_id);
	if (extra_q != NULL)
		bson_concat(&q, extra_q);
	if (durable)
		store_mongo_append_write_concern(s, &opts);
	if (!mongoc_collection_update_one(store_mongo_coll(s, KEYS), &q, update, &opts, &reply, &err))
		rc = store_mongo_error(&err, what);
	else if (extra_q == NULL && bson_iter_init_find(&it, &reply, "matchedCount") &&
		 bson_iter_as_int64(&it) == 0)
		rc = API_ERR_NOT_FOUND;
	bson_destroy(&reply);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_key_revoke(struct store *s, const char *key_id)
{
	bson_t update = BSON_INITIALIZER, set;
	enum api_err rc;

	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_BOOL(&set, "revoked", true);
	bson_append_document_end(&update, &set);
	rc = key_update(s, key_id, NULL, &update, true, "api key revoke");
	bson_destroy(&update);
	return rc;
}

enum api_err store_mongo_key_touch(struct store *s, const char *key_id, int64_t ms)
{
	bson_t update = BSON_INITIALIZER, set, extra = BSON_INITIALIZER, or, a, b, lt;
	enum api_err rc;

	/* Only move last_used forward: several workers flush the same key. */
	BSON_APPEND_ARRAY_BEGIN(&extra, "$or", &or);
	BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
	BSON_APPEND_NULL(&a, "last_used");
	bson_append_document_end(&or, &a);
	BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
	BSON_APPEND_DOCUMENT_BEGIN(&b, "last_used", &lt);
	BSON_APPEND_DATE_TIME(&lt, "$lt", ms);
	bson_append_document_end(&b, &lt);
	bson_append_document_end(&or, &b);
	bson_append_array_end(&extra, &or);
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
	BSON_APPEND_DATE_TIME(&set, "last_used", ms);
	bson_append_document_end(&update, &set);
	rc = key_update(s, key_id, &extra, &update, false, "api key touch");
	bson_destroy(&update);
	bson_destroy(&extra);
	return rc;
}
