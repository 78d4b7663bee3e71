/*
 * dbprobe_pg: PostgreSQL connection test with libpq. Connects to the
 * address the common part resolved (hostaddr, so the name is not resolved
 * again) while host keeps the name for certificate checks; connect_timeout
 * and statement_timeout come from the remaining time. Reads version() and
 * the privileges an auditor needs: pg_read_all_stats (required: without it
 * other sessions' queries are hidden), pg_monitor and SELECT on the
 * database's tables (warnings when missing).
 */
#include "dbprobe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* Trust store for verify-* without ssl_ca: the system's CA bundle (libpq 15 has no "system"). */
#define PG_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

static const char *const probe_sql =
	"SELECT version(),"
	" has_database_privilege(current_database(), 'CONNECT'),"
	" pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),"
	" pg_has_role(current_user, 'pg_monitor', 'USAGE'),"
	" (SELECT count(*) FROM pg_catalog.pg_class c"
	"   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
	"     AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
	"     AND n.nspname NOT LIKE 'pg\\_toast%'"
	"     AND NOT has_table_privilege(c.oid, 'SELECT'))";

/* Our kind for a libpq connection failure, from its message (C locale). */
static enum dbprobe_kind classify(const char *m)
{
	if (strstr(m, "timeout expired"))
		return DBPROBE_TIMEOUT;
	if (strstr(m, "authentication failed") || strstr(m, "no pg_hba.conf entry") ||
	    strstr(m, "pg_hba.conf rejects") || strstr(m, "no password supplied") ||
	    strstr(m, "password is required") || (strstr(m, "role \"") && strstr(m, "does not exist")))
		return DBPROBE_AUTH;
	if (strstr(m, "database \"") && strstr(m, "does not exist"))
		return DBPROBE_DATABASE;
	if (strstr(m, "permission denied") || strstr(m, "CONNECT privilege"))
		return DBPROBE_PRIVILEGE;
	if (strstr(m, "SSL") || strstr(m, "certificate") || strstr(m, "root.crt") ||
	    strstr(m, "server does not support"))
		return DBPROBE_TLS;
	if (strstr(m, "Connection refused"))
		return DBPROBE_REFUSED;
	if (strstr(m, "server closed the connection") || strstr(m, "invalid response") ||
	    strstr(m, "expected authentication request") || strstr(m, "unsupported frontend protocol"))
		return DBPROBE_PROTOCOL;
	return DBPROBE_OTHER;
}

/* "PostgreSQL 15.20 (Debian ...) on x86_64 ..." -> "PostgreSQL 15.20". */
static void short_version(const char *v, char *out, size_t n)
{
	const char *sp = strchr(v, ' ');
	size_t len = strlen(v);

	if (sp != NULL && (sp = strchr(sp + 1, ' ')) != NULL)
		len = (size_t)(sp - v);
	snprintf(out, n, "%.*s", (int)len, v);
}

static bool col_true(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

void dbprobe_pg(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	const struct dbprobe_target *t = c->t;
	const char *keys[16], *vals[16];
	char port[8], timeout[24], options[64];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int n = 0;
	int64_t left = dbprobe_remaining_ms(c);
	long long unreadable;

	snprintf(port, sizeof(port), "%d", t->port);
	/* libpq counts whole seconds and treats 1 as 2. */
	snprintf(timeout, sizeof(timeout), "%lld", (long long)(left < 2000 ? 2 : (left + 999) / 1000));
	snprintf(options, sizeof(options), "-c statement_timeout=%lld", (long long)left);
	keys[n] = "host"; vals[n++] = t->host;
	keys[n] = "hostaddr"; vals[n++] = c->addr;
	keys[n] = "port"; vals[n++] = port;
	keys[n] = "dbname"; vals[n++] = t->database;
	keys[n] = "user"; vals[n++] = t->username;
	keys[n] = "password"; vals[n++] = t->password;
	keys[n] = "sslmode"; vals[n++] = dbrec_ssl_mode_name(t->ssl_mode);
	keys[n] = "connect_timeout"; vals[n++] = timeout;
	keys[n] = "options"; vals[n++] = options;
	keys[n] = "application_name"; vals[n++] = "dbaudit-connection-test";
	/*
	 * With a root certificate file, libpq's require behaves as verify-ca:
	 * give one for require only when the operator stored ssl_ca.
	 */
	if (t->ssl_mode != DB_SSL_DISABLE && (c->ca_file != NULL || t->ssl_mode != DB_SSL_REQUIRE)) {
		keys[n] = "sslrootcert";
		vals[n++] = c->ca_file ? c->ca_file : PG_SYSTEM_CA;
	}
	if (c->cert_file != NULL) {
		keys[n] = "sslcert"; vals[n++] = c->cert_file;
		keys[n] = "sslkey"; vals[n++] = c->key_file;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (conn == NULL) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "libpq: out of memory");
		return;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *m = PQerrorMessage(conn);

		dbprobe_fail(r, t, classify(m), m);
		goto out;
	}
	res = PQexec(conn, probe_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 5) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		dbprobe_fail(r, t, state && strcmp(state, "57014") == 0 ? DBPROBE_TIMEOUT
			     : state && strncmp(state, "42501", 5) == 0 ? DBPROBE_PRIVILEGE
			     : DBPROBE_OTHER, PQerrorMessage(conn));
		goto out;
	}
	short_version(PQgetvalue(res, 0, 0), r->version, sizeof(r->version));
	unreadable = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	json_object_set_new(r->permissions, "connect", json_boolean(col_true(res, 1)));
	json_object_set_new(r->permissions, "select", json_boolean(unreadable == 0));
	json_object_set_new(r->permissions, "pg_read_all_stats", json_boolean(col_true(res, 2)));
	json_object_set_new(r->permissions, "pg_monitor", json_boolean(col_true(res, 3)));
	if (!col_true(res, 2)) {
		dbprobe_fail(r, t, DBPROBE_PRIVILEGE, NULL);
		snprintf(r->message, sizeof(r->message),
			 "Connected, but the user lacks pg_read_all_stats, which an auditor needs to "
			 "see other sessions' activity. Run GRANT pg_monitor TO the user (or GRANT "
			 "pg_read_all_stats) and test again.");
		goto out;
	}
	if (!col_true(res, 3))
		dbprobe_warn(r, "pg_monitor is not granted: statistics views such as "
			     "pg_stat_statements may be incomplete.");
	if (unreadable > 0) {
		char w[200];

		snprintf(w, sizeof(w), "The user cannot SELECT from %lld table(s) or view(s) of the "
			 "database; grant SELECT (or pg_read_all_data) if they must be audited.",
			 unreadable);
		dbprobe_warn(r, w);
	}
	if (PQsslInUse(conn) == 0)
		dbprobe_warn(r, "The connection is not encrypted (ssl_mode disable).");
out:
	PQclear(res);
	PQfinish(conn);
}
