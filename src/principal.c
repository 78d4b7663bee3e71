/*
 * principal: scope and plan names, tenant id checks.
 */
#include "principal.h"

#include <stdlib.h>
#include <string.h>

static const char *const scope_names[] = {
	"read:databases", "write:databases", "read:events", "write:events",
	"read:policies", "write:policies", "read:alerts", "write:alerts",
	"read:webhooks", "write:webhooks", "read:audit-activity",
};

static const char *const plan_names[] = { "free", "pro", "enterprise" };

unsigned principal_scope_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (strcmp(scope_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *principal_scope_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (bit == 1u << i)
			return scope_names[i];
	return NULL;
}

int principal_scopes_parse(const char *list, const char *seps, unsigned *bits)
{
	char *copy = strdup(list), *save = NULL, *tok;
	unsigned acc = 0;
	int rc = 0;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
		unsigned b = strcmp(tok, "all") == 0 ? SCOPE_ALL : principal_scope_bit(tok);

		if (b == 0) {
			rc = -1;
			break;
		}
		acc |= b;
	}
	free(copy);
	if (rc == 0 && acc == 0)
		rc = -1;
	if (rc == 0)
		*bits = acc;
	return rc;
}

int principal_plan_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(plan_names[i], name) == 0)
			return i;
	return -1;
}

const char *principal_plan_name(enum plan p)
{
	return plan_names[p];
}

bool principal_tenant_valid(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= PRINCIPAL_TENANT_MAX_LEN ||
		    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return n > 0;
}

bool principal_has_tenant(const struct principal *p, const char *t)
{
	for (size_t i = 0; i < p->ntenants; i++)
		if (strcmp(p->tenants[i], t) == 0)
			return true;
	return false;
}
