/*
 * analysis_bench: the cost of analysing one statement at ingest next to
 * pg_query_parse alone on the same statement, measured in the same run.
 *
 *   parse      pg_query_parse + pg_query_free_parse_result (the baseline)
 *   analyse    sqlanalysis_run without masking (what event_parse does)
 *   mask       sqlanalysis_run with SQLA_WANT_MASK (pg_query_normalize too)
 *   detect     analyse + mask + the four stateless detectors
 *
 * Statements: a set of PostgreSQL statements of different shapes and
 * sizes, and the same for the tokenizer-only path (MySQL text that
 * libpg_query refuses). usage: analysis_bench [iterations per statement,
 * default 20000] [rounds, default 3]; the best round counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pg_query.h>

#include "detect.h"
#include "sqlanalysis.h"

static const char *const pg_stmts[] = {
	"SELECT \"auth_user\".\"id\", \"auth_user\".\"username\" FROM \"auth_user\" "
	"WHERE \"auth_user\".\"username\" = 'alice' LIMIT 21",
	"SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
	"WHERE o.status IN ('paid', 'shipped') AND o.created_at > now() - interval '7 days' "
	"ORDER BY o.created_at DESC LIMIT 50 OFFSET 100",
	"INSERT INTO audit_log (actor, action, detail) VALUES ('svc', 'login', '{\"ip\": \"10.0.0.1\"}')",
	"UPDATE accounts SET balance = balance - 10.5 WHERE id = 42",
	"WITH recent AS (SELECT user_id, max(created_at) AS last_seen FROM sessions GROUP BY user_id) "
	"SELECT u.id, u.email, r.last_seen, row_number() OVER (ORDER BY r.last_seen DESC) FROM users u "
	"JOIN recent r ON r.user_id = u.id WHERE r.last_seen > now() - interval '30 days' AND "
	"u.payload @> '{\"plan\": \"pro\"}'::jsonb",
	"SELECT * FROM users WHERE name = '' OR '1'='1'",
};

static const char *const my_stmts[] = {
	"SELECT `auth_user`.`id`, `auth_user`.`username` FROM `auth_user` WHERE `auth_user`.`username` = 'alice' LIMIT 21",
	"SELECT * FROM `orders` WHERE `status` IN ('paid','shipped') AND `created_at` > '2024-01-01' ORDER BY `id` DESC LIMIT 50",
	"INSERT INTO `comments` (`post_id`, `body`) VALUES (12, 'It\\'s fine')",
	"SELECT * FROM `users` WHERE `login` = 'x' /*!50000UNION*/ SELECT 1,2#",
};

enum mode { PARSE, ANALYSE, MASK, DETECT };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void once(const char *s, enum sql_dialect d, enum mode m)
{
	struct sql_analysis a;
	struct detect_input in = { "database.query", NULL, NULL, NULL, 0 };
	struct detect_hit hits[DETECT__COUNT];

	if (m == PARSE) {
		PgQueryParseResult r = pg_query_parse(s);

		pg_query_free_parse_result(r);
		return;
	}
	memset(&a, 0, sizeof(a));
	if (sqlanalysis_run(s, d, m == ANALYSE ? 0 : SQLA_WANT_MASK, &a) != API_OK)
		abort();
	if (m == DETECT) {
		in.sql = &a;
		detect_run(&in, hits, DETECT__COUNT);
	}
	sqlanalysis_cleanup(&a);
}

/* Microseconds per statement over the set. */
static double measure(const char *const *set, size_t n, enum sql_dialect d, enum mode m, long iters)
{
	double t0 = now_s();

	for (long i = 0; i < iters; i++)
		for (size_t k = 0; k < n; k++)
			once(set[k], d, m);
	return (now_s() - t0) * 1e6 / ((double)iters * (double)n);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3;
	const char *names[] = { "parse", "analyse", "mask", "detect" };
	double best_pg[4] = { 1e9, 1e9, 1e9, 1e9 }, best_my[4] = { 1e9, 1e9, 1e9, 1e9 };
	size_t npg = sizeof(pg_stmts) / sizeof(pg_stmts[0]), nmy = sizeof(my_stmts) / sizeof(my_stmts[0]);

	if (iters <= 0 || rounds <= 0)
		return 2;
	for (int r = 0; r < rounds; r++) {
		for (int m = PARSE; m <= DETECT; m++) {
			double pg = measure(pg_stmts, npg, SQL_DIALECT_POSTGRESQL, (enum mode)m, iters);
			double my = measure(my_stmts, nmy, SQL_DIALECT_MYSQL, (enum mode)m, iters);

			if (pg < best_pg[m])
				best_pg[m] = pg;
			if (my < best_my[m])
				best_my[m] = my;
		}
	}
	fprintf(stderr, "%-8s %14s %8s %16s %8s\n", "mode", "postgresql us", "x parse", "mysql(tok) us", "x parse");
	for (int m = PARSE; m <= DETECT; m++)
		fprintf(stderr, "%-8s %14.2f %8.2f %16.2f %8.2f\n", names[m], best_pg[m],
			best_pg[m] / best_pg[PARSE], best_my[m], best_my[m] / best_pg[PARSE]);
	return 0;
}
