/*
 * store_internal: what store_*.c files share. Nothing outside store_*.c
 * includes this header (it pulls in mongoc).
 */
#ifndef DBAUDIT_STORE_INTERNAL_H
#define DBAUDIT_STORE_INTERNAL_H

#include <jansson.h>
#include <mongoc/mongoc.h>

#include "store.h"

struct principal;

#define STORE_MAX_COLLECTIONS 32

struct store {
	mongoc_client_t *client;            /* NULL only if store_reset failed */
	mongoc_uri_t *uri;                  /* kept to recreate the client */
	mongoc_database_t *db;
	mongoc_write_concern_t *wc;         /* the configured durable write concern */
	char *dbname;
	struct {
		const char *name;           /* static string */
		mongoc_collection_t *coll;
	} colls[STORE_MAX_COLLECTIONS];
	size_t ncolls;
	struct event_counts *event_counts;  /* owned, store_events.c; NULL until used */
};

/* A collection handle, created on first use and kept for the process. */
mongoc_collection_t *store_coll(struct store *s, const char *name);

/*
 * Translates a mongoc error into an api_err and logs it once with what was
 * being done (never with a document's contents).
 */
enum api_err store_error(const bson_error_t *err, const char *what);

/*
 * Appends the tenant filter of p to q: tenant_id: {$in: [p's tenants]}.
 * Every query that reads tenant data goes through this function.
 */
bool store_append_tenant_filter(bson_t *q, const struct principal *p);

/* Options document {writeConcern: ...} for writes that must be durable. */
bool store_append_write_concern(struct store *s, bson_t *opts);

/*
 * BSON to JSON for responses: dates become RFC 3339 strings, types the API
 * never stores are skipped. Returns a new reference or NULL.
 */
json_t *store_bson_to_json(const bson_t *doc);
json_t *store_iter_to_json(bson_iter_t *it);

/*
 * Appends JSON value v under key. Keys inside v must already be sanitised
 * (no leading '$', no '.'); callers validate before they store.
 */
bool store_json_append(bson_t *b, const char *key, json_t *v);

/* Appends key: [v[0], ..., v[n-1]] (strings). */
bool store_append_str_array(bson_t *b, const char *key, const char *const *v, size_t n);

/*
 * Finds one document of coll by query (opts: sort, projection); *found
 * tells whether one exists and out (initialised by the call only when
 * found) holds a copy the caller destroys.
 */
enum api_err store_find_one(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			    bson_t *out, bool *found, const char *what);

/* Runs a find and collects the documents as a new JSON array in *items. */
enum api_err store_find_json(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			     json_t **items, const char *what);

/*
 * The state of the events collection for caches: *version is the highest
 * allocated event block (it changes whenever events are stored or
 * store_events_invalidate runs), *settled whether every allocated block is
 * decided (no insert is in flight).
 */
enum api_err store_events_version(struct store *s, int64_t *version, bool *settled);

/* Frees the event count cache of a store. */
void store_events_counts_free(struct event_counts *c);

/* An integer field (int32, int64 or double) of doc, 0 when absent. */
int64_t store_get_int(const bson_t *doc, const char *field);

#endif
