/*
 * ratelimit_internal: what ratelimit.c shares with its two counter
 * backends, the host's shared memory (ratelimit_shm.c) and Redis
 * (ratelimit_redis.c). Both run the same GCRA step over one or two limits,
 * all or nothing.
 */
#ifndef DBAUDIT_RATELIMIT_INTERNAL_H
#define DBAUDIT_RATELIMIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_MAX_LIMITS 2

/* One limit as the backends see it: a counter key and its rate. */
struct rl_limit {
	uint64_t key;          /* hash of the limit's name and its subject */
	int64_t limit;         /* requests per window */
	int64_t interval_us;   /* window_us / limit: the GCRA emission interval */
	int64_t window_us;
};

/* What a backend decided for a set of limits. */
struct rl_outcome {
	bool allowed;
	size_t which;          /* the limit the numbers below are about */
	int64_t remaining;
	int64_t reset_in_us;   /* until that limit is back to its full allowance */
	int64_t retry_in_us;   /* when refused: until one request fits again */
};

/*
 * One GCRA step of limit l whose stored theoretical arrival time is tat,
 * at time now (both microseconds on one clock). Writes the new tat to
 * *next (only meaningful when allowed), and the remaining allowance,
 * reset and retry delays. Returns whether a request fits.
 */
bool rl_gcra_step(const struct rl_limit *l, int64_t tat, int64_t now, int64_t *next,
		  struct rl_outcome *o);

/* Picks, over n limits' outcomes, the one to report (the first refusal, else the tightest). */
void rl_outcome_merge(const struct rl_outcome *each, size_t n, struct rl_outcome *out);

struct rl_shm;

/*
 * Maps the counter file at path, creating and sizing it for slots counters
 * when it is missing or was made by another layout. Returns 0, or -1 with
 * *why set.
 */
int rl_shm_open(const char *path, int64_t slots, struct rl_shm **out, const char **why);

/* Unmaps s; NULL is a no-op. */
void rl_shm_close(struct rl_shm *s);

/*
 * Runs the GCRA step of n limits (at most RL_MAX_LIMITS) under their
 * groups' locks and, when all fit and peek is false, stores the new times.
 * A lock whose holder died (kill -9) is recovered.
 */
void rl_shm_take(struct rl_shm *s, const struct rl_limit *lims, size_t n, bool peek,
		 struct rl_outcome *out);

struct rl_redis;

/*
 * Prepares a Redis client for url ("redis://host[:port][/db]") with every
 * call bounded by timeout_ms. Connects lazily. who names the user in its
 * log lines ("ratelimit") and outage what happens meanwhile (static
 * strings). Returns 0, or -1 with *why.
 */
int rl_redis_create(const char *url, int64_t timeout_ms, const char *who, const char *outage,
		    struct rl_redis **out, const char **why);

/* Frees r; NULL is a no-op. */
void rl_redis_free(struct rl_redis *r);

/*
 * The GCRA step of rl_shm_take (never a peek) in one Lua script run with
 * EVALSHA on Redis' clock, taking up to want units at once: first gives
 * back refund units (a lease's unspent ones), then takes the largest
 * k <= want that all n limits fit and writes it to *got (0 when refused).
 * out is the outcome after the take. Returns 0, or -1 when Redis cannot
 * answer: then it logs once per outage and retries to connect at most
 * once a second.
 */
int rl_redis_take(struct rl_redis *r, const struct rl_limit *lims, size_t n, int64_t want,
		  int64_t refund, struct rl_outcome *out, int64_t *got);

/*
 * Adds one event at now_ms to the sliding-window counter key (a hash of
 * buckets, each window_ms / buckets wide) and writes how many the window
 * ending at now_ms holds to *count. For detect_counter.c, which shares
 * this client's connection handling. Returns 0, or -1 as rl_redis_take.
 */
int rl_redis_window_add(struct rl_redis *r, const char *key, int64_t now_ms, int64_t window_ms,
			int buckets, int64_t *count);

#endif
