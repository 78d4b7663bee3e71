/*
 * dbprobe: real connection tests of monitored databases. One table of
 * backends by type (like curl's vtls): {type, default port, probe}. The
 * common part runs first for every type: resolve the host once, refuse
 * addresses the configuration does not allow (loopback unless
 * probe_allow_loopback; link-local, multicast and unspecified always),
 * open and close a TCP connection to the first allowed address within the
 * deadline (this alone tells "refused" from "timeout" precisely), write
 * the PEM secrets to private temporary files the drivers can read, then
 * hand the backend the resolved address and the remaining time.
 *
 * Backends connect with the stored credentials and the requested ssl_mode,
 * read the server version and check the privileges an auditor needs. They
 * classify failures into enum dbprobe_kind and never copy a driver's
 * message anywhere: result.message (shown to clients) is our sentence, and
 * result.detail (for the log) is a fixed reason with the driver's error
 * codes. A driver's text may quote the password, and masking a short
 * password inside it reveals it (every 'p' of "port" becomes "***").
 *
 * Passwords: unless ssl_mode is verify-full, a connection is not bound to
 * the server the password was given for, so a backend refuses to answer a
 * request for the password in clear text (PostgreSQL's
 * AuthenticationCleartextPassword, MySQL's mysql_clear_password and
 * dialog plugins, caching_sha2_password's full authentication) and fails
 * with DBPROBE_INSECURE_AUTH instead. verify-full is accepted only where
 * the driver can connect to the checked address and still verify the
 * certificate against the name (PostgreSQL).
 */
#ifndef DBAUDIT_DBPROBE_H
#define DBAUDIT_DBPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "dbrec.h"

enum dbprobe_kind {
	DBPROBE_OK = 0,
	DBPROBE_REFUSED,       /* nothing listens there (connection refused or reset) */
	DBPROBE_UNREACHABLE,   /* no route to the host or network */
	DBPROBE_DNS,           /* the host name does not resolve */
	DBPROBE_BLOCKED,       /* the address is not allowed by the configuration */
	DBPROBE_TIMEOUT,       /* no answer within the deadline */
	DBPROBE_TLS,           /* TLS could not be negotiated or the certificate was rejected */
	DBPROBE_AUTH,          /* the server rejected the username or password */
	DBPROBE_DATABASE,      /* the database does not exist */
	DBPROBE_PRIVILEGE,     /* connected, but privileges an auditor needs are missing */
	DBPROBE_PROTOCOL,      /* something answered, but not a server of that type */
	DBPROBE_INSECURE_AUTH, /* the server asked for the password in clear text: refused */
	DBPROBE_OTHER,
	DBPROBE__COUNT
};

/* What to connect to. Strings are borrowed. */
struct dbprobe_target {
	enum db_type type;
	const char *host;          /* as stored: hostname or IP literal */
	int port;
	const char *database;
	const char *username;
	const char *password;      /* plaintext, never logged */
	enum db_ssl_mode ssl_mode;
	const char *ssl_ca;        /* PEM or NULL */
	const char *ssl_cert;      /* PEM or NULL */
	const char *ssl_key;       /* PEM or NULL */
	int64_t timeout_ms;        /* the whole test, connection included */
	bool allow_loopback;
};

struct dbprobe_result {
	bool ok;
	enum dbprobe_kind kind;
	int64_t latency_ms;        /* connect, authenticate and read the version */
	char version[128];
	json_t *permissions;       /* owned object */
	json_t *warnings;          /* owned array of strings */
	char message[512];         /* our sentence for the client */
	char detail[160];          /* a fixed reason and the driver's error codes: log only */
};

/* What a backend receives: the target and what the common part prepared. */
struct dbprobe_conn {
	const struct dbprobe_target *t;
	char addr[64];             /* the resolved, allowed, reachable IP literal */
	int64_t deadline_ms;       /* monotonic */
	const char *ca_file;       /* temporary PEM files, or NULL */
	const char *cert_file;
	const char *key_file;
	const char *certkey_file;  /* certificate then key in one file (libmongoc wants that) */
};

struct dbprobe_backend {
	enum db_type type;
	int default_port;
	/* Fills r (permissions and warnings are already empty containers). */
	void (*probe)(const struct dbprobe_conn *c, struct dbprobe_result *r);
};

/* The backend of a type. */
const struct dbprobe_backend *dbprobe_backend(enum db_type type);

/* Prepares r (empty permissions and warnings). */
void dbprobe_result_init(struct dbprobe_result *r);

/* Frees what r owns. */
void dbprobe_result_cleanup(struct dbprobe_result *r);

/*
 * Runs the test of t into r (initialised here). Never blocks much longer
 * than t->timeout_ms (DNS resolution aside). r->ok tells success; on
 * failure r->kind and r->message say why in a sentence a person can act on.
 */
void dbprobe_run(const struct dbprobe_target *t, struct dbprobe_result *r);

/* Short machine name of a kind ("refused", "timeout", "authentication_failed", ...). */
const char *dbprobe_kind_name(enum dbprobe_kind k);

/*
 * Sets r to failure of kind k with our own sentence for it (host and port
 * of t named where it helps). detail, if not NULL, is copied to r->detail
 * for the log: a fixed reason with error codes, never a driver's message.
 */
void dbprobe_fail(struct dbprobe_result *r, const struct dbprobe_target *t,
		  enum dbprobe_kind k, const char *detail);

/* dbprobe_fail with a printf-style detail (fixed text and numbers only). */
void dbprobe_failf(struct dbprobe_result *r, const struct dbprobe_target *t,
		   enum dbprobe_kind k, const char *fmt, ...) __attribute__((format(printf, 4, 5)));


/* Adds a warning sentence to r. */
void dbprobe_warn(struct dbprobe_result *r, const char *text);

/* Milliseconds left before c's deadline (at least 1). */
int64_t dbprobe_remaining_ms(const struct dbprobe_conn *c);

/*
 * Whether an address may be probed: loopback only with allow_loopback;
 * unspecified, link-local (cloud metadata), multicast and broadcast never.
 * IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
 */
bool dbprobe_addr_allowed(const struct sockaddr *sa, bool allow_loopback);

enum dbprobe_slot_rc { DBPROBE_SLOT_TAKEN, DBPROBE_SLOT_BUSY, DBPROBE_SLOT_ERROR };

/*
 * Takes one of the max concurrent test slots of principal who, shared by
 * every process using directory dir (created 0700 if missing): TAKEN with
 * *fd holding it (give it back with dbprobe_slot_give), BUSY when all max
 * are held, ERROR when dir cannot be used. A slot is freed when its
 * holder exits, however it ends.
 */
enum dbprobe_slot_rc dbprobe_slot_take(const char *dir, const char *who, int max, int *fd);

/* Gives back a slot taken by dbprobe_slot_take (fd -1: nothing). */
void dbprobe_slot_give(int fd);

/* The backends (dbprobe_<type>.c). */
void dbprobe_pg(const struct dbprobe_conn *c, struct dbprobe_result *r);
void dbprobe_mysql(const struct dbprobe_conn *c, struct dbprobe_result *r);
void dbprobe_mongo(const struct dbprobe_conn *c, struct dbprobe_result *r);
void dbprobe_tds(const struct dbprobe_conn *c, struct dbprobe_result *r);
void dbprobe_oracle(const struct dbprobe_conn *c, struct dbprobe_result *r);

/*
 * Helpers for the MySQL backend, exposed for unit tests: whether one line
 * of SHOW GRANTS grants privilege priv (upper case, e.g. "SELECT") on
 * database db (or on every database). "ALL PRIVILEGES" grants everything.
 */
bool dbprobe_mysql_grant_has(const char *line, const char *priv, const char *db);

#endif
