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
static _Thread_local char log_rid[65];  /* per thread: the stream server serves many at once */
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

/* Appends s as a JSON string (quoted, escaped) to out; returns the new length or cap on overflow. */
static size_t json_str(char *out, size_t len, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (len + 2 >= cap)
		return cap;
	out[len++] = '"';
	for (; *s && len + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[len++] = '\\';
			out[len++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* access-log fields are ASCII; anything else is escaped, never passed raw */
			out[len++] = '\\';
			out[len++] = 'u';
			out[len++] = '0';
			out[len++] = '0';
			out[len++] = hex[c >> 4];
			out[len++] = hex[c & 15];
		} else {
			out[len++] = (char)c;
		}
	}
	if (*s || len + 1 >= cap)
		return cap;
	out[len++] = '"';
	return len;
}

/* Appends a literal; returns the new length or cap on overflow. */
static size_t lit(char *out, size_t len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (len >= cap || n >= cap - len)
		return cap;
	memcpy(out + len, s, n);
	return len + n;
}

/* Appends the decimal digits of v, zero-padded to at least width digits. */
static size_t num(char *out, size_t len, size_t cap, uint64_t v, int width)
{
	char d[24];
	int i = (int)sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
		width--;
	} while (v != 0 || width > 0);
	if (len >= cap || sizeof(d) - (size_t)i >= cap - len)
		return cap;
	memcpy(out + len, d + i, sizeof(d) - (size_t)i);
	return len + sizeof(d) - (size_t)i;
}

/*
 * The access line is written on every request, so it is assembled by hand
 * in a stack buffer (no jansson object, no printf); the timestamp text is
 * recomputed only when the second changes.
 */
void log_access(const char *method, const char *route, int status,
		double latency_ms, const char *principal, const char *reason)
{
	static _Thread_local int64_t ts_sec = -1;
	static _Thread_local char ts[TIME_RFC3339_LEN];
	char line[1024];
	size_t n = 0, cap = sizeof(line);
	int64_t now = time_now_ms();
	uint64_t lat_us = latency_ms > 0 ? (uint64_t)(latency_ms * 1000.0 + 0.5) : 0;

	if (LOG_INFO < log_min)
		return;
	if (now / 1000 != ts_sec) {
		ts_sec = now / 1000;
		time_format_rfc3339(ts_sec * 1000, ts);
		ts[19] = '\0'; /* "YYYY-MM-DDTHH:MM:SS"; milliseconds added below */
	}
	n = lit(line, n, cap, "{\"msg\":\"request\",\"method\":");
	n = json_str(line, n, cap, method ? method : "-");
	n = lit(line, n, cap, ",\"route\":");
	n = json_str(line, n, cap, route ? route : "-");
	n = lit(line, n, cap, ",\"status\":");
	n = num(line, n, cap, (uint64_t)(status < 0 ? 0 : status), 1);
	n = lit(line, n, cap, ",\"latency_ms\":");
	n = num(line, n, cap, lat_us / 1000, 1);
	n = lit(line, n, cap, ".");
	n = num(line, n, cap, lat_us % 1000, 3);
	if (principal != NULL) {
		n = lit(line, n, cap, ",\"principal\":");
		n = json_str(line, n, cap, principal);
	}
	if (reason != NULL) {
		n = lit(line, n, cap, ",\"reason\":");
		n = json_str(line, n, cap, reason);
	}
	n = lit(line, n, cap, ",\"ts\":\"");
	n = lit(line, n, cap, ts);
	n = lit(line, n, cap, ".");
	n = num(line, n, cap, (uint64_t)(now % 1000), 3);
	n = lit(line, n, cap, status >= 500 ? "Z\",\"level\":\"error\",\"component\":"
					    : "Z\",\"level\":\"info\",\"component\":");
	n = json_str(line, n, cap, log_component);
	if (log_rid[0]) {
		n = lit(line, n, cap, ",\"request_id\":");
		n = json_str(line, n, cap, log_rid);
	}
	n = lit(line, n, cap, "}\n");
	if (n >= cap)
		return; /* cannot happen with bounded fields; never write a broken line */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}
