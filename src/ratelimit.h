/*
 * ratelimit: the per-principal, per-minute request limits of CONTRACT §7
 * (plans, the events list and detail routes, the kAudit surface) and the
 * per-address guard against credential guessing. GCRA over counters that
 * every worker process of a host shares (a memory-mapped file, see
 * ratelimit_shm.c) or, with ratelimit_redis_url, that every host shares
 * (ratelimit_redis.c). docs/configuration.md lists the limits and
 * docs/operations.md explains the algorithm.
 */
#ifndef DBAUDIT_RATELIMIT_H
#define DBAUDIT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "api_err.h"
#include "principal.h"

struct config;
struct ratelimit;

/* What a check decided, and the X-RateLimit-* values to send. */
struct ratelimit_result {
	bool limited;            /* a limit applies: send the headers */
	bool allowed;            /* false: answer 429 */
	int64_t limit;           /* X-RateLimit-Limit (the tightest limit) */
	int64_t remaining;       /* X-RateLimit-Remaining */
	int64_t reset_s;         /* X-RateLimit-Reset, epoch seconds */
	int64_t retry_after_s;   /* Retry-After when !allowed, at least 1 */
};

/*
 * Creates the limiter of one process from cfg (borrowed; it must outlive
 * the limiter): maps the shared counter file (created if missing) and,
 * when ratelimit_redis_url is set, prepares the Redis client (connected
 * lazily). On error *why says which setting or file is wrong.
 */
enum api_err ratelimit_create(const struct config *cfg, struct ratelimit **out,
			      const char **why);

/* Frees rl and unmaps its counters; NULL is a no-op. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Charges one request of principal who to the limits that apply to it: its
 * plan's, and the route's (method and pattern as in the route table) if
 * the route has one. A principal whose plan is unlimited is never charged
 * (out->limited false). A request is charged to every limit or to none.
 * Returns API_OK with *out filled (allowed or not), or API_ERR_UNAVAILABLE
 * when Redis cannot be reached and ratelimit_redis_fail is "closed".
 */
enum api_err ratelimit_check(struct ratelimit *rl, const struct principal *who,
			     const char *method, const char *pattern,
			     struct ratelimit_result *out);

/*
 * The credential-guessing guard of client address addr (NULL: no guard):
 * false, with *out filled, when the address made more than
 * ratelimit_auth_failures failed authentications in the last window, so
 * that its requests are refused before their credentials are looked at.
 */
bool ratelimit_guard_allows(struct ratelimit *rl, const char *addr,
			    struct ratelimit_result *out);

/* Counts one failed authentication of client address addr. */
void ratelimit_guard_charge(struct ratelimit *rl, const char *addr);

#endif
