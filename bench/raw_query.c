/*
 * raw_query: the baseline of bench/run-events' query benchmark. Issues the
 * find that GET /v1/events?type=security.*&severity=critical&limit=100
 * sends to the store (same filter, sort and limit), straight from T
 * threads for S seconds, reading every document; prints
 * "queries/s p50_ms p99_ms", counting, as wrk does, the queries that
 * completed within the S seconds. With COUNT=1 each query is followed by the
 * count of the same filter, as the API's page mode does.
 *
 * usage: raw_query URI DATABASE TENANT THREADS SECONDS [COUNT]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

static mongoc_client_pool_t *pool;
static const char *dbname, *tenant;
static double deadline;
static int with_count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double *lat;
static size_t nlat, caplat;
static int failed;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	mongoc_client_t *c = mongoc_client_pool_pop(pool);
	mongoc_collection_t *coll = mongoc_client_get_collection(c, dbname, "events");
	bson_t *q = BCON_NEW("tenant_id", "{", "$in", "[", BCON_UTF8(tenant), "]", "}",
			     "type", "{", "$in", "[", BCON_UTF8("security.threat_detected"),
			     BCON_UTF8("security.anomaly"), BCON_UTF8("security.privilege_escalation"),
			     "]", "}", "severity", BCON_UTF8("critical"));
	bson_t *opts = BCON_NEW("sort", "{", "timestamp", BCON_INT32(-1), "seq", BCON_INT32(-1), "}",
				"limit", BCON_INT64(100));

	(void)arg;
	while (now_s() < deadline) {
		double t0 = now_s();
		mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, q, opts, NULL);
		const bson_t *doc;
		bson_error_t err;
		int n = 0;

		while (mongoc_cursor_next(cur, &doc))
			n++;
		if (mongoc_cursor_error(cur, &err) || n != 100) {
			fprintf(stderr, "raw_query: %s (%d documents)\n", err.message, n);
			failed = 1;
		}
		mongoc_cursor_destroy(cur);
		if (with_count && mongoc_collection_count_documents(coll, q, NULL, NULL, NULL, &err) < 0) {
			fprintf(stderr, "raw_query: count: %s\n", err.message);
			failed = 1;
		}
		if (now_s() > deadline)
			break; /* as wrk: a query still running at the end is not counted */
		pthread_mutex_lock(&lock);
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 1024;
			lat = realloc(lat, caplat * sizeof(*lat));
		}
		lat[nlat++] = (now_s() - t0) * 1000;
		pthread_mutex_unlock(&lock);
	}
	bson_destroy(opts);
	bson_destroy(q);
	mongoc_collection_destroy(coll);
	mongoc_client_pool_push(pool, c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	mongoc_uri_t *uri;
	pthread_t *th;
	int threads;
	double secs;

	if (argc < 6)
		return 2;
	dbname = argv[2];
	tenant = argv[3];
	threads = (int)strtol(argv[4], NULL, 10);
	secs = atof(argv[5]);
	with_count = argc > 6 && (int)strtol(argv[6], NULL, 10) == 1;
	mongoc_init();
	uri = mongoc_uri_new(argv[1]);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 600000);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, threads);
	pool = mongoc_client_pool_new(uri);
	mongoc_client_pool_set_error_api(pool, 2);
	th = calloc((size_t)threads, sizeof(*th));
	deadline = now_s() + secs;
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	if (failed || nlat == 0)
		return 1;
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("%.3f %.1f %.1f\n", (double)nlat / secs, lat[nlat / 2],
	       lat[(size_t)((double)nlat * 0.99) < nlat ? (size_t)((double)nlat * 0.99) : nlat - 1]);
	mongoc_client_pool_destroy(pool);
	mongoc_uri_destroy(uri);
	mongoc_cleanup();
	return 0;
}
