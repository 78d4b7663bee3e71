/* collector_api: the collector's libcurl client. */
#include "collector_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "config.h"
#include "util/buf.h"
#include "util/str.h"

struct collector_api {
	CURL *curl;
	char *base;
	struct curl_slist *headers;   /* holds the key: never logged */
	int64_t timeout_ms;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;

	if (b->len + n > 1024 * 1024)
		return n;   /* keep the first MiB: enough for any answer of the API */
	return buf_append(b, p, n) == 0 ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	int64_t *retry = ud;
	size_t n = size * nmemb;
	char v[32];
	size_t k = strlen("retry-after:");

	if (n > k && strncasecmp(p, "retry-after:", k) == 0) {
		size_t vn = n - k;

		while (vn > 0 && (p[k] == ' ' || p[k] == '\t')) {
			k++;
			vn--;
		}
		while (vn > 0 && (p[k + vn - 1] == '\r' || p[k + vn - 1] == '\n' || p[k + vn - 1] == ' '))
			vn--;
		if (vn > 0 && vn < sizeof(v)) {
			memcpy(v, p + k, vn);
			v[vn] = '\0';
			if (str_parse_int(v, 0, 86400, retry) != 0)
				*retry = -1;
		}
	}
	return n;
}

enum api_err collector_api_create(const char *base_url, const char *key_file, int64_t timeout_ms,
				  struct collector_api **out, char *err, size_t errlen)
{
	struct collector_api *a = NULL;
	char *key = NULL;
	size_t klen = 0, blen = strlen(base_url);
	struct buf h;
	enum api_err rc = API_ERR_INTERNAL;

	*out = NULL;
	buf_init(&h);
	if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
		snprintf(err, errlen, "api_url must start with http:// or https://");
		return API_ERR_INVALID_PARAMETER;
	}
	key = config_read_file(key_file, &klen);
	if (key == NULL || klen == 0 || strpbrk(key, "\r\n") != NULL) {
		snprintf(err, errlen, "cannot read an API key from %s", key_file);
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto out;
	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	a->base = strndup(base_url, blen);
	a->curl = curl_easy_init();
	a->timeout_ms = timeout_ms;
	if (a->base == NULL || a->curl == NULL || buf_appendf(&h, "Authorization: Bearer %s", key) != 0)
		goto out;
	a->headers = curl_slist_append(NULL, h.data);
	if (a->headers == NULL)
		goto out;
	a->headers = curl_slist_append(a->headers, "Content-Type: application/json");
	if (a->headers == NULL)
		goto out;
	a->headers = curl_slist_append(a->headers, "Expect:");
	if (a->headers == NULL)
		goto out;
	*out = a;
	a = NULL;
	rc = API_OK;
out:
	if (h.data != NULL)
		memset(h.data, 0, h.len);
	buf_cleanup(&h);
	if (key != NULL)
		memset(key, 0, klen);
	free(key);
	collector_api_free(a);
	return rc;
}

void collector_api_free(struct collector_api *a)
{
	if (a == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	curl_slist_free_all(a->headers);
	free(a->base);
	free(a);
}

enum api_err collector_api_post(struct collector_api *a, const char *path, const char *body,
				size_t n, struct collector_reply *reply)
{
	struct buf url, resp;
	CURLcode cc;
	enum api_err rc = API_ERR_UNAVAILABLE;

	memset(reply, 0, sizeof(*reply));
	reply->retry_after_s = -1;
	buf_init(&url);
	buf_init(&resp);
	if (buf_appendf(&url, "%s%s", a->base, path) != 0 || buf_append(&resp, "", 0) != 0) {
		snprintf(reply->error, sizeof(reply->error), "out of memory");
		goto out;
	}
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url.data);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, a->headers);
	curl_easy_setopt(a->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(a->timeout_ms < 5000 ? a->timeout_ms : 5000));
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "dbaudit-collector/" PACKAGE_VERSION);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, &reply->retry_after_s);
	cc = curl_easy_perform(a->curl);
	if (cc != CURLE_OK) {
		snprintf(reply->error, sizeof(reply->error), "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &reply->status);
	rc = API_OK;
out:
	reply->body = buf_steal(&resp);
	if (reply->body == NULL)
		reply->body = strdup("");
	buf_cleanup(&url);
	return rc;
}
