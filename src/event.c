/*
 * event: types, validation and sanitisation of ingested events, ids,
 * kAudit derivations, regex escaping and cursors. No store, no FastCGI.
 */
#include "event.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "principal.h"
#include "sqlanalysis.h"
#include "util/str.h"
#include "util/timeutil.h"

const struct event_type_info event_types[EVENT_NTYPES] = {
	{ "database.query", "info" },
	{ "database.connection", "info" },
	{ "database.disconnect", "info" },
	{ "security.threat_detected", "critical" },
	{ "security.anomaly", "warning" },
	{ "security.privilege_escalation", "critical" },
	{ "policy.violation", "warning" },
	{ "policy.match", "info" },
	{ "data.sensitive_access", "warning" },
	{ "data.export", "warning" },
	{ "user.login_failed", "warning" },
	{ "user.login_success", "info" },
};

int event_type_index(const char *name)
{
	for (int i = 0; i < EVENT_NTYPES; i++)
		if (strcmp(event_types[i].name, name) == 0)
			return i;
	return -1;
}

bool event_severity_valid(const char *s)
{
	return strcmp(s, "info") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "critical") == 0;
}

/* Glob match of p[0..pn) ('*' = any run) against the whole of s. */
static bool glob_match(const char *p, size_t pn, const char *s)
{
	return str_glob_match(p, pn, s, false);
}

int event_type_pattern(const char *pattern, uint32_t *mask)
{
	const char *p = pattern;
	uint32_t m = 0;

	if (strlen(pattern) > 512)
		return -1;
	for (;;) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n > 64)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_' || p[i] == '.' || p[i] == '*'))
				return -1;
		for (int t = 0; t < EVENT_NTYPES; t++)
			if (glob_match(p, n, event_types[t].name))
				m |= 1u << t;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*mask = m;
	return 0;
}

void event_set_database(struct event_in *ev, const char *name, const char *type,
			json_t *audit_options)
{
	if (ev->database_name[0] == '\0' && name != NULL)
		snprintf(ev->database_name, sizeof(ev->database_name), "%s", name);
	snprintf(ev->db_type, sizeof(ev->db_type), "%s", type != NULL ? type : "");
	json_decref(ev->db_audit_options);
	ev->db_audit_options = json_is_object(audit_options) ? json_incref(audit_options) : NULL;
}

void event_in_cleanup(struct event_in *ev)
{
	json_decref(ev->details);
	if (ev->sql != NULL)
		sqlanalysis_cleanup(ev->sql);
	free(ev->sql);
	json_decref(ev->db_audit_options);
	json_decref(ev->context);
	json_decref(ev->related);
	memset(ev, 0, sizeof(*ev));
}

/* ---------------------------------------------------------------- ids */

int event_id_derive(const char *tenant, const char *external_id, char *out)
{
	static const char label[] = "dbaudit/event-id/v1\n";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	/* The tenant holds no newline, so the input is unambiguous. */
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, label, sizeof(label) - 1) == 1 &&
	     EVP_DigestUpdate(ctx, tenant, strlen(tenant)) == 1 &&
	     EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     EVP_DigestUpdate(ctx, external_id, strlen(external_id)) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 12;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	memcpy(out, "evt_", 4);
	str_hex(md, 12, out + 4);
	return 0;
}

int event_id_random(char *out)
{
	uint32_t now = (uint32_t)(time_now_ms() / 1000);
	unsigned char be[4] = { (unsigned char)(now >> 24), (unsigned char)(now >> 16),
				(unsigned char)(now >> 8), (unsigned char)now };

	/* the second first, as a MongoDB ObjectId: new ids land at the end of an index */
	memcpy(out, "evt_", 4);
	str_hex(be, 4, out + 4);
	return str_random_hex(out + 12, 8);
}

bool event_id_valid(const char *id)
{
	return str_is_prefixed_hex(id, "evt_", 24);
}

/* ---------------------------------------------------------------- kAudit */

static const char *query_skip_noise(const char *q)
{
	for (;;) {
		while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n' || *q == '(' || *q == ';')
			q++;
		if (q[0] == '-' && q[1] == '-') {
			q += strcspn(q, "\n");
		} else if (q[0] == '/' && q[1] == '*') {
			const char *end = strstr(q + 2, "*/");

			if (end == NULL)
				return q + strlen(q);
			q = end + 2;
		} else {
			return q;
		}
	}
}

static const char *query_action(const char *q)
{
	static const struct {
		const char *kw;
		const char *aid;
	} map[] = {
		{ "SELECT", "SL" }, { "INSERT", "IN" }, { "UPDATE", "UP" }, { "DELETE", "DL" },
		{ "EXECUTE", "EX" }, { "EXEC", "EX" }, { "CALL", "EX" }, { "CREATE", "CR" },
		{ "ALTER", "AL" }, { "DROP", "DR" }, { "WITH", "SL" },
	};
	size_t n;

	q = query_skip_noise(q);
	for (n = 0; isalpha((unsigned char)q[n]); n++)
		;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].kw) == n && strncasecmp(q, map[i].kw, n) == 0)
			return map[i].aid;
	return "";
}

/* Copies the action id s trimmed of spaces and upper-cased; "" if invalid. */
static void action_id_normalise(const char *s, char *out)
{
	size_t b = 0, e = strlen(s), n;

	out[0] = '\0';
	while (b < e && s[b] == ' ')
		b++;
	while (e > b && s[e - 1] == ' ')
		e--;
	n = e - b;
	if (n == 0 || n > EVENT_ACTION_ID_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[b + i])) {
			out[0] = '\0';
			return;
		}
		out[i] = (char)toupper((unsigned char)s[b + i]);
	}
	out[n] = '\0';
}

void event_action_id(const char *type, json_t *details, char *out)
{
	json_t *v = details ? json_object_get(details, "action_id") : NULL;

	out[0] = '\0';
	if (json_is_string(v)) {
		action_id_normalise(json_string_value(v), out);
		if (out[0] != '\0')
			return;
	}
	if (strcmp(type, "user.login_success") == 0 || strcmp(type, "database.connection") == 0) {
		snprintf(out, EVENT_ACTION_ID_MAX + 1, "LGIS");
		return;
	}
	if (strcmp(type, "user.login_failed") == 0) {
		snprintf(out, EVENT_ACTION_ID_MAX + 1, "LGIF");
		return;
	}
	if (strcmp(type, "database.disconnect") == 0) {
		snprintf(out, EVENT_ACTION_ID_MAX + 1, "LO");
		return;
	}
	v = details ? json_object_get(details, "query") : NULL;
	if (json_is_string(v))
		snprintf(out, EVENT_ACTION_ID_MAX + 1, "%s", query_action(json_string_value(v)));
}

bool event_succeeded(const char *type, json_t *details)
{
	json_t *v = details ? json_object_get(details, "succeeded") : NULL;

	if (json_is_boolean(v))
		return json_is_true(v);
	return strcmp(type, "user.login_failed") != 0;
}

bool event_action_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EVENT_ACTION_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return false;
	return true;
}

/* ---------------------------------------------------------------- text */

char *event_regex_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(2 * n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80 && !isalnum(c))
			*o++ = '\\';
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

size_t event_utf8_prefix(const char *s, size_t max_chars)
{
	size_t i = 0, chars = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (chars == max_chars)
				break;
			chars++;
		}
	}
	return i;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* ---------------------------------------------------------------- cursor */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void event_cursor_encode(int64_t seq, char *out)
{
	unsigned char raw[9] = { 0 };
	uint64_t v = (uint64_t)(seq < 0 ? 0 : seq);
	size_t o = 3;

	memcpy(out, "c1.", 3);
	for (int i = 7; i >= 0; i--, v >>= 8)
		raw[i] = (unsigned char)(v & 0xff);
	/* 8 bytes: two full groups of 3 and a last group of 2 (3 chars). */
	for (size_t i = 0; i < 9; i += 3) {
		uint32_t g = ((uint32_t)raw[i] << 16) | ((uint32_t)raw[i + 1] << 8) | raw[i + 2];

		out[o++] = b64url[(g >> 18) & 63];
		out[o++] = b64url[(g >> 12) & 63];
		out[o++] = b64url[(g >> 6) & 63];
		if (i < 6)
			out[o++] = b64url[g & 63];
	}
	out[o] = '\0';
}

int event_cursor_decode(const char *s, int64_t *seq)
{
	char canon[EVENT_CURSOR_LEN];
	uint64_t bits = 0;
	int64_t v;

	if (strncmp(s, "c1.", 3) != 0 || strlen(s) != 14)
		return -1;
	/* 11 chars carry 66 bits: the 64 of the value and two zero bits. */
	for (size_t i = 3; i < 14; i++) {
		const char *p = s[i] ? strchr(b64url, s[i]) : NULL;

		if (p == NULL)
			return -1;
		if (i < 13)
			bits = (bits << 6) | (uint64_t)(p - b64url);
		else if ((p - b64url) & 3)
			return -1;
		else
			bits = (bits << 4) | (uint64_t)((p - b64url) >> 2);
	}
	if (bits > (uint64_t)INT64_MAX)
		return -1;
	v = (int64_t)bits;
	event_cursor_encode(v, canon);
	if (strcmp(canon, s) != 0)
		return -1;
	*seq = v;
	return 0;
}

/* ---------------------------------------------------------------- validation */

static const char *const detail_strings[] = {
	"user", "source_ip", "query", "session_id", "client_application", "host_name",
	"action_id", "schema_name", "object_name", "server_instance_name",
	"database_principal_name", "threat_type", "source_type", NULL,
};

/* Where a parse reports its error, and the details keys counted so far. */
struct perr {
	char *msg;
	size_t len;
	size_t nkeys;
};

static int fail(struct perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct perr *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, e->len, fmt, ap);
	va_end(ap);
	return -1;
}

/* A key, shortened for an error message (at most 40 characters). */
#define KEYFMT "%.*s"
#define KEYARG(k) (int)event_utf8_prefix((k), 40), (k)

static json_t *sanitise(json_t *v, int depth, bool in_array, struct perr *e);

static char *sanitise_key(const char *key, size_t klen, struct perr *e)
{
	char *k;

	if (klen == 0)
		return fail(e, "details keys must not be empty"), NULL;
	if (klen != strlen(key))
		return fail(e, "details keys must not contain NUL"), NULL;
	if (klen > EVENT_KEY_MAX)
		return fail(e, "details key '" KEYFMT "...' is longer than %d bytes", KEYARG(key),
			    EVENT_KEY_MAX), NULL;
	k = strdup(key);
	if (k == NULL)
		return fail(e, "out of memory"), NULL;
	if (k[0] == '$')
		k[0] = '_';
	for (char *p = k; *p; p++)
		if (*p == '.')
			*p = '_';
	return k;
}

static json_t *sanitise_object(json_t *obj, int depth, struct perr *e)
{
	json_t *out = json_object();
	void *it;

	if (out == NULL)
		return fail(e, "out of memory"), NULL;
	/* Counted before any work, so 40,000 keys cost no more than 257. */
	e->nkeys += json_object_size(obj);
	if (e->nkeys > EVENT_DETAILS_KEYS_MAX) {
		fail(e, "details hold more than %d keys (all levels counted); send fewer",
		     EVENT_DETAILS_KEYS_MAX);
		goto bad;
	}
	for (it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		char *k = sanitise_key(key, json_object_iter_key_len(it), e);
		json_t *cv;

		if (k == NULL)
			goto bad;
		if (json_object_get(out, k) != NULL) {
			fail(e, "details key '" KEYFMT "' collides with another key once '.' and a "
				"leading '$' become '_'", KEYARG(key));
			free(k);
			goto bad;
		}
		cv = sanitise(json_object_iter_value(it), depth + 1, false, e);
		if (cv == NULL || json_object_set_new(out, k, cv) != 0) {
			free(k);
			goto bad;
		}
		free(k);
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

static json_t *sanitise(json_t *v, int depth, bool in_array, struct perr *e)
{
	if (depth > EVENT_DETAILS_DEPTH)
		return fail(e, "details nest deeper than %d levels", EVENT_DETAILS_DEPTH), NULL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return sanitise_object(v, depth, e);
	case JSON_ARRAY: {
		json_t *out, *cv;
		size_t i;

		if (in_array)
			return fail(e, "details must not hold arrays directly inside arrays"), NULL;
		out = json_array();
		if (out == NULL)
			return fail(e, "out of memory"), NULL;
		json_array_foreach(v, i, cv) {
			json_t *c = sanitise(cv, depth + 1, true, e);

			if (c == NULL || json_array_append_new(out, c) != 0) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	case JSON_STRING:
		if (json_string_length(v) > EVENT_STRING_MAX)
			return fail(e, "a details string is %zu bytes; at most %d are accepted",
				    json_string_length(v), EVENT_STRING_MAX), NULL;
		if (json_string_length(v) != strlen(json_string_value(v)))
			return fail(e, "details strings must not contain NUL"), NULL;
		return json_incref(v);
	case JSON_REAL:
		if (!isfinite(json_real_value(v)))
			return fail(e, "details numbers must be finite"), NULL;
		return json_incref(v);
	default:
		return json_incref(v);
	}
}

static int check_details(json_t *d, struct perr *e)
{
	unsigned char addr[16];
	json_t *v;

	for (const char *const *f = detail_strings; *f; f++) {
		v = json_object_get(d, *f);
		if (v != NULL && !json_is_string(v) && !json_is_null(v))
			return fail(e, "details.%s must be a string", *f);
	}
	v = json_object_get(d, "succeeded");
	if (v != NULL && !json_is_boolean(v) && !json_is_null(v))
		return fail(e, "details.succeeded must be a boolean");
	v = json_object_get(d, "source_ip");
	if (json_is_string(v) && inet_pton(AF_INET, json_string_value(v), addr) != 1 &&
	    inet_pton(AF_INET6, json_string_value(v), addr) != 1)
		return fail(e, "details.source_ip must be an IPv4 or IPv6 address");
	v = json_object_get(d, "action_id");
	if (json_is_string(v)) {
		char aid[EVENT_ACTION_ID_MAX + 1];

		action_id_normalise(json_string_value(v), aid);
		if (aid[0] == '\0')
			return fail(e, "details.action_id must be 1 to %d letters or digits",
				    EVENT_ACTION_ID_MAX);
	}
	return 0;
}

/* Reads optional string field f: NULL when absent or null; -1 for another type. */
static int opt_string(json_t *obj, const char *f, const char **out, struct perr *e)
{
	json_t *v = json_object_get(obj, f);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(e, "%s must be a string", f);
	if (json_string_length(v) != strlen(json_string_value(v)))
		return fail(e, "%s must not contain NUL", f);
	*out = json_string_value(v);
	return 0;
}

static bool database_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EVENT_DATABASE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static enum event_parse_result resolve_tenant(json_t *obj, const struct principal *who,
					      struct event_in *out, struct perr *e)
{
	const char *t = NULL;

	if (opt_string(obj, "tenant_id", &t, e) != 0)
		return EVENT_PARSE_INVALID;
	if (t == NULL) {
		if (who->ntenants != 1) {
			fail(e, "tenant_id is required: the credentials hold several tenants");
			return EVENT_PARSE_INVALID;
		}
		out->tenant = who->tenants[0];
		return EVENT_PARSE_OK;
	}
	if (!principal_tenant_valid(t)) {
		fail(e, "tenant_id must be 1 to 64 of A-Z a-z 0-9 _ -");
		return EVENT_PARSE_INVALID;
	}
	for (size_t i = 0; i < who->ntenants; i++) {
		if (strcmp(who->tenants[i], t) == 0) {
			out->tenant = who->tenants[i];
			return EVENT_PARSE_OK;
		}
	}
	fail(e, "the credentials do not hold tenant_id %s", t);
	return EVENT_PARSE_FORBIDDEN;
}

static const char *const top_fields[] = {
	"type", "timestamp", "severity", "database_id", "database_name", "details",
	"external_id", "tenant_id", NULL,
};

static int check_fields(json_t *obj, struct perr *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *f;

		for (f = top_fields; *f; f++)
			if (strcmp(*f, key) == 0)
				break;
		if (*f == NULL)
			return fail(e, "unknown field '" KEYFMT "'", KEYARG(key));
	}
	return 0;
}

/*
 * The whole event, statement included, as compact JSON: the bound that
 * keeps one event's storage and read cost small whatever its shape.
 */
static int check_size(json_t *obj, struct perr *e)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);

	if (n == 0)
		return fail(e, "the event cannot be encoded as JSON");
	if (n > EVENT_ENCODED_MAX)
		return fail(e, "the event is %zu bytes as compact JSON; at most %d are accepted "
			    "(shorten details or the statement)", n, EVENT_ENCODED_MAX);
	return 0;
}

static int parse_core(json_t *obj, struct event_in *out, struct perr *e)
{
	const char *type = NULL, *ts = NULL, *sev = NULL, *name = NULL;
	int ti;

	if (opt_string(obj, "type", &type, e) != 0 || opt_string(obj, "timestamp", &ts, e) != 0 ||
	    opt_string(obj, "severity", &sev, e) != 0)
		return -1;
	if (type == NULL)
		return fail(e, "type is required");
	ti = event_type_index(type);
	if (ti < 0)
		return fail(e, "type must be one of the 12 event types (database.query, ...)");
	out->type = event_types[ti].name;
	if (ts == NULL)
		return fail(e, "timestamp is required");
	if (time_parse_rfc3339(ts, &out->timestamp_ms) != 0)
		return fail(e, "timestamp must be an RFC 3339 date-time such as 2025-01-15T14:32:18Z, "
			    "from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z in UTC");
	if (sev == NULL)
		out->severity = event_types[ti].severity;
	else if (event_severity_valid(sev))
		out->severity = strcmp(sev, "info") == 0 ? "info" :
				strcmp(sev, "warning") == 0 ? "warning" : "critical";
	else
		return fail(e, "severity must be info, warning or critical");
	if (opt_string(obj, "database_id", &out->database_id, e) != 0)
		return -1;
	if (out->database_id != NULL && !database_id_valid(out->database_id))
		return fail(e, "database_id must be 1 to %d of A-Z a-z 0-9 _ -", EVENT_DATABASE_ID_MAX);
	if (opt_string(obj, "database_name", &name, e) != 0)
		return -1;
	if (name != NULL) {
		if (name[0] == '\0' || strlen(name) > EVENT_NAME_MAX || has_control(name))
			return fail(e, "database_name must be 1 to %d bytes without control characters",
				    EVENT_NAME_MAX);
		snprintf(out->database_name, sizeof(out->database_name), "%s", name);
	}
	if (opt_string(obj, "external_id", &out->external_id, e) != 0)
		return -1;
	if (out->external_id != NULL &&
	    (out->external_id[0] == '\0' || utf8_chars(out->external_id) > EVENT_EXTERNAL_ID_MAX ||
	     has_control(out->external_id)))
		return fail(e, "external_id must be 1 to %d characters without control characters",
			    EVENT_EXTERNAL_ID_MAX);
	return 0;
}

static int parse_details(json_t *obj, struct event_in *out, struct perr *e)
{
	json_t *d = json_object_get(obj, "details");

	if (d == NULL || json_is_null(d)) {
		out->details = json_object();
		return out->details ? 0 : fail(e, "out of memory");
	}
	if (!json_is_object(d))
		return fail(e, "details must be an object");
	out->details = sanitise(d, 1, false, e);
	if (out->details == NULL)
		return -1;
	return check_details(out->details, e);
}

/* Analyses the statement of an event that carries one and fills the kAudit
 * fields the collector left out. Returns 0, or -1 when memory runs out. */
static int analyse_query(struct event_in *ev)
{
	static const char *const session_types[] = { "user.login_success", "user.login_failed",
						      "database.connection", "database.disconnect" };
	json_t *q = json_object_get(ev->details, "query");

	if (!json_is_string(q))
		return 0;
	for (size_t i = 0; i < sizeof(session_types) / sizeof(session_types[0]); i++)
		if (strcmp(ev->type, session_types[i]) == 0)
			return 0;
	ev->sql = calloc(1, sizeof(*ev->sql));
	if (ev->sql == NULL ||
	    sqlanalysis_run(json_string_value(q), SQL_DIALECT_UNKNOWN, 0, ev->sql) != API_OK)
		return -1;
	return sqlanalysis_fill_details(ev->details, ev->sql) == API_OK ? 0 : -1;
}

enum event_parse_result event_parse(json_t *obj, const struct principal *who,
				    struct event_in *out, char *msg, size_t msglen)
{
	struct perr e = { msg, msglen, 0 };
	enum event_parse_result r;

	msg[0] = '\0';
	if (!json_is_object(obj)) {
		fail(&e, "an event must be a JSON object");
		return EVENT_PARSE_INVALID;
	}
	if (check_size(obj, &e) != 0 || check_fields(obj, &e) != 0 || parse_core(obj, out, &e) != 0 ||
	    parse_details(obj, out, &e) != 0)
		return strcmp(msg, "out of memory") == 0 ? EVENT_PARSE_INTERNAL : EVENT_PARSE_INVALID;
	r = resolve_tenant(obj, who, out, &e);
	if (r != EVENT_PARSE_OK)
		return r;
	if (out->external_id != NULL) {
		if (event_id_derive(out->tenant, out->external_id, out->id) != 0) {
			fail(&e, "cannot derive the event id");
			return EVENT_PARSE_INTERNAL;
		}
		snprintf(out->xid, sizeof(out->xid), "%s/%s", out->tenant, out->external_id);
	} else {
		if (event_id_random(out->id) != 0) {
			fail(&e, "no randomness available");
			return EVENT_PARSE_INTERNAL;
		}
		snprintf(out->xid, sizeof(out->xid), "%s", out->id);
	}
	if (analyse_query(out) != 0) {
		fail(&e, "out of memory");
		return EVENT_PARSE_INTERNAL;
	}
	event_action_id(out->type, out->details, out->action_id);
	out->succeeded = event_succeeded(out->type, out->details);
	return EVENT_PARSE_OK;
}
