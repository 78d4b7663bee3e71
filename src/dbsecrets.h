/*
 * dbsecrets: the secrets of a monitored-database record (password, ssl_ca,
 * ssl_cert, ssl_key) as stored: an object by field name of sealed values
 * (crypto_sealed_to_json). One convention for the API and dbaudit-admin:
 * the associated data of a secret is "<record id>/<field>", so a
 * ciphertext opens only in the record and field it was written for.
 * No store, no FastCGI; unit tested.
 */
#ifndef DBAUDIT_DBSECRETS_H
#define DBAUDIT_DBSECRETS_H

#include <stddef.h>

#include <jansson.h>

#include "crypto.h"
#include "dbrec.h"

/* Writes "<id>/<field>" to out and returns its length (0 if it does not fit). */
size_t dbsecrets_aad(char *out, size_t n, const char *id, enum db_secret s);

/*
 * Seals the non-NULL plaintexts of plain under the current key of kr for
 * record id. On success *out is a new object by field name.
 * CRYPTO_ERR_NOKEY when kr is NULL or has no current key.
 */
enum crypto_err dbsecrets_seal(const struct crypto_keyring *kr, const char *id,
			       const char *const plain[DB_SECRET__COUNT], json_t **out);

/* Why a secret did not open. */
struct dbsecrets_failure {
	enum db_secret secret;
	char kid[CRYPTO_KID_MAX + 1];   /* the key id it names, "" if unreadable */
};

/*
 * Opens every secret of the stored object secrets (NULL: none) of record
 * id into plain (NULL where absent). On failure nothing stays open, the
 * result says why and *why (if not NULL) which secret and key id.
 * Release with dbsecrets_free.
 */
enum crypto_err dbsecrets_open(const struct crypto_keyring *kr, const char *id,
			       const json_t *secrets, char *plain[DB_SECRET__COUNT],
			       struct dbsecrets_failure *why);

/* Wipes and frees the plaintexts of plain and sets them to NULL. */
void dbsecrets_free(char *plain[DB_SECRET__COUNT]);

/*
 * Key rotation for one record: every secret not sealed under the current
 * key is opened (with whichever key of kr it names) and sealed again under
 * the current key. *out is the new secrets object, or NULL when every
 * secret is already under the current key; *n counts the secrets re-sealed.
 */
enum crypto_err dbsecrets_reseal(const struct crypto_keyring *kr, const char *id,
				 const json_t *secrets, json_t **out, int *n,
				 struct dbsecrets_failure *why);

#endif
