/* Unit tests of crypto: sealing, opening, tampering, key ids, rotation, config. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100"

static struct crypto_keyring *ring(const char *kid, const char *hex)
{
	struct crypto_keyring *kr = crypto_keyring_create();
	const char *why = NULL;

	assert_non_null(kr);
	assert_int_equal(crypto_keyring_add_hex(kr, kid, hex, true, &why), 0);
	return kr;
}

static void test_round_trip(void **state)
{
	struct crypto_keyring *kr = ring("k1", K1);
	struct crypto_sealed s, s2;
	char *pt = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(crypto_seal(kr, "db_1/password", 13, "s3cret", 6, &s), CRYPTO_OK);
	assert_string_equal(s.kid, "k1");
	assert_int_equal(s.ctlen, 6 + CRYPTO_TAG_LEN);
	assert_true(memcmp(s.ct, "s3cret", 6) != 0);
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, &len), CRYPTO_OK);
	assert_int_equal(len, 6);
	assert_string_equal(pt, "s3cret");
	crypto_secret_free(pt);
	/* a fresh nonce every time */
	assert_int_equal(crypto_seal(kr, "db_1/password", 13, "s3cret", 6, &s2), CRYPTO_OK);
	assert_true(memcmp(s.nonce, s2.nonce, CRYPTO_NONCE_LEN) != 0);
	assert_true(memcmp(s.ct, s2.ct, s.ctlen) != 0);
	crypto_sealed_cleanup(&s2);
	/* empty plaintext */
	crypto_sealed_cleanup(&s);
	assert_int_equal(crypto_seal(kr, "a", 1, "", 0, &s), CRYPTO_OK);
	assert_int_equal(crypto_open(kr, &s, "a", 1, &pt, &len), CRYPTO_OK);
	assert_int_equal(len, 0);
	assert_string_equal(pt, "");
	crypto_secret_free(pt);
	crypto_sealed_cleanup(&s);
	crypto_keyring_free(kr);
}

static void test_wrong_aad_and_tamper(void **state)
{
	struct crypto_keyring *kr = ring("k1", K1);
	struct crypto_sealed s;
	char *pt = NULL;

	(void)state;
	assert_int_equal(crypto_seal(kr, "db_1/password", 13, "s3cret", 6, &s), CRYPTO_OK);
	/* another record, another field */
	assert_int_equal(crypto_open(kr, &s, "db_2/password", 13, &pt, NULL), CRYPTO_ERR_AUTH);
	assert_null(pt);
	assert_int_equal(crypto_open(kr, &s, "db_1/ssl_key", 12, &pt, NULL), CRYPTO_ERR_AUTH);
	/* ciphertext, tag, nonce */
	s.ct[0] ^= 1;
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_ERR_AUTH);
	s.ct[0] ^= 1;
	s.ct[s.ctlen - 1] ^= 0x80;
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_ERR_AUTH);
	s.ct[s.ctlen - 1] ^= 0x80;
	s.nonce[3] ^= 4;
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_ERR_AUTH);
	s.nonce[3] ^= 4;
	/* truncated */
	s.ctlen = CRYPTO_TAG_LEN - 1;
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_ERR_FORMAT);
	s.ctlen = 6 + CRYPTO_TAG_LEN;
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_OK);
	crypto_secret_free(pt);
	crypto_sealed_cleanup(&s);
	crypto_keyring_free(kr);
}

static void test_wrong_key_and_kid(void **state)
{
	struct crypto_keyring *a = ring("k1", K1), *b = ring("k1", K2), *c = ring("k9", K1);
	struct crypto_sealed s;
	char *pt = NULL;

	(void)state;
	assert_int_equal(crypto_seal(a, "x", 1, "pw", 2, &s), CRYPTO_OK);
	/* same id, other key bytes: the tag does not verify */
	assert_int_equal(crypto_open(b, &s, "x", 1, &pt, NULL), CRYPTO_ERR_AUTH);
	/* same bytes under another id: unknown key id */
	assert_int_equal(crypto_open(c, &s, "x", 1, &pt, NULL), CRYPTO_ERR_NOKEY);
	assert_int_equal(crypto_open(NULL, &s, "x", 1, &pt, NULL), CRYPTO_ERR_NOKEY);
	crypto_sealed_cleanup(&s);
	/* no current key */
	crypto_keyring_free(c);
	c = crypto_keyring_create();
	assert_int_equal(crypto_seal(c, "x", 1, "pw", 2, &s), CRYPTO_ERR_NOKEY);
	assert_int_equal(crypto_seal(NULL, "x", 1, "pw", 2, &s), CRYPTO_ERR_NOKEY);
	crypto_keyring_free(a);
	crypto_keyring_free(b);
	crypto_keyring_free(c);
}

static void test_rotation(void **state)
{
	struct crypto_keyring *old = ring("k1", K1), *kr = crypto_keyring_create();
	struct crypto_sealed s, s2;
	const char *why = NULL;
	char *pt = NULL;

	(void)state;
	assert_int_equal(crypto_seal(old, "db_1/password", 13, "pw", 2, &s), CRYPTO_OK);
	/* new current key k2, k1 kept for opening */
	assert_int_equal(crypto_keyring_add_hex(kr, "k2", K2, true, &why), 0);
	assert_int_equal(crypto_keyring_add_hex(kr, "k1", K1, false, &why), 0);
	assert_string_equal(crypto_keyring_current_kid(kr), "k2");
	assert_int_equal(crypto_open(kr, &s, "db_1/password", 13, &pt, NULL), CRYPTO_OK);
	assert_int_equal(crypto_seal(kr, "db_1/password", 13, pt, 2, &s2), CRYPTO_OK);
	crypto_secret_free(pt);
	assert_string_equal(s2.kid, "k2");
	/* the old keyring cannot open what k2 sealed */
	assert_int_equal(crypto_open(old, &s2, "db_1/password", 13, &pt, NULL), CRYPTO_ERR_NOKEY);
	assert_int_equal(crypto_open(kr, &s2, "db_1/password", 13, &pt, NULL), CRYPTO_OK);
	assert_string_equal(pt, "pw");
	crypto_secret_free(pt);
	/* duplicate and malformed keys */
	assert_int_equal(crypto_keyring_add_hex(kr, "k1", K1, false, &why), -1);
	assert_int_equal(crypto_keyring_add_hex(kr, "k3", "abcd", false, &why), -1);
	assert_int_equal(crypto_keyring_add_hex(kr, "k3", K1 "00", false, &why), -1);
	assert_int_equal(crypto_keyring_add_hex(kr, "bad kid", K1, false, &why), -1);
	assert_int_equal(crypto_keyring_add_hex(kr, "k4", "zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
						false, &why), -1);
	crypto_sealed_cleanup(&s);
	crypto_sealed_cleanup(&s2);
	crypto_keyring_free(old);
	crypto_keyring_free(kr);
}

static void test_json_form(void **state)
{
	struct crypto_keyring *kr = ring("k1", K1);
	struct crypto_sealed s, back;
	json_t *j;
	char *pt = NULL;

	(void)state;
	assert_int_equal(crypto_seal(kr, "x", 1, "hello world", 11, &s), CRYPTO_OK);
	j = crypto_sealed_to_json(&s);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "alg")), "A256GCM");
	assert_string_equal(json_string_value(json_object_get(j, "kid")), "k1");
	assert_int_equal(crypto_sealed_from_json(j, &back), CRYPTO_OK);
	assert_int_equal(back.ctlen, s.ctlen);
	assert_memory_equal(back.ct, s.ct, s.ctlen);
	assert_memory_equal(back.nonce, s.nonce, CRYPTO_NONCE_LEN);
	assert_int_equal(crypto_open(kr, &back, "x", 1, &pt, NULL), CRYPTO_OK);
	assert_string_equal(pt, "hello world");
	crypto_secret_free(pt);
	crypto_sealed_cleanup(&back);
	/* malformed stored forms */
	json_object_set_new(j, "nonce", json_string("AAAA"));
	assert_int_equal(crypto_sealed_from_json(j, &back), CRYPTO_ERR_FORMAT);
	json_object_set_new(j, "nonce", json_string("not base64!"));
	assert_int_equal(crypto_sealed_from_json(j, &back), CRYPTO_ERR_FORMAT);
	json_object_set_new(j, "alg", json_string("A128GCM"));
	assert_int_equal(crypto_sealed_from_json(j, &back), CRYPTO_ERR_FORMAT);
	json_decref(j);
	j = json_pack("{s:s}", "kid", "k1");
	assert_int_equal(crypto_sealed_from_json(j, &back), CRYPTO_ERR_FORMAT);
	json_decref(j);
	crypto_sealed_cleanup(&s);
	crypto_keyring_free(kr);
}

static const char *write_key(const char *name, const char *text)
{
	static char paths[2][64];
	static int i;
	char *p = paths[i++ % 2];
	FILE *f;

	snprintf(p, 64, "/tmp/dbaudit-unit-%d-%s.key", (int)getpid(), name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static void test_from_config(void **state)
{
	struct config cfg;
	struct crypto_keyring *kr = NULL;
	char err[256], why[256], old[200];
	const char *p1 = write_key("a", K1 "\n"), *p2 = write_key("b", K2);

	(void)state;
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	/* nothing configured: no keyring, not an error */
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), 0);
	assert_null(kr);
	free(cfg.crypto_key_file);
	cfg.crypto_key_file = strdup(p1);
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), 0);
	assert_string_equal(crypto_keyring_current_kid(kr), "k1");
	crypto_keyring_free(kr);
	/* both file and hex: refused */
	free(cfg.crypto_key);
	cfg.crypto_key = strdup(K2);
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), -1);
	assert_null(strstr(why, K2));
	/* hex only, with an old key file */
	free(cfg.crypto_key_file);
	cfg.crypto_key_file = strdup("");
	free(cfg.crypto_key_id);
	cfg.crypto_key_id = strdup("k2");
	snprintf(old, sizeof(old), "k1=%s", p1);
	free(cfg.crypto_old_keys);
	cfg.crypto_old_keys = strdup(old);
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), 0);
	assert_string_equal(crypto_keyring_current_kid(kr), "k2");
	assert_true(crypto_keyring_has(kr, "k1"));
	crypto_keyring_free(kr);
	/* bad old key list, unreadable file, malformed key */
	free(cfg.crypto_old_keys);
	cfg.crypto_old_keys = strdup("k1");
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), -1);
	free(cfg.crypto_old_keys);
	cfg.crypto_old_keys = strdup("k1=/nonexistent/key");
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), -1);
	free(cfg.crypto_old_keys);
	cfg.crypto_old_keys = strdup("");
	free(cfg.crypto_key);
	cfg.crypto_key = strdup("1234");
	assert_int_equal(crypto_keyring_from_config(&cfg, &kr, why, sizeof(why)), -1);
	assert_null(kr);
	config_cleanup(&cfg);
	remove(p1);
	remove(p2);
}

static void test_generate(void **state)
{
	char a[CRYPTO_KEY_HEX_LEN + 1], b[CRYPTO_KEY_HEX_LEN + 1];
	struct crypto_keyring *kr = crypto_keyring_create();
	const char *why = NULL;

	(void)state;
	assert_int_equal(crypto_key_generate_hex(a), 0);
	assert_int_equal(crypto_key_generate_hex(b), 0);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_int_equal(crypto_keyring_add_hex(kr, "g", a, true, &why), 0);
	crypto_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wrong_aad_and_tamper),
		cmocka_unit_test(test_wrong_key_and_kid),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_json_form),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_generate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
