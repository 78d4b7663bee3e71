/*
 * timeutil: RFC 3339 timestamps as milliseconds since the epoch (UTC), and
 * the clocks the server reads.
 */
#ifndef DBAUDIT_TIMEUTIL_H
#define DBAUDIT_TIMEUTIL_H

#include <stdint.h>

#define TIME_RFC3339_LEN 32

/* The accepted range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. */
#define TIME_MIN_MS (-62135596800000LL)
#define TIME_MAX_MS 253402300799999LL

/*
 * Parses an RFC 3339 date-time ("2025-01-15T14:32:18Z",
 * "2025-01-15t16:32:18.123456789012+02:00"): 'T', 't' or ' ' as separator,
 * a fraction of any length (truncated to the millisecond), 'Z', 'z' or a
 * numeric offset. The instant, normalised to UTC, must lie within
 * TIME_MIN_MS..TIME_MAX_MS. A leap second (hh:mm:60 that is 23:59:60 in
 * UTC) becomes 23:59:59.999 UTC; any other :60 is refused. Returns 0 and
 * writes *ms, or -1 (nothing written).
 */
int time_parse_rfc3339(const char *s, int64_t *ms);

/*
 * Formats ms as "YYYY-MM-DDTHH:MM:SSZ" (UTC), with ".mmm" before the Z when
 * ms is not a whole second; values outside TIME_MIN_MS..TIME_MAX_MS are
 * clamped to them, so the output is always RFC 3339. out must hold
 * TIME_RFC3339_LEN bytes.
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
