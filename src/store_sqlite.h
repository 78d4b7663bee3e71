/*
 * store_sqlite: what the SQLite engine's files (store_sqlite*.c) share.
 * Nothing else includes this header (it pulls in sqlite3). docs/storage.md
 * describes the schema, its indexes and the queries each one serves.
 *
 * One connection per process, opened on first use (so after fork), in WAL
 * mode with a busy timeout of store_timeout_ms (polled every 200 us); every write runs in BEGIN
 * IMMEDIATE, so writers queue on the lock instead of failing half-way.
 */
#ifndef DBAUDIT_STORE_SQLITE_H
#define DBAUDIT_STORE_SQLITE_H

#include <sqlite3.h>
#include <sys/types.h>

#include "store_engine.h"

#define SQ_MAX_BINDS 96
#define SQ_SQL_MAX 8192

struct store_sqlite {
	struct store base;            /* first: the public handle */
	char *path;
	sqlite3 *db;                  /* NULL until first use, and after store_reset */
	pid_t pid;                    /* the process that opened db */
	int busy_ms;
	int64_t busy_since_us;        /* when the lock was first found busy */
	char synchronous[8];
};

static inline struct store_sqlite *store_sqlite_of(struct store *s)
{
	return (struct store_sqlite *)s;
}

/* A statement being built: SQL text and its bound values, in order. */
struct sq_query {
	char sql[SQ_SQL_MAX];
	size_t len;
	struct {
		bool is_int;
		const char *str;          /* borrowed until the statement is done */
		int64_t i;
	} b[SQ_MAX_BINDS];
	int nb;
	bool ok;                      /* false once something did not fit */
};

/* Starts q with the SQL of fmt. */
void sq_init(struct sq_query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends SQL to q. */
void sq_add(struct sq_query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Binds the next ? of q to a string (borrowed) or an integer. */
void sq_str(struct sq_query *q, const char *v);
void sq_int(struct sq_query *q, int64_t v);

/* Appends " AND tenant IN (?, ...)" with p's tenants (col names the column). */
void sq_tenants(struct sq_query *q, const char *col, const struct principal *p);

/* The connection of s, opened (and the schema created) on first use. */
enum api_err sq_db(struct store *s, sqlite3 **db);

/* Prepares q on s's connection and binds its values. */
enum api_err sq_prepare(struct store *s, const struct sq_query *q, sqlite3_stmt **st,
			const char *what);

/*
 * Translates a SQLite result code into an api_err and logs it once with
 * what was being done: busy past the timeout, I/O errors and a read-only
 * file are API_ERR_UNAVAILABLE, a full disk API_ERR_STORAGE_FULL, a unique
 * violation API_ERR_CONFLICT (not logged).
 */
enum api_err sq_error(struct store *s, int rc, const char *what);

/* Runs a statement without rows (q); *changes gets sqlite3_changes when not NULL. */
enum api_err sq_exec(struct store *s, const struct sq_query *q, int64_t *changes,
		     const char *what);

/* BEGIN IMMEDIATE, COMMIT, ROLLBACK (rollback never fails the caller). */
enum api_err sq_begin(struct store *s);
enum api_err sq_commit(struct store *s);
void sq_rollback(struct store *s);

/* Runs q and collects column 0 of each row, a JSON document, in a new array. */
enum api_err sq_docs(struct store *s, const struct sq_query *q, json_t **items, const char *what);

/* The first row's column 0 of q as JSON: API_ERR_NOT_FOUND when there is no row. */
enum api_err sq_doc(struct store *s, const struct sq_query *q, json_t **out, const char *what);

/* The first row's column 0 of q as an integer (0 when no row or NULL). */
enum api_err sq_int64(struct store *s, const struct sq_query *q, int64_t *out, const char *what);

/* A JSON value as text for a doc column (a new string, or NULL). */
char *sq_json_text(const json_t *v);

/*
 * Adds the stored events of ev (stored[i]) to the summary counters
 * (store_sqlite_summary.c), inside the caller's write transaction.
 * Returns a SQLite result code.
 */
int sq_counts_add(sqlite3 *db, const struct event_in *ev, const bool *stored, size_t n);

/* The summary by a pass over the matching events: for filters beyond a time range. */
enum api_err sq_summary_scan(struct store *s, const struct principal *p,
			     const struct event_filter *f, struct event_summary *out);

/* The engine's entry points (contracts: store.h, store_databases.h). */
enum api_err store_sqlite_open(const struct config *cfg, const char *target, struct store **out,
			       const char **why);
void store_sqlite_free(struct store *s);
void store_sqlite_reset(struct store *s);
enum api_err store_sqlite_ping(struct store *s);
enum api_err store_sqlite_migrate(struct store *s);
enum api_err store_sqlite_backup(struct store *s, const char *path);
enum api_err store_sqlite_key_insert(struct store *s, const struct key_record *k);
enum api_err store_sqlite_key_get(struct store *s, const char *key_id, struct key_record *out);
enum api_err store_sqlite_key_list(struct store *s, const char *tenant,
				   void (*cb)(const struct key_record *k, void *arg), void *arg);
enum api_err store_sqlite_key_revoke(struct store *s, const char *key_id);
enum api_err store_sqlite_key_touch(struct store *s, const char *key_id, int64_t ms);
enum api_err store_sqlite_events_check_databases(struct store *s, struct event_in *ev, size_t n,
						 size_t *bad);
enum api_err store_sqlite_events_insert(struct store *s, struct event_in *ev, size_t n,
					int64_t now_ms, int64_t lease_ms);
enum api_err store_sqlite_events_list(struct store *s, const struct principal *p,
				      const struct event_filter *f, const char *sort_field,
				      bool ascending, int64_t skip, int64_t limit, json_t **items,
				      int64_t *total);
enum api_err store_sqlite_events_after(struct store *s, const struct principal *p,
				       const struct event_filter *f, int64_t after, int64_t upto,
				       int64_t limit, json_t **items, bool *has_more);
enum api_err store_sqlite_events_after_all(struct store *s, int64_t after, int64_t upto,
					  int64_t limit, json_t **items, bool *has_more);
enum api_err store_sqlite_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
					   int max_steps, int64_t *w);
enum api_err store_sqlite_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi);
enum api_err store_sqlite_events_allocated(struct store *s, int64_t *seq);
enum api_err store_sqlite_events_invalidate(struct store *s);
enum api_err store_sqlite_events_gc(struct store *s);
enum api_err store_sqlite_events_scan(struct store *s, const char *tenant, int64_t after,
				int64_t limit, json_t **items);
enum api_err store_sqlite_events_import(struct store *s, struct event_in *ev,
				  const int64_t *processed_ms, size_t n);
enum api_err store_sqlite_database_import(struct store *s, json_t *rec);
enum api_err store_sqlite_events_get(struct store *s, const struct principal *p, const char *id,
				     json_t **doc);
enum api_err store_sqlite_events_session(struct store *s, const struct principal *p, const char *id,
					 const char *session_id, size_t max, json_t **ids);
enum api_err store_sqlite_events_summary(struct store *s, const struct principal *p,
					 const struct event_filter *f, struct event_summary *out);
enum api_err store_sqlite_database_name(struct store *s, const struct principal *p,
					const char *db_id, char *out, size_t outlen);
enum api_err store_sqlite_database_insert(struct store *s, const char *id, const char *tenant,
					  json_t *set, json_t *secrets, int64_t now_ms,
					  json_t **out);
enum api_err store_sqlite_database_get(struct store *s, const struct principal *p, const char *id,
				       json_t **out);
enum api_err store_sqlite_database_list(struct store *s, const struct principal *p,
					const struct store_database_filter *f, json_t **items,
					int64_t *total);
enum api_err store_sqlite_database_update(struct store *s, const struct principal *p,
					  const char *id, json_t *set, json_t *secrets_set,
					  json_t *secrets_unset, int64_t now_ms, json_t **out);
enum api_err store_sqlite_database_check_unique(struct store *s, const char *tenant,
						const char *host, int64_t port,
						const char *database, const char *id);
enum api_err store_sqlite_database_delete(struct store *s, const struct principal *p,
					  const char *id);
enum api_err store_sqlite_policies_disable_for_database(struct store *s, const char *tenant,
							const char *id, int64_t now_ms, int64_t *n);
enum api_err store_sqlite_database_set_test(struct store *s, const char *tenant, const char *id,
					    const char *status, json_t *result, int64_t now_ms);
enum api_err store_sqlite_database_heartbeat(struct store *s, const struct principal *p,
					     const char *id, json_t *hb, int64_t now_ms,
					     json_t **out);
enum api_err store_sqlite_database_stats(struct store *s, const struct principal *p, const char *id,
					 int64_t now_ms, struct dbrec_stats *out);
enum api_err store_sqlite_database_last_event(struct store *s, const struct principal *p,
					      const char *id, json_t **out);
enum api_err store_sqlite_database_last_event_times(struct store *s, const struct principal *p,
						    json_t *ids, json_t **out);
enum api_err store_sqlite_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n);
enum api_err store_sqlite_database_foreach(struct store *s, enum api_err (*cb)(json_t *rec,
					   void *arg), void *arg);
enum api_err store_sqlite_database_replace_secrets(struct store *s, const char *id, json_t *old,
						   json_t *secrets);

/* policies and alerts (store_sqlite_policies.c) */
enum api_err store_sqlite_policy_put(struct store *s, const char *tenant, json_t *doc,
				 enum store_put_mode mode);
enum api_err store_sqlite_policy_get(struct store *s, const char *tenant, const char *id, json_t **doc);
enum api_err store_sqlite_policy_delete(struct store *s, const char *tenant, const char *id);
enum api_err store_sqlite_policy_list(struct store *s, const char *tenant, json_t **items);
enum api_err store_sqlite_alert_record(struct store *s, json_t *alert, const char *open_key,
				   bool *absorbed);
enum api_err store_sqlite_alert_get(struct store *s, const struct principal *p, const char *id,
				json_t **doc);
enum api_err store_sqlite_alert_list(struct store *s, const struct principal *p,
				 const struct store_alert_filter *f, json_t **items, int64_t *total);
enum api_err store_sqlite_alert_update(struct store *s, const char *tenant, const char *id,
				   const char *from_status, json_t *set, bool close, json_t **out);
/* store_webhooks.h */
enum api_err store_sqlite_webhook_insert(struct store *s, json_t *doc);
enum api_err store_sqlite_webhook_get(struct store *s, const struct principal *p, const char *id,
				      json_t **out);
enum api_err store_sqlite_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				       int64_t limit, json_t **items, int64_t *total);
enum api_err store_sqlite_webhook_update(struct store *s, const struct principal *p,
					 const char *id, json_t *set, json_t **out);
enum api_err store_sqlite_webhook_delete(struct store *s, const struct principal *p,
					 const char *id);
enum api_err store_sqlite_webhook_active(struct store *s, json_t **items);
enum api_err store_sqlite_webhook_lease(struct store *s, const char *id, const char *owner,
					int64_t now_ms, int64_t until_ms);
enum api_err store_sqlite_webhook_advance(struct store *s, const char *id, const char *owner,
					  int64_t position);
enum api_err store_sqlite_delivery_insert(struct store *s, json_t *doc);
enum api_err store_sqlite_delivery_get(struct store *s, const struct principal *p,
				       const char *webhook_id, const char *id, json_t **out);
enum api_err store_sqlite_delivery_list(struct store *s, const struct principal *p,
					const char *webhook_id, const char *status, int64_t skip,
					int64_t limit, json_t **items, int64_t *total);
enum api_err store_sqlite_delivery_next(struct store *s, const char *webhook_id, json_t **out);
enum api_err store_sqlite_delivery_update(struct store *s, const char *id, json_t *set);

#endif
