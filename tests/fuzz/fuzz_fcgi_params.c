/*
 * Fuzz target fcgi_params: http_request_parse on a FastCGI environment
 * made of the input's NUL- or newline-separated "NAME=value" strings
 * (REQUEST_URI carries the path and the query string to decode), then the
 * query lookups the handlers make. Everything decoded must be valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util/str.h"

#define MAX_ENV 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *envp[MAX_ENV + 1], *p;
	struct request req;
	const char *why = NULL;
	size_t n = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i < size; i++)
		if (buf[i] == '\n')
			buf[i] = '\0';
	/* Entries are the NUL-separated pieces; empty ones are skipped. */
	for (p = buf; p < buf + size && n < MAX_ENV; p += strlen(p) + 1)
		if (*p != '\0')
			envp[n++] = p;
	envp[n] = NULL;
	http_request_init(&req);
	if (http_request_parse(&req, envp, 5 * 1024 * 1024, &why) == API_OK) {
		if (req.path == NULL || req.path[0] != '/' || !str_utf8_valid(req.path, strlen(req.path)))
			abort();
		for (size_t i = 0; i < req.nquery; i++) {
			if (!str_utf8_valid(req.query[i].name, strlen(req.query[i].name)) ||
			    !str_utf8_valid(req.query[i].value, strlen(req.query[i].value)))
				abort();
			if (http_query_get(&req, req.query[i].name) == NULL ||
			    http_query_count(&req, req.query[i].name) == 0)
				abort();
		}
	} else if (why == NULL) {
		abort();
	}
	http_request_cleanup(&req);
	free(buf);
	return 0;
}
