/*
 * detect_counter: sliding-window counters for the login-anomaly detector.
 * On one host they live in a file every worker maps (util/shmfile.c), as
 * groups of DC_GROUP_SLOTS counters behind one process-shared robust mutex
 * each, the layout of ratelimit_shm.c: a worker killed with SIGKILL while
 * it holds a lock leaves it "owner dead", the next locker goes on, and the
 * worst a half-done update leaves is one event counted once more or less.
 * A counter is a ring of DC_BUCKETS buckets (bucket index, count); the
 * window's count is the sum of the buckets whose index lies within it.
 * A full group reuses its stalest counter. With ratelimit_redis_url the
 * same ring lives in Redis (one hash per counter, one Lua script, through
 * the rate limits' client in ratelimit_redis.c) and the file is not used.
 */
#include "detect_counter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ratelimit_internal.h"
#include "util/log.h"
#include "util/shmfile.h"

#define DC_LAYOUT 1
#define DC_GROUP_SLOTS 8
#define DC_HEAD 64

struct dc_slot {
	uint64_t key;                 /* 0: empty */
	int64_t width_ms;             /* bucket width the ring was filled with */
	int64_t idx[DC_BUCKETS];      /* now_ms / width_ms of each bucket */
	uint32_t count[DC_BUCKETS];
};

struct dc_group {
	pthread_mutex_t lock;
	struct dc_slot slot[DC_GROUP_SLOTS];
};

struct detect_counters {
	void *map;
	size_t map_len;
	struct dc_group *groups;
	uint64_t ngroups;
	struct rl_redis *redis;       /* owned; NULL: the file */
	struct detect_login_limits limits;
};

static int dc_format(void *map, void *arg, const char **why)
{
	return shmfile_locks_init((char *)map + DC_HEAD, (size_t)*(const uint64_t *)arg,
				  sizeof(struct dc_group), why);
}

enum api_err detect_counters_open(const char *path, int64_t slots, const char *redis_url,
				  int64_t redis_timeout_ms, struct detect_counters **out,
				  const char **why)
{
	uint64_t ngroups = (uint64_t)(slots + DC_GROUP_SLOTS - 1) / DC_GROUP_SLOTS;
	uint64_t layout[3] = { DC_LAYOUT, sizeof(struct dc_group), ngroups };
	struct detect_counters *dc;

	*out = NULL;
	dc = calloc(1, sizeof(*dc));
	if (dc == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	if (redis_url != NULL && redis_url[0] != '\0') {
		if (rl_redis_create(redis_url, redis_timeout_ms, "detect",
				    "the login-anomaly detector counts nothing", &dc->redis, why) != 0) {
			free(dc);
			return API_ERR_INTERNAL;
		}
		*out = dc;
		return API_OK;
	}
	dc->map_len = DC_HEAD + (size_t)ngroups * sizeof(struct dc_group);
	dc->map = shmfile_map(path, dc->map_len,
			      shmfile_hash(shmfile_hash(SHMFILE_HASH_INIT, "detect", 6),
					   layout, sizeof(layout)),
			      dc_format, &ngroups, why);
	if (dc->map == NULL) {
		free(dc);
		return API_ERR_INTERNAL;
	}
	dc->groups = (struct dc_group *)((char *)dc->map + DC_HEAD);
	dc->ngroups = ngroups;
	*out = dc;
	return API_OK;
}

enum api_err detect_counters_create(const struct config *cfg, struct detect_counters **out,
				    const char **why)
{
	enum api_err rc;

	rc = detect_counters_open(cfg->detect_counter_file[0] ? cfg->detect_counter_file
				  : "/dev/shm/dbaudit-detect", cfg->detect_counter_slots,
				  cfg->ratelimit_redis_url, cfg->ratelimit_redis_timeout_ms, out, why);
	if (rc == API_OK) {
		(*out)->limits.window_ms = cfg->detect_login_window_s * 1000;
		(*out)->limits.per_source = cfg->detect_login_per_source;
		(*out)->limits.per_user = cfg->detect_login_per_user;
	}
	return rc;
}

void detect_counters_free(struct detect_counters *dc)
{
	if (dc == NULL)
		return;
	rl_redis_free(dc->redis);
	shmfile_unmap(dc->map, dc->map_len);
	free(dc);
}

/* The newest bucket index a slot holds: how recently it was used. */
static int64_t slot_age(const struct dc_slot *sl)
{
	int64_t m = 0;

	for (size_t i = 0; i < DC_BUCKETS; i++)
		if (sl->idx[i] > m)
			m = sl->idx[i];
	return m;
}

/* key's slot in g: its own, an empty one, or the stalest, cleared. */
static struct dc_slot *group_slot(struct dc_group *g, uint64_t key, int64_t width)
{
	struct dc_slot *victim = NULL;

	for (size_t i = 0; i < DC_GROUP_SLOTS; i++) {
		struct dc_slot *sl = &g->slot[i];

		if (sl->key == key && sl->width_ms == width)
			return sl;
		if (sl->key == key || victim == NULL ||
		    (victim->key != 0 && (sl->key == 0 || slot_age(sl) < slot_age(victim))))
			victim = sl;
		if (sl->key == key)
			break;
	}
	/* The key first marked empty: a kill mid-way leaves an empty slot, not a mix. */
	victim->key = 0;
	memset(victim->idx, 0, sizeof(victim->idx));
	memset(victim->count, 0, sizeof(victim->count));
	victim->width_ms = width;
	victim->key = key;
	return victim;
}

static int64_t shm_incr(struct detect_counters *dc, uint64_t key, int64_t now_ms,
			int64_t window_ms)
{
	int64_t width = window_ms / DC_BUCKETS > 0 ? window_ms / DC_BUCKETS : 1;
	int64_t cur = now_ms / width, n = 0;
	struct dc_group *g = &dc->groups[(key >> 1) % dc->ngroups];
	struct dc_slot *sl;
	size_t pos = (size_t)(cur % DC_BUCKETS);

	if (shmfile_lock(&g->lock) != 0) {
		log_msg(LOG_ERROR, "detect: a login counter lock is unusable; not counting");
		return -1;
	}
	sl = group_slot(g, key, width);
	if (sl->idx[pos] != cur) {
		sl->count[pos] = 0;
		sl->idx[pos] = cur;
	}
	if (sl->count[pos] < UINT32_MAX)
		sl->count[pos]++;
	for (size_t i = 0; i < DC_BUCKETS; i++)
		if (sl->idx[i] > cur - DC_BUCKETS && sl->idx[i] <= cur)
			n += sl->count[i];
	pthread_mutex_unlock(&g->lock);
	return n;
}

int64_t detect_counters_incr(struct detect_counters *dc, const char *key, int64_t now_ms,
			     int64_t window_ms)
{
	uint64_t h;
	int64_t n = -1;

	if (dc == NULL || key == NULL || now_ms < 0 || window_ms <= 0)
		return -1;
	h = shmfile_hash(shmfile_hash(SHMFILE_HASH_INIT, "login", 6), key, strlen(key)) | 1;
	if (dc->redis != NULL) {
		char rkey[40];

		snprintf(rkey, sizeof(rkey), "dbaudit:dc:%016llx", (unsigned long long)h);
		if (rl_redis_window_add(dc->redis, rkey, now_ms, window_ms, DC_BUCKETS, &n) != 0)
			return -1;
		return n;
	}
	return shm_incr(dc, h, now_ms, window_ms);
}

static int64_t counter_incr(void *ctx, const char *key, int64_t now_ms, int64_t window_ms)
{
	return detect_counters_incr(ctx, key, now_ms, window_ms);
}

bool detect_login_check(struct detect_counters *dc, const char *tenant,
			const struct detect_input *in, int64_t now_ms, struct detect_hit *hit)
{
	struct detect_counter c = { counter_incr, dc };

	if (dc == NULL)
		return false;
	return detect_login_anomaly(in, tenant, &c, &dc->limits, now_ms, hit);
}
