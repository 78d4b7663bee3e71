/*
 * policy_eval: policies at ingest (CONTRACT §6 and §9). Each worker keeps
 * its tenants' policies compiled in a cache (struct policy_cache, owned by
 * struct app) and reloads a tenant's set from the store when it is older
 * than POLICY_CACHE_TTL_MS: a change is in force on every worker within
 * that bound (docs/policies.md). Evaluation derives events that the same
 * store write as the batch stores; alerts are recorded once that write is
 * done, for the derived events it stored (not for duplicates).
 */
#ifndef DBAUDIT_POLICY_EVAL_H
#define DBAUDIT_POLICY_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"

struct app;
struct store;
struct event_in;
struct policy_cache;

/* Frees the cache; NULL is a no-op. */
void policy_cache_free(struct policy_cache *pc);

/* Drops tenant's compiled set from app's cache (after this worker changed it). */
void policy_cache_forget(struct app *app, const char *tenant);

/*
 * Every policy of tenant as documents (a new array): the built-ins first,
 * in detect_policies order (each with the tenant's stored settings, else
 * its defaults), then the tenant's own by created_at and id.
 */
enum api_err policy_tenant_docs(struct store *s, const char *tenant, json_t **out);

/*
 * How many built-in policies of tenant run with their defaults (enabled, on
 * every database) because the tenant never changed them: the databases API
 * adds them to the stored policies it counts in policies_active.
 */
enum api_err policy_builtins_default(struct store *s, const char *tenant, int64_t *n);

/*
 * Evaluates events (*ev)[0..n) (validated, before the store write) against
 * their tenants' enabled policies and the built-in detectors, on the
 * statements as sent. Derived events are appended to *ev (reallocated;
 * *total becomes n plus their number); they carry ids derived from the
 * source event and the policy, so a retried or racing batch stores each
 * at most once. Derived events and events of type policy.* trigger nothing.
 */
enum api_err policy_eval_batch(struct app *app, struct event_in **ev, size_t n, size_t *total);

/*
 * The store write of a batch and its derived events (ev[0..total)): one
 * store_events_insert when they fit EVENT_MAX_BATCH (the common case), else
 * the batch with the first derived events, then the rest in further writes
 * of at most EVENT_MAX_BATCH. Errors as store_events_insert (a retry with
 * the same external_ids stores nothing twice, derived events included).
 */
enum api_err policy_eval_store(struct store *s, struct event_in *ev, size_t total, int64_t now_ms,
			       int64_t lease_ms);

/*
 * After the store write: opens or absorbs an alert for each derived event
 * of an alert policy that the write stored (ev[n..total), duplicates
 * skipped).
 */
enum api_err policy_eval_alerts(struct app *app, struct event_in *ev, size_t n, size_t total);

#endif
