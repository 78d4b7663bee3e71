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

/* The cases of tests/unit/data/http_parse.test (its header says the format). */
static void test_parse_table(void **state)
{
	static char l[UNIT_CASE_MAX_LINES][UNIT_CASE_LINE];
	struct unit_cases uc;
	size_t n, ncases = 0;

	(void)state;
	unit_cases_open(&uc, "http_parse.test");
	while ((n = unit_cases_next(&uc, l)) > 0) {
		struct request req;
		enum api_err rc;
		const char *got;

		if (n < 3)
			fail_msg("%s:%d: a case needs uri, content-length, result", uc.path, uc.line);
		rc = parse(&req, l[0], strcmp(l[1], "-") == 0 ? "" : l[1]);
		if (strcmp(api_err_code(rc), l[2]) != 0)
			fail_msg("%s:%d: %s gave %s, want %s", uc.path, uc.line, l[0],
				 api_err_code(rc), l[2]);
		for (size_t i = 3; i < n; i++) {
			char *eq;

			if (strncmp(l[i], "path ", 5) == 0) {
				if (req.path == NULL || strcmp(req.path, l[i] + 5) != 0)
					fail_msg("%s:%d: path %s, want %s", uc.path, uc.line,
						 req.path ? req.path : "(none)", l[i] + 5);
			} else if (strncmp(l[i], "query ", 6) == 0 && (eq = strchr(l[i], '=')) != NULL) {
				*eq = '\0';
				got = http_query_get(&req, l[i] + 6);
				if (got == NULL || strcmp(got, eq + 1) != 0)
					fail_msg("%s:%d: query %s is %s, want %s", uc.path, uc.line,
						 l[i] + 6, got ? got : "(absent)", eq + 1);
			} else if (strncmp(l[i], "noquery ", 8) == 0) {
				if (http_query_get(&req, l[i] + 8) != NULL)
					fail_msg("%s:%d: query %s present", uc.path, uc.line, l[i] + 8);
			} else {
				fail_msg("%s:%d: unknown check '%s'", uc.path, uc.line, l[i]);
			}
		}
		http_request_cleanup(&req);
		ncases++;
	}
	unit_cases_close(&uc);
	assert_true(ncases > 0);
}

static void test_parse_long_path(void **state)
{
	struct request req;
	char longpath[3000];

	(void)state;
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
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_long_path),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_serialise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
