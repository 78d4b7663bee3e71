/*
 * gen_events: prints {"events": [...]} with COUNT synthetic events starting
 * at event number START (bench_events.h), the body bench/run-events posts;
 * with BATCHES, that many such bodies one per line, each with the next
 * COUNT events (so that no two requests of a run store the same values).
 *
 * usage: gen_events COUNT START [BATCHES]
 */
#include <stdlib.h>

#include "bench_events.h"

int main(int argc, char **argv)
{
	int count, start, batches = 1;

	if (argc != 3 && argc != 4)
		return 2;
	count = (int)strtol(argv[1], NULL, 10);
	start = (int)strtol(argv[2], NULL, 10);
	if (argc == 4)
		batches = (int)strtol(argv[3], NULL, 10);
	for (int b = 0; b < batches; b++) {
		fputs("{\"events\":[", stdout);
		for (int i = 0; i < count; i++) {
			if (i)
				fputc(',', stdout);
			bench_event_json(stdout, start + b * count + i);
		}
		fputs("]}\n", stdout);
	}
	return 0;
}
