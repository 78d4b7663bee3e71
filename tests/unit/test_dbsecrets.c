/* Unit tests of dbsecrets: a record's secrets sealed, opened, moved, re-sealed. */
#include "unit.h"

#include <stdlib.h>

#include "dbsecrets.h"

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100"
#define ID1 "db_000000000000000000000001"
#define ID2 "db_000000000000000000000002"

static struct crypto_keyring *ring(const char *cur_kid, const char *cur, const char *old_kid,
				   const char *old)
{
	struct crypto_keyring *kr = crypto_keyring_create();
	const char *why = NULL;

	assert_int_equal(crypto_keyring_add_hex(kr, cur_kid, cur, true, &why), 0);
	if (old_kid != NULL)
		assert_int_equal(crypto_keyring_add_hex(kr, old_kid, old, false, &why), 0);
	return kr;
}

static void test_seal_open(void **state)
{
	struct crypto_keyring *kr = ring("k1", K1, NULL, NULL);
	const char *in[DB_SECRET__COUNT] = { "pw-1", "CA PEM", NULL, NULL };
	char *out[DB_SECRET__COUNT];
	struct dbsecrets_failure why;
	json_t *sealed = NULL, *moved;
	char *text;

	(void)state;
	assert_int_equal(dbsecrets_seal(kr, ID1, in, &sealed), CRYPTO_OK);
	assert_int_equal(json_object_size(sealed), 2);
	text = json_dumps(sealed, 0);
	assert_null(strstr(text, "pw-1"));
	free(text);
	assert_int_equal(dbsecrets_open(kr, ID1, sealed, out, &why), CRYPTO_OK);
	assert_string_equal(out[DB_SECRET_PASSWORD], "pw-1");
	assert_string_equal(out[DB_SECRET_SSL_CA], "CA PEM");
	assert_null(out[DB_SECRET_SSL_KEY]);
	dbsecrets_free(out);
	/* copied to another record: does not open */
	assert_int_equal(dbsecrets_open(kr, ID2, sealed, out, &why), CRYPTO_ERR_AUTH);
	assert_null(out[DB_SECRET_PASSWORD]);
	/* the password moved into the ssl_ca slot: does not open */
	moved = json_pack("{s:O}", "ssl_ca", json_object_get(sealed, "password"));
	assert_int_equal(dbsecrets_open(kr, ID1, moved, out, &why), CRYPTO_ERR_AUTH);
	assert_int_equal(why.secret, DB_SECRET_SSL_CA);
	assert_string_equal(why.kid, "k1");
	json_decref(moved);
	/* no secrets at all */
	assert_int_equal(dbsecrets_open(kr, ID1, NULL, out, &why), CRYPTO_OK);
	assert_null(out[DB_SECRET_PASSWORD]);
	assert_int_equal(dbsecrets_seal(NULL, ID1, in, &moved), CRYPTO_ERR_NOKEY);
	json_decref(sealed);
	crypto_keyring_free(kr);
}

static void test_reseal(void **state)
{
	struct crypto_keyring *k1 = ring("k1", K1, NULL, NULL);
	struct crypto_keyring *k2 = ring("k2", K2, "k1", K1);
	struct crypto_keyring *only2 = ring("k2", K2, NULL, NULL);
	const char *in[DB_SECRET__COUNT] = { "pw-1", NULL, NULL, NULL };
	char *out[DB_SECRET__COUNT];
	struct dbsecrets_failure why;
	json_t *sealed = NULL, *fresh = NULL, *again = NULL;
	int n = -1;

	(void)state;
	assert_int_equal(dbsecrets_seal(k1, ID1, in, &sealed), CRYPTO_OK);
	/* without the old key the rotation cannot open it */
	assert_int_equal(dbsecrets_reseal(only2, ID1, sealed, &fresh, &n, &why), CRYPTO_ERR_NOKEY);
	assert_null(fresh);
	assert_string_equal(why.kid, "k1");
	assert_int_equal(dbsecrets_reseal(k2, ID1, sealed, &fresh, &n, &why), CRYPTO_OK);
	assert_int_equal(n, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(fresh, "password"), "kid")), "k2");
	assert_int_equal(dbsecrets_open(only2, ID1, fresh, out, &why), CRYPTO_OK);
	assert_string_equal(out[DB_SECRET_PASSWORD], "pw-1");
	dbsecrets_free(out);
	/* idempotent: nothing left to do */
	assert_int_equal(dbsecrets_reseal(k2, ID1, fresh, &again, &n, &why), CRYPTO_OK);
	assert_null(again);
	assert_int_equal(n, 0);
	assert_int_equal(dbsecrets_reseal(k2, ID1, NULL, &again, &n, &why), CRYPTO_OK);
	assert_null(again);
	json_decref(fresh);
	json_decref(sealed);
	crypto_keyring_free(k1);
	crypto_keyring_free(k2);
	crypto_keyring_free(only2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_reseal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
