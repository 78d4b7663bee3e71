/*
 * dbprobe_pg: PostgreSQL connection test with libpq. Connects to the
 * address the common part resolved (hostaddr, so the name is not resolved
 * again) while host keeps the name for certificate checks; connect_timeout
 * and statement_timeout come from the remaining time. Reads version() and
 * the privileges an auditor needs: pg_read_all_stats (required: without it
 * other sessions' queries are hidden), pg_monitor and SELECT on the
 * database's tables (warnings when missing).
 *
 * libpq 15 has no require_auth (PostgreSQL 16): it answers any password
 * request the server makes, AuthenticationCleartextPassword included. So
 * unless ssl_mode is verify-full, the connection is driven here step by
 * step (PQconnectStartParams + PQconnectPoll) and every server message of
 * the authentication exchange is looked at before libpq reads it:
 * - over TLS, with SSL_peek on libpq's own SSL object: OpenSSL without
 *   read-ahead holds one record, and libpq's one SSL_read per poll step
 *   takes exactly that record;
 * - in plain text, libpq's socket is swapped (dup3) for one end of a
 *   socketpair for the exchange: the server's bytes are read here, whole
 *   messages only, up to and including AuthenticationOk, and passed on;
 *   then the real socket is put back under the same descriptor number.
 * A cleartext password request fails the test before libpq sees it.
 */
#include "dbprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "util/timeutil.h"

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

/* Largest server message looked at during authentication (they are small). */
#define GATE_BUF 8192
#define AUTH_REQ_OK 0
#define AUTH_REQ_PASSWORD 3

/* The authentication watch of one connection attempt. */
struct pg_gate {
	int fd;          /* libpq's socket descriptor number */
	int tcp;         /* plain text: the server connection while libpq talks to ours, or -1 */
	int mine;        /* plain text: our end of the socketpair, or -1 */
	size_t skip;     /* TLS: bytes of a message body libpq reads before the next message */
	bool done;       /* AuthenticationOk passed: nothing more to watch */
};

enum gate_step { GATE_READY, GATE_REFUSE, GATE_TIMEOUT, GATE_BROKEN };

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Walks the complete server messages at the start of buf[0..n). Returns
 * the bytes they take, stopping after AuthenticationOk (*ok) or at a
 * cleartext password request (*clear). *bad: a length no server sends.
 */
static size_t gate_scan(const unsigned char *buf, size_t n, bool *clear, bool *ok, bool *bad)
{
	size_t off = 0;

	*clear = *ok = *bad = false;
	while (off + 5 <= n) {
		uint32_t len = be32(buf + off + 1);

		if (len < 4 || len > GATE_BUF - 1) {
			*bad = true;
			return off;
		}
		if (off + 1 + len > n)
			break;
		if (buf[off] == 'R' && len >= 8) {
			uint32_t code = be32(buf + off + 5);

			if (code == AUTH_REQ_PASSWORD) {
				*clear = true;
				return off;
			}
			if (code == AUTH_REQ_OK) {
				*ok = true;
				return off + 1 + len;
			}
		}
		off += 1 + len;
	}
	return off;
}

/* Waits for fd to be ready for events before the deadline: 1, 0 on timeout, -1. */
static int wait_fd(int fd, short events, const struct dbprobe_conn *c)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do {
		int64_t left = c->deadline_ms - time_mono_ms();

		rc = left > 0 ? poll(&p, 1, (int)left) : 0;
	} while (rc < 0 && errno == EINTR);
	return rc;
}

static bool send_all(int fd, const unsigned char *p, size_t n, const struct dbprobe_conn *c)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EAGAIN && wait_fd(fd, POLLOUT, c) <= 0)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* Plain text: passes what libpq wrote on to the server. */
static bool gate_up(struct pg_gate *g, const struct dbprobe_conn *c)
{
	unsigned char buf[GATE_BUF];
	ssize_t n;

	while ((n = recv(g->mine, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		if (!send_all(g->tcp, buf, (size_t)n, c))
			return false;
	return n == 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Plain text: libpq's descriptor now reaches our end of a socketpair. */
static bool gate_open(struct pg_gate *g, PGconn *conn)
{
	int sp[2];

	g->fd = PQsocket(conn);
	if (g->fd < 0 || (g->tcp = fcntl(g->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return false;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0)
		return false;
	if (dup3(sp[0], g->fd, O_CLOEXEC) < 0) {
		close(sp[0]);
		close(sp[1]);
		return false;
	}
	close(sp[0]);
	g->mine = sp[1];
	return true;
}

/*
 * Plain text: with restore, the real socket goes back under libpq's
 * descriptor number (which libpq must still hold); without, our
 * descriptors are only closed (libpq's end goes with PQfinish).
 */
static bool gate_close(struct pg_gate *g, PGconn *conn, bool restore, const struct dbprobe_conn *c)
{
	bool ok = g->tcp < 0 || !restore ||
		  (PQsocket(conn) == g->fd && gate_up(g, c) && dup3(g->tcp, g->fd, O_CLOEXEC) >= 0);

	if (g->tcp >= 0)
		close(g->tcp);
	if (g->mine >= 0)
		close(g->mine);
	g->tcp = g->mine = -1;
	return ok;
}

/* Plain text: passes the next whole server messages to libpq, or refuses them. */
static enum gate_step gate_plain(struct pg_gate *g, PGconn *conn, const struct dbprobe_conn *c)
{
	unsigned char buf[GATE_BUF];
	bool clear, ok, bad;

	if (g->tcp < 0 && !gate_open(g, conn))
		return GATE_BROKEN;
	for (;;) {
		struct pollfd p[2] = { { .fd = g->tcp, .events = POLLIN }, { .fd = g->mine, .events = POLLIN } };
		ssize_t n;
		size_t m;
		int rc;

		if (!gate_up(g, c))
			return GATE_BROKEN;
		n = recv(g->tcp, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			shutdown(g->mine, SHUT_WR);  /* libpq sees the connection end */
			return GATE_READY;
		}
		if (n > 0) {
			m = gate_scan(buf, (size_t)n, &clear, &ok, &bad);
			if (clear)
				return GATE_REFUSE;
			if (bad)
				return GATE_BROKEN;
			if (m > 0) {
				/* Take exactly the vetted bytes: the rest stays in the socket. */
				if (recv(g->tcp, buf, m, MSG_WAITALL) != (ssize_t)m ||
				    !send_all(g->mine, buf, m, c))
					return GATE_BROKEN;
				g->done = ok;
				return GATE_READY;
			}
		}
		do {
			int64_t left = c->deadline_ms - time_mono_ms();

			rc = left > 0 ? poll(p, 2, (int)left) : 0;
		} while (rc < 0 && errno == EINTR);
		if (rc == 0)
			return GATE_TIMEOUT;
		if (rc < 0)
			return GATE_BROKEN;
	}
}

/* TLS: looks at the record libpq reads next. */
static enum gate_step gate_tls(struct pg_gate *g, PGconn *conn, const struct dbprobe_conn *c)
{
	SSL *ssl = PQsslStruct(conn, "OpenSSL");
	unsigned char buf[GATE_BUF];
	bool clear, ok, bad;

	if (ssl == NULL)
		return GATE_BROKEN;
	for (;;) {
		int n = SSL_peek(ssl, buf, (int)sizeof(buf)), e, rc;
		size_t m, tail;

		if (n > 0) {
			if (g->skip >= (size_t)n) {
				g->skip -= (size_t)n;
				return GATE_READY;
			}
			m = gate_scan(buf + g->skip, (size_t)n - g->skip, &clear, &ok, &bad);
			if (clear)
				return GATE_REFUSE;
			if (bad)
				return GATE_BROKEN;
			g->done = ok;
			tail = ok ? 0 : (size_t)n - g->skip - m;
			/*
			 * A message split across records: its type, length and
			 * request code must be in the first one (servers write a
			 * message with one call), the rest is skipped next time.
			 */
			if (tail > 0 && (tail < 5 || (buf[g->skip + m] == 'R' && tail < 9)))
				return GATE_BROKEN;
			g->skip = tail > 0 ? 1 + be32(buf + g->skip + m + 1) - tail : 0;
			return GATE_READY;
		}
		e = SSL_get_error(ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return GATE_READY;  /* libpq reads the same end and reports it */
		rc = wait_fd(PQsocket(conn), e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c);
		if (rc == 0)
			return GATE_TIMEOUT;
		if (rc < 0)
			return GATE_BROKEN;
	}
}

/*
 * Connects with keys/vals within c's deadline, watching the
 * authentication exchange unless ssl_mode is verify-full. Returns the
 * connection, or NULL after failing r.
 */
static PGconn *pg_connect(const struct dbprobe_conn *c, const char *const *keys,
			  const char *const *vals, struct dbprobe_result *r)
{
	const struct dbprobe_target *t = c->t;
	PGconn *conn = PQconnectStartParams(keys, vals, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	struct pg_gate g = { .fd = -1, .tcp = -1, .mine = -1 };
	bool watch = t->ssl_mode != DB_SSL_VERIFY_FULL;

	if (conn == NULL) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "libpq: out of memory");
		return NULL;
	}
	while (st != PGRES_POLLING_OK) {
		enum gate_step step = GATE_READY;

		if (st == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD) {
			dbprobe_fail(r, t, classify(PQerrorMessage(conn)), "libpq: connection failed");
			goto bad;
		}
		if (watch && !g.done && PQstatus(conn) == CONNECTION_AWAITING_RESPONSE) {
			step = PQsslInUse(conn) ? gate_tls(&g, conn, c) : gate_plain(&g, conn, c);
		} else {
			if (g.tcp >= 0 && !gate_close(&g, conn, true, c))
				step = GATE_BROKEN;
			else if (wait_fd(PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, c) == 0)
				step = GATE_TIMEOUT;
		}
		if (step == GATE_REFUSE) {
			dbprobe_fail(r, t, DBPROBE_INSECURE_AUTH,
				     "libpq: cleartext password request refused");
			goto bad;
		}
		if (step == GATE_TIMEOUT) {
			dbprobe_fail(r, t, DBPROBE_TIMEOUT, "libpq: no answer before the deadline");
			goto bad;
		}
		if (step == GATE_BROKEN) {
			dbprobe_fail(r, t, DBPROBE_PROTOCOL, "libpq: malformed authentication exchange");
			goto bad;
		}
		st = PQconnectPoll(conn);
	}
	if (g.tcp >= 0 && !gate_close(&g, conn, true, c)) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "libpq: cannot restore the connection");
		goto bad;
	}
	return conn;
bad:
	gate_close(&g, conn, false, c);
	PQfinish(conn);
	return NULL;
}

void dbprobe_pg(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	const struct dbprobe_target *t = c->t;
	const char *keys[20], *vals[20];
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
	/* Nothing but what is given here: no ~/.pgpass, no GSSAPI encryption attempt. */
	keys[n] = "passfile"; vals[n++] = "/dev/null";
	keys[n] = "gssencmode"; vals[n++] = "disable";
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
	conn = pg_connect(c, keys, vals, r);
	if (conn == NULL)
		return;
	res = PQexec(conn, probe_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 5) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		dbprobe_failf(r, t, state && strcmp(state, "57014") == 0 ? DBPROBE_TIMEOUT
			      : state && strncmp(state, "42501", 5) == 0 ? DBPROBE_PRIVILEGE
			      : DBPROBE_OTHER, "libpq: the probe query failed (SQLSTATE %.5s)",
			      state ? state : "none");
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
