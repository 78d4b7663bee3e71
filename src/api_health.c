/*
 * api_health: the unauthenticated operational routes: health, the OpenAPI
 * document, the Prometheus metrics (nginx lets only local addresses reach
 * them), and (only when debug_routes is on, for tests) a slow request.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_handlers.h"
#include "auth.h"
#include "config.h"
#include "metrics.h"
#include "openapi.h"
#include "util/str.h"

static const char health_ok[] =
	"{\"status\":\"ok\",\"store\":\"ok\",\"version\":\"" PACKAGE_VERSION "\"}";

static const char *const no_params[] = { NULL };

enum api_err api_health_get(struct ctx *c)
{
	enum api_err rc = api_query_only(c, no_params);

	if (rc != API_OK)
		return rc;
	rc = app_store_health(c->app);
	if (rc != API_OK)
		return api_fail(c, API_ERR_UNAVAILABLE, "the store is unreachable");
	/* The healthy answer never changes: send it as a constant. */
	c->res->status = 200;
	c->res->raw = health_ok;
	c->res->raw_len = sizeof(health_ok) - 1;
	c->res->content_type = "application/json";
	return API_OK;
}

/* Whether an If-None-Match list names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (inm == NULL)
		return false;
	for (const char *p = inm; (p = strstr(p, "*")) != NULL; p++)
		return true;
	for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n)
		return true;
	return false;
}

enum api_err api_swagger_get(struct ctx *c)
{
	/* The document is compiled in: its ETag never changes in a process. */
	static char etag[40];
	enum api_err rc = api_query_only(c, no_params);

	if (rc != API_OK)
		return rc;
	if (etag[0] == '\0') {
		char hex[65];

		if (auth_sha256_hex(openapi_yaml, strlen(openapi_yaml), hex) != 0)
			return API_ERR_INTERNAL;
		snprintf(etag, sizeof(etag), "\"%.32s\"", hex);
	}
	http_response_header(c->res, "ETag", "%s", etag);
	http_response_header(c->res, "Cache-Control", "no-cache");
	if (etag_matches(c->req->if_none_match, etag)) {
		c->res->status = 304;
		return API_OK;
	}
	c->res->status = 200;
	c->res->raw = openapi_yaml;
	c->res->raw_len = strlen(openapi_yaml);
	c->res->content_type = "application/yaml";
	return API_OK;
}

enum api_err api_metrics_get(struct ctx *c)
{
	size_t len = 0;
	const char *text;
	enum api_err rc = api_query_only(c, no_params);

	if (rc != API_OK)
		return rc;
	text = metrics_text(&len);
	if (text == NULL)
		return API_ERR_INTERNAL;
	c->res->status = 200;
	c->res->raw = text;
	c->res->raw_len = len;
	c->res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return API_OK;
}

enum api_err api_debug_sleep(struct ctx *c)
{
	const char *v = http_query_get(c->req, "ms");
	int64_t ms = 0;
	struct timespec ts;

	if (v == NULL || str_parse_int(v, 0, 10000, &ms) != 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "ms must be an integer from 0 to 10000");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0)
		;
	http_response_json(c->res, 200, json_pack("{s:I}", "slept_ms", (json_int_t)ms));
	return API_OK;
}
