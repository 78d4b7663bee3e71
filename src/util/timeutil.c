/* timeutil: RFC 3339 parsing and formatting, clocks. */
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Reads ".digits" at s[*i] into milliseconds (truncated); 0 when absent. */
static int parse_fraction(const char *s, size_t *i, int *frac)
{
	size_t nd = 0;

	*frac = 0;
	if (s[*i] != '.')
		return 0;
	for ((*i)++; s[*i] >= '0' && s[*i] <= '9'; (*i)++, nd++)
		if (nd < 3)
			*frac = *frac * 10 + (s[*i] - '0');
	if (nd == 0)
		return -1;
	for (; nd < 3; nd++)
		*frac *= 10;
	return 0;
}

/* Reads "Z", "z" or "+hh:mm" / "-hh:mm" ending the string: minutes east of UTC. */
static int parse_offset(const char *s, int *off)
{
	int oh, om;

	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*off = 0;
		return 0;
	}
	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':' ||
	    digits(s + 1, 2, &oh) || digits(s + 4, 2, &om) || oh > 23 || om > 59)
		return -1;
	*off = (oh * 60 + om) * (s[0] == '+' ? 1 : -1);
	return 0;
}

int time_parse_rfc3339(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac, off;
	int64_t secs, v;
	size_t i = 19;

	if (strnlen(s, 20) < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (parse_fraction(s, &i, &frac) != 0 || parse_offset(s + i, &off) != 0)
		return -1;
	secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec) -
	       (int64_t)off * 60;
	/*
	 * A leap second exists only as the last second of a UTC day; it is
	 * kept as the last millisecond before it, so the day and the order
	 * relative to :59 stay right and no stored value is ever :60.
	 */
	if (sec == 60) {
		if (((secs % 86400) + 86400) % 86400 != 86399)
			return -1;
		frac = 999;
	}
	v = secs * 1000 + frac;
	if (v < TIME_MIN_MS || v > TIME_MAX_MS)
		return -1;
	*ms = v;
	return 0;
}

void time_format_rfc3339(int64_t ms, char *out)
{
	int64_t days, rem;
	int y, mo, d, ns;
	char tmp[96];

	if (ms < TIME_MIN_MS)
		ms = TIME_MIN_MS;
	if (ms > TIME_MAX_MS)
		ms = TIME_MAX_MS;
	days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	rem = ms - days * 86400000;
	civil_from_days(days, &y, &mo, &d);
	ns = (int)(rem / 1000);
	/* tmp is larger than any value can print, so gcc sees no truncation */
	if (rem % 1000 != 0)
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d,
			 ns / 3600, ns / 60 % 60, ns % 60, (int)(rem % 1000));
	else
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
			 ns / 3600, ns / 60 % 60, ns % 60);
	memcpy(out, tmp, TIME_RFC3339_LEN - 1);
	out[TIME_RFC3339_LEN - 1] = '\0';
}

/* Milliseconds of clock id. */
static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t time_now_coarse_ms(void)
{
	return clock_ms(CLOCK_REALTIME_COARSE);
}

int64_t time_mono_coarse_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC_COARSE);
}

int64_t time_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
