/*
 * collector_api: dbaudit-collector's HTTP client of the dbaudit API
 * (libcurl): POSTs JSON with the API key, reads the status, Retry-After
 * and body. The key is read from its file once and never logged.
 */
#ifndef DBAUDIT_COLLECTOR_API_H
#define DBAUDIT_COLLECTOR_API_H

#include <stddef.h>
#include <stdint.h>

#include "api_err.h"

struct collector_api;

/* The answer to one request. */
struct collector_reply {
	long status;            /* HTTP status, 0 when no answer came */
	int64_t retry_after_s;  /* Retry-After in seconds, or -1 */
	char *body;             /* malloc'ed, NUL-terminated (possibly ""); caller frees */
	char error[128];        /* why no answer came (status 0) */
};

/*
 * Creates a client for base_url (http or https, no trailing slash needed)
 * with the key in key_file. timeout_ms bounds each request. On failure
 * writes a reason to err. The caller frees *out with collector_api_free.
 */
enum api_err collector_api_create(const char *base_url, const char *key_file, int64_t timeout_ms,
				  struct collector_api **out, char *err, size_t errlen);

/* Frees a client; NULL is a no-op. */
void collector_api_free(struct collector_api *a);

/*
 * POSTs the n bytes of JSON at body to base_url + path. Always fills
 * *reply (free reply->body). Returns API_OK when an HTTP answer came
 * (whatever its status), API_ERR_UNAVAILABLE when none did.
 */
enum api_err collector_api_post(struct collector_api *a, const char *path, const char *body,
				size_t n, struct collector_reply *reply);

#endif
