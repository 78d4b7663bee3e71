/* config: key = value file with environment overrides. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	const char *def;
	int64_t min, max;
};

#define STR(n, d) { #n, OPT_STR, offsetof(struct config, n), d, 0, 0 }
#define INT(n, d, lo, hi) { #n, OPT_INT, offsetof(struct config, n), d, lo, hi }
#define BOOL(n, d) { #n, OPT_BOOL, offsetof(struct config, n), d, 0, 1 }

static const struct opt opts[] = {
	STR(store, ""),
	STR(sqlite_synchronous, "full"),
	STR(mongodb_uri, "mongodb://127.0.0.1:27017/"),
	STR(mongodb_database, "dbaudit"),
	STR(write_concern, "majority"),
	INT(store_timeout_ms, "2000", 100, 600000),
	STR(jwt_hs256_secret_file, ""),
	STR(jwt_rs256_keys, ""),
	STR(jwt_es256_keys, ""),
	STR(jwt_issuer, "dbaudit-local"),
	STR(jwt_audience, "dbaudit"),
	INT(jwt_leeway_s, "30", 0, 600),
	INT(jwt_cache_entries, "128", 0, 4096),
	STR(crypto_key_file, ""),
	STR(crypto_key, ""),
	STR(crypto_key_id, "k1"),
	STR(crypto_old_keys, ""),
	INT(probe_timeout_ms, "5000", 1000, 30000),
	BOOL(probe_allow_loopback, "false"),
	STR(probe_slot_dir, "/run/dbaudit/probe-slots"),
	INT(probe_max_per_principal, "2", 1, 64),
	INT(heartbeat_stale_s, "300", 30, 86400),
	BOOL(webhook_allow_private, "false"),
	INT(max_body_bytes, "5242880", 1024, 64 * 1024 * 1024),
	INT(key_cache_ttl_s, "30", 0, 60),
	INT(health_cache_ms, "500", 0, 10000),
	INT(cursor_gap_lease_ms, "30000", 1000, 3600000),
	INT(ratelimit_window_s, "60", 1, 3600),
	INT(ratelimit_free, "1000", 0, 10000000),
	INT(ratelimit_pro, "10000", 0, 10000000),
	INT(ratelimit_enterprise, "0", 0, 10000000),
	INT(ratelimit_events_list, "1000", 0, 10000000),
	INT(ratelimit_events_get, "2000", 0, 10000000),
	INT(ratelimit_kaudit, "60", 0, 10000000),
	INT(ratelimit_auth_failures, "600", 0, 10000000),
	STR(ratelimit_file, ""),
	INT(ratelimit_slots, "65536", 1024, 16777216),
	STR(ratelimit_redis_url, ""),
	INT(ratelimit_redis_timeout_ms, "100", 5, 5000),
	STR(ratelimit_redis_fail, "open"),
	INT(detect_login_window_s, "300", 1, 86400),
	INT(detect_login_per_source, "20", 1, 1000000),
	INT(detect_login_per_user, "10", 1, 1000000),
	STR(detect_counter_file, ""),
	INT(detect_counter_slots, "16384", 256, 16777216),
	STR(metrics_file, ""),
	STR(cors_origins, ""),
	BOOL(debug_routes, "false"),
	STR(public_base_url, ""),
	INT(stream_threads, "256", 1, 8192),
	INT(stream_store_clients, "4", 1, 64),
	INT(stream_max_per_principal, "10", 1, 10000),
	STR(stream_slot_dir, "/tmp/dbaudit-stream-slots"),
	INT(stream_heartbeat_ms, "15000", 100, 300000),
	INT(stream_retry_ms, "3000", 100, 600000),
	INT(stream_poll_ms, "20", 1, 10000),
	INT(stream_buffer_events, "20000", 100, 10000000),
	STR(log_level, "info"),
};

static int opt_set(struct config *c, const struct opt *o, const char *val,
		   char *err, size_t errlen)
{
	char *base = (char *)c + o->offset;
	int64_t v;

	switch (o->type) {
	case OPT_STR: {
		char *copy = strdup(val);

		if (copy == NULL)
			goto oom;
		free(*(char **)base);
		*(char **)base = copy;
		return 0;
	}
	case OPT_INT:
		if (str_parse_int(val, o->min, o->max, &v) != 0) {
			snprintf(err, errlen, "%s must be an integer from %lld to %lld",
				 o->name, (long long)o->min, (long long)o->max);
			return -1;
		}
		*(int64_t *)base = v;
		return 0;
	case OPT_BOOL:
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 || strcmp(val, "yes") == 0)
			*(bool *)base = true;
		else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 || strcmp(val, "no") == 0)
			*(bool *)base = false;
		else {
			snprintf(err, errlen, "%s must be true or false", o->name);
			return -1;
		}
		return 0;
	}
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static const struct opt *opt_find(const char *name)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char line[4096];
	int lineno = 0, rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open config %s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *p = trim(line), *eq, *key, *val;
		const struct opt *o;

		lineno++;
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		o = opt_find(key);
		if (o == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
			rc = -1;
			break;
		}
		rc = opt_set(c, o, val, err, errlen);
	}
	fclose(f);
	return rc;
}

/*
 * public_base_url goes verbatim into Link headers: a scheme, a host and
 * maybe a path, nothing that could end the <...> of a link or start a
 * query. A trailing '/' is dropped, so targets join with "/v1/...".
 */
static int config_check_base_url(char *u)
{
	size_t n = strlen(u), scheme;

	if (n == 0)
		return 0;
	if (strncmp(u, "http://", 7) == 0)
		scheme = 7;
	else if (strncmp(u, "https://", 8) == 0)
		scheme = 8;
	else
		return -1;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("\"'<>?#\\", *p))
			return -1;
	while (n > scheme && u[n - 1] == '/')
		u[--n] = '\0';
	return n > scheme && u[scheme] != '/' ? 0 : -1;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (opt_set(c, &opts[i], opts[i].def, err, errlen) != 0)
			return -1;
	if (path != NULL && config_load_file(c, path, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char env[64] = "DBAUDIT_";
		const char *v;
		size_t k = strlen(env);

		for (const char *n = opts[i].name; *n && k < sizeof(env) - 1; n++)
			env[k++] = (char)toupper((unsigned char)*n);
		env[k] = '\0';
		v = getenv(env);
		if (v != NULL && opt_set(c, &opts[i], v, err, errlen) != 0)
			return -1;
	}
	if (c->store[0] != '\0' && strcmp(c->store, "mongodb") != 0 &&
	    strncmp(c->store, "sqlite:", 7) != 0 &&
	    strncmp(c->store, "mongodb://", 10) != 0 && strncmp(c->store, "mongodb+srv://", 14) != 0) {
		snprintf(err, errlen, "store must be sqlite:PATH, a mongodb:// URI or mongodb (mongodb_uri)");
		return -1;
	}
	if (strcmp(c->store, "sqlite:") == 0) {
		snprintf(err, errlen, "store = sqlite: needs the path of the database file");
		return -1;
	}
	if (strcmp(c->sqlite_synchronous, "full") != 0 && strcmp(c->sqlite_synchronous, "normal") != 0 &&
	    strcmp(c->sqlite_synchronous, "extra") != 0) {
		snprintf(err, errlen, "sqlite_synchronous must be full, extra or normal");
		return -1;
	}
	if (config_check_base_url(c->public_base_url) != 0) {
		snprintf(err, errlen, "public_base_url must be empty or http(s)://host[:port][/path] "
			 "without spaces, quotes, '<', '>', '?' or '#'");
		return -1;
	}
	/* A writer must be done (or failed) long before its sequences are claimed. */
	if (c->cursor_gap_lease_ms < 2 * c->store_timeout_ms) {
		snprintf(err, errlen, "cursor_gap_lease_ms must be at least twice store_timeout_ms");
		return -1;
	}
	return 0;
}

void config_cleanup(struct config *c)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (opts[i].type == OPT_STR) {
			char **p = (char **)((char *)c + opts[i].offset);

			free(*p);
			*p = NULL;
		}
	}
}

const char *config_path_from_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], "--config=", 9) == 0)
			return argv[i] + 9;
	}
	return getenv("DBAUDIT_CONFIG");
}

char *config_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	size_t n;

	if (f == NULL)
		return NULL;
	data = malloc(65537);
	if (data == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(data, 1, 65536, f);
	fclose(f);
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
}
