/* dbsecrets: sealing and opening the secrets of a record (see dbsecrets.h). */
#include "dbsecrets.h"

#include <stdio.h>
#include <string.h>

size_t dbsecrets_aad(char *out, size_t n, const char *id, enum db_secret s)
{
	int len = snprintf(out, n, "%s/%s", id, dbrec_secret_name(s));

	return len > 0 && (size_t)len < n ? (size_t)len : 0;
}

static enum crypto_err seal_one(const struct crypto_keyring *kr, const char *id, enum db_secret s,
				const char *pt, json_t **out)
{
	struct crypto_sealed sealed;
	char aad[96];
	size_t aadlen = dbsecrets_aad(aad, sizeof(aad), id, s);
	enum crypto_err ce;

	*out = NULL;
	if (aadlen == 0)
		return CRYPTO_ERR_FORMAT;
	ce = crypto_seal(kr, aad, aadlen, pt, strlen(pt), &sealed);
	if (ce == CRYPTO_OK && (*out = crypto_sealed_to_json(&sealed)) == NULL)
		ce = CRYPTO_ERR_INTERNAL;
	crypto_sealed_cleanup(&sealed);
	return ce;
}

enum crypto_err dbsecrets_seal(const struct crypto_keyring *kr, const char *id,
			       const char *const plain[DB_SECRET__COUNT], json_t **out)
{
	json_t *o = json_object();

	*out = NULL;
	if (o == NULL)
		return CRYPTO_ERR_INTERNAL;
	for (int s = 0; s < DB_SECRET__COUNT; s++) {
		json_t *sealed;
		enum crypto_err ce;

		if (plain[s] == NULL)
			continue;
		ce = seal_one(kr, id, (enum db_secret)s, plain[s], &sealed);
		if (ce != CRYPTO_OK) {
			json_decref(o);
			return ce;
		}
		json_object_set_new(o, dbrec_secret_name((enum db_secret)s), sealed);
	}
	*out = o;
	return CRYPTO_OK;
}

/* Opens the stored value j of secret s of record id. */
static enum crypto_err open_one(const struct crypto_keyring *kr, const char *id, enum db_secret s,
				const json_t *j, char **pt, char kid[CRYPTO_KID_MAX + 1])
{
	struct crypto_sealed sealed;
	char aad[96];
	size_t aadlen = dbsecrets_aad(aad, sizeof(aad), id, s);
	enum crypto_err ce = crypto_sealed_from_json(j, &sealed);

	*pt = NULL;
	snprintf(kid, CRYPTO_KID_MAX + 1, "%s", sealed.kid);
	if (ce == CRYPTO_OK)
		ce = aadlen ? crypto_open(kr, &sealed, aad, aadlen, pt, NULL) : CRYPTO_ERR_FORMAT;
	crypto_sealed_cleanup(&sealed);
	return ce;
}

enum crypto_err dbsecrets_open(const struct crypto_keyring *kr, const char *id,
			       const json_t *secrets, char *plain[DB_SECRET__COUNT],
			       struct dbsecrets_failure *why)
{
	for (int s = 0; s < DB_SECRET__COUNT; s++)
		plain[s] = NULL;
	for (int s = 0; s < DB_SECRET__COUNT; s++) {
		const json_t *j = json_object_get(secrets, dbrec_secret_name((enum db_secret)s));
		char kid[CRYPTO_KID_MAX + 1];
		enum crypto_err ce;

		if (j == NULL)
			continue;
		ce = open_one(kr, id, (enum db_secret)s, j, &plain[s], kid);
		if (ce != CRYPTO_OK) {
			if (why != NULL) {
				why->secret = (enum db_secret)s;
				snprintf(why->kid, sizeof(why->kid), "%s", kid);
			}
			dbsecrets_free(plain);
			return ce;
		}
	}
	return CRYPTO_OK;
}

void dbsecrets_free(char *plain[DB_SECRET__COUNT])
{
	for (int s = 0; s < DB_SECRET__COUNT; s++) {
		crypto_secret_free(plain[s]);
		plain[s] = NULL;
	}
}

enum crypto_err dbsecrets_reseal(const struct crypto_keyring *kr, const char *id,
				 const json_t *secrets, json_t **out, int *n,
				 struct dbsecrets_failure *why)
{
	const char *current = crypto_keyring_current_kid(kr);
	const char *name;
	json_t *o = NULL, *v;
	enum crypto_err ce = CRYPTO_OK;

	*out = NULL;
	*n = 0;
	if (current == NULL)
		return CRYPTO_ERR_NOKEY;
	if (secrets == NULL)
		return CRYPTO_OK;
	o = json_deep_copy(secrets);
	if (o == NULL)
		return CRYPTO_ERR_INTERNAL;
	json_object_foreach(o, name, v) {
		const char *kid = json_string_value(json_object_get(v, "kid"));
		int s;
		char *pt = NULL, got[CRYPTO_KID_MAX + 1];
		json_t *fresh = NULL;

		for (s = 0; s < DB_SECRET__COUNT; s++)
			if (strcmp(dbrec_secret_name((enum db_secret)s), name) == 0)
				break;
		if (s == DB_SECRET__COUNT)
			continue;  /* not ours: leave it as it is */
		if (kid != NULL && strcmp(kid, current) == 0)
			continue;
		ce = open_one(kr, id, (enum db_secret)s, v, &pt, got);
		if (ce == CRYPTO_OK)
			ce = seal_one(kr, id, (enum db_secret)s, pt, &fresh);
		crypto_secret_free(pt);
		if (ce != CRYPTO_OK) {
			if (why != NULL) {
				why->secret = (enum db_secret)s;
				snprintf(why->kid, sizeof(why->kid), "%s", got);
			}
			break;
		}
		json_object_set_new(o, name, fresh);
		(*n)++;
	}
	if (ce != CRYPTO_OK || *n == 0) {
		json_decref(o);
		*n = ce == CRYPTO_OK ? 0 : *n;
		return ce;
	}
	*out = o;
	return CRYPTO_OK;
}
