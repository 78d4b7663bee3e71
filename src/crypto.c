/*
 * crypto: AES-256-GCM sealing of stored secrets with key ids (see crypto.h).
 * The keyring is a small fixed array; keys never leave this file except as
 * EVP key arguments, and are wiped with OPENSSL_cleanse when freed.
 */
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "util/str.h"

struct crypto_key {
	char kid[CRYPTO_KID_MAX + 1];
	unsigned char key[CRYPTO_KEY_LEN];
};

struct crypto_keyring {
	struct crypto_key keys[CRYPTO_MAX_KEYS];
	size_t nkeys;
	int current;  /* index into keys, -1: none */
};

bool crypto_kid_valid(const char *kid)
{
	size_t n = 0;

	for (; kid[n]; n++) {
		char ch = kid[n];

		if (n >= CRYPTO_KID_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return false;
	}
	return n > 0;
}

struct crypto_keyring *crypto_keyring_create(void)
{
	struct crypto_keyring *kr = calloc(1, sizeof(*kr));

	if (kr != NULL)
		kr->current = -1;
	return kr;
}

void crypto_keyring_free(struct crypto_keyring *kr)
{
	if (kr == NULL)
		return;
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

static const struct crypto_key *keyring_find(const struct crypto_keyring *kr, const char *kid)
{
	for (size_t i = 0; i < kr->nkeys; i++)
		if (strcmp(kr->keys[i].kid, kid) == 0)
			return &kr->keys[i];
	return NULL;
}

int crypto_keyring_add_hex(struct crypto_keyring *kr, const char *kid, const char *hex,
			   bool current, const char **why)
{
	struct crypto_key *k;

	if (!crypto_kid_valid(kid)) {
		*why = "a key id must be 1-32 of A-Z a-z 0-9 _ . -";
		return -1;
	}
	if (keyring_find(kr, kid) != NULL) {
		*why = "the same key id is configured twice";
		return -1;
	}
	if (kr->nkeys == CRYPTO_MAX_KEYS) {
		*why = "too many keys (at most 8)";
		return -1;
	}
	if (strlen(hex) != CRYPTO_KEY_HEX_LEN) {
		*why = "a key must be exactly 64 hex digits (32 bytes)";
		return -1;
	}
	k = &kr->keys[kr->nkeys];
	for (size_t i = 0; i < CRYPTO_KEY_LEN; i++) {
		int hi = str_hex_value((unsigned char)hex[2 * i]);
		int lo = str_hex_value((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(k, sizeof(*k));
			*why = "a key must be exactly 64 hex digits (32 bytes)";
			return -1;
		}
		k->key[i] = (unsigned char)(hi << 4 | lo);
	}
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	if (current)
		kr->current = (int)kr->nkeys;
	kr->nkeys++;
	return 0;
}

const char *crypto_keyring_current_kid(const struct crypto_keyring *kr)
{
	return kr != NULL && kr->current >= 0 ? kr->keys[kr->current].kid : NULL;
}

bool crypto_keyring_has(const struct crypto_keyring *kr, const char *kid)
{
	return kr != NULL && keyring_find(kr, kid) != NULL;
}

/* Adds the key held in file path under kid. */
static int add_key_file(struct crypto_keyring *kr, const char *kid, const char *path,
			bool current, char *why, size_t whylen)
{
	char *hex;
	size_t len = 0;
	const char *reason = NULL;
	int rc;

	hex = config_read_file(path, &len);
	if (hex == NULL) {
		snprintf(why, whylen, "cannot read the key file %s of key id %s", path, kid);
		return -1;
	}
	rc = crypto_keyring_add_hex(kr, kid, hex, current, &reason);
	OPENSSL_cleanse(hex, len);
	free(hex);
	if (rc != 0)
		snprintf(why, whylen, "key %s (%s): %s", kid, path, reason);
	return rc;
}

/* Parses "kid=/path,kid2=/path2" into kr as old keys. */
static int add_old_keys(struct crypto_keyring *kr, const char *list, char *why, size_t whylen)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;

	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL || eq == tok || eq[1] == '\0') {
			snprintf(why, whylen, "crypto_old_keys must be kid=/path,kid2=/path2");
			rc = -1;
			break;
		}
		*eq = '\0';
		rc = add_key_file(kr, tok, eq + 1, false, why, whylen);
	}
	free(copy);
	return rc;
}

int crypto_keyring_from_config(const struct config *cfg, struct crypto_keyring **out,
			       char *why, size_t whylen)
{
	struct crypto_keyring *kr = NULL;
	const char *reason = NULL;
	bool have_hex = cfg->crypto_key != NULL && cfg->crypto_key[0] != '\0';
	bool have_file = cfg->crypto_key_file != NULL && cfg->crypto_key_file[0] != '\0';
	int rc = -1;

	*out = NULL;
	if (have_hex && have_file) {
		snprintf(why, whylen, "set crypto_key or crypto_key_file, not both");
		return -1;
	}
	if (!have_hex && !have_file) {
		if (cfg->crypto_old_keys != NULL && cfg->crypto_old_keys[0] != '\0') {
			snprintf(why, whylen, "crypto_old_keys needs a current key (crypto_key_file)");
			return -1;
		}
		return 0;
	}
	kr = crypto_keyring_create();
	if (kr == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (have_hex) {
		if (crypto_keyring_add_hex(kr, cfg->crypto_key_id, cfg->crypto_key, true, &reason) != 0) {
			snprintf(why, whylen, "crypto_key: %s", reason);
			goto out;
		}
	} else if (add_key_file(kr, cfg->crypto_key_id, cfg->crypto_key_file, true, why, whylen) != 0) {
		goto out;
	}
	if (cfg->crypto_old_keys != NULL && add_old_keys(kr, cfg->crypto_old_keys, why, whylen) != 0)
		goto out;
	*out = kr;
	kr = NULL;
	rc = 0;
out:
	crypto_keyring_free(kr);
	return rc;
}

enum crypto_err crypto_seal(const struct crypto_keyring *kr, const void *aad, size_t aadlen,
			    const void *pt, size_t ptlen, struct crypto_sealed *out)
{
	const struct crypto_key *k;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *ct = NULL;
	int n = 0, fin = 0;
	enum crypto_err rc = CRYPTO_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	if (kr == NULL || kr->current < 0)
		return CRYPTO_ERR_NOKEY;
	if (ptlen > CRYPTO_MAX_PLAINTEXT || aadlen > INT32_MAX)
		return CRYPTO_ERR_FORMAT;
	k = &kr->keys[kr->current];
	ct = malloc(ptlen + CRYPTO_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (ct == NULL || ctx == NULL)
		goto out;
	if (RAND_bytes(out->nonce, CRYPTO_NONCE_LEN) != 1)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, out->nonce) != 1)
		goto out;
	if (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	n = 0;
	if (ptlen > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)(n + fin) != ptlen)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, ct + ptlen) != 1)
		goto out;
	snprintf(out->kid, sizeof(out->kid), "%s", k->kid);
	out->ct = ct;
	out->ctlen = ptlen + CRYPTO_TAG_LEN;
	ct = NULL;
	rc = CRYPTO_OK;
out:
	if (ct != NULL) {
		OPENSSL_cleanse(ct, ptlen + CRYPTO_TAG_LEN);
		free(ct);
	}
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

enum crypto_err crypto_open(const struct crypto_keyring *kr, const struct crypto_sealed *in,
			    const void *aad, size_t aadlen, char **pt, size_t *ptlen)
{
	const struct crypto_key *k;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *plain = NULL, tag[CRYPTO_TAG_LEN];
	size_t len;
	int n = 0, fin = 0;
	enum crypto_err rc = CRYPTO_ERR_INTERNAL;

	*pt = NULL;
	if (in->ct == NULL || in->ctlen < CRYPTO_TAG_LEN ||
	    in->ctlen - CRYPTO_TAG_LEN > CRYPTO_MAX_PLAINTEXT || aadlen > INT32_MAX)
		return CRYPTO_ERR_FORMAT;
	if (kr == NULL || (k = keyring_find(kr, in->kid)) == NULL)
		return CRYPTO_ERR_NOKEY;
	len = in->ctlen - CRYPTO_TAG_LEN;
	memcpy(tag, in->ct + len, CRYPTO_TAG_LEN);
	plain = malloc(len + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (plain == NULL || ctx == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, in->nonce) != 1)
		goto out;
	if (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1)
		goto out;
	n = 0;
	if (len > 0 && EVP_DecryptUpdate(ctx, plain, &n, in->ct, (int)len) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, plain + n, &fin) != 1) {
		rc = CRYPTO_ERR_AUTH;
		goto out;
	}
	plain[len] = '\0';
	*pt = (char *)plain;
	if (ptlen != NULL)
		*ptlen = len;
	plain = NULL;
	rc = CRYPTO_OK;
out:
	if (plain != NULL) {
		OPENSSL_cleanse(plain, len + 1);
		free(plain);
	}
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

void crypto_sealed_cleanup(struct crypto_sealed *s)
{
	free(s->ct);
	memset(s, 0, sizeof(*s));
}

void crypto_secret_free(char *pt)
{
	if (pt == NULL)
		return;
	OPENSSL_cleanse(pt, strlen(pt));
	free(pt);
}

/* Base64 of in[0..n) as a new JSON string. */
static json_t *b64_json(const unsigned char *in, size_t n)
{
	char *txt = malloc(4 * ((n + 2) / 3) + 1);
	json_t *j = NULL;

	if (txt == NULL || n > INT32_MAX / 2)
		goto out;
	EVP_EncodeBlock((unsigned char *)txt, in, (int)n);
	j = json_string(txt);
out:
	free(txt);
	return j;
}

/* Decodes base64 s into a new buffer; -1 when s is not canonical base64. */
static int b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *buf;
	int got;

	if (n == 0 || n % 4 != 0 || n > 4 * ((CRYPTO_MAX_PLAINTEXT + CRYPTO_TAG_LEN + 2) / 3))
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	buf = malloc(n / 4 * 3 + 1);
	if (buf == NULL)
		return -1;
	got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = (size_t)got - pad;
	return 0;
}

json_t *crypto_sealed_to_json(const struct crypto_sealed *s)
{
	return json_pack("{s:s,s:s,s:o,s:o}", "alg", "A256GCM", "kid", s->kid,
			 "nonce", b64_json(s->nonce, CRYPTO_NONCE_LEN),
			 "ct", b64_json(s->ct, s->ctlen));
}

enum crypto_err crypto_sealed_from_json(const json_t *j, struct crypto_sealed *out)
{
	const char *alg = NULL, *kid = NULL, *nonce = NULL, *ct = NULL;
	unsigned char *nb = NULL;
	size_t nlen = 0;

	memset(out, 0, sizeof(*out));
	if (json_unpack((json_t *)j, "{s:s,s:s,s:s,s:s}", "alg", &alg, "kid", &kid,
			"nonce", &nonce, "ct", &ct) != 0)
		return CRYPTO_ERR_FORMAT;
	if (strcmp(alg, "A256GCM") != 0 || !crypto_kid_valid(kid))
		return CRYPTO_ERR_FORMAT;
	if (b64_decode(nonce, &nb, &nlen) != 0)
		return CRYPTO_ERR_FORMAT;
	if (nlen != CRYPTO_NONCE_LEN) {
		free(nb);
		return CRYPTO_ERR_FORMAT;
	}
	memcpy(out->nonce, nb, CRYPTO_NONCE_LEN);
	free(nb);
	if (b64_decode(ct, &out->ct, &out->ctlen) != 0 || out->ctlen < CRYPTO_TAG_LEN) {
		crypto_sealed_cleanup(out);
		return CRYPTO_ERR_FORMAT;
	}
	snprintf(out->kid, sizeof(out->kid), "%s", kid);
	return CRYPTO_OK;
}

int crypto_key_generate_hex(char out[CRYPTO_KEY_HEX_LEN + 1])
{
	return str_random_hex(out, CRYPTO_KEY_LEN);
}
