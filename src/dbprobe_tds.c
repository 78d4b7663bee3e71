/*
 * dbprobe_tds: SQL Server connection test with FreeTDS (db-lib). db-lib in
 * FreeTDS 1.3 has no per-login TLS setting, so the test writes a private
 * freetds.conf with one section (address, port, TDS 7.4, encryption,
 * ca file, check certificate hostname) and points FREETDSCONF at it for
 * the duration of dbopen(). Reads @@VERSION and fn_my_permissions(NULL,
 * 'SERVER'): VIEW SERVER STATE (or CONTROL SERVER) is required; ALTER ANY
 * EVENT SESSION or ALTER ANY SERVER AUDIT gives a warning when missing.
 *
 * db-lib reports errors through process-wide handlers without a user
 * pointer (there is no DBPROCESS yet when a login fails), so the last
 * error lives in a file-scope struct; workers serve one request at a time.
 */
#include "dbprobe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sybfront.h>
#include <sybdb.h>

#define TDS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define TDS_SECTION "dbaudit_probe"

static struct {
	int dberr;       /* first db-lib error of the attempt */
	int oserr;
	int msgno;       /* first server error message (severity > 10) */
	char text[256];  /* its text, to classify it (never logged) */
} tds_last;

static int tds_err_handler(DBPROCESS *dbproc, int severity, int dberr, int oserr,
			   char *dberrstr, char *oserrstr)
{
	(void)dbproc;
	(void)severity;
	(void)oserrstr;
	if (tds_last.dberr == 0) {
		tds_last.dberr = dberr;
		tds_last.oserr = oserr;
		if (tds_last.text[0] == '\0' && dberrstr != NULL)
			snprintf(tds_last.text, sizeof(tds_last.text), "%s", dberrstr);
	}
	return INT_CANCEL;
}

static int tds_msg_handler(DBPROCESS *dbproc, DBINT msgno, int msgstate, int severity,
			   char *msgtext, char *srvname, char *procname, int line)
{
	(void)dbproc;
	(void)msgstate;
	(void)srvname;
	(void)procname;
	(void)line;
	if (severity > 10 && tds_last.msgno == 0) {
		tds_last.msgno = (int)msgno;
		if (msgtext != NULL)
			snprintf(tds_last.text, sizeof(tds_last.text), "%s", msgtext);
	}
	return 0;
}

static enum dbprobe_kind classify(void)
{
	switch (tds_last.msgno) {
	case 18456: /* login failed */
	case 18452: /* untrusted domain */
	case 18470: /* account disabled */
		return DBPROBE_AUTH;
	case 4060:  /* cannot open database requested by the login */
		return DBPROBE_DATABASE;
	case 229:   /* permission denied */
	case 300:
		return DBPROBE_PRIVILEGE;
	}
	if (tds_last.dberr == SYBETIME)
		return DBPROBE_TIMEOUT;
	if (tds_last.oserr == ECONNREFUSED)
		return DBPROBE_REFUSED;
	if (tds_last.oserr == ETIMEDOUT)
		return DBPROBE_TIMEOUT;
	if (strstr(tds_last.text, "TLS") || strstr(tds_last.text, "SSL") ||
	    strstr(tds_last.text, "certificate") || strstr(tds_last.text, "encrypt"))
		return DBPROBE_TLS;
	return DBPROBE_OTHER;
}

/* Fails r from the last db-lib error: its numbers, never its text. */
static void fail_tds(struct dbprobe_result *r, const struct dbprobe_target *t)
{
	dbprobe_failf(r, t, classify(), "db-lib error %d, os error %d, server message %d",
		      tds_last.dberr, tds_last.oserr, tds_last.msgno);
}

/* Writes the one-section freetds.conf of c to a new private file; its path into path. */
static bool write_conf(const struct dbprobe_conn *c, char *path, size_t n)
{
	const struct dbprobe_target *t = c->t;
	const char *host = c->addr;
	FILE *f;
	int fd;

	snprintf(path, n, "/tmp/dbaudit-tds-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return false;
	}
	fprintf(f, "[%s]\n\thost = %s\n\tport = %d\n\ttds version = 7.4\n", TDS_SECTION, host,
		t->port);
	fprintf(f, "\tencryption = %s\n", t->ssl_mode == DB_SSL_DISABLE ? "off" : "require");
	if (t->ssl_mode == DB_SSL_VERIFY_CA || t->ssl_mode == DB_SSL_VERIFY_FULL ||
	    (t->ssl_mode == DB_SSL_REQUIRE && c->ca_file != NULL)) {
		fprintf(f, "\tca file = %s\n", c->ca_file ? c->ca_file : TDS_SYSTEM_CA);
		/* Connected by address: the name cannot be checked (verify-full is refused). */
		fprintf(f, "\tcheck certificate hostname = no\n");
	}
	if (fclose(f) != 0) {
		unlink(path);
		return false;
	}
	return true;
}

/* Runs sql and copies the first column of each row to cb. Returns false on error. */
static bool query(DBPROCESS *p, const char *sql, void (*cb)(const char *v, void *arg), void *arg)
{
	RETCODE rc;

	if (dbcmd(p, sql) != SUCCEED || dbsqlexec(p) != SUCCEED)
		return false;
	while ((rc = dbresults(p)) == SUCCEED) {
		while (dbnextrow(p) != NO_MORE_ROWS) {
			char buf[512];
			DBINT len = dbdatlen(p, 1);
			BYTE *data = dbdata(p, 1);

			if (data == NULL || len < 0)
				continue;
			if ((size_t)len >= sizeof(buf))
				len = sizeof(buf) - 1;
			memcpy(buf, data, (size_t)len);
			buf[len] = '\0';
			cb(buf, arg);
		}
	}
	return rc == NO_MORE_RESULTS;
}

static void take_version(const char *v, void *arg)
{
	struct dbprobe_result *r = arg;

	/* "Microsoft SQL Server 2019 (RTM-CU..." -> up to the first " (" or newline */
	if (r->version[0] == '\0')
		snprintf(r->version, sizeof(r->version), "%.*s", (int)strcspn(v, "(\n\r\t"), v);
	for (size_t n = strlen(r->version); n > 0 && r->version[n - 1] == ' '; n--)
		r->version[n - 1] = '\0';
}

static void take_permission(const char *v, void *arg)
{
	static const char *const wanted[][2] = {
		{ "VIEW SERVER STATE", "view_server_state" },
		{ "CONTROL SERVER", "control_server" },
		{ "ALTER ANY EVENT SESSION", "alter_any_event_session" },
		{ "ALTER ANY SERVER AUDIT", "alter_any_server_audit" },
	};
	json_t *perms = arg;

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (strcmp(v, wanted[i][0]) == 0)
			json_object_set_new(perms, wanted[i][1], json_true());
}

static bool perm(const json_t *perms, const char *name)
{
	return json_is_true(json_object_get(perms, name));
}

/* Checks the server permissions read into r->permissions. */
static void judge(const struct dbprobe_target *t, struct dbprobe_result *r)
{
	static const char *const names[] = { "view_server_state", "control_server",
					     "alter_any_event_session", "alter_any_server_audit" };
	bool control = perm(r->permissions, "control_server");

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (json_object_get(r->permissions, names[i]) == NULL)
			json_object_set_new(r->permissions, names[i], json_false());
	if (!control && !perm(r->permissions, "view_server_state")) {
		dbprobe_fail(r, t, DBPROBE_PRIVILEGE, NULL);
		snprintf(r->message, sizeof(r->message),
			 "Connected, but the login lacks VIEW SERVER STATE, which an auditor needs. "
			 "Run GRANT VIEW SERVER STATE TO the login and test again.");
		return;
	}
	if (!control && !perm(r->permissions, "alter_any_event_session") &&
	    !perm(r->permissions, "alter_any_server_audit"))
		dbprobe_warn(r, "Neither ALTER ANY EVENT SESSION nor ALTER ANY SERVER AUDIT is "
			     "granted: the collector cannot set up capture itself.");
	if (t->ssl_mode == DB_SSL_DISABLE)
		dbprobe_warn(r, "The connection is not encrypted (ssl_mode disable).");
}

void dbprobe_tds(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	static bool inited;
	const struct dbprobe_target *t = c->t;
	LOGINREC *login = NULL;
	DBPROCESS *p = NULL;
	char conf[64] = "", *saved = NULL;
	const char *old;
	int secs = (int)((dbprobe_remaining_ms(c) + 999) / 1000);

	if (!inited) {
		if (dbinit() == FAIL) {
			dbprobe_fail(r, t, DBPROBE_OTHER, "dbinit failed");
			return;
		}
		inited = true;
	}
	memset(&tds_last, 0, sizeof(tds_last));
	dberrhandle(tds_err_handler);
	dbmsghandle(tds_msg_handler);
	if (!write_conf(c, conf, sizeof(conf))) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "cannot write the temporary freetds.conf");
		return;
	}
	login = dblogin();
	if (login == NULL) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "dblogin failed");
		goto out;
	}
	DBSETLUSER(login, t->username);
	DBSETLPWD(login, t->password);
	DBSETLAPP(login, "dbaudit-connection-test");
	DBSETLDBNAME(login, t->database);
	DBSETLCHARSET(login, "UTF-8");
	dbsetlogintime(secs);
	dbsettime(secs);
	old = getenv("FREETDSCONF");
	saved = old ? strdup(old) : NULL;
	setenv("FREETDSCONF", conf, 1);
	p = dbopen(login, TDS_SECTION);
	if (saved != NULL)
		setenv("FREETDSCONF", saved, 1);
	else
		unsetenv("FREETDSCONF");
	if (p == NULL) {
		fail_tds(r, t);
		goto out;
	}
	if (!query(p, "SELECT CAST(@@VERSION AS VARCHAR(400))", take_version, r) ||
	    !query(p, "SELECT permission_name FROM fn_my_permissions(NULL, 'SERVER')",
		   take_permission, r->permissions)) {
		fail_tds(r, t);
		goto out;
	}
	if (t->ssl_cert != NULL)
		dbprobe_warn(r, "SQL Server does not use client certificates over TDS; ssl_cert and "
			     "ssl_key were ignored.");
	judge(t, r);
out:
	if (p != NULL)
		dbclose(p);
	if (login != NULL)
		dbloginfree(login);
	free(saved);
	if (conf[0] != '\0')
		unlink(conf);
}
