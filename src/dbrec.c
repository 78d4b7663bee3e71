/*
 * dbrec: validation and views of monitored-database records (see dbrec.h).
 * Error sentences name the field and the rule, never the value given
 * (which may be a secret).
 */
#include "dbrec.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/str.h"

static const char *const type_names[DB_TYPE__COUNT] = {
	[DB_POSTGRESQL] = "postgresql", [DB_MYSQL] = "mysql", [DB_MARIADB] = "mariadb",
	[DB_SQLSERVER] = "sqlserver", [DB_ORACLE] = "oracle", [DB_MONGODB] = "mongodb",
};

static const char *const ssl_names[] = { "disable", "require", "verify-ca", "verify-full" };

static const char *const secret_names[DB_SECRET__COUNT] = {
	"password", "ssl_ca", "ssl_cert", "ssl_key"
};

static const char *const statuses[] = { "pending", "connected", "disconnected", "error" };

static const char *const health_levels[] = { "healthy", "warning", "critical" };

static const char *const health_names[] = { "connectivity", "permissions", "latency", "disk_space" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int dbrec_type_parse(const char *s)
{
	return name_index(type_names, COUNT(type_names), s);
}

const char *dbrec_type_name(enum db_type t)
{
	return t < DB_TYPE__COUNT ? type_names[t] : "unknown";
}

int dbrec_ssl_mode_parse(const char *s)
{
	return name_index(ssl_names, COUNT(ssl_names), s);
}

const char *dbrec_ssl_mode_name(enum db_ssl_mode m)
{
	return (size_t)m < COUNT(ssl_names) ? ssl_names[m] : "require";
}

const char *dbrec_secret_name(enum db_secret s)
{
	return s < DB_SECRET__COUNT ? secret_names[s] : "";
}

bool dbrec_status_valid(const char *s)
{
	return name_index(statuses, COUNT(statuses), s) >= 0;
}

bool dbrec_id_valid(const char *id)
{
	return str_is_prefixed_hex(id, "db_", 24);
}

static bool label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

int dbrec_host_normalise(const char *in, char *out, size_t outlen)
{
	char buf[DBREC_HOST_MAX + 1];
	size_t n = strlen(in), label = 0;
	unsigned char addr[16];

	if (n == 0 || n > DBREC_HOST_MAX || outlen < DBREC_HOST_MAX + 1)
		return -1;
	if (in[0] == '[') {
		if (n < 3 || in[n - 1] != ']')
			return -1;
		memcpy(buf, in + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return -1;
		return inet_ntop(AF_INET6, addr, out, (socklen_t)outlen) ? 0 : -1;
	}
	if (strchr(in, ':') != NULL) {
		if (inet_pton(AF_INET6, in, addr) != 1)
			return -1;
		return inet_ntop(AF_INET6, addr, out, (socklen_t)outlen) ? 0 : -1;
	}
	if (inet_pton(AF_INET, in, addr) == 1)
		return inet_ntop(AF_INET, addr, out, (socklen_t)outlen) ? 0 : -1;
	if (n > 253)
		return -1;
	for (size_t i = 0; i <= n; i++) {
		char ch = in[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || in[i - 1] == '-')
				return -1;
			label = 0;
		} else {
			if (!label_char(ch) || (label == 0 && ch == '-'))
				return -1;
			label++;
		}
		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	return 0;
}

bool dbrec_tag_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];

		if (n >= DBREC_TAG_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == ':' || ch == '-'))
			return false;
	}
	return n > 0;
}

static int fail(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Number of characters of valid UTF-8 s. */
static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* A text field of min..max characters without control characters. */
static int check_text_range(json_t *v, const char *field, size_t min, size_t max, char *msg,
			    size_t msglen)
{
	size_t n;

	if (!json_is_string(v))
		return fail(msg, msglen, "%s must be a string", field);
	n = json_string_length(v);
	if (n < min || utf8_chars(json_string_value(v), n) > max)
		return fail(msg, msglen, "%s must be %zu to %zu characters", field, min, max);
	if (has_control(json_string_value(v), n) || strlen(json_string_value(v)) != n)
		return fail(msg, msglen, "%s must not contain control characters", field);
	return 0;
}

static int check_text(json_t *v, const char *field, size_t max, char *msg, size_t msglen)
{
	return check_text_range(v, field, 1, max, msg, msglen);
}

/* True when pem holds at least one certificate and nothing unparsable before it. */
static bool pem_is_certs(const char *pem, size_t n)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	X509 *x;
	int count = 0;

	if (bio == NULL)
		return false;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		count++;
	}
	ERR_clear_error();
	BIO_free(bio);
	return count > 0;
}

static bool pem_is_key(const char *pem, size_t n)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *k;

	if (bio == NULL)
		return false;
	/* An empty passphrase callback: encrypted keys fail, which is what we want. */
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	ERR_clear_error();
	BIO_free(bio);
	EVP_PKEY_free(k);
	return k != NULL;
}

static int parse_secret(json_t *v, enum db_secret s, bool patch, struct dbrec_input *in,
			char *msg, size_t msglen)
{
	const char *name = secret_names[s];
	size_t n;

	if (json_is_null(v) && patch && s != DB_SECRET_PASSWORD) {
		in->unset[s] = true;
		return 0;
	}
	if (!json_is_string(v))
		return fail(msg, msglen, "%s must be a string", name);
	n = json_string_length(v);
	if (strlen(json_string_value(v)) != n)
		return fail(msg, msglen, "%s must not contain NUL characters", name);
	if (s == DB_SECRET_PASSWORD) {
		if (n > DBREC_PASSWORD_MAX)
			return fail(msg, msglen, "password must be at most %d bytes", DBREC_PASSWORD_MAX);
	} else if (n == 0 || n > DBREC_PEM_MAX) {
		return fail(msg, msglen, "%s must be a PEM text of 1 to %d bytes", name, DBREC_PEM_MAX);
	} else if (s == DB_SECRET_SSL_KEY ? !pem_is_key(json_string_value(v), n)
					  : !pem_is_certs(json_string_value(v), n)) {
		return fail(msg, msglen, s == DB_SECRET_SSL_KEY
				? "ssl_key must be an unencrypted PEM private key"
				: "%s must hold PEM certificates", name);
	}
	in->secrets[s] = json_string_value(v);
	return 0;
}

static int parse_tags(json_t *v, json_t **out, char *msg, size_t msglen)
{
	json_t *tags, *t;
	size_t i;

	if (!json_is_array(v))
		return fail(msg, msglen, "tags must be an array of strings");
	if (json_array_size(v) > DBREC_TAGS_MAX)
		return fail(msg, msglen, "tags must have at most %d entries", DBREC_TAGS_MAX);
	tags = json_array();
	if (tags == NULL)
		return fail(msg, msglen, "out of memory");
	json_array_foreach(v, i, t) {
		size_t j;
		json_t *u;

		if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t) ||
		    !dbrec_tag_valid(json_string_value(t))) {
			json_decref(tags);
			return fail(msg, msglen, "tags[%zu] must be 1 to %d of a-z 0-9 _ : -", i,
				    DBREC_TAG_MAX);
		}
		json_array_foreach(tags, j, u) {
			if (json_equal(u, t)) {
				json_decref(tags);
				return fail(msg, msglen, "tags[%zu] repeats a tag", i);
			}
		}
		json_array_append(tags, t);
	}
	*out = tags;
	return 0;
}

static const char *const bool_options[] = { "capture_queries", "capture_results",
					    "mask_sensitive_data" };

static int parse_audit_options(json_t *v, bool patch, json_t **out, char *msg, size_t msglen)
{
	json_t *o, *val;
	const char *k;

	if (!json_is_object(v))
		return fail(msg, msglen, "audit_options must be an object");
	if (patch)
		o = json_object();
	else
		o = json_pack("{s:b,s:b,s:b}", "capture_queries", 1, "capture_results", 0,
			      "mask_sensitive_data", 1);
	if (o == NULL)
		return fail(msg, msglen, "out of memory");
	json_object_foreach(v, k, val) {
		if (name_index(bool_options, COUNT(bool_options), k) >= 0) {
			if (!json_is_boolean(val))
				goto bad_bool;
		} else if (strcmp(k, "retention_days") == 0) {
			if (!json_is_integer(val) || json_integer_value(val) < 1 ||
			    json_integer_value(val) > 3650) {
				json_decref(o);
				return fail(msg, msglen,
					    "audit_options.retention_days must be an integer from 1 to 3650");
			}
		} else {
			json_decref(o);
			if (strlen(k) > 64 || !str_utf8_valid(k, strlen(k)))
				return fail(msg, msglen, "audit_options has an unknown key");
			return fail(msg, msglen,
				    "audit_options.%s is unknown (capture_queries, capture_results, "
				    "mask_sensitive_data, retention_days)", k);
		}
		json_object_set(o, k, val);
	}
	*out = o;
	return 0;
bad_bool:
	json_decref(o);
	return fail(msg, msglen, "audit_options.%s must be true or false", k);
}

/* Fields of the body and whether a create needs them. */
static const struct {
	const char *name;
	bool required;
	bool patchable;
} fields[] = {
	{ "name", true, true },        { "type", true, true },
	{ "host", true, true },        { "port", true, true },
	{ "database", true, true },    { "username", true, true },
	{ "password", true, true },    { "ssl_mode", false, true },
	{ "ssl_ca", false, true },     { "ssl_cert", false, true },
	{ "ssl_key", false, true },    { "tags", false, true },
	{ "audit_options", false, true }, { "tenant_id", false, false },
	{ "audit_status", false, true },
};

static int check_known(json_t *body, bool patch, char *msg, size_t msglen)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v) {
		size_t i;

		for (i = 0; i < COUNT(fields); i++)
			if (strcmp(fields[i].name, k) == 0)
				break;
		if (i == COUNT(fields)) {
			if (strlen(k) > 64 || !str_utf8_valid(k, strlen(k)) || has_control(k, strlen(k)))
				return fail(msg, msglen, "the body has an unknown field");
			return fail(msg, msglen, "unknown field '%s'", k);
		}
		if (patch && !fields[i].patchable)
			return fail(msg, msglen, "%s cannot be changed", k);
		if (!patch && strcmp(k, "audit_status") == 0)
			return fail(msg, msglen, "audit_status can only be changed by an update");
	}
	if (!patch) {
		for (size_t i = 0; i < COUNT(fields); i++)
			if (fields[i].required && json_object_get(body, fields[i].name) == NULL)
				return fail(msg, msglen, "%s is required", fields[i].name);
	} else if (json_object_size(body) == 0) {
		return fail(msg, msglen, "the body names no field to change");
	}
	return 0;
}

/* name, database, username, type, host, port, ssl_mode, audit_status into in->set. */
static int parse_plain(json_t *body, struct dbrec_input *in, char *msg, size_t msglen)
{
	json_t *v;
	char host[DBREC_HOST_MAX + 1];

	if ((v = json_object_get(body, "name")) != NULL) {
		if (check_text(v, "name", DBREC_NAME_MAX, msg, msglen) != 0)
			return -1;
		json_object_set(in->set, "name", v);
	}
	if ((v = json_object_get(body, "database")) != NULL) {
		if (check_text(v, "database", DBREC_IDENT_MAX, msg, msglen) != 0)
			return -1;
		json_object_set(in->set, "database", v);
	}
	if ((v = json_object_get(body, "username")) != NULL) {
		/* empty only for MongoDB without access control: dbrec_check_combined */
		if (check_text_range(v, "username", 0, DBREC_IDENT_MAX, msg, msglen) != 0)
			return -1;
		json_object_set(in->set, "username", v);
	}
	if ((v = json_object_get(body, "type")) != NULL) {
		if (!json_is_string(v) || dbrec_type_parse(json_string_value(v)) < 0)
			return fail(msg, msglen, "type must be one of postgresql, mysql, mariadb, "
				    "sqlserver, oracle, mongodb");
		json_object_set(in->set, "type", v);
	}
	if ((v = json_object_get(body, "host")) != NULL) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    dbrec_host_normalise(json_string_value(v), host, sizeof(host)) != 0)
			return fail(msg, msglen, "host must be a hostname or an IP address "
				    "(at most %d characters)", DBREC_HOST_MAX);
		json_object_set_new(in->set, "host", json_string(host));
	}
	if ((v = json_object_get(body, "port")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
			return fail(msg, msglen, "port must be an integer from 1 to 65535");
		json_object_set(in->set, "port", v);
	}
	if ((v = json_object_get(body, "ssl_mode")) != NULL) {
		if (!json_is_string(v) || dbrec_ssl_mode_parse(json_string_value(v)) < 0)
			return fail(msg, msglen, "ssl_mode must be one of disable, require, "
				    "verify-ca, verify-full");
		json_object_set(in->set, "ssl_mode", v);
	}
	if ((v = json_object_get(body, "audit_status")) != NULL) {
		if (!json_is_string(v) || (strcmp(json_string_value(v), "active") != 0 &&
					   strcmp(json_string_value(v), "paused") != 0))
			return fail(msg, msglen, "audit_status must be active or paused");
		json_object_set(in->set, "audit_status", v);
	}
	return 0;
}

int dbrec_input_parse(json_t *body, bool patch, struct dbrec_input *in, char *msg, size_t msglen)
{
	json_t *v, *parsed = NULL;

	memset(in, 0, sizeof(*in));
	if (check_known(body, patch, msg, msglen) != 0)
		return -1;
	in->set = json_object();
	if (in->set == NULL)
		return fail(msg, msglen, "out of memory");
	if (parse_plain(body, in, msg, msglen) != 0)
		goto bad;
	for (int s = 0; s < DB_SECRET__COUNT; s++)
		if ((v = json_object_get(body, secret_names[s])) != NULL &&
		    parse_secret(v, (enum db_secret)s, patch, in, msg, msglen) != 0)
			goto bad;
	if ((json_object_get(body, "ssl_cert") == NULL) != (json_object_get(body, "ssl_key") == NULL) ||
	    in->unset[DB_SECRET_SSL_CERT] != in->unset[DB_SECRET_SSL_KEY]) {
		fail(msg, msglen, "ssl_cert and ssl_key go together: give both or neither");
		goto bad;
	}
	if ((v = json_object_get(body, "tags")) != NULL) {
		if (parse_tags(v, &parsed, msg, msglen) != 0)
			goto bad;
		json_object_set_new(in->set, "tags", parsed);
	} else if (!patch) {
		json_object_set_new(in->set, "tags", json_array());
	}
	v = json_object_get(body, "audit_options");
	if (v != NULL || !patch) {
		json_t *empty = json_object();

		if (parse_audit_options(v ? v : empty, patch, &parsed, msg, msglen) != 0) {
			json_decref(empty);
			goto bad;
		}
		json_decref(empty);
		json_object_set_new(in->set, "audit_options", parsed);
	}
	if (!patch && json_object_get(in->set, "ssl_mode") == NULL)
		json_object_set_new(in->set, "ssl_mode", json_string(DBREC_DEFAULT_SSL_MODE));
	if ((v = json_object_get(body, "tenant_id")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64 ||
		    has_control(json_string_value(v), json_string_length(v))) {
			fail(msg, msglen, "tenant_id must be a tenant id string");
			goto bad;
		}
		in->tenant_id = json_string_value(v);
	}
	return 0;
bad:
	dbrec_input_cleanup(in);
	return -1;
}

bool dbrec_verify_full_supported(enum db_type t)
{
	return t == DB_POSTGRESQL || t == DB_ORACLE;
}

int dbrec_check_combined(const json_t *set, const json_t *old, char *msg, size_t msglen)
{
	const json_t *type = json_object_get(set, "type"), *user = json_object_get(set, "username");
	const json_t *ssl = json_object_get(set, "ssl_mode");
	int t;

	if (type == NULL)
		type = json_object_get(old, "type");
	if (user == NULL)
		user = json_object_get(old, "username");
	if (ssl == NULL)
		ssl = json_object_get(old, "ssl_mode");
	t = dbrec_type_parse(json_string_value(type));
	if (t >= 0 && json_is_string(ssl) && strcmp(json_string_value(ssl), "verify-full") == 0 &&
	    !dbrec_verify_full_supported((enum db_type)t))
		return fail(msg, msglen, "ssl_mode verify-full is not supported for %s: its client "
			    "library cannot connect to the checked address and verify the certificate "
			    "against the host name; use verify-ca with ssl_ca", json_string_value(type));
	if (json_is_string(user) && json_string_length(user) == 0 &&
	    !(json_is_string(type) && strcmp(json_string_value(type), "mongodb") == 0))
		return fail(msg, msglen, "username must be 1 to %d characters (it may be empty only "
			    "for mongodb, meaning no authentication)", DBREC_IDENT_MAX);
	return 0;
}

int dbrec_check_retarget(const struct dbrec_input *in, const json_t *old, char *msg, size_t msglen)
{
	static const char *const target[] = { "type", "host", "port", "username" };

	if (in->secrets[DB_SECRET_PASSWORD] != NULL)
		return 0;
	for (size_t i = 0; i < COUNT(target); i++) {
		const json_t *now = json_object_get(in->set, target[i]);

		if (now != NULL && !json_equal(now, json_object_get(old, target[i])))
			return fail(msg, msglen, "password is required when type, host, port or "
				    "username changes (%s changes here): the stored password is never "
				    "sent to a server it was not given for", target[i]);
	}
	return 0;
}

void dbrec_input_cleanup(struct dbrec_input *in)
{
	json_decref(in->set);
	memset(in, 0, sizeof(*in));
}

static int parse_collector(json_t *v, json_t **out, char *msg, size_t msglen)
{
	json_t *ver, *up, *eps;
	const char *k;
	json_t *val;

	if (!json_is_object(v))
		return fail(msg, msglen, "collector must be an object");
	json_object_foreach(v, k, val) {
		if (strcmp(k, "version") != 0 && strcmp(k, "uptime_seconds") != 0 &&
		    strcmp(k, "events_per_second") != 0)
			return fail(msg, msglen, "collector has an unknown field (version, "
				    "uptime_seconds, events_per_second)");
	}
	ver = json_object_get(v, "version");
	up = json_object_get(v, "uptime_seconds");
	eps = json_object_get(v, "events_per_second");
	if (check_text(ver, "collector.version", 64, msg, msglen) != 0)
		return -1;
	if (!json_is_integer(up) || json_integer_value(up) < 0)
		return fail(msg, msglen, "collector.uptime_seconds must be an integer >= 0");
	if (!json_is_number(eps) || json_number_value(eps) < 0 || json_number_value(eps) > 1e9)
		return fail(msg, msglen, "collector.events_per_second must be a number from 0 to 1e9");
	*out = json_pack("{s:O,s:O,s:f}", "version", ver, "uptime_seconds", up,
			 "events_per_second", json_number_value(eps));
	return *out ? 0 : fail(msg, msglen, "out of memory");
}

static int parse_health_checks(json_t *v, json_t **out, char *msg, size_t msglen)
{
	const char *k;
	json_t *val;

	if (!json_is_object(v))
		return fail(msg, msglen, "health_checks must be an object");
	json_object_foreach(v, k, val) {
		if (name_index(health_names, COUNT(health_names), k) < 0)
			return fail(msg, msglen, "health_checks has an unknown check (connectivity, "
				    "permissions, latency, disk_space)");
		if (!json_is_string(val) ||
		    name_index(health_levels, COUNT(health_levels), json_string_value(val)) < 0)
			return fail(msg, msglen, "health_checks.%s must be healthy, warning or critical", k);
	}
	*out = json_deep_copy(v);
	return *out ? 0 : fail(msg, msglen, "out of memory");
}

int dbrec_heartbeat_parse(json_t *body, json_t **out, char *msg, size_t msglen)
{
	json_t *hb = NULL, *part = NULL, *v;
	const char *k;

	json_object_foreach(body, k, v) {
		if (strcmp(k, "collector") != 0 && strcmp(k, "health_checks") != 0 &&
		    strcmp(k, "latency_ms") != 0)
			return fail(msg, msglen, "the heartbeat has an unknown field (collector, "
				    "health_checks, latency_ms)");
	}
	if ((v = json_object_get(body, "collector")) == NULL)
		return fail(msg, msglen, "collector is required");
	hb = json_object();
	if (hb == NULL)
		return fail(msg, msglen, "out of memory");
	if (parse_collector(v, &part, msg, msglen) != 0)
		goto bad;
	json_object_set_new(hb, "collector", part);
	if ((v = json_object_get(body, "health_checks")) != NULL) {
		if (parse_health_checks(v, &part, msg, msglen) != 0)
			goto bad;
		json_object_set_new(hb, "health_checks", part);
	}
	if ((v = json_object_get(body, "latency_ms")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 3600000) {
			fail(msg, msglen, "latency_ms must be a number from 0 to 3600000");
			goto bad;
		}
		json_object_set(hb, "latency_ms", v);
	}
	*out = hb;
	return 0;
bad:
	json_decref(hb);
	return -1;
}

const char *dbrec_heartbeat_status(const json_t *heartbeat)
{
	const json_t *c = json_object_get(json_object_get(heartbeat, "health_checks"), "connectivity");

	if (json_is_string(c) && strcmp(json_string_value(c), "critical") == 0)
		return "error";
	return "connected";
}

int dbrec_tags_parse_csv(const char *csv, json_t **out, char *msg, size_t msglen)
{
	json_t *tags = json_array();
	const char *p = csv;

	if (tags == NULL)
		return fail(msg, msglen, "out of memory");
	for (;;) {
		size_t n = strcspn(p, ",");
		char tag[DBREC_TAG_MAX + 1];
		json_t *t;
		size_t i;
		bool dup = false;

		if (n == 0 || n > DBREC_TAG_MAX)
			goto bad;
		memcpy(tag, p, n);
		tag[n] = '\0';
		if (!dbrec_tag_valid(tag))
			goto bad;
		json_array_foreach(tags, i, t)
			dup |= strcmp(json_string_value(t), tag) == 0;
		if (!dup) {
			if (json_array_size(tags) == DBREC_TAGS_MAX)
				goto bad;
			json_array_append_new(tags, json_string(tag));
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*out = tags;
	return 0;
bad:
	json_decref(tags);
	return fail(msg, msglen, "tags must be a comma-separated list of at most %d tags, "
		    "each 1 to %d of a-z 0-9 _ : -", DBREC_TAGS_MAX, DBREC_TAG_MAX);
}

int64_t dbrec_day_start_ms(int64_t now_ms)
{
	int64_t day = 86400000;

	return now_ms - ((now_ms % day) + day) % day;
}

int64_t dbrec_week_start_ms(int64_t now_ms)
{
	int64_t day = 86400000;
	int64_t start = dbrec_day_start_ms(now_ms);
	/* 1970-01-01 was a Thursday: days since the epoch + 3, mod 7, is days since Monday. */
	int64_t days = start / day;
	int64_t since_monday = ((days + 3) % 7 + 7) % 7;

	return start - since_monday * day;
}

/* Copies doc[key] (or null) into out under name. */
static void copy_field(json_t *out, const char *name, const json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	json_object_set_new(out, name, v ? json_deep_copy(v) : json_null());
}

json_t *dbrec_view_summary(const json_t *doc, const char *last_event_at)
{
	static const char *const keys[] = { "tenant_id", "name", "type", "host", "port",
					    "database", "username", "ssl_mode", "status",
					    "audit_status", "tags", "created_at", "updated_at" };
	json_t *out = json_object(), *names = json_array();
	json_t *secrets = json_object_get(doc, "secrets");

	if (out == NULL || names == NULL) {
		json_decref(out);
		json_decref(names);
		return NULL;
	}
	copy_field(out, "id", doc, "_id");
	for (size_t i = 0; i < COUNT(keys); i++)
		copy_field(out, keys[i], doc, keys[i]);
	for (int s = 0; s < DB_SECRET__COUNT; s++)
		if (json_object_get(secrets, secret_names[s]) != NULL)
			json_array_append_new(names, json_string(secret_names[s]));
	json_object_set_new(out, "stored_secrets", names);
	json_object_set_new(out, "last_event_at",
			    last_event_at ? json_string(last_event_at) : json_null());
	return out;
}

static json_t *health_view(const json_t *doc)
{
	const json_t *hb = json_object_get(doc, "heartbeat");
	const json_t *test = json_object_get(doc, "last_test");
	json_t *h = json_object(), *lat;

	if (h == NULL)
		return NULL;
	if (json_is_object(hb)) {
		lat = json_object_get(hb, "latency_ms");
		if (lat == NULL)
			lat = json_object_get(test, "latency_ms");
		json_object_set_new(h, "latency_ms", lat ? json_deep_copy(lat) : json_null());
		copy_field(h, "last_heartbeat", hb, "received_at");
		copy_field(h, "health_checks", hb, "health_checks");
	} else {
		lat = json_object_get(test, "latency_ms");
		json_object_set_new(h, "latency_ms", lat ? json_deep_copy(lat) : json_null());
		json_object_set_new(h, "last_heartbeat", json_null());
		json_object_set_new(h, "health_checks", json_null());
		json_object_set_new(h, "message",
				    json_string("No heartbeat has been received from a collector yet."));
	}
	return h;
}

json_t *dbrec_view_detail(const json_t *doc, const struct dbrec_stats *st,
			  const char *last_event_at)
{
	json_t *out = dbrec_view_summary(doc, last_event_at);
	json_t *test = json_object_get(doc, "last_test");

	if (out == NULL)
		return NULL;
	copy_field(out, "audit_options", doc, "audit_options");
	json_object_set_new(out, "stats",
			    json_pack("{s:I,s:I,s:I,s:I}",
				      "events_today", (json_int_t)st->events_today,
				      "events_this_week", (json_int_t)st->events_this_week,
				      "alerts_pending", (json_int_t)st->alerts_pending,
				      "policies_active", (json_int_t)st->policies_active));
	json_object_set_new(out, "health", health_view(doc));
	json_object_set_new(out, "last_test", test ? json_deep_copy(test) : json_null());
	return out;
}

json_t *dbrec_view_status(const json_t *doc, const json_t *last_event)
{
	const json_t *hb = json_object_get(doc, "heartbeat");
	json_t *out = json_object();

	if (out == NULL)
		return NULL;
	copy_field(out, "id", doc, "_id");
	copy_field(out, "connection_status", doc, "status");
	copy_field(out, "audit_status", doc, "audit_status");
	if (json_is_object(hb)) {
		copy_field(out, "collector", hb, "collector");
		copy_field(out, "health_checks", hb, "health_checks");
		copy_field(out, "last_heartbeat", hb, "received_at");
		copy_field(out, "latency_ms", hb, "latency_ms");
	} else {
		json_object_set_new(out, "collector", json_null());
		json_object_set_new(out, "health_checks", json_null());
		json_object_set_new(out, "last_heartbeat", json_null());
		json_object_set_new(out, "latency_ms", json_null());
		json_object_set_new(out, "message",
				    json_string("No heartbeat has been received from a collector yet; "
						"connection_status reflects the last connection test."));
	}
	json_object_set_new(out, "last_event", last_event ? json_deep_copy(last_event) : json_null());
	return out;
}
