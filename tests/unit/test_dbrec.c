/* Unit tests of dbrec: validation of bodies and filters, normalisation, views. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "dbrec.h"

/* A throwaway self-signed P-256 certificate and its key, for PEM validation only. */
static const char TEST_CERT[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBhTCCASugAwIBAgIUWOi3HWWb//TZ0hDCqkzmBBolYIowCgYIKoZIzj0EAwIw\n"
	"FzEVMBMGA1UEAwwMZGJhdWRpdC10ZXN0MCAXDTI2MTEyMjA1MDAzMFoYDzIxMjYx\n"
	"MDI5MDUwMDMwWjAXMRUwEwYDVQQDDAxkYmF1ZGl0LXRlc3QwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAAScZvUhj3bS5I69+m5lwrfJgP3byOrpue1tB5UkdbRGgLx3\n"
	"ECz4mofOK0xATpStMgLkPqvalel1kz1RJgviGbxWo1MwUTAdBgNVHQ4EFgQUi5uf\n"
	"HUSdEBISkrL8xc79lEOUy4wwHwYDVR0jBBgwFoAUi5ufHUSdEBISkrL8xc79lEOU\n"
	"y4wwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBc3VXR34W63AU+\n"
	"Kgu/XDWQhBfqqBi+clymCo7ZDNbsZQIhAP3bgnN+ZXD5uokJ3LRCXvumqxqhKuTY\n"
	"eg3GjBwxScCC\n"
	"-----END CERTIFICATE-----\n";

static const char TEST_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3a5vmxEb6abMyPmg\n"
	"bQau4qSQ4ySFgw2f2+civFlBx7yhRANCAAScZvUhj3bS5I69+m5lwrfJgP3byOrp\n"
	"ue1tB5UkdbRGgLx3ECz4mofOK0xATpStMgLkPqvalel1kz1RJgviGbxW\n"
	"-----END PRIVATE KEY-----\n";

static json_t *body(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	assert_non_null(j);
	return j;
}

#define VALID "\"name\": \"Prod\", \"type\": \"postgresql\", \"host\": \"DB.Example.com\", " \
	"\"port\": 5432, \"database\": \"app\", \"username\": \"auditor\", \"password\": \"pw\""

static void test_host(void **state)
{
	char out[DBREC_HOST_MAX + 1];
	char longname[300];

	(void)state;
	assert_int_equal(dbrec_host_normalise("DB.Example.COM", out, sizeof(out)), 0);
	assert_string_equal(out, "db.example.com");
	assert_int_equal(dbrec_host_normalise("127.0.0.1", out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1");
	assert_int_equal(dbrec_host_normalise("[::1]", out, sizeof(out)), 0);
	assert_string_equal(out, "::1");
	assert_int_equal(dbrec_host_normalise("2001:DB8:0:0::1", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(dbrec_host_normalise("my_db-1.internal", out, sizeof(out)), 0);
	assert_int_equal(dbrec_host_normalise("", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("a b", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("-a.com", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("a-.com", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("a..com", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("a.com.", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("a\n.com", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("fe80::1%eth0", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("[::1", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("db:5432", out, sizeof(out)), -1);
	assert_int_equal(dbrec_host_normalise("http://x", out, sizeof(out)), -1);
	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_int_equal(dbrec_host_normalise(longname, out, sizeof(out)), -1);
	memset(longname, 'a', sizeof(longname));
	for (int i = 10; i < 290; i += 11)
		longname[i] = '.';
	longname[260] = '\0';
	assert_int_equal(dbrec_host_normalise(longname, out, sizeof(out)), -1);
}

static void test_create_defaults(void **state)
{
	struct dbrec_input in;
	char msg[256];
	json_t *b = body("{" VALID ", \"tags\": [\"production\", \"pci-dss\"]}");
	json_t *ao;

	(void)state;
	assert_int_equal(dbrec_input_parse(b, false, &in, msg, sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(in.set, "host")), "db.example.com");
	assert_string_equal(json_string_value(json_object_get(in.set, "ssl_mode")), "require");
	assert_string_equal(in.secrets[DB_SECRET_PASSWORD], "pw");
	assert_null(in.secrets[DB_SECRET_SSL_CA]);
	assert_null(json_object_get(in.set, "password"));
	ao = json_object_get(in.set, "audit_options");
	assert_true(json_is_true(json_object_get(ao, "capture_queries")));
	assert_true(json_is_false(json_object_get(ao, "capture_results")));
	assert_true(json_is_true(json_object_get(ao, "mask_sensitive_data")));
	assert_null(json_object_get(ao, "retention_days"));
	assert_int_equal(json_array_size(json_object_get(in.set, "tags")), 2);
	dbrec_input_cleanup(&in);
	json_decref(b);
}

/* Each body must be rejected, and the message must name field. */
static void expect_bad(const char *text, bool patch, const char *field)
{
	struct dbrec_input in;
	char msg[256] = "";
	json_t *b = body(text);

	if (dbrec_input_parse(b, patch, &in, msg, sizeof(msg)) == 0) {
		dbrec_input_cleanup(&in);
		fail_msg("accepted: %s", text);
	}
	if (strstr(msg, field) == NULL)
		fail_msg("message '%s' does not name %s (%s)", msg, field, text);
	json_decref(b);
}

static void test_create_invalid(void **state)
{
	static const char *const required[] = { "name", "type", "host", "port", "database",
						"username", "password" };

	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		json_t *b = body("{" VALID "}");
		char *s;

		json_object_del(b, required[i]);
		s = json_dumps(b, 0);
		expect_bad(s, false, required[i]);
		free(s);
		json_decref(b);
	}
	expect_bad("{" VALID ", \"extra\": 1}", false, "extra");
	expect_bad("{\"name\": \"\", \"type\": \"postgresql\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "name");
	/* duplicate keys are refused by the JSON parser; build the variants by hand */
	expect_bad("{\"name\": \"n\", \"type\": \"db2\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "type");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "host");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 0, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "port");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 65536, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "port");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": \"3306\", "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "port");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 3306.5, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": \"p\"}", false, "port");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"\", \"username\": \"u\", \"password\": \"p\"}", false, "database");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": \"u\\u0001\", \"password\": \"p\"}", false, "username");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": 7, \"password\": \"p\"}", false, "username");
	expect_bad("{\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 1, "
		   "\"database\": \"d\", \"username\": \"u\", \"password\": 5}", false, "password");
	expect_bad("{" VALID ", \"ssl_mode\": \"prefer\"}", false, "ssl_mode");
	expect_bad("{" VALID ", \"tags\": \"prod\"}", false, "tags");
	expect_bad("{" VALID ", \"tags\": [\"Prod\"]}", false, "tags");
	expect_bad("{" VALID ", \"tags\": [\"a\", \"a\"]}", false, "tags");
	expect_bad("{" VALID ", \"tags\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\","
		   "\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\"]}", false, "tags");
	expect_bad("{" VALID ", \"audit_options\": []}", false, "audit_options");
	expect_bad("{" VALID ", \"audit_options\": {\"capture_queries\": 1}}", false, "capture_queries");
	expect_bad("{" VALID ", \"audit_options\": {\"retention_days\": 0}}", false, "retention_days");
	expect_bad("{" VALID ", \"audit_options\": {\"retention_days\": 3651}}", false, "retention_days");
	expect_bad("{" VALID ", \"audit_options\": {\"sample\": true}}", false, "sample");
	expect_bad("{" VALID ", \"ssl_ca\": \"-----BEGIN CERTIFICATE-----...\"}", false, "ssl_ca");
	expect_bad("{" VALID ", \"ssl_cert\": \"x\"}", false, "ssl_");
	expect_bad("{" VALID ", \"audit_status\": \"paused\"}", false, "audit_status");
}

static void test_combined(void **state)
{
	char msg[256];
	json_t *mysql = body("{\"type\": \"mysql\", \"username\": \"\"}");
	json_t *mongo = body("{\"type\": \"mongodb\", \"username\": \"\"}");
	json_t *old = body("{\"type\": \"mongodb\", \"username\": \"\"}");
	json_t *to_pg = body("{\"type\": \"postgresql\"}");

	(void)state;
	assert_int_equal(dbrec_check_combined(mysql, NULL, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "username"));
	assert_int_equal(dbrec_check_combined(mongo, NULL, msg, sizeof(msg)), 0);
	/* an update that leaves an empty username on a non-MongoDB record */
	assert_int_equal(dbrec_check_combined(to_pg, old, msg, sizeof(msg)), -1);
	json_decref(mysql);
	json_decref(mongo);
	json_decref(old);
	json_decref(to_pg);
}

/* A PATCH that points the stored password at another server must carry a new one. */
static void test_retarget(void **state)
{
	static const char *const moves[] = { "{\"host\": \"evil.example\"}", "{\"port\": 6543}",
					     "{\"type\": \"mysql\"}", "{\"username\": \"other\"}" };
	struct dbrec_input in;
	char msg[256];
	json_t *old = body("{\"type\": \"postgresql\", \"host\": \"db.example\", \"port\": 5432, "
			   "\"username\": \"auditor\"}");
	json_t *b;

	(void)state;
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		b = body(moves[i]);
		assert_int_equal(dbrec_input_parse(b, true, &in, msg, sizeof(msg)), 0);
		assert_int_equal(dbrec_check_retarget(&in, old, msg, sizeof(msg)), -1);
		assert_non_null(strstr(msg, "password is required"));
		dbrec_input_cleanup(&in);
		json_object_set_new(b, "password", json_string("new"));
		assert_int_equal(dbrec_input_parse(b, true, &in, msg, sizeof(msg)), 0);
		assert_int_equal(dbrec_check_retarget(&in, old, msg, sizeof(msg)), 0);
		dbrec_input_cleanup(&in);
		json_decref(b);
	}
	/* the same values (host normalised first), or other fields: no password needed */
	b = body("{\"host\": \"DB.example\", \"port\": 5432, \"name\": \"n\", \"ssl_mode\": \"disable\"}");
	assert_int_equal(dbrec_input_parse(b, true, &in, msg, sizeof(msg)), 0);
	assert_int_equal(dbrec_check_retarget(&in, old, msg, sizeof(msg)), 0);
	dbrec_input_cleanup(&in);
	json_decref(b);
	json_decref(old);
}

static void test_pem(void **state)
{
	struct dbrec_input in;
	char msg[256];
	json_t *b = body("{" VALID "}");

	(void)state;
	json_object_set_new(b, "ssl_ca", json_string(TEST_CERT));
	json_object_set_new(b, "ssl_cert", json_string(TEST_CERT));
	json_object_set_new(b, "ssl_key", json_string(TEST_KEY));
	assert_int_equal(dbrec_input_parse(b, false, &in, msg, sizeof(msg)), 0);
	assert_string_equal(in.secrets[DB_SECRET_SSL_KEY], TEST_KEY);
	dbrec_input_cleanup(&in);
	/* a key where a certificate belongs, and the other way round */
	json_object_set_new(b, "ssl_ca", json_string(TEST_KEY));
	assert_int_equal(dbrec_input_parse(b, false, &in, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "ssl_ca"));
	assert_null(strstr(msg, "PRIVATE KEY-----\n"));
	json_object_set_new(b, "ssl_ca", json_string(TEST_CERT));
	json_object_set_new(b, "ssl_key", json_string(TEST_CERT));
	assert_int_equal(dbrec_input_parse(b, false, &in, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "ssl_key"));
	json_decref(b);
}

static void test_patch(void **state)
{
	struct dbrec_input in;
	char msg[256];
	json_t *b = body("{\"audit_options\": {\"retention_days\": 90}, \"ssl_ca\": null, "
			 "\"audit_status\": \"paused\"}");

	(void)state;
	assert_int_equal(dbrec_input_parse(b, true, &in, msg, sizeof(msg)), 0);
	/* only the given option: merged into the stored ones */
	assert_int_equal(json_object_size(json_object_get(in.set, "audit_options")), 1);
	assert_true(in.unset[DB_SECRET_SSL_CA]);
	assert_null(json_object_get(in.set, "ssl_mode"));
	assert_null(json_object_get(in.set, "tags"));
	assert_string_equal(json_string_value(json_object_get(in.set, "audit_status")), "paused");
	dbrec_input_cleanup(&in);
	json_decref(b);
	expect_bad("{}", true, "no field");
	expect_bad("{\"password\": null}", true, "password");
	expect_bad("{\"tenant_id\": \"x\"}", true, "tenant_id");
	expect_bad("{\"name\": null}", true, "name");
	expect_bad("{\"port\": -1}", true, "port");
	expect_bad("{\"audit_status\": \"stopped\"}", true, "audit_status");
	expect_bad("{\"ssl_cert\": null}", true, "ssl_cert");
}

static void test_heartbeat(void **state)
{
	char msg[256];
	json_t *hb = NULL, *b;

	(void)state;
	b = body("{\"collector\": {\"version\": \"2.4.1\", \"uptime_seconds\": 864000, "
		 "\"events_per_second\": 42.5}, \"health_checks\": {\"connectivity\": \"healthy\", "
		 "\"disk_space\": \"warning\"}, \"latency_ms\": 12}");
	assert_int_equal(dbrec_heartbeat_parse(b, &hb, msg, sizeof(msg)), 0);
	assert_string_equal(dbrec_heartbeat_status(hb), "connected");
	assert_int_equal(json_integer_value(json_object_get(hb, "latency_ms")), 12);
	json_decref(hb);
	json_decref(b);
	b = body("{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 0, \"events_per_second\": 0},"
		 " \"health_checks\": {\"connectivity\": \"critical\"}}");
	assert_int_equal(dbrec_heartbeat_parse(b, &hb, msg, sizeof(msg)), 0);
	assert_string_equal(dbrec_heartbeat_status(hb), "error");
	json_decref(hb);
	json_decref(b);
	static const char *const bad[] = {
		"{}",
		"{\"collector\": 1}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": -1, \"events_per_second\": 0}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1.5, \"events_per_second\": 0}}",
		"{\"collector\": {\"version\": \"\", \"uptime_seconds\": 1, \"events_per_second\": 0}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": -2}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": 0, \"x\": 1}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": 0}, "
		"\"health_checks\": {\"connectivity\": \"ok\"}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": 0}, "
		"\"health_checks\": {\"cpu\": \"healthy\"}}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": 0}, "
		"\"latency_ms\": \"5\"}",
		"{\"collector\": {\"version\": \"1\", \"uptime_seconds\": 1, \"events_per_second\": 0}, \"y\": 1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = body(bad[i]);
		if (dbrec_heartbeat_parse(b, &hb, msg, sizeof(msg)) == 0)
			fail_msg("accepted heartbeat %s", bad[i]);
		json_decref(b);
	}
}

static void test_filters_and_dates(void **state)
{
	char msg[256];
	json_t *tags = NULL;

	(void)state;
	assert_int_equal(dbrec_tags_parse_csv("prod,pci-dss,prod", &tags, msg, sizeof(msg)), 0);
	assert_int_equal(json_array_size(tags), 2);
	json_decref(tags);
	assert_int_equal(dbrec_tags_parse_csv("", &tags, msg, sizeof(msg)), -1);
	assert_int_equal(dbrec_tags_parse_csv("a,,b", &tags, msg, sizeof(msg)), -1);
	assert_int_equal(dbrec_tags_parse_csv("A", &tags, msg, sizeof(msg)), -1);
	assert_true(dbrec_status_valid("connected"));
	assert_false(dbrec_status_valid("up"));
	assert_int_equal(dbrec_type_parse("mariadb"), DB_MARIADB);
	assert_int_equal(dbrec_type_parse("MySQL"), -1);
	assert_true(dbrec_id_valid("db_0123456789abcdef01234567"));
	assert_false(dbrec_id_valid("db_0123456789ABCDEF01234567"));
	assert_false(dbrec_id_valid("db_abc123"));
	/* 2024-01-20 15:30:00Z is a Saturday: day starts 2024-01-20, week on Monday 2024-01-15 */
	assert_int_equal(dbrec_day_start_ms(1705764600000LL), 1705708800000LL);
	assert_int_equal(dbrec_week_start_ms(1705764600000LL), 1705276800000LL);
	/* a Monday is its own week start */
	assert_int_equal(dbrec_week_start_ms(1705276800000LL + 5), 1705276800000LL);
}

static void test_views_never_show_secrets(void **state)
{
	struct dbrec_stats st = { 1, 2, 3, 4 };
	json_t *doc = body("{\"_id\": \"db_0123456789abcdef01234567\", \"tenant_id\": \"t\", "
			   "\"name\": \"n\", \"type\": \"mysql\", \"host\": \"h\", \"port\": 3306, "
			   "\"database\": \"d\", \"username\": \"u\", \"ssl_mode\": \"require\", "
			   "\"status\": \"pending\", \"audit_status\": \"initializing\", \"tags\": [], "
			   "\"audit_options\": {}, \"secrets\": {\"password\": {\"kid\": \"k1\", "
			   "\"ct\": \"SECRETCT\", \"nonce\": \"NONCE\"}}, \"created_at\": \"x\", "
			   "\"updated_at\": \"y\", \"password\": \"leak\"}");
	json_t *views[3];

	(void)state;
	views[0] = dbrec_view_summary(doc, NULL);
	views[1] = dbrec_view_detail(doc, &st, "2024-01-01T00:00:00Z");
	views[2] = dbrec_view_status(doc, NULL);
	for (int i = 0; i < 3; i++) {
		char *s = json_dumps(views[i], 0);

		assert_non_null(s);
		assert_null(strstr(s, "SECRETCT"));
		assert_null(strstr(s, "NONCE"));
		assert_null(strstr(s, "leak"));
		assert_null(strstr(s, "\"secrets\""));
		free(s);
	}
	assert_string_equal(json_string_value(json_object_get(views[0], "id")),
			    "db_0123456789abcdef01234567");
	assert_string_equal(json_string_value(json_array_get(json_object_get(views[0], "stored_secrets"), 0)),
			    "password");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(views[1], "stats"),
							     "policies_active")), 4);
	assert_true(json_is_null(json_object_get(views[2], "collector")));
	assert_non_null(json_object_get(views[2], "message"));
	assert_non_null(json_object_get(json_object_get(views[1], "health"), "message"));
	for (int i = 0; i < 3; i++)
		json_decref(views[i]);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_retarget),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_filters_and_dates),
		cmocka_unit_test(test_views_never_show_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
