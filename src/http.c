/*
 * http: FastCGI parameter parsing and response serialising, without
 * libfcgi (http_fcgi.c does the stream I/O). Everything here is strict: a
 * malformed request is refused before any handler runs.
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"

void http_request_init(struct request *req)
{
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	req->started_us = time_mono_us();
}

void http_request_cleanup(struct request *req)
{
	free(req->path);
	for (size_t i = 0; i < req->nquery; i++) {
		free(req->query[i].name);
		free(req->query[i].value);
	}
	free(req->body);
	http_request_init(req);
}

const char *http_env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static enum api_err parse_query(struct request *req, const char *q, const char **why)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t nlen = eq ? (size_t)(eq - q) : len;
		struct query_param *p;
		size_t dummy;

		if (len > 0) {
			if (req->nquery == HTTP_MAX_QUERY_PARAMS) {
				*why = "too many query parameters";
				return API_ERR_INVALID_PARAMETER;
			}
			p = &req->query[req->nquery];
			if (str_percent_decode(q, nlen, true, &p->name, &dummy) != 0) {
				*why = "malformed percent-encoding or invalid UTF-8 in the query string";
				return API_ERR_INVALID_PARAMETER;
			}
			if (str_percent_decode(eq ? eq + 1 : q + len, eq ? len - nlen - 1 : 0,
					       true, &p->value, &dummy) != 0) {
				free(p->name);
				p->name = NULL;
				*why = "malformed percent-encoding or invalid UTF-8 in the query string";
				return API_ERR_INVALID_PARAMETER;
			}
			req->nquery++;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return API_OK;
}

enum api_err http_request_parse(struct request *req, char **envp,
				int64_t max_body, const char **why)
{
	const char *uri = NULL, *cl = NULL, *qmark;
	size_t plen, dummy;
	const struct {
		const char *name;
		size_t len;
		const char **dst;
	} wanted[] = {
		{ "REQUEST_URI=", 12, &uri },
		{ "CONTENT_LENGTH=", 15, &cl },
		{ "REQUEST_METHOD=", 15, &req->method },
		{ "CONTENT_TYPE=", 13, &req->content_type },
		{ "HTTP_AUTHORIZATION=", 19, &req->authorization },
		{ "HTTP_X_API_KEY=", 15, &req->api_key },
		{ "REQUEST_ID=", 11, &req->request_id },
		{ "HTTP_LAST_EVENT_ID=", 19, &req->last_event_id },
		{ "REMOTE_ADDR=", 12, &req->remote_addr },
		{ "HTTP_HOST=", 10, &req->host },
		{ "HTTPS=", 6, &req->https },
		{ "HTTP_ORIGIN=", 12, &req->origin },
		{ "HTTP_IF_NONE_MATCH=", 19, &req->if_none_match },
	};

	/* One pass over the environment: it has dozens of entries per request. */
	for (char **e = envp; e != NULL && *e != NULL; e++) {
		for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
			if ((*e)[0] == wanted[i].name[0] &&
			    strncmp(*e, wanted[i].name, wanted[i].len) == 0) {
				*wanted[i].dst = *e + wanted[i].len;
				break;
			}
		}
	}
	if (req->content_type != NULL && req->content_type[0] == '\0')
		req->content_type = NULL;
	if (req->request_id != NULL && (strlen(req->request_id) > 64 ||
					!str_utf8_valid(req->request_id, strlen(req->request_id))))
		req->request_id = NULL;

	if (req->method == NULL || uri == NULL || uri[0] != '/') {
		*why = "the request has no method or path";
		return API_ERR_INVALID_PARAMETER;
	}
	qmark = strchr(uri, '?');
	plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
	if (plen > HTTP_MAX_PATH) {
		*why = "the path is too long";
		return API_ERR_INVALID_PARAMETER;
	}
	if (str_percent_decode(uri, plen, false, &req->path, &dummy) != 0) {
		*why = "malformed percent-encoding or invalid UTF-8 in the path";
		return API_ERR_INVALID_PARAMETER;
	}
	if (qmark != NULL) {
		enum api_err e = parse_query(req, qmark + 1, why);

		if (e != API_OK)
			return e;
	}
	if (cl != NULL && cl[0] != '\0') {
		int64_t n;

		if (str_parse_int(cl, 0, INT64_MAX, &n) != 0 || cl[0] == '-') {
			*why = "Content-Length is not a number";
			return API_ERR_INVALID_PARAMETER;
		}
		if (n > max_body) {
			*why = "the request body is larger than the limit";
			return API_ERR_PAYLOAD_TOO_LARGE;
		}
		req->content_length = n;
	}
	return API_OK;
}

const char *http_query_get(const struct request *req, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, name) == 0)
			v = req->query[i].value;
	return v;
}

size_t http_query_count(const struct request *req, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].name, name) == 0)
			n++;
	return n;
}

void http_response_init(struct response *res)
{
	memset(res, 0, sizeof(*res));
	res->status = 200;
}

void http_response_cleanup(struct response *res)
{
	json_decref(res->json);
	if (res->stream_free != NULL)
		res->stream_free(res->stream_arg);
	http_response_init(res);
}

void http_response_header(struct response *res, const char *name, const char *fmt, ...)
{
	struct header *h;
	va_list ap;

	if (res->nheaders == HTTP_MAX_HEADERS)
		return;
	h = &res->headers[res->nheaders++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
	/* A header value never carries a line break, whatever went into it. */
	for (char *p = h->value; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
}

void http_response_json(struct response *res, int status, json_t *body)
{
	json_decref(res->json);
	res->json = body;
	res->raw = NULL;
	res->status = status;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Appends the decimal digits of v. */
static int buf_append_uint(struct buf *b, size_t v)
{
	char digits[24];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return buf_append(b, digits + i, sizeof(digits) - i);
}

/* Appends "name: value\r\n". */
static int buf_append_header(struct buf *b, const char *name, const char *value)
{
	return buf_appends(b, name) | buf_append(b, ": ", 2) | buf_appends(b, value) |
	       buf_append(b, "\r\n", 2);
}

/*
 * Built with plain appends, no printf: this runs on every response and
 * formatting showed up as a third of a request's CPU time.
 */
int http_response_serialise(const struct response *res, const char *rid, struct buf *out)
{
	char *json = NULL;
	const char *body = NULL;
	size_t blen = 0;
	int rc = 0;

	if (res->json != NULL && res->status != 204) {
		json = json_dumps(res->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (json == NULL)
			return -1;
		body = json;
		blen = strlen(json);
	} else if (res->raw != NULL) {
		body = res->raw;
		blen = res->raw_len;
	}
	rc |= buf_append(out, "Status: ", 8);
	rc |= buf_append_uint(out, (size_t)res->status);
	rc |= buf_append(out, " ", 1);
	rc |= buf_appends(out, http_reason(res->status));
	rc |= buf_append(out, "\r\n", 2);
	if (body != NULL) {
		rc |= buf_append_header(out, "Content-Type",
					res->raw ? res->content_type : "application/json");
		rc |= buf_append(out, "Content-Length: ", 16);
		rc |= buf_append_uint(out, blen);
		rc |= buf_append(out, "\r\n", 2);
	}
	if (rid != NULL)
		rc |= buf_append_header(out, "X-Request-ID", rid);
	for (size_t i = 0; i < res->nheaders; i++)
		rc |= buf_append_header(out, res->headers[i].name, res->headers[i].value);
	rc |= buf_append(out, "\r\n", 2);
	if (body != NULL)
		rc |= buf_append(out, body, blen);
	free(json);
	return rc == 0 ? 0 : -1;
}
