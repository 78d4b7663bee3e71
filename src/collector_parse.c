/*
 * collector_parse: record splitting, the safe form of statements, and the
 * helpers the PostgreSQL and MariaDB parsers share.
 */
#include "collector_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/timeutil.h"

int collector_format_parse(const char *s, enum collector_format *out)
{
	static const struct {
		const char *name;
		enum collector_format f;
	} names[] = {
		{ "jsonlog", COLLECTOR_PG_JSONLOG },
		{ "csvlog", COLLECTOR_PG_CSVLOG },
		{ "stderr", COLLECTOR_PG_STDERR },
		{ "mariadb_audit", COLLECTOR_MARIADB_AUDIT },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].f;
			return 0;
		}
	}
	return -1;
}

enum api_err collector_parser_create(enum collector_format f, const char *line_prefix,
				     bool utc, struct collector_parser **out,
				     char *err, size_t errlen)
{
	struct collector_parser *p;

	*out = NULL;
	if (f == COLLECTOR_PG_STDERR && line_prefix != NULL) {
		size_t n = strlen(line_prefix);

		if (n == 0 || line_prefix[0] != '%') {
			snprintf(err, errlen, "log_line_prefix must start with a %% escape (%%m or %%t)");
			return API_ERR_INVALID_PARAMETER;
		}
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return API_ERR_INTERNAL;
	p->fmt = f;
	p->utc = utc;
	p->prefix = strdup(line_prefix != NULL ? line_prefix : "%m [%p] ");
	if (p->prefix == NULL) {
		free(p);
		return API_ERR_INTERNAL;
	}
	*out = p;
	return API_OK;
}

void collector_parser_free(struct collector_parser *p)
{
	if (p == NULL)
		return;
	free(p->prefix);
	free(p);
}

void collector_parser_reset(struct collector_parser *p)
{
	p->nheld = 0;
}

int64_t collector_parser_hold(const struct collector_parser *p)
{
	int64_t min = -1;

	for (size_t i = 0; i < p->nheld; i++)
		if (min < 0 || p->held[i].off < min)
			min = p->held[i].off;
	return min;
}

/* A CSV record ends at the first newline outside double quotes. */
static size_t csv_record_len(const char *buf, size_t len)
{
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '"')
			quoted = !quoted;
		else if (buf[i] == '\n' && !quoted)
			return i + 1;
	}
	return 0;
}

/* A stderr record is its first line and every following line that starts
 * with a tab (PostgreSQL puts one after each newline of a message). */
static size_t stderr_record_len(const char *buf, size_t len, bool final)
{
	const char *nl = memchr(buf, '\n', len);
	size_t end;

	if (nl == NULL)
		return 0;
	end = (size_t)(nl - buf) + 1;
	for (;;) {
		if (end == len)
			return final ? end : 0;
		if (buf[end] != '\t')
			return end;
		nl = memchr(buf + end, '\n', len - end);
		if (nl == NULL)
			return 0;
		end = (size_t)(nl - buf) + 1;
	}
}

size_t collector_record_len(const struct collector_parser *p, const char *buf, size_t len,
			    bool final)
{
	const char *nl;

	switch (p->fmt) {
	case COLLECTOR_PG_CSVLOG:
		return csv_record_len(buf, len);
	case COLLECTOR_PG_STDERR:
		return stderr_record_len(buf, len, final);
	case COLLECTOR_PG_JSONLOG:
	case COLLECTOR_MARIADB_AUDIT:
		break;
	}
	nl = memchr(buf, '\n', len);
	return nl == NULL ? 0 : (size_t)(nl - buf) + 1;
}

enum api_err collector_parser_feed(struct collector_parser *p, const char *rec, size_t len,
				   int64_t off, json_t **out, int64_t *event_off,
				   char *warn, size_t warnlen)
{
	*out = NULL;
	*event_off = off;
	if (warn != NULL && warnlen > 0)
		warn[0] = '\0';
	while (len > 0 && (rec[len - 1] == '\n' || rec[len - 1] == '\r'))
		len--;
	if (len == 0)
		return API_OK;
	if (p->fmt == COLLECTOR_MARIADB_AUDIT)
		return collector_mariadb_feed(p, rec, len, off, out, event_off, warn, warnlen);
	return collector_pg_feed(p, rec, len, out, warn, warnlen);
}

void collector_warn(char *warn, size_t warnlen, const char *fmt, ...)
{
	va_list ap;

	if (warn == NULL || warnlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(warn, warnlen, fmt, ap);
	va_end(ap);
}

/* Length of the UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		len = 2;
	else if ((s[0] & 0xF0) == 0xE0)
		len = 3;
	else if ((s[0] & 0xF8) == 0xF0)
		len = 4;
	else
		return 0;
	if (len > n || !str_utf8_valid((const char *)s, len))
		return 0;
	return len;
}

/* Bytes jansson writes for one character (JSON escapes included). */
static size_t json_char_cost(const unsigned char *s, size_t len)
{
	if (len > 1)
		return len;
	if (s[0] == '"' || s[0] == '\\' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r' ||
	    s[0] == '\b' || s[0] == '\f' || s[0] == '/')
		return 2;
	return s[0] < 0x20 || s[0] == 0x7f ? 6 : 1;
}

static int put_marker(json_t *d, const char *key, const char *suffix, json_t *v)
{
	char name[COLLECTOR_FIELD_MAX];

	if (v == NULL)
		return -1;
	snprintf(name, sizeof(name), "%s_%s", key, suffix);
	return json_object_set_new(d, name, v);
}

static int put_sha256(json_t *d, const char *key, const char *s, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * 32 + 1];

	if (!EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -1;
	str_hex(md, 32, hex);
	return put_marker(d, key, "sha256", json_string(hex));
}

int collector_put_text(json_t *details, const char *key, const char *s, size_t n, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	struct buf b;
	size_t i = 0, cost = 2;
	bool invalid = false, truncated = false;
	int rc = -1;

	buf_init(&b);
	if (buf_append(&b, "", 0) != 0)
		goto out;
	while (i < n) {
		size_t len = utf8_seq_len(u + i, n - i);
		const char *add = len > 0 ? s + i : "\xEF\xBF\xBD";
		size_t addlen = len > 0 ? len : 3;
		size_t c = len > 0 ? json_char_cost(u + i, len) : 3;

		if (cost + c > max) {
			truncated = true;
			break;
		}
		if (len == 0)
			invalid = true;
		if (buf_append(&b, add, addlen) != 0)
			goto out;
		cost += c;
		i += len > 0 ? len : 1;
	}
	if (json_object_set_new(details, key, json_stringn(b.data, b.len)) != 0)
		goto out;
	if (invalid && put_marker(details, key, "invalid_utf8", json_true()) != 0)
		goto out;
	if (truncated) {
		if (put_marker(details, key, "truncated", json_true()) != 0 ||
		    put_marker(details, key, "bytes", json_integer((json_int_t)n)) != 0 ||
		    put_sha256(details, key, s, n) != 0)
			goto out;
	}
	rc = 0;
out:
	buf_cleanup(&b);
	return rc;
}

int collector_put_field(json_t *details, const char *key, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return collector_put_text(details, key, s, n, COLLECTOR_FIELD_MAX);
}

int collector_put_host(json_t *details, const char *host, size_t n)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	unsigned char addr[sizeof(struct in6_addr)];

	if (n == 0 || (n == 7 && memcmp(host, "[local]", 7) == 0))
		return 0;
	if (n < sizeof(tmp)) {
		memcpy(tmp, host, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1)
			return json_object_set_new(details, "source_ip", json_string(tmp));
	}
	return collector_put_field(details, "host_name", host, n);
}

const char *collector_action_id(const char *s, size_t n)
{
	static const struct {
		const char *kw;
		const char *aid;
	} map[] = {
		{ "SELECT", "SL" }, { "INSERT", "IN" }, { "UPDATE", "UP" }, { "DELETE", "DL" },
		{ "EXECUTE", "EX" }, { "EXEC", "EX" }, { "CALL", "EX" }, { "CREATE", "CR" },
		{ "ALTER", "AL" }, { "DROP", "DR" }, { "WITH", "SL" }, { "GRANT", "G" },
		{ "REVOKE", "R" }, { "REPLACE", "IN" }, { "TRUNCATE", "DL" },
	};
	size_t i = 0, w;

	for (;;) {
		while (i < n && (isspace((unsigned char)s[i]) || s[i] == '('))
			i++;
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
		} else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
			const char *e = NULL;

			for (size_t k = i + 2; k + 1 < n; k++)
				if (s[k] == '*' && s[k + 1] == '/') {
					e = s + k + 2;
					break;
				}
			if (e == NULL)
				return NULL;
			i = (size_t)(e - s);
		} else {
			break;
		}
	}
	for (w = 0; i + w < n && isalpha((unsigned char)s[i + w]); w++)
		;
	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (strlen(map[k].kw) == w && strncasecmp(s + i, map[k].kw, w) == 0)
			return map[k].aid;
	return NULL;
}

int collector_event_new(const char *type, int64_t ts_ms, json_t **ev, json_t **details)
{
	char ts[TIME_RFC3339_LEN];

	time_format_rfc3339(ts_ms, ts);
	*details = json_object();
	*ev = json_pack("{s:s, s:s}", "type", type, "timestamp", ts);
	if (*ev == NULL || *details == NULL ||
	    json_object_set(*ev, "details", *details) != 0) {
		json_decref(*ev);
		json_decref(*details);
		*ev = NULL;
		*details = NULL;
		return -1;
	}
	json_decref(*details);
	return 0;
}
