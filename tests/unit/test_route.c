/* Unit tests of route: matching, parameters, 404 versus 405. */
#include "unit.h"

#include "route.h"

static enum api_err h(struct ctx *c)
{
	(void)c;
	return API_OK;
}

static const struct route table[] = {
	{ "GET", "/v1/events/stream", h, "read:events", 0 },
	{ "GET", "/v1/events/{id}", h, "read:events", 0 },
	{ "GET", "/v1/events", h, "read:events", 0 },
	{ "POST", "/v1/events", h, "write:events", ROUTE_NDJSON },
	{ "GET", "/v1/databases/{id}/status", h, "read:databases", 0 },
	{ "PATCH", "/v1/databases/{id}", h, "write:databases", 0 },
	{ "DELETE", "/v1/databases/{id}", h, "write:databases", 0 },
	{ "GET", "/v1/_debug/sleep", h, NULL, ROUTE_DEBUG },
};

#define N (sizeof(table) / sizeof(table[0]))

static void test_match(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_find(table, N, "GET", "/v1/events", 0, &m), API_OK);
	assert_ptr_equal(m.route, &table[2]);
	assert_int_equal(route_find(table, N, "GET", "/v1/events/stream", 0, &m), API_OK);
	assert_ptr_equal(m.route, &table[0]);
	assert_int_equal(route_find(table, N, "GET", "/v1/events/evt_1", 0, &m), API_OK);
	assert_ptr_equal(m.route, &table[1]);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0], "evt_1");
	assert_int_equal(route_find(table, N, "GET", "/v1/databases/db_9/status", 0, &m), API_OK);
	assert_string_equal(m.params[0], "db_9");
}

static void test_not_found_vs_not_allowed(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_find(table, N, "GET", "/v1/nothing", 0, &m), API_ERR_NOT_FOUND);
	assert_int_equal(route_find(table, N, "GET", "/v1/events/", 0, &m), API_ERR_NOT_FOUND);
	assert_int_equal(route_find(table, N, "GET", "/v1//events", 0, &m), API_ERR_NOT_FOUND);
	assert_int_equal(route_find(table, N, "GET", "/v1/events/a/b", 0, &m), API_ERR_NOT_FOUND);
	assert_int_equal(route_find(table, N, "DELETE", "/v1/events", 0, &m), API_ERR_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "GET, POST");
	assert_int_equal(route_find(table, N, "GET", "/v1/databases/x", 0, &m), API_ERR_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "PATCH, DELETE");
}

static void test_debug_routes(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_find(table, N, "GET", "/v1/_debug/sleep", 0, &m), API_ERR_NOT_FOUND);
	assert_int_equal(route_find(table, N, "GET", "/v1/_debug/sleep", 1, &m), API_OK);
}

static void test_real_table_is_sound(void **state)
{
	(void)state;
	/* Every route of the real table names a method and an absolute pattern. */
	for (size_t i = 0; i < route_table_len; i++) {
		assert_non_null(route_table[i].method);
		assert_true(route_table[i].pattern[0] == '/');
		assert_non_null(route_table[i].handler);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_not_found_vs_not_allowed),
		cmocka_unit_test(test_debug_routes),
		cmocka_unit_test(test_real_table_is_sound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
