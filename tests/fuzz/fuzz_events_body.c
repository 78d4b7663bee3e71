/*
 * Fuzz target events_body: a POST /v1/events body, JSON or NDJSON (the
 * first byte chooses, and whether the principal holds one tenant or two),
 * parsed as the handler does (JSON_REJECT_DUPLICATES; a batch object, one
 * event, or one event per line) and every event through event_parse.
 * An accepted event keeps every documented bound: a timestamp in range, a
 * valid id, sanitised keys, and a size within EVENT_ENCODED_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "principal.h"
#include "util/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts when a key of v (at any level) is empty or still holds '.' or a leading '$'. */
static void check_keys(json_t *v, int depth)
{
	const char *k;
	json_t *c;
	size_t i;

	if (depth > EVENT_DETAILS_DEPTH)
		abort();
	if (json_is_object(v)) {
		if (json_object_size(v) > EVENT_DETAILS_KEYS_MAX)
			abort();
		json_object_foreach(v, k, c) {
			if (k[0] == '\0' || k[0] == '$' || strchr(k, '.') != NULL)
				abort();
			check_keys(c, depth + 1);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			check_keys(c, depth + 1);
	} else if (json_is_string(v) && json_string_length(v) > EVENT_STRING_MAX) {
		abort();
	}
}

static void one_event(json_t *obj, const struct principal *who)
{
	struct event_in ev;
	char msg[200];

	memset(&ev, 0, sizeof(ev));
	if (event_parse(obj, who, &ev, msg, sizeof(msg)) == EVENT_PARSE_OK) {
		if (ev.timestamp_ms < TIME_MIN_MS || ev.timestamp_ms > TIME_MAX_MS ||
		    !event_id_valid(ev.id) || !json_is_object(ev.details) ||
		    json_dumpb(ev.details, NULL, 0, JSON_COMPACT) > EVENT_ENCODED_MAX)
			abort();
		check_keys(ev.details, 1);
	} else if (msg[0] == '\0') {
		abort();   /* every refusal says why */
	}
	event_in_cleanup(&ev);
}

static void events_of(json_t *j, const struct principal *who)
{
	json_t *events = json_is_object(j) ? json_object_get(j, "events") : NULL, *e;
	size_t i;

	if (events == NULL) {
		one_event(j, who);
		return;
	}
	if (!json_is_array(events) || json_array_size(events) > EVENT_MAX_BATCH)
		return;
	json_array_foreach(events, i, e)
		one_event(e, who);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct principal who;
	const char *body = (const char *)data + 1, *end = (const char *)data + size;
	json_error_t jerr;
	json_t *j;
	size_t lines = 0;

	if (size < 1)
		return 0;
	memset(&who, 0, sizeof(who));
	memcpy(who.tenants[0], "acme", 5);
	memcpy(who.tenants[1], "other", 6);
	who.ntenants = (data[0] & 2) ? 2 : 1;
	if ((data[0] & 1) == 0) {
		j = json_loadb(body, (size_t)(end - body), JSON_REJECT_DUPLICATES, &jerr);
		if (j != NULL)
			events_of(j, &who);
		json_decref(j);
		return 0;
	}
	while (body < end && lines++ < EVENT_MAX_BATCH) {
		const char *nl = memchr(body, '\n', (size_t)(end - body));
		size_t n = nl ? (size_t)(nl - body) : (size_t)(end - body);

		j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
		if (j != NULL)
			one_event(j, &who);
		json_decref(j);
		body += n + (nl ? 1 : 0);
	}
	return 0;
}
