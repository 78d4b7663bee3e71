/* Unit tests of sqlanalysis: statement kinds and objects through libpg_query
 * and through the tokenizer of each dialect, masking, bounded cost on huge
 * and deeply nested input, audit_options and the kAudit detail fields. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "audit_apply.h"
#include "event.h"
#include "sqlanalysis.h"

static void run(const char *text, enum sql_dialect d, struct sql_analysis *a)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(sqlanalysis_run(text, d, SQLA_WANT_MASK, a), API_OK);
}

static bool has_object(const struct sql_analysis *a, const char *schema, const char *name)
{
	for (size_t i = 0; i < a->n_objects; i++)
		if (strcmp(a->objects[i].name, name) == 0 &&
		    (schema == NULL ? a->objects[i].schema == NULL
				    : a->objects[i].schema != NULL && strcmp(a->objects[i].schema, schema) == 0))
			return true;
	return false;
}

static bool has_column(const struct sql_analysis *a, const char *c)
{
	for (size_t i = 0; i < a->n_columns; i++)
		if (strcmp(a->columns[i], c) == 0)
			return true;
	return false;
}

static void test_dialect_names(void **state)
{
	(void)state;
	assert_int_equal(sql_dialect_from_type("postgresql"), SQL_DIALECT_POSTGRESQL);
	assert_int_equal(sql_dialect_from_type("mariadb"), SQL_DIALECT_MYSQL);
	assert_int_equal(sql_dialect_from_type("MySQL"), SQL_DIALECT_MYSQL);
	assert_int_equal(sql_dialect_from_type("sqlserver"), SQL_DIALECT_SQLSERVER);
	assert_int_equal(sql_dialect_from_type("oracle"), SQL_DIALECT_ORACLE);
	assert_int_equal(sql_dialect_from_type("mongodb"), SQL_DIALECT_UNKNOWN);
	assert_int_equal(sql_dialect_from_type(NULL), SQL_DIALECT_UNKNOWN);
	assert_string_equal(sql_dialect_name(SQL_DIALECT_ORACLE), "oracle");
}

static void test_pg_parse(void **state)
{
	struct sql_analysis a;

	(void)state;
	run("SELECT a.ssn, c FROM hr.people a JOIN pay u ON u.id = a.id WHERE x = 'y' AND z IN (1, 2)",
	    SQL_DIALECT_POSTGRESQL, &a);
	assert_true(a.pg_parsed);
	assert_false(a.parse_failed);
	assert_int_equal(a.n_statements, 1);
	assert_string_equal(a.action_id, "SL");
	assert_string_equal(a.schema_name, "hr");
	assert_string_equal(a.object_name, "people");
	assert_true(has_object(&a, NULL, "pay"));
	assert_true(has_column(&a, "ssn"));
	assert_true(has_column(&a, "z"));
	assert_false(a.star);
	assert_string_equal(a.masked, "SELECT a.ssn, c FROM hr.people a JOIN pay u ON u.id = a.id "
				      "WHERE x = $1 AND z IN ($2, $3)");
	sqlanalysis_cleanup(&a);

	run("WITH old AS (SELECT id FROM t WHERE d < now()) DELETE FROM s.t WHERE id IN (SELECT id FROM old)",
	    SQL_DIALECT_POSTGRESQL, &a);
	assert_string_equal(a.action_id, "DL");
	sqlanalysis_cleanup(&a);

	run("GRANT SELECT ON t TO bob; REVOKE ALL ON t FROM eve; CREATE INDEX i ON t (a); "
	    "ALTER TABLE t ADD b int; DROP VIEW v; CALL p(); COPY t FROM '/x'",
	    SQL_DIALECT_POSTGRESQL, &a);
	assert_int_equal(a.n_statements, 7);
	assert_string_equal(a.stmt_actions[0], "G");
	assert_string_equal(a.stmt_actions[1], "R");
	assert_string_equal(a.stmt_actions[2], "CR");
	assert_string_equal(a.stmt_actions[3], "AL");
	assert_string_equal(a.stmt_actions[4], "DR");
	assert_string_equal(a.stmt_actions[5], "EX");
	assert_string_equal(a.stmt_actions[6], "IN");
	sqlanalysis_cleanup(&a);

	run("SELECT * FROM users WHERE name = 'admin'--' AND pass = 'hunter2'", SQL_DIALECT_POSTGRESQL, &a);
	assert_true(a.star);
	/* the literal in the cut-off rest must not survive masking */
	assert_null(strstr(a.masked, "hunter2"));
	assert_null(strstr(a.masked, "admin"));
	sqlanalysis_cleanup(&a);
}

static void test_pg_mask_ddl(void **state)
{
	struct sql_analysis a;

	(void)state;
	/* pg_query_normalize leaves utility statements' literals: a second pass takes them */
	run("ALTER ROLE bob PASSWORD 'hunter2'", SQL_DIALECT_POSTGRESQL, &a);
	assert_string_equal(a.masked, "ALTER ROLE bob PASSWORD $1");
	sqlanalysis_cleanup(&a);
	run("COPY t TO '/tmp/secret.csv'", SQL_DIALECT_POSTGRESQL, &a);
	assert_string_equal(a.masked, "COPY t TO $1");
	sqlanalysis_cleanup(&a);
	run("CREATE TABLE t (a text DEFAULT 'k3y') ; SELECT $1, 'x'", SQL_DIALECT_POSTGRESQL, &a);
	assert_null(strstr(a.masked, "k3y"));
	assert_null(strstr(a.masked, "'x'"));
	sqlanalysis_cleanup(&a);
}

static void test_pg_parse_failure(void **state)
{
	struct sql_analysis a;

	(void)state;
	run("SELECT * FROM `users` WHERE id = 1", SQL_DIALECT_POSTGRESQL, &a);
	assert_false(a.pg_parsed);
	assert_true(a.parse_failed);
	assert_string_equal(a.action_id, "SL");
	assert_int_equal(a.n_statements, 1);
	sqlanalysis_cleanup(&a);
	/* unknown dialect: libpg_query first, the tokenizer when it refuses */
	run("select * from t where a = 'x'", SQL_DIALECT_UNKNOWN, &a);
	assert_true(a.pg_parsed);
	assert_int_equal(a.dialect, SQL_DIALECT_POSTGRESQL);
	sqlanalysis_cleanup(&a);
	run("select * from `db`.`t` where a = \"secret\"", SQL_DIALECT_UNKNOWN, &a);
	assert_false(a.pg_parsed);
	assert_string_equal(a.schema_name, "db");
	assert_string_equal(a.object_name, "t");
	assert_string_equal(a.masked, "select * from `db`.`t` where a = $1");
	sqlanalysis_cleanup(&a);
}

static void test_mysql_tokens(void **state)
{
	struct sql_analysis a;

	(void)state;
	run("INSERT INTO `shop`.`orders` (`id`, note) VALUES (1, 'it\\'s; -- not a comment'), (0x1F, \"x\")",
	    SQL_DIALECT_MYSQL, &a);
	assert_string_equal(a.action_id, "IN");
	assert_int_equal(a.n_statements, 1);
	assert_string_equal(a.schema_name, "shop");
	assert_string_equal(a.object_name, "orders");
	assert_string_equal(a.masked, "INSERT INTO `shop`.`orders` (`id`, note) VALUES ($1, $2), ($3, $4)");
	sqlanalysis_cleanup(&a);

	/* an executable comment's content is SQL: its literals are masked too */
	run("SELECT 1 /*!50000 UNION SELECT 'pw' */ # trailing", SQL_DIALECT_MYSQL, &a);
	assert_string_equal(a.masked, "SELECT $1 /*!50000 UNION SELECT $2 */ # trailing");
	assert_true(sqlanalysis_token_is(&a, 3, "UNION"));
	sqlanalysis_cleanup(&a);

	run("select a from t1, t2 x, db.t3 as y where 1; delete from t4", SQL_DIALECT_MYSQL, &a);
	assert_int_equal(a.n_statements, 2);
	assert_string_equal(a.stmt_actions[1], "DL");
	assert_true(has_object(&a, NULL, "t1"));
	assert_true(has_object(&a, NULL, "t2"));
	assert_true(has_object(&a, "db", "t3"));
	assert_true(has_object(&a, NULL, "t4"));
	sqlanalysis_cleanup(&a);
}

static void test_sqlserver_oracle_tokens(void **state)
{
	struct sql_analysis a;

	(void)state;
	run("UPDATE [dbo].[Pay Roll] SET [Amount] = 10.5 WHERE Id = @id AND Name = N'O''Brien'",
	    SQL_DIALECT_SQLSERVER, &a);
	assert_string_equal(a.action_id, "UP");
	assert_string_equal(a.schema_name, "dbo");
	assert_string_equal(a.object_name, "pay roll");
	assert_true(has_column(&a, "amount"));
	assert_string_equal(a.masked,
			    "UPDATE [dbo].[Pay Roll] SET [Amount] = $1 WHERE Id = @id AND Name = $2");
	sqlanalysis_cleanup(&a);

	run("DENY SELECT ON t TO u", SQL_DIALECT_SQLSERVER, &a);
	assert_string_equal(a.action_id, "D");
	sqlanalysis_cleanup(&a);

	run("SELECT q'[it's; here]' FROM dual WHERE x = :bind", SQL_DIALECT_ORACLE, &a);
	assert_int_equal(a.n_statements, 1);
	assert_string_equal(a.masked, "SELECT $1 FROM dual WHERE x = :bind");
	sqlanalysis_cleanup(&a);

	/* a PL/SQL block is one statement however many semicolons it holds */
	run("BEGIN UPDATE t SET a = 1; DELETE FROM u; END;", SQL_DIALECT_ORACLE, &a);
	assert_int_equal(a.n_statements, 1);
	sqlanalysis_cleanup(&a);
}

static void test_dollar_quotes_and_comments(void **state)
{
	struct sql_analysis a;
	char *m;

	(void)state;
	m = sqlanalysis_mask_tokens("DO $fn$ BEGIN PERFORM 'x'; END $fn$; /* a /* nested */ 'q' */ SELECT 2",
				    SQL_DIALECT_POSTGRESQL);
	assert_non_null(m);
	assert_string_equal(m, "DO $1; /* $2 */ SELECT $3");
	free(m);
	/* numbering continues after the highest placeholder already there */
	m = sqlanalysis_mask_tokens("SELECT $3, 'a', 7", SQL_DIALECT_POSTGRESQL);
	assert_string_equal(m, "SELECT $3, $4, $5");
	free(m);
	/* an unterminated string is masked to the end */
	m = sqlanalysis_mask_tokens("SELECT 'abc", SQL_DIALECT_MYSQL);
	assert_string_equal(m, "SELECT $1");
	free(m);
	run("", SQL_DIALECT_UNKNOWN, &a);
	assert_int_equal(a.n_statements, 0);
	assert_string_equal(a.action_id, "");
	assert_string_equal(a.masked, "");
	sqlanalysis_cleanup(&a);
	/* found by the fuzzer: a lone backquote ending the text is a quoted
	 * name of length 1, whose unquoted length once wrapped around */
	run("GRANT b`.`t`", SQL_DIALECT_UNKNOWN, &a);
	assert_true(a.n_columns <= SQLA_MAX_COLUMNS);
	sqlanalysis_cleanup(&a);
	run("-- only a comment", SQL_DIALECT_MYSQL, &a);
	assert_int_equal(a.n_statements, 0);
	sqlanalysis_cleanup(&a);
}

static void test_bounded(void **state)
{
	size_t big = 5u * 1024 * 1024;
	char *s = malloc(big + 1);
	struct sql_analysis a;

	(void)state;
	assert_non_null(s);
	/* a huge statement: parsed only up to the caps, masked whole */
	memset(s, ' ', big);
	memcpy(s, "SELECT * FROM t WHERE a IN (", 28);
	for (size_t i = 28; i + 4 < big; i += 4)
		memcpy(s + i, "'x',", 4);
	memcpy(s + big - 5, "'z')", 4);
	s[big] = '\0';
	run(s, SQL_DIALECT_POSTGRESQL, &a);
	assert_true(a.truncated);
	assert_false(a.pg_parsed);
	assert_true(a.n_tokens <= SQLA_MAX_TOKENS);
	assert_string_equal(a.object_name, "t");
	assert_null(strstr(a.masked, "'x'"));
	assert_null(strstr(a.masked, "'z'"));
	sqlanalysis_cleanup(&a);
	/* deep nesting: libpg_query refuses, nothing crashes */
	memset(s, '(', 30000);
	memcpy(s, "SELECT ", 7);
	s[30000] = '\0';
	run(s, SQL_DIALECT_POSTGRESQL, &a);
	assert_false(a.pg_parsed);
	sqlanalysis_cleanup(&a);
	free(s);
}

static void test_audit_options(void **state)
{
	json_t *d = json_pack("{s:s, s:s}", "query", "SELECT * FROM t WHERE pw = 'hunter2'", "user", "u");
	json_t *opts;
	struct sql_analysis a;

	(void)state;
	/* default: masked */
	assert_int_equal(sqlanalysis_apply_audit_options(d, NULL, SQL_DIALECT_POSTGRESQL, NULL), API_OK);
	assert_string_equal(json_string_value(json_object_get(d, "query")),
			    "SELECT * FROM t WHERE pw = $1");
	/* masking off: stored as sent */
	json_object_set_new(d, "query", json_string("SELECT 'k'"));
	opts = json_pack("{s:b}", "mask_sensitive_data", 0);
	assert_int_equal(sqlanalysis_apply_audit_options(d, opts, SQL_DIALECT_POSTGRESQL, NULL), API_OK);
	assert_string_equal(json_string_value(json_object_get(d, "query")), "SELECT 'k'");
	json_decref(opts);
	/* the analysis made at ingest is reused */
	run("SELECT `a` FROM t WHERE b = \"s3\"", SQL_DIALECT_MYSQL, &a);
	json_object_set_new(d, "query", json_string("SELECT `a` FROM t WHERE b = \"s3\""));
	opts = json_pack("{s:b, s:b}", "mask_sensitive_data", 1, "capture_queries", 1);
	assert_int_equal(sqlanalysis_apply_audit_options(d, opts, SQL_DIALECT_MYSQL, &a), API_OK);
	assert_string_equal(json_string_value(json_object_get(d, "query")), "SELECT `a` FROM t WHERE b = $1");
	json_decref(opts);
	sqlanalysis_cleanup(&a);
	/* capture_queries false: no statement at all */
	opts = json_pack("{s:b}", "capture_queries", 0);
	assert_int_equal(sqlanalysis_apply_audit_options(d, opts, SQL_DIALECT_MYSQL, NULL), API_OK);
	assert_null(json_object_get(d, "query"));
	assert_string_equal(json_string_value(json_object_get(d, "user")), "u");
	json_decref(opts);
	json_decref(d);
}

static void test_fill_details(void **state)
{
	json_t *d = json_pack("{s:s}", "object_name", "sent");
	struct sql_analysis a;

	(void)state;
	run("UPDATE app.accounts SET x = 1", SQL_DIALECT_POSTGRESQL, &a);
	assert_int_equal(sqlanalysis_fill_details(d, &a), API_OK);
	assert_string_equal(json_string_value(json_object_get(d, "action_id")), "UP");
	assert_string_equal(json_string_value(json_object_get(d, "schema_name")), "app");
	/* what the collector sent wins */
	assert_string_equal(json_string_value(json_object_get(d, "object_name")), "sent");
	sqlanalysis_cleanup(&a);
	json_decref(d);
}

/* An event as ingest has it: analysed in the unknown dialect, then the
 * database's facts from the store. */
static void ingest_event(struct event_in *ev, const char *query, const char *db_id,
			 const char *db_type, json_t *opts)
{
	memset(ev, 0, sizeof(*ev));
	ev->details = json_pack("{s:s}", "query", query);
	ev->database_id = db_id;
	ev->sql = calloc(1, sizeof(*ev->sql));
	assert_non_null(ev->sql);
	assert_int_equal(sqlanalysis_run(query, SQL_DIALECT_UNKNOWN, 0, ev->sql), API_OK);
	if (db_id != NULL)
		event_set_database(ev, "n", db_type, opts);
}

static const char *query_of(const struct event_in *ev)
{
	return json_string_value(json_object_get(ev->details, "query"));
}

static void test_audit_apply_batch(void **state)
{
	json_t *off = json_pack("{s:b}", "capture_queries", 0);
	json_t *plain = json_pack("{s:b}", "mask_sensitive_data", 0);
	struct event_in ev[6];

	(void)state;
	/* a MySQL "..." is a string: masked, though libpg_query parsed it as a name */
	ingest_event(&ev[0], "SELECT a FROM t WHERE b = \"secret\"", "db_1", "mysql", NULL);
	assert_true(ev[0].sql->pg_parsed);
	/* for PostgreSQL the parse is reused: "b" stays a name */
	ingest_event(&ev[1], "SELECT \"b\" FROM t WHERE c = 'secret'", "db_2", "postgresql", NULL);
	ingest_event(&ev[2], "SELECT 'secret'", "db_3", "postgresql", off);
	ingest_event(&ev[3], "SELECT 'secret'", "db_4", "postgresql", plain);
	/* no database: stored as sent */
	ingest_event(&ev[4], "SELECT 'secret'", NULL, NULL, NULL);
	/* a database whose facts were never looked up gets the defaults */
	ingest_event(&ev[5], "SELECT 'secret', 42", "db_5", NULL, NULL);
	assert_int_equal(audit_apply_batch(ev, 6), API_OK);
	assert_string_equal(query_of(&ev[0]), "SELECT a FROM t WHERE b = $1");
	assert_string_equal(query_of(&ev[1]), "SELECT \"b\" FROM t WHERE c = $1");
	assert_null(query_of(&ev[2]));
	assert_string_equal(query_of(&ev[3]), "SELECT 'secret'");
	assert_string_equal(query_of(&ev[4]), "SELECT 'secret'");
	assert_string_equal(query_of(&ev[5]), "SELECT $1, $2");
	for (size_t i = 0; i < 6; i++)
		event_in_cleanup(&ev[i]);
	json_decref(off);
	json_decref(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialect_names),
		cmocka_unit_test(test_pg_parse),
		cmocka_unit_test(test_pg_mask_ddl),
		cmocka_unit_test(test_pg_parse_failure),
		cmocka_unit_test(test_mysql_tokens),
		cmocka_unit_test(test_sqlserver_oracle_tokens),
		cmocka_unit_test(test_dollar_quotes_and_comments),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_audit_options),
		cmocka_unit_test(test_audit_apply_batch),
		cmocka_unit_test(test_fill_details),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
