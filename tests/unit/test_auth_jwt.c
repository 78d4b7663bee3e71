/*
 * Unit tests of auth_jwt: one test per libjwt trap and per claim rule.
 * Tokens are built here with OpenSSL (and, for interoperability, with
 * libjwt), against keys generated for the run in a temporary directory.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth.h"
#include "auth_jwt.h"
#include "config.h"
#include "util/timeutil.h"

#define SECRET "0123456789abcdef0123456789abcdef-local-test-secret"

struct fx {
	char dir[64];
	char hs_path[128], rsa_path[128], rsa2_path[128], ec_path[128];
	EVP_PKEY *rsa, *rsa2, *ec;
	char *rsa_pub_pem, *ec_priv_pem, *rsa_priv_pem;
	struct config cfg;
	struct auth_jwt *j;
};

static struct fx *F;

/* ------------------------------------------------------------ helpers */

static char *b64url(const unsigned char *in, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(n * 4 / 3 + 4), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = al[(v >> 6) & 63];
		*o++ = al[v & 63];
	}
	if (n - i == 1) {
		*o++ = al[in[i] >> 2];
		*o++ = al[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		*o++ = al[v >> 10];
		*o++ = al[(v >> 4) & 63];
		*o++ = al[(v & 15) << 2];
	}
	*o = '\0';
	return out;
}

static char *str_join3(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
	char *s = malloc(n);

	snprintf(s, n, "%s.%s.%s", a, b, c);
	return s;
}

enum how { HS, RS, ES, RAW_HMAC_PEM, NONE };

/* Signature of input by how; returns malloc'ed bytes in *sig. */
static size_t sign(enum how how, EVP_PKEY *key, const char *input, unsigned char **sig)
{
	size_t len = 0;

	if (how == HS || how == RAW_HMAC_PEM) {
		const char *k = how == HS ? SECRET : F->rsa_pub_pem;
		unsigned int l = 0;

		*sig = malloc(32);
		HMAC(EVP_sha256(), k, (int)strlen(k), (const unsigned char *)input, strlen(input), *sig, &l);
		return l;
	}
	if (how == NONE) {
		*sig = malloc(1);
		return 0;
	}
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char *der;

		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
		assert_int_equal(EVP_DigestSign(md, NULL, &len, (const unsigned char *)input, strlen(input)), 1);
		der = malloc(len);
		assert_int_equal(EVP_DigestSign(md, der, &len, (const unsigned char *)input, strlen(input)), 1);
		EVP_MD_CTX_free(md);
		if (how == RS) {
			*sig = der;
			return len;
		}
		/* ES256: DER to r||s */
		{
			const unsigned char *p = der;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
			const BIGNUM *r, *s;

			ECDSA_SIG_get0(es, &r, &s);
			*sig = calloc(1, 64);
			BN_bn2binpad(r, *sig, 32);
			BN_bn2binpad(s, *sig + 32, 32);
			ECDSA_SIG_free(es);
			free(der);
			return 64;
		}
	}
}

/* A compact JWS of header and payload (JSON text), signed as how says. */
static char *mint(enum how how, EVP_PKEY *key, const char *header, const char *payload)
{
	char *h = b64url((const unsigned char *)header, strlen(header));
	char *p = b64url((const unsigned char *)payload, strlen(payload));
	char *input = str_join3(h, p, ""), *tok, *s64;
	unsigned char *sig;
	size_t n;

	input[strlen(input) - 1] = '\0';   /* "h.p." to "h.p" */
	n = sign(how, key, input, &sig);
	s64 = b64url(sig, n);
	tok = str_join3(h, p, s64);
	free(h);
	free(p);
	free(input);
	free(sig);
	free(s64);
	return tok;
}

/* Standard claims with exp/nbf relative to now and extra JSON members. */
static char *claims(long exp_in, const char *extra)
{
	size_t n = strlen(extra) + 512;
	char *s = malloc(n);
	long now = (long)(time_now_ms() / 1000);

	snprintf(s, n,
		 "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"sub\":\"user-1\","
		 "\"exp\":%ld,\"tenant_id\":\"acme\",\"scope\":\"read:events write:events openid\"%s%s}",
		 now + exp_in, extra[0] ? "," : "", extra);
	return s;
}

static enum api_err verify(const char *tok, struct principal *p, const char **reason)
{
	*reason = NULL;
	return auth_jwt_verify(F->j, tok, p, reason);
}

/* Asserts that the token built from header and claims is refused with code and reason. */
static void expect(enum how how, EVP_PKEY *key, const char *header, const char *payload,
		   enum api_err code, const char *reason)
{
	struct principal p;
	const char *why;
	char *tok = mint(how, key, header, payload);

	assert_int_equal(verify(tok, &p, &why), code);
	if (reason != NULL)
		assert_string_equal(why, reason);
	free(tok);
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static char *pem_public(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_PUBKEY(b, k);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static char *pem_private(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
}

/* (Re)creates the verifier from F->cfg. */
static enum api_err reload(void)
{
	const char *why = NULL;

	auth_jwt_free(F->j);
	F->j = NULL;
	return auth_jwt_create(&F->cfg, &F->j, &why);
}

static int setup(void **state)
{
	char err[256], *pem;

	F = calloc(1, sizeof(*F));
	snprintf(F->dir, sizeof(F->dir), "/tmp/dbaudit-jwt-XXXXXX");
	assert_non_null(mkdtemp(F->dir));
	snprintf(F->hs_path, sizeof(F->hs_path), "%s/hs.secret", F->dir);
	snprintf(F->rsa_path, sizeof(F->rsa_path), "%s/rsa.pem", F->dir);
	snprintf(F->rsa2_path, sizeof(F->rsa2_path), "%s/rsa2.pem", F->dir);
	snprintf(F->ec_path, sizeof(F->ec_path), "%s/ec.pem", F->dir);
	write_file(F->hs_path, SECRET "\n");
	F->rsa = EVP_RSA_gen(2048);
	F->rsa2 = EVP_RSA_gen(2048);
	F->ec = EVP_EC_gen("P-256");
	assert_non_null(F->rsa);
	assert_non_null(F->ec);
	F->rsa_pub_pem = pem_public(F->rsa);
	F->rsa_priv_pem = pem_private(F->rsa);
	F->ec_priv_pem = pem_private(F->ec);
	write_file(F->rsa_path, F->rsa_pub_pem);
	pem = pem_public(F->rsa2);
	write_file(F->rsa2_path, pem);
	free(pem);
	pem = pem_public(F->ec);
	write_file(F->ec_path, pem);
	free(pem);
	assert_int_equal(config_load(&F->cfg, NULL, err, sizeof(err)), 0);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	auth_jwt_free(F->j);
	config_cleanup(&F->cfg);
	EVP_PKEY_free(F->rsa);
	EVP_PKEY_free(F->rsa2);
	EVP_PKEY_free(F->ec);
	free(F->rsa_pub_pem);
	free(F->rsa_priv_pem);
	free(F->ec_priv_pem);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F->dir);
	assert_int_equal(system(cmd), 0);
	free(F);
	return 0;
}

/* Before each test: HS256 secret, RS256 kid r1, RS256 kid r2, ES256 kid e1. */
static int all_keys(void **state)
{
	char list[300];

	(void)state;
	set_str(&F->cfg.jwt_hs256_secret_file, F->hs_path);
	snprintf(list, sizeof(list), "r1=%s,r2=%s", F->rsa_path, F->rsa2_path);
	set_str(&F->cfg.jwt_rs256_keys, list);
	snprintf(list, sizeof(list), "e1=%s", F->ec_path);
	set_str(&F->cfg.jwt_es256_keys, list);
	set_str(&F->cfg.jwt_issuer, "dbaudit-local");
	set_str(&F->cfg.jwt_audience, "dbaudit");
	F->cfg.jwt_leeway_s = 30;
	assert_int_equal(reload(), API_OK);
	return 0;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define RS256_R1 "{\"alg\":\"RS256\",\"kid\":\"r1\"}"
#define ES256_E1 "{\"alg\":\"ES256\",\"kid\":\"e1\"}"

/* ------------------------------------------------------------ accepted */

static void test_hs256_ok(void **state)
{
	struct principal p;
	const char *why;
	char *c = claims(600, "\"plan\":\"pro\"");
	char *tok = mint(HS, NULL, HS256, c);

	(void)state;
	assert_int_equal(verify(tok, &p, &why), API_OK);
	assert_string_equal(p.id, "jwt:user-1");
	assert_true(p.is_jwt);
	assert_int_equal(p.ntenants, 1);
	assert_string_equal(p.tenants[0], "acme");
	assert_int_equal(p.scopes, SCOPE_READ_EVENTS | SCOPE_WRITE_EVENTS);
	assert_int_equal(p.plan, PLAN_PRO);
	/* the same token again: no state is left over between calls */
	assert_int_equal(verify(tok, &p, &why), API_OK);
	free(tok);
	free(c);
}

static void test_rs256_and_es256_ok(void **state)
{
	struct principal p;
	const char *why;
	char *c = claims(600, "");
	char *tok;

	(void)state;
	tok = mint(RS, F->rsa, RS256_R1, c);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	free(tok);
	/* no kid: every RS256 key is tried, r2 verifies */
	tok = mint(RS, F->rsa2, "{\"alg\":\"RS256\"}", c);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	free(tok);
	tok = mint(ES, F->ec, ES256_E1, c);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	/* verify contexts are reusable after a failure */
	tok[strlen(tok) - 2] ^= 1;
	assert_int_equal(verify(tok, &p, &why), API_ERR_UNAUTHORIZED);
	free(tok);
	tok = mint(ES, F->ec, ES256_E1, c);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	free(tok);
	free(c);
}

/* Tokens minted by another implementation (libjwt) verify too. */
static void test_libjwt_interop(void **state)
{
	struct principal p;
	const char *why;
	jwt_t *jwt = NULL;
	char *tok;
	long now = (long)(time_now_ms() / 1000);
	const struct { jwt_alg_t alg; const char *key; const char *kid; } cases[] = {
		{ JWT_ALG_HS256, SECRET, NULL },
		{ JWT_ALG_RS256, F->rsa_priv_pem, "r1" },
		{ JWT_ALG_ES256, F->ec_priv_pem, "e1" },
	};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(jwt_new(&jwt), 0);
		assert_int_equal(jwt_add_grant(jwt, "iss", "dbaudit-local"), 0);
		assert_int_equal(jwt_add_grant(jwt, "aud", "dbaudit"), 0);
		assert_int_equal(jwt_add_grant(jwt, "sub", "svc"), 0);
		assert_int_equal(jwt_add_grant_int(jwt, "exp", now + 300), 0);
		assert_int_equal(jwt_add_grants_json(jwt, "{\"tenants\":[\"a\",\"b\"],\"scp\":[\"read:alerts\"]}"), 0);
		if (cases[i].kid)
			assert_int_equal(jwt_add_header(jwt, "kid", cases[i].kid), 0);
		assert_int_equal(jwt_set_alg(jwt, cases[i].alg, (const unsigned char *)cases[i].key,
					     (int)strlen(cases[i].key)), 0);
		tok = jwt_encode_str(jwt);
		assert_non_null(tok);
		assert_int_equal(verify(tok, &p, &why), API_OK);
		assert_int_equal(p.ntenants, 2);
		assert_int_equal(p.scopes, SCOPE_READ_ALERTS);
		free(tok);
		jwt_free(jwt);
	}
}

static void test_scp_and_tenants(void **state)
{
	struct principal p;
	const char *why;
	char *tok;

	(void)state;
	tok = mint(HS, NULL, HS256,
		   "{\"iss\":\"dbaudit-local\",\"aud\":[\"other\",\"dbaudit\"],\"sub\":\"u\",\"exp\":4102444800,"
		   "\"scp\":[\"read:databases\",\"write:policies\",\"profile\"],"
		   "\"tenant_id\":\"t1\",\"tenants\":[\"t2\",\"t1\",\"t3\"]}");
	assert_int_equal(verify(tok, &p, &why), API_OK);
	assert_int_equal(p.scopes, SCOPE_READ_DATABASES | SCOPE_WRITE_POLICIES);
	assert_int_equal(p.ntenants, 3);
	assert_string_equal(p.tenants[0], "t1");
	assert_string_equal(p.tenants[1], "t2");
	assert_string_equal(p.tenants[2], "t3");
	assert_int_equal(p.plan, PLAN_FREE);
	free(tok);
}

static void test_leeway(void **state)
{
	char *c;

	(void)state;
	/* expired 10 s ago, not valid for 10 s more: both inside the 30 s leeway */
	c = claims(-10, "\"nbf\":4102444800");
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_not_yet_valid");
	free(c);
	{
		char extra[64];

		snprintf(extra, sizeof(extra), "\"nbf\":%ld", (long)(time_now_ms() / 1000) + 10);
		c = claims(-10, extra);
		expect(HS, NULL, HS256, c, API_OK, NULL);
		free(c);
	}
}

/* ------------------------------------------------------------ the libjwt traps */

/* No key configured: libjwt with a NULL key accepts anything; we refuse all. */
static void test_no_key_refuses(void **state)
{
	char *c = claims(600, "");

	(void)state;
	set_str(&F->cfg.jwt_hs256_secret_file, "");
	set_str(&F->cfg.jwt_rs256_keys, "");
	set_str(&F->cfg.jwt_es256_keys, "");
	assert_int_equal(reload(), API_OK);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_no_key");
	expect(NONE, NULL, "{\"alg\":\"none\"}", c, API_ERR_UNAUTHORIZED, NULL);
	free(c);
}

static void test_alg_none(void **state)
{
	char *c = claims(600, "");
	char *tok;
	struct principal p;
	const char *why;

	(void)state;
	/* the unsecured form "h.p." */
	expect(NONE, NULL, "{\"alg\":\"none\"}", c, API_ERR_UNAUTHORIZED, "jwt_malformed");
	/* none with a signature attached, any case */
	expect(HS, NULL, "{\"alg\":\"none\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	expect(HS, NULL, "{\"alg\":\"None\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	expect(HS, NULL, "{\"alg\":\"hs256\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	expect(HS, NULL, "{\"alg\":\"HS512\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	expect(HS, NULL, "{\"typ\":\"JWT\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	expect(HS, NULL, "{\"alg\":null}", c, API_ERR_UNAUTHORIZED, "jwt_alg_not_allowed");
	/* h.p without the third part */
	tok = mint(NONE, NULL, "{\"alg\":\"none\"}", c);
	tok[strlen(tok) - 1] = '\0';
	assert_int_equal(verify(tok, &p, &why), API_ERR_UNAUTHORIZED);
	free(tok);
	free(c);
}

/* HS256 signed with the RS256 key's public PEM as the HMAC secret. */
static void test_alg_confusion(void **state)
{
	char *c = claims(600, "");

	(void)state;
	/* kid of the RSA key: the key's pinned algorithm decides, not the header */
	expect(RAW_HMAC_PEM, NULL, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", c, API_ERR_UNAUTHORIZED,
	       "jwt_alg_mismatch");
	/* no kid: only the HS256 secret is tried */
	expect(RAW_HMAC_PEM, NULL, "{\"alg\":\"HS256\"}", c, API_ERR_UNAUTHORIZED, "jwt_bad_signature");
	/* RS256 only configured */
	set_str(&F->cfg.jwt_hs256_secret_file, "");
	assert_int_equal(reload(), API_OK);
	expect(RAW_HMAC_PEM, NULL, "{\"alg\":\"HS256\"}", c, API_ERR_UNAUTHORIZED, "jwt_no_key");
	expect(RAW_HMAC_PEM, NULL, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", c, API_ERR_UNAUTHORIZED,
	       "jwt_alg_mismatch");
	/* an ES256 signature presented as RS256 of the EC key's kid */
	expect(ES, F->ec, "{\"alg\":\"RS256\",\"kid\":\"e1\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_mismatch");
	/* RS256 claimed, signed by a key that is not configured */
	{
		EVP_PKEY *other = EVP_RSA_gen(2048);

		expect(RS, other, "{\"alg\":\"RS256\"}", c, API_ERR_UNAUTHORIZED, "jwt_bad_signature");
		expect(RS, other, RS256_R1, c, API_ERR_UNAUTHORIZED, "jwt_bad_signature");
		EVP_PKEY_free(other);
	}
	free(c);
}

static void test_duplicate_keys(void **state)
{
	char *c = claims(600, "");

	(void)state;
	expect(HS, NULL, "{\"alg\":\"HS256\",\"alg\":\"none\"}", c, API_ERR_UNAUTHORIZED, "jwt_duplicate_key");
	expect(HS, NULL, "{\"alg\":\"none\",\"alg\":\"HS256\"}", c, API_ERR_UNAUTHORIZED, "jwt_duplicate_key");
	free(c);
	c = claims(600, "\"tenant_id\":\"other\"");
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_duplicate_key");
	free(c);
	c = claims(600, "\"exp\":4102444800");
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_duplicate_key");
	free(c);
}

static void test_expired(void **state)
{
	char *c = claims(-3600, "");

	(void)state;
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_expired");
	expect(RS, F->rsa, RS256_R1, c, API_ERR_UNAUTHORIZED, "jwt_expired");
	free(c);
	c = claims(-31, "");   /* just past the leeway */
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_expired");
	free(c);
}

static void test_not_yet_valid(void **state)
{
	char extra[64], *c;

	(void)state;
	snprintf(extra, sizeof(extra), "\"nbf\":%ld", (long)(time_now_ms() / 1000) + 3600);
	c = claims(7200, extra);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_not_yet_valid");
	free(c);
	c = claims(7200, "\"nbf\":\"0\"");
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	free(c);
}

/* iat beyond the leeway in the future (31 years here) is refused as nbf is. */
static void test_issued_in_future(void **state)
{
	long now = (long)(time_now_ms() / 1000);
	char extra[64], *c;

	(void)state;
	snprintf(extra, sizeof(extra), "\"iat\":%ld", now + 31L * 365 * 86400);
	c = claims(7200, extra);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_issued_in_future");
	free(c);
	snprintf(extra, sizeof(extra), "\"iat\":%ld", now + 40);
	c = claims(7200, extra);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_issued_in_future");
	free(c);
	snprintf(extra, sizeof(extra), "\"iat\":%ld", now + 10);   /* inside the 30 s leeway */
	c = claims(7200, extra);
	expect(HS, NULL, HS256, c, API_OK, NULL);
	free(c);
	snprintf(extra, sizeof(extra), "\"iat\":%ld", now - 60);
	c = claims(7200, extra);
	expect(HS, NULL, HS256, c, API_OK, NULL);
	free(c);
}

static void test_issuer(void **state)
{
	long exp = (long)(time_now_ms() / 1000) + 600;
	char c[512];

	(void)state;
	snprintf(c, sizeof(c), "{\"iss\":\"evil\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_issuer");
	snprintf(c, sizeof(c), "{\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_issuer");
	snprintf(c, sizeof(c), "{\"iss\":[\"dbaudit-local\"],\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_issuer");
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-localx\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_issuer");
}

static void test_audience(void **state)
{
	long exp = (long)(time_now_ms() / 1000) + 600;
	char c[512];

	(void)state;
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"other\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_audience");
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":[\"x\",\"y\"],\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_audience");
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_audience");
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":[\"dbaudit\",1],\"sub\":\"u\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_audience");
}

static void test_exp_types(void **state)
{
	const char *base = "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"tenant_id\":\"a\"";
	char c[512];

	(void)state;
	snprintf(c, sizeof(c), "%s,\"exp\":4102444800.0}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	snprintf(c, sizeof(c), "%s,\"exp\":4.1e9}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	snprintf(c, sizeof(c), "%s,\"exp\":\"4102444800\"}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	snprintf(c, sizeof(c), "%s,\"exp\":true}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	snprintf(c, sizeof(c), "%s,\"exp\":null}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
	snprintf(c, sizeof(c), "%s}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_no_exp");
	/* beyond 64 bits: the whole payload is refused */
	snprintf(c, sizeof(c), "%s,\"exp\":99999999999999999999999}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_malformed");
	snprintf(c, sizeof(c), "%s,\"exp\":4102444800,\"iat\":1.5}", base);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_time_claim");
}

static void test_tampered(void **state)
{
	char *c = claims(600, ""), *tok, *c2, *tok2, *dot;
	struct principal p;
	const char *why;

	(void)state;
	for (int how = HS; how <= ES; how++) {
		EVP_PKEY *k = how == RS ? F->rsa : how == ES ? F->ec : NULL;
		const char *h = how == HS ? HS256 : how == RS ? RS256_R1 : ES256_E1;
		size_t n;

		tok = mint((enum how)how, k, h, c);
		n = strlen(tok);
		/* the valid signature of tok pasted onto another payload */
		c2 = claims(600, "\"tenants\":[\"victim\"]");
		tok2 = mint((enum how)how, k, h, c2);
		dot = strrchr(tok, '.');
		assert_int_equal(strlen(strrchr(tok2, '.')), strlen(dot));
		memcpy(strrchr(tok2, '.'), dot, strlen(dot) + 1);
		assert_int_equal(verify(tok2, &p, &why), API_ERR_UNAUTHORIZED);
		assert_string_equal(why, "jwt_bad_signature");
		/* flip bits of the signature's first character */
		dot[1] = dot[1] == 'A' ? 'B' : 'A';
		assert_int_equal(verify(tok, &p, &why), API_ERR_UNAUTHORIZED);
		assert_string_equal(why, "jwt_bad_signature");
		/* truncated signature */
		tok[n - 4] = '\0';
		assert_int_equal(verify(tok, &p, &why), API_ERR_UNAUTHORIZED);
		free(tok);
		free(tok2);
		free(c2);
	}
	free(c);
}

static void test_oversized(void **state)
{
	char extra[9000], *c;
	struct principal p;
	const char *why;
	char *tok;

	(void)state;
	snprintf(extra, sizeof(extra), "\"pad\":\"%0*d\"", 7000, 0);
	c = claims(600, extra);
	tok = mint(HS, NULL, HS256, c);
	assert_true(strlen(tok) > AUTH_JWT_MAX_LEN);
	assert_int_equal(verify(tok, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "credential_too_long");
	free(tok);
	free(c);
	/* just under the bound still works */
	snprintf(extra, sizeof(extra), "\"pad\":\"%0*d\"", 5500, 0);
	c = claims(600, extra);
	tok = mint(HS, NULL, HS256, c);
	assert_true(strlen(tok) <= AUTH_JWT_MAX_LEN);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	free(tok);
	free(c);
}

static void test_tenant_claims(void **state)
{
	long exp = (long)(time_now_ms() / 1000) + 600;
	const char *bad[] = {
		"\"tenant_id\":\"a b\"", "\"tenant_id\":\"\"", "\"tenant_id\":5", "\"tenants\":\"acme\"",
		"\"tenants\":[\"ok\",7]", "\"tenants\":[\"ok\",\"../x\"]",
		"\"tenants\":[\"t0\",\"t1\",\"t2\",\"t3\",\"t4\",\"t5\",\"t6\",\"t7\",\"t8\",\"t9\","
		"\"t10\",\"t11\",\"t12\",\"t13\",\"t14\",\"t15\",\"t16\"]",
	};
	char c[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,%s}",
			 exp, bad[i]);
		expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, NULL);
	}
	/* no tenant claims at all, or an empty list: 403 */
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"scope\":\"read:events\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_FORBIDDEN, "no_tenant");
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"sub\":\"u\",\"exp\":%ld,\"tenants\":[]}", exp);
	expect(HS, NULL, HS256, c, API_ERR_FORBIDDEN, "no_tenant");
}

static void test_other_claims(void **state)
{
	long exp = (long)(time_now_ms() / 1000) + 600;
	const char *bad[] = {
		"\"sub\":\"\"", "\"sub\":\"a\\nb\"", "\"sub\":\"has space\"", "\"sub\":42",
		"\"sub\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"",
		"\"sub\":\"u\",\"scope\":[\"read:events\"]", "\"sub\":\"u\",\"scp\":[1]",
		"\"sub\":\"u\",\"scp\":{}", "\"sub\":\"u\",\"plan\":\"gold\"", "\"sub\":\"u\",\"plan\":1",
	};
	char c[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"exp\":%ld,\"tenant_id\":\"a\",%s}",
			 exp, bad[i]);
		expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, NULL);
	}
	/* no sub at all */
	snprintf(c, sizeof(c), "{\"iss\":\"dbaudit-local\",\"aud\":\"dbaudit\",\"exp\":%ld,\"tenant_id\":\"a\"}", exp);
	expect(HS, NULL, HS256, c, API_ERR_UNAUTHORIZED, "jwt_bad_sub");
}

static void test_kid(void **state)
{
	char *c = claims(600, "");

	(void)state;
	expect(RS, F->rsa, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", c, API_ERR_UNAUTHORIZED, "jwt_unknown_kid");
	/* a kid names one key: r1's token under kid r2 fails */
	expect(RS, F->rsa, "{\"alg\":\"RS256\",\"kid\":\"r2\"}", c, API_ERR_UNAUTHORIZED, "jwt_bad_signature");
	expect(RS, F->rsa, "{\"alg\":\"RS256\",\"kid\":7}", c, API_ERR_UNAUTHORIZED, "jwt_malformed");
	/* the HS256 secret has no kid */
	expect(HS, NULL, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", c, API_ERR_UNAUTHORIZED, "jwt_alg_mismatch");
	free(c);
}

static void test_malformed(void **state)
{
	const char *toks[] = {
		"", "abc", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA=",
		"eyJhbGciOiJIUzI1NiJ9.e30.AA+A", "eyJhbGciOiJIUzI1NiJ9.e30.A", "e30.e30.AAAA",
		"W10.e30.AAAA", "bnVsbA.e30.AAAA", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA.BBBB.CCCC",
		"eyJhbGciOiJIUzI1NiJ9\x01.e30.AAAA",
	};
	struct principal p;
	const char *why;
	char *c = claims(600, "");

	(void)state;
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		assert_int_equal(verify(toks[i], &p, &why), API_ERR_UNAUTHORIZED);
	/* a critical extension we do not understand */
	expect(HS, NULL, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", c, API_ERR_UNAUTHORIZED, "jwt_malformed");
	/* a payload that is not an object */
	expect(HS, NULL, HS256, "[1]", API_ERR_UNAUTHORIZED, "jwt_malformed");
	free(c);
}

/* A bad key is a startup error, never a verifier that accepts less or more. */
static void test_config_errors(void **state)
{
	char path[160], list[400];
	EVP_PKEY *k;
	char *pem;

	(void)state;
	set_str(&F->cfg.jwt_rs256_keys, "r1=/nonexistent.pem");
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	snprintf(list, sizeof(list), "r1=%s", F->hs_path);   /* not a PEM */
	set_str(&F->cfg.jwt_rs256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	snprintf(list, sizeof(list), "r1=%s", F->ec_path);   /* EC key as RS256 */
	set_str(&F->cfg.jwt_rs256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	snprintf(list, sizeof(list), "r1=%s,r1=%s", F->rsa_path, F->rsa2_path);
	set_str(&F->cfg.jwt_rs256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	snprintf(list, sizeof(list), "=%s", F->rsa_path);
	set_str(&F->cfg.jwt_rs256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	/* RSA-1024 */
	k = EVP_RSA_gen(1024);
	pem = pem_public(k);
	snprintf(path, sizeof(path), "%s/rsa1024.pem", F->dir);
	write_file(path, pem);
	snprintf(list, sizeof(list), "small=%s", path);
	set_str(&F->cfg.jwt_rs256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	free(pem);
	EVP_PKEY_free(k);
	/* P-384 as ES256 */
	k = EVP_EC_gen("P-384");
	pem = pem_public(k);
	snprintf(path, sizeof(path), "%s/p384.pem", F->dir);
	write_file(path, pem);
	set_str(&F->cfg.jwt_rs256_keys, "");
	snprintf(list, sizeof(list), "e=%s", path);
	set_str(&F->cfg.jwt_es256_keys, list);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	free(pem);
	EVP_PKEY_free(k);
	set_str(&F->cfg.jwt_es256_keys, "");
	/* HS256 secrets: missing, short, a PEM */
	set_str(&F->cfg.jwt_hs256_secret_file, "/nonexistent");
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	snprintf(path, sizeof(path), "%s/short", F->dir);
	write_file(path, "short-secret\n");
	set_str(&F->cfg.jwt_hs256_secret_file, path);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	set_str(&F->cfg.jwt_hs256_secret_file, F->rsa_path);
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	/* keys without issuer */
	set_str(&F->cfg.jwt_hs256_secret_file, F->hs_path);
	set_str(&F->cfg.jwt_issuer, "");
	assert_int_equal(reload(), API_ERR_INVALID_PARAMETER);
	/* a bare path (no kid) is fine */
	set_str(&F->cfg.jwt_issuer, "dbaudit-local");
	set_str(&F->cfg.jwt_rs256_keys, F->rsa_path);
	assert_int_equal(reload(), API_OK);
}

/* The verified-token cache: time claims are checked on every use, and only identical bytes hit. */
static void test_cache(void **state)
{
	struct principal p;
	const char *why;
	char *c = claims(600, ""), *tok, *c2, *tok2, *c3, *tok3;

	(void)state;
	tok = mint(RS, F->rsa, RS256_R1, c);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	assert_int_equal(verify(tok, &p, &why), API_OK);   /* from the cache */
	assert_string_equal(p.id, "jwt:user-1");
	assert_string_equal(p.tenants[0], "acme");
	/* the cached token's signature on another payload: same slot, no hit */
	c2 = claims(600, "\"tenants\":[\"victim\"]");
	tok2 = mint(RS, F->rsa, RS256_R1, c2);
	memcpy(strrchr(tok2, '.'), strrchr(tok, '.'), strlen(strrchr(tok, '.')) + 1);
	assert_int_equal(verify(tok2, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "jwt_bad_signature");
	/* a token that expires while cached is refused */
	F->cfg.jwt_leeway_s = 0;
	assert_int_equal(reload(), API_OK);
	c3 = claims(2, "");
	tok3 = mint(HS, NULL, HS256, c3);
	assert_int_equal(verify(tok3, &p, &why), API_OK);
	assert_int_equal(verify(tok3, &p, &why), API_OK);
	sleep(3);
	assert_int_equal(verify(tok3, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "jwt_expired");
	/* no cache at all */
	F->cfg.jwt_cache_entries = 0;
	assert_int_equal(reload(), API_OK);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	assert_int_equal(verify(tok, &p, &why), API_OK);
	F->cfg.jwt_cache_entries = 128;
	free(tok);
	free(tok2);
	free(tok3);
	free(c);
	free(c2);
	free(c3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_hs256_ok, all_keys),
		cmocka_unit_test_setup(test_rs256_and_es256_ok, all_keys),
		cmocka_unit_test_setup(test_libjwt_interop, all_keys),
		cmocka_unit_test_setup(test_scp_and_tenants, all_keys),
		cmocka_unit_test_setup(test_leeway, all_keys),
		cmocka_unit_test_setup(test_no_key_refuses, all_keys),
		cmocka_unit_test_setup(test_alg_none, all_keys),
		cmocka_unit_test_setup(test_alg_confusion, all_keys),
		cmocka_unit_test_setup(test_duplicate_keys, all_keys),
		cmocka_unit_test_setup(test_expired, all_keys),
		cmocka_unit_test_setup(test_not_yet_valid, all_keys),
		cmocka_unit_test_setup(test_issued_in_future, all_keys),
		cmocka_unit_test_setup(test_issuer, all_keys),
		cmocka_unit_test_setup(test_audience, all_keys),
		cmocka_unit_test_setup(test_exp_types, all_keys),
		cmocka_unit_test_setup(test_tampered, all_keys),
		cmocka_unit_test_setup(test_oversized, all_keys),
		cmocka_unit_test_setup(test_tenant_claims, all_keys),
		cmocka_unit_test_setup(test_other_claims, all_keys),
		cmocka_unit_test_setup(test_kid, all_keys),
		cmocka_unit_test_setup(test_malformed, all_keys),
		cmocka_unit_test_setup(test_config_errors, all_keys),
		cmocka_unit_test_setup(test_cache, all_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
