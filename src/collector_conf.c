/* collector_conf: the collector's configuration file. */
#include "collector_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	return s;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst == NULL ? -1 : 0;
}

struct int_key {
	const char *name;
	size_t off;
	int64_t min;
	int64_t max;
};

static const struct int_key int_keys[] = {
	{ "batch_size", offsetof(struct collector_conf, batch_size), 1, 1000 },
	{ "buffer_events", offsetof(struct collector_conf, buffer_events), 1, 10000000 },
	{ "flush_ms", offsetof(struct collector_conf, flush_ms), 0, 600000 },
	{ "poll_ms", offsetof(struct collector_conf, poll_ms), 1, 60000 },
	{ "idle_ms", offsetof(struct collector_conf, idle_ms), 1, 600000 },
	{ "heartbeat_s", offsetof(struct collector_conf, heartbeat_s), 1, 86400 },
	{ "max_backoff_s", offsetof(struct collector_conf, max_backoff_s), 1, 3600 },
	{ "timeout_ms", offsetof(struct collector_conf, timeout_ms), 100, 600000 },
};

static int global_key(struct collector_conf *c, const char *k, const char *v,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		if (strcmp(k, int_keys[i].name) == 0) {
			int64_t *dst = (int64_t *)((char *)c + int_keys[i].off);

			if (str_parse_int(v, int_keys[i].min, int_keys[i].max, dst) != 0) {
				snprintf(err, errlen, "%s must be an integer from %lld to %lld", k,
					 (long long)int_keys[i].min, (long long)int_keys[i].max);
				return -1;
			}
			return 0;
		}
	}
	if (strcmp(k, "api_url") == 0)
		return set_str(&c->api_url, v);
	if (strcmp(k, "api_key_file") == 0)
		return set_str(&c->api_key_file, v);
	if (strcmp(k, "state_dir") == 0)
		return set_str(&c->state_dir, v);
	if (strcmp(k, "log_level") == 0)
		return set_str(&c->log_level, v);
	snprintf(err, errlen, "unknown key \"%s\"", k);
	return -1;
}

static int source_key(struct collector_source_conf *s, const char *k, const char *v,
		      char *err, size_t errlen)
{
	if (strcmp(k, "format") == 0) {
		if (collector_format_parse(v, &s->format) != 0) {
			snprintf(err, errlen, "format must be jsonlog, csvlog, stderr or mariadb_audit");
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "timezone") == 0) {
		if (strcmp(v, "UTC") != 0 && strcmp(v, "local") != 0) {
			snprintf(err, errlen, "timezone must be UTC or local");
			return -1;
		}
		s->utc = strcmp(v, "UTC") == 0;
		return 0;
	}
	if (strcmp(k, "database_id") == 0)
		return set_str(&s->database_id, v);
	if (strcmp(k, "path") == 0)
		return set_str(&s->path, v);
	if (strcmp(k, "pattern") == 0)
		return set_str(&s->pattern, v);
	if (strcmp(k, "log_line_prefix") == 0) {
		size_t n = strlen(v);

		/* quotes keep the prefix's trailing space */
		if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
			char *u = strndup(v + 1, n - 2);

			if (u == NULL)
				return -1;
			free(s->line_prefix);
			s->line_prefix = u;
			return 0;
		}
		return set_str(&s->line_prefix, v);
	}
	if (strcmp(k, "api_url") == 0)
		return set_str(&s->api_url, v);
	if (strcmp(k, "api_key_file") == 0)
		return set_str(&s->api_key_file, v);
	snprintf(err, errlen, "unknown key \"%s\" in a source", k);
	return -1;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static int new_source(struct collector_conf *c, const char *name, char *err, size_t errlen)
{
	struct collector_source_conf *s;

	if (!name_ok(name)) {
		snprintf(err, errlen, "a source name is 1-64 of a-z 0-9 _ -");
		return -1;
	}
	for (size_t i = 0; i < c->nsources; i++)
		if (strcmp(c->sources[i].name, name) == 0) {
			snprintf(err, errlen, "source \"%s\" is defined twice", name);
			return -1;
		}
	s = realloc(c->sources, (c->nsources + 1) * sizeof(*s));
	if (s == NULL)
		return -1;
	c->sources = s;
	s = &c->sources[c->nsources++];
	memset(s, 0, sizeof(*s));
	s->format = COLLECTOR_PG_JSONLOG;
	s->utc = true;
	return set_str(&s->name, name);
}

static int check(struct collector_conf *c, char *err, size_t errlen)
{
	if (c->nsources == 0) {
		snprintf(err, errlen, "no [source NAME] section");
		return -1;
	}
	for (size_t i = 0; i < c->nsources; i++) {
		struct collector_source_conf *s = &c->sources[i];
		const char *id = s->database_id;

		if (id == NULL || id[0] == '\0' || strlen(id) > 64 ||
		    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
			    strlen(id)) {
			snprintf(err, errlen, "source %s: database_id is required (1-64 of A-Z a-z 0-9 _ -)", s->name);
			return -1;
		}
		if (s->path == NULL) {
			snprintf(err, errlen, "source %s: path is required", s->name);
			return -1;
		}
		if ((s->api_url == NULL ? c->api_url : s->api_url) == NULL ||
		    (s->api_key_file == NULL ? c->api_key_file : s->api_key_file) == NULL) {
			snprintf(err, errlen, "source %s: api_url and api_key_file are required", s->name);
			return -1;
		}
		if (s->line_prefix != NULL && s->format != COLLECTOR_PG_STDERR) {
			snprintf(err, errlen, "source %s: log_line_prefix is for format stderr only", s->name);
			return -1;
		}
	}
	return 0;
}

enum api_err collector_conf_load(struct collector_conf *c, const char *path,
				 char *err, size_t errlen)
{
	FILE *f;
	char line[4096], why[256];
	int lineno = 0;
	enum api_err rc = API_ERR_INVALID_PARAMETER;

	memset(c, 0, sizeof(*c));
	c->batch_size = 500;
	c->buffer_events = 20000;
	c->flush_ms = 200;
	c->poll_ms = 100;
	c->idle_ms = 300;
	c->heartbeat_s = 30;
	c->max_backoff_s = 60;
	c->timeout_ms = 10000;
	if (set_str(&c->state_dir, "/var/lib/dbaudit-collector") != 0 ||
	    set_str(&c->log_level, "info") != 0)
		return API_ERR_INTERNAL;
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	why[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = trim(line), *eq, *k, *v;
		int bad;

		lineno++;
		if (s[0] == '\0' || s[0] == '#')
			continue;
		if (s[0] == '[') {
			size_t n = strlen(s);

			if (n < 10 || strncmp(s, "[source ", 8) != 0 || s[n - 1] != ']') {
				snprintf(why, sizeof(why), "a section is \"[source NAME]\"");
				goto bad;
			}
			s[n - 1] = '\0';
			if (new_source(c, trim(s + 8), why, sizeof(why)) != 0)
				goto bad;
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(why, sizeof(why), "expected \"key = value\"");
			goto bad;
		}
		*eq = '\0';
		k = trim(s);
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		v = trim(v);
		if (c->nsources == 0)
			bad = global_key(c, k, v, why, sizeof(why));
		else
			bad = source_key(&c->sources[c->nsources - 1], k, v, why, sizeof(why));
		if (bad != 0)
			goto bad;
	}
	fclose(f);
	if (check(c, err, errlen) != 0)
		return rc;
	return API_OK;
bad:
	fclose(f);
	snprintf(err, errlen, "%s:%d: %s", path, lineno, why[0] != '\0' ? why : "out of memory");
	return rc;
}

void collector_conf_cleanup(struct collector_conf *c)
{
	free(c->api_url);
	free(c->api_key_file);
	free(c->state_dir);
	free(c->log_level);
	for (size_t i = 0; i < c->nsources; i++) {
		struct collector_source_conf *s = &c->sources[i];

		free(s->name);
		free(s->database_id);
		free(s->path);
		free(s->pattern);
		free(s->line_prefix);
		free(s->api_url);
		free(s->api_key_file);
	}
	free(c->sources);
	memset(c, 0, sizeof(*c));
}
