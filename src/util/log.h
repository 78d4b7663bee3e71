/*
 * log: one JSON object per line on stderr (the stack redirects each
 * component's stderr to var/log/<component>.log). Every line carries the
 * time, level, component and, while a request is being served, its id.
 * Never pass secrets to these functions.
 */
#ifndef DBAUDIT_LOG_H
#define DBAUDIT_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the component name (copied) and the minimum level written. */
void log_init(const char *component, enum log_level min);

/* Parses "debug", "info", "warn", "error"; unknown text gives LOG_INFO. */
enum log_level log_level_parse(const char *s);

/* Sets the id of the request being served (copied, at most 64 bytes); NULL clears it. */
void log_set_request_id(const char *rid);

/* Writes {"ts","level","component","request_id","msg"} plus event-specific fields. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes the access line of one request: method, route, status, latency. */
void log_access(const char *method, const char *route, int status,
		double latency_ms, const char *principal, const char *reason);

#endif
