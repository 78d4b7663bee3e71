/*
 * timeutil: RFC 3339 timestamps as milliseconds since the epoch (UTC), and
 * the clocks the server reads.
 */
#ifndef DBAUDIT_TIMEUTIL_H
#define DBAUDIT_TIMEUTIL_H

#include <stdint.h>

#define TIME_RFC3339_LEN 32

/*
 * Parses an RFC 3339 date-time ("2025-01-15T14:32:18Z",
 * "2025-01-15T14:32:18.123+02:00"): a 'T' or ' ' separator, fractional
 * seconds (kept to the millisecond), 'Z' or a numeric offset. Years 1970 to
 * 9999 only. Returns 0 and writes *ms, or -1.
 */
int time_parse_rfc3339(const char *s, int64_t *ms);

/*
 * Formats ms as "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" before the Z when ms is
 * not a whole second. out must hold TIME_RFC3339_LEN bytes.
 */
void time_format_rfc3339(int64_t ms, char *out);

/* Wall-clock time in milliseconds since the epoch. */
int64_t time_now_ms(void);

/* Monotonic time in milliseconds, for intervals and caches. */
int64_t time_mono_ms(void);

/* Monotonic time in microseconds, for latencies. */
int64_t time_mono_us(void);

/*
 * The same two clocks at the kernel tick's resolution (a few ms), read
 * without the TSC: for hot paths that compare against second-scale
 * deadlines (the API-key cache, key expiry).
 */
int64_t time_now_coarse_ms(void);
int64_t time_mono_coarse_ms(void);

#endif
