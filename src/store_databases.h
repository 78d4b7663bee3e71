/*
 * store_databases: the databases collection, and the counts and lookups
 * the databases API makes in events, alerts and policies. Public (no
 * mongoc types): handlers and dbaudit-admin call these. Records come back
 * as JSON with dates as RFC 3339 strings (see dbrec.h for the fields);
 * they include the sealed secrets, which only the handlers' allow-list
 * views keep out of responses.
 *
 * Every read, update and delete of a record filters on the principal's
 * tenants (store_append_tenant_filter): another tenant's id is
 * API_ERR_NOT_FOUND, exactly like an id that does not exist.
 */
#ifndef DBAUDIT_STORE_DATABASES_H
#define DBAUDIT_STORE_DATABASES_H

#include <stdint.h>

#include <jansson.h>

#include "api_err.h"
#include "dbrec.h"

struct store;
struct principal;

/*
 * Inserts a record: _id id, tenant_id tenant, the fields of set (already
 * validated), secrets (an object of sealed values, may be empty), status
 * pending, audit_status initializing, created_at = updated_at = now_ms.
 * API_ERR_CONFLICT when the tenant already has a record with the same
 * host, port and database. On success *out is the stored record.
 */
enum api_err store_database_insert(struct store *s, const char *id, const char *tenant,
				   json_t *set, json_t *secrets, int64_t now_ms, json_t **out);

/* The record id when it belongs to one of p's tenants; API_ERR_NOT_FOUND otherwise. */
enum api_err store_database_get(struct store *s, const struct principal *p, const char *id,
				json_t **out);

struct store_database_filter {
	const char *status;   /* NULL: any */
	const char *type;     /* NULL: any */
	json_t *tags;         /* borrowed array; records having any of them; NULL: any */
	int64_t skip;
	int64_t limit;
};

/*
 * Records of p's tenants matching f, newest first (created_at, then id),
 * and the number matching in all. *items is a new array.
 */
enum api_err store_database_list(struct store *s, const struct principal *p,
				 const struct store_database_filter *f, json_t **items,
				 int64_t *total);

/*
 * Updates record id of p's tenants: the fields of set (audit_options keys
 * are merged one by one into the stored object), the sealed secrets of
 * secrets_set (an object by name; may be NULL) and removes the secrets
 * named in secrets_unset (an array; may be NULL); updated_at = now_ms.
 * API_ERR_NOT_FOUND, API_ERR_CONFLICT (host/port/database taken). On
 * success *out is the record after the update.
 */
enum api_err store_database_update(struct store *s, const struct principal *p, const char *id,
				   json_t *set, json_t *secrets_set, json_t *secrets_unset,
				   int64_t now_ms, json_t **out);

/*
 * Whether tenant has a record other than id with this host, port and
 * database: API_ERR_CONFLICT if so, API_OK if not. (The unique index is
 * the guard; this check gives the 409 on stores that report a unique
 * violation of an update as a generic error, as FerretDB 1.24 does.)
 */
enum api_err store_database_check_unique(struct store *s, const char *tenant, const char *host,
					 int64_t port, const char *database, const char *id);

/*
 * Deletes record id of p's tenants (API_ERR_NOT_FOUND when there is none).
 * Events, alerts and other documents that name it stay.
 */
enum api_err store_database_delete(struct store *s, const struct principal *p, const char *id);

/*
 * Disables (enabled: false) the policies of tenant whose database_ids is
 * exactly [id]: policies that apply only to that database. *n gets how many.
 */
enum api_err store_policies_disable_for_database(struct store *s, const char *tenant,
						 const char *id, int64_t now_ms, int64_t *n);

/*
 * Records the outcome of a connection test on record id of tenant:
 * status, and last_test = result with "at" = now_ms.
 */
enum api_err store_database_set_test(struct store *s, const char *tenant, const char *id,
				     const char *status, json_t *result, int64_t now_ms);

/*
 * Stores a collector heartbeat (hb validated, received_at = now_ms) on
 * record id of p's tenants, sets status from it (dbrec_heartbeat_status)
 * and audit_status to active unless it is paused. *out is the record after.
 */
enum api_err store_database_heartbeat(struct store *s, const struct principal *p, const char *id,
				      json_t *hb, int64_t now_ms, json_t **out);

/* The counts of the detail view for record id (of p's tenants) at now_ms. */
enum api_err store_database_stats(struct store *s, const struct principal *p, const char *id,
				  int64_t now_ms, struct dbrec_stats *out);

/*
 * The newest event of record id (of p's tenants) by timestamp, as
 * {timestamp, type, severity, user}; *out NULL when it has none.
 */
enum api_err store_database_last_event(struct store *s, const struct principal *p, const char *id,
				       json_t **out);

/*
 * The timestamp of the newest event of each record of ids (an array of
 * record ids of p's tenants) in one query: *out is a new object from id to
 * RFC 3339 string, without the records that have no event. (The databases
 * list shows a page with a bounded number of store queries: issue 9.)
 */
enum api_err store_database_last_event_times(struct store *s, const struct principal *p,
					     json_t *ids, json_t **out);

/*
 * Marks connected records whose last heartbeat is older than before_ms as
 * disconnected. *n gets how many. (The background worker runs it.)
 */
enum api_err store_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n);

/*
 * Calls cb on every record of every tenant (for key rotation), in id
 * order. A cb result other than API_OK stops the walk and is returned.
 */
enum api_err store_database_foreach(struct store *s,
				    enum api_err (*cb)(json_t *rec, void *arg), void *arg);

/*
 * Stores an exported record as it is (its id, tenant, sealed secrets and
 * dates); a record already stored with that id is left as it is.
 */
enum api_err store_database_import(struct store *s, json_t *rec);

/*
 * Replaces the sealed secrets of record id with secrets (an object by
 * name), only if each secret of old still has the ciphertext it had
 * (an update in between wins): API_ERR_NOT_FOUND otherwise.
 */
enum api_err store_database_replace_secrets(struct store *s, const char *id, json_t *old,
					    json_t *secrets);

#endif
