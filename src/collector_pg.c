/*
 * collector_pg: PostgreSQL log records (jsonlog, csvlog, stderr with a
 * known log_line_prefix) to events: pgAudit's "AUDIT:" lines, connections,
 * disconnections and failed logins. Every other record yields nothing.
 */
#include "collector_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/timeutil.h"

/* One log record's fields, whatever the format; each NULL or owned. */
struct pg_line {
	char *ts;
	char *user;
	char *db;
	char *host;
	char *session;
	char *app;
	char *severity;
	char *state;
	char *message;
};

static void pg_line_cleanup(struct pg_line *l)
{
	free(l->ts);
	free(l->user);
	free(l->db);
	free(l->host);
	free(l->session);
	free(l->app);
	free(l->severity);
	free(l->state);
	free(l->message);
}

static int dupn(char **dst, const char *s, size_t n)
{
	free(*dst);
	*dst = strndup(s, n);
	return *dst == NULL ? -1 : 0;
}

/*
 * "2026-12-04 15:03:46.015 UTC" (log_timezone's abbreviation: UTC, GMT or
 * a numeric offset such as +02 or -0530) to ms since the epoch.
 */
static int pg_time_parse(const char *s, int64_t *ms)
{
	char tmp[64];
	const char *zone = strrchr(s, ' ');
	size_t dn;

	if (zone == NULL || (size_t)(zone - s) > 40)
		return -1;
	dn = (size_t)(zone - s);
	zone++;
	memcpy(tmp, s, dn);
	if (strcmp(zone, "UTC") == 0 || strcmp(zone, "GMT") == 0 || strcmp(zone, "Z") == 0) {
		snprintf(tmp + dn, sizeof(tmp) - dn, "Z");
	} else if ((zone[0] == '+' || zone[0] == '-') && isdigit((unsigned char)zone[1]) &&
		   isdigit((unsigned char)zone[2])) {
		const char *mm = zone[3] == ':' ? zone + 4 : zone + 3;

		if (mm[0] == '\0')
			snprintf(tmp + dn, sizeof(tmp) - dn, "%.3s:00", zone);
		else if (strlen(mm) == 2)
			snprintf(tmp + dn, sizeof(tmp) - dn, "%.3s:%s", zone, mm);
		else
			return -1;
	} else {
		return -1;
	}
	return time_parse_rfc3339(tmp, ms);
}

/* Reads one CSV field at *p (quoted with "" escapes, or bare) into b and
 * moves *p past its comma. Returns 1 when a comma followed, 0 at the end. */
static int csv_next(const char **p, const char *end, struct buf *b)
{
	const char *s = *p;

	b->len = 0;
	buf_append(b, "", 0);
	if (s < end && *s == '"') {
		s++;
		while (s < end) {
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					buf_append(b, "\"", 1);
					s += 2;
					continue;
				}
				s++;
				break;
			}
			buf_append(b, s, 1);
			s++;
		}
		while (s < end && *s != ',')
			s++;
	} else {
		const char *c = memchr(s, ',', (size_t)(end - s));
		const char *e = c != NULL ? c : end;

		buf_append(b, s, (size_t)(e - s));
		s = e;
	}
	if (s < end && *s == ',') {
		*p = s + 1;
		return 1;
	}
	*p = end;
	return 0;
}

static int json_field(json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return dupn(dst, json_string_value(v), json_string_length(v));
	if (json_is_integer(v)) {
		char num[32];

		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return dupn(dst, num, strlen(num));
	}
	return 0;
}

static int pg_read_jsonlog(const char *rec, size_t len, struct pg_line *l)
{
	json_t *o = json_loadb(rec, len, 0, NULL);
	int rc = -1;

	if (!json_is_object(o))
		goto out;
	if (json_field(o, "timestamp", &l->ts) != 0 || json_field(o, "user", &l->user) != 0 ||
	    json_field(o, "dbname", &l->db) != 0 || json_field(o, "remote_host", &l->host) != 0 ||
	    json_field(o, "session_id", &l->session) != 0 ||
	    json_field(o, "application_name", &l->app) != 0 ||
	    json_field(o, "error_severity", &l->severity) != 0 ||
	    json_field(o, "state_code", &l->state) != 0 || json_field(o, "message", &l->message) != 0)
		goto out;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int pg_read_csvlog(const char *rec, size_t len, struct pg_line *l)
{
	const char *p = rec, *end = rec + len;
	struct buf b;
	int more = 1, rc = -1;

	buf_init(&b);
	for (int col = 0; more && col <= 22; col++) {
		char **dst = NULL;

		more = csv_next(&p, end, &b);
		if (b.data == NULL)
			goto out;
		switch (col) {
		case 0: dst = &l->ts; break;
		case 1: dst = &l->user; break;
		case 2: dst = &l->db; break;
		case 4: dst = &l->host; break;
		case 5: dst = &l->session; break;
		case 11: dst = &l->severity; break;
		case 12: dst = &l->state; break;
		case 13: dst = &l->message; break;
		case 22: dst = &l->app; break;
		default: break;
		}
		if (dst != NULL && b.len > 0 && dupn(dst, b.data, b.len) != 0)
			goto out;
	}
	if (l->host != NULL && l->host[0] != '[') {
		char *colon = strrchr(l->host, ':');

		if (colon != NULL)
			*colon = '\0';
	}
	rc = l->ts != NULL && l->severity != NULL && l->message != NULL ? 0 : -1;
out:
	buf_cleanup(&b);
	return rc;
}

/* Length of "YYYY-MM-DD HH:MM:SS[.fff] ZONE" at s, or 0. */
static size_t stamp_len(const char *s, size_t n)
{
	size_t i = 0;

	for (int tokens = 0; tokens < 3; tokens++) {
		size_t b = i;

		while (i < n && s[i] != ' ')
			i++;
		if (i == b)
			return 0;
		if (tokens < 2) {
			if (i == n)
				return 0;
			i++;
		}
	}
	return isdigit((unsigned char)s[0]) ? i : 0;
}

/*
 * Matches the log_line_prefix at line[0..n): each escape takes the text up
 * to the prefix's next literal character (%m %t %s a timestamp, %r loses
 * its "(port)"); %q ends the prefix of lines from non-session processes.
 * Returns the prefix's length in the line, or -1.
 */
static long prefix_match(const char *prefix, const char *line, size_t n, struct pg_line *l)
{
	size_t i = 0;
	long qpos = -1;

	for (const char *f = prefix; *f != '\0'; f++) {
		char e;
		size_t b = i, len;
		char **dst = NULL;

		if (*f != '%' || f[1] == '%') {
			if (*f == '%')
				f++;
			if (i >= n || line[i] != *f)
				return qpos;
			i++;
			continue;
		}
		e = *++f;
		if (e == '\0')
			return -1;
		if (e == 'q') {
			qpos = (long)i;
			continue;
		}
		if (e == 'm' || e == 't' || e == 's') {
			len = stamp_len(line + i, n - i);
			if (len == 0)
				return qpos;
			if (e != 's' && dupn(&l->ts, line + i, len) != 0)
				return -1;
			i += len;
			continue;
		}
		while (i < n && line[i] != (f[1] != '\0' && f[1] != '%' ? f[1] : ' '))
			i++;
		len = i - b;
		switch (e) {
		case 'u': dst = &l->user; break;
		case 'd': dst = &l->db; break;
		case 'h': dst = &l->host; break;
		case 'r': dst = &l->host; break;
		case 'a': dst = &l->app; break;
		case 'c': dst = &l->session; break;
		case 'e': dst = &l->state; break;
		default: break;
		}
		if (dst != NULL && len > 0 && dupn(dst, line + b, len) != 0)
			return -1;
		if (e == 'r' && l->host != NULL && l->host[0] != '[') {
			char *paren = strchr(l->host, '(');

			if (paren != NULL)
				*paren = '\0';
		}
		if (e == 'n' && len > 0 && l->ts == NULL) {
			char stamp[TIME_RFC3339_LEN];
			double sec = strtod(line + b, NULL);

			time_format_rfc3339((int64_t)(sec * 1000.0), stamp);
			if (dupn(&l->ts, stamp, strlen(stamp)) != 0)
				return -1;
		}
	}
	return (long)i;
}

static int pg_read_stderr(const struct collector_parser *p, const char *rec, size_t len,
			  struct pg_line *l)
{
	long at = prefix_match(p->prefix, rec, len, l);
	size_t i, sev;
	struct buf b;
	int rc = -1;

	if (at < 0)
		return -1;
	i = (size_t)at;
	for (sev = i; sev < len && isupper((unsigned char)rec[sev]); sev++)
		;
	if (sev == i || sev + 3 > len || memcmp(rec + sev, ":  ", 3) != 0)
		return -1;
	if (dupn(&l->severity, rec + i, sev - i) != 0)
		return -1;
	buf_init(&b);
	if (buf_append(&b, "", 0) != 0)
		goto out;
	for (i = sev + 3; i < len; i++) {
		if (rec[i] == '\n' && i + 1 < len && rec[i + 1] == '\t') {
			if (buf_append(&b, "\n", 1) != 0)
				goto out;
			i++;
		} else if (buf_append(&b, rec + i, 1) != 0) {
			goto out;
		}
	}
	l->message = buf_steal(&b);
	rc = 0;
out:
	buf_cleanup(&b);
	return rc;
}

/* Value of "key=value" in a message (up to the next space), or n = 0. */
static const char *msg_value(const char *msg, const char *key, size_t *n)
{
	size_t kl = strlen(key);

	for (const char *s = strstr(msg, key); s != NULL; s = strstr(s + 1, key)) {
		if ((s == msg || s[-1] == ' ') && s[kl] == '=') {
			s += kl + 1;
			*n = strcspn(s, " ");
			return s;
		}
	}
	*n = 0;
	return NULL;
}

/* Puts the fields every event of a session carries. */
static int pg_put_session(json_t *ev, json_t *d, const struct pg_line *l)
{
	const char *v;
	size_t n;

	if (l->user != NULL && collector_put_field(d, "user", l->user, strlen(l->user)) != 0)
		return -1;
	if (l->user == NULL && (v = msg_value(l->message, "user", &n)) != NULL &&
	    collector_put_field(d, "user", v, n) != 0)
		return -1;
	if (l->db != NULL && collector_put_top(ev, "database_name", l->db, strlen(l->db)) != 0)
		return -1;
	if (l->db == NULL && (v = msg_value(l->message, "database", &n)) != NULL &&
	    collector_put_top(ev, "database_name", v, n) != 0)
		return -1;
	if (l->host != NULL && collector_put_host(d, l->host, strlen(l->host)) != 0)
		return -1;
	if (l->host == NULL && (v = msg_value(l->message, "host", &n)) != NULL &&
	    collector_put_host(d, v, n) != 0)
		return -1;
	if (l->session != NULL &&
	    collector_put_field(d, "session_id", l->session, strlen(l->session)) != 0)
		return -1;
	if (l->app != NULL &&
	    collector_put_field(d, "client_application", l->app, strlen(l->app)) != 0)
		return -1;
	if (l->app == NULL && (v = msg_value(l->message, "application_name", &n)) != NULL &&
	    collector_put_field(d, "client_application", v, n) != 0)
		return -1;
	return 0;
}

static int put_cstr(json_t *d, const char *key, const char *s)
{
	return s == NULL ? 0 : json_object_set_new(d, key, json_string(s));
}

/* "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,<statement>,<parameters>" */
static int pg_put_audit(json_t *d, const char *msg)
{
	static const char *const names[] = { "audit_type", "statement_id", "substatement_id",
					     "audit_class", "command", "object_type",
					     "object_name", "query" };
	const char *p = msg + strlen("AUDIT: "), *end = msg + strlen(msg);
	struct buf b;
	char command[64] = "";
	int more = 1, rc = -1;

	buf_init(&b);
	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		if (!more)
			goto out;
		more = csv_next(&p, end, &b);
		if (b.data == NULL)
			goto out;
		if (f == 7) {
			if (collector_put_text(d, "query", b.data, b.len, COLLECTOR_QUERY_MAX) != 0)
				goto out;
		} else if (f == 6) {
			const char *dot = memchr(b.data, '.', b.len);

			if (dot != NULL) {
				if (collector_put_field(d, "schema_name", b.data,
							(size_t)(dot - b.data)) != 0 ||
				    collector_put_field(d, "object_name", dot + 1,
							b.len - (size_t)(dot - b.data) - 1) != 0)
					goto out;
			} else if (collector_put_field(d, "object_name", b.data, b.len) != 0) {
				goto out;
			}
		} else if (f == 1 || f == 2) {
			json_int_t v = (json_int_t)strtoll(b.data, NULL, 10);

			if (json_object_set_new(d, names[f], json_integer(v)) != 0)
				goto out;
		} else if (collector_put_field(d, names[f], b.data, b.len) != 0) {
			goto out;
		}
		if (f == 4)
			snprintf(command, sizeof(command), "%s", b.data);
	}
	if (more && strcmp(p, "<none>") != 0 && strcmp(p, "<not logged>") != 0 &&
	    collector_put_text(d, "parameters", p, (size_t)(end - p), COLLECTOR_PARAMS_MAX) != 0)
		goto out;
	if (put_cstr(d, "action_id", collector_action_id(command, strlen(command))) != 0)
		goto out;
	rc = 0;
out:
	buf_cleanup(&b);
	return rc;
}

static bool is_login_failure(const struct pg_line *l)
{
	static const char *const msgs[] = {
		"password authentication failed for user",
		"no pg_hba.conf entry for",
		"authentication failed for user",
		"pg_hba.conf rejects connection",
	};

	if (strcmp(l->severity, "FATAL") != 0)
		return false;
	if (l->state != NULL)
		return strcmp(l->state, "28P01") == 0 || strcmp(l->state, "28000") == 0;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (strstr(l->message, msgs[i]) != NULL)
			return true;
	return strncmp(l->message, "role \"", 6) == 0 &&
	       strstr(l->message, "\" does not exist") != NULL;
}

/* The quoted name in 'for user "bob"', when the line itself has no user. */
static int pg_put_failed_user(json_t *d, const struct pg_line *l)
{
	const char *s = strstr(l->message, "user \"");
	const char *e;

	if (l->user != NULL || s == NULL)
		return 0;
	s += strlen("user \"");
	e = strchr(s, '"');
	return e == NULL ? 0 : collector_put_field(d, "user", s, (size_t)(e - s));
}

/* The event type a record maps to, or NULL. */
static const char *pg_event_type(const struct pg_line *l)
{
	if (strcmp(l->severity, "LOG") == 0) {
		if (strncmp(l->message, "AUDIT: ", 7) == 0)
			return "database.query";
		if (strncmp(l->message, "connection received: ", 21) == 0)
			return "database.connection";
		if (strncmp(l->message, "connection authorized: ", 23) == 0)
			return "user.login_success";
		if (strncmp(l->message, "disconnection: ", 15) == 0)
			return "database.disconnect";
		return NULL;
	}
	return is_login_failure(l) ? "user.login_failed" : NULL;
}

static int pg_put_event(const char *type, const struct pg_line *l, json_t *ev, json_t *d)
{
	const char *v;
	size_t n;

	if (pg_put_session(ev, d, l) != 0)
		return -1;
	if (strcmp(type, "database.query") == 0)
		return pg_put_audit(d, l->message);
	if (strcmp(type, "user.login_failed") == 0)
		return pg_put_failed_user(d, l) != 0 ||
		       json_object_set_new(d, "succeeded", json_false()) != 0 ||
		       put_cstr(d, "action_id", "LGIF") != 0 ||
		       collector_put_field(d, "error", l->message, strlen(l->message)) != 0 ||
		       (l->state != NULL && put_cstr(d, "error_code", l->state) != 0) ? -1 : 0;
	if (strcmp(type, "database.disconnect") == 0) {
		v = strstr(l->message, "session time: ");
		if (v != NULL) {
			v += strlen("session time: ");
			n = strcspn(v, " ");
			if (collector_put_field(d, "session_time", v, n) != 0)
				return -1;
		}
		return put_cstr(d, "action_id", "LO");
	}
	if (strcmp(type, "database.connection") == 0)
		return 0;
	if (json_object_set_new(d, "succeeded", json_true()) != 0)
		return -1;
	return put_cstr(d, "action_id", "LGIS");
}

enum api_err collector_pg_feed(struct collector_parser *p, const char *rec, size_t len,
			       json_t **out, char *warn, size_t warnlen)
{
	struct pg_line l;
	json_t *ev = NULL, *d = NULL;
	const char *type;
	int64_t ts;
	int rc;
	enum api_err err = API_OK;

	memset(&l, 0, sizeof(l));
	if (p->fmt == COLLECTOR_PG_JSONLOG)
		rc = pg_read_jsonlog(rec, len, &l);
	else if (p->fmt == COLLECTOR_PG_CSVLOG)
		rc = pg_read_csvlog(rec, len, &l);
	else
		rc = pg_read_stderr(p, rec, len, &l);
	if (rc != 0 || l.severity == NULL || l.message == NULL) {
		if (p->fmt != COLLECTOR_PG_STDERR)
			collector_warn(warn, warnlen, "not a PostgreSQL log record of the configured format");
		goto out;
	}
	type = pg_event_type(&l);
	if (type == NULL)
		goto out;
	if (l.ts == NULL || pg_time_parse(l.ts, &ts) != 0) {
		collector_warn(warn, warnlen, "unreadable log time \"%.40s\": the collector's clock is used",
			       l.ts != NULL ? l.ts : "");
		ts = time_now_ms();
	}
	if (collector_event_new(type, ts, &ev, &d) != 0 || pg_put_event(type, &l, ev, d) != 0) {
		err = API_ERR_INTERNAL;
		goto out;
	}
	if (l.ts == NULL || pg_time_parse(l.ts, &ts) != 0)
		json_object_set_new(d, "timestamp_source", json_string("collector"));
	*out = ev;
	ev = NULL;
out:
	json_decref(ev);
	pg_line_cleanup(&l);
	return err;
}
