/*
 * Fuzz target jwt: auth_jwt_verify with an HS256 key configured. An input
 * starting with '!' is used as the token itself (parsing, base64url,
 * structure); any other input is "header JSON\npayload JSON", which the
 * harness encodes and signs with the configured secret, so that the claim
 * checks behind the signature are reached too. An accepted token yields a
 * principal with at least one valid tenant.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/hmac.h>

#include "auth_jwt.h"
#include "config.h"
#include "principal.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct auth_jwt *J;

static size_t b64url(const unsigned char *in, size_t n, char *out)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = al[v >> 18];
		out[o++] = al[(v >> 12) & 63];
		out[o++] = al[(v >> 6) & 63];
		out[o++] = al[v & 63];
	}
	if (n - i == 1) {
		out[o++] = al[in[i] >> 2];
		out[o++] = al[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = al[v >> 10];
		out[o++] = al[(v >> 4) & 63];
		out[o++] = al[(v & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct config cfg;
	char path[] = "/tmp/dbaudit-fuzz-jwt-XXXXXX", err[256];
	const char *why = NULL;
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	if (fd < 0 || write(fd, SECRET, strlen(SECRET)) != (ssize_t)strlen(SECRET))
		abort();
	close(fd);
	if (config_load(&cfg, NULL, err, sizeof(err)) != 0)
		abort();
	free(cfg.jwt_hs256_secret_file);
	free(cfg.jwt_issuer);
	free(cfg.jwt_audience);
	cfg.jwt_hs256_secret_file = strdup(path);
	cfg.jwt_issuer = strdup("dbaudit-local");
	cfg.jwt_audience = strdup("dbaudit");
	cfg.jwt_cache_entries = 0;
	if (auth_jwt_create(&cfg, &J, &why) != API_OK)
		abort();
	unlink(path);
	return 0;
}

static void check(const char *token)
{
	struct principal p;
	const char *reason = NULL;

	memset(&p, 0, sizeof(p));
	if (auth_jwt_verify(J, token, &p, &reason) == API_OK) {
		if (p.ntenants == 0 || p.ntenants > PRINCIPAL_MAX_TENANTS ||
		    !principal_tenant_valid(p.tenants[0]))
			abort();
	} else if (reason == NULL) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	unsigned char mac[32];
	unsigned int maclen = 0;
	char *tok;
	size_t o;

	if (size > 6000)
		return 0;
	tok = malloc(size * 2 + 128);
	if (tok == NULL)
		return 0;
	if (size > 0 && data[0] == '!') {
		memcpy(tok, data + 1, size - 1);
		tok[size - 1] = '\0';
		check(tok);
		free(tok);
		return 0;
	}
	nl = memchr(data, '\n', size);
	if (nl == NULL) {
		free(tok);
		return 0;
	}
	o = b64url(data, (size_t)(nl - data), tok);
	tok[o++] = '.';
	o += b64url(nl + 1, size - (size_t)(nl + 1 - data), tok + o);
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, o, mac, &maclen);
	tok[o++] = '.';
	b64url(mac, maclen, tok + o);
	check(tok);
	free(tok);
	return 0;
}
