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
		"2025-01-15T14:32:18Zjunk", "2025-01-15T14:32:18+0200",
		"abcd-01-15T14:32:18Z", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(time_parse_rfc3339(bad[i], &ms), -1);
}

/* Every valid RFC 3339 form, each with the instant it names. */
static void test_parse_forms(void **state)
{
	static const struct {
		const char *in;
		int64_t ms;
	} ok[] = {
		{ "2025-01-15t14:32:18z", 1736951538000LL },
		{ "2025-01-15 14:32:18Z", 1736951538000LL },
		{ "2025-01-15T14:32:18.123456789012Z", 1736951538123LL },
		{ "2025-01-15T14:32:18.123456789012345678901234567890Z", 1736951538123LL },
		{ "2025-01-15T14:32:18.1-00:00", 1736951538100LL },
		{ "2025-01-15T14:32:18+00:00", 1736951538000LL },
		{ "2025-01-15T01:02:18-13:30", 1736951538000LL },
		{ "1969-12-31T23:59:59Z", -1000LL },
		{ "1969-12-31T23:59:59.999Z", -1LL },
		{ "1900-01-01T00:00:00Z", -2208988800000LL },
		{ "0001-01-01T00:00:00Z", TIME_MIN_MS },
		{ "0001-01-01T05:00:00+05:00", TIME_MIN_MS },
		{ "0000-12-31T23:00:00-01:00", TIME_MIN_MS },
		{ "9999-12-31T23:59:59.999Z", TIME_MAX_MS },
		{ "9999-12-31T23:59:59.999999Z", TIME_MAX_MS },
		{ "9999-12-31T23:59:59+23:59", TIME_MAX_MS - 999 - 86340000LL },
		/* leap seconds: kept as the last millisecond of the UTC day */
		{ "2016-12-31T23:59:60Z", 1483228799999LL },
		{ "2016-12-31T23:59:60.5Z", 1483228799999LL },
		{ "2017-01-01T00:59:60+01:00", 1483228799999LL },
		{ "2016-12-31T15:59:60-08:00", 1483228799999LL },
	};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 42;
		if (time_parse_rfc3339(ok[i].in, &ms) != 0)
			fail_msg("'%s' was refused", ok[i].in);
		if (ms != ok[i].ms)
			fail_msg("'%s' gave %lld, not %lld", ok[i].in, (long long)ms, (long long)ok[i].ms);
	}
}

/* Outside 0001..9999 after normalising to UTC, or not RFC 3339. */
static void test_parse_range(void **state)
{
	const char *bad[] = {
		"9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00+00:01",
		"0000-01-01T00:00:00Z", "0001-01-01T00:59:59+01:00", "2016-12-31T23:58:60Z",
		"2016-12-31T23:59:60+01:00", "2016-06-30T12:00:60Z", "2025-01-15T14:32:61Z",
		"2025-01-15T14:32:18+24:00", "2025-01-15T14:32:18+01:60", "2025-01-15T14:32:18+01:00Z",
		"2025-01-15T14:32:18.", "2025-01-15T14:32:18.5", "2025-01-15T14:32:18.5z ",
		"2025-01-15X14:32:18Z", "+2025-01-15T14:32:18Z", "2025-1-15T14:32:18Z",
		"2025-01-15T14:32Z", "10000-01-01T00:00:00Z",
	};
	int64_t ms = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (time_parse_rfc3339(bad[i], &ms) != -1)
			fail_msg("'%s' was accepted as %lld", bad[i], (long long)ms);
	assert_int_equal(ms, 42);
}

/* The formatter's output parses back to the same instant, over the whole range. */
static void test_format_roundtrip(void **state)
{
	static const int64_t v[] = {
		TIME_MIN_MS, TIME_MIN_MS + 1, -62135596799001LL, -2208988800000LL, -86400001LL,
		-1000LL, -1LL, 0, 1, 951782400000LL, 1483228799999LL, TIME_MAX_MS - 1, TIME_MAX_MS,
	};
	char out[TIME_RFC3339_LEN];
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		time_format_rfc3339(v[i], out);
		if (time_parse_rfc3339(out, &ms) != 0 || ms != v[i])
			fail_msg("%lld formats as '%s', which does not parse back", (long long)v[i], out);
	}
	time_format_rfc3339(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	time_format_rfc3339(TIME_MIN_MS, out);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
	time_format_rfc3339(TIME_MAX_MS, out);
	assert_string_equal(out, "9999-12-31T23:59:59.999Z");
	time_format_rfc3339(TIME_MAX_MS + 1000, out);   /* clamped, never year 10000 */
	assert_string_equal(out, "9999-12-31T23:59:59.999Z");
	time_format_rfc3339(INT64_MIN, out);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
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
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
