/*
 * seed_store: stores COUNT synthetic events (bench_events.h, numbers START
 * onward) for TENANT straight through the store interface, in batches of
 * 500: the same validation and the same engine code as POST /v1/events,
 * without HTTP. It seeds bench/run-scale's volumes quickly and is the
 * "direct" side of its ingest comparison. Prints "<events> events in
 * <seconds> s: <events/s> events/s".
 *
 * usage: seed_store CONFIG TENANT START COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench_events.h"
#include "config.h"
#include "event.h"
#include "principal.h"
#include "store.h"
#include "util/log.h"
#include "util/timeutil.h"

#define BATCH 500

int main(int argc, char **argv)
{
	struct config cfg;
	struct store *s = NULL;
	struct principal p;
	struct event_in ev[BATCH];
	char err[256], *buf = NULL, msg[256];
	const char *why = NULL;
	size_t len = 0;
	long start, count;
	int64_t t0;

	if (argc != 5)
		return 2;
	start = strtol(argv[3], NULL, 10);
	count = strtol(argv[4], NULL, 10);
	log_init("seed", LOG_WARN);
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, argv[1], err, sizeof(err)) != 0 ||
	    store_open(&cfg, &s, &why) != API_OK) {
		fprintf(stderr, "seed_store: %s\n", why ? why : err);
		return 1;
	}
	memset(&p, 0, sizeof(p));
	snprintf(p.tenants[0], sizeof(p.tenants[0]), "%s", argv[2]);
	p.ntenants = 1;
	t0 = time_mono_ms();
	for (long done = 0; done < count;) {
		size_t n = 0;

		memset(ev, 0, sizeof(ev));
		for (; n < BATCH && done + (long)n < count; n++) {
			FILE *f = open_memstream(&buf, &len);
			json_t *o;

			bench_event_json(f, (int)(start + done + (long)n));
			fclose(f);
			o = json_loads(buf, 0, NULL);
			free(buf);
			buf = NULL;
			if (o == NULL || event_parse(o, &p, &ev[n], msg, sizeof(msg)) != EVENT_PARSE_OK) {
				fprintf(stderr, "seed_store: %s\n", msg);
				return 1;
			}
			json_decref(o);
		}
		if (store_events_insert(s, ev, n, time_now_ms(), cfg.cursor_gap_lease_ms) != API_OK) {
			fprintf(stderr, "seed_store: insert failed\n");
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			event_in_cleanup(&ev[i]);
		done += (long)n;
	}
	{
		double secs = (double)(time_mono_ms() - t0) / 1000.0;

		printf("%ld events in %.2f s: %.0f events/s\n", count, secs, (double)count / secs);
	}
	store_free(s);
	config_cleanup(&cfg);
	return 0;
}
