/*
 * detect_counter: the sliding-window counters of the login-anomaly
 * detector (CONTRACT §9), shared by every worker of a host through a
 * memory-mapped file (detect_counter_file, like the rate limits') and, when
 * ratelimit_redis_url is set, by every host through that Redis instead.
 * A window is DC_BUCKETS buckets of window/DC_BUCKETS each: the count is
 * exact to within the oldest bucket. Any backend failure counts as "no
 * count": the detector does not fire, the event is stored as usual.
 */
#ifndef DBAUDIT_DETECT_COUNTER_H
#define DBAUDIT_DETECT_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "api_err.h"
#include "detect.h"

#define DC_BUCKETS 12

struct config;
struct detect_counters;

/*
 * Opens the counters of one process from cfg (borrowed): maps
 * detect_counter_file (created when missing) and, with ratelimit_redis_url,
 * prepares a Redis client (connected lazily). Returns API_OK, or
 * API_ERR_INTERNAL with *why naming the setting or file at fault.
 */
enum api_err detect_counters_create(const struct config *cfg, struct detect_counters **out,
				    const char **why);

/*
 * The same with explicit settings, for tests: path of the shared file,
 * its slots, and redis_url (NULL or "": none) with its timeout.
 */
enum api_err detect_counters_open(const char *path, int64_t slots, const char *redis_url,
				  int64_t redis_timeout_ms, struct detect_counters **out,
				  const char **why);

/* Frees dc and unmaps its file; NULL is a no-op. */
void detect_counters_free(struct detect_counters *dc);

/*
 * Adds one event at now_ms (wall clock, milliseconds) to the window of
 * window_ms named key and returns how many the window ending at now_ms
 * holds, this one included; -1 when the backend fails. dc may be NULL
 * (always -1).
 */
int64_t detect_counters_incr(struct detect_counters *dc, const char *key, int64_t now_ms,
			     int64_t window_ms);

/*
 * The login-anomaly detector of tenant's event in over dc's counters, with
 * the limits of the configuration dc was created from (detect_login_*):
 * true with *hit filled when a burst of user.login_failed from one source
 * or for one user reaches its limit. False for every other event, and when
 * the counters fail.
 */
bool detect_login_check(struct detect_counters *dc, const char *tenant,
			const struct detect_input *in, int64_t now_ms, struct detect_hit *hit);

#endif
