/*
 * raw_insert: the baseline of bench/run-events' ingest benchmark. Inserts
 * the documents POST /v1/events would store (same fields, same sizes)
 * straight into the store with mongoc_collection_insert_many, unordered,
 * with the same write concern, from P processes for S seconds, and prints
 * "events/s".
 *
 * usage: raw_insert URI DATABASE PROCESSES SECONDS BATCH
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "bench_events.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One process: inserts batches until the deadline; writes its count to fd. */
static int run(const char *uri, const char *db, int proc, double seconds, int batch, int fd)
{
	mongoc_client_t *client;
	mongoc_collection_t *coll;
	mongoc_write_concern_t *wc;
	bson_t opts = BSON_INITIALIZER;
	bson_t **docs = calloc((size_t)batch, sizeof(*docs));
	long long done = 0, seq = (1LL << 50) + ((long long)getpid() << 24);
	double end = now_s() + seconds;
	bson_error_t err;

	mongoc_init();
	client = mongoc_client_new(uri);
	if (client == NULL || docs == NULL)
		return 1;
	mongoc_client_set_error_api(client, 2);
	coll = mongoc_client_get_collection(client, db, "events");
	wc = mongoc_write_concern_new();
	mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
	mongoc_write_concern_append(wc, &opts);
	BSON_APPEND_BOOL(&opts, "ordered", false);
	srand((unsigned)getpid());
	while (now_s() < end) {
		for (int i = 0; i < batch; i++) {
			docs[i] = bson_new();
			bench_event_bson(docs[i], "bench-raw", proc * 1000000 + (int)(done % 1000000) + i, ++seq);
		}
		if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, (size_t)batch, &opts,
						   NULL, &err)) {
			fprintf(stderr, "raw_insert: %s\n", err.message);
			return 1;
		}
		for (int i = 0; i < batch; i++)
			bson_destroy(docs[i]);
		done += batch;
	}
	if (write(fd, &done, sizeof(done)) != sizeof(done))
		return 1;
	bson_destroy(&opts);
	mongoc_write_concern_destroy(wc);
	mongoc_collection_destroy(coll);
	mongoc_client_destroy(client);
	mongoc_cleanup();
	free(docs);
	return 0;
}

int main(int argc, char **argv)
{
	int procs, batch, fds[2], status, failed = 0;
	double seconds, start;
	long long total = 0, n;

	if (argc != 6) {
		fprintf(stderr, "usage: raw_insert URI DATABASE PROCESSES SECONDS BATCH\n");
		return 2;
	}
	procs = (int)strtol(argv[3], NULL, 10);
	seconds = atof(argv[4]);
	batch = (int)strtol(argv[5], NULL, 10);
	if (procs < 1 || seconds <= 0 || batch < 1 || pipe(fds) != 0)
		return 2;
	start = now_s();
	for (int p = 0; p < procs; p++)
		if (fork() == 0)
			_exit(run(argv[1], argv[2], p, seconds, batch, fds[1]));
	close(fds[1]);
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	while (read(fds[0], &n, sizeof(n)) == sizeof(n))
		total += n;
	if (failed)
		return 1;
	printf("%.0f\n", (double)total / (now_s() - start));
	return 0;
}
