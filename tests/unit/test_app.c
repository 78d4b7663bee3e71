/*
 * Unit tests of app: the dispatch layer end to end without FastCGI. The
 * store points at a closed port, so nothing here reaches a real store.
 */
#include "unit.h"

#include <stdlib.h>

#include "api.h"
#include "config.h"
#include "http.h"

struct fixture {
	struct config cfg;
	struct app app;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	setenv("DBAUDIT_MONGODB_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", 1);
	setenv("DBAUDIT_STORE_TIMEOUT_MS", "200", 1);
	setenv("DBAUDIT_RATELIMIT_FILE", "/tmp/dbaudit-unit-app-ratelimit", 1);
	assert_int_equal(config_load(&f->cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(app_init(&f->app, &f->cfg, APP_ROLE_API), API_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	app_cleanup(&f->app);
	config_cleanup(&f->cfg);
	free(f);
	return 0;
}

static json_t *run(struct fixture *f, const char *method, const char *path,
		   const char *auth, int *status, struct response *res)
{
	struct request req;

	http_request_init(&req);
	req.method = method;
	req.path = strdup(path);
	req.authorization = auth;
	http_response_init(res);
	app_handle(&f->app, &req, res);
	*status = res->status;
	http_request_cleanup(&req);
	return res->json;
}

static void test_404_405(void **state)
{
	struct response res;
	int status;
	json_t *j;

	j = run(*state, "GET", "/v1/nope", NULL, &status, &res);
	assert_int_equal(status, 404);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "not_found");
	http_response_cleanup(&res);
	j = run(*state, "DELETE", "/v1/health", NULL, &status, &res);
	assert_int_equal(status, 405);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "method_not_allowed");
	assert_string_equal(res.headers[0].name, "Allow");
	assert_string_equal(res.headers[0].value, "GET, HEAD, OPTIONS");
	http_response_cleanup(&res);
}

static void test_health_store_down(void **state)
{
	struct response res;
	int status;
	json_t *j;

	j = run(*state, "GET", "/v1/health", NULL, &status, &res);
	assert_int_equal(status, 503);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "service_unavailable");
	http_response_cleanup(&res);
}

static void test_swagger(void **state)
{
	struct response res;
	int status;

	run(*state, "GET", "/swagger", NULL, &status, &res);
	assert_int_equal(status, 200);
	assert_non_null(res.raw);
	assert_non_null(strstr(res.raw, "openapi: 3"));
	http_response_cleanup(&res);
}

static void test_error_envelope_shape(void **state)
{
	struct response res;

	(void)state;
	http_response_init(&res);
	api_error_response(&res, API_ERR_UNAUTHORIZED, "bad \xff utf8");
	assert_int_equal(res.status, 401);
	/* invalid UTF-8 in a message never reaches the client */
	assert_string_equal(json_string_value(json_object_get(json_object_get(res.json, "error"), "message")),
			    "Missing or invalid credentials.");
	assert_string_equal(res.headers[0].name, "WWW-Authenticate");
	http_response_cleanup(&res);
	assert_int_equal(api_err_status(API_ERR_UNPROCESSABLE), 422);
	assert_string_equal(api_err_code(API_ERR_UNSUPPORTED_MEDIA), "unsupported_media_type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_health_store_down),
		cmocka_unit_test(test_swagger),
		cmocka_unit_test(test_error_envelope_shape),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
