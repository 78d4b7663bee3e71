/*
 * ratelimit: which limits a request is charged to, GCRA, and the numbers
 * for the X-RateLimit-* headers. The counters live in a backend:
 * ratelimit_shm.c (always: the host's workers) and ratelimit_redis.c (the
 * principals' limits when ratelimit_redis_url is set).
 *
 * GCRA (the generic cell rate algorithm) keeps one time per counter, the
 * theoretical arrival time (TAT): a limit of L per window W lets a request
 * in when TAT + W/L - now <= W, and then moves TAT by W/L. It is a sliding
 * window without boundaries to game: L requests at once, then one every
 * W/L, never more than L in any window.
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ratelimit_internal.h"
#include "util/log.h"
#include "util/shmfile.h"
#include "util/timeutil.h"

/*
 * With Redis, a worker takes a busy principal's allowance a few units at a
 * time and spends them without a round trip (docs/operations.md, "Rate
 * limits"). A lease starts at one unit; it doubles (up to LEASE_MAX) each
 * time the worker spends it all within LEASE_TTL_US, and never exceeds
 * 1/LEASE_SHARE of what the limit has left, so a limit close to used up is
 * charged one request at a time, exactly. Units are taken before they are
 * spent: a lease can refuse a request early, never let one more through.
 * Unspent units are given back with the next take of the same limits; a
 * lease evicted by another principal's loses them (the lease was small:
 * only a principal busy on this worker grows one).
 */
#define LEASE_SLOTS 256
#define LEASE_MAX 32
#define LEASE_SHARE 64
#define LEASE_TTL_US 1000000

struct lease {
	uint64_t keys[RL_MAX_LIMITS];
	size_t n;
	int64_t units;          /* taken from Redis, not yet spent */
	int64_t want;           /* the size of the next take */
	int64_t remaining;      /* what Redis had left after the last take */
	int64_t limit;          /* of the limit the headers are about */
	int64_t reset_s;        /* X-RateLimit-Reset of the last take */
	int64_t taken_us;       /* monotonic time of the last take */
};

struct ratelimit {
	const struct config *cfg;   /* borrowed */
	struct rl_shm *shm;         /* owned */
	struct rl_redis *redis;     /* owned; NULL without ratelimit_redis_url */
	bool fail_closed;
	struct lease leases[LEASE_SLOTS];
};

bool rl_gcra_step(const struct rl_limit *l, int64_t tat, int64_t now, int64_t *next,
		  struct rl_outcome *o)
{
	int64_t nt;

	/* Older than now, or absurdly far ahead (a reboot reset the clock). */
	if (tat < now || tat - now > l->window_us)
		tat = now;
	nt = tat + l->interval_us;
	*next = nt;
	if (nt - now > l->window_us) {
		o->allowed = false;
		o->remaining = 0;
		o->reset_in_us = tat - now;
		o->retry_in_us = nt - l->window_us - now;
		return false;
	}
	o->allowed = true;
	o->remaining = l->interval_us > 0 ? (l->window_us - (nt - now)) / l->interval_us : l->limit;
	if (o->remaining > l->limit - 1)
		o->remaining = l->limit - 1;
	if (o->remaining < 0)
		o->remaining = 0;
	o->reset_in_us = nt - now;
	o->retry_in_us = 0;
	return true;
}

void rl_outcome_merge(const struct rl_outcome *each, size_t n, struct rl_outcome *out)
{
	size_t pick = 0;

	for (size_t i = 1; i < n; i++) {
		const struct rl_outcome *a = &each[pick], *b = &each[i];

		if (a->allowed && !b->allowed)
			pick = i;
		else if (a->allowed == b->allowed &&
			 (a->allowed ? b->remaining < a->remaining : b->retry_in_us > a->retry_in_us))
			pick = i;
	}
	*out = each[pick];
	out->which = pick;
}

/* The counter's key: a hash of name, a NUL and subject; never 0 (an empty slot). */
static uint64_t limit_key(const char *name, const char *subject)
{
	uint64_t h = shmfile_hash(shmfile_hash(SHMFILE_HASH_INIT, name, strlen(name) + 1),
				  subject, strlen(subject));

	return h == 0 ? 1 : h;
}

static void limit_init(struct rl_limit *l, const struct config *cfg, const char *name,
		       const char *subject, int64_t limit)
{
	l->key = limit_key(name, subject);
	l->limit = limit;
	l->window_us = cfg->ratelimit_window_s * 1000000;
	l->interval_us = l->window_us / limit;
}

enum api_err ratelimit_create(const struct config *cfg, struct ratelimit **out,
			      const char **why)
{
	struct ratelimit *rl;
	const char *path = cfg->ratelimit_file[0] ? cfg->ratelimit_file : "/dev/shm/dbaudit-ratelimit";

	*out = NULL;
	if (strcmp(cfg->ratelimit_redis_fail, "open") != 0 &&
	    strcmp(cfg->ratelimit_redis_fail, "closed") != 0) {
		*why = "ratelimit_redis_fail must be open or closed";
		return API_ERR_INTERNAL;
	}
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	rl->cfg = cfg;
	rl->fail_closed = strcmp(cfg->ratelimit_redis_fail, "closed") == 0;
	if (rl_shm_open(path, cfg->ratelimit_slots, &rl->shm, why) != 0 ||
	    (cfg->ratelimit_redis_url[0] != '\0' &&
	     rl_redis_create(cfg->ratelimit_redis_url, cfg->ratelimit_redis_timeout_ms, "ratelimit",
			     "requests pass or fail as ratelimit_redis_fail says", &rl->redis,
			     why) != 0)) {
		ratelimit_free(rl);
		return API_ERR_INTERNAL;
	}
	*out = rl;
	return API_OK;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	rl_redis_free(rl->redis);
	rl_shm_close(rl->shm);
	free(rl);
}

static int64_t plan_limit(const struct config *cfg, enum plan p)
{
	switch (p) {
	case PLAN_FREE: return cfg->ratelimit_free;
	case PLAN_PRO: return cfg->ratelimit_pro;
	case PLAN_ENTERPRISE: return cfg->ratelimit_enterprise;
	}
	return cfg->ratelimit_free;
}

/* The route's own limit (0: none) and its counter's name. */
static int64_t route_limit(const struct config *cfg, const char *method, const char *pattern,
			   const char **name)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return 0;
	if (strcmp(pattern, "/v1/events") == 0) {
		*name = "events_list";
		return cfg->ratelimit_events_list;
	}
	if (strcmp(pattern, "/v1/events/{id}") == 0) {
		*name = "events_get";
		return cfg->ratelimit_events_get;
	}
	if (strncmp(pattern, "/api/v1/public/", 15) == 0) {
		*name = "kaudit";
		return cfg->ratelimit_kaudit;
	}
	return 0;
}

static void result_fill(const struct rl_limit *lims, const struct rl_outcome *o,
			struct ratelimit_result *out)
{
	struct timespec ts;
	int64_t now_us;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	out->limited = true;
	out->allowed = o->allowed;
	out->limit = lims[o->which].limit;
	out->remaining = o->remaining;
	out->reset_s = (now_us + o->reset_in_us + 999999) / 1000000;
	out->retry_after_s = o->allowed ? 0 : (o->retry_in_us + 999999) / 1000000;
	if (!o->allowed && out->retry_after_s < 1)
		out->retry_after_s = 1;
}

static struct lease *lease_slot(struct ratelimit *rl, const struct rl_limit *lims, size_t n,
				bool *same)
{
	uint64_t h = lims[0].key;
	struct lease *l;

	for (size_t i = 1; i < n; i++)
		h = h * 0x9e3779b97f4a7c15ULL ^ lims[i].key;
	l = &rl->leases[(h ^ h >> 29) % LEASE_SLOTS];
	*same = l->n == n;
	for (size_t i = 0; *same && i < n; i++)
		*same = l->keys[i] == lims[i].key;
	return l;
}

/* One request charged to n limits on Redis, from the worker's lease when it can. */
static int redis_charge(struct ratelimit *rl, const struct rl_limit *lims, size_t n,
			struct ratelimit_result *out)
{
	struct rl_outcome o;
	bool same;
	struct lease *l = lease_slot(rl, lims, n, &same);
	int64_t now = time_mono_us(), want = 1, refund = 0, got = 0;

	if (same && l->units > 0 && now - l->taken_us < LEASE_TTL_US) {
		l->units--;
		memset(out, 0, sizeof(*out));
		out->limited = out->allowed = true;
		out->limit = l->limit;
		out->remaining = l->remaining + l->units;
		out->reset_s = l->reset_s;
		return 0;
	}
	if (same) {
		refund = l->units;
		/* Spent in time: take more next; left over or slow: start again. */
		want = refund == 0 && now - l->taken_us < LEASE_TTL_US ? l->want * 2 : 1;
		if (want > LEASE_MAX)
			want = LEASE_MAX;
		if (want > l->remaining / LEASE_SHARE)
			want = l->remaining / LEASE_SHARE;
		if (want < 1)
			want = 1;
	}
	if (rl_redis_take(rl->redis, lims, n, want, refund, &o, &got) != 0)
		return -1;
	result_fill(lims, &o, out);
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < n; i++)
		l->keys[i] = lims[i].key;
	l->n = n;
	l->want = want;
	l->taken_us = now;
	if (got > 0) {
		l->units = got - 1;     /* one is this request's */
		l->remaining = o.remaining;
		l->limit = out->limit;
		l->reset_s = out->reset_s;
		out->remaining = o.remaining + l->units;
	}
	return 0;
}

enum api_err ratelimit_check(struct ratelimit *rl, const struct principal *who,
			     const char *method, const char *pattern,
			     struct ratelimit_result *out)
{
	struct rl_limit lims[RL_MAX_LIMITS];
	struct rl_outcome o;
	const char *rname = NULL;
	int64_t plim = plan_limit(rl->cfg, who->plan), rlim;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->allowed = true;
	if (plim == 0)
		return API_OK;   /* an unlimited plan: no counter at all */
	limit_init(&lims[n++], rl->cfg, "plan", who->id, plim);
	rlim = route_limit(rl->cfg, method, pattern, &rname);
	if (rlim > 0)
		limit_init(&lims[n++], rl->cfg, rname, who->id, rlim);
	if (rl->redis != NULL) {
		if (redis_charge(rl, lims, n, out) == 0)
			return API_OK;
		memset(out, 0, sizeof(*out));
		out->allowed = true;
		if (rl->fail_closed)
			return API_ERR_UNAVAILABLE;
		return API_OK;   /* fail open: no headers, no limit */
	}
	rl_shm_take(rl->shm, lims, n, false, &o);
	result_fill(lims, &o, out);
	return API_OK;
}

bool ratelimit_guard_allows(struct ratelimit *rl, const char *addr,
			    struct ratelimit_result *out)
{
	struct rl_limit l;
	struct rl_outcome o;

	memset(out, 0, sizeof(*out));
	out->allowed = true;
	if (addr == NULL || rl->cfg->ratelimit_auth_failures == 0)
		return true;
	limit_init(&l, rl->cfg, "auth_failures", addr, rl->cfg->ratelimit_auth_failures);
	rl_shm_take(rl->shm, &l, 1, true, &o);
	if (o.allowed)
		return true;
	result_fill(&l, &o, out);
	return false;
}

void ratelimit_guard_charge(struct ratelimit *rl, const char *addr)
{
	struct rl_limit l;
	struct rl_outcome o;

	if (addr == NULL || rl->cfg->ratelimit_auth_failures == 0)
		return;
	limit_init(&l, rl->cfg, "auth_failures", addr, rl->cfg->ratelimit_auth_failures);
	rl_shm_take(rl->shm, &l, 1, false, &o);
}
