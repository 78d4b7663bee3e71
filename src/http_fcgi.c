/*
 * http_fcgi: the only library code that touches libfcgi's streams: the
 * request body in, the serialised response out.
 */
#include "http_fcgi.h"

#include <stdlib.h>

#include "util/buf.h"

enum api_err http_request_read_body(struct request *req, FCGX_Stream *in,
				    const char **why)
{
	size_t want, got = 0;

	if (req->content_length <= 0)
		return API_OK;
	want = (size_t)req->content_length;
	req->body = malloc(want + 1);
	if (req->body == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	while (got < want) {
		size_t chunk = want - got > (1u << 20) ? (1u << 20) : want - got;
		int n = FCGX_GetStr(req->body + got, (int)chunk, in);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != want || FCGX_GetError(in) != 0) {
		*why = "the request body is shorter than Content-Length";
		return API_ERR_INVALID_PARAMETER;
	}
	req->body[got] = '\0';
	req->body_len = got;
	return API_OK;
}

int http_response_write(const struct response *res, const char *rid, FCGX_Stream *out)
{
	struct buf b;
	int rc = -1;

	buf_init(&b);
	if (http_response_serialise(res, rid, &b) == 0 &&
	    FCGX_PutStr(b.data, (int)b.len, out) == (int)b.len)
		rc = 0;
	buf_cleanup(&b);
	return rc;
}

int http_sink_send(struct http_sink *sink, const char *p, size_t n)
{
	if (n > 0 && FCGX_PutStr(p, (int)n, sink->out) != (int)n)
		return -1;
	/* A client that went away shows here, as EPIPE on the flush. */
	return FCGX_FFlush(sink->out) == 0 ? 0 : -1;
}
