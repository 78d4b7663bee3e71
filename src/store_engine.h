/*
 * store_engine: the table of functions every storage engine fills in, as
 * curl keeps its TLS backends behind one struct. store.c chooses the
 * engine from the configuration and dispatches each public store_* call
 * (store.h, store_databases.h) through it; handlers, jobs and tools never
 * see an engine. Only the engine files (store_mongo*.c, store_sqlite*.c)
 * include their library, through store_mongo.h or store_sqlite.h.
 *
 * Every engine handle begins with a struct store, so an engine turns the
 * public handle into its own by a cast of the pointer. The contracts of the
 * functions are those of the public prototypes of the same name.
 */
#ifndef DBAUDIT_STORE_ENGINE_H
#define DBAUDIT_STORE_ENGINE_H

#include "store.h"
#include "store_databases.h"
#include "store_policies.h"
#include "store_webhooks.h"

struct store_engine;
struct store_counts;

/* The head of every engine's handle. */
struct store {
	const struct store_engine *engine;
	uint64_t calls;     /* engine round trips (queries) so far, for tests and bench */
	struct store_counts *counts;  /* totals of event lists; store.c, NULL until used */
};

/*
 * The per-process cache of list totals both engines keep: the count of
 * filter key as counted at events version (v1, v2). store_counts_get finds
 * it only while the version is the same (no event stored or invalidated
 * since), so a total from it is exact; the engine reads the version before
 * it counts, so an entry is never newer than its version says.
 */
bool store_counts_get(struct store *s, const char *key, int64_t v1, int64_t v2, int64_t *n);
void store_counts_put(struct store *s, const char *key, int64_t v1, int64_t v2, int64_t n);

struct store_engine {
	const char *name;   /* "sqlite", "mongodb" */

	/* target: the engine's part of the store setting (a path, a URI). */
	enum api_err (*open)(const struct config *cfg, const char *target, struct store **out,
			     const char **why);
	void (*free)(struct store *s);
	void (*reset)(struct store *s);
	enum api_err (*ping)(struct store *s);
	enum api_err (*migrate)(struct store *s);
	enum api_err (*backup)(struct store *s, const char *path);

	enum api_err (*key_insert)(struct store *s, const struct key_record *k);
	enum api_err (*key_get)(struct store *s, const char *key_id, struct key_record *out);
	enum api_err (*key_list)(struct store *s, const char *tenant,
				 void (*cb)(const struct key_record *k, void *arg), void *arg);
	enum api_err (*key_revoke)(struct store *s, const char *key_id);
	enum api_err (*key_touch)(struct store *s, const char *key_id, int64_t ms);

	enum api_err (*events_check_databases)(struct store *s, struct event_in *ev, size_t n,
					       size_t *bad);
	enum api_err (*events_insert)(struct store *s, struct event_in *ev, size_t n,
				      int64_t now_ms, int64_t lease_ms);
	enum api_err (*events_list)(struct store *s, const struct principal *p,
				    const struct event_filter *f, const char *sort_field,
				    bool ascending, int64_t skip, int64_t limit, json_t **items,
				    int64_t *total);
	enum api_err (*events_after)(struct store *s, const struct principal *p,
				     const struct event_filter *f, int64_t after, int64_t upto,
				     int64_t limit, json_t **items, bool *has_more);
	enum api_err (*events_after_all)(struct store *s, int64_t after, int64_t upto,
					 int64_t limit, json_t **items, bool *has_more);
	enum api_err (*events_watermark)(struct store *s, int64_t lease_ms, int64_t now_ms,
					 int max_steps, int64_t *w);
	enum api_err (*events_allocate)(struct store *s, int64_t n, int64_t *lo, int64_t *hi);
	enum api_err (*events_allocated)(struct store *s, int64_t *seq);
	enum api_err (*events_invalidate)(struct store *s);
	enum api_err (*events_gc)(struct store *s);
	enum api_err (*events_scan)(struct store *s, const char *tenant, int64_t after,
				    int64_t limit, json_t **items);
	enum api_err (*events_import)(struct store *s, struct event_in *ev,
				      const int64_t *processed_ms, size_t n);
	enum api_err (*events_get)(struct store *s, const struct principal *p, const char *id,
				   json_t **doc);
	enum api_err (*events_session)(struct store *s, const struct principal *p, const char *id,
				       const char *session_id, size_t max, json_t **ids);
	enum api_err (*events_summary)(struct store *s, const struct principal *p,
				       const struct event_filter *f, struct event_summary *out);

	enum api_err (*database_name)(struct store *s, const struct principal *p,
				      const char *db_id, char *out, size_t outlen);
	enum api_err (*database_insert)(struct store *s, const char *id, const char *tenant,
					json_t *set, json_t *secrets, int64_t now_ms, json_t **out);
	enum api_err (*database_get)(struct store *s, const struct principal *p, const char *id,
				     json_t **out);
	enum api_err (*database_list)(struct store *s, const struct principal *p,
				      const struct store_database_filter *f, json_t **items,
				      int64_t *total);
	enum api_err (*database_update)(struct store *s, const struct principal *p, const char *id,
					json_t *set, json_t *secrets_set, json_t *secrets_unset,
					int64_t now_ms, json_t **out);
	enum api_err (*database_check_unique)(struct store *s, const char *tenant, const char *host,
					      int64_t port, const char *database, const char *id);
	enum api_err (*database_delete)(struct store *s, const struct principal *p, const char *id);
	enum api_err (*policies_disable_for_database)(struct store *s, const char *tenant,
						      const char *id, int64_t now_ms, int64_t *n);
	enum api_err (*database_set_test)(struct store *s, const char *tenant, const char *id,
					  const char *status, json_t *result, int64_t now_ms);
	enum api_err (*database_heartbeat)(struct store *s, const struct principal *p,
					   const char *id, json_t *hb, int64_t now_ms, json_t **out);
	enum api_err (*database_stats)(struct store *s, const struct principal *p, const char *id,
				       int64_t now_ms, struct dbrec_stats *out);
	enum api_err (*database_last_event)(struct store *s, const struct principal *p,
					    const char *id, json_t **out);
	enum api_err (*database_last_event_times)(struct store *s, const struct principal *p,
						  json_t *ids, json_t **out);
	enum api_err (*database_mark_stale)(struct store *s, int64_t before_ms, int64_t *n);
	enum api_err (*database_foreach)(struct store *s,
					 enum api_err (*cb)(json_t *rec, void *arg), void *arg);
	enum api_err (*database_import)(struct store *s, json_t *rec);
	enum api_err (*database_replace_secrets)(struct store *s, const char *id, json_t *old,
						 json_t *secrets);

	/* policies and alerts (store_policies.h) */
	enum api_err (*policy_put)(struct store *s, const char *tenant, json_t *doc,
				   enum store_put_mode mode);
	enum api_err (*policy_get)(struct store *s, const char *tenant, const char *id,
				   json_t **doc);
	enum api_err (*policy_delete)(struct store *s, const char *tenant, const char *id);
	enum api_err (*policy_list)(struct store *s, const char *tenant, json_t **items);
	enum api_err (*alert_record)(struct store *s, json_t *alert, const char *open_key,
				     bool *absorbed);
	enum api_err (*alert_get)(struct store *s, const struct principal *p, const char *id,
				  json_t **doc);
	enum api_err (*alert_list)(struct store *s, const struct principal *p,
				   const struct store_alert_filter *f, json_t **items, int64_t *total);
	enum api_err (*alert_update)(struct store *s, const char *tenant, const char *id,
				     const char *from_status, json_t *set, bool close, json_t **out);
	/* store_webhooks.h */
	enum api_err (*webhook_insert)(struct store *s, json_t *doc);
	enum api_err (*webhook_get)(struct store *s, const struct principal *p, const char *id,
				    json_t **out);
	enum api_err (*webhook_list)(struct store *s, const struct principal *p, int64_t skip,
				     int64_t limit, json_t **items, int64_t *total);
	enum api_err (*webhook_update)(struct store *s, const struct principal *p, const char *id,
				       json_t *set, json_t **out);
	enum api_err (*webhook_delete)(struct store *s, const struct principal *p, const char *id);
	enum api_err (*webhook_active)(struct store *s, json_t **items);
	enum api_err (*webhook_lease)(struct store *s, const char *id, const char *owner,
				      int64_t now_ms, int64_t until_ms);
	enum api_err (*webhook_advance)(struct store *s, const char *id, const char *owner,
					int64_t position);
	enum api_err (*delivery_insert)(struct store *s, json_t *doc);
	enum api_err (*delivery_get)(struct store *s, const struct principal *p,
				     const char *webhook_id, const char *id, json_t **out);
	enum api_err (*delivery_list)(struct store *s, const struct principal *p,
				      const char *webhook_id, const char *status, int64_t skip,
				      int64_t limit, json_t **items, int64_t *total);
	enum api_err (*delivery_next)(struct store *s, const char *webhook_id, json_t **out);
	enum api_err (*delivery_update)(struct store *s, const char *id, json_t *set);
};

extern const struct store_engine store_mongo_engine;
extern const struct store_engine store_sqlite_engine;

/* Counts one engine round trip on s (STORE_CALL_COUNT in tests and bench). */
static inline void store_count_call(struct store *s)
{
	s->calls++;
}

#endif
