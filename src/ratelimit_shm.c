/*
 * ratelimit_shm: the rate-limit counters every worker process of a host
 * shares. One file (ratelimit_file; on tmpfs it never touches a disk) is
 * mapped MAP_SHARED by every worker: a header, then a fixed number of
 * groups of RL_GROUP_SLOTS counters, each group behind its own
 * process-shared robust mutex. A counter is a (key, theoretical arrival
 * time) pair; a key lives in the group its hash names, in any of its
 * slots. A worker killed with SIGKILL while it holds a group's lock leaves
 * the lock "owner dead": the next locker marks it consistent and goes on;
 * the worst a half-done update leaves is one counter charged once more or
 * once less. When a group is full the counter with the oldest time (the
 * one furthest from its limit) is reused. util/shmfile.c makes and maps
 * the file.
 */
#include "ratelimit_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"
#include "util/shmfile.h"

#define RL_LAYOUT 2
#define RL_GROUP_SLOTS 16

struct rl_slot {
	uint64_t key;      /* 0: empty */
	int64_t tat_us;    /* CLOCK_MONOTONIC: host-wide, immune to clock steps */
};

struct rl_group {
	pthread_mutex_t lock;
	struct rl_slot slot[RL_GROUP_SLOTS];
};

/* The groups start a cache line in. */
#define RL_HEAD 64

struct rl_shm {
	void *map;
	size_t map_len;
	struct rl_group *groups;
	uint64_t ngroups;
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Initialises the process-shared robust locks of a fresh file. */
static int rl_format(void *map, void *arg, const char **why)
{
	return shmfile_locks_init((char *)map + RL_HEAD, (size_t)*(const uint64_t *)arg,
				  sizeof(struct rl_group), why);
}

int rl_shm_open(const char *path, int64_t slots, struct rl_shm **out, const char **why)
{
	uint64_t ngroups = (uint64_t)(slots + RL_GROUP_SLOTS - 1) / RL_GROUP_SLOTS;
	uint64_t layout[3] = { RL_LAYOUT, sizeof(struct rl_group), ngroups };
	struct rl_shm *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*why = "out of memory";
		return -1;
	}
	s->map_len = RL_HEAD + (size_t)ngroups * sizeof(struct rl_group);
	s->map = shmfile_map(path, s->map_len,
			     shmfile_hash(shmfile_hash(SHMFILE_HASH_INIT, "ratelimit", 9),
					  layout, sizeof(layout)),
			     rl_format, &ngroups, why);
	if (s->map == NULL) {
		free(s);
		return -1;
	}
	s->groups = (struct rl_group *)((char *)s->map + RL_HEAD);
	s->ngroups = ngroups;
	*out = s;
	return 0;
}

void rl_shm_close(struct rl_shm *s)
{
	if (s == NULL)
		return;
	shmfile_unmap(s->map, s->map_len);
	free(s);
}

static int group_lock(struct rl_group *g)
{
	/* A worker that died holding it changed at most one counter. */
	return shmfile_lock(&g->lock);
}

/* The slot of key in g: its own, an empty one, or the stalest to reuse. */
static struct rl_slot *group_slot(struct rl_group *g, uint64_t key,
				  const struct rl_slot *taken)
{
	struct rl_slot *victim = NULL;

	for (size_t i = 0; i < RL_GROUP_SLOTS; i++) {
		struct rl_slot *sl = &g->slot[i];

		if (sl->key == key)
			return sl;
		if (sl == taken)
			continue;
		if (victim == NULL || (victim->key != 0 &&
				       (sl->key == 0 || sl->tat_us < victim->tat_us)))
			victim = sl;
	}
	return victim;
}

void rl_shm_take(struct rl_shm *s, const struct rl_limit *lims, size_t n, bool peek,
		 struct rl_outcome *out)
{
	struct rl_group *g[RL_MAX_LIMITS] = { NULL };
	struct rl_slot *slot[RL_MAX_LIMITS];
	struct rl_outcome each[RL_MAX_LIMITS];
	int64_t next[RL_MAX_LIMITS], now;
	bool locked[RL_MAX_LIMITS] = { false }, all = true;

	if (n > RL_MAX_LIMITS)
		n = RL_MAX_LIMITS;
	for (size_t i = 0; i < n; i++)
		g[i] = &s->groups[(lims[i].key >> 1) % s->ngroups];
	/* Two groups are always locked in address order: no deadlock. */
	if (n == 2 && g[1] < g[0]) {
		struct rl_group *t = g[0];

		g[0] = g[1];
		g[1] = t;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && g[i] == g[i - 1])
			continue;
		if (group_lock(g[i]) != 0) {
			/* An unrecoverable lock: let the request through, say so. */
			log_msg(LOG_ERROR, "ratelimit: a counter lock is unusable; not limiting");
			out->allowed = true;
			out->which = 0;
			out->remaining = lims[0].limit;
			out->reset_in_us = 0;
			out->retry_in_us = 0;
			goto out;
		}
		locked[i] = true;
	}
	now = mono_us();
	for (size_t i = 0; i < n; i++) {
		struct rl_group *own = &s->groups[(lims[i].key >> 1) % s->ngroups];

		slot[i] = group_slot(own, lims[i].key, i > 0 ? slot[0] : NULL);
		all &= rl_gcra_step(&lims[i], slot[i]->key == lims[i].key ? slot[i]->tat_us : 0,
				    now, &next[i], &each[i]);
	}
	if (all && !peek) {
		for (size_t i = 0; i < n; i++) {
			/* The time first: a kill between the two stores overcharges the old key once. */
			slot[i]->tat_us = next[i];
			slot[i]->key = lims[i].key;
		}
	}
	rl_outcome_merge(each, n, out);
out:
	for (size_t i = n; i-- > 0;)
		if (locked[i])
			pthread_mutex_unlock(&g[i]->lock);
}
