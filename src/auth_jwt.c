/*
 * auth_jwt: JWT verification.
 *
 * libjwt verifies the signature, and only that: libjwt 1.10 must be fenced
 * on every side (a NULL key accepts anything, an HS256 token verifies
 * against an RSA PEM passed as the key, duplicate header and claim keys are
 * accepted, no claim is checked). So before libjwt sees a token, this file
 * decodes header and payload strictly (base64url without padding, JSON
 * without duplicate keys), lets the configured key decide the algorithm
 * (a kid selects one key whose pinned algorithm must be the header's;
 * without a kid only keys pinned to the header's algorithm are tried), and
 * hands libjwt exactly that one key, never NULL; afterwards jwt_get_alg()
 * must equal the pin. Claims are checked here from our own parse.
 * Each PEM is validated with OpenSSL once at start (RSA >= 2048 bits, EC
 * on P-256) and kept in canonical "PUBLIC KEY" form for libjwt.
 *
 * The verifier owns: the key material (HS256 secrets, public-key PEMs),
 * the expected issuer and audience, and the verified-token cache.
 */
#include "auth_jwt.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "principal.h"
#include "config.h"
#include "util/log.h"
#include "util/timeutil.h"

#define JWT_MAX_KEYS 32
#define JWT_KID_MAX 128
#define JWT_MAX_HEADER 2048        /* decoded header bytes */
#define JWT_MAX_SIG 512            /* RSA-4096 */
#define JWT_MIN_HS_SECRET 32       /* RFC 7518 3.2: at least the hash size */
#define JWT_MIN_RSA_BITS 2048
#define JWT_CACHE_TOKEN_MAX 2048   /* longer tokens are verified every time */

enum jwt_pin { PIN_HS256, PIN_RS256, PIN_ES256 };

static const char *const pin_names[] = { "HS256", "RS256", "ES256" };

static const jwt_alg_t pin_libjwt[] = { JWT_ALG_HS256, JWT_ALG_RS256, JWT_ALG_ES256 };

struct jwt_key {
	char kid[JWT_KID_MAX + 1];   /* "" when the key has none */
	enum jwt_pin alg;
	unsigned char *material;     /* owned: HS256 secret, or "PUBLIC KEY" PEM */
	size_t material_len;
};

/*
 * A token that verified, kept so that its next uses cost a comparison
 * instead of a signature check and two JSON parses. The same bytes always
 * verify the same way (the keys are fixed for the life of the process);
 * only the time claims are checked again.
 */
struct jwt_cache_entry {
	size_t len;                  /* 0: empty */
	int64_t exp, nbf;            /* nbf INT64_MIN when absent */
	struct principal p;
	char token[JWT_CACHE_TOKEN_MAX];
};

struct auth_jwt {
	struct jwt_key keys[JWT_MAX_KEYS];
	size_t nkeys;
	char *issuer;
	char *audience;
	int64_t leeway_s;
	struct jwt_cache_entry *cache;   /* ncache entries, or NULL */
	size_t ncache;
	int64_t clock_s;                 /* pinned clock (tests); 0: the real one */
	unsigned char scratch[AUTH_JWT_MAX_LEN];   /* decoded payload */
};

void auth_jwt_set_clock(struct auth_jwt *j, int64_t now_s)
{
	j->clock_s = now_s;
}

/* Seconds since the epoch the time claims are checked against. */
static int64_t jwt_now_s(const struct auth_jwt *j, bool coarse)
{
	if (j->clock_s != 0)
		return j->clock_s;
	return (coarse ? time_now_coarse_ms() : time_now_ms()) / 1000;
}

/* ------------------------------------------------------------ key loading */

static void key_cleanup(struct jwt_key *k)
{
	if (k->material != NULL) {
		OPENSSL_cleanse(k->material, k->material_len);
		free(k->material);
	}
	memset(k, 0, sizeof(*k));
}

void auth_jwt_free(struct auth_jwt *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nkeys; i++)
		key_cleanup(&j->keys[i]);
	if (j->cache != NULL) {
		OPENSSL_cleanse(j->cache, j->ncache * sizeof(*j->cache));
		free(j->cache);
	}
	free(j->issuer);
	free(j->audience);
	free(j);
}

static int key_add_hs256(struct auth_jwt *j, const char *path)
{
	struct jwt_key *k = &j->keys[j->nkeys];
	size_t len = 0;
	char *secret = config_read_file(path, &len);

	if (secret == NULL) {
		log_msg(LOG_ERROR, "jwt_hs256_secret_file: cannot read %s", path);
		return -1;
	}
	if (len < JWT_MIN_HS_SECRET || strncmp(secret, "-----BEGIN", 10) == 0) {
		/* A PEM as an HMAC secret is exactly the algorithm-confusion setup. */
		log_msg(LOG_ERROR, "jwt_hs256_secret_file: %s must hold a secret of at least %d bytes, not a PEM",
			path, JWT_MIN_HS_SECRET);
		OPENSSL_cleanse(secret, len);
		free(secret);
		return -1;
	}
	k->material = (unsigned char *)secret;
	k->material_len = len;
	k->alg = PIN_HS256;
	j->nkeys++;
	return 0;
}

/* A PEM public key ("BEGIN PUBLIC KEY") or certificate, or NULL. */
static EVP_PKEY *pem_load_public(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (pkey == NULL && BIO_reset(bio) == 0) {
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (cert != NULL)
			pkey = X509_get_pubkey(cert);
	}
	X509_free(cert);
	BIO_free(bio);
	return pkey;
}

/* Whether pkey fits alg: RSA of 2048 bits or more, or EC on P-256. */
static bool pkey_fits(EVP_PKEY *pkey, enum jwt_pin alg)
{
	char group[64];
	size_t glen = 0;

	if (alg == PIN_RS256)
		return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= JWT_MIN_RSA_BITS;
	return EVP_PKEY_is_a(pkey, "EC") &&
	       EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1 &&
	       (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

static int key_add_public(struct auth_jwt *j, enum jwt_pin alg, const char *setting,
			  const char *kid, const char *path)
{
	struct jwt_key *k = &j->keys[j->nkeys];
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long pemlen;

	for (size_t i = 0; i < j->nkeys; i++)
		if (kid[0] != '\0' && strcmp(j->keys[i].kid, kid) == 0) {
			log_msg(LOG_ERROR, "%s: kid '%s' is configured twice", setting, kid);
			return -1;
		}
	pkey = pem_load_public(path);
	if (pkey == NULL) {
		log_msg(LOG_ERROR, "%s: %s (kid '%s') is not a readable PEM public key or certificate",
			setting, path, kid);
		goto fail;
	}
	if (!pkey_fits(pkey, alg)) {
		log_msg(LOG_ERROR, "%s: %s (kid '%s') is not %s", setting, path, kid,
			alg == PIN_RS256 ? "an RSA key of at least 2048 bits" : "an EC key on P-256");
		goto fail;
	}
	/* Certificates too end up as a bare public key, the form libjwt reads. */
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0 ||
	    (k->material = malloc((size_t)pemlen + 1)) == NULL) {
		log_msg(LOG_ERROR, "%s: OpenSSL cannot re-encode %s", setting, path);
		goto fail;
	}
	memcpy(k->material, pem, (size_t)pemlen);
	k->material[pemlen] = '\0';
	k->material_len = (size_t)pemlen;
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	k->alg = alg;
	j->nkeys++;
	return 0;
fail:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	key_cleanup(k);
	return -1;
}

/* Loads "kid=/path.pem,kid2=/path2.pem" (a bare "/path.pem" has no kid). */
static int keys_add_list(struct auth_jwt *j, enum jwt_pin alg, const char *setting,
			 const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *kid = (char *)"", *path = tok;

		while (*path == ' ')
			path++;
		if (eq != NULL) {
			*eq = '\0';
			kid = path;
			path = eq + 1;
		}
		if (strlen(kid) > JWT_KID_MAX || *path == '\0' || (eq != NULL && *kid == '\0')) {
			log_msg(LOG_ERROR, "%s: entries are kid=/path.pem, kid at most %d bytes",
				setting, JWT_KID_MAX);
			rc = -1;
		} else if (j->nkeys == JWT_MAX_KEYS) {
			log_msg(LOG_ERROR, "%s: more than %d JWT keys", setting, JWT_MAX_KEYS);
			rc = -1;
		} else {
			rc = key_add_public(j, alg, setting, kid, path);
		}
	}
	free(copy);
	return rc;
}

enum api_err auth_jwt_create(const struct config *cfg, struct auth_jwt **out, const char **why)
{
	struct auth_jwt *j = calloc(1, sizeof(*j));

	*out = NULL;
	if (j == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	j->issuer = strdup(cfg->jwt_issuer ? cfg->jwt_issuer : "");
	j->audience = strdup(cfg->jwt_audience ? cfg->jwt_audience : "");
	j->leeway_s = cfg->jwt_leeway_s;
	j->ncache = cfg->jwt_cache_entries > 0 ? (size_t)cfg->jwt_cache_entries : 0;
	if (j->ncache > 0 && (j->cache = calloc(j->ncache, sizeof(*j->cache))) == NULL) {
		auth_jwt_free(j);
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	if (j->issuer == NULL || j->audience == NULL) {
		auth_jwt_free(j);
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	if (cfg->jwt_hs256_secret_file && cfg->jwt_hs256_secret_file[0] &&
	    key_add_hs256(j, cfg->jwt_hs256_secret_file) != 0) {
		*why = "jwt_hs256_secret_file is unusable (see the log)";
		goto fail;
	}
	if (cfg->jwt_rs256_keys && keys_add_list(j, PIN_RS256, "jwt_rs256_keys", cfg->jwt_rs256_keys) != 0) {
		*why = "jwt_rs256_keys names an unusable key (see the log)";
		goto fail;
	}
	if (cfg->jwt_es256_keys && keys_add_list(j, PIN_ES256, "jwt_es256_keys", cfg->jwt_es256_keys) != 0) {
		*why = "jwt_es256_keys names an unusable key (see the log)";
		goto fail;
	}
	if (j->nkeys > 0 && (j->issuer[0] == '\0' || j->audience[0] == '\0')) {
		*why = "jwt_issuer and jwt_audience must be set when JWT keys are configured";
		goto fail;
	}
	*out = j;
	return API_OK;
fail:
	auth_jwt_free(j);
	return API_ERR_INVALID_PARAMETER;
}

/* ------------------------------------------------------------ decoding */

/* Value of each base64url character plus one; 0 for any other byte. */
static const unsigned char b64url_values[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
	['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
	['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

/*
 * Strict base64url without padding (RFC 7515 2): any other character, a
 * length of 1 mod 4 or non-zero trailing bits fail, so each value has one
 * encoding. Returns the decoded length or -1 (also when it exceeds cap).
 */
static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	size_t bits = 0, o = 0;

	if (n % 4 == 1 || (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v = b64url_values[(unsigned char)in[i]];

		if (v == 0)
			return -1;
		acc = (acc << 6) | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (long)o;
}

/* Decodes and parses one JSON object segment; duplicates are refused. */
static enum api_err segment_parse(const char *in, size_t n, unsigned char *buf, size_t cap,
				  json_t **out, const char **reason)
{
	json_error_t err;
	long len = b64url_decode(in, n, buf, cap);
	json_t *obj;

	if (len <= 0) {
		*reason = "jwt_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	obj = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &err);
	if (obj == NULL || !json_is_object(obj)) {
		*reason = obj == NULL && json_error_code(&err) == json_error_duplicate_key
				  ? "jwt_duplicate_key" : "jwt_malformed";
		json_decref(obj);
		return API_ERR_UNAUTHORIZED;
	}
	*out = obj;
	return API_OK;
}

/* ------------------------------------------------------------ signatures */

/*
 * libjwt checks the signature of token with the one key the pin selected
 * (never a NULL key), and must report the pinned algorithm.
 */
static bool key_verify(const struct jwt_key *k, const char *token)
{
	jwt_t *jwt = NULL;
	bool ok;

	if (k->material == NULL || k->material_len > INT32_MAX ||
	    jwt_decode(&jwt, token, k->material, (int)k->material_len) != 0 || jwt == NULL)
		return false;
	ok = jwt_get_alg(jwt) == pin_libjwt[k->alg];
	jwt_free(jwt);
	return ok;
}

/*
 * Picks the key(s) the header allows and verifies the signature. A kid
 * selects exactly one key, whose pinned algorithm must be the header's;
 * without a kid only keys pinned to the header's algorithm are tried.
 */
static enum api_err signature_check(struct auth_jwt *j, json_t *header, const char *token,
				    const char *sig64, size_t sig64len, const char **reason)
{
	unsigned char sig[JWT_MAX_SIG];
	const char *alg = json_string_value(json_object_get(header, "alg"));
	json_t *kidj = json_object_get(header, "kid");
	const char *kid = json_string_value(kidj);
	bool tried = false;
	long siglen;
	int pin = -1;

	for (int i = 0; alg != NULL && i < 3; i++)
		if (strcmp(alg, pin_names[i]) == 0)
			pin = i;
	if (pin < 0) {
		*reason = "jwt_alg_not_allowed";   /* "none", HS512, a non-string... */
		return API_ERR_UNAUTHORIZED;
	}
	if ((kidj != NULL && (kid == NULL || strlen(kid) > JWT_KID_MAX)) ||
	    json_object_get(header, "crit") != NULL) {
		*reason = "jwt_malformed";   /* we understand no critical extension */
		return API_ERR_UNAUTHORIZED;
	}
	siglen = b64url_decode(sig64, sig64len, sig, sizeof(sig));
	if (siglen <= 0) {
		*reason = "jwt_bad_signature";
		return API_ERR_UNAUTHORIZED;
	}
	for (size_t i = 0; i < j->nkeys; i++) {
		struct jwt_key *k = &j->keys[i];

		if (kid != NULL ? strcmp(k->kid, kid) != 0 : (int)k->alg != pin)
			continue;
		if ((int)k->alg != pin) {
			*reason = "jwt_alg_mismatch";
			return API_ERR_UNAUTHORIZED;
		}
		tried = true;
		/* The signature must fit the pin before libjwt runs: r||s for ES256, 32 bytes for HS256. */
		if ((k->alg == PIN_HS256 && siglen != 32) || (k->alg == PIN_ES256 && siglen != 64))
			continue;
		if (key_verify(k, token))
			return API_OK;
	}
	*reason = !tried ? (kid != NULL ? "jwt_unknown_kid" : "jwt_no_key") : "jwt_bad_signature";
	return API_ERR_UNAUTHORIZED;
}

/* ------------------------------------------------------------ claims */

static enum api_err claim_times(struct auth_jwt *j, json_t *claims, int64_t *exp_out,
				int64_t *nbf_out, const char **reason)
{
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
	json_t *iat = json_object_get(claims, "iat");
	int64_t now = jwt_now_s(j, false);

	/* Integers only: 1.7e9, "1700000000" or true are not times. */
	if (exp == NULL) {
		*reason = "jwt_no_exp";
		return API_ERR_UNAUTHORIZED;
	}
	if (!json_is_integer(exp) || (nbf != NULL && !json_is_integer(nbf)) ||
	    (iat != NULL && !json_is_integer(iat))) {
		*reason = "jwt_bad_time_claim";
		return API_ERR_UNAUTHORIZED;
	}
	if (json_integer_value(exp) <= now - j->leeway_s) {
		*reason = "jwt_expired";
		return API_ERR_UNAUTHORIZED;
	}
	if (nbf != NULL && json_integer_value(nbf) > now + j->leeway_s) {
		*reason = "jwt_not_yet_valid";
		return API_ERR_UNAUTHORIZED;
	}
	/* A token issued in the future is forged or from a broken clock. */
	if (iat != NULL && json_integer_value(iat) > now + j->leeway_s) {
		*reason = "jwt_issued_in_future";
		return API_ERR_UNAUTHORIZED;
	}
	*exp_out = json_integer_value(exp);
	*nbf_out = nbf != NULL ? json_integer_value(nbf) : INT64_MIN;
	/* The cache checks one start time: the later of nbf and iat. */
	if (iat != NULL && json_integer_value(iat) > *nbf_out)
		*nbf_out = json_integer_value(iat);
	return API_OK;
}

static bool audience_ok(json_t *aud, const char *want)
{
	size_t i;
	json_t *v;
	bool found = false;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return false;
		if (strcmp(json_string_value(v), want) == 0)
			found = true;
	}
	return found;
}

static bool sub_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= AUTH_JWT_SUB_MAX_LEN || s[n] < 0x21 || s[n] > 0x7e || s[n] == '"' ||
		    s[n] == '\\')
			return false;
	return n > 0;
}

/* Adds the known scope names of a space-separated list; unknown ones are not ours. */
static void scopes_add(const char *list, unsigned *bits)
{
	const char *s = list;

	while (*s) {
		size_t n = strcspn(s, " ");
		char name[32];

		if (n > 0 && n < sizeof(name)) {
			memcpy(name, s, n);
			name[n] = '\0';
			*bits |= principal_scope_bit(name);
		}
		s += n;
		s += strspn(s, " ");
	}
}

/* scope: space-separated string; scp: array of strings (or such a string). */
static enum api_err claim_scopes(json_t *claims, unsigned *bits, const char **reason)
{
	json_t *scope = json_object_get(claims, "scope"), *scp = json_object_get(claims, "scp");
	size_t i;
	json_t *v;

	*bits = 0;
	if (scope != NULL) {
		if (!json_is_string(scope))
			goto bad;
		scopes_add(json_string_value(scope), bits);
	}
	if (json_is_string(scp)) {
		scopes_add(json_string_value(scp), bits);
	} else if (json_is_array(scp)) {
		json_array_foreach(scp, i, v) {
			if (!json_is_string(v))
				goto bad;
			*bits |= principal_scope_bit(json_string_value(v));
		}
	} else if (scp != NULL) {
		goto bad;
	}
	return API_OK;
bad:
	*reason = "jwt_bad_scope_claim";
	return API_ERR_UNAUTHORIZED;
}

static enum api_err tenant_add(struct principal *p, json_t *v, const char **reason)
{
	const char *t = json_string_value(v);

	if (t == NULL || !principal_tenant_valid(t)) {
		*reason = "jwt_bad_tenant_claim";
		return API_ERR_UNAUTHORIZED;
	}
	if (principal_has_tenant(p, t))
		return API_OK;
	if (p->ntenants == PRINCIPAL_MAX_TENANTS) {
		*reason = "jwt_too_many_tenants";
		return API_ERR_UNAUTHORIZED;
	}
	snprintf(p->tenants[p->ntenants++], sizeof(p->tenants[0]), "%s", t);
	return API_OK;
}

/* tenant_id: string; tenants: array of strings. Both may be given. */
static enum api_err claim_tenants(json_t *claims, struct principal *p, const char **reason)
{
	json_t *one = json_object_get(claims, "tenant_id"), *many = json_object_get(claims, "tenants");
	enum api_err rc = API_OK;
	size_t i;
	json_t *v;

	if (one != NULL)
		rc = tenant_add(p, one, reason);
	if (rc == API_OK && many != NULL) {
		if (!json_is_array(many)) {
			*reason = "jwt_bad_tenant_claim";
			return API_ERR_UNAUTHORIZED;
		}
		json_array_foreach(many, i, v) {
			rc = tenant_add(p, v, reason);
			if (rc != API_OK)
				break;
		}
	}
	return rc;
}

static enum api_err claims_check(struct auth_jwt *j, json_t *claims, struct principal *p,
				 int64_t *exp, int64_t *nbf, const char **reason)
{
	json_t *iss = json_object_get(claims, "iss"), *plan = json_object_get(claims, "plan");
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	enum api_err rc;
	int pl = PLAN_FREE;

	rc = claim_times(j, claims, exp, nbf, reason);
	if (rc != API_OK)
		return rc;
	if (!json_is_string(iss) || strcmp(json_string_value(iss), j->issuer) != 0) {
		*reason = "jwt_bad_issuer";
		return API_ERR_UNAUTHORIZED;
	}
	if (!audience_ok(json_object_get(claims, "aud"), j->audience)) {
		*reason = "jwt_bad_audience";
		return API_ERR_UNAUTHORIZED;
	}
	if (sub == NULL || !sub_valid(sub)) {
		*reason = "jwt_bad_sub";
		return API_ERR_UNAUTHORIZED;
	}
	if (plan != NULL && (!json_is_string(plan) || (pl = principal_plan_parse(json_string_value(plan))) < 0)) {
		*reason = "jwt_bad_plan_claim";
		return API_ERR_UNAUTHORIZED;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "jwt:%s", sub);
	p->is_jwt = true;
	p->plan = (enum plan)pl;
	rc = claim_scopes(claims, &p->scopes, reason);
	if (rc == API_OK)
		rc = claim_tenants(claims, p, reason);
	if (rc == API_OK && p->ntenants == 0) {
		*reason = "no_tenant";
		rc = API_ERR_FORBIDDEN;
	}
	return rc;
}

/* ------------------------------------------------------------ verify */

/* The cache slot of token (picked by its last bytes, the signature's), or NULL. */
static struct jwt_cache_entry *cache_slot(struct auth_jwt *j, const char *token, size_t n)
{
	uint32_t h = 2166136261u;

	if (j->ncache == 0 || n > JWT_CACHE_TOKEN_MAX)
		return NULL;
	for (size_t i = n > 16 ? n - 16 : 0; i < n; i++)
		h = (h ^ (unsigned char)token[i]) * 16777619u;
	return &j->cache[h % j->ncache];
}

/*
 * Whether slot holds exactly token and its time claims still hold. The
 * comparison is constant-time: timing never tells how much of a cached
 * token a guess got right.
 */
static bool cache_hit(struct auth_jwt *j, const struct jwt_cache_entry *slot,
		      const char *token, size_t n)
{
	int64_t now;

	if (slot->len != n || CRYPTO_memcmp(slot->token, token, n) != 0)
		return false;
	now = jwt_now_s(j, true);
	return slot->exp > now - j->leeway_s && slot->nbf <= now + j->leeway_s;
}

enum api_err auth_jwt_verify(struct auth_jwt *j, const char *token,
			     struct principal *p, const char **reason)
{
	unsigned char hbuf[JWT_MAX_HEADER];
	json_t *header = NULL, *claims = NULL;
	const char *dot1, *dot2;
	size_t n = strnlen(token, AUTH_JWT_MAX_LEN + 1);
	struct jwt_cache_entry *slot;
	int64_t exp = 0, nbf = 0;
	enum api_err rc;

	if (n > AUTH_JWT_MAX_LEN) {
		*reason = "credential_too_long";
		return API_ERR_UNAUTHORIZED;
	}
	dot1 = memchr(token, '.', n);
	dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - token)) ||
	    dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + n) {
		*reason = "jwt_malformed";   /* also: JWE (5 parts), unsigned tokens */
		return API_ERR_UNAUTHORIZED;
	}
	if (j->nkeys == 0) {
		*reason = "jwt_no_key";
		return API_ERR_UNAUTHORIZED;
	}
	slot = cache_slot(j, token, n);
	if (slot != NULL && cache_hit(j, slot, token, n)) {
		*p = slot->p;
		return API_OK;
	}
	rc = segment_parse(token, (size_t)(dot1 - token), hbuf, sizeof(hbuf), &header, reason);
	if (rc != API_OK)
		goto out;
	/*
	 * The payload is parsed strictly before the signature is checked:
	 * libjwt parses it anyway (leniently), and a malformed payload should
	 * be reported as such. Its claims are trusted only after the check.
	 */
	rc = segment_parse(dot1 + 1, (size_t)(dot2 - dot1 - 1), j->scratch, sizeof(j->scratch),
			   &claims, reason);
	if (rc != API_OK)
		goto out;
	rc = signature_check(j, header, token, dot2 + 1, n - (size_t)(dot2 + 1 - token), reason);
	if (rc == API_OK)
		rc = claims_check(j, claims, p, &exp, &nbf, reason);
	if (rc == API_OK && slot != NULL) {
		memcpy(slot->token, token, n);
		slot->len = n;
		slot->exp = exp;
		slot->nbf = nbf;
		slot->p = *p;
	}
out:
	json_decref(header);
	json_decref(claims);
	return rc;
}
