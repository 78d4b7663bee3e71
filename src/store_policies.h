/*
 * store_policies: the policies and alerts collections (CONTRACT §6).
 * Public (no engine types): the policy and alert handlers and the ingest
 * evaluation call these. Documents are JSON with dates as RFC 3339 strings.
 *
 * A policy is stored under the key "<tenant>/<policy id>" (tenant_id and
 * id are fields of the document too), so a built-in policy's per-tenant
 * settings live beside the tenant's own policies under the same public id
 * in every tenant.
 */
#ifndef DBAUDIT_STORE_POLICIES_H
#define DBAUDIT_STORE_POLICIES_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"

struct store;
struct principal;

enum store_put_mode { STORE_PUT_CREATE, STORE_PUT_REPLACE, STORE_PUT_UPSERT };

/*
 * Writes policy doc (with "id", "enabled" and "database_ids") of tenant.
 * CREATE: API_ERR_CONFLICT when the id exists; REPLACE: API_ERR_NOT_FOUND
 * when it does not; UPSERT: either.
 */
enum api_err store_policy_put(struct store *s, const char *tenant, json_t *doc,
			      enum store_put_mode mode);

/* Policy id of tenant as stored (a new object), or API_ERR_NOT_FOUND. */
enum api_err store_policy_get(struct store *s, const char *tenant, const char *id, json_t **doc);

/* Deletes policy id of tenant; API_ERR_NOT_FOUND when there is none. */
enum api_err store_policy_delete(struct store *s, const char *tenant, const char *id);

/* Every stored policy of tenant (a new array, in no particular order). */
enum api_err store_policy_list(struct store *s, const char *tenant, json_t **items);

/* The filters of GET /v1/alerts; NULL: unused. */
struct store_alert_filter {
	const char *status, *severity, *database_id, *policy_id;
	int64_t skip, limit;
};

/*
 * Records a match of an alert policy. alert is the new alert document (with
 * _id, tenant_id, status "open", count 1, first/last_seen_at, created_at);
 * open_key identifies policy, database and user in the tenant. When an open
 * or acknowledged alert has the same open_key, that alert absorbs the match
 * instead (count + 1, last_seen_at and updated_at = last_seen), and *absorbed
 * is true. Safe when workers record the same key concurrently: one alert.
 */
enum api_err store_alert_record(struct store *s, json_t *alert, const char *open_key,
				bool *absorbed);

/* The principal's alert id (a new object), or API_ERR_NOT_FOUND. */
enum api_err store_alert_get(struct store *s, const struct principal *p, const char *id,
			     json_t **doc);

/* One page of the principal's alerts matching f, newest first, and the total. */
enum api_err store_alert_list(struct store *s, const struct principal *p,
			      const struct store_alert_filter *f, json_t **items, int64_t *total);

/*
 * Sets the fields of set on alert id of tenant if its status is still
 * from_status (API_ERR_CONFLICT otherwise, API_ERR_NOT_FOUND when there is
 * no such alert). close: the alert leaves the open set (its open_key is
 * released, so the next match opens a new alert). *out: the new document.
 */
enum api_err store_alert_update(struct store *s, const char *tenant, const char *id,
				const char *from_status, json_t *set, bool close, json_t **out);

#endif
