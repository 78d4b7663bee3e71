/*
 * api_auth: GET /v1/auth/whoami, what the server makes of the caller's
 * credentials (principal, tenants, scopes, plan). Any valid credential may
 * ask; the answer holds nothing the caller does not already hold.
 */
#include "api_handlers.h"
#include "principal.h"

enum api_err api_whoami_get(struct ctx *c)
{
	static const char *const no_params[] = { NULL };
	const struct principal *p = c->who;
	json_t *tenants = json_array(), *scopes = json_array(), *body = NULL;
	enum api_err rc = API_ERR_INTERNAL;

	rc = api_query_only(c, no_params);
	if (rc != API_OK)
		goto out;
	rc = API_ERR_INTERNAL;
	if (tenants == NULL || scopes == NULL)
		goto out;
	for (size_t i = 0; i < p->ntenants; i++)
		if (json_array_append_new(tenants, json_string(p->tenants[i])) != 0)
			goto out;
	for (unsigned bit = 1; bit & SCOPE_ALL; bit <<= 1)
		if ((p->scopes & bit) && json_array_append_new(scopes, json_string(principal_scope_name(bit))) != 0)
			goto out;
	/* p->id is "key_<hex>" or "jwt:<sub>" with sub printable ASCII: valid UTF-8. */
	body = json_pack("{s:s,s:s,s:O,s:O,s:s}", "principal", p->id,
			 "kind", p->is_jwt ? "jwt" : "api_key", "tenants", tenants,
			 "scopes", scopes, "plan", principal_plan_name(p->plan));
	if (body == NULL)
		goto out;
	http_response_json(c->res, 200, body);
	rc = API_OK;
out:
	json_decref(tenants);
	json_decref(scopes);
	return rc;
}
