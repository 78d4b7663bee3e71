/*
 * policy: validation, compilation and evaluation of policies (policy.h).
 * Patterns are PCRE2 (UTF mode), compiled once per worker with a match
 * context that bounds the work of one match; JIT is used when the platform
 * has it (the match and heap limits still apply to JIT matching, the depth
 * limit only to the interpreter).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy.h"

#include <ctype.h>
#include <stdarg.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util/timeutil.h"

enum rule_field { FIELD_TYPE, FIELD_SEVERITY, FIELD_DATABASE_ID, FIELD_DATABASE_NAME,
		  FIELD_DETAIL };

struct policy_rule {
	enum rule_field field;
	char detail[65];              /* FIELD_DETAIL: the key in details */
	enum policy_op op;
	json_t *value;                /* owned */
	bool is_time;                 /* gt/lt on an RFC 3339 time */
	int64_t time_ms;
	pcre2_code *re;               /* matches */
	pcre2_match_context *mctx;
	pcre2_match_data *md;
};

static const char *const op_names[] = { "eq", "ne", "in", "contains", "matches", "gt", "lt" };

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

static int op_parse(const char *s)
{
	for (size_t i = 0; s != NULL && i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcmp(op_names[i], s) == 0)
			return (int)i;
	return -1;
}

static bool ident_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* The field of a rule, or -1; *detail receives a details key. */
static int field_parse(const char *f, const char **detail)
{
	static const char *const fixed[] = { "type", "severity", "database_id", "database_name" };

	*detail = NULL;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(f, fixed[i]) == 0)
			return (int)i;
	if (strncmp(f, "details.", 8) == 0 && ident_ok(f + 8, 64)) {
		*detail = f + 8;
		return FIELD_DETAIL;
	}
	return -1;
}

static bool scalar_ok(json_t *v)
{
	if (json_is_string(v))
		return strlen(json_string_value(v)) <= POLICY_VALUE_MAX;
	return json_is_number(v) || json_is_boolean(v);
}

/* ---------------------------------------------------------------- patterns */

/* The characters of the probe inputs on which a pattern must finish within the limits. */
static const char *const probe_chars = "a0 x.-_/A";

/* Frees the compiled pattern of r. */
static void pattern_free(struct policy_rule *r)
{
	pcre2_match_data_free(r->md);
	pcre2_match_context_free(r->mctx);
	pcre2_code_free(r->re);
	r->md = NULL;
	r->mctx = NULL;
	r->re = NULL;
}

/* Runs r's pattern on s: 1 match, 0 no match, -1 a limit or another error. */
static int pattern_run(const struct policy_rule *r, const char *s, size_t n)
{
	int rc = pcre2_match(r->re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, r->md, r->mctx);

	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

static int pattern_compile(struct policy_rule *r, const char *pat, char *msg, size_t msglen,
			   const char *where)
{
	char probe[64 + 1 + 95 + 1];
	PCRE2_UCHAR why[160];
	PCRE2_SIZE off = 0;
	int err = 0;

	r->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
	if (r->re == NULL) {
		pcre2_get_error_message(err, why, sizeof(why));
		return fail(msg, msglen, "%s: the pattern does not compile at offset %zu: %s", where,
			    (size_t)off, (const char *)why);
	}
	(void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* the interpreter otherwise */
	r->mctx = pcre2_match_context_create(NULL);
	r->md = pcre2_match_data_create(1, NULL);
	if (r->mctx == NULL || r->md == NULL)
		return fail(msg, msglen, "out of memory");
	pcre2_set_match_limit(r->mctx, POLICY_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, POLICY_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, POLICY_HEAP_LIMIT_KIB);
	/*
	 * Each probe: a run of one character, then '!' and every printable
	 * ASCII character (so a required literal such as the y of (x+x+)+y
	 * is there and the matcher has to try).
	 */
	for (const char *c = probe_chars; *c; c++) {
		memset(probe, *c, 64);
		probe[64] = '!';
		for (int k = 0; k < 95; k++)
			probe[65 + k] = (char)(' ' + k);
		probe[160] = '\0';
		if (pattern_run(r, probe, 160) < 0 || pattern_run(r, probe, 65) < 0 ||
		    pattern_run(r, probe, 64) < 0)
			return fail(msg, msglen, "%s: the pattern is too costly (it exceeds the match "
				    "limits on a probe input); simplify nested quantifiers", where);
	}
	return 0;
}

/* ---------------------------------------------------------------- validation */

static int rule_check(json_t *rule, size_t i, char *msg, size_t msglen)
{
	char where[32];
	const char *field, *detail, *k;
	json_t *v, *value;
	int op;

	snprintf(where, sizeof(where), "rules[%zu]", i);
	if (!json_is_object(rule))
		return fail(msg, msglen, "%s must be an object {field, op, value}", where);
	json_object_foreach(rule, k, v)
		if (strcmp(k, "field") != 0 && strcmp(k, "op") != 0 && strcmp(k, "value") != 0)
			return fail(msg, msglen, "%s: unknown field \"%.40s\"", where, k);
	field = json_string_value(json_object_get(rule, "field"));
	if (field == NULL || field_parse(field, &detail) < 0)
		return fail(msg, msglen, "%s: field must be type, severity, database_id, "
			    "database_name or details.<name> (1 to 64 of A-Z a-z 0-9 _ -)", where);
	op = op_parse(json_string_value(json_object_get(rule, "op")));
	if (op < 0)
		return fail(msg, msglen, "%s: op must be one of eq, ne, in, contains, matches, gt, lt",
			    where);
	value = json_object_get(rule, "value");
	if (value == NULL)
		return fail(msg, msglen, "%s: value is required", where);
	switch ((enum policy_op)op) {
	case POLICY_EQ:
	case POLICY_NE:
		if (!scalar_ok(value))
			return fail(msg, msglen, "%s: %s takes a string (at most %d bytes), a number or "
				    "a boolean", where, op_names[op], POLICY_VALUE_MAX);
		break;
	case POLICY_IN: {
		size_t j;

		if (!json_is_array(value) || json_array_size(value) == 0 ||
		    json_array_size(value) > POLICY_IN_MAX)
			return fail(msg, msglen, "%s: in takes an array of 1 to %d values", where,
				    POLICY_IN_MAX);
		json_array_foreach(value, j, v)
			if (!scalar_ok(v))
				return fail(msg, msglen, "%s: value[%zu] must be a string, a number or a "
					    "boolean", where, j);
		break;
	}
	case POLICY_CONTAINS:
		if (!json_is_string(value) || json_string_length(value) == 0 ||
		    json_string_length(value) > POLICY_VALUE_MAX)
			return fail(msg, msglen, "%s: contains takes a string of 1 to %d bytes", where,
				    POLICY_VALUE_MAX);
		break;
	case POLICY_MATCHES: {
		struct policy_rule r = { 0 };
		int rc;

		if (!json_is_string(value) || json_string_length(value) == 0 ||
		    json_string_length(value) > POLICY_PATTERN_MAX)
			return fail(msg, msglen, "%s: matches takes a PCRE2 pattern of 1 to %d bytes",
				    where, POLICY_PATTERN_MAX);
		rc = pattern_compile(&r, json_string_value(value), msg, msglen, where);
		pattern_free(&r);
		if (rc != 0)
			return -1;
		break;
	}
	case POLICY_GT:
	case POLICY_LT: {
		int64_t ms;

		if (!json_is_number(value) &&
		    !(json_is_string(value) && time_parse_rfc3339(json_string_value(value), &ms) == 0))
			return fail(msg, msglen, "%s: %s takes a number or an RFC 3339 time", where,
				    op_names[op]);
		break;
	}
	}
	return 0;
}

static int default_risk(const char *severity)
{
	if (strcmp(severity, "critical") == 0)
		return 90;
	return strcmp(severity, "warning") == 0 ? 50 : 10;
}

static bool allowed(const char *k, bool builtin)
{
	static const char *const all[] = { "name", "description", "enabled", "database_ids",
		"action", "severity", "risk_score", "rule_id", "rules", "tenant_id" };
	static const char *const bi[] = { "enabled", "database_ids", "action", "severity" };

	for (size_t i = 0; !builtin && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i], k) == 0)
			return true;
	for (size_t i = 0; builtin && i < sizeof(bi) / sizeof(bi[0]); i++)
		if (strcmp(bi[i], k) == 0)
			return true;
	return false;
}

/* Checks each member of body and copies it into doc. */
static int members_check(json_t *body, json_t *doc, bool builtin, char *msg, size_t msglen)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v) {
		if (!allowed(k, builtin))
			return fail(msg, msglen, builtin ? "a built-in policy may change only enabled, "
				    "action, severity and database_ids (not \"%.40s\")" :
				    "unknown field \"%.40s\"", k);
		if (strcmp(k, "tenant_id") == 0)
			continue;
		if (strcmp(k, "name") == 0 && (!json_is_string(v) || json_string_length(v) == 0 ||
					      json_string_length(v) > POLICY_NAME_MAX))
			return fail(msg, msglen, "name must be a string of 1 to %d bytes", POLICY_NAME_MAX);
		if (strcmp(k, "description") == 0 && !json_is_null(v) &&
		    (!json_is_string(v) || json_string_length(v) > POLICY_DESCRIPTION_MAX))
			return fail(msg, msglen, "description must be a string of at most %d bytes",
				    POLICY_DESCRIPTION_MAX);
		if (strcmp(k, "enabled") == 0 && !json_is_boolean(v))
			return fail(msg, msglen, "enabled must be a boolean");
		if (strcmp(k, "action") == 0 && (!json_is_string(v) ||
		    (strcmp(json_string_value(v), "alert") != 0 && strcmp(json_string_value(v), "log") != 0)))
			return fail(msg, msglen, "action must be alert or log");
		if (strcmp(k, "severity") == 0 &&
		    (!json_is_string(v) || !event_severity_valid(json_string_value(v))))
			return fail(msg, msglen, "severity must be info, warning or critical");
		if (strcmp(k, "risk_score") == 0 && (!json_is_integer(v) || json_integer_value(v) < 0 ||
						    json_integer_value(v) > 100))
			return fail(msg, msglen, "risk_score must be an integer from 0 to 100");
		if (strcmp(k, "rule_id") == 0 && (!json_is_string(v) ||
						 !ident_ok(json_string_value(v), POLICY_ID_MAX)))
			return fail(msg, msglen, "rule_id must be 1 to %d of A-Z a-z 0-9 _ -", POLICY_ID_MAX);
		if (strcmp(k, "database_ids") == 0) {
			size_t i;
			json_t *d;

			if (!json_is_array(v) || json_array_size(v) > POLICY_DATABASE_IDS_MAX)
				return fail(msg, msglen, "database_ids must be an array of at most %d ids",
					    POLICY_DATABASE_IDS_MAX);
			json_array_foreach(v, i, d)
				if (!json_is_string(d) || !ident_ok(json_string_value(d), EVENT_DATABASE_ID_MAX))
					return fail(msg, msglen, "database_ids[%zu] must be a database id", i);
		}
		if (strcmp(k, "rules") == 0) {
			size_t i;
			json_t *r;

			if (!json_is_array(v) || json_array_size(v) == 0)
				return fail(msg, msglen, "rules must be a non-empty array");
			if (json_array_size(v) > POLICY_MAX_RULES)
				return fail(msg, msglen, "rules: at most %d rules (rules[%d] is one too many)",
					    POLICY_MAX_RULES, POLICY_MAX_RULES);
			json_array_foreach(v, i, r)
				if (rule_check(r, i, msg, msglen) != 0)
					return -1;
		}
		json_object_set(doc, k, v);
	}
	return 0;
}

int policy_validate(json_t *body, json_t *old, const char *id, int64_t now_ms, json_t **out,
		    char *msg, size_t msglen)
{
	char ts[TIME_RFC3339_LEN], rid[POLICY_ID_MAX + 16];
	bool builtin = old != NULL && json_is_true(json_object_get(old, "builtin"));
	const char *old_sev = old ? json_string_value(json_object_get(old, "severity")) : NULL;
	json_t *doc = old ? json_deep_copy(old) : json_object();
	const char *sev;

	*out = NULL;
	if (doc == NULL)
		return fail(msg, msglen, "out of memory");
	if (members_check(body, doc, builtin, msg, msglen) != 0)
		goto bad;
	if (old == NULL) {
		if (json_object_get(doc, "name") == NULL) {
			fail(msg, msglen, "name is required");
			goto bad;
		}
		if (json_object_get(doc, "rules") == NULL) {
			fail(msg, msglen, "rules is required (a non-empty array)");
			goto bad;
		}
		snprintf(rid, sizeof(rid), "rule_%s", strncmp(id, "pol_", 4) == 0 ? id + 4 : id);
		time_format_rfc3339(now_ms, ts);
		json_object_set_new(doc, "id", json_string(id));
		json_object_set_new(doc, "builtin", json_false());
		json_object_set_new(doc, "created_at", json_string(ts));
		if (json_object_get(doc, "rule_id") == NULL)
			json_object_set_new(doc, "rule_id", json_string(rid));
		if (json_object_get(doc, "description") == NULL)
			json_object_set_new(doc, "description", json_null());
		if (json_object_get(doc, "enabled") == NULL)
			json_object_set_new(doc, "enabled", json_true());
		if (json_object_get(doc, "database_ids") == NULL)
			json_object_set_new(doc, "database_ids", json_array());
		if (json_object_get(doc, "action") == NULL)
			json_object_set_new(doc, "action", json_string("alert"));
		if (json_object_get(doc, "severity") == NULL)
			json_object_set_new(doc, "severity", json_string("warning"));
	}
	sev = json_string_value(json_object_get(doc, "severity"));
	/* A risk score left at its severity's default follows the severity. */
	if (json_object_get(body, "risk_score") == NULL &&
	    (old == NULL || (old_sev != NULL && json_integer_value(json_object_get(old, "risk_score")) ==
			     default_risk(old_sev))))
		json_object_set_new(doc, "risk_score", json_integer(default_risk(sev ? sev : "info")));
	time_format_rfc3339(now_ms, ts);
	json_object_set_new(doc, "updated_at", json_string(ts));
	*out = doc;
	return 0;
bad:
	json_decref(doc);
	return -1;
}

json_t *policy_builtin_doc(enum detect_kind kind)
{
	const struct detect_policy *d = &detect_policies[kind];
	char rid[64];

	snprintf(rid, sizeof(rid), "rule_builtin_%s", d->name);
	return json_pack("{s:s,s:b,s:s,s:s,s:b,s:[],s:s,s:s,s:i,s:s,s:[],s:n,s:n}", "id", d->policy_id,
			 "builtin", 1, "name", d->name, "description", "built-in detector (docs/detection.md)",
			 "enabled", 1, "database_ids", "action", "alert", "severity", d->severity,
			 "risk_score", default_risk(d->severity), "rule_id", rid, "rules",
			 "created_at", "updated_at");
}

/* ---------------------------------------------------------------- compilation */

static int rule_compile(json_t *r, size_t i, struct policy_rule *out, char *msg, size_t msglen)
{
	char where[32];
	const char *detail;
	json_t *value = json_object_get(r, "value");

	snprintf(where, sizeof(where), "rules[%zu]", i);
	out->field = (enum rule_field)field_parse(json_string_value(json_object_get(r, "field")), &detail);
	if (detail != NULL)
		snprintf(out->detail, sizeof(out->detail), "%s", detail);
	out->op = (enum policy_op)op_parse(json_string_value(json_object_get(r, "op")));
	out->value = json_incref(value);
	if ((out->op == POLICY_GT || out->op == POLICY_LT) && json_is_string(value)) {
		out->is_time = true;
		if (time_parse_rfc3339(json_string_value(value), &out->time_ms) != 0)
			return fail(msg, msglen, "%s: not an RFC 3339 time", where);
	}
	if (out->op == POLICY_MATCHES)
		return pattern_compile(out, json_string_value(value), msg, msglen, where);
	return 0;
}

int policy_compile(json_t *doc, struct policy *p, char *msg, size_t msglen)
{
	json_t *rules = json_object_get(doc, "rules"), *r;
	const char *sev = json_string_value(json_object_get(doc, "severity"));
	size_t i;

	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", json_string_value(json_object_get(doc, "id")) ?: "");
	snprintf(p->rule_id, sizeof(p->rule_id), "%s",
		 json_string_value(json_object_get(doc, "rule_id")) ?: "");
	p->severity = sev && strcmp(sev, "critical") == 0 ? "critical" :
		      sev && strcmp(sev, "warning") == 0 ? "warning" : "info";
	p->risk_score = (int)json_integer_value(json_object_get(doc, "risk_score"));
	p->enabled = json_is_true(json_object_get(doc, "enabled"));
	p->alert = strcmp(json_string_value(json_object_get(doc, "action")) ?: "", "log") != 0;
	p->builtin = json_is_true(json_object_get(doc, "builtin"));
	for (int k = 0; p->builtin && k < DETECT__COUNT; k++)
		if (strcmp(detect_policies[k].policy_id, p->id) == 0)
			p->kind = (enum detect_kind)k;
	p->name = strdup(json_string_value(json_object_get(doc, "name")) ?: "");
	p->database_ids = json_incref(json_object_get(doc, "database_ids"));
	if (p->database_ids == NULL)
		p->database_ids = json_array();
	p->nrules = json_array_size(rules);
	p->rules = calloc(p->nrules ? p->nrules : 1, sizeof(*p->rules));
	if (p->name == NULL || p->rules == NULL || p->database_ids == NULL)
		return fail(msg, msglen, "out of memory");
	json_array_foreach(rules, i, r)
		if (rule_compile(r, i, &p->rules[i], msg, msglen) != 0)
			return -1;
	return 0;
}

void policy_cleanup(struct policy *p)
{
	for (size_t i = 0; p->rules != NULL && i < p->nrules; i++) {
		pattern_free(&p->rules[i]);
		json_decref(p->rules[i].value);
	}
	free(p->rules);
	free(p->name);
	json_decref(p->database_ids);
	memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------------- evaluation */

/* A field's value: a string (s) or, for details, any JSON value (j). */
struct fval {
	const char *s;
	json_t *j;
};

static struct fval field_value(const struct policy_rule *r, const struct event_in *ev)
{
	struct fval v = { NULL, NULL };

	switch (r->field) {
	case FIELD_TYPE: v.s = ev->type; break;
	case FIELD_SEVERITY: v.s = ev->severity; break;
	case FIELD_DATABASE_ID: v.s = ev->database_id; break;
	case FIELD_DATABASE_NAME: v.s = ev->database_name[0] ? ev->database_name : NULL; break;
	case FIELD_DETAIL:
		v.j = json_object_get(ev->details, r->detail);
		if (json_is_string(v.j))
			v.s = json_string_value(v.j);
		break;
	}
	return v;
}

static bool is_num(json_t *j)
{
	return json_is_number(j);
}

static bool scalar_eq(struct fval f, json_t *want)
{
	if (json_is_string(want))
		return f.s != NULL && strcmp(f.s, json_string_value(want)) == 0;
	if (is_num(want))
		return is_num(f.j) && json_number_value(f.j) == json_number_value(want);
	if (json_is_boolean(want))
		return json_is_boolean(f.j) && json_is_true(f.j) == json_is_true(want);
	return false;
}

static bool compare(const struct policy_rule *r, struct fval f, bool *limit_hit)
{
	double a, b;
	int64_t ms;
	size_t i;
	json_t *v;

	switch (r->op) {
	case POLICY_EQ: return scalar_eq(f, r->value);
	case POLICY_NE: return !scalar_eq(f, r->value);
	case POLICY_IN:
		json_array_foreach(r->value, i, v)
			if (scalar_eq(f, v))
				return true;
		return false;
	case POLICY_CONTAINS: return f.s != NULL && strstr(f.s, json_string_value(r->value)) != NULL;
	case POLICY_MATCHES: {
		int rc;

		if (f.s == NULL)
			return false;
		rc = pattern_run(r, f.s, strlen(f.s));
		if (rc < 0)
			*limit_hit = true;
		return rc == 1;
	}
	case POLICY_GT:
	case POLICY_LT:
		if (r->is_time) {
			if (f.s == NULL || time_parse_rfc3339(f.s, &ms) != 0)
				return false;
			return r->op == POLICY_GT ? ms > r->time_ms : ms < r->time_ms;
		}
		if (!is_num(f.j))
			return false;
		a = json_number_value(f.j);
		b = json_number_value(r->value);
		return r->op == POLICY_GT ? a > b : a < b;
	}
	return false;
}

bool policy_match(const struct policy *p, const struct event_in *ev, bool *limit_hit)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (!compare(&p->rules[i], field_value(&p->rules[i], ev), limit_hit))
			return false;
	return p->nrules > 0;
}

bool policy_applies_to(const struct policy *p, const char *database_id)
{
	size_t i;
	json_t *v;

	if (json_array_size(p->database_ids) == 0)
		return true;
	if (database_id == NULL)
		return false;
	json_array_foreach(p->database_ids, i, v)
		if (strcmp(json_string_value(v) ?: "", database_id) == 0)
			return true;
	return false;
}

json_t *policy_public(json_t *doc)
{
	json_t *out = json_deep_copy(doc);

	if (out == NULL)
		return NULL;
	json_object_del(out, "_id");
	return out;
}
