/* Unit tests of util/str: percent-decoding, UTF-8, hex, integers. */
#include "unit.h"

#include <stdlib.h>

#include "util/str.h"

static void decode_ok(const char *in, int plus, const char *want)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(str_percent_decode(in, strlen(in), plus, &out, &n), 0);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	free(out);
}

static void decode_bad(const char *in)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(str_percent_decode(in, strlen(in), true, &out, &n), -1);
	assert_null(out);
}

static void test_percent_decode(void **state)
{
	(void)state;
	decode_ok("abc", 1, "abc");
	decode_ok("a%20b", 1, "a b");
	decode_ok("a+b", 1, "a b");
	decode_ok("a+b", 0, "a+b");
	decode_ok("%2Fv1%2f", 0, "/v1/");
	decode_ok("%C3%A9", 0, "\xc3\xa9");
	decode_ok("", 1, "");
}

static void test_percent_decode_rejects(void **state)
{
	(void)state;
	decode_bad("%");
	decode_bad("%2");
	decode_bad("abc%");
	decode_bad("%zz");
	decode_bad("%g0");
	decode_bad("%00");
	decode_bad("%C3");      /* truncated UTF-8 */
	decode_bad("%C0%AF");   /* overlong */
	decode_bad("%ED%A0%80"); /* surrogate */
	decode_bad("%FF");
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(str_utf8_valid("plain", 5));
	assert_true(str_utf8_valid("\xe2\x82\xac", 3));
	assert_true(str_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_false(str_utf8_valid("\xe2\x82", 2));
	assert_false(str_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(str_utf8_valid("\x80", 1));
}

static void test_parse_int(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(str_parse_int("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(str_parse_int("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
	assert_int_equal(str_parse_int("0", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("101", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("1e3", 1, 10000, &v), -1);
	assert_int_equal(str_parse_int(" 5", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("5 ", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("+5", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("", 1, 100, &v), -1);
	assert_int_equal(str_parse_int("99999999999999999999999", 1, INT64_MAX, &v), -1);
}

static void test_hex_and_ids(void **state)
{
	char out[33];
	const unsigned char raw[] = { 0x00, 0xab, 0xff };

	(void)state;
	str_hex(raw, 3, out);
	assert_string_equal(out, "00abff");
	assert_int_equal(str_random_hex(out, 16), 0);
	assert_int_equal(strlen(out), 32);
	assert_true(str_is_prefixed_hex("evt_0a1b", "evt_", 4));
	assert_false(str_is_prefixed_hex("evt_0A1b", "evt_", 4));
	assert_false(str_is_prefixed_hex("evt_0a1", "evt_", 4));
	assert_true(str_ct_equal("abc", "abc", 3));
	assert_false(str_ct_equal("abc", "abd", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_percent_decode_rejects),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_hex_and_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
