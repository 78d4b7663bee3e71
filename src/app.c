/*
 * app: one request from parsed input to response: route, authenticate,
 * check the scope, run the handler, and turn any error into the error
 * envelope. This is the only place that maps api_err to HTTP.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "metrics.h"
#include "policy_eval.h"
#include "ratelimit.h"
#include "detect_counter.h"
#include "route.h"
#include "store.h"
#include "util/log.h"
#include "util/timeutil.h"

static const struct {
	int status;
	const char *code;
	const char *message;
} errors[API_ERR__COUNT] = {
	[API_OK] = { 200, "ok", "ok" },
	[API_ERR_INVALID_PARAMETER] = { 400, "invalid_parameter", "The request is invalid." },
	[API_ERR_UNAUTHORIZED] = { 401, "unauthorized", "Missing or invalid credentials." },
	[API_ERR_FORBIDDEN] = { 403, "forbidden", "The credentials do not allow this request." },
	[API_ERR_NOT_FOUND] = { 404, "not_found", "The resource does not exist." },
	[API_ERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed", "The method is not allowed on this resource." },
	[API_ERR_CONFLICT] = { 409, "conflict", "The resource already exists." },
	[API_ERR_PAYLOAD_TOO_LARGE] = { 413, "payload_too_large", "The request body is too large." },
	[API_ERR_UNSUPPORTED_MEDIA] = { 415, "unsupported_media_type", "The Content-Type is not supported here." },
	[API_ERR_UNPROCESSABLE] = { 422, "unprocessable_entity", "The request cannot be processed." },
	[API_ERR_RATE_LIMITED] = { 429, "rate_limited", "Too many requests." },
	[API_ERR_INTERNAL] = { 500, "internal_error", "An internal error occurred." },
	[API_ERR_UNAVAILABLE] = { 503, "service_unavailable", "The service is temporarily unavailable." },
	[API_ERR_STORAGE_FULL] = { 507, "insufficient_storage", "The store has no space left; nothing was stored." },
};

int api_err_status(enum api_err e)
{
	return e < API_ERR__COUNT ? errors[e].status : 500;
}

const char *api_err_code(enum api_err e)
{
	return e < API_ERR__COUNT ? errors[e].code : "internal_error";
}

enum api_err api_fail(struct ctx *c, enum api_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return e;
}

void api_error_response(struct response *res, enum api_err e, const char *msg)
{
	char retry[16] = "";
	json_t *body;

	if (e >= API_ERR__COUNT || e == API_OK)
		e = API_ERR_INTERNAL;
	if (msg == NULL || msg[0] == '\0')
		msg = errors[e].message;
	body = json_pack("{s:{s:s,s:s?}}", "error", "code", errors[e].code, "message",
			 msg);
	if (body == NULL) /* msg was not valid UTF-8: never echo it */
		body = json_pack("{s:{s:s,s:s}}", "error", "code", errors[e].code,
				 "message", errors[e].message);
	/*
	 * Every 429, 503 and 507 says when to come back (CONTRACT §4): the
	 * handler's value, else 1 s (30 s for a full disk, which an operator
	 * must free).
	 */
	for (size_t i = 0; i < res->nheaders; i++)
		if (strcmp(res->headers[i].name, "Retry-After") == 0)
			snprintf(retry, sizeof(retry), "%s", res->headers[i].value);
	if (retry[0] == '\0')
		snprintf(retry, sizeof(retry), "%d", e == API_ERR_STORAGE_FULL ? 30 : 1);
	res->nheaders = 0;
	http_response_json(res, errors[e].status, body);
	if (e == API_ERR_RATE_LIMITED || e == API_ERR_UNAVAILABLE || e == API_ERR_STORAGE_FULL)
		http_response_header(res, "Retry-After", "%s", retry);
	if (e == API_ERR_UNAUTHORIZED)
		http_response_header(res, "WWW-Authenticate", "Bearer realm=\"dbaudit\"");
}

enum api_err api_body_object(struct ctx *c, json_t **out)
{
	json_error_t jerr;
	json_t *j;

	if (c->req->body == NULL || c->req->body_len == 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "the request body is empty; a JSON object is expected");
	j = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"the request body is not valid JSON (line %d, column %d)",
				jerr.line, jerr.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return api_fail(c, API_ERR_INVALID_PARAMETER, "the request body must be a JSON object");
	}
	*out = j;
	return API_OK;
}

enum api_err app_init(struct app *app, const struct config *cfg, enum app_role role)
{
	const char *why = NULL;
	char kwhy[256];
	enum api_err rc;

	memset(app, 0, sizeof(*app));
	app->cfg = cfg;
	app->role = role;
	rc = store_open(cfg, &app->store, &why);
	if (rc == API_OK)
		rc = auth_create(cfg, app->store, &app->auth, &why);
	if (rc == API_OK)
		rc = ratelimit_create(cfg, &app->limits, &why);
	if (rc == API_OK)
		rc = detect_counters_create(cfg, &app->detect, &why);
	if (rc != API_OK) {
		log_msg(LOG_ERROR, "startup failed: %s", why ? why : "unknown error");
		return rc;
	}
	if (crypto_keyring_from_config(cfg, &app->keys, kwhy, sizeof(kwhy)) != 0) {
		log_msg(LOG_ERROR, "startup failed: %s", kwhy);
		return API_ERR_INTERNAL;
	}
	if (metrics_open(cfg->metrics_file[0] ? cfg->metrics_file : "/dev/shm/dbaudit-metrics",
			 route_table, route_table_len, &why) != 0)
		log_msg(LOG_ERROR, "metrics are off: %s", why);
	if (app->keys == NULL && role == APP_ROLE_API)
		log_msg(LOG_WARN, "no crypto key is configured (crypto_key_file or crypto_key): "
			"databases with credentials cannot be registered");
	return API_OK;
}

void app_cleanup(struct app *app)
{
	policy_cache_free(app->policies);
	crypto_keyring_free(app->keys);
	ratelimit_free(app->limits);
	detect_counters_free(app->detect);
	metrics_close();
	auth_free(app->auth);
	store_free(app->store);
	memset(app, 0, sizeof(*app));
}

void app_idle(struct app *app)
{
	if (app->store_reset_pending && app->store != NULL) {
		store_reset(app->store);
		app->store_reset_pending = false;
	}
	auth_flush(app->auth);
}

enum api_err app_store_health(struct app *app)
{
	int64_t now = time_mono_ms();

	if (app->health_checked_ms != 0 && app->health_last == API_OK &&
	    now - app->health_checked_ms < app->cfg->health_cache_ms)
		return API_OK;
	app->health_last = store_ping(app->store);
	app->health_checked_ms = time_mono_ms();
	metrics_observe(HIST_STORE_LATENCY, (app->health_checked_ms - now) * 1000);
	return app->health_last;
}

/* Whether the body's media type is one the route accepts. */
static int media_type_ok(const struct request *req, const struct route *r)
{
	const char *ct = req->content_type;
	size_t n;

	if (req->body_len == 0)
		return 1;
	if (ct == NULL)
		return 0;
	n = strcspn(ct, "; ");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	if ((r->flags & ROUTE_NDJSON) && n == 20 && strncasecmp(ct, "application/x-ndjson", 20) == 0)
		return 1;
	return 0;
}

/*
 * Charges the request to the principal's rate limits (after authentication,
 * before the handler); *rl gets the numbers for the X-RateLimit-* headers.
 */
static enum api_err app_rate_limit(struct app *app, const struct route_match *m,
				   struct ctx *c, struct ratelimit_result *rl)
{
	enum api_err rc = ratelimit_check(app->limits, c->who, c->req->method,
					  m->route->pattern, rl);

	if (rc == API_ERR_UNAVAILABLE)
		return api_fail(c, rc, "the rate limiter is unavailable; try again shortly");
	if (rc == API_OK && !rl->allowed) {
		metrics_add(METRIC_RATELIMIT_REJECTED, 1);
		c->reason = "rate_limited";
		rc = api_fail(c, API_ERR_RATE_LIMITED,
			      "the limit of %lld requests per %lld s is used up; retry in %lld s",
			      (long long)rl->limit, (long long)app->cfg->ratelimit_window_s,
			      (long long)rl->retry_after_s);
	}
	return rc;
}

/* Authenticates, checks the scope, the rate limits and the media type, runs the handler. */
static enum api_err app_dispatch(struct app *app, const struct route_match *m,
				 struct principal *who, struct ctx *c,
				 struct ratelimit_result *rl)
{
	const struct request *req = c->req;
	enum api_err rc = API_OK;

	if (m->route->scope != NULL || (m->route->flags & ROUTE_AUTH)) {
		/* An address that keeps failing is refused before its credentials are tried. */
		if (!ratelimit_guard_allows(app->limits, req->remote_addr, rl)) {
			metrics_add(METRIC_AUTH_GUARD_REJECTED, 1);
			c->reason = "auth_failures";
			return api_fail(c, API_ERR_RATE_LIMITED,
					"too many failed authentications from this address; retry in %lld s",
					(long long)rl->retry_after_s);
		}
		/* Authentication runs before any handler; the route's scope next. */
		rc = auth_authenticate(app->auth, req, who, &c->reason);
		if (rc == API_ERR_UNAUTHORIZED)
			ratelimit_guard_charge(app->limits, req->remote_addr);
		if (rc == API_OK && m->route->scope != NULL &&
		    !(who->scopes & principal_scope_bit(m->route->scope))) {
			c->reason = "scope_missing";
			rc = api_fail(c, API_ERR_FORBIDDEN, "this request needs the scope %s",
				      m->route->scope);
		} else if (rc == API_ERR_FORBIDDEN) {
			api_fail(c, rc, "the credentials carry no tenant");
		}
		if (rc == API_OK) {
			c->who = who;
			rc = app_rate_limit(app, m, c, rl);
		}
	}
	if (rc == API_OK && !media_type_ok(req, m->route))
		rc = api_fail(c, API_ERR_UNSUPPORTED_MEDIA,
			      "Content-Type must be application/json%s",
			      (m->route->flags & ROUTE_NDJSON) ? " or application/x-ndjson" : "");
	if (rc == API_OK)
		rc = m->route->handler(c);
	return rc;
}

/* The Allow list of a path: its routes' methods, HEAD where GET is, and OPTIONS. */
static void allow_list(const char *methods, char *out, size_t n)
{
	snprintf(out, n, "%s%s, OPTIONS", methods, strstr(methods, "GET") ? ", HEAD" : "");
}

/* Whether origin is one of the configured cors_origins ("a,b", or "*"). */
static bool cors_allowed(const char *list, const char *origin)
{
	size_t olen = strlen(origin);

	if (strcmp(list, "*") == 0)
		return origin[0] != '\0';
	for (const char *p = list; *p;) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n > 0 && n == olen && strncmp(p, origin, n) == 0)
			return true;
		p += n;
	}
	return false;
}

/*
 * CORS headers for a browser on a configured origin: on a preflight
 * (OPTIONS) what it may send, on other responses what it may read.
 */
static void app_cors(const struct app *app, const struct request *req, struct response *res,
		     bool preflight, const char *allow)
{
	if (req->origin == NULL || !cors_allowed(app->cfg->cors_origins, req->origin))
		return;
	http_response_header(res, "Access-Control-Allow-Origin", "%s", req->origin);
	http_response_header(res, "Vary", "Origin");
	if (preflight) {
		http_response_header(res, "Access-Control-Allow-Methods", "%s", allow);
		http_response_header(res, "Access-Control-Allow-Headers",
				     "Authorization, X-Api-Key, Content-Type, X-Request-ID, Last-Event-ID");
		http_response_header(res, "Access-Control-Max-Age", "600");
	} else {
		http_response_header(res, "Access-Control-Expose-Headers",
				     "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, "
				     "X-RateLimit-Reset, Retry-After, Link, ETag");
	}
}

void app_handle(struct app *app, const struct request *req, struct response *res)
{
	struct route_match m;
	struct principal who;
	struct ctx c;
	struct ratelimit_result rl;
	enum api_err rc;
	const char *route_name = "-";
	uint64_t calls0 = app->store ? store_calls(app->store) : 0;
	long route_idx = -1;
	/* HEAD is GET without a body: nginx drops the body, the headers stay exact. */
	const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
	bool preflight = false;
	char allow[128] = "";

	memset(&c, 0, sizeof(c));
	memset(&rl, 0, sizeof(rl));
	c.app = app;
	c.req = req;
	c.res = res;
	rc = route_find(route_table, route_table_len, method, req->path,
			app->cfg->debug_routes, &m);
	if (rc == API_ERR_METHOD_NOT_ALLOWED)
		allow_list(m.allow, allow, sizeof(allow));
	if (rc == API_ERR_METHOD_NOT_ALLOWED && strcmp(method, "OPTIONS") == 0) {
		/* Any existing path answers OPTIONS, without credentials (CORS preflight). */
		preflight = true;
		rc = API_OK;
		route_name = "OPTIONS";
		res->status = 204;
		http_response_header(res, "Allow", "%s", allow);
	} else if (rc == API_ERR_METHOD_NOT_ALLOWED) {
		api_fail(&c, rc, "%s is not allowed here; allowed: %s", req->method, allow);
	} else if (rc == API_ERR_NOT_FOUND) {
		api_fail(&c, rc, "no such resource");
	} else {
		int64_t t0 = time_mono_ms();

		route_name = m.route->pattern;
		route_idx = (long)(m.route - route_table);
		memcpy(c.params, m.params, sizeof(c.params));
		c.nparams = m.nparams;
		rc = app_dispatch(app, &m, &who, &c, &rl);
		/*
		 * A read that found the store gone at once met a connection the
		 * store closed (it restarted while this worker was idle): try it
		 * once more on a fresh client. Timeouts are not retried, so a hung
		 * store still answers 503 within the store timeout; writes are not
		 * retried, the client decides.
		 */
		if (rc == API_ERR_UNAVAILABLE && strcmp(req->method, "GET") == 0 &&
		    time_mono_ms() - t0 < app->cfg->store_timeout_ms / 4) {
			store_reset(app->store);
			http_response_cleanup(res);
			http_response_init(res);
			c.who = NULL;
			c.reason = NULL;
			c.msg[0] = '\0';
			rc = app_dispatch(app, &m, &who, &c, &rl);
		}
		if (rc == API_ERR_UNAVAILABLE && c.msg[0] == '\0')
			api_fail(&c, rc, "the store is unavailable; try again shortly");
	}
	if (rc == API_ERR_METHOD_NOT_ALLOWED) {
		api_error_response(res, rc, c.msg);
		http_response_header(res, "Allow", "%s", allow);
	} else if (rc != API_OK) {
		/* The limiter's wait becomes the one Retry-After api_error_response writes. */
		if (rc == API_ERR_RATE_LIMITED && rl.retry_after_s > 0)
			http_response_header(res, "Retry-After", "%lld", (long long)rl.retry_after_s);
		/* 5xx messages come from us, never from a library. */
		api_error_response(res, rc, rc == API_ERR_INTERNAL ? NULL : c.msg);
	}
	if (rl.limited) {
		http_response_header(res, "X-RateLimit-Limit", "%lld", (long long)rl.limit);
		http_response_header(res, "X-RateLimit-Remaining", "%lld", (long long)rl.remaining);
		http_response_header(res, "X-RateLimit-Reset", "%lld", (long long)rl.reset_s);
	}
	app_cors(app, req, res, preflight, allow);
	/*
	 * Whatever found the store unreachable, the next request reconnects
	 * afresh. Not now: destroying the client talks to the store (endSessions),
	 * which must not delay this answer. app_idle does it once it is sent.
	 */
	if (rc == API_ERR_UNAVAILABLE)
		app->store_reset_pending = true;
	/* Test stacks: what a request cost the store (tests bound it per route). */
	if (app->cfg->debug_routes && app->store != NULL)
		http_response_header(res, "X-Store-Calls", "%llu",
				     (unsigned long long)(store_calls(app->store) - calls0));
	metrics_request(route_idx, res->status, time_mono_us() - req->started_us);
	log_access(req->method, route_name, res->status,
		   (double)(time_mono_us() - req->started_us) / 1000.0,
		   c.who ? c.who->id : NULL, c.reason);
}
