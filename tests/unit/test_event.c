/* Unit tests of event: types and patterns, validation, ids, kAudit
 * derivations, regex escaping, cursors. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "principal.h"
#include "event.h"
#include "sqlanalysis.h"

static struct principal one_tenant(void)
{
	struct principal p;

	memset(&p, 0, sizeof(p));
	snprintf(p.tenants[0], sizeof(p.tenants[0]), "acme");
	p.ntenants = 1;
	return p;
}

static void test_type_pattern(void **state)
{
	uint32_t m = 0;

	(void)state;
	assert_int_equal(event_type_pattern("security.*", &m), 0);
	assert_int_equal(m, (1u << 3) | (1u << 4) | (1u << 5));
	assert_int_equal(event_type_pattern("database.query", &m), 0);
	assert_int_equal(m, 1u);
	assert_int_equal(event_type_pattern("*", &m), 0);
	assert_int_equal(m, EVENT_TYPES_ALL);
	assert_int_equal(event_type_pattern("*.login_*", &m), 0);
	assert_int_equal(m, (1u << 10) | (1u << 11));
	assert_int_equal(event_type_pattern("user.*,policy.match", &m), 0);
	assert_int_equal(m, (1u << 10) | (1u << 11) | (1u << 7));
	assert_int_equal(event_type_pattern("security", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(event_type_pattern(".*", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(event_type_pattern("", &m), -1);
	assert_int_equal(event_type_pattern("a,,b", &m), -1);
	assert_int_equal(event_type_pattern("security.(a+)+", &m), -1);
	assert_int_equal(event_type_pattern("Security.*", &m), -1);
	assert_int_equal(event_type_pattern("{\"$ne\":1}", &m), -1);
}

static json_t *obj(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

	assert_non_null(j);
	return j;
}

/* The JSON of the last parse: ev borrows from it until the next parse. */
static json_t *last_json;

/* Parses text as an event of principal p; returns the result, fills ev and msg. */
static enum event_parse_result parse(const char *text, const struct principal *p,
				     struct event_in *ev, char *msg)
{
	json_decref(last_json);
	last_json = obj(text);
	memset(ev, 0, sizeof(*ev));
	return event_parse(last_json, p, ev, msg, 200);
}

static void expect_invalid(const char *text, const char *word)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];

	assert_int_equal(parse(text, &p, &ev, msg), EVENT_PARSE_INVALID);
	if (strstr(msg, word) == NULL)
		fail_msg("message '%s' does not name '%s'", msg, word);
	event_in_cleanup(&ev);
}

/* Copies the literal text to out and returns its length (no printf needed). */
static int text_copy(char *out, const char *text)
{
	size_t n = strlen(text);

	memcpy(out, text, n + 1);
	return (int)n;
}

static void test_parse_minimal(void **state)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];

	(void)state;
	assert_int_equal(parse("{\"type\":\"security.anomaly\",\"timestamp\":\"2025-01-15T14:32:18Z\"}",
			       &p, &ev, msg), EVENT_PARSE_OK);
	assert_string_equal(ev.type, "security.anomaly");
	assert_string_equal(ev.severity, "warning");
	assert_int_equal(ev.timestamp_ms, 1736951538000LL);
	assert_string_equal(ev.tenant, "acme");
	assert_true(event_id_valid(ev.id));
	assert_string_equal(ev.xid, ev.id);
	assert_null(ev.external_id);
	assert_null(ev.database_id);
	assert_string_equal(ev.database_name, "");
	assert_int_equal(json_object_size(ev.details), 0);
	assert_true(ev.succeeded);
	event_in_cleanup(&ev);
}

static void test_parse_full(void **state)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200], want[EVENT_ID_LEN + 1];

	(void)state;
	assert_int_equal(parse("{\"type\":\"user.login_failed\",\"timestamp\":\"2025-01-15T14:32:18.5+01:00\","
			       "\"severity\":\"critical\",\"database_id\":\"db_abc-1\",\"database_name\":\"prod\","
			       "\"external_id\":\"x-1\",\"tenant_id\":\"acme\","
			       "\"details\":{\"user\":\"u\",\"source_ip\":\"::1\",\"a.b\":{\"$c\":[1,{\"d.e\":null}]}}}",
			       &p, &ev, msg), EVENT_PARSE_OK);
	assert_string_equal(ev.severity, "critical");
	assert_int_equal(ev.timestamp_ms, 1736947938500LL);
	assert_string_equal(ev.database_id, "db_abc-1");
	assert_string_equal(ev.database_name, "prod");
	assert_string_equal(ev.xid, "acme/x-1");
	assert_int_equal(event_id_derive("acme", "x-1", want), 0);
	assert_string_equal(ev.id, want);
	assert_string_equal(ev.action_id, "LGIF");
	assert_false(ev.succeeded);
	assert_non_null(json_object_get(ev.details, "a_b"));
	assert_non_null(json_object_get(json_object_get(ev.details, "a_b"), "_c"));
	assert_non_null(json_object_get(json_array_get(json_object_get(json_object_get(ev.details, "a_b"),
									    "_c"), 1), "d_e"));
	event_in_cleanup(&ev);
}

static void test_parse_invalid(void **state)
{
	(void)state;
	expect_invalid("{\"timestamp\":\"2025-01-15T14:32:18Z\"}", "type is required");
	expect_invalid("{\"type\":\"x\",\"timestamp\":\"2025-01-15T14:32:18Z\"}", "type must be");
	expect_invalid("{\"type\":\"database.query\"}", "timestamp is required");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15\"}", "timestamp");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\",\"severity\":\"x\"}",
		       "severity");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\",\"foo\":1}",
		       "unknown field 'foo'");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\",\"details\":{\"a\":[[1]]}}",
		       "arrays");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"details\":{\"a.b\":1,\"a_b\":2}}", "collides");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"details\":{\"source_ip\":\"1.2.3\"}}", "source_ip");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"details\":{\"succeeded\":1}}", "succeeded");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"details\":{\"action_id\":\"TOOLONGAID\"}}", "action_id");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"database_id\":\"a b\"}", "database_id");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"external_id\":\"\"}", "external_id");
	expect_invalid("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
		       "\"details\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}}", "deeper");
}

static void test_parse_nul_in_details(void **state)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];
	json_t *j = obj("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\",\"details\":{}}");

	(void)state;
	json_object_set_new(json_object_get(j, "details"), "q", json_stringn("a\0b", 3));
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(event_parse(j, &p, &ev, msg, sizeof(msg)), EVENT_PARSE_INVALID);
	assert_non_null(strstr(msg, "NUL"));
	event_in_cleanup(&ev);
	json_object_set_new(json_object_get(j, "details"), "q", json_real(1.5));
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(event_parse(j, &p, &ev, msg, sizeof(msg)), EVENT_PARSE_OK);
	event_in_cleanup(&ev);
	json_decref(j);
}

/* An event whose details are the object built by add(i) for i in 0..n-1. */
static char *event_with(size_t n, const char *(*add)(size_t, char *))
{
	size_t cap = n * 64 + 256, len;
	char *s = malloc(cap), piece[64];

	assert_non_null(s);
	len = (size_t)snprintf(s, cap, "{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
			       "\"details\":{");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", add(i, piece));
	snprintf(s + len, cap - len, "}}");
	return s;
}

static const char *key_i(size_t i, char *out)
{
	snprintf(out, 64, "\"k%zu\":1", i);
	return out;
}

static const char *nested_key_i(size_t i, char *out)
{
	snprintf(out, 64, "\"n%zu\":{\"a\":1}", i);
	return out;
}

static void expect_text(const char *text, enum event_parse_result want, const char *word)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];

	assert_int_equal(parse(text, &p, &ev, msg), want);
	if (word != NULL && strstr(msg, word) == NULL)
		fail_msg("message '%s' does not name '%s'", msg, word);
	event_in_cleanup(&ev);
}

/* Each bound of input_limits.h: the limit passes, one more is a 400 naming it. */
static void test_parse_limits(void **state)
{
	char *s, *big;
	size_t n;

	(void)state;
	s = event_with(EVENT_DETAILS_KEYS_MAX, key_i);
	expect_text(s, EVENT_PARSE_OK, NULL);
	free(s);
	s = event_with(EVENT_DETAILS_KEYS_MAX + 1, key_i);
	expect_text(s, EVENT_PARSE_INVALID, "more than 256 keys");
	free(s);
	s = event_with(40000, key_i);
	expect_text(s, EVENT_PARSE_INVALID, "65536");   /* the size is checked first */
	free(s);
	/* nested keys count too: 129 objects of one key are 258 keys */
	s = event_with(EVENT_DETAILS_KEYS_MAX / 2 + 1, nested_key_i);
	expect_text(s, EVENT_PARSE_INVALID, "more than 256 keys");
	free(s);

	/* one string: EVENT_STRING_MAX bytes pass, one more is refused */
	n = EVENT_STRING_MAX + 1;
	big = malloc(n + 200);
	assert_non_null(big);
	{
		size_t o = (size_t)text_copy(big, "{\"type\":\"database.query\",\"timestamp\":"
					     "\"2025-01-15T14:32:18Z\",\"details\":{\"query\":\"");

		memset(big + o, 'x', n);
		text_copy(big + o + n, "\"}}");
		expect_text(big, EVENT_PARSE_INVALID, "at most 32768");
		text_copy(big + o + n - 1, "\"}}");
		expect_text(big, EVENT_PARSE_OK, NULL);
	}
	free(big);

	/* the whole event: two strings under the string bound but over 64 KiB together */
	n = EVENT_STRING_MAX;
	big = malloc(2 * n + 300);
	assert_non_null(big);
	{
		size_t o = 0;

		o += (size_t)text_copy(big, "{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\",\"details\":{\"a\":\"");
		memset(big + o, 'x', n);
		o += n;
		o += (size_t)text_copy(big + o, "\",\"b\":\"");
		memset(big + o, 'y', n);
		o += n;
		text_copy(big + o, "\"}}");
	}
	expect_text(big, EVENT_PARSE_INVALID, "at most 65536");
	free(big);

	/* one large array: refused by the size bound */
	n = 40000;
	big = malloc(2 * n + 200);
	assert_non_null(big);
	{
		size_t o = (size_t)text_copy(big, "{\"type\":\"database.query\",\"timestamp\":"
						     "\"2025-01-15T14:32:18Z\",\"details\":{\"a\":[");

		for (size_t i = 0; i < n; i++) {
			big[o++] = '1';
			big[o++] = ',';
		}
		text_copy(big + o - 1, "]}}");
	}
	expect_text(big, EVENT_PARSE_INVALID, "at most 65536");
	free(big);
}

static void test_parse_tenants(void **state)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];

	(void)state;
	assert_int_equal(parse("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
			       "\"tenant_id\":\"other\"}", &p, &ev, msg), EVENT_PARSE_FORBIDDEN);
	event_in_cleanup(&ev);
	snprintf(p.tenants[1], sizeof(p.tenants[1]), "beta");
	p.ntenants = 2;
	assert_int_equal(parse("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\"}",
			       &p, &ev, msg), EVENT_PARSE_INVALID);
	assert_non_null(strstr(msg, "tenant_id is required"));
	event_in_cleanup(&ev);
	assert_int_equal(parse("{\"type\":\"database.query\",\"timestamp\":\"2025-01-15T14:32:18Z\","
			       "\"tenant_id\":\"beta\"}", &p, &ev, msg), EVENT_PARSE_OK);
	assert_string_equal(ev.tenant, "beta");
	event_in_cleanup(&ev);
}

static void test_ids(void **state)
{
	char a[EVENT_ID_LEN + 1], b[EVENT_ID_LEN + 1], c[EVENT_ID_LEN + 1];

	(void)state;
	assert_int_equal(event_id_derive("acme", "x", a), 0);
	assert_int_equal(event_id_derive("acme", "x", b), 0);
	assert_string_equal(a, b);
	assert_int_equal(event_id_derive("acme", "y", c), 0);
	assert_string_not_equal(a, c);
	assert_int_equal(event_id_derive("acmex", "", c), 0);
	assert_string_not_equal(a, c);
	assert_true(event_id_valid(a));
	assert_int_equal(event_id_random(a), 0);
	assert_int_equal(event_id_random(b), 0);
	assert_string_not_equal(a, b);
	assert_true(event_id_valid(a));
	assert_int_equal(strlen(a), EVENT_ID_LEN);
	assert_false(event_id_valid("evt_1a2b3c4d5e6f"));
	assert_false(event_id_valid("evt_ABCDEF000000000000000000"));
	assert_false(event_id_valid("tomb_1"));
	assert_false(event_id_valid(""));
}

static void expect_aid(const char *type, const char *details, const char *want)
{
	char out[EVENT_ACTION_ID_MAX + 1];
	json_t *d = details ? obj(details) : NULL;

	event_action_id(type, d, out);
	assert_string_equal(out, want);
	json_decref(d);
}

static void test_action_id(void **state)
{
	(void)state;
	expect_aid("database.query", "{\"query\":\"SELECT 1\"}", "SL");
	expect_aid("database.query", "{\"query\":\"  insert into t values (1)\"}", "IN");
	expect_aid("database.query", "{\"query\":\"-- hi\\nUpdate t set a=1\"}", "UP");
	expect_aid("database.query", "{\"query\":\"/* c */ delete from t\"}", "DL");
	expect_aid("database.query", "{\"query\":\"EXEC sp_who\"}", "EX");
	expect_aid("database.query", "{\"query\":\"execute p\"}", "EX");
	expect_aid("database.query", "{\"query\":\"CREATE TABLE t (a int)\"}", "CR");
	expect_aid("database.query", "{\"query\":\"alter table t\"}", "AL");
	expect_aid("database.query", "{\"query\":\"drop table t\"}", "DR");
	expect_aid("database.query", "{\"query\":\"(SELECT 1)\"}", "SL");
	expect_aid("database.query", "{\"query\":\"WITH x AS (SELECT 1) SELECT * FROM x\"}", "SL");
	expect_aid("database.query", "{\"query\":\"selectx\"}", "");
	expect_aid("database.query", "{\"query\":\"/* unterminated\"}", "");
	expect_aid("database.query", "{\"query\":\"MERGE t\"}", "");
	expect_aid("database.query", "{}", "");
	expect_aid("database.query", NULL, "");
	expect_aid("user.login_success", NULL, "LGIS");
	expect_aid("database.connection", "{}", "LGIS");
	expect_aid("user.login_failed", "{\"query\":\"SELECT 1\"}", "LGIF");
	expect_aid("database.disconnect", NULL, "LO");
	expect_aid("database.query", "{\"action_id\":\" sl \",\"query\":\"DELETE\"}", "SL");
	expect_aid("user.login_failed", "{\"action_id\":\"AUSC\"}", "AUSC");
	expect_aid("database.query", "{\"action_id\":\"\",\"query\":\"DROP x\"}", "DR");
	assert_true(event_action_id_valid("SL"));
	assert_true(event_action_id_valid("lgis"));
	assert_false(event_action_id_valid(""));
	assert_false(event_action_id_valid("S L"));
	assert_false(event_action_id_valid("TOOLONGID"));
}

static void test_succeeded(void **state)
{
	json_t *t = obj("{\"succeeded\":true}"), *f = obj("{\"succeeded\":false}"), *n = obj("{\"succeeded\":null}");

	(void)state;
	assert_true(event_succeeded("database.query", NULL));
	assert_false(event_succeeded("user.login_failed", NULL));
	assert_true(event_succeeded("user.login_failed", t));
	assert_false(event_succeeded("database.query", f));
	assert_true(event_succeeded("database.query", n));
	json_decref(t);
	json_decref(f);
	json_decref(n);
}

static void expect_escape(const char *in, const char *want)
{
	char *out = event_regex_escape(in);

	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void test_regex_escape(void **state)
{
	(void)state;
	expect_escape("abc123", "abc123");
	expect_escape(".*", "\\.\\*");
	expect_escape("(a+)+$", "\\(a\\+\\)\\+\\$");
	expect_escape("^[a-z]{2,}|x?\\", "\\^\\[a\\-z\\]\\{2\\,\\}\\|x\\?\\\\");
	expect_escape("a b_c", "a\\ b\\_c");
	expect_escape("ünï", "ünï");
	expect_escape("", "");
}

static void test_utf8_prefix(void **state)
{
	(void)state;
	assert_int_equal(event_utf8_prefix("abcdef", 3), 3);
	assert_int_equal(event_utf8_prefix("ab", 3), 2);
	assert_int_equal(event_utf8_prefix("\xc3\xa9\xc3\xa9\xc3\xa9", 2), 4);
	assert_int_equal(event_utf8_prefix("\xe6\x97\xa5x", 1), 3);
	assert_int_equal(event_utf8_prefix("", 5), 0);
	assert_int_equal(event_utf8_prefix("abc", 0), 0);
}

static void test_cursor(void **state)
{
	static const int64_t v[] = { 0, 1, 1023, 1024, 123456789, INT64_MAX };
	char buf[EVENT_CURSOR_LEN];
	int64_t out;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		event_cursor_encode(v[i], buf);
		assert_int_equal(strlen(buf), 14);
		assert_int_equal(event_cursor_decode(buf, &out), 0);
		assert_true(out == v[i]);
	}
	event_cursor_encode(0, buf);
	assert_string_equal(buf, "c1.AAAAAAAAAAA");
	event_cursor_encode(1, buf);
	assert_string_equal(buf, "c1.AAAAAAAAAAE");
	assert_int_equal(event_cursor_decode("c1.AAAAAAAAAAB", &out), -1);   /* non-canonical */
	assert_int_equal(event_cursor_decode("c1.gAAAAAAAAAA", &out), -1);   /* negative */
	assert_int_equal(event_cursor_decode("c1.AAAAAAAAAA", &out), -1);
	assert_int_equal(event_cursor_decode("c1.AAAAAAAAAAAA", &out), -1);
	assert_int_equal(event_cursor_decode("c1.AAAAAAAAAA=", &out), -1);
	assert_int_equal(event_cursor_decode("c1.AAAAAAAA+AA", &out), -1);
	assert_int_equal(event_cursor_decode("c2.AAAAAAAAAAA", &out), -1);
	assert_int_equal(event_cursor_decode("", &out), -1);
	assert_int_equal(event_cursor_decode("42", &out), -1);
}

/* The statement is analysed at parse: kAudit fields filled, the analysis
 * kept for the detectors; session events and events without one are not. */
static void test_parse_analyses_query(void **state)
{
	struct principal p = one_tenant();
	struct event_in ev;
	char msg[200];

	(void)state;
	assert_int_equal(parse("{\"type\": \"database.query\", \"timestamp\": \"2025-01-15T14:32:18Z\", "
			       "\"details\": {\"query\": \"WITH x AS (SELECT 1) DELETE FROM app.t\"}}",
			       &p, &ev, msg), EVENT_PARSE_OK);
	assert_non_null(ev.sql);
	assert_true(ev.sql->pg_parsed);
	assert_string_equal(ev.action_id, "DL");
	assert_string_equal(json_string_value(json_object_get(ev.details, "action_id")), "DL");
	assert_string_equal(json_string_value(json_object_get(ev.details, "schema_name")), "app");
	assert_string_equal(json_string_value(json_object_get(ev.details, "object_name")), "t");
	event_in_cleanup(&ev);
	assert_int_equal(parse("{\"type\": \"user.login_failed\", \"timestamp\": \"2025-01-15T14:32:18Z\", "
			       "\"details\": {\"query\": \"SELECT 1 FROM t\"}}", &p, &ev, msg), EVENT_PARSE_OK);
	assert_null(ev.sql);
	assert_null(json_object_get(ev.details, "object_name"));
	event_in_cleanup(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_pattern),
		cmocka_unit_test(test_parse_minimal),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_nul_in_details),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_tenants),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_action_id),
		cmocka_unit_test(test_succeeded),
		cmocka_unit_test(test_regex_escape),
		cmocka_unit_test(test_utf8_prefix),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_parse_analyses_query),
	};

	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	json_decref(last_json);
	return rc;
}
