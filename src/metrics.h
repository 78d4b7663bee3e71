/*
 * metrics: the Prometheus metrics of GET /metrics (CONTRACT §8), counted in
 * a file every worker process of the host maps (metrics_file), so one
 * scrape sees the sum of all workers of both pools. Counters are atomic
 * adds: a worker killed at any point loses nothing but its own request.
 * Like the log, this is process state: metrics_open() once at start, then
 * metrics_add()/metrics_observe() from anywhere. Before metrics_open (the
 * admin tool, unit tests) every call is a no-op.
 */
#ifndef DBAUDIT_METRICS_H
#define DBAUDIT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct route;

/*
 * Every simple metric, one line each: X(ID, type, name, help). type is
 * counter (only grows) or gauge (goes up and down: add -1). Adding a metric
 * is adding a line here and calling metrics_add(METRIC_<ID>, n) where it
 * happens.
 */
#define METRICS_SIMPLE(X) \
	X(EVENTS_INGESTED, counter, "dbaudit_events_ingested_total", "Events stored by POST /v1/events (duplicates not counted).") \
	X(EVENTS_DUPLICATE, counter, "dbaudit_events_duplicate_total", "Events of POST /v1/events whose external_id was already stored.") \
	X(RATELIMIT_REJECTED, counter, "dbaudit_ratelimit_rejections_total", "Requests refused with 429 by a principal's rate limit.") \
	X(AUTH_GUARD_REJECTED, counter, "dbaudit_auth_guard_rejections_total", "Requests refused with 429 because their address failed to authenticate too often.") \
	X(STORE_ERRORS, counter, "dbaudit_store_errors_total", "Store operations that failed (unreachable, timeout, internal; conflicts not counted).") \
	X(HEARTBEATS, counter, "dbaudit_collector_heartbeats_total", "Collector heartbeats received (POST /v1/databases/{id}/heartbeat).") \
	X(STREAM_SUBSCRIBERS, gauge, "dbaudit_stream_subscribers", "Open event streams (GET /v1/events/stream).") \
	X(STREAM_STORE_READS, counter, "dbaudit_stream_store_reads_total", "Store reads of the stream readers (watermark reads and event pages): one reader per stream process, whatever the number of streams.") \
	X(WEBHOOK_DELIVERIES, counter, "dbaudit_webhook_deliveries_total", "Webhook delivery attempts that succeeded.") \
	X(WEBHOOK_FAILURES, counter, "dbaudit_webhook_delivery_failures_total", "Webhook delivery attempts that failed.")

/* Histograms of durations, one line each: X(ID, name, help). */
#define METRICS_HISTOGRAMS(X) \
	X(STORE_LATENCY, "dbaudit_store_operation_duration_seconds", "Duration of store round trips (health pings).")

#define METRIC_ENUM(id, ...) METRIC_##id,
enum metric { METRICS_SIMPLE(METRIC_ENUM) METRIC__COUNT };
#define HIST_ENUM(id, ...) HIST_##id,
enum metric_hist { METRICS_HISTOGRAMS(HIST_ENUM) HIST__COUNT };

/*
 * Maps the metrics file at path for the nroutes routes of table (their
 * method and pattern label the request metrics; another table makes
 * another layout). Returns 0, or -1 with *why set.
 */
int metrics_open(const char *path, const struct route *table, size_t nroutes, const char **why);

/* Unmaps the metrics file. */
void metrics_close(void);

/* Adds n to metric m (n < 0 for a gauge going down). */
void metrics_add(enum metric m, int64_t n);

/* Records one duration of us microseconds in histogram h. */
void metrics_observe(enum metric_hist h, int64_t us);

/*
 * Counts one request answered with status after us microseconds, of route
 * index route (its index in the table; -1 or out of range: no route).
 */
void metrics_request(long route, int status, int64_t us);

/* Appends the Prometheus text format (version 0.0.4) of every metric to out. Returns 0 or -1. */
int metrics_render(struct buf *out);

/*
 * Renders into a buffer the module keeps: the text stays valid until the
 * next call. Returns NULL when memory runs out.
 */
const char *metrics_text(size_t *len);

#endif
