/* Unit tests of http: request parsing from a FastCGI environment, response serialisation. */
#include "unit.h"

#include "http.h"
#include "util/buf.h"

static enum api_err parse(struct request *req, const char *uri, const char *cl)
{
	char u[4200], c[64];
	char *envp[] = { "REQUEST_METHOD=GET", u, c, "HTTP_X_API_KEY=k", "REQUEST_ID=abc", NULL };
	const char *why = NULL;

	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	snprintf(c, sizeof(c), "CONTENT_LENGTH=%s", cl);
	http_request_init(req);
	return http_request_parse(req, envp, 5 * 1024 * 1024, &why);
}

static void test_parse_path_and_query(void **state)
{
	struct request req;

	(void)state;
	assert_int_equal(parse(&req, "/v1/events/evt_1?type=security.*&limit=10&user=a%20b&x", ""), API_OK);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/v1/events/evt_1");
	assert_string_equal(http_query_get(&req, "type"), "security.*");
	assert_string_equal(http_query_get(&req, "user"), "a b");
	assert_string_equal(http_query_get(&req, "x"), "");
	assert_null(http_query_get(&req, "nope"));
	assert_string_equal(req.api_key, "k");
	assert_string_equal(req.request_id, "abc");
	assert_int_equal(req.content_length, -1);
	http_request_cleanup(&req);
}

static void test_parse_rejects(void **state)
{
	struct request req;
	char longpath[3000];

	(void)state;
	assert_int_equal(parse(&req, "/v1/%zz", ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/events?user=%", ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/events?user=%ff", ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/%00", ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/health", "12x"), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/health", "-1"), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
	assert_int_equal(parse(&req, "/v1/health", "5242881"), API_ERR_PAYLOAD_TOO_LARGE);
	http_request_cleanup(&req);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(parse(&req, longpath, ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
}

static void test_too_many_params(void **state)
{
	struct request req;
	char uri[1024] = "/v1/events?";
	size_t len = strlen(uri);

	(void)state;
	for (int i = 0; i < HTTP_MAX_QUERY_PARAMS + 1; i++)
		len += (size_t)snprintf(uri + len, sizeof(uri) - len, "a=1&");
	assert_int_equal(parse(&req, uri, ""), API_ERR_INVALID_PARAMETER);
	http_request_cleanup(&req);
}

static void test_serialise(void **state)
{
	struct response res;
	struct buf b;

	(void)state;
	http_response_init(&res);
	buf_init(&b);
	http_response_json(&res, 404, json_pack("{s:s}", "a", "b"));
	http_response_header(&res, "X-Test", "v\r\nInjected: 1");
	assert_int_equal(http_response_serialise(&res, "rid1", &b), 0);
	assert_non_null(strstr(b.data, "Status: 404 Not Found\r\n"));
	assert_non_null(strstr(b.data, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(b.data, "X-Request-ID: rid1\r\n"));
	assert_non_null(strstr(b.data, "X-Test: v  Injected: 1\r\n"));
	assert_non_null(strstr(b.data, "\r\n\r\n{\"a\":\"b\"}"));
	buf_cleanup(&b);
	http_response_cleanup(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_path_and_query),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_serialise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
