/*
 * dbprobe_mysql: MySQL and MariaDB connection test with MariaDB
 * Connector/C. Always TCP (never the Unix socket "localhost" means to the
 * library) to the resolved address; verify-full is refused before (the
 * library checks the certificate against the name it connects to, so it
 * cannot connect to the checked address and verify the host name).
 * So no connection here is verified against the name, and only the
 * authentication plugins that never send the password itself are allowed
 * (MARIADB_OPT_RESTRICTED_AUTH): mysql_native_password and client_ed25519;
 * not mysql_clear_password, dialog (PAM), sha256_password or
 * caching_sha2_password, whose full authentication sends the password in
 * clear inside TLS. Reads VERSION() and SHOW
 * GRANTS: SELECT on the database is required; PROCESS (to see other
 * sessions) gives a warning when missing. SHOW GRANTS lines may carry a
 * password hash: they are parsed here and never copied anywhere.
 */
#include "dbprobe.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#define MYSQL_SYSTEM_CA_PATH "/etc/ssl/certs"

/* Whether text matches a grant's database pattern: % and _ wildcards, \ escapes. */
static bool like_match(const char *pat, const char *text)
{
	for (; *pat; pat++, text++) {
		if (*pat == '%') {
			for (;; text++) {
				if (like_match(pat + 1, text))
					return true;
				if (*text == '\0')
					return false;
			}
		}
		if (*text == '\0')
			return false;
		if (*pat == '\\' && pat[1] != '\0') {
			pat++;
			if (*pat != *text)
				return false;
		} else if (*pat != '_' && *pat != *text) {
			return false;
		}
	}
	return *text == '\0';
}

/* Whether one privilege of the list (trimmed, not column-level) is priv or ALL. */
static bool privs_include(const char *list, size_t n, const char *priv)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;
		int depth = 0;
		bool column = false;

		while (i < n && (list[i] == ' ' || list[i] == ','))
			i++;
		start = i;
		while (i < n && (depth > 0 || list[i] != ',')) {
			if (list[i] == '(') {
				depth++;
				column = true;
			} else if (list[i] == ')') {
				depth--;
			}
			i++;
		}
		end = i;
		while (end > start && list[end - 1] == ' ')
			end--;
		if (column || end == start)
			continue;
		if ((end - start == strlen(priv) && strncasecmp(list + start, priv, end - start) == 0) ||
		    (end - start == 14 && strncasecmp(list + start, "ALL PRIVILEGES", 14) == 0) ||
		    (end - start == 3 && strncasecmp(list + start, "ALL", 3) == 0))
			return true;
	}
	return false;
}

bool dbprobe_mysql_grant_has(const char *line, const char *priv, const char *db)
{
	const char *on, *to, *p;
	char name[200];
	size_t k = 0;

	if (strncasecmp(line, "GRANT ", 6) != 0)
		return false;
	on = strstr(line + 6, " ON ");
	if (on == NULL)
		return false;  /* a role grant */
	to = strstr(on + 4, " TO ");
	if (to == NULL || !privs_include(line + 6, (size_t)(on - line - 6), priv))
		return false;
	p = on + 4;
	if (strncmp(p, "*.* ", 4) == 0)
		return true;
	if (db == NULL || *p != '`')
		return false;  /* global privilege wanted, or a routine, or PROXY */
	/* `name`.* with `` as an escaped backtick */
	for (p++; *p && k + 1 < sizeof(name); p++) {
		if (*p == '`') {
			if (p[1] != '`')
				break;
			p++;
		}
		name[k++] = *p;
	}
	name[k] = '\0';
	if (*p != '`' || strncmp(p + 1, ".* ", 3) != 0)
		return false;  /* a table-level grant does not cover the database */
	return like_match(name, db);
}

static enum dbprobe_kind classify(unsigned int code, const char *msg)
{
	switch (code) {
	case ER_ACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
	case ER_HOST_NOT_PRIVILEGED:
	case ER_NOT_SUPPORTED_AUTH_MODE:
	case CR_AUTH_PLUGIN_CANNOT_LOAD:
		return DBPROBE_AUTH;
	case ER_DBACCESS_DENIED_ERROR:
	case ER_BAD_DB_ERROR:
		return DBPROBE_DATABASE;
	case CR_SSL_CONNECTION_ERROR:
		return DBPROBE_TLS;
	case CR_SERVER_HANDSHAKE_ERR:
	case CR_MALFORMED_PACKET:
	case CR_SERVER_LOST:
	case CR_SERVER_GONE_ERROR:
		if (strstr(msg, "system error: 110"))  /* ETIMEDOUT on the read */
			return DBPROBE_TIMEOUT;
		return DBPROBE_PROTOCOL;  /* a timeout if the deadline passed (see dbprobe_run) */
	case CR_CONN_HOST_ERROR:
	case CR_CONNECTION_ERROR:
		return strstr(msg, "(111)") ? DBPROBE_REFUSED : DBPROBE_OTHER;
	case CR_UNKNOWN_HOST:
		return DBPROBE_DNS;
	case CR_PLUGIN_NOT_ALLOWED:
		return DBPROBE_INSECURE_AUTH;
	default:
		return strstr(msg, "SSL") || strstr(msg, "TLS") ? DBPROBE_TLS : DBPROBE_OTHER;
	}
}

/* Fails r from the error of m: its code, never its message (it may quote the password). */
static void fail_mysql(struct dbprobe_result *r, const struct dbprobe_target *t, MYSQL *m)
{
	dbprobe_failf(r, t, classify(mysql_errno(m), mysql_error(m)),
		      "Connector/C error %u (SQLSTATE %.5s)", mysql_errno(m), mysql_sqlstate(m));
}

/* "10.11.19-MariaDB-0+deb12u1" -> "MariaDB 10.11.19"; "8.0.36" -> "MySQL 8.0.36". */
static bool version_of(const char *v, char *out, size_t n)
{
	bool maria = strstr(v, "MariaDB") != NULL;
	size_t len = strcspn(v, "-");

	/* MariaDB 10.x behind a MySQL 5.5 replication prefix: "5.5.5-10.6.12-MariaDB" */
	if (maria && strncmp(v, "5.5.5-", 6) == 0) {
		v += 6;
		len = strcspn(v, "-");
	}
	snprintf(out, n, "%s %.*s", maria ? "MariaDB" : "MySQL", (int)len, v);
	return maria;
}

/* Authentication plugins that never send the password itself. */
#define MYSQL_HASHED_AUTH "mysql_native_password,client_ed25519"

static void set_tls(MYSQL *m, const struct dbprobe_conn *c)
{
	const struct dbprobe_target *t = c->t;
	my_bool on = 1, off = 0;

	mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, MYSQL_HASHED_AUTH);
	if (t->ssl_mode == DB_SSL_DISABLE)
		return;
	mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
	/* A CA makes Connector/C verify the chain; verify_server_cert adds the host name. */
	if (c->ca_file != NULL)
		mysql_optionsv(m, MYSQL_OPT_SSL_CA, c->ca_file);
	else if (t->ssl_mode != DB_SSL_REQUIRE)
		mysql_optionsv(m, MYSQL_OPT_SSL_CAPATH, MYSQL_SYSTEM_CA_PATH);
	mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
	if (c->cert_file != NULL) {
		mysql_optionsv(m, MYSQL_OPT_SSL_CERT, c->cert_file);
		mysql_optionsv(m, MYSQL_OPT_SSL_KEY, c->key_file);
	}
}

/* Runs SHOW GRANTS and records select/process. Returns false after failing r. */
static bool check_grants(MYSQL *m, const struct dbprobe_target *t, struct dbprobe_result *r,
			 bool *sel, bool *proc, bool *roles)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	*sel = *proc = *roles = false;
	if (mysql_query(m, "SHOW GRANTS") != 0 || (res = mysql_store_result(m)) == NULL) {
		fail_mysql(r, t, m);
		return false;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		if (row[0] == NULL)
			continue;
		*sel |= dbprobe_mysql_grant_has(row[0], "SELECT", t->database);
		*proc |= dbprobe_mysql_grant_has(row[0], "PROCESS", NULL);
		*roles |= strncasecmp(row[0], "GRANT ", 6) == 0 && strstr(row[0], " ON ") == NULL;
	}
	mysql_free_result(res);
	return true;
}

void dbprobe_mysql(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	const struct dbprobe_target *t = c->t;
	MYSQL *m = mysql_init(NULL);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	unsigned int secs = (unsigned int)((dbprobe_remaining_ms(c) + 999) / 1000);
	unsigned int proto = MYSQL_PROTOCOL_TCP;
	bool sel, proc, roles, maria;

	if (m == NULL) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "mysql_init failed");
		return;
	}
	mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &secs);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
	set_tls(m, c);
	if (mysql_real_connect(m, c->addr, t->username, t->password, t->database,
			       (unsigned int)t->port, NULL, 0) == NULL) {
		fail_mysql(r, t, m);
		goto out;
	}
	/*
	 * Connector/C falls back to plain text when the server offers no TLS
	 * unless the certificate's host name is verified: refuse that here.
	 */
	if (t->ssl_mode != DB_SSL_DISABLE && mysql_get_ssl_cipher(m) == NULL) {
		dbprobe_fail(r, t, DBPROBE_TLS, "the server offers no TLS");
		goto out;
	}
	if (mysql_query(m, "SELECT VERSION()") != 0 || (res = mysql_store_result(m)) == NULL ||
	    (row = mysql_fetch_row(res)) == NULL || row[0] == NULL) {
		fail_mysql(r, t, m);
		goto out;
	}
	maria = version_of(row[0], r->version, sizeof(r->version));
	if (maria && t->type == DB_MYSQL)
		dbprobe_warn(r, "The server is MariaDB; the database is registered as mysql.");
	else if (!maria && t->type == DB_MARIADB)
		dbprobe_warn(r, "The server is MySQL; the database is registered as mariadb.");
	if (!check_grants(m, t, r, &sel, &proc, &roles))
		goto out;
	json_object_set_new(r->permissions, "select", json_boolean(sel));
	json_object_set_new(r->permissions, "process", json_boolean(proc));
	if (!sel) {
		dbprobe_fail(r, t, DBPROBE_PRIVILEGE, NULL);
		snprintf(r->message, sizeof(r->message),
			 "Connected, but the user has no SELECT privilege on the database '%s'%s. "
			 "Run GRANT SELECT ON `%s`.* TO the user and test again.", t->database,
			 roles ? " (privileges granted through roles were not expanded)" : "",
			 t->database);
		goto out;
	}
	if (!proc)
		dbprobe_warn(r, "PROCESS is not granted: the user cannot see other sessions.");
	if (mysql_get_ssl_cipher(m) == NULL)
		dbprobe_warn(r, "The connection is not encrypted (ssl_mode disable).");
out:
	mysql_free_result(res);
	mysql_close(m);
}
