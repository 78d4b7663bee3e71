/*
 * auth: turns the credentials of a request (an API key or a JWT, given as
 * "Authorization: Bearer" or "X-Api-Key") into a principal: who is calling,
 * which tenants it may see, which scopes it holds, which plan it is on.
 * Runs before any handler; handlers only read the principal.
 */
#ifndef DBAUDIT_AUTH_H
#define DBAUDIT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_err.h"

struct config;
struct store;
struct request;

#define AUTH_MAX_TENANTS 16
#define AUTH_TENANT_MAX_LEN 64

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
	char tenants[AUTH_MAX_TENANTS][AUTH_TENANT_MAX_LEN + 1];
	size_t ntenants;
	unsigned scopes;             /* enum scope bits */
	enum plan plan;
	bool is_jwt;
};

/* Bit of a scope name ("read:events"), or 0 when unknown. */
unsigned auth_scope_bit(const char *name);

/* Name of a single scope bit, or NULL. */
const char *auth_scope_name(unsigned bit);

/*
 * Parses a list of scope names separated by any of seps ("all" = every
 * scope). Returns 0 and *bits, or -1 on an unknown or empty name.
 */
int auth_scopes_parse(const char *list, const char *seps, unsigned *bits);

/* Plan from its name; -1 when unknown. */
int auth_plan_parse(const char *name);
const char *auth_plan_name(enum plan p);

/* True when s is a valid tenant id: 1-64 of [A-Za-z0-9_-]. */
bool auth_tenant_valid(const char *s);

/* True when p holds tenant t. */
bool auth_has_tenant(const struct principal *p, const char *t);

/*
 * API keys look like "dba_<16 hex key id>_<64 hex secret>". Generates one
 * from the CSPRNG: token (size >= AUTH_KEY_TOKEN_LEN), its id "key_<hex>"
 * (size >= 24) and the SHA-256 hex of the token (size 65). Returns 0 or -1.
 */
#define AUTH_KEY_TOKEN_LEN 86
int auth_key_generate(char *token, char *key_id, char *hash_hex);

/* SHA-256 hex (65 bytes with NUL) of s[0..n). Returns 0, or -1 (out = ""). */
int auth_sha256_hex(const char *s, size_t n, char *out);

/*
 * Checks the shape of an API key token[0..n) (85 bytes: "dba_", 16
 * lowercase hex, "_", 64 bytes of secret whose content only the digest
 * check judges) and writes its id "key_<16 hex>" to key_id (size >= 21).
 * Returns 0, or -1 when token is not an API key.
 */
int auth_key_parse_id(const char *token, size_t n, char *key_id);

struct auth;

/*
 * Creates the auth layer: loads the JWT verification keys the config names
 * and binds the key store (borrowed, as is cfg: both must outlive *out).
 * On error *why says which setting is wrong. One auth per process: it
 * holds caches and OpenSSL contexts and is not thread-safe.
 */
enum api_err auth_create(const struct config *cfg, struct store *store,
			 struct auth **out, const char **why);

/* Frees a; NULL is a no-op. */
void auth_free(struct auth *a);

/*
 * Authenticates req: "Authorization: Bearer <API key or JWT>", else
 * "X-Api-Key: <API key>". API_OK fills *p. API_ERR_UNAUTHORIZED for missing,
 * malformed, unknown, revoked, expired or forged credentials;
 * API_ERR_FORBIDDEN for a valid token without tenant claims;
 * API_ERR_UNAVAILABLE when the key store cannot be reached. *reason gets a
 * short static code for the log (never the credential).
 */
enum api_err auth_authenticate(struct auth *a, const struct request *req,
			       struct principal *p, const char **reason);

/*
 * Writes pending last-used times of cached keys to the store: called after
 * every request, it scans the cache at most once a second and writes a key
 * at most once a minute, so no request pays for a store write of its own.
 * auth_free() writes whatever is still pending.
 */
void auth_flush(struct auth *a);

#endif
