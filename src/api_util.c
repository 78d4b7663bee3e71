/* api_util: parameter parsing shared by every handler. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "principal.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"

enum api_err api_query_int(struct ctx *c, const char *name, int64_t min, int64_t max,
			   int64_t def, int64_t *out)
{
	const char *v = http_query_get(c->req, name);

	if (v == NULL) {
		*out = def;
		return API_OK;
	}
	if (http_query_count(c->req, name) > 1)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s is given more than once", name);
	if (str_parse_int(v, min, max, out) != 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s must be between %lld and %lld",
				name, (long long)min, (long long)max);
	return API_OK;
}

enum api_err api_query_str(struct ctx *c, const char *name, size_t maxlen, const char **out)
{
	const char *v = http_query_get(c->req, name);

	*out = NULL;
	if (v == NULL)
		return API_OK;
	if (http_query_count(c->req, name) > 1)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s is given more than once", name);
	if (strlen(v) > maxlen)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s is longer than %zu bytes", name, maxlen);
	*out = v;
	return API_OK;
}

enum api_err api_query_time(struct ctx *c, const char *name, bool end_of_day, bool *has,
			    int64_t *ms)
{
	const char *v = http_query_get(c->req, name);
	char full[40];

	*has = false;
	if (v == NULL)
		return API_OK;
	if (http_query_count(c->req, name) > 1)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "%s is given more than once", name);
	if (strlen(v) == 10 && v[4] == '-' && v[7] == '-') {
		snprintf(full, sizeof(full), "%sT%s", v, end_of_day ? "23:59:59.999Z" : "00:00:00Z");
		v = full;
	}
	if (time_parse_rfc3339(v, ms) != 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"%s must be an RFC 3339 date-time such as 2025-01-15T14:32:18Z, or a "
				"date, from 0001-01-01 to 9999-12-31 in UTC", name);
	*has = true;
	return API_OK;
}

enum api_err api_query_only(struct ctx *c, const char *const *allowed)
{
	for (size_t i = 0; i < c->req->nquery; i++) {
		const char *n = c->req->query[i].name;
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, n) == 0)
				break;
		if (*a == NULL) {
			if (strlen(n) > 64 || !str_utf8_valid(n, strlen(n)))
				return api_fail(c, API_ERR_INVALID_PARAMETER, "unknown query parameter");
			return api_fail(c, API_ERR_INVALID_PARAMETER, "unknown query parameter '%s'", n);
		}
	}
	return API_OK;
}

enum api_err api_write_tenant(struct ctx *c, const char *requested, const char **out)
{
	const struct principal *p = c->who;

	if (requested == NULL) {
		if (p->ntenants == 1) {
			*out = p->tenants[0];
			return API_OK;
		}
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"tenant_id is required: the credentials hold several tenants");
	}
	for (size_t i = 0; i < p->ntenants; i++) {
		if (strcmp(p->tenants[i], requested) == 0) {
			*out = p->tenants[i];
			return API_OK;
		}
	}
	return api_fail(c, API_ERR_FORBIDDEN, "the credentials do not hold that tenant_id");
}

static int append_encoded(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (buf_append(b, s, 1) != 0)
				return -1;
		} else if (buf_appendf(b, "%%%02X", ch) != 0) {
			return -1;
		}
	}
	return 0;
}

void api_respond_page(struct ctx *c, json_t *data, int64_t total, int64_t page, int64_t per_page)
{
	http_response_json(c->res, 200, json_pack("{s:o,s:{s:I,s:I,s:I}}", "data", data,
						   "pagination", "total", (json_int_t)total,
						   "page", (json_int_t)page, "per_page", (json_int_t)per_page));
}

void api_link_next(struct ctx *c, const char *path, const char *cursor_name,
		   const char *cursor, const char *limit_name, int64_t limit,
		   const char *const *carry)
{
	const char *base = c->app && c->app->cfg ? c->app->cfg->public_base_url : "";
	struct buf b;

	/* The Host header is the client's to choose: it never makes a link. */
	buf_init(&b);
	if (buf_appendf(&b, "<%s%s?%s=", base ? base : "", path, cursor_name) != 0 ||
	    append_encoded(&b, cursor) != 0 ||
	    buf_appendf(&b, "&%s=%lld", limit_name, (long long)limit) != 0)
		goto out;
	for (const char *const *p = carry; *p; p++) {
		const char *v = http_query_get(c->req, *p);

		if (v == NULL)
			continue;
		if (buf_appendf(&b, "&%s=", *p) != 0 || append_encoded(&b, v) != 0)
			goto out;
	}
	if (buf_appends(&b, ">; rel=\"next\"") == 0)
		http_response_header(c->res, "Link", "%s", b.data);
out:
	buf_cleanup(&b);
}
