/*
 * collector_internal: what the parsers of collector_parse share
 * (collector_parse.c, collector_pg.c, collector_mariadb.c). Not for other
 * modules.
 */
#ifndef DBAUDIT_COLLECTOR_INTERNAL_H
#define DBAUDIT_COLLECTOR_INTERNAL_H

#include "collector_parse.h"

/* MariaDB TABLE records held until their QUERY record arrives. */
#define COLLECTOR_HELD_MAX 64
/* At most this many TABLE records of one query go into details.objects. */
#define COLLECTOR_OBJECTS_MAX 16

struct collector_held {
	int64_t off;
	uint64_t conn;
	uint64_t query;
	char op[16];
	char db[COLLECTOR_FIELD_MAX + 1];
	char obj[COLLECTOR_FIELD_MAX + 1];
};

struct collector_parser {
	enum collector_format fmt;
	char *prefix;                 /* stderr's log_line_prefix; owned */
	bool utc;
	struct collector_held held[COLLECTOR_HELD_MAX];
	size_t nheld;
};

/* Parses one PostgreSQL record (any of the three formats). As collector_parser_feed. */
enum api_err collector_pg_feed(struct collector_parser *p, const char *rec, size_t len,
			       json_t **out, char *warn, size_t warnlen);

/* Parses one MariaDB audit record at offset off. As collector_parser_feed. */
enum api_err collector_mariadb_feed(struct collector_parser *p, const char *rec, size_t len,
				    int64_t off, json_t **out, int64_t *event_off,
				    char *warn, size_t warnlen);

/*
 * Creates {type, timestamp, details: {}} with the time in ms since the
 * epoch; *details is borrowed from *ev. Returns 0 or -1 (memory).
 */
int collector_event_new(const char *type, int64_t ts_ms, json_t **ev, json_t **details);

/* Sets details[key] to s[0..n) in safe form bounded by COLLECTOR_FIELD_MAX;
 * nothing when n is 0. Returns 0 or -1 (memory). */
int collector_put_field(json_t *details, const char *key, const char *s, size_t n);

/* Sets event[key] (database_name) the same way. */
#define collector_put_top collector_put_field

/*
 * Sets details.source_ip when host[0..n) is an IP address, else
 * details.host_name (nothing for "" and PostgreSQL's "[local]").
 */
int collector_put_host(json_t *details, const char *host, size_t n);

/*
 * The action id of a statement's command ("SELECT", "CREATE TABLE",
 * "grant ...": the first word counts), or NULL when there is none:
 * docs/collector.md lists them.
 */
const char *collector_action_id(const char *command, size_t n);

/* Writes into warn a one-line reason (when warn is not NULL). */
void collector_warn(char *warn, size_t warnlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
