/*
 * store_webhooks: webhooks and their deliveries (CONTRACT §6, Webhooks;
 * docs/webhooks.md). Public (no engine types): the webhooks API and the
 * background worker's sender call these.
 *
 * A webhook is its JSON document (_id, tenant_id, url, events, secret as a
 * sealed value, status, created_at, updated_at as RFC 3339 strings) plus
 * the sender's state, which only the sender changes: position (the commit
 * sequence up to which matching events have deliveries), lease_owner and
 * lease_until_ms (the worker that holds the webhook: only it sends its
 * deliveries, so two workers never send the same attempt).
 *
 * A delivery (whd_ id) is one event for one webhook: _id, webhook_id,
 * tenant_id, event_id, seq (commit sequence; 0 for a test), body (the
 * exact payload), status (pending|delivered|failed), attempts,
 * last_status_code, last_error, next_attempt_at (+ next_ms), delivered_at,
 * created_at (+ created_ms).
 *
 * p NULL: any tenant (the sender); otherwise p's tenants only, and another
 * tenant's id is API_ERR_NOT_FOUND.
 */
#ifndef DBAUDIT_STORE_WEBHOOKS_H
#define DBAUDIT_STORE_WEBHOOKS_H

#include <stdint.h>

#include <jansson.h>

#include "api_err.h"

struct store;
struct principal;

/* Inserts webhook doc (with its position; no lease). */
enum api_err store_webhook_insert(struct store *s, json_t *doc);

/* Webhook id (with position, lease_owner, lease_until_ms). */
enum api_err store_webhook_get(struct store *s, const struct principal *p, const char *id,
			       json_t **out);

/* p's webhooks, newest first (created_at, then id); *total counts them all. */
enum api_err store_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				int64_t limit, json_t **items, int64_t *total);

/* Sets the fields of set on webhook id; *out (when not NULL) is the webhook after. */
enum api_err store_webhook_update(struct store *s, const struct principal *p, const char *id,
				  json_t *set, json_t **out);

/* Deletes webhook id and its deliveries. */
enum api_err store_webhook_delete(struct store *s, const struct principal *p, const char *id);

/* Every active webhook of every tenant, with its sender state, in id order. */
enum api_err store_webhook_active(struct store *s, json_t **items);

/*
 * Takes (or renews) the lease of webhook id for owner until until_ms when
 * nobody holds it at now_ms or owner already does: API_ERR_CONFLICT when
 * another owner holds it.
 */
enum api_err store_webhook_lease(struct store *s, const char *id, const char *owner,
				 int64_t now_ms, int64_t until_ms);

/* Moves the position of webhook id while owner holds it (API_ERR_CONFLICT otherwise). */
enum api_err store_webhook_advance(struct store *s, const char *id, const char *owner,
				   int64_t position);

/* Inserts delivery doc; API_ERR_CONFLICT when its id exists. */
enum api_err store_delivery_insert(struct store *s, json_t *doc);

/* Delivery id of webhook webhook_id. */
enum api_err store_delivery_get(struct store *s, const struct principal *p,
				const char *webhook_id, const char *id, json_t **out);

/* Deliveries of webhook_id (status NULL: any), newest first (created_ms, then id). */
enum api_err store_delivery_list(struct store *s, const struct principal *p,
				 const char *webhook_id, const char *status, int64_t skip,
				 int64_t limit, json_t **items, int64_t *total);

/* The pending delivery of webhook_id with the lowest seq, or *out NULL. */
enum api_err store_delivery_next(struct store *s, const char *webhook_id, json_t **out);

/* Sets the fields of set on delivery id. */
enum api_err store_delivery_update(struct store *s, const char *id, json_t *set);

#endif
