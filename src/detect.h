/*
 * detect: the built-in detectors of CONTRACT §9 as pure functions over one
 * event (its type, its details, the analysis of its statement) and the
 * database's sensitive_objects. Each detector answers at most one hit: the
 * precise rule that fired with the highest risk. The policies engine turns
 * hits into derived events and alerts; nothing here stores or sends
 * anything. The login-anomaly detector needs counters shared by every
 * worker and host: it reaches them through struct detect_counter, which
 * the caller provides.
 */
#ifndef DBAUDIT_DETECT_H
#define DBAUDIT_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "sqlanalysis.h"

enum detect_kind {
	DETECT_SQL_INJECTION = 0,
	DETECT_PRIVILEGE_ESCALATION,
	DETECT_LOGIN_ANOMALY,
	DETECT_DATA_EXPORT,
	DETECT_SENSITIVE_ACCESS,
	DETECT__COUNT
};

/* The fixed facts of one built-in policy. */
struct detect_policy {
	const char *name;          /* "sql_injection" */
	const char *policy_id;     /* "pol_builtin_sql_injection" */
	const char *event_type;    /* "security.threat_detected" */
	const char *threat_type;   /* details.threat_type of the derived event, or NULL */
	const char *severity;      /* default severity of the policy */
};

/* Indexed by enum detect_kind. */
extern const struct detect_policy detect_policies[DETECT__COUNT];

struct detect_hit {
	enum detect_kind kind;
	const char *rule_id;       /* static: "rule_sqli_tautology", ... */
	int risk_score;            /* 0-100 */
	char matched[160];         /* what matched (an object, a pattern), or "" */
};

struct detect_input {
	const char *type;                  /* the event's type */
	json_t *details;                   /* borrowed: details as sent, may be NULL */
	const struct sql_analysis *sql;    /* analysis of details.query, or NULL */
	const json_t *sensitive_objects;   /* the database's patterns (array), or NULL */
	int64_t large_rows;                /* details.rows at or above this is an export; 0: 100000 */
};

/*
 * Each detector reads in and, when it fires, fills *hit and returns true.
 * None allocates; all are safe on any input (in->sql NULL, details absent).
 */
bool detect_sql_injection(const struct detect_input *in, struct detect_hit *hit);
bool detect_privilege_escalation(const struct detect_input *in, struct detect_hit *hit);
bool detect_data_export(const struct detect_input *in, struct detect_hit *hit);
bool detect_sensitive_access(const struct detect_input *in, struct detect_hit *hit);

/*
 * Runs the four stateless detectors in enum order and writes up to max hits
 * to hits. Returns the number written.
 */
size_t detect_run(const struct detect_input *in, struct detect_hit *hits, size_t max);

/*
 * True when a sensitive_objects pattern (`table`, `schema.table` or
 * `schema.table.column`, `*` in a part matching any run of characters,
 * case-insensitive) matches the object schema.name, or, for a column
 * pattern, the object with the column (column NULL: every column, as for
 * SELECT *). An unqualified object (schema NULL) matches any schema part.
 */
bool detect_pattern_match(const char *pattern, const char *schema, const char *name,
			  const char *column);

/*
 * Login anomaly. The counters must be shared by every worker and host, so
 * they live behind a backend the caller provides (Redis in production, an
 * in-memory table in tests): incr adds one event at now_ms to the sliding
 * window counter named key and returns how many the window of window_ms
 * ending at now_ms holds, or -1 when the backend fails (the detector then
 * does not fire and the event is stored as usual).
 */
struct detect_counter {
	int64_t (*incr)(void *ctx, const char *key, int64_t now_ms, int64_t window_ms);
	void *ctx;
};

struct detect_login_limits {
	int64_t window_ms;         /* sliding window; default 300000 (5 min) */
	int64_t per_source;        /* failures from one source_ip; default 20 */
	int64_t per_user;          /* failures for one user; default 10 */
};

/*
 * For a user.login_failed event of tenant, counts it per details.source_ip
 * and per details.user and fires (rule_login_burst_source or
 * rule_login_burst_user) when a count reaches its limit. Zero limits take
 * the defaults. Not wired at ingest yet: it needs the shared backend.
 */
bool detect_login_anomaly(const struct detect_input *in, const char *tenant,
			  const struct detect_counter *counter,
			  const struct detect_login_limits *limits, int64_t now_ms,
			  struct detect_hit *hit);

#endif
