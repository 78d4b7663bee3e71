/*
 * Fuzz target rfc3339: time_parse_rfc3339 on any bytes. Whatever it
 * accepts lies in the documented range, and the formatter's output for it
 * parses back to the same instant (the output is always RFC 3339).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[TIME_RFC3339_LEN];
	int64_t ms = 0, back = 0;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (time_parse_rfc3339(s, &ms) == 0) {
		if (ms < TIME_MIN_MS || ms > TIME_MAX_MS)
			abort();
		time_format_rfc3339(ms, out);
		if (time_parse_rfc3339(out, &back) != 0 || back != ms)
			abort();
	}
	free(s);
	return 0;
}
