/*
 * log: JSON lines on stderr. The component name, level and current request
 * id are process state set by the main loop; each line is written with a
 * single write(2) so lines from concurrent workers never interleave.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "util/timeutil.h"

static char log_component[32] = "dbaudit";
static char log_rid[65];
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *component, enum log_level min)
{
	snprintf(log_component, sizeof(log_component), "%s", component);
	log_min = min;
}

enum log_level log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, level_names[i]) == 0)
			return (enum log_level)i;
	return LOG_INFO;
}

void log_set_request_id(const char *rid)
{
	snprintf(log_rid, sizeof(log_rid), "%s", rid ? rid : "");
}

static void log_emit(json_t *o, enum log_level lvl)
{
	char ts[TIME_RFC3339_LEN];
	char *line;

	time_format_rfc3339(time_now_ms(), ts);
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[lvl]));
	json_object_set_new(o, "component", json_string(log_component));
	if (log_rid[0])
		json_object_set_new(o, "request_id", json_string(log_rid));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line != NULL) {
		size_t n = strlen(line);

		line[n] = '\n';
		if (write(STDERR_FILENO, line, n + 1) < 0) {
			/* nowhere left to report it */
		}
		free(line);
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *o;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_object();
	if (o == NULL)
		return;
	/* json_string rejects invalid UTF-8; fall back to a marker rather than drop the line. */
	if (json_object_set_new(o, "msg", json_string(msg)) != 0)
		json_object_set_new(o, "msg", json_string("(message not valid UTF-8)"));
	log_emit(o, lvl);
	json_decref(o);
}

void log_access(const char *method, const char *route, int status,
		double latency_ms, const char *principal, const char *reason)
{
	json_t *o;

	if (LOG_INFO < log_min)
		return;
	o = json_object();
	if (o == NULL)
		return;
	json_object_set_new(o, "msg", json_string("request"));
	json_object_set_new(o, "method", json_string(method ? method : "-"));
	json_object_set_new(o, "route", json_string(route ? route : "-"));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "latency_ms", json_real((double)(int64_t)(latency_ms * 1000) / 1000.0));
	if (principal != NULL)
		json_object_set_new(o, "principal", json_string(principal));
	if (reason != NULL)
		json_object_set_new(o, "reason", json_string(reason));
	log_emit(o, status >= 500 ? LOG_ERROR : LOG_INFO);
	json_decref(o);
}
