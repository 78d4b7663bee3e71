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
#include "principal.h"

struct config;
struct store;
struct request;

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
