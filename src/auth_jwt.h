/*
 * auth_jwt: verification of JWT access tokens with libjwt, one pinned
 * algorithm per configured key (HS256 secret, RS256 or ES256 PEM public
 * keys selected by kid), claims checked here (libjwt checks none).
 */
#ifndef DBAUDIT_AUTH_JWT_H
#define DBAUDIT_AUTH_JWT_H

#include "api_err.h"

struct config;
struct principal;
struct auth_jwt;

/* Loads the keys the config names. *why names the bad setting on error. */
enum api_err auth_jwt_create(const struct config *cfg, struct auth_jwt **out, const char **why);

/* Frees j; NULL is a no-op. */
void auth_jwt_free(struct auth_jwt *j);

/*
 * Verifies token and fills *p. API_ERR_UNAUTHORIZED for any invalid token,
 * API_ERR_FORBIDDEN for a valid one without tenant claims. *reason gets a
 * short static code for the log.
 */
enum api_err auth_jwt_verify(struct auth_jwt *j, const char *token,
			     struct principal *p, const char **reason);

#endif
