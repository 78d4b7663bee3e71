/*
 * http: the request and response as the handlers see them: parsing the
 * FastCGI parameters (plain "NAME=value" strings) and serialising a status,
 * headers and a body. Nothing here touches libfcgi: the stream I/O is in
 * http_fcgi.h, which only the mains include, so no handler can reach it.
 */
#ifndef DBAUDIT_HTTP_H
#define DBAUDIT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"
#include "input_limits.h"

#define HTTP_MAX_HEADERS 12

struct query_param {
	char *name;   /* owned, decoded */
	char *value;  /* owned, decoded */
};

struct request {
	const char *method;        /* borrowed from the FastCGI environment */
	char *path;                /* owned, percent-decoded */
	struct query_param query[HTTP_MAX_QUERY_PARAMS];
	size_t nquery;
	const char *content_type;  /* borrowed; NULL when absent */
	const char *authorization; /* borrowed */
	const char *api_key;       /* borrowed, X-Api-Key */
	const char *request_id;    /* borrowed; nginx's $request_id */
	const char *last_event_id; /* borrowed */
	const char *remote_addr;   /* borrowed */
	const char *host;          /* borrowed, Host header; NULL when absent */
	const char *https;         /* borrowed, nginx's $https ("on"); NULL for http */
	const char *origin;        /* borrowed, Origin (CORS); NULL when absent */
	const char *if_none_match; /* borrowed, If-None-Match; NULL when absent */
	char *body;                /* owned, NUL-terminated; NULL when empty */
	size_t body_len;
	int64_t content_length;    /* -1 when absent or empty */
	int64_t started_us;        /* monotonic, microseconds */
};

struct header {
	char name[40];
	char value[2048];   /* room for a Link header carrying every list filter */
};

/*
 * Where a streamed body goes: the server's output for the request, opaque
 * here (http_fcgi.h defines it), so a handler writes only through
 * http_sink_send.
 */
struct http_sink;

struct response {
	int status;
	json_t *json;               /* owned body, serialised compactly */
	const char *raw;            /* borrowed static body (e.g. the OpenAPI text) */
	size_t raw_len;
	const char *content_type;   /* for raw bodies; JSON otherwise */
	struct header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	/*
	 * A streamed body (Server-Sent Events): once the head is written, the
	 * server calls stream(stream_arg, sink), which writes the body until
	 * it returns. stream_free(stream_arg) runs at cleanup, streamed or not.
	 * NULL for every ordinary response.
	 */
	void (*stream)(void *arg, struct http_sink *sink);
	void (*stream_free)(void *arg);
	void *stream_arg;
};

/* Empties req so that http_request_cleanup is always safe. */
void http_request_init(struct request *req);

/* Frees what req owns. */
void http_request_cleanup(struct request *req);

/*
 * Fills req from a FastCGI environment (NULL-terminated "NAME=value"
 * strings): method, strictly decoded path and query, the headers the API
 * uses. Errors: API_ERR_INVALID_PARAMETER for bad percent-encoding, invalid
 * UTF-8, a missing or over-long path, too many parameters or malformed
 * Content-Length; API_ERR_PAYLOAD_TOO_LARGE when Content-Length exceeds
 * max_body. *why receives a static sentence for the error message.
 */
enum api_err http_request_parse(struct request *req, char **envp,
				int64_t max_body, const char **why);

/* Last value of query parameter name, or NULL. */
const char *http_query_get(const struct request *req, const char *name);

/* Number of times name occurs in the query. */
size_t http_query_count(const struct request *req, const char *name);

/* Looks up a FastCGI parameter in envp. */
const char *http_env_get(char **envp, const char *name);

/* Empties res (status 200, no body). */
void http_response_init(struct response *res);

/* Frees the body res owns and empties it. */
void http_response_cleanup(struct response *res);

/* Adds a response header; silently drops it beyond HTTP_MAX_HEADERS. */
void http_response_header(struct response *res, const char *name,
			  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets a JSON body (ownership of body passes to res) and a status. */
void http_response_json(struct response *res, int status, json_t *body);

/*
 * Serialises status line, headers (plus X-Request-ID when rid is set) and
 * body into out. Returns 0, or -1 when memory runs out.
 */
struct buf;
int http_response_serialise(const struct response *res, const char *rid,
			    struct buf *out);

/*
 * Writes n bytes of a streamed body and flushes them to the client.
 * Returns 0, or -1 when the client is gone (or the stream failed).
 */
int http_sink_send(struct http_sink *sink, const char *p, size_t n);

/* Reason phrase of a status code. */
const char *http_reason(int status);

#endif
