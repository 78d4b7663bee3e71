/* Unit tests of util/timeutil: RFC 3339 parsing and formatting. */
#include "unit.h"

#include "util/timeutil.h"

static void test_parse(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(time_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(time_parse_rfc3339("2025-01-15T14:32:18Z", &ms), 0);
	assert_int_equal(ms, 1736951538000LL);
	assert_int_equal(time_parse_rfc3339("2025-01-15T14:32:18.5Z", &ms), 0);
	assert_int_equal(ms, 1736951538500LL);
	assert_int_equal(time_parse_rfc3339("2025-01-15T16:32:18.123456+02:00", &ms), 0);
	assert_int_equal(ms, 1736951538123LL);
	assert_int_equal(time_parse_rfc3339("2024-02-29T00:00:00Z", &ms), 0);
}

static void test_parse_rejects(void **state)
{
	int64_t ms = 0;
	const char *bad[] = {
		"2025-01-15", "2025-01-15T14:32:18", "2025-13-01T00:00:00Z",
		"2025-02-29T00:00:00Z", "2025-01-15T24:00:00Z", "2025-01-15T14:32:18.Z",
		"2025-01-15T14:32:18Zjunk", "1969-12-31T23:59:59Z", "2025-01-15T14:32:18+0200",
		"abcd-01-15T14:32:18Z", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(time_parse_rfc3339(bad[i], &ms), -1);
}

static void test_format(void **state)
{
	char out[TIME_RFC3339_LEN];

	(void)state;
	time_format_rfc3339(1736951538000LL, out);
	assert_string_equal(out, "2025-01-15T14:32:18Z");
	time_format_rfc3339(1736951538120LL, out);
	assert_string_equal(out, "2025-01-15T14:32:18.120Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
