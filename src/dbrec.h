/*
 * dbrec: the monitored-database record without I/O. Validation and
 * normalisation of request bodies (create, update, heartbeat) and query
 * filters, and the JSON views the API returns, built from the stored
 * document by allow-list so that a stored secret can never leak into a
 * response. No store, no FastCGI: every function here is unit tested.
 *
 * Stored document (as JSON, dates as RFC 3339 strings):
 *   _id "db_<24 hex>", tenant_id, name, type, host, port, database,
 *   username, ssl_mode, tags[], audit_options{}, secrets{password, ssl_ca,
 *   ssl_cert, ssl_key: sealed}, status, audit_status, created_at,
 *   updated_at, last_test{}, heartbeat{}.
 */
#ifndef DBAUDIT_DBREC_H
#define DBAUDIT_DBREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum db_type {
	DB_POSTGRESQL,
	DB_MYSQL,
	DB_MARIADB,
	DB_SQLSERVER,
	DB_ORACLE,
	DB_MONGODB,
	DB_TYPE__COUNT
};

enum db_ssl_mode { DB_SSL_DISABLE, DB_SSL_REQUIRE, DB_SSL_VERIFY_CA, DB_SSL_VERIFY_FULL };

/* The secrets a record may hold, each sealed separately. */
enum db_secret {
	DB_SECRET_PASSWORD,
	DB_SECRET_SSL_CA,
	DB_SECRET_SSL_CERT,
	DB_SECRET_SSL_KEY,
	DB_SECRET__COUNT
};

#define DBREC_ID_LEN 27          /* "db_" + 24 hex */
#define DBREC_HOST_MAX 255
#define DBREC_NAME_MAX 200       /* characters */
#define DBREC_IDENT_MAX 128      /* database and username, characters */
#define DBREC_PASSWORD_MAX 1024  /* bytes */
#define DBREC_PEM_MAX 16384      /* bytes */
#define DBREC_TAGS_MAX 20
#define DBREC_TAG_MAX 64
#define DBREC_DEFAULT_SSL_MODE "require"

/* Type from its API name, or -1. */
int dbrec_type_parse(const char *s);
const char *dbrec_type_name(enum db_type t);

/* SSL mode from its API name, or -1. */
int dbrec_ssl_mode_parse(const char *s);
const char *dbrec_ssl_mode_name(enum db_ssl_mode m);

/*
 * Whether ssl_mode verify-full can be honoured for a type: its client
 * library must connect to the address the probe checked and still verify
 * the certificate against the host name. libpq can (hostaddr + host);
 * Connector/C, libmongoc and FreeTDS check the name they connect to.
 * Oracle is only tested for reachability (no TLS, no credentials).
 */
bool dbrec_verify_full_supported(enum db_type t);

/* Field name of a secret ("password", "ssl_ca", ...). */
const char *dbrec_secret_name(enum db_secret s);

/* True for the four connection statuses: pending, connected, disconnected, error. */
bool dbrec_status_valid(const char *s);

/* True when id is "db_" followed by 24 lowercase hex digits. */
bool dbrec_id_valid(const char *id);

/*
 * Normalises a host: a hostname (labels of [A-Za-z0-9_-], 1-63 each, not
 * starting or ending with '-', 253 in all; lowercased), an IPv4 literal or
 * an IPv6 literal with or without brackets (canonical form, no zone).
 * Writes the result (size >= DBREC_HOST_MAX + 1) and returns 0, or -1.
 */
int dbrec_host_normalise(const char *in, char *out, size_t outlen);

/* True when s is a valid tag: 1-64 of [a-z0-9_:-]. */
bool dbrec_tag_valid(const char *s);

/* What a create or update body asks for, validated and normalised. */
struct dbrec_input {
	json_t *set;                              /* owned: non-secret fields to store */
	const char *secrets[DB_SECRET__COUNT];    /* borrowed from the body; NULL: not given */
	bool unset[DB_SECRET__COUNT];             /* update only: given as null, remove it */
	const char *tenant_id;                    /* borrowed; create only; NULL: not given */
};

/*
 * Validates a create body (patch false: required fields, defaults applied)
 * or an update body (patch true: only the fields given; audit_options keys
 * are merged into the stored ones, so set.audit_options holds only the
 * keys given). Unknown fields, wrong types and out-of-range values are
 * errors. On success returns 0 and fills in (clean up with
 * dbrec_input_cleanup); on error returns -1 with a sentence naming the
 * field in msg (never a secret's value). in's borrowed pointers live as
 * long as body.
 */
int dbrec_input_parse(json_t *body, bool patch, struct dbrec_input *in, char *msg, size_t msglen);

/*
 * Rules across fields, on the record an update would leave (old is the
 * stored record, NULL on create): an empty username is allowed only for
 * type mongodb (no authentication); ssl_mode verify-full only for the
 * types of dbrec_verify_full_supported. Returns 0, or -1 with a sentence.
 */
int dbrec_check_combined(const json_t *set, const json_t *old, char *msg, size_t msglen);

/*
 * Update only: when in changes type, host, port or username of old (the
 * stored record), in must carry a new password, so that a stored password
 * is never relayed to a server it was not given for. Returns 0, or -1 with
 * a sentence naming password.
 */
int dbrec_check_retarget(const struct dbrec_input *in, const json_t *old, char *msg, size_t msglen);

/* Frees what in owns. */
void dbrec_input_cleanup(struct dbrec_input *in);

/*
 * Validates a heartbeat body {collector: {version, uptime_seconds,
 * events_per_second}, health_checks?: {connectivity, permissions, latency,
 * disk_space: healthy|warning|critical}, latency_ms?}. On success *out is a
 * new normalised object; on error -1 with a sentence in msg.
 */
int dbrec_heartbeat_parse(json_t *body, json_t **out, char *msg, size_t msglen);

/* Connection status a heartbeat implies: "error" when connectivity is critical, else "connected". */
const char *dbrec_heartbeat_status(const json_t *heartbeat);

/*
 * Parses the list filter "tags" (comma-separated, each a valid tag, at most
 * 20). On success *out is a new array of distinct tags.
 */
int dbrec_tags_parse_csv(const char *csv, json_t **out, char *msg, size_t msglen);

/* Counts computed from the store for the detail view. */
struct dbrec_stats {
	int64_t events_today;      /* since 00:00 UTC */
	int64_t events_this_week;  /* since Monday 00:00 UTC */
	int64_t alerts_pending;    /* alerts with status open */
	int64_t policies_active;   /* enabled policies for all databases or naming this one */
};

/* Start of the UTC day and of the UTC week (Monday) containing now_ms. */
int64_t dbrec_day_start_ms(int64_t now_ms);
int64_t dbrec_week_start_ms(int64_t now_ms);

/*
 * The list item (and create response) of a stored document: id, tenant_id,
 * name, type, host, port, database, username, ssl_mode, status,
 * audit_status, tags, stored_secrets (names only), created_at, updated_at,
 * last_event_at (last_event_at borrowed, may be NULL: null). New reference.
 */
json_t *dbrec_view_summary(const json_t *doc, const char *last_event_at);

/*
 * The detail view: the summary plus audit_options, stats, health (from the
 * latest heartbeat, or the last connection test when there is none) and
 * last_test. New reference.
 */
json_t *dbrec_view_detail(const json_t *doc, const struct dbrec_stats *st,
			  const char *last_event_at);

/*
 * The /status view: id, connection_status, audit_status, collector,
 * health_checks, last_heartbeat, last_event (last_event borrowed, may be
 * NULL), and a message when no heartbeat has been received. New reference.
 */
json_t *dbrec_view_status(const json_t *doc, const json_t *last_event);

#endif
