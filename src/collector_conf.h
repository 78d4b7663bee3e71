/*
 * collector_conf: dbaudit-collector's configuration file. Lines
 * "key = value" and '#' comments; global keys first, then one section
 * "[source NAME]" per followed log. docs/collector.md lists every key.
 */
#ifndef DBAUDIT_COLLECTOR_CONF_H
#define DBAUDIT_COLLECTOR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_err.h"
#include "collector_parse.h"

struct collector_source_conf {
	char *name;                  /* [a-z0-9_-], 1-64; names the state file */
	char *database_id;           /* the dbaudit database the events belong to */
	enum collector_format format;
	char *path;                  /* a log file, or a directory of log files */
	char *pattern;               /* glob of the files of a directory; NULL: all */
	char *line_prefix;           /* stderr only; NULL: PostgreSQL's default */
	bool utc;                    /* MariaDB times are UTC (else local time) */
	char *api_url;               /* the source's own API, else the global one */
	char *api_key_file;
};

struct collector_conf {
	char *api_url;               /* base URL, e.g. http://127.0.0.1:8080 */
	char *api_key_file;          /* file holding the API key (write:events) */
	char *state_dir;             /* checkpoints and rejected events */
	int64_t batch_size;          /* events per POST, 1-1000 */
	int64_t buffer_events;       /* events read ahead of the API, per source */
	int64_t flush_ms;            /* the oldest queued event waits at most this */
	int64_t poll_ms;             /* pause when there is nothing to do */
	int64_t idle_ms;             /* a stderr log idle this long ends its last record */
	int64_t heartbeat_s;
	int64_t max_backoff_s;
	int64_t timeout_ms;          /* per HTTP request */
	char *log_level;
	struct collector_source_conf *sources;  /* owned, nsources of them */
	size_t nsources;
};

/*
 * Loads the file at path over the defaults and checks it (at least one
 * source, every source complete, names unique). On failure writes a
 * one-line reason (with the line number) to err and returns
 * API_ERR_INVALID_PARAMETER; the conf must be cleaned up either way.
 */
enum api_err collector_conf_load(struct collector_conf *c, const char *path,
				 char *err, size_t errlen);

/* Frees everything the conf holds. */
void collector_conf_cleanup(struct collector_conf *c);

#endif
