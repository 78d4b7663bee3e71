/*
 * auth_jwt: JWT verification. Until the verifier lands, every JWT is
 * refused: a token is never accepted unverified.
 */
#include "auth_jwt.h"

#include <stdlib.h>

#include "auth.h"
#include "config.h"

struct auth_jwt {
	int unused;
};

enum api_err auth_jwt_create(const struct config *cfg, struct auth_jwt **out, const char **why)
{
	(void)cfg;
	*out = calloc(1, sizeof(**out));
	if (*out == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	return API_OK;
}

void auth_jwt_free(struct auth_jwt *j)
{
	free(j);
}

enum api_err auth_jwt_verify(struct auth_jwt *j, const char *token,
			     struct principal *p, const char **reason)
{
	(void)j;
	(void)token;
	(void)p;
	*reason = "jwt_unsupported";
	return API_ERR_UNAUTHORIZED;
}
