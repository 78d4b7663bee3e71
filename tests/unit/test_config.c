/* Unit tests of config: defaults, file, environment overrides, errors. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

static const char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/dbaudit-unit-%d.conf", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.mongodb_database, "dbaudit");
	assert_int_equal(c.max_body_bytes, 5242880);
	assert_false(c.debug_routes);
	config_cleanup(&c);
}

static void test_file_and_env(void **state)
{
	struct config c;
	char err[256];
	const char *p = write_tmp("# comment\nmongodb_database = audit2\nstore_timeout_ms=1500\n\ndebug_routes = true\n");

	(void)state;
	setenv("DBAUDIT_STORE_TIMEOUT_MS", "900", 1);
	assert_int_equal(config_load(&c, p, err, sizeof(err)), 0);
	assert_string_equal(c.mongodb_database, "audit2");
	assert_int_equal(c.store_timeout_ms, 900);
	assert_true(c.debug_routes);
	config_cleanup(&c);
	unsetenv("DBAUDIT_STORE_TIMEOUT_MS");
	remove(p);
}

static void test_errors(void **state)
{
	struct config c;
	char err[256];
	const char *p;

	(void)state;
	p = write_tmp("mongodb_urii = x\n");
	assert_int_equal(config_load(&c, p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown key 'mongodb_urii'"));
	config_cleanup(&c);
	p = write_tmp("store_timeout_ms = fast\n");
	assert_int_equal(config_load(&c, p, err, sizeof(err)), -1);
	config_cleanup(&c);
	p = write_tmp("no equals sign\n");
	assert_int_equal(config_load(&c, p, err, sizeof(err)), -1);
	config_cleanup(&c);
	remove(p);
	assert_int_equal(config_load(&c, "/nonexistent/dbaudit.conf", err, sizeof(err)), -1);
	config_cleanup(&c);
}

static void test_cursor_lease(void **state)
{
	struct config c;
	char err[256];
	const char *p;

	(void)state;
	unsetenv("DBAUDIT_CURSOR_GAP_LEASE_MS");
	assert_int_equal(config_load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.cursor_gap_lease_ms, 30000);
	config_cleanup(&c);
	/* a lease shorter than two store timeouts would claim live writers' sequences */
	p = write_tmp("store_timeout_ms = 2000\ncursor_gap_lease_ms = 3999\n");
	assert_int_equal(config_load(&c, p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cursor_gap_lease_ms"));
	config_cleanup(&c);
	p = write_tmp("store_timeout_ms = 2000\ncursor_gap_lease_ms = 4000\n");
	assert_int_equal(config_load(&c, p, err, sizeof(err)), 0);
	config_cleanup(&c);
	remove(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_env),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cursor_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
