/*
 * store: the storage interface. Two engines sit behind it (store_engine.h):
 * SQLite (store_sqlite*.c, the embedded default) and MongoDB
 * (store_mongo*.c; FerretDB in development); the configuration chooses
 * (store = sqlite:PATH or a mongodb:// URI). Only the engine files
 * include <sqlite3.h> or <mongoc.h>. Every function
 * returns API_OK or an api_err: API_ERR_UNAVAILABLE when the store cannot
 * be reached in time (the caller answers 503), API_ERR_CONFLICT on a
 * duplicate key, API_ERR_NOT_FOUND, API_ERR_INTERNAL otherwise. Library
 * errors are logged once, here, and never reach a client.
 */
#ifndef DBAUDIT_STORE_H
#define DBAUDIT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"
#include "principal.h"

struct config;
struct store;

/*
 * Creates a store handle for this process (call after fork). Connects
 * lazily, with the timeouts of the config. *why names a bad setting.
 */
enum api_err store_open(const struct config *cfg, struct store **out, const char **why);

/* Frees s; NULL is a no-op. */
void store_free(struct store *s);

/* The engine of s: "sqlite" or "mongodb". */
const char *store_engine_name(const struct store *s);

/* How many store functions s has served (each is at most a few queries):
 * tests and the bench count the cost of a request with it. */
uint64_t store_calls(const struct store *s);

/*
 * Drops the connection after a failure (API_ERR_UNAVAILABLE), so that the
 * next call reconnects immediately (instead of waiting out libmongoc's 5 s
 * cooldown, or keeping a SQLite handle on a file replaced meanwhile).
 * Every handle of s stays usable.
 */
void store_reset(struct store *s);

/* Round trip to the store. */
enum api_err store_ping(struct store *s);

/* Creates collections and indexes; idempotent. */
enum api_err store_migrate(struct store *s);

/*
 * Writes a consistent copy of the whole store to the new file path (mode
 * 0600) while the store stays in use: SQLite's online backup of one read
 * snapshot. API_ERR_INVALID_PARAMETER on engines without one (MongoDB:
 * use mongodump, or dbaudit-admin export).
 */
enum api_err store_backup(struct store *s, const char *path);

/* An API key as stored: never the key itself, only its SHA-256. */
struct key_record {
	char key_id[24];        /* "key_<16 hex>" */
	char hash[65];          /* SHA-256 hex of the whole token */
	char tenants[PRINCIPAL_MAX_TENANTS][PRINCIPAL_TENANT_MAX_LEN + 1];
	size_t ntenants;
	unsigned scopes;
	enum plan plan;
	char name[129];
	int64_t created_ms;
	int64_t expires_ms;     /* 0: never */
	int64_t last_used_ms;   /* 0: never */
	bool revoked;
};

enum api_err store_key_insert(struct store *s, const struct key_record *k);

/* API_ERR_NOT_FOUND when no key has that id. */
enum api_err store_key_get(struct store *s, const char *key_id, struct key_record *out);

/* Calls cb for each key (of tenant, unless NULL), oldest first. */
enum api_err store_key_list(struct store *s, const char *tenant,
			    void (*cb)(const struct key_record *k, void *arg), void *arg);

/* API_ERR_NOT_FOUND when no key has that id. */
enum api_err store_key_revoke(struct store *s, const char *key_id);

/* Raises last_used to ms (never lowers it). */
enum api_err store_key_touch(struct store *s, const char *key_id, int64_t ms);

/* ---------------------------------------------------------------- events
 * store_events.c. The event document, the commit sequence and the cursor
 * watermark are described in docs/events.md.
 */
struct event_in;

/* The filters of every event listing (both API surfaces). NULL or false: unused. */
struct event_filter {
	uint32_t types;            /* mask over event_types; 0 or EVENT_TYPES_ALL: any */
	const char *severity;
	const char *database_id;
	const char *database_name;
	const char *user;          /* details.user */
	const char *source_ip;     /* details.source_ip */
	const char *action_id;     /* kAudit action id (upper case) */
	const char *search;        /* kAudit: case-insensitive literal substring */
	bool has_start, has_end;
	int64_t start_ms, end_ms;  /* inclusive bounds on timestamp */
};

/*
 * Checks that each event's database_id (if any) is a database of the
 * event's tenant, and fills database_name from it when the event has none.
 * API_ERR_UNPROCESSABLE with *bad = the index of the first event whose
 * database does not exist for its tenant.
 */
enum api_err store_events_check_databases(struct store *s, struct event_in *ev, size_t n,
					  size_t *bad);

/*
 * Stores validated events durably (the configured write concern): one
 * block of commit sequences per batch, one insert, then the block's
 * record for the watermark. An event whose id already exists
 * (same tenant and external_id, also within the batch) is not stored
 * again: ev[i].duplicate is set and ev[i].id is the stored event's id.
 * lease_ms is cursor_gap_lease_ms (a writer done within 3/4 of it knows
 * no tombstone can have taken its sequences).
 * API_OK means every event is stored or a duplicate. Errors mean the batch
 * is not acknowledged (some events may be stored; a retry with the same
 * external_ids stores nothing twice): API_ERR_UNAVAILABLE when the store is
 * unreachable or the outcome is unknown, API_ERR_INTERNAL otherwise.
 */
enum api_err store_events_insert(struct store *s, struct event_in *ev, size_t n,
				 int64_t now_ms, int64_t lease_ms);

/*
 * One page of the principal's events matching f, sorted on sort_field
 * (a stored field: "timestamp", "details.user", ...) with the commit
 * sequence as tie-breaker, skipping skip. *items receives a new array of
 * stored documents as JSON (dates as RFC 3339 strings). When total is not
 * NULL it receives the number of matching events: exact, from a per-process
 * cache while no event has been stored or invalidated since it was counted.
 */
enum api_err store_events_list(struct store *s, const struct principal *p,
			       const struct event_filter *f, const char *sort_field,
			       bool ascending, int64_t skip, int64_t limit,
			       json_t **items, int64_t *total);

/*
 * The principal's events matching f with after < seq <= upto, in commit
 * order, at most limit. *has_more tells whether more match beyond them.
 */
enum api_err store_events_after(struct store *s, const struct principal *p,
				const struct event_filter *f, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more);

/*
 * Every tenant's events with after < seq <= upto, in commit order, at most
 * limit (the stream's reader, which fans them out to the subscribers of
 * their tenants). Tombstones and block markers are never returned.
 * *has_more tells whether more events lie beyond them.
 */
enum api_err store_events_after_all(struct store *s, int64_t after, int64_t upto,
				    int64_t limit, json_t **items, bool *has_more);

/*
 * Advances and returns the cursor watermark W: every commit sequence up to
 * W is decided (its event is stored, or it will never hold one), so a
 * reader that stops at W never misses an event that commits later. A
 * block left undecided for lease_ms is settled with tombstones. At most
 * max_steps blocks are walked; W is persisted as a starting point.
 */
enum api_err store_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
				    int max_steps, int64_t *w);

/*
 * Allocates a block for n events and stores nothing in it, as a writer
 * that dies right after allocating would (tests of the watermark).
 * [*lo, *hi] are the event sequences it holds.
 */
enum api_err store_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi);

/* An upper bound of every sequence allocated so far. */
enum api_err store_events_allocated(struct store *s, int64_t *seq);

/*
 * Tells the caches that events changed other than by store_events_insert:
 * whatever deletes or rewrites stored events (retention, a cascade) calls
 * it after the change. (It allocates an empty block, which moves the
 * version the cached totals of lists are checked against.)
 */
enum api_err store_events_invalidate(struct store *s);

/* ---------------------------------------------------------------- moving a deployment
 * dbaudit-admin export / import (docs/operations.md).
 */

/*
 * Stored events of tenant (every tenant when NULL) with seq > after, in
 * commit order, at most limit, as stored documents (a new array).
 */
enum api_err store_events_scan(struct store *s, const char *tenant, int64_t after,
			       int64_t limit, json_t **items);

/*
 * Stores exported event documents (docs, an array) with their ids, commit
 * sequences and processed_at, in one write: an event already stored with
 * the same id and sequence is skipped (an import can be run again);
 * API_ERR_CONFLICT when a sequence or id is taken by another event (import
 * into a store that has events of its own).
 */
enum api_err store_events_import(struct store *s, json_t *docs);

/* Drops the block and range records the watermark has passed. */
enum api_err store_events_gc(struct store *s);

/* The principal's event id as stored (JSON), or API_ERR_NOT_FOUND. */
enum api_err store_events_get(struct store *s, const struct principal *p, const char *id,
			      json_t **doc);

/*
 * Ids of the principal's other events of session_id, newest first, at most
 * max: a new JSON array.
 */
enum api_err store_events_session(struct store *s, const struct principal *p,
				  const char *id, const char *session_id, size_t max,
				  json_t **ids);

/* Name of the principal's database db_id into out ("" when unknown). */
enum api_err store_database_name(struct store *s, const struct principal *p,
				 const char *db_id, char *out, size_t outlen);

struct event_summary {
	int64_t total, succeeded, failed;
	int64_t distinct_databases, distinct_principals;
	bool has_latest;
	int64_t latest_ms;
};

/* Counts and distincts over the principal's events matching f. */
enum api_err store_events_summary(struct store *s, const struct principal *p,
				  const struct event_filter *f, struct event_summary *out);

#endif
