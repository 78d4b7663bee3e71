/*
 * collector_parse: what dbaudit-collector reads in a database's audit log.
 * Splits the bytes of a log file into records (a record may span several
 * lines) and turns one record into one event for POST /v1/events, or into
 * nothing when the record is not an audit record. Formats: PostgreSQL's
 * jsonlog, csvlog and stderr (with a known log_line_prefix) carrying pgAudit
 * lines and connection, disconnection and failed-login lines; the MariaDB
 * audit plugin's file output. No I/O: docs/collector.md says what maps to
 * what; tests/unit/collector/ holds the cases.
 */
#ifndef DBAUDIT_COLLECTOR_PARSE_H
#define DBAUDIT_COLLECTOR_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"

enum collector_format {
	COLLECTOR_PG_JSONLOG,
	COLLECTOR_PG_CSVLOG,
	COLLECTOR_PG_STDERR,
	COLLECTOR_MARIADB_AUDIT
};

/* Largest record the parser accepts; a longer one is skipped and logged. */
#define COLLECTOR_RECORD_MAX (8u * 1024 * 1024)
/* Bounds on the JSON-encoded size of details.query and details.parameters. */
#define COLLECTOR_QUERY_MAX 32768
#define COLLECTOR_PARAMS_MAX 8192
/* Bound on every other string the parser copies into an event. */
#define COLLECTOR_FIELD_MAX 256

struct collector_parser;

/* Parses "jsonlog", "csvlog", "stderr" or "mariadb_audit". Returns 0 or -1. */
int collector_format_parse(const char *s, enum collector_format *out);

/*
 * Creates a parser. line_prefix is PostgreSQL's log_line_prefix (stderr
 * only; NULL there means PostgreSQL 15's default "%m [%p] "). utc: the
 * MariaDB plugin's timestamps (server local time, no zone) are UTC; when
 * false they are read in the collector's own time zone. On failure writes a
 * reason to err and returns API_ERR_INVALID_PARAMETER (or API_ERR_INTERNAL
 * when memory runs out). The caller frees *out with collector_parser_free.
 */
enum api_err collector_parser_create(enum collector_format f, const char *line_prefix,
				     bool utc, struct collector_parser **out,
				     char *err, size_t errlen);

/* Frees a parser; NULL is a no-op. */
void collector_parser_free(struct collector_parser *p);

/* Forgets every held record: call it before feeding another file. */
void collector_parser_reset(struct collector_parser *p);

/*
 * Length of the first complete record of buf[0..len), its line end
 * included, or 0 when the record is not complete yet. final says no more
 * bytes will follow for now (the file has been idle): a stderr record, whose
 * end is only known when the next one starts, is then complete at its last
 * newline. Text without a newline is never complete.
 */
size_t collector_record_len(const struct collector_parser *p, const char *buf, size_t len,
			    bool final);

/*
 * Parses one record that starts at file offset off. *out receives a new
 * event object {type, timestamp, details, [database_name]} (the caller
 * owns it) or NULL when the record yields no event now: not an audit
 * record, or a record the parser holds to join to a later one (MariaDB's
 * TABLE records). *event_off is the offset that identifies the event
 * (the record's own offset). Returns API_OK, or API_ERR_INTERNAL when memory
 * runs out. A malformed record is no error: it yields no event and, when
 * warn is not NULL, a one-line reason in warn (warn[0] stays '\0' otherwise).
 */
enum api_err collector_parser_feed(struct collector_parser *p, const char *rec, size_t len,
				   int64_t off, json_t **out, int64_t *event_off,
				   char *warn, size_t warnlen);

/*
 * Offset of the oldest record the parser still holds, or -1. Reading again
 * from there reproduces every held record, so a checkpoint never goes past it.
 */
int64_t collector_parser_hold(const struct collector_parser *p);

/*
 * Sets details[key] to the n bytes at s in the safe form docs/collector.md
 * describes: bytes that are not UTF-8 (and NULs) become U+FFFD and
 * <key>_invalid_utf8 is true; text whose JSON encoding exceeds max bytes is
 * cut at a character boundary, and <key>_truncated, <key>_bytes (the
 * original length) and <key>_sha256 (of the original bytes) are added.
 * Returns 0, or -1 when memory runs out.
 */
int collector_put_text(json_t *details, const char *key, const char *s, size_t n, size_t max);

#endif
