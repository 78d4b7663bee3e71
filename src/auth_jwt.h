/*
 * auth_jwt: verification of JWT access tokens (JWS compact form), one
 * pinned algorithm per configured key: the HS256 secret, RS256 or ES256
 * PEM public keys selected by kid. Signatures are checked with OpenSSL
 * against keys parsed once at start; every claim is checked here.
 * docs/auth.md describes the accepted tokens.
 */
#ifndef DBAUDIT_AUTH_JWT_H
#define DBAUDIT_AUTH_JWT_H

#include <stdint.h>

#include "api_err.h"
#include "input_limits.h"

struct config;
struct principal;
struct auth_jwt;

/* AUTH_JWT_MAX_LEN, the longest token accepted, is in input_limits.h. */

/* Longest accepted "sub" claim: the principal id is "jwt:<sub>". */
#define AUTH_JWT_SUB_MAX_LEN 64

/*
 * Loads the keys the config names (jwt_hs256_secret_file, jwt_rs256_keys,
 * jwt_es256_keys) and the expected issuer, audience and leeway. No key at
 * all is valid: every JWT is then refused. On error returns
 * API_ERR_INVALID_PARAMETER, logs the details (setting, kid, path) and sets
 * *why to a static sentence naming the bad setting.
 */
enum api_err auth_jwt_create(const struct config *cfg, struct auth_jwt **out, const char **why);

/* Frees j; NULL is a no-op. */
void auth_jwt_free(struct auth_jwt *j);

/*
 * Pins the clock exp, nbf and iat are checked against (and the cache's
 * expiry) at now_s, seconds since the epoch; 0 returns to the real clock.
 * For tests, so that none sleeps for a token to expire.
 */
void auth_jwt_set_clock(struct auth_jwt *j, int64_t now_s);

/*
 * Verifies token (NUL-terminated) and fills *p. API_ERR_UNAUTHORIZED for
 * any malformed, forged, expired, not-yet-valid or misaddressed token;
 * API_ERR_FORBIDDEN for a valid one without tenant claims. *reason gets a
 * short static code for the log, never a part of the token. Not
 * thread-safe: j holds scratch state (one verifier per process or thread).
 */
enum api_err auth_jwt_verify(struct auth_jwt *j, const char *token,
			     struct principal *p, const char **reason);

#endif
