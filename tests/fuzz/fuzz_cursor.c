/*
 * Fuzz target cursor: event_cursor_decode on any bytes. A decoded cursor
 * is canonical: encoding its sequence gives back exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), again[EVENT_CURSOR_LEN];
	int64_t seq = -1;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (event_cursor_decode(s, &seq) == 0) {
		if (seq < 0)
			abort();
		event_cursor_encode(seq, again);
		if (strcmp(again, s) != 0)
			abort();
	}
	free(s);
	return 0;
}
