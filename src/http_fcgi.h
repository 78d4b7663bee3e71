/*
 * http_fcgi: the request body and the response over libfcgi's streams.
 * Only the mains and the threaded stream server include this header
 * (scripts/checksrc checks that no api_*.c reaches fcgiapp.h); handlers see
 * the request and response of http.h, and a streamed body as the opaque
 * struct http_sink.
 */
#ifndef DBAUDIT_HTTP_FCGI_H
#define DBAUDIT_HTTP_FCGI_H

#include <fcgiapp.h>

#include "http.h"

/* Where a streamed body goes: the FastCGI output of the request. */
struct http_sink {
	FCGX_Stream *out;
};

/*
 * Reads exactly Content-Length bytes of body from in. Errors:
 * API_ERR_INVALID_PARAMETER when the stream ends early or fails.
 */
enum api_err http_request_read_body(struct request *req, FCGX_Stream *in,
				    const char **why);

/* Writes the serialised response to the FastCGI stream. Returns 0 or -1. */
int http_response_write(const struct response *res, const char *rid,
			FCGX_Stream *out);

#endif
