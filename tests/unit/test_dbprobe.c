/*
 * Unit tests of dbprobe: the address policy, SHOW GRANTS
 * parsing, and the mapping of real failures (a closed port, a listener
 * that never answers) to result kinds for every backend. Only 127.0.0.1
 * is ever contacted.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbprobe.h"
#include "util/timeutil.h"

static bool allowed(const char *ip, bool loopback)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	return dbprobe_addr_allowed((struct sockaddr *)&ss, loopback);
}

static void test_addr_policy(void **state)
{
	(void)state;
	assert_false(allowed("127.0.0.1", false));
	assert_true(allowed("127.0.0.1", true));
	assert_false(allowed("127.8.9.10", false));
	assert_false(allowed("::1", false));
	assert_true(allowed("::1", true));
	assert_false(allowed("::ffff:127.0.0.1", false));
	assert_false(allowed("169.254.169.254", true));
	assert_false(allowed("fe80::1", true));
	assert_false(allowed("0.0.0.0", true));
	assert_false(allowed("::", true));
	assert_false(allowed("224.0.0.1", true));
	assert_false(allowed("255.255.255.255", true));
	/* private networks are where databases live */
	assert_true(allowed("10.1.2.3", false));
	assert_true(allowed("192.168.1.10", false));
	assert_true(allowed("172.16.0.5", false));
	assert_true(allowed("fd00::5", false));
	assert_true(allowed("203.0.113.7", false));
}

static void test_grants(void **state)
{
	(void)state;
	assert_true(dbprobe_mysql_grant_has("GRANT ALL PRIVILEGES ON *.* TO `root`@`127.0.0.1` WITH GRANT OPTION",
					    "SELECT", "test"));
	assert_true(dbprobe_mysql_grant_has("GRANT SELECT, PROCESS ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*AB'",
					    "PROCESS", NULL));
	assert_true(dbprobe_mysql_grant_has("GRANT SELECT ON `test`.* TO `a`@`%`", "SELECT", "test"));
	assert_false(dbprobe_mysql_grant_has("GRANT SELECT ON `test`.* TO `a`@`%`", "SELECT", "prod"));
	assert_false(dbprobe_mysql_grant_has("GRANT SELECT ON `test`.* TO `a`@`%`", "PROCESS", NULL));
	assert_true(dbprobe_mysql_grant_has("GRANT SELECT ON `app\\_%`.* TO `a`@`%`", "SELECT", "app_prod"));
	assert_false(dbprobe_mysql_grant_has("GRANT SELECT ON `app\\_%`.* TO `a`@`%`", "SELECT", "appXprod"));
	assert_true(dbprobe_mysql_grant_has("GRANT SELECT ON `a``b`.* TO `u`@`%`", "SELECT", "a`b"));
	assert_false(dbprobe_mysql_grant_has("GRANT SELECT ON `test`.`t1` TO `a`@`%`", "SELECT", "test"));
	assert_false(dbprobe_mysql_grant_has("GRANT SELECT (c1, c2), INSERT ON `test`.* TO `a`@`%`",
					     "SELECT", "test"));
	assert_true(dbprobe_mysql_grant_has("GRANT INSERT, SELECT ON `test`.* TO `a`@`%`", "select", "test"));
	assert_false(dbprobe_mysql_grant_has("GRANT USAGE ON *.* TO `a`@`%`", "SELECT", "test"));
	assert_false(dbprobe_mysql_grant_has("GRANT `auditor` TO `a`@`%`", "SELECT", "test"));
	assert_false(dbprobe_mysql_grant_has("REVOKE SELECT ON *.* FROM `a`", "SELECT", "test"));
	assert_false(dbprobe_mysql_grant_has("GRANT EXECUTE ON PROCEDURE `test`.`p` TO `a`@`%`",
					     "SELECT", "test"));
}

static void test_kinds(void **state)
{
	struct dbprobe_target t;
	struct dbprobe_result r;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.type = DB_POSTGRESQL;
	t.host = "::1";
	t.port = 5432;
	t.password = "pw-XYZ";
	t.database = "d";
	t.timeout_ms = 5000;
	dbprobe_result_init(&r);
	dbprobe_failf(&r, &t, DBPROBE_REFUSED, "driver error %d", 111);
	assert_false(r.ok);
	assert_string_equal(dbprobe_kind_name(r.kind), "connection_refused");
	assert_non_null(strstr(r.message, "[::1]:5432"));
	assert_string_equal(r.detail, "driver error 111");
	dbprobe_fail(&r, &t, DBPROBE__COUNT, NULL);
	assert_int_equal(r.kind, DBPROBE_OTHER);
	for (int k = 1; k < DBPROBE__COUNT; k++) {
		dbprobe_fail(&r, &t, (enum dbprobe_kind)k, NULL);
		assert_true(strlen(r.message) > 20);
		assert_null(strstr(r.message, "pw-XYZ"));
	}
	assert_string_equal(dbprobe_kind_name(DBPROBE_AUTH), "authentication_failed");
	assert_string_equal(dbprobe_kind_name(DBPROBE_TIMEOUT), "timeout");
	dbprobe_result_cleanup(&r);
}

/* A listening socket on 127.0.0.1 that never accepts (the kernel completes handshakes). */
static int silent_listener(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port with nothing listening: bind, read the port, close. */
static int closed_port(void)
{
	int port, fd = silent_listener(&port);

	close(fd);
	return port;
}

static void target(struct dbprobe_target *t, enum db_type type, int port)
{
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->host = "127.0.0.1";
	t->port = port;
	t->database = "test";
	t->username = "u";
	t->password = "pw";
	t->ssl_mode = DB_SSL_DISABLE;
	t->timeout_ms = 1000;
	t->allow_loopback = true;
}

static void test_refused_and_blocked(void **state)
{
	struct dbprobe_target t;
	struct dbprobe_result r;
	int port = closed_port();

	(void)state;
	for (int type = 0; type < DB_TYPE__COUNT; type++) {
		target(&t, (enum db_type)type, port);
		dbprobe_run(&t, &r);
		assert_false(r.ok);
		assert_int_equal(r.kind, DBPROBE_REFUSED);
		dbprobe_result_cleanup(&r);
	}
	target(&t, DB_POSTGRESQL, port);
	t.allow_loopback = false;
	dbprobe_run(&t, &r);
	assert_int_equal(r.kind, DBPROBE_BLOCKED);
	dbprobe_result_cleanup(&r);
	t.host = "::ffff:127.0.0.1";
	dbprobe_run(&t, &r);
	assert_int_equal(r.kind, DBPROBE_BLOCKED);
	dbprobe_result_cleanup(&r);
}

static void test_timeouts(void **state)
{
	struct dbprobe_target t;
	struct dbprobe_result r;
	int port, fd = silent_listener(&port);

	(void)state;
	for (int type = 0; type < DB_TYPE__COUNT; type++) {
		int64_t start = time_mono_ms();

		if (type == DB_ORACLE)
			continue;
		target(&t, (enum db_type)type, port);
		dbprobe_run(&t, &r);
		if (r.kind != DBPROBE_TIMEOUT)
			fail_msg("%s: kind %s, detail %s", dbrec_type_name((enum db_type)type),
				 dbprobe_kind_name(r.kind), r.detail);
		/* libpq counts whole seconds from 2: allow for it */
		assert_true(time_mono_ms() - start < 3500);
		assert_non_null(strstr(r.message, "No answer"));
		dbprobe_result_cleanup(&r);
	}
	/* Oracle: reachability only, success with a warning */
	target(&t, DB_ORACLE, port);
	dbprobe_run(&t, &r);
	assert_true(r.ok);
	assert_int_equal(json_array_size(r.warnings), 1);
	assert_non_null(strstr(json_string_value(json_array_get(r.warnings, 0)), "Oracle client library"));
	dbprobe_result_cleanup(&r);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_policy),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_refused_and_blocked),
		cmocka_unit_test(test_timeouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
