/*
 * metrics: counters in a shared file, rendered as Prometheus text. The
 * file (util/shmfile.c) holds plain 64-bit counters updated with atomic
 * adds: the simple metrics, the histograms, and per route (the route
 * table's order, plus one row for requests that matched none) a count per
 * status and a latency histogram. Histogram buckets are stored one by one
 * and summed into Prometheus' cumulative form when rendered.
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "route.h"
#include "util/buf.h"
#include "util/shmfile.h"

#define METRICS_MAX_ROUTES 96
#define NBUCKETS 12   /* the bounds below, then +Inf */

static const int64_t bucket_us[NBUCKETS - 1] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};
static const char *const bucket_le[NBUCKETS] = {
	"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "10", "+Inf",
};

static const int statuses[] = {
	200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503,
};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)   /* + any other */

struct hist {
	uint64_t bucket[NBUCKETS];
	uint64_t sum_us;
};

struct metrics_file {
	struct shmfile_header hdr;
	uint64_t simple[METRIC__COUNT];
	struct hist hist[HIST__COUNT];
	uint64_t requests[METRICS_MAX_ROUTES + 1][NSTATUS];
	struct hist latency[METRICS_MAX_ROUTES + 1];
};

/* Process state, as the log's: set once at start by metrics_open. */
static struct metrics_file *mf;
static const struct route *routes;
static size_t nroutes;
static struct buf text;

#define SIMPLE_ROW(id, type, name, help) { name, #type, help },
static const struct { const char *name, *type, *help; } simple_meta[] = {
	METRICS_SIMPLE(SIMPLE_ROW)
};
#define HIST_ROW(id, name, help) { name, help },
static const struct { const char *name, *help; } hist_meta[] = {
	METRICS_HISTOGRAMS(HIST_ROW)
};

int metrics_open(const char *path, const struct route *table, size_t n, const char **why)
{
	uint64_t tag = shmfile_hash(SHMFILE_HASH_INIT, "metrics1", 8);

	if (n > METRICS_MAX_ROUTES) {
		*why = "more routes than METRICS_MAX_ROUTES";
		return -1;
	}
	/* The layout names the routes: a new route table is a new file. */
	for (size_t i = 0; i < n; i++) {
		tag = shmfile_hash(tag, table[i].method, strlen(table[i].method) + 1);
		tag = shmfile_hash(tag, table[i].pattern, strlen(table[i].pattern) + 1);
	}
	{
		uint64_t counts[2] = { METRIC__COUNT, HIST__COUNT };

		tag = shmfile_hash(tag, counts, sizeof(counts));
	}
	mf = shmfile_map(path, sizeof(*mf), tag, NULL, NULL, why);
	if (mf == NULL)
		return -1;
	routes = table;
	nroutes = n;
	return 0;
}

void metrics_close(void)
{
	shmfile_unmap(mf, sizeof(*mf));
	mf = NULL;
	buf_cleanup(&text);
}

void metrics_add(enum metric m, int64_t n)
{
	if (mf != NULL && m < METRIC__COUNT)
		__atomic_fetch_add(&mf->simple[m], (uint64_t)n, __ATOMIC_RELAXED);
}

static void hist_add(struct hist *h, int64_t us)
{
	size_t b = 0;

	if (us < 0)
		us = 0;
	while (b < NBUCKETS - 1 && us > bucket_us[b])
		b++;
	__atomic_fetch_add(&h->bucket[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_us, (uint64_t)us, __ATOMIC_RELAXED);
}

void metrics_observe(enum metric_hist h, int64_t us)
{
	if (mf != NULL && h < HIST__COUNT)
		hist_add(&mf->hist[h], us);
}

void metrics_request(long route, int status, int64_t us)
{
	size_t r = route >= 0 && (size_t)route < nroutes ? (size_t)route : METRICS_MAX_ROUTES;
	size_t s = NSTATUS - 1;

	if (mf == NULL)
		return;
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			s = i;
	__atomic_fetch_add(&mf->requests[r][s], 1, __ATOMIC_RELAXED);
	hist_add(&mf->latency[r], us);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int head(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a histogram's series; labels is "" or `k="v"` pairs. */
static int hist_render(struct buf *out, const char *name, const char *labels, const struct hist *h)
{
	const char *sep = labels[0] ? "," : "";
	char braces[300];
	uint64_t cum = 0;
	int rc = 0;

	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += load(&h->bucket[b]);
		rc |= buf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
				  bucket_le[b], (unsigned long long)cum);
	}
	snprintf(braces, sizeof(braces), labels[0] ? "{%s}" : "%s", labels);
	rc |= buf_appendf(out, "%s_sum%s %.6f\n%s_count%s %llu\n", name, braces,
			  (double)load(&h->sum_us) / 1e6, name, braces, (unsigned long long)cum);
	return rc;
}

/* The label pairs of route r (patterns hold no quote or backslash). */
static void route_labels(size_t r, char *out, size_t len)
{
	if (r < nroutes)
		snprintf(out, len, "method=\"%s\",route=\"%s\"", routes[r].method, routes[r].pattern);
	else
		snprintf(out, len, "method=\"\",route=\"none\"");
}

int metrics_render(struct buf *out)
{
	char labels[256];
	int rc = 0;

	if (mf == NULL)
		return 0;
	for (size_t m = 0; m < METRIC__COUNT; m++) {
		rc |= head(out, simple_meta[m].name, simple_meta[m].type, simple_meta[m].help);
		rc |= buf_appendf(out, "%s %lld\n", simple_meta[m].name, (long long)load(&mf->simple[m]));
	}
	for (size_t h = 0; h < HIST__COUNT; h++) {
		rc |= head(out, hist_meta[h].name, "histogram", hist_meta[h].help);
		rc |= hist_render(out, hist_meta[h].name, "", &mf->hist[h]);
	}
	rc |= head(out, "dbaudit_http_requests_total", "counter",
		   "Requests the application answered, by route and status (route \"none\": no route matched).");
	for (size_t r = 0; r <= METRICS_MAX_ROUTES; r++) {
		if (r >= nroutes && r != METRICS_MAX_ROUTES)
			continue;
		route_labels(r, labels, sizeof(labels));
		for (size_t s = 0; s < NSTATUS; s++) {
			uint64_t v = load(&mf->requests[r][s]);

			if (v == 0)
				continue;
			if (s < NSTATUS - 1)
				rc |= buf_appendf(out, "dbaudit_http_requests_total{%s,status=\"%d\"} %llu\n",
						  labels, statuses[s], (unsigned long long)v);
			else
				rc |= buf_appendf(out, "dbaudit_http_requests_total{%s,status=\"other\"} %llu\n",
						  labels, (unsigned long long)v);
		}
	}
	rc |= head(out, "dbaudit_http_request_duration_seconds", "histogram",
		   "Time from the request's arrival at the worker to its response, by route.");
	for (size_t r = 0; r <= METRICS_MAX_ROUTES; r++) {
		uint64_t n = 0;

		if (r >= nroutes && r != METRICS_MAX_ROUTES)
			continue;
		for (size_t b = 0; b < NBUCKETS; b++)
			n += load(&mf->latency[r].bucket[b]);
		if (n == 0)
			continue;
		route_labels(r, labels, sizeof(labels));
		rc |= hist_render(out, "dbaudit_http_request_duration_seconds", labels, &mf->latency[r]);
	}
	return rc == 0 ? 0 : -1;
}

const char *metrics_text(size_t *len)
{
	text.len = 0;
	if (metrics_render(&text) != 0 || text.data == NULL) {
		*len = 0;
		return NULL;
	}
	*len = text.len;
	return text.data;
}
