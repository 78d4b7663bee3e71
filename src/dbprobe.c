/*
 * dbprobe: the common part of connection tests (see dbprobe.h): backend
 * table, address policy, TCP reachability with a deadline, temporary PEM
 * files, and the sentences clients see.
 */
#include "dbprobe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeutil.h"

static const struct dbprobe_backend backends[] = {
	{ DB_POSTGRESQL, 5432, dbprobe_pg },
	{ DB_MYSQL, 3306, dbprobe_mysql },
	{ DB_MARIADB, 3306, dbprobe_mysql },
	{ DB_SQLSERVER, 1433, dbprobe_tds },
	{ DB_ORACLE, 1521, dbprobe_oracle },
	{ DB_MONGODB, 27017, dbprobe_mongo },
};

static const char *const kind_names[DBPROBE__COUNT] = {
	[DBPROBE_OK] = "ok",
	[DBPROBE_REFUSED] = "connection_refused",
	[DBPROBE_UNREACHABLE] = "host_unreachable",
	[DBPROBE_DNS] = "host_not_found",
	[DBPROBE_BLOCKED] = "address_not_allowed",
	[DBPROBE_TIMEOUT] = "timeout",
	[DBPROBE_TLS] = "tls_failed",
	[DBPROBE_AUTH] = "authentication_failed",
	[DBPROBE_DATABASE] = "database_not_found",
	[DBPROBE_PRIVILEGE] = "missing_privilege",
	[DBPROBE_PROTOCOL] = "protocol_mismatch",
	[DBPROBE_INSECURE_AUTH] = "insecure_authentication",
	[DBPROBE_OTHER] = "failed",
};

const struct dbprobe_backend *dbprobe_backend(enum db_type type)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i].type == type)
			return &backends[i];
	return NULL;
}

const char *dbprobe_kind_name(enum dbprobe_kind k)
{
	return k < DBPROBE__COUNT ? kind_names[k] : "failed";
}

void dbprobe_result_init(struct dbprobe_result *r)
{
	memset(r, 0, sizeof(*r));
	r->permissions = json_object();
	r->warnings = json_array();
}

void dbprobe_result_cleanup(struct dbprobe_result *r)
{
	json_decref(r->permissions);
	json_decref(r->warnings);
	r->permissions = NULL;
	r->warnings = NULL;
}

/* Host as shown in sentences: IPv6 literals in brackets. */
static void host_port(char *out, size_t n, const struct dbprobe_target *t)
{
	if (strchr(t->host, ':') != NULL)
		snprintf(out, n, "[%s]:%d", t->host, t->port);
	else
		snprintf(out, n, "%s:%d", t->host, t->port);
}

void dbprobe_fail(struct dbprobe_result *r, const struct dbprobe_target *t,
		  enum dbprobe_kind k, const char *detail)
{
	char hp[300];

	host_port(hp, sizeof(hp), t);
	r->ok = false;
	r->kind = k;
	if (detail != NULL)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
	switch (k) {
	case DBPROBE_REFUSED:
		snprintf(r->message, sizeof(r->message),
			 "Connection refused by %s: nothing is listening on that port, or a firewall "
			 "rejects the connection. Check the host and port.", hp);
		break;
	case DBPROBE_UNREACHABLE:
		snprintf(r->message, sizeof(r->message),
			 "Cannot reach %s: there is no network route to that host. Check the host "
			 "and the network between dbaudit and the database.", hp);
		break;
	case DBPROBE_DNS:
		snprintf(r->message, sizeof(r->message),
			 "The host name %s does not resolve. Check the host.", t->host);
		break;
	case DBPROBE_BLOCKED:
		snprintf(r->message, sizeof(r->message),
			 "Connections to %s are not allowed: loopback, link-local, multicast and "
			 "unspecified addresses are blocked (the setting probe_allow_loopback allows "
			 "loopback).", t->host);
		break;
	case DBPROBE_TIMEOUT:
		snprintf(r->message, sizeof(r->message),
			 "No answer from %s within %lld ms: the connection or the server's reply timed "
			 "out. Check the host, the port, firewalls that drop packets, and that the "
			 "server is a %s server that is not overloaded.", hp,
			 (long long)t->timeout_ms, dbrec_type_name(t->type));
		break;
	case DBPROBE_TLS:
		snprintf(r->message, sizeof(r->message),
			 "TLS failed with %s under ssl_mode %s: the server does not offer TLS, or its "
			 "certificate was not accepted. Check ssl_mode, ssl_ca and the host name the "
			 "certificate was issued for.", hp, dbrec_ssl_mode_name(t->ssl_mode));
		break;
	case DBPROBE_AUTH:
		snprintf(r->message, sizeof(r->message),
			 "Authentication failed: the server rejected the username or password. Check "
			 "the credentials stored for this database.");
		break;
	case DBPROBE_DATABASE:
		snprintf(r->message, sizeof(r->message),
			 "The database '%s' does not exist on %s, or the user may not use it. Check "
			 "the database name.", t->database, hp);
		break;
	case DBPROBE_PRIVILEGE:
		snprintf(r->message, sizeof(r->message),
			 "Connected, but the user lacks privileges an auditor needs. Grant them and "
			 "test again.");
		break;
	case DBPROBE_PROTOCOL:
		snprintf(r->message, sizeof(r->message),
			 "Something answered at %s, but not as a %s server. Check the type and the "
			 "port.", hp, dbrec_type_name(t->type));
		break;
	case DBPROBE_INSECURE_AUTH:
		snprintf(r->message, sizeof(r->message),
			 "%s asked for the password in clear text under ssl_mode %s, which does not "
			 "verify the host name: dbaudit did not send it. %s", hp,
			 dbrec_ssl_mode_name(t->ssl_mode), t->type == DB_POSTGRESQL
			 ? "Use verify-full, or scram-sha-256 on the server."
			 : "Give the account mysql_native_password or ed25519 authentication.");
		break;
	default:
		snprintf(r->message, sizeof(r->message),
			 "The connection test failed for a reason dbaudit could not classify; the "
			 "server log has the details.");
		r->kind = DBPROBE_OTHER;
		break;
	}
}

void dbprobe_failf(struct dbprobe_result *r, const struct dbprobe_target *t,
		   enum dbprobe_kind k, const char *fmt, ...)
{
	char detail[sizeof(r->detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	dbprobe_fail(r, t, k, detail);
}

void dbprobe_warn(struct dbprobe_result *r, const char *text)
{
	json_array_append_new(r->warnings, json_string(text));
}

int64_t dbprobe_remaining_ms(const struct dbprobe_conn *c)
{
	int64_t left = c->deadline_ms - time_mono_ms();

	return left > 0 ? left : 1;
}

static bool v4_allowed(uint32_t a, bool allow_loopback)
{
	if ((a >> 24) == 127)
		return allow_loopback;
	if ((a >> 24) == 0)                      /* 0.0.0.0/8: "this host" */
		return false;
	if ((a >> 16) == 0xA9FE)                 /* 169.254/16: link-local, cloud metadata */
		return false;
	if ((a >> 28) == 0xE || a == 0xFFFFFFFFu) /* multicast, limited broadcast */
		return false;
	return true;
}

bool dbprobe_addr_allowed(const struct sockaddr *sa, bool allow_loopback)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return v4_allowed(ntohl(in->sin_addr.s_addr), allow_loopback);
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
			uint32_t v4;

			memcpy(&v4, &a->s6_addr[12], 4);
			return v4_allowed(ntohl(v4), allow_loopback);
		}
		if (IN6_IS_ADDR_LOOPBACK(a))
			return allow_loopback;
		if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		    IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_SITELOCAL(a))
			return false;
		return true;
	}
	return false;
}

/* Non-blocking connect to one address within the deadline: 0, or a dbprobe_kind. */
static enum dbprobe_kind tcp_try(const struct addrinfo *ai, int64_t deadline_ms)
{
	int fd, err = 0;
	socklen_t len = sizeof(err);
	struct pollfd pfd;
	enum dbprobe_kind k = DBPROBE_OK;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return DBPROBE_OTHER;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else {
			int64_t left;
			int pr;

			pfd.fd = fd;
			pfd.events = POLLOUT;
			do {
				left = deadline_ms - time_mono_ms();
				pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			} while (pr < 0 && errno == EINTR);
			if (pr == 0)
				err = ETIMEDOUT;
			else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno ? errno : EIO;
		}
	}
	close(fd);
	switch (err) {
	case 0:
		break;
	case ECONNREFUSED:
	case ECONNRESET:
		k = DBPROBE_REFUSED;
		break;
	case ETIMEDOUT:
		k = DBPROBE_TIMEOUT;
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
		k = DBPROBE_UNREACHABLE;
		break;
	default:
		k = DBPROBE_OTHER;
		break;
	}
	return k;
}

/*
 * Resolves t->host once, checks every address, and connects to the first
 * that answers. Fills c->addr or fails r.
 */
static bool reach(const struct dbprobe_target *t, struct dbprobe_conn *c, struct dbprobe_result *r)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], detail[128];
	enum dbprobe_kind first = DBPROBE_OK;
	int gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", t->port);
	gai = getaddrinfo(t->host, port, &hints, &res);
	if (gai != 0) {
		snprintf(detail, sizeof(detail), "getaddrinfo error %d", gai);
		dbprobe_fail(r, t, gai == EAI_NONAME || gai == EAI_NODATA ? DBPROBE_DNS
				    : DBPROBE_OTHER, detail);
		return false;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!dbprobe_addr_allowed(ai->ai_addr, t->allow_loopback)) {
			freeaddrinfo(res);
			dbprobe_fail(r, t, DBPROBE_BLOCKED, NULL);
			return false;
		}
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		enum dbprobe_kind k = tcp_try(ai, c->deadline_ms);

		if (k == DBPROBE_OK) {
			if (getnameinfo(ai->ai_addr, ai->ai_addrlen, c->addr, sizeof(c->addr), NULL, 0,
					NI_NUMERICHOST) != 0)
				break;
			freeaddrinfo(res);
			return true;
		}
		if (first == DBPROBE_OK)
			first = k;
		if (k == DBPROBE_TIMEOUT)
			break;  /* the deadline is spent */
	}
	freeaddrinfo(res);
	dbprobe_fail(r, t, first == DBPROBE_OK ? DBPROBE_OTHER : first, NULL);
	return false;
}

struct pem_files {
	char dir[64];
	char paths[4][96];
	int n;
};

static bool write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* Writes the texts, one after the other on separate lines, to a new 0600 file of pf. */
static bool pem_file(struct pem_files *pf, const char *name, const char *const *texts, size_t ntexts,
		     const char **slot)
{
	char path[sizeof(pf->paths[0])];
	bool ok = true;
	int fd;

	if ((size_t)pf->n >= sizeof(pf->paths) / sizeof(pf->paths[0]))
		return false;
	snprintf(path, sizeof(path), "%s/%s", pf->dir, name);
	memcpy(pf->paths[pf->n], path, sizeof(path));
	fd = open(pf->paths[pf->n], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	pf->n++;
	for (size_t i = 0; ok && i < ntexts; i++)
		ok = write_all(fd, texts[i], strlen(texts[i])) && write_all(fd, "\n", 1);
	close(fd);
	if (ok)
		*slot = pf->paths[pf->n - 1];
	return ok;
}

/* Writes the PEM secrets of t to 0600 files in a fresh 0700 directory. */
static bool pem_write(const struct dbprobe_target *t, struct dbprobe_conn *c, struct pem_files *pf,
		      struct dbprobe_result *r)
{
	memset(pf, 0, sizeof(*pf));
	if (!t->ssl_ca && !t->ssl_cert && !t->ssl_key)
		return true;
	snprintf(pf->dir, sizeof(pf->dir), "/tmp/dbaudit-probe-XXXXXX");
	if (mkdtemp(pf->dir) == NULL) {
		pf->dir[0] = '\0';
		goto fail;
	}
	if (t->ssl_ca && !pem_file(pf, "ca.pem", &t->ssl_ca, 1, &c->ca_file))
		goto fail;
	if (t->ssl_cert && t->ssl_key) {
		const char *both[2] = { t->ssl_cert, t->ssl_key };

		if (!pem_file(pf, "cert.pem", &t->ssl_cert, 1, &c->cert_file) ||
		    !pem_file(pf, "key.pem", &t->ssl_key, 1, &c->key_file) ||
		    !pem_file(pf, "certkey.pem", both, 2, &c->certkey_file))
			goto fail;
	}
	return true;
fail:
	dbprobe_fail(r, t, DBPROBE_OTHER, "cannot write temporary certificate files");
	return false;
}

static void pem_remove(struct pem_files *pf)
{
	for (int i = 0; i < pf->n; i++)
		unlink(pf->paths[i]);
	if (pf->dir[0] != '\0')
		rmdir(pf->dir);
}

void dbprobe_run(const struct dbprobe_target *t, struct dbprobe_result *r)
{
	const struct dbprobe_backend *b = dbprobe_backend(t->type);
	struct dbprobe_conn c;
	struct pem_files pf;
	int64_t start = time_mono_ms();

	dbprobe_result_init(r);
	memset(&c, 0, sizeof(c));
	memset(&pf, 0, sizeof(pf));
	c.t = t;
	c.deadline_ms = start + t->timeout_ms;
	if (b == NULL) {
		dbprobe_fail(r, t, DBPROBE_OTHER, "no backend for this type");
		goto out;
	}
	if (t->ssl_mode == DB_SSL_VERIFY_FULL && !dbrec_verify_full_supported(t->type)) {
		dbprobe_fail(r, t, DBPROBE_TLS, "verify-full not supported for this type");
		snprintf(r->message, sizeof(r->message), "ssl_mode verify-full is not supported for "
			 "%s: its client library cannot connect to the checked address and verify "
			 "the certificate against the host name. Use verify-ca with ssl_ca.",
			 dbrec_type_name(t->type));
		goto out;
	}
	if (!reach(t, &c, r) || !pem_write(t, &c, &pf, r))
		goto out;
	r->ok = true;
	r->kind = DBPROBE_OK;
	b->probe(&c, r);
	/*
	 * A failure the driver could not name, or a connection it saw drop,
	 * at the deadline is a timeout: the server said nothing in time.
	 */
	if (!r->ok && (r->kind == DBPROBE_OTHER || r->kind == DBPROBE_PROTOCOL) &&
	    time_mono_ms() >= c.deadline_ms - 250)
		dbprobe_fail(r, t, DBPROBE_TIMEOUT, NULL);
out:
	pem_remove(&pf);
	r->latency_ms = time_mono_ms() - start;
	if (r->ok)
		r->message[0] = '\0';
}
