/*
 * policy_eval: the per-worker cache of compiled policies, evaluation of an
 * ingested batch, and the alerts of what it stored (policy_eval.h).
 */
#include "policy_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "detect_counter.h"
#include "event.h"
#include "policy.h"
#include "principal.h"
#include "store.h"
#include "store_policies.h"
#include "util/log.h"
#include "util/timeutil.h"

#define CACHE_TENANTS 32

/* The compiled policies of one tenant, as loaded at loaded_ms (monotonic). */
struct tenant_set {
	char tenant[PRINCIPAL_TENANT_MAX_LEN + 1];
	int64_t loaded_ms;
	struct policy *v;
	size_t n;
	bool builtins_on;   /* some built-in is enabled */
};

struct policy_cache {
	struct tenant_set sets[CACHE_TENANTS];
	size_t n;
};

static void set_clear(struct tenant_set *t)
{
	for (size_t i = 0; i < t->n; i++)
		policy_cleanup(&t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

void policy_cache_free(struct policy_cache *pc)
{
	if (pc == NULL)
		return;
	for (size_t i = 0; i < pc->n; i++)
		set_clear(&pc->sets[i]);
	free(pc);
}

void policy_cache_forget(struct app *app, const char *tenant)
{
	struct policy_cache *pc = app->policies;

	for (size_t i = 0; pc != NULL && i < pc->n; i++)
		if (strcmp(pc->sets[i].tenant, tenant) == 0)
			pc->sets[i].loaded_ms = INT64_MIN;
}

static int by_created(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "created_at")) ?: "",
		       json_string_value(json_object_get(y, "created_at")) ?: "");

	return c ? c : strcmp(json_string_value(json_object_get(x, "id")) ?: "",
			      json_string_value(json_object_get(y, "id")) ?: "");
}

enum api_err policy_tenant_docs(struct store *s, const char *tenant, json_t **out)
{
	json_t *stored = NULL, *all = json_array(), *d, **own = NULL;
	size_t i, nown = 0;
	enum api_err rc = store_policy_list(s, tenant, &stored);

	if (rc != API_OK || all == NULL)
		goto out;
	own = calloc(json_array_size(stored) + 1, sizeof(*own));
	if (own == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	for (int k = 0; k < DETECT__COUNT; k++) {
		json_t *found = NULL;

		json_array_foreach(stored, i, d)
			if (strcmp(json_string_value(json_object_get(d, "id")) ?: "",
				   detect_policies[k].policy_id) == 0)
				found = d;
		json_array_append_new(all, found ? json_incref(found) :
				      policy_builtin_doc((enum detect_kind)k));
	}
	json_array_foreach(stored, i, d)
		if (!json_is_true(json_object_get(d, "builtin")))
			own[nown++] = d;
	qsort(own, nown, sizeof(*own), by_created);
	for (i = 0; i < nown; i++)
		json_array_append(all, own[i]);
out:
	free(own);
	json_decref(stored);
	if (rc != API_OK) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return all ? API_OK : API_ERR_INTERNAL;
}

enum api_err policy_builtins_default(struct store *s, const char *tenant, int64_t *n)
{
	json_t *stored = NULL, *d;
	size_t i;
	enum api_err rc = store_policy_list(s, tenant, &stored);

	*n = DETECT__COUNT;
	json_array_foreach(rc == API_OK ? stored : NULL, i, d)
		*n -= json_is_true(json_object_get(d, "builtin"));
	json_decref(stored);
	return rc;
}

static enum api_err set_load(struct store *s, struct tenant_set *t, const char *tenant)
{
	json_t *docs = NULL, *d;
	char msg[256];
	size_t i;
	enum api_err rc = policy_tenant_docs(s, tenant, &docs);

	if (rc != API_OK)
		return rc;
	set_clear(t);
	snprintf(t->tenant, sizeof(t->tenant), "%s", tenant);
	t->v = calloc(json_array_size(docs) + 1, sizeof(*t->v));
	if (t->v == NULL) {
		json_decref(docs);
		return API_ERR_INTERNAL;
	}
	json_array_foreach(docs, i, d) {
		struct policy *p = &t->v[t->n];

		if (!json_is_true(json_object_get(d, "enabled")))
			continue;
		if (policy_compile(d, p, msg, sizeof(msg)) != 0) {
			log_msg(LOG_WARN, "policies: %s of tenant %s not compiled: %s", p->id, tenant, msg);
			policy_cleanup(p);
			continue;
		}
		t->builtins_on |= p->builtin;
		t->n++;
	}
	t->loaded_ms = time_mono_ms();
	json_decref(docs);
	return API_OK;
}

/* The compiled set of tenant, loaded or reloaded when older than the bound. */
static enum api_err tenant_set(struct app *app, const char *tenant, struct tenant_set **out)
{
	struct policy_cache *pc = app->policies;
	struct tenant_set *t = NULL;
	int64_t now = time_mono_ms();
	enum api_err rc;

	if (pc == NULL && (pc = app->policies = calloc(1, sizeof(*pc))) == NULL)
		return API_ERR_INTERNAL;
	for (size_t i = 0; i < pc->n && t == NULL; i++)
		if (strcmp(pc->sets[i].tenant, tenant) == 0)
			t = &pc->sets[i];
	if (t != NULL && t->loaded_ms != INT64_MIN && now - t->loaded_ms < POLICY_CACHE_TTL_MS) {
		*out = t;
		return API_OK;
	}
	if (t == NULL) {
		/* A full cache drops its oldest set. */
		size_t k = 0;

		if (pc->n < CACHE_TENANTS) {
			k = pc->n++;
		} else {
			for (size_t i = 1; i < pc->n; i++)
				if (pc->sets[i].loaded_ms < pc->sets[k].loaded_ms)
					k = i;
		}
		t = &pc->sets[k];
		set_clear(t);
	}
	rc = set_load(app->store, t, tenant);
	if (rc != API_OK) {
		t->loaded_ms = INT64_MIN;
		return rc;
	}
	*out = t;
	return API_OK;
}

/* ---------------------------------------------------------------- derivation */

struct derived {
	struct event_in *v;
	size_t n, cap;
};

static struct event_in *derived_next(struct derived *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct event_in *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		d->v = v;
		d->cap = cap;
	}
	memset(&d->v[d->n], 0, sizeof(d->v[d->n]));
	return &d->v[d->n++];
}

/* The static name of an event type. */
static const char *type_name(const char *type)
{
	int i = event_type_index(type);

	return i >= 0 ? event_types[i].name : NULL;
}

/*
 * The event p derives from src: type, the rule and risk of the match, the
 * source's database and details (with threat_type for a detector), and an
 * id derived from the source event and the policy.
 */
static enum api_err derive(struct derived *dv, const struct event_in *src, const struct policy *p,
			   const char *type, const char *rule_id, int risk, const char *threat)
{
	struct event_in *d = derived_next(dv);
	size_t tl = strlen(src->tenant);

	if (d == NULL || (d->type = type_name(type)) == NULL)
		return API_ERR_INTERNAL;
	d->severity = p->severity;
	d->timestamp_ms = src->timestamp_ms;
	d->tenant = src->tenant;
	d->database_id = src->database_id;
	memcpy(d->database_name, src->database_name, sizeof(d->database_name));
	/* the source's audit_options, so that audit_apply_batch masks the copied statement too */
	event_set_database(d, NULL, src->db_type, src->db_audit_options);
	/* external_id points into xid once the event has its final place (set_external_ids) */
	snprintf(d->xid, sizeof(d->xid), "%s/policy:%s:%s", src->tenant, src->id, p->id);
	memcpy(d->action_id, src->action_id, sizeof(d->action_id));
	d->succeeded = src->succeeded;
	d->details = json_deep_copy(src->details);
	d->context = json_pack("{s:s,s:s,s:i}", "policy_id", p->id, "rule_id", rule_id,
			       "risk_score", risk);
	d->related = json_pack("[s]", src->id);
	if (d->details != NULL && threat != NULL)
		json_object_set_new(d->details, "threat_type", json_string(threat));
	if (d->details == NULL || d->context == NULL || d->related == NULL ||
	    event_id_derive(src->tenant, d->xid + tl + 1, d->id) != 0)
		return API_ERR_INTERNAL;
	return API_OK;
}

/* The database's sensitive_objects (its audit_options came with the batch's database check), or NULL. */
static const json_t *sensitive_objects(const struct event_in *e)
{
	json_t *so = json_object_get(e->db_audit_options, "sensitive_objects");

	return json_is_array(so) ? so : NULL;
}

/* The built-in policy of kind in t, when enabled there. */
static const struct policy *builtin_of(const struct tenant_set *t, enum detect_kind kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].builtin && t->v[i].kind == kind)
			return &t->v[i];
	return NULL;
}

static enum api_err eval_builtins(struct app *app, const struct tenant_set *t,
				  const struct event_in *e, struct derived *dv)
{
	struct detect_hit hits[DETECT__COUNT];
	struct detect_input in = { 0 };
	size_t nh;
	enum api_err rc = API_OK;

	in.type = e->type;
	in.details = e->details;
	in.sql = e->sql;
	if (e->sql != NULL && builtin_of(t, DETECT_SENSITIVE_ACCESS) != NULL)
		in.sensitive_objects = sensitive_objects(e);
	nh = detect_run(&in, hits, DETECT__COUNT - 1);
	/* The login-anomaly detector counts in the counters every worker and host shares. */
	if (builtin_of(t, DETECT_LOGIN_ANOMALY) != NULL &&
	    detect_login_check(app->detect, e->tenant, &in, time_now_ms(), &hits[nh]))
		nh++;
	for (size_t h = 0; rc == API_OK && h < nh; h++) {
		const struct policy *p = builtin_of(t, hits[h].kind);

		if (p == NULL || !policy_applies_to(p, e->database_id))
			continue;
		rc = derive(dv, e, p, detect_policies[hits[h].kind].event_type, hits[h].rule_id,
			    hits[h].risk_score, detect_policies[hits[h].kind].threat_type);
	}
	return rc;
}

static enum api_err eval_one(struct app *app, const struct event_in *e, struct derived *dv)
{
	struct tenant_set *t = NULL;
	enum api_err rc;

	if (strncmp(e->type, "policy.", 7) == 0)
		return API_OK;   /* derived events never trigger policies */
	if ((rc = tenant_set(app, e->tenant, &t)) != API_OK)
		return rc;
	for (size_t i = 0; rc == API_OK && i < t->n; i++) {
		const struct policy *p = &t->v[i];
		bool limit_hit = false;

		if (p->builtin || !policy_applies_to(p, e->database_id))
			continue;
		if (policy_match(p, e, &limit_hit))
			rc = derive(dv, e, p, p->alert ? "policy.violation" : "policy.match", p->rule_id,
				    p->risk_score, NULL);
		if (limit_hit)
			log_msg(LOG_WARN, "policies: %s of tenant %s not evaluated on event %s: a pattern "
				"hit its match limit", p->id, e->tenant, e->id);
	}
	if (rc == API_OK && t->builtins_on)
		rc = eval_builtins(app, t, e, dv);
	return rc;
}

enum api_err policy_eval_batch(struct app *app, struct event_in **ev, size_t n, size_t *total)
{
	struct derived dv = { 0 };
	struct event_in *all;
	enum api_err rc = API_OK;

	*total = n;
	for (size_t i = 0; rc == API_OK && i < n; i++)
		rc = eval_one(app, &(*ev)[i], &dv);
	if (rc == API_OK && dv.n > 0) {
		all = realloc(*ev, (n + dv.n) * sizeof(*all));
		if (all == NULL) {
			rc = API_ERR_INTERNAL;
		} else {
			memcpy(all + n, dv.v, dv.n * sizeof(*all));
			for (size_t i = n; i < n + dv.n; i++)
				all[i].external_id = all[i].xid + strlen(all[i].tenant) + 1;
			*ev = all;
			*total = n + dv.n;
			dv.n = 0;
		}
	}
	for (size_t i = 0; i < dv.n; i++)
		event_in_cleanup(&dv.v[i]);
	free(dv.v);
	return rc;
}

enum api_err policy_eval_store(struct store *s, struct event_in *ev, size_t total, int64_t now_ms,
			       int64_t lease_ms)
{
	enum api_err rc = API_OK;

	for (size_t i = 0; rc == API_OK && i < total; i += EVENT_MAX_BATCH) {
		size_t k = total - i < EVENT_MAX_BATCH ? total - i : EVENT_MAX_BATCH;

		rc = store_events_insert(s, ev + i, k, now_ms, lease_ms);
	}
	return rc;
}

/* ---------------------------------------------------------------- alerts */

static const struct policy *policy_by_id(struct app *app, const char *tenant, const char *id)
{
	struct tenant_set *t = NULL;

	if (tenant_set(app, tenant, &t) != API_OK)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].id, id) == 0)
			return &t->v[i];
	return NULL;
}

static enum api_err alert_of(struct app *app, const struct event_in *d, int64_t now_ms)
{
	char id[EVENT_ID_LEN + 1], at[TIME_RFC3339_LEN];
	const char *pid = json_string_value(json_object_get(d->context, "policy_id"));
	const char *user = json_string_value(json_object_get(d->details, "user"));
	const struct policy *p;
	json_t *a = NULL, *key = NULL;
	char *open_key = NULL;
	bool absorbed = false;
	enum api_err rc = API_ERR_INTERNAL;

	p = pid ? policy_by_id(app, d->tenant, pid) : NULL;
	if (p == NULL || !p->alert)
		return API_OK;
	if (event_id_random(id) != 0)
		return API_ERR_INTERNAL;
	memcpy(id, "alt_", 4);
	time_format_rfc3339(now_ms, at);
	a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:o,s:o,s:i,s:s,s:s,s:s,s:s,"
		      "s:n,s:n,s:n,s:n,s:n}",
		      "_id", id, "tenant_id", d->tenant, "status", "open", "severity", d->severity,
		      "title", p->name, "policy_id", p->id, "rule_id",
		      json_object_get(d->context, "rule_id"), "event_id", d->id,
		      "source_event_id", json_string_value(json_array_get(d->related, 0)),
		      "database_id", d->database_id ? json_string(d->database_id) : json_null(),
		      "user", user ? json_string(user) : json_null(), "count", 1,
		      "first_seen_at", at, "last_seen_at", at, "created_at", at, "updated_at", at,
		      "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "note");
	key = json_pack("[s,s,s?,s?]", d->tenant, p->id, d->database_id, user);
	open_key = key ? json_dumps(key, JSON_COMPACT) : NULL;
	if (a != NULL && open_key != NULL)
		rc = store_alert_record(app->store, a, open_key, &absorbed);
	free(open_key);
	json_decref(key);
	json_decref(a);
	return rc;
}

enum api_err policy_eval_alerts(struct app *app, struct event_in *ev, size_t n, size_t total)
{
	int64_t now = time_now_ms();
	enum api_err rc = API_OK;

	for (size_t i = n; rc == API_OK && i < total; i++)
		if (!ev[i].duplicate)
			rc = alert_of(app, &ev[i], now);
	return rc;
}
