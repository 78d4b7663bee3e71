/*
 * crypto: sealing of the secrets the server stores (database passwords,
 * client keys) with AES-256-GCM through OpenSSL's EVP interface. Every
 * value gets a fresh random 96-bit nonce; the caller passes associated data
 * that binds the ciphertext to its place (the record id and field name), so
 * a ciphertext copied to another record or field does not open. Each sealed
 * value carries the id of the key that sealed it, so keys can be rotated:
 * the keyring holds one current key (used to seal) and any number of old
 * keys (used only to open).
 *
 * Depends on OpenSSL and jansson only (no store, no FastCGI), so it is unit
 * tested on its own. Plaintexts are never logged; key bytes are wiped when
 * the keyring is freed.
 */
#ifndef DBAUDIT_CRYPTO_H
#define DBAUDIT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct config;

#define CRYPTO_KEY_LEN 32
#define CRYPTO_KEY_HEX_LEN 64
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN 16
#define CRYPTO_KID_MAX 32
#define CRYPTO_MAX_KEYS 8
#define CRYPTO_MAX_PLAINTEXT 65536

enum crypto_err {
	CRYPTO_OK = 0,
	CRYPTO_ERR_NOKEY,     /* no current key, or the sealing key id is not in the keyring */
	CRYPTO_ERR_AUTH,      /* authentication failed: wrong key, wrong AAD or tampered data */
	CRYPTO_ERR_FORMAT,    /* a stored value is malformed */
	CRYPTO_ERR_INTERNAL,  /* OpenSSL or memory failure */
};

/* A sealed value: the key id, the nonce, and the ciphertext followed by the GCM tag. */
struct crypto_sealed {
	char kid[CRYPTO_KID_MAX + 1];
	unsigned char nonce[CRYPTO_NONCE_LEN];
	unsigned char *ct;    /* owned; ctlen bytes (plaintext length + CRYPTO_TAG_LEN) */
	size_t ctlen;
};

struct crypto_keyring;

/* True when kid is a valid key id: 1-32 of [A-Za-z0-9_.-]. */
bool crypto_kid_valid(const char *kid);

/* Creates an empty keyring (no current key). Returns NULL when memory runs out. */
struct crypto_keyring *crypto_keyring_create(void);

/* Wipes the key bytes and frees kr; NULL is a no-op. */
void crypto_keyring_free(struct crypto_keyring *kr);

/*
 * Adds a key given as 64 hex digits under kid; current makes it the sealing
 * key. A kid already present, a malformed kid or key, or a full keyring is
 * an error. Returns 0, or -1 with a static reason in *why (never the key).
 */
int crypto_keyring_add_hex(struct crypto_keyring *kr, const char *kid, const char *hex,
			   bool current, const char **why);

/* Id of the current key, or NULL when there is none. */
const char *crypto_keyring_current_kid(const struct crypto_keyring *kr);

/* True when the keyring holds a key with this id. */
bool crypto_keyring_has(const struct crypto_keyring *kr, const char *kid);

/*
 * Builds the keyring of a configuration: the current key from crypto_key
 * (hex, usually given as DBAUDIT_CRYPTO_KEY) or crypto_key_file (a file
 * holding 64 hex digits), under crypto_key_id; then the old keys of
 * crypto_old_keys ("kid=/path,kid2=/path2"). Giving both crypto_key and
 * crypto_key_file is an error. When no current key is configured *out is
 * NULL and 0 is returned (the caller decides whether that is fatal).
 * Returns 0, or -1 with a one-line reason in why (never key material).
 */
int crypto_keyring_from_config(const struct config *cfg, struct crypto_keyring **out,
			       char *why, size_t whylen);

/*
 * Seals pt[0..ptlen) under the current key with associated data aad.
 * out is filled (the caller cleans it up with crypto_sealed_cleanup).
 * CRYPTO_ERR_NOKEY when the keyring has no current key.
 */
enum crypto_err crypto_seal(const struct crypto_keyring *kr, const void *aad, size_t aadlen,
			    const void *pt, size_t ptlen, struct crypto_sealed *out);

/*
 * Opens a sealed value with the key it names and the same associated data.
 * On success *pt is a malloc'ed NUL-terminated copy of the plaintext and
 * *ptlen its length; the caller releases it with crypto_secret_free.
 */
enum crypto_err crypto_open(const struct crypto_keyring *kr, const struct crypto_sealed *in,
			    const void *aad, size_t aadlen, char **pt, size_t *ptlen);

/* Frees what s owns and empties it. */
void crypto_sealed_cleanup(struct crypto_sealed *s);

/* Wipes and frees a plaintext returned by crypto_open; NULL is a no-op. */
void crypto_secret_free(char *pt);

/*
 * The stored form of a sealed value: {"alg": "A256GCM", "kid", "nonce",
 * "ct"} with nonce and ct in base64. Returns a new reference or NULL.
 */
json_t *crypto_sealed_to_json(const struct crypto_sealed *s);

/* Parses the stored form. CRYPTO_ERR_FORMAT on anything malformed. */
enum crypto_err crypto_sealed_from_json(const json_t *j, struct crypto_sealed *out);

/* Writes a new random key as 64 hex digits and a NUL. Returns 0 or -1. */
int crypto_key_generate_hex(char out[CRYPTO_KEY_HEX_LEN + 1]);

#endif
