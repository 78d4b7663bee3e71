/*
 * api_policies: /v1/policies (CONTRACT §6). A tenant's policies are the
 * built-in detectors (pol_builtin_<name>, not deletable, only enabled,
 * action, severity and database_ids changeable) and at most
 * POLICY_MAX_PER_TENANT of its own. A change is in force at once on the
 * worker that made it and within POLICY_CACHE_TTL_MS on every other.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_handlers.h"
#include "event.h"
#include "policy.h"
#include "policy_eval.h"
#include "principal.h"
#include "store.h"
#include "store_policies.h"
#include "util/log.h"
#include "util/timeutil.h"

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n < 5 || n > POLICY_ID_MAX || strncmp(id, "pol_", 4) != 0)
		return false;
	for (; *id; id++)
		if (!islower((unsigned char)*id) && !isdigit((unsigned char)*id) && *id != '_')
			return false;
	return true;
}

static bool is_builtin(const char *id)
{
	for (int k = 0; k < DETECT__COUNT; k++)
		if (strcmp(detect_policies[k].policy_id, id) == 0)
			return true;
	return false;
}

/*
 * Policy id of one of the principal's tenants: the stored document (or a
 * built-in's defaults) in *doc and the tenant in *tenant.
 */
static enum api_err find(struct ctx *c, const char *id, json_t **doc, const char **tenant)
{
	enum api_err rc = API_ERR_NOT_FOUND;

	*doc = NULL;
	if (!id_ok(id))
		return api_fail(c, API_ERR_NOT_FOUND, "no such policy");
	for (size_t i = 0; i < c->who->ntenants && rc == API_ERR_NOT_FOUND; i++) {
		*tenant = c->who->tenants[i];
		rc = store_policy_get(c->app->store, *tenant, id, doc);
		if (rc == API_ERR_NOT_FOUND && is_builtin(id)) {
			for (int k = 0; k < DETECT__COUNT; k++)
				if (strcmp(detect_policies[k].policy_id, id) == 0)
					*doc = policy_builtin_doc((enum detect_kind)k);
			rc = *doc ? API_OK : API_ERR_INTERNAL;
		}
	}
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "no such policy");
	return rc;
}

static json_t *view(json_t *doc, const char *tenant)
{
	json_t *out = policy_public(doc);

	if (out != NULL)
		json_object_set_new(out, "tenant_id", json_string(tenant));
	return out;
}

enum api_err api_policies_list(struct ctx *c)
{
	static const char *const allowed[] = { "page", "per_page", NULL };
	int64_t page, per_page, skip;
	json_t *data = json_array(), *docs = NULL, *d;
	size_t total = 0, i;
	enum api_err rc;

	if ((rc = api_query_only(c, allowed)) != API_OK ||
	    (rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "per_page", 1, 100, 20, &per_page)) != API_OK)
		goto out;
	if (data == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	skip = (page - 1) * per_page;
	for (size_t t = 0; t < c->who->ntenants; t++) {
		rc = policy_tenant_docs(c->app->store, c->who->tenants[t], &docs);
		if (rc != API_OK)
			goto out;
		json_array_foreach(docs, i, d) {
			if ((int64_t)total >= skip && (int64_t)json_array_size(data) < per_page)
				json_array_append_new(data, view(d, c->who->tenants[t]));
			total++;
		}
		json_decref(docs);
		docs = NULL;
	}
	api_respond_page(c, data, total, page, per_page);
	data = NULL;
out:
	json_decref(docs);
	json_decref(data);
	return rc;
}

/* How many policies of its own tenant has (built-ins apart). */
static enum api_err own_count(struct ctx *c, const char *tenant, size_t *n)
{
	json_t *docs = NULL, *d;
	size_t i;
	enum api_err rc = store_policy_list(c->app->store, tenant, &docs);

	*n = 0;
	json_array_foreach(rc == API_OK ? docs : NULL, i, d)
		*n += !json_is_true(json_object_get(d, "builtin"));
	json_decref(docs);
	return rc;
}

enum api_err api_policies_create(struct ctx *c)
{
	char id[EVENT_ID_LEN + 1];
	const char *tenant;
	json_t *body = NULL, *doc = NULL;
	size_t n = 0;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = api_body_object(c, &body)) != API_OK)
		return rc;
	if (json_object_get(body, "tenant_id") != NULL &&
	    !json_is_string(json_object_get(body, "tenant_id"))) {
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "tenant_id must be a string");
		goto out;
	}
	if ((rc = api_write_tenant(c, json_string_value(json_object_get(body, "tenant_id")),
				   &tenant)) != API_OK)
		goto out;
	if (event_id_random(id) != 0) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	memcpy(id, "pol_", 4);
	if (policy_validate(body, NULL, id, time_now_ms(), &doc, c->msg, sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	if ((rc = own_count(c, tenant, &n)) != API_OK)
		goto out;
	if (n >= POLICY_MAX_PER_TENANT) {
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "a tenant holds at most %d policies "
			      "(built-ins apart); delete one first", POLICY_MAX_PER_TENANT);
		goto out;
	}
	json_object_set_new(doc, "tenant_id", json_string(tenant));
	if ((rc = store_policy_put(c->app->store, tenant, doc, STORE_PUT_CREATE)) != API_OK)
		goto out;
	policy_cache_forget(c->app, tenant);
	log_msg(LOG_INFO, "policy %s created by %s in tenant %s", id, c->who->id, tenant);
	http_response_json(c->res, 201, view(doc, tenant));
out:
	json_decref(doc);
	json_decref(body);
	return rc;
}

enum api_err api_policies_get(struct ctx *c)
{
	const char *tenant = NULL;
	json_t *doc = NULL;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = find(c, c->params[0], &doc, &tenant)) != API_OK)
		return rc;
	http_response_json(c->res, 200, view(doc, tenant));
	json_decref(doc);
	return API_OK;
}

enum api_err api_policies_patch(struct ctx *c)
{
	const char *tenant = NULL;
	json_t *body = NULL, *old = NULL, *doc = NULL;
	bool builtin;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = find(c, c->params[0], &old, &tenant)) != API_OK)
		return rc;
	if ((rc = api_body_object(c, &body)) != API_OK)
		goto out;
	if (json_object_get(body, "tenant_id") != NULL) {
		rc = api_fail(c, API_ERR_INVALID_PARAMETER, "tenant_id of a policy cannot change");
		goto out;
	}
	builtin = json_is_true(json_object_get(old, "builtin"));
	if (policy_validate(body, old, c->params[0], time_now_ms(), &doc, c->msg,
			    sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	json_object_set_new(doc, "tenant_id", json_string(tenant));
	if (builtin && json_is_null(json_object_get(doc, "created_at")))
		json_object_set(doc, "created_at", json_object_get(doc, "updated_at"));
	rc = store_policy_put(c->app->store, tenant, doc, builtin ? STORE_PUT_UPSERT :
			      STORE_PUT_REPLACE);
	if (rc == API_ERR_NOT_FOUND) {
		rc = api_fail(c, rc, "no such policy");
		goto out;
	}
	if (rc != API_OK)
		goto out;
	policy_cache_forget(c->app, tenant);
	http_response_json(c->res, 200, view(doc, tenant));
out:
	json_decref(doc);
	json_decref(old);
	json_decref(body);
	return rc;
}

enum api_err api_policies_delete(struct ctx *c)
{
	const char *tenant = NULL;
	json_t *doc = NULL;
	enum api_err rc;

	if ((rc = api_query_only(c, (const char *const[]){ NULL })) != API_OK ||
	    (rc = find(c, c->params[0], &doc, &tenant)) != API_OK)
		return rc;
	json_decref(doc);
	if (is_builtin(c->params[0]))
		return api_fail(c, API_ERR_CONFLICT, "a built-in policy cannot be deleted; "
				"disable it with PATCH {\"enabled\": false}");
	rc = store_policy_delete(c->app->store, tenant, c->params[0]);
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "no such policy");
	if (rc != API_OK)
		return rc;
	policy_cache_forget(c->app, tenant);
	log_msg(LOG_INFO, "policy %s deleted by %s", c->params[0], c->who->id);
	http_response_json(c->res, 204, NULL);
	return API_OK;
}
