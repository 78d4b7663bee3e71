/*
 * api: what every handler sees. A handler gets a struct ctx (the request,
 * the authenticated principal, the path parameters) and fills ctx->res, or
 * returns an error through api_fail(); app_handle() turns errors into the
 * error envelope in one place. Handlers never touch FastCGI or mongoc.
 */
#ifndef DBAUDIT_API_H
#define DBAUDIT_API_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <pthread.h>

#include "api_err.h"
#include "http.h"

struct config;
struct store;
struct auth;
struct principal;
struct crypto_keyring;
struct stream_hub;
struct ratelimit;
struct detect_counters;
struct policy_cache;

enum app_role { APP_ROLE_API, APP_ROLE_STREAM };

/* Per-process state of a server: created once after start, used by every request. */
struct app {
	const struct config *cfg;   /* borrowed */
	struct store *store;        /* owned */
	struct auth *auth;          /* owned */
	struct crypto_keyring *keys; /* owned; NULL when no crypto key is configured */
	struct ratelimit *limits;   /* owned */
	struct detect_counters *detect; /* owned; the login-anomaly counters (detect_counter.h) */
	enum app_role role;
	bool store_reset_pending;   /* the store failed: reconnect before the next request */
	int64_t health_checked_ms;  /* monotonic time of the last store ping */
	enum api_err health_last;
	struct stream_hub *hub;     /* borrowed; the stream server's, NULL elsewhere */
	pthread_mutex_t *lock;      /* borrowed; guards store and auth in the threaded stream server */
	struct policy_cache *policies; /* owned; compiled policies of this worker (policy_eval.h) */
};

#define API_MAX_PARAMS 4

struct ctx {
	struct app *app;
	const struct request *req;
	const struct principal *who;          /* NULL on public routes */
	const char *params[API_MAX_PARAMS];   /* path parameters, in pattern order */
	size_t nparams;
	struct response *res;
	char msg[256];                        /* message of the error returned */
	const char *reason;                   /* short reason code for the log */
};

typedef enum api_err (*api_handler)(struct ctx *c);

/* Records the error message and returns e, so handlers can `return api_fail(...)`. */
enum api_err api_fail(struct ctx *c, enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Replaces res with the error envelope of e and msg (NULL: a generic sentence). */
void api_error_response(struct response *res, enum api_err e, const char *msg);

/*
 * Parses the request body as one JSON object (duplicate keys rejected).
 * On success *out is a new reference the caller releases. Errors (with the
 * message set): 400 for an empty body, malformed JSON or a non-object.
 */
enum api_err api_body_object(struct ctx *c, json_t **out);

/*
 * Reads query parameter name as an integer in [min, max]; absent gives def.
 * A repeated parameter, a non-integer or an out-of-range value is a 400
 * naming the parameter and its range: values are never clamped.
 */
enum api_err api_query_int(struct ctx *c, const char *name, int64_t min, int64_t max,
			   int64_t def, int64_t *out);

/*
 * Reads query parameter name as a string of at most maxlen bytes; absent
 * gives NULL. A repeated or over-long value is a 400.
 */
enum api_err api_query_str(struct ctx *c, const char *name, size_t maxlen, const char **out);

/*
 * Reads query parameter name as an ISO 8601 time: an RFC 3339 date-time,
 * or a date YYYY-MM-DD meaning its first millisecond (or, with end_of_day,
 * its last). Absent: *has = false. A repeated or malformed value is a 400.
 */
enum api_err api_query_time(struct ctx *c, const char *name, bool end_of_day, bool *has,
			    int64_t *ms);

/*
 * Rejects query parameters that are not in the NULL-terminated list
 * allowed, so a typo ("limt") is a 400 rather than silently ignored.
 */
enum api_err api_query_only(struct ctx *c, const char *const *allowed);

/*
 * Adds the header Link: <TARGET>; rel="next" of a cursor page: path with
 * cursor_name=cursor, limit_name=limit and the request's parameters named
 * in carry (NULL-terminated), percent-encoded. TARGET is a relative
 * reference, or starts with the configured public_base_url; never with
 * the request's Host.
 */
void api_link_next(struct ctx *c, const char *path, const char *cursor_name,
		   const char *cursor, const char *limit_name, int64_t limit,
		   const char *const *carry);

/*
 * Answers 200 with a page of a list: {"data": data, "pagination": {total,
 * page, per_page}}. Takes data's reference.
 */
void api_respond_page(struct ctx *c, json_t *data, int64_t total, int64_t page, int64_t per_page);

/*
 * The tenant a write lands in. requested is the body's tenant_id (NULL if
 * absent). A principal with one tenant writes there (a different requested
 * tenant is 403); one with several must name one of them (400 when absent,
 * 403 when not its own). *out points into the principal.
 */
enum api_err api_write_tenant(struct ctx *c, const char *requested, const char **out);

/*
 * Sets up app for role: opens the store handle (lazily connected) and the
 * auth layer. Returns API_OK or an error after logging why.
 */
enum api_err app_init(struct app *app, const struct config *cfg, enum app_role role);

/* Frees what app owns. */
void app_cleanup(struct app *app);

/*
 * Serves one parsed request: route lookup (404 vs 405), authentication and
 * scope check for non-public routes, the handler, the error envelope.
 * Writes the access log line. res must be initialised by the caller.
 */
void app_handle(struct app *app, const struct request *req, struct response *res);

/*
 * Work that must not delay a response, done after it is sent and before
 * the next request: recreating the store client after an outage, writing
 * API keys' last-used times.
 */
void app_idle(struct app *app);

/* Pings the store, answering from a cache younger than health_cache_ms. */
enum api_err app_store_health(struct app *app);

#endif
