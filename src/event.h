/*
 * event: the audit event model, free of any store or FastCGI code so that
 * every rule is unit-testable: the 12 event types and their default
 * severities, type filters with wildcards, validation and sanitisation of
 * ingested events, event ids, the kAudit action id and success flag,
 * literal regex escaping, and the opaque polling cursor.
 */
#ifndef DBAUDIT_EVENT_H
#define DBAUDIT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "input_limits.h"

struct principal;
struct sql_analysis;

#define EVENT_NTYPES 12
#define EVENT_TYPES_ALL ((1u << EVENT_NTYPES) - 1)
#define EVENT_ID_LEN 28              /* "evt_" + 24 lowercase hex */
#define EVENT_XID_MAX 600            /* tenant + "/" + external_id, bytes */
#define EVENT_PREVIEW_CHARS 200      /* kAudit statementPreview */

struct event_type_info {
	const char *name;       /* "security.threat_detected" */
	const char *severity;   /* its default severity */
};

/* The 12 types of the events seed, in the seed's order. */
extern const struct event_type_info event_types[EVENT_NTYPES];

/* Index of a type name in event_types, or -1. */
int event_type_index(const char *name);

/* True for "info", "warning" and "critical". */
bool event_severity_valid(const char *s);

/*
 * Expands a type filter into a bit mask over event_types: one or more
 * comma-separated patterns of [a-z_.] where '*' matches any run of
 * characters ("security.*", "*.login_*", "database.query"). Returns 0 with
 * *mask set (0 when no type matches: the caller answers 400), or -1 for a
 * malformed pattern (empty, over-long, or other characters).
 */
int event_type_pattern(const char *pattern, uint32_t *mask);

/* An event validated for storage. Pointers marked borrowed point into the
 * request's JSON (or the principal) and live as long as they do. */
struct event_in {
	const char *type;                    /* static, from event_types */
	const char *severity;                /* static */
	int64_t timestamp_ms;
	const char *tenant;                  /* borrowed from the principal */
	const char *database_id;             /* borrowed, or NULL */
	char database_name[EVENT_NAME_MAX + 1]; /* "" when unknown */
	const char *external_id;             /* borrowed, or NULL */
	json_t *details;                     /* owned: sanitised copy, never NULL after parse */
	json_t *context;                     /* owned or NULL: {policy_id, rule_id, risk_score} */
	json_t *related;                     /* owned or NULL: array of event ids */
	char action_id[EVENT_ACTION_ID_MAX + 1]; /* kAudit action id, "" when none */
	bool succeeded;                      /* kAudit success flag */
	char id[EVENT_ID_LEN + 1];
	char xid[EVENT_XID_MAX + 1];         /* idempotency key: tenant/external_id, or the id */
	int64_t seq;                         /* commit sequence, set by the store */
	bool duplicate;                      /* set by the store: the external_id existed */
	struct sql_analysis *sql;            /* owned or NULL: analysis of details.query */
	/* Filled by store_events_check_databases for an event with a database_id: */
	json_t *db_audit_options;            /* owned or NULL: the database's audit_options */
	char db_type[16];                    /* the database's type, "" when unknown */
};

/*
 * Records what the store knows of ev's database: its name (when ev has none;
 * NULL keeps it), its type (NULL: unknown) and its audit_options (borrowed;
 * a new reference is kept when it is an object). For the store engines'
 * database check.
 */
void event_set_database(struct event_in *ev, const char *name, const char *type,
			json_t *audit_options);

/* Releases what ev owns and empties it; safe on a zeroed or parsed event. */
void event_in_cleanup(struct event_in *ev);

enum event_parse_result {
	EVENT_PARSE_OK = 0,
	EVENT_PARSE_INVALID,    /* 400 */
	EVENT_PARSE_FORBIDDEN,  /* 403: a tenant_id the principal does not hold */
	EVENT_PARSE_INTERNAL,   /* out of memory or no randomness */
};

/*
 * Validates one ingested event object against CONTRACT §5 and fills *out:
 * type and timestamp required, severity defaulted from the type, details
 * sanitised (a leading '$' and every '.' in keys become '_'; nested arrays,
 * non-finite numbers, strings with NUL and deep nesting are refused; the
 * bounds of input_limits.h on size, keys, depth and strings apply), the
 * tenant resolved from tenant_id and the principal, the id drawn (or
 * derived from tenant and external_id, so that retries collide), and the
 * kAudit action id and success flag derived. details.query of any type but
 * the four session types is analysed (sqlanalysis, dialect unknown until
 * the store tells the database's type) into out->sql, which fills
 * details.action_id, schema_name and object_name the collector left out.
 * out must be zeroed; on any
 * result the caller calls event_in_cleanup. On failure msg receives a
 * sentence naming the field.
 */
enum event_parse_result event_parse(json_t *obj, const struct principal *who,
				    struct event_in *out, char *msg, size_t msglen);

/*
 * The id of an event with an external_id: "evt_" + the first 24 hex digits
 * of SHA-256 over a fixed label, the tenant and the external_id. Stable, so
 * that every retry of the same event gets the same id. out holds
 * EVENT_ID_LEN + 1 bytes. Returns 0, or -1 when the digest fails.
 */
int event_id_derive(const char *tenant, const char *external_id, char *out);

/*
 * Draws an id "evt_<24 hex>": the current second (8 hex digits, big-endian,
 * as a MongoDB ObjectId) and 64 random bits, so that the ids of new events
 * sort near each other and an index on them grows at its end instead of
 * dirtying a random page per event. Returns 0, or -1 when the CSPRNG fails.
 */
int event_id_random(char *out);

/* True when id has the event id format "evt_" + 24 lowercase hex digits. */
bool event_id_valid(const char *id);

/*
 * The kAudit action id of an event: details.action_id when given (spaces
 * trimmed, upper-cased), else from the type (user.login_success and
 * database.connection LGIS, user.login_failed LGIF, database.disconnect LO),
 * else from the first keyword of details.query (SELECT SL, INSERT IN, UPDATE
 * UP, DELETE DL, EXEC/EXECUTE/CALL EX, CREATE CR, ALTER AL, DROP DR, WITH SL).
 * Writes "" when none applies. out holds EVENT_ACTION_ID_MAX + 1 bytes.
 */
void event_action_id(const char *type, json_t *details, char *out);

/* details.succeeded when it is a boolean, else false only for user.login_failed. */
bool event_succeeded(const char *type, json_t *details);

/* True when s is an acceptable action id filter: 1-8 of [A-Za-z0-9]. */
bool event_action_id_valid(const char *s);

/*
 * Escapes s so that it matches itself literally in a PCRE or RE2 regular
 * expression: every ASCII character other than a letter or digit is
 * preceded by a backslash. Returns a malloc'ed string or NULL.
 */
char *event_regex_escape(const char *s);

/*
 * Length in bytes of the longest prefix of s (valid UTF-8) holding at most
 * max_chars code points.
 */
size_t event_utf8_prefix(const char *s, size_t max_chars);

/*
 * Polling cursors are opaque: "c1." followed by the unpadded base64url of
 * the 8-byte big-endian commit sequence. Encode writes at most
 * EVENT_CURSOR_LEN bytes with the NUL. Decode accepts only the canonical
 * form of a non-negative sequence and returns 0, or -1.
 */
#define EVENT_CURSOR_LEN 16
void event_cursor_encode(int64_t seq, char *out);
int event_cursor_decode(const char *s, int64_t *seq);

#endif
