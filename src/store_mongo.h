/*
 * store_mongo: what the MongoDB engine's files (store_mongo*.c) share.
 * Nothing else includes this header (it pulls in mongoc). The engine's
 * entry points are the store_engine functions of the same names with the
 * store_mongo_ prefix; store_mongo.c holds the table.
 */
#ifndef DBAUDIT_STORE_MONGO_H
#define DBAUDIT_STORE_MONGO_H

#include <jansson.h>
#include <mongoc/mongoc.h>

#include "store_engine.h"

struct principal;

#define STORE_MAX_COLLECTIONS 32

struct store_mongo {
	struct store base;                  /* first: the public handle */
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
};

/* One index of the MongoDB engine (store_mongo_migrate.c has the table). */
struct store_mongo_index {
	const char *collection;
	const char *name;
	const char *keys;   /* JSON, in key order */
	bool unique;
};

/* The indexes migrate creates (tests check every query shape against them). */
const struct store_mongo_index *store_mongo_indexes(size_t *n);

/* The engine's handle behind the public one. */
static inline struct store_mongo *store_mongo_of(struct store *s)
{
	return (struct store_mongo *)s;
}

/* A collection handle, created on first use and kept for the process. */
mongoc_collection_t *store_mongo_coll(struct store *s, const char *name);

/*
 * Translates a mongoc error into an api_err and logs it once with what was
 * being done (never with a document's contents).
 */
enum api_err store_mongo_error(const bson_error_t *err, const char *what);

/*
 * Appends the tenant filter of p to q: tenant_id: {$in: [p's tenants]}.
 * Every query that reads tenant data goes through this function.
 */
bool store_mongo_append_tenant_filter(bson_t *q, const struct principal *p);

/* Options document {writeConcern: ...} for writes that must be durable. */
bool store_mongo_append_write_concern(struct store *s, bson_t *opts);

/*
 * BSON to JSON for responses: dates become RFC 3339 strings, types the API
 * never stores are skipped. Returns a new reference or NULL.
 */
json_t *store_mongo_bson_to_json(const bson_t *doc);
json_t *store_mongo_iter_to_json(bson_iter_t *it);

/*
 * Appends JSON value v under key. Keys inside v must already be sanitised
 * (no leading '$', no '.'); callers validate before they store.
 */
bool store_mongo_json_append(bson_t *b, const char *key, json_t *v);

/* Appends key: [v[0], ..., v[n-1]] (strings). */
bool store_mongo_append_str_array(bson_t *b, const char *key, const char *const *v, size_t n);

/*
 * Finds one document of coll by query (opts: sort, projection); *found
 * tells whether one exists and out (initialised by the call only when
 * found) holds a copy the caller destroys.
 */
enum api_err store_mongo_find_one(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			    bson_t *out, bool *found, const char *what);

/* The first document of a find as JSON in *out; API_ERR_NOT_FOUND when none. */
enum api_err store_mongo_find_one_json(mongoc_collection_t *coll, const bson_t *q,
				       const bson_t *opts, json_t **out, const char *what);

/* Runs a find and collects the documents as a new JSON array in *items. */
enum api_err store_mongo_find_json(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			     json_t **items, const char *what);

/*
 * The state of the events collection for caches: *version is the highest
 * allocated event block (it changes whenever events are stored or
 * store_events_invalidate runs), *settled whether every allocated block is
 * decided (no insert is in flight).
 */
enum api_err store_mongo_events_version(struct store *s, int64_t *version, bool *settled);

/* An integer field (int32, int64 or double) of doc, 0 when absent. */
int64_t store_mongo_get_int(const bson_t *doc, const char *field);

/* A date field of doc in ms since the epoch, 0 when absent. */
int64_t store_mongo_get_date(const bson_t *doc, const char *field);

/* A string field of doc (borrowed from doc), NULL when absent. */
const char *store_mongo_get_str(const bson_t *doc, const char *field);

/* The engine's entry points (contracts: store.h, store_databases.h). */
enum api_err store_mongo_open(const struct config *cfg, const char *target, struct store **out,
			      const char **why);
void store_mongo_free(struct store *s);
void store_mongo_reset(struct store *s);
enum api_err store_mongo_ping(struct store *s);
enum api_err store_mongo_migrate(struct store *s);
enum api_err store_mongo_backup(struct store *s, const char *path);
enum api_err store_mongo_key_insert(struct store *s, const struct key_record *k);
enum api_err store_mongo_key_get(struct store *s, const char *key_id, struct key_record *out);
enum api_err store_mongo_key_list(struct store *s, const char *tenant,
				  void (*cb)(const struct key_record *k, void *arg), void *arg);
enum api_err store_mongo_key_revoke(struct store *s, const char *key_id);
enum api_err store_mongo_key_touch(struct store *s, const char *key_id, int64_t ms);
enum api_err store_mongo_events_check_databases(struct store *s, struct event_in *ev, size_t n,
						size_t *bad);
enum api_err store_mongo_events_insert(struct store *s, struct event_in *ev, size_t n,
				       int64_t now_ms, int64_t lease_ms);
enum api_err store_mongo_events_list(struct store *s, const struct principal *p,
				     const struct event_filter *f, const char *sort_field,
				     bool ascending, int64_t skip, int64_t limit, json_t **items,
				     int64_t *total);
enum api_err store_mongo_events_after(struct store *s, const struct principal *p,
				      const struct event_filter *f, int64_t after, int64_t upto,
				      int64_t limit, json_t **items, bool *has_more);
enum api_err store_mongo_events_after_all(struct store *s, int64_t after, int64_t upto,
					int64_t limit, json_t **items, bool *has_more);
enum api_err store_mongo_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
					  int max_steps, int64_t *w);
enum api_err store_mongo_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi);
enum api_err store_mongo_events_allocated(struct store *s, int64_t *seq);
enum api_err store_mongo_events_invalidate(struct store *s);
enum api_err store_mongo_events_gc(struct store *s);
enum api_err store_mongo_events_scan(struct store *s, const char *tenant, int64_t after,
				int64_t limit, json_t **items);
enum api_err store_mongo_events_import(struct store *s, struct event_in *ev,
				  const int64_t *processed_ms, size_t n);
enum api_err store_mongo_database_import(struct store *s, json_t *rec);
enum api_err store_mongo_events_get(struct store *s, const struct principal *p, const char *id,
				    json_t **doc);
enum api_err store_mongo_events_session(struct store *s, const struct principal *p, const char *id,
					const char *session_id, size_t max, json_t **ids);
enum api_err store_mongo_events_summary(struct store *s, const struct principal *p,
					const struct event_filter *f, struct event_summary *out);
enum api_err store_mongo_database_name(struct store *s, const struct principal *p,
				       const char *db_id, char *out, size_t outlen);
enum api_err store_mongo_database_insert(struct store *s, const char *id, const char *tenant,
					 json_t *set, json_t *secrets, int64_t now_ms,
					 json_t **out);
enum api_err store_mongo_database_get(struct store *s, const struct principal *p, const char *id,
				      json_t **out);
enum api_err store_mongo_database_list(struct store *s, const struct principal *p,
				       const struct store_database_filter *f, json_t **items,
				       int64_t *total);
enum api_err store_mongo_database_update(struct store *s, const struct principal *p, const char *id,
					 json_t *set, json_t *secrets_set, json_t *secrets_unset,
					 int64_t now_ms, json_t **out);
enum api_err store_mongo_database_check_unique(struct store *s, const char *tenant,
					       const char *host, int64_t port, const char *database,
					       const char *id);
enum api_err store_mongo_database_delete(struct store *s, const struct principal *p,
					 const char *id);
enum api_err store_mongo_policies_disable_for_database(struct store *s, const char *tenant,
						       const char *id, int64_t now_ms, int64_t *n);
enum api_err store_mongo_database_set_test(struct store *s, const char *tenant, const char *id,
					   const char *status, json_t *result, int64_t now_ms);
enum api_err store_mongo_database_heartbeat(struct store *s, const struct principal *p,
					    const char *id, json_t *hb, int64_t now_ms,
					    json_t **out);
enum api_err store_mongo_database_stats(struct store *s, const struct principal *p, const char *id,
					int64_t now_ms, struct dbrec_stats *out);
enum api_err store_mongo_database_last_event(struct store *s, const struct principal *p,
					     const char *id, json_t **out);
enum api_err store_mongo_database_last_event_times(struct store *s, const struct principal *p,
						   json_t *ids, json_t **out);
enum api_err store_mongo_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n);
enum api_err store_mongo_database_foreach(struct store *s, enum api_err (*cb)(json_t *rec,
					  void *arg), void *arg);
enum api_err store_mongo_database_replace_secrets(struct store *s, const char *id, json_t *old,
						  json_t *secrets);

/* policies and alerts (store_mongo_policies.c) */
enum api_err store_mongo_policy_put(struct store *s, const char *tenant, json_t *doc,
				 enum store_put_mode mode);
enum api_err store_mongo_policy_get(struct store *s, const char *tenant, const char *id, json_t **doc);
enum api_err store_mongo_policy_delete(struct store *s, const char *tenant, const char *id);
enum api_err store_mongo_policy_list(struct store *s, const char *tenant, json_t **items);
enum api_err store_mongo_alert_record(struct store *s, json_t *alert, const char *open_key,
				   bool *absorbed);
enum api_err store_mongo_alert_get(struct store *s, const struct principal *p, const char *id,
				json_t **doc);
enum api_err store_mongo_alert_list(struct store *s, const struct principal *p,
				 const struct store_alert_filter *f, json_t **items, int64_t *total);
enum api_err store_mongo_alert_update(struct store *s, const char *tenant, const char *id,
				   const char *from_status, json_t *set, bool close, json_t **out);
/* store_webhooks.h */
enum api_err store_mongo_webhook_insert(struct store *s, json_t *doc);
enum api_err store_mongo_webhook_get(struct store *s, const struct principal *p, const char *id,
				     json_t **out);
enum api_err store_mongo_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				      int64_t limit, json_t **items, int64_t *total);
enum api_err store_mongo_webhook_update(struct store *s, const struct principal *p, const char *id,
					json_t *set, json_t **out);
enum api_err store_mongo_webhook_delete(struct store *s, const struct principal *p,
					const char *id);
enum api_err store_mongo_webhook_active(struct store *s, json_t **items);
enum api_err store_mongo_webhook_lease(struct store *s, const char *id, const char *owner,
				       int64_t now_ms, int64_t until_ms);
enum api_err store_mongo_webhook_advance(struct store *s, const char *id, const char *owner,
					 int64_t position);
enum api_err store_mongo_delivery_insert(struct store *s, json_t *doc);
enum api_err store_mongo_delivery_get(struct store *s, const struct principal *p,
				      const char *webhook_id, const char *id, json_t **out);
enum api_err store_mongo_delivery_list(struct store *s, const struct principal *p,
				       const char *webhook_id, const char *status, int64_t skip,
				       int64_t limit, json_t **items, int64_t *total);
enum api_err store_mongo_delivery_next(struct store *s, const char *webhook_id, json_t **out);
enum api_err store_mongo_delivery_update(struct store *s, const char *id, json_t *set);

#endif
