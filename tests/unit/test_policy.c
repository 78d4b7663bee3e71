/* Unit tests of policy: validation messages naming the rule, defaults,
 * built-in PATCH limits, each operator on each field kind, PCRE2 patterns
 * (catastrophic ones refused at write time, match limits at match time),
 * and the database scope. */
#include "unit.h"

#include "event.h"
#include "policy.h"
#include "principal.h"

/* Validates body (JSON text) as a POST; returns the message or NULL on success. */
static const char *invalid(const char *body)
{
	static char msg[256];
	json_t *b = json_loads(body, 0, NULL), *doc = NULL;
	int rc;

	assert_non_null(b);
	rc = policy_validate(b, NULL, "pol_0123", 1700000000000, &doc, msg, sizeof(msg));
	json_decref(b);
	json_decref(doc);
	return rc == 0 ? NULL : msg;
}

static void test_validation(void **state)
{
	static const struct {
		const char *body, *needle;
	} bad[] = {
		{ "{\"rules\":[{\"field\":\"type\",\"op\":\"eq\",\"value\":1}]}", "name" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"type\",\"op\":\"eq\",\"value\":1},"
		  "{\"field\":\"details.\",\"op\":\"eq\",\"value\":1}]}", "rules[1]" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"type\",\"op\":\"in\",\"value\":1}]}", "rules[0]" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"type\",\"op\":\"gt\",\"value\":\"x\"}]}",
		  "RFC 3339" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"type\",\"op\":\"matches\",\"value\":\"a(\"}]}",
		  "does not compile" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"(a|aa)+$\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"([a-z]+)*!x\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"(x+x+)+y\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"^(a|a)*$\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"(.*a){20}b\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
		  "\"value\":\"^(\\\\w+\\\\s?)*$\"}]}", "too costly" },
		{ "{\"name\":\"x\",\"risk_score\":-1,\"rules\":[{\"field\":\"type\",\"op\":\"eq\","
		  "\"value\":1}]}", "risk_score" },
	};
	json_t *b, *doc = NULL, *old, *patched = NULL;
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *m = invalid(bad[i].body);

		assert_non_null(m);
		if (strstr(m, bad[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, m, bad[i].needle);
	}
	assert_null(invalid("{\"name\":\"x\",\"rules\":[{\"field\":\"details.q\",\"op\":\"matches\","
			    "\"value\":\"^(?i)select\\\\b.*\\\\bfrom\\\\s+users\"}]}"));
	b = json_loads("{\"name\":\"n\",\"severity\":\"critical\",\"rules\":[{\"field\":\"type\","
		       "\"op\":\"eq\",\"value\":\"database.query\"}]}", 0, NULL);
	assert_int_equal(policy_validate(b, NULL, "pol_abc", 0, &doc, msg, sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "rule_id")), "rule_abc");
	assert_int_equal(json_integer_value(json_object_get(doc, "risk_score")), 90);
	assert_true(json_is_true(json_object_get(doc, "enabled")));
	assert_string_equal(json_string_value(json_object_get(doc, "action")), "alert");
	json_decref(b);
	/* a built-in changes only enabled, action, severity, database_ids */
	old = policy_builtin_doc(DETECT_DATA_EXPORT);
	b = json_loads("{\"rules\":[]}", 0, NULL);
	assert_int_equal(policy_validate(b, old, "pol_builtin_data_export", 0, &patched, msg,
					 sizeof(msg)), -1);
	assert_non_null(strstr(msg, "built-in"));
	json_decref(b);
	b = json_loads("{\"severity\":\"critical\",\"enabled\":false}", 0, NULL);
	assert_int_equal(policy_validate(b, old, "pol_builtin_data_export", 0, &patched, msg,
					 sizeof(msg)), 0);
	assert_int_equal(json_integer_value(json_object_get(patched, "risk_score")), 90);
	assert_true(json_is_true(json_object_get(patched, "builtin")));
	json_decref(b);
	json_decref(patched);
	json_decref(old);
	json_decref(doc);
}

/* Compiles a policy of one rule (JSON text). */
static void compile1(struct policy *p, const char *rule)
{
	char body[1024], msg[256];
	json_t *b, *doc = NULL;

	snprintf(body, sizeof(body), "{\"name\":\"t\",\"rules\":[%s]}", rule);
	b = json_loads(body, 0, NULL);
	assert_non_null(b);
	if (policy_validate(b, NULL, "pol_t", 0, &doc, msg, sizeof(msg)) != 0)
		fail_msg("%s: %s", rule, msg);
	assert_int_equal(policy_compile(doc, p, msg, sizeof(msg)), 0);
	json_decref(b);
	json_decref(doc);
}

static bool matches(const char *rule, const char *type, const char *details)
{
	struct policy p;
	struct event_in ev;
	bool limit = false, r;

	memset(&ev, 0, sizeof(ev));
	compile1(&p, rule);
	ev.type = type;
	ev.severity = "warning";
	ev.tenant = "t";
	ev.database_id = "db_1";
	snprintf(ev.database_name, sizeof(ev.database_name), "prod");
	ev.details = json_loads(details, 0, NULL);
	assert_non_null(ev.details);
	r = policy_match(&p, &ev, &limit);
	assert_false(limit);
	json_decref(ev.details);
	policy_cleanup(&p);
	return r;
}

static void test_operators(void **state)
{
	(void)state;
	assert_true(matches("{\"field\":\"type\",\"op\":\"eq\",\"value\":\"database.query\"}",
			    "database.query", "{}"));
	assert_false(matches("{\"field\":\"type\",\"op\":\"ne\",\"value\":\"database.query\"}",
			     "database.query", "{}"));
	assert_true(matches("{\"field\":\"severity\",\"op\":\"in\",\"value\":[\"info\",\"warning\"]}",
			    "x", "{}"));
	assert_true(matches("{\"field\":\"database_id\",\"op\":\"eq\",\"value\":\"db_1\"}", "x", "{}"));
	assert_true(matches("{\"field\":\"database_name\",\"op\":\"contains\",\"value\":\"ro\"}",
			    "x", "{}"));
	assert_true(matches("{\"field\":\"details.rows\",\"op\":\"gt\",\"value\":10}", "x",
			    "{\"rows\":10.5}"));
	assert_false(matches("{\"field\":\"details.rows\",\"op\":\"gt\",\"value\":10}", "x",
			     "{\"rows\":\"11\"}"));
	assert_true(matches("{\"field\":\"details.rows\",\"op\":\"eq\",\"value\":3}", "x",
			    "{\"rows\":3.0}"));
	assert_true(matches("{\"field\":\"details.ok\",\"op\":\"eq\",\"value\":false}", "x",
			    "{\"ok\":false}"));
	assert_false(matches("{\"field\":\"details.ok\",\"op\":\"eq\",\"value\":false}", "x", "{}"));
	assert_true(matches("{\"field\":\"details.ok\",\"op\":\"ne\",\"value\":false}", "x", "{}"));
	assert_true(matches("{\"field\":\"details.at\",\"op\":\"lt\",\"value\":\"2025-01-01T00:00:00Z\"}",
			    "x", "{\"at\":\"2024-12-31T23:00:00-00:30\"}"));
	assert_false(matches("{\"field\":\"details.at\",\"op\":\"lt\",\"value\":\"2025-01-01T00:00:00Z\"}",
			     "x", "{\"at\":\"not a time\"}"));
	assert_true(matches("{\"field\":\"details.q\",\"op\":\"matches\",\"value\":\"(?i)\\\\bdrop\\\\s+table\"}",
			    "x", "{\"q\":\"Drop  TABLE x\"}"));
	assert_true(matches("{\"field\":\"details.q\",\"op\":\"matches\",\"value\":\"é+\"}",
			    "x", "{\"q\":\"caféé\"}"));
	assert_false(matches("{\"field\":\"details.q\",\"op\":\"matches\",\"value\":\"x\"}",
			     "x", "{\"q\":5}"));
}

static void test_match_limit_at_runtime(void **state)
{
	struct policy p;
	struct event_in ev;
	char q[4100];
	bool limit = false;

	(void)state;
	/* Fine on the probes (runs of one character), explosive on a long run of 'ab'. */
	compile1(&p, "{\"field\":\"details.q\",\"op\":\"matches\",\"value\":\"^(ab|a|b)*$\"}");
	memset(&ev, 0, sizeof(ev));
	for (size_t i = 0; i + 2 < sizeof(q); i += 2)
		memcpy(q + i, "ab", 2);
	q[sizeof(q) - 4] = '!';
	q[sizeof(q) - 3] = '\0';
	ev.type = "database.query";
	ev.details = json_pack("{s:s}", "q", q);
	assert_false(policy_match(&p, &ev, &limit));
	assert_true(limit);   /* not evaluated: the caller logs it */
	json_decref(ev.details);
	policy_cleanup(&p);
}

static void test_scope(void **state)
{
	struct policy p;
	char msg[128];
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:[s],s:[]}", "id", "pol_x", "name", "n",
				"action", "log", "severity", "info", "risk_score", 5, "enabled", 1,
				"database_ids", "db_a", "rules");

	(void)state;
	assert_int_equal(policy_compile(doc, &p, msg, sizeof(msg)), 0);
	assert_true(policy_applies_to(&p, "db_a"));
	assert_false(policy_applies_to(&p, "db_b"));
	assert_false(policy_applies_to(&p, NULL));
	assert_false(p.alert);
	policy_cleanup(&p);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_match_limit_at_runtime),
		cmocka_unit_test(test_scope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
