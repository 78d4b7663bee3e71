/*
 * principal: the vocabulary of who is asking. Scopes, plans, tenant ids and
 * the principal struct that auth fills and every layer above reads. A leaf:
 * it depends on nothing of the project.
 */
#ifndef DBAUDIT_PRINCIPAL_H
#define DBAUDIT_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>

#define PRINCIPAL_MAX_TENANTS 16
#define PRINCIPAL_TENANT_MAX_LEN 64

enum scope {
	SCOPE_READ_DATABASES = 1u << 0,
	SCOPE_WRITE_DATABASES = 1u << 1,
	SCOPE_READ_EVENTS = 1u << 2,
	SCOPE_WRITE_EVENTS = 1u << 3,
	SCOPE_READ_POLICIES = 1u << 4,
	SCOPE_WRITE_POLICIES = 1u << 5,
	SCOPE_READ_ALERTS = 1u << 6,
	SCOPE_WRITE_ALERTS = 1u << 7,
	SCOPE_READ_WEBHOOKS = 1u << 8,
	SCOPE_WRITE_WEBHOOKS = 1u << 9,
	SCOPE_READ_AUDIT_ACTIVITY = 1u << 10,
	SCOPE_ALL = (1u << 11) - 1,
};

enum plan { PLAN_FREE, PLAN_PRO, PLAN_ENTERPRISE };

struct principal {
	char id[80];                 /* "key_<hex>" or "jwt:<sub>" */
	char tenants[PRINCIPAL_MAX_TENANTS][PRINCIPAL_TENANT_MAX_LEN + 1];
	size_t ntenants;
	unsigned scopes;             /* enum scope bits */
	enum plan plan;
	bool is_jwt;
};

/* Bit of a scope name ("read:events"), or 0 when unknown. */
unsigned principal_scope_bit(const char *name);

/* Name of a single scope bit, or NULL. */
const char *principal_scope_name(unsigned bit);

/*
 * Parses a list of scope names separated by any of seps ("all" = every
 * scope). Returns 0 and *bits, or -1 on an unknown or empty name.
 */
int principal_scopes_parse(const char *list, const char *seps, unsigned *bits);

/* Plan from its name; -1 when unknown. */
int principal_plan_parse(const char *name);
const char *principal_plan_name(enum plan p);

/* True when s is a valid tenant id: 1-64 of [A-Za-z0-9_-]. */
bool principal_tenant_valid(const char *s);

/* True when p holds tenant t. */
bool principal_has_tenant(const struct principal *p, const char *t);

#endif
