/*
 * ratelimit_redis: the principals' rate-limit counters in one Redis that
 * every host of a deployment shares (ratelimit_redis_url). One Lua script,
 * loaded once per connection and run with EVALSHA, does the GCRA step of
 * every limit of a request atomically on Redis' own clock, so hosts with
 * skewed clocks agree. Every call is bounded by ratelimit_redis_timeout_ms.
 * When Redis does not answer, the caller fails open or closed; this file
 * logs the outage once, and reconnects at most once a second until Redis
 * is back (and logs that once too).
 */
#include "ratelimit_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define RL_REDIS_RETRY_MS 1000

/*
 * KEYS: the counters. ARGV: want, refund, then limit, interval_us,
 * window_us per key. Gives back refund units first (a worker's unspent
 * lease: each moves the TAT back by one interval), then takes the largest
 * k <= want that every limit fits, all or nothing. Returns {allowed,
 * which, remaining, reset_us, retry_us, k}; a refusal is reported for one
 * unit.
 */
static const char gcra_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local want, refund = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"local tats, k = {}, want\n"
	"for i = 1, #KEYS do\n"
	"  local iv, w = tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2])\n"
	"  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
	"  if refund > 0 and tat > now then tat = tat - refund * iv end\n"
	"  if tat < now or tat - now > w then tat = now end\n"
	"  tats[i] = tat\n"
	"  if iv > 0 then\n"
	"    local fit = math.floor((w - (tat - now)) / iv)\n"
	"    if fit < k then k = fit end\n"
	"  end\n"
	"end\n"
	"if k < 1 then k = 0 end\n"
	"local cost = math.max(k, 1)\n"
	"local p_ok, p_i, p_rem, p_reset, p_retry = 1, 0, 0, 0, 0\n"
	"for i = 1, #KEYS do\n"
	"  local limit, iv, w = tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2])\n"
	"  local tat = tats[i]\n"
	"  local nt = tat + cost * iv\n"
	"  local ok, rem, reset, retry = 1, 0, nt - now, 0\n"
	"  if k == 0 and nt - now > w then\n"
	"    ok, reset, retry = 0, tat - now, nt - w - now\n"
	"  elseif iv > 0 then\n"
	"    rem = math.floor((w - (nt - now)) / iv)\n"
	"  else\n"
	"    rem = limit\n"
	"  end\n"
	"  if rem > limit - 1 then rem = limit - 1 end\n"
	"  if rem < 0 then rem = 0 end\n"
	"  if k > 0 then tats[i] = nt end\n"
	"  if i == 1 or (p_ok == 1 and ok == 0) or (p_ok == ok and\n"
	"     ((ok == 1 and rem < p_rem) or (ok == 0 and retry > p_retry))) then\n"
	"    p_ok, p_i, p_rem, p_reset, p_retry = ok, i - 1, rem, reset, retry\n"
	"  end\n"
	"end\n"
	"if k > 0 or refund > 0 then\n"
	"  for i = 1, #KEYS do\n"
	"    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX',\n"
	"               math.floor(tonumber(ARGV[3*i+2]) / 1000) + 1000)\n"
	"  end\n"
	"end\n"
	"if k == 0 then p_ok = 0 end\n"
	"return {p_ok, p_i, p_rem, p_reset, p_retry, k}\n";

/* The sliding-window counter of detect_counter.c: KEYS[1] a hash of
 * bucket -> count. ARGV: now_ms, window_ms, buckets. Returns the count of
 * the buckets in the window ending at now, this event included. */
static const char window_lua[] =
	"local now, w, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local width = math.max(1, math.floor(w / k))\n"
	"local cur = math.floor(now / width)\n"
	"redis.call('HINCRBY', KEYS[1], string.format('%.0f', cur), 1)\n"
	"local all, n = redis.call('HGETALL', KEYS[1]), 0\n"
	"for i = 1, #all, 2 do\n"
	"  local b = tonumber(all[i])\n"
	"  if b <= cur - k then redis.call('HDEL', KEYS[1], all[i])\n"
	"  elseif b <= cur then n = n + tonumber(all[i + 1]) end\n"
	"end\n"
	"redis.call('PEXPIRE', KEYS[1], w + width)\n"
	"return n\n";

struct rl_redis {
	const char *who;        /* for the log lines: "ratelimit" */
	const char *outage;     /* what happens while Redis is down */
	char host[256];
	int port;
	int db;
	int64_t timeout_ms;
	redisContext *c;
	char sha[48];
	char sha_window[48];
	bool down;              /* an outage was logged and not yet its end */
	int64_t retry_at_ms;    /* no connection attempt before this */
};

int rl_redis_create(const char *url, int64_t timeout_ms, const char *who, const char *outage,
		    struct rl_redis **out, const char **why)
{
	struct rl_redis *r;
	const char *h, *colon, *slash, *end;
	int64_t v;

	*out = NULL;
	if (strncmp(url, "redis://", 8) != 0) {
		*why = "ratelimit_redis_url must look like redis://host[:port][/db]";
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*why = "out of memory";
		return -1;
	}
	r->port = 6379;
	r->timeout_ms = timeout_ms;
	r->who = who;
	r->outage = outage;
	h = url + 8;
	slash = strchr(h, '/');
	end = slash ? slash : h + strlen(h);
	colon = memchr(h, ':', (size_t)(end - h));
	if (colon == NULL)
		colon = end;
	if (colon == h || (size_t)(colon - h) >= sizeof(r->host))
		goto bad;
	memcpy(r->host, h, (size_t)(colon - h));
	if (colon != end) {
		char port[8] = "";

		if ((size_t)(end - colon - 1) >= sizeof(port))
			goto bad;
		memcpy(port, colon + 1, (size_t)(end - colon - 1));
		if (str_parse_int(port, 1, 65535, &v) != 0)
			goto bad;
		r->port = (int)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		if (str_parse_int(slash + 1, 0, 1000, &v) != 0)
			goto bad;
		r->db = (int)v;
	}
	*out = r;
	return 0;
bad:
	free(r);
	*why = "ratelimit_redis_url must look like redis://host[:port][/db]";
	return -1;
}

void rl_redis_free(struct rl_redis *r)
{
	if (r == NULL)
		return;
	if (r->c != NULL)
		redisFree(r->c);
	free(r);
}

/* Drops the connection and, once per outage, says why. */
static void redis_down(struct rl_redis *r, const char *what)
{
	if (!r->down)
		log_msg(LOG_WARN, "%s: Redis %s:%d is unavailable (%s); %s until it is back",
			r->who, r->host, r->port, what, r->outage);
	r->down = true;
	r->retry_at_ms = time_mono_ms() + RL_REDIS_RETRY_MS;
	if (r->c != NULL) {
		redisFree(r->c);
		r->c = NULL;
	}
}

static int load_one(struct rl_redis *r, const char *lua, char *sha)
{
	redisReply *rep = redisCommand(r->c, "SCRIPT LOAD %s", lua);
	int rc = -1;

	if (rep != NULL && rep->type == REDIS_REPLY_STRING && rep->len < sizeof(r->sha)) {
		memcpy(sha, rep->str, rep->len);
		sha[rep->len] = '\0';
		rc = 0;
	}
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

static int redis_load_script(struct rl_redis *r)
{
	if (load_one(r, gcra_lua, r->sha) != 0)
		return -1;
	return load_one(r, window_lua, r->sha_window);
}

static int redis_connect(struct rl_redis *r)
{
	struct timeval tv = { (time_t)(r->timeout_ms / 1000), (suseconds_t)(r->timeout_ms % 1000) * 1000 };
	redisReply *rep;

	if (r->c != NULL)
		return 0;
	if (time_mono_ms() < r->retry_at_ms)
		return -1;
	r->c = redisConnectWithTimeout(r->host, r->port, tv);
	if (r->c == NULL || r->c->err) {
		redis_down(r, r->c != NULL ? r->c->errstr : "out of memory");
		return -1;
	}
	if (redisSetTimeout(r->c, tv) != REDIS_OK) {
		redis_down(r, "cannot set a timeout");
		return -1;
	}
	if (r->db != 0) {
		rep = redisCommand(r->c, "SELECT %d", r->db);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			if (rep != NULL)
				freeReplyObject(rep);
			redis_down(r, "SELECT failed");
			return -1;
		}
		freeReplyObject(rep);
	}
	if (redis_load_script(r) != 0) {
		redis_down(r, "SCRIPT LOAD failed");
		return -1;
	}
	if (r->down)
		log_msg(LOG_INFO, "%s: Redis %s:%d is reachable again", r->who, r->host, r->port);
	r->down = false;
	return 0;
}

/* Runs the script once; *noscript is set when Redis lost it (a restart). */
static redisReply *redis_eval(struct rl_redis *r, const struct rl_limit *lims, size_t n,
			      int64_t want, int64_t refund, bool *noscript)
{
	char keys[RL_MAX_LIMITS][40], nums[RL_MAX_LIMITS][3][24], nk[8], nw[24], nr[24];
	const char *argv[5 + RL_MAX_LIMITS * 4];
	size_t argvlen[5 + RL_MAX_LIMITS * 4];
	int argc = 0;
	redisReply *rep;

	snprintf(nk, sizeof(nk), "%zu", n);
	argv[argc++] = "EVALSHA";
	argv[argc++] = r->sha;
	argv[argc++] = nk;
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "dbaudit:rl:%016llx", (unsigned long long)lims[i].key);
		argv[argc++] = keys[i];
	}
	snprintf(nw, sizeof(nw), "%lld", (long long)want);
	snprintf(nr, sizeof(nr), "%lld", (long long)refund);
	argv[argc++] = nw;
	argv[argc++] = nr;
	for (size_t i = 0; i < n; i++) {
		snprintf(nums[i][0], sizeof(nums[i][0]), "%lld", (long long)lims[i].limit);
		snprintf(nums[i][1], sizeof(nums[i][1]), "%lld", (long long)lims[i].interval_us);
		snprintf(nums[i][2], sizeof(nums[i][2]), "%lld", (long long)lims[i].window_us);
		for (int k = 0; k < 3; k++)
			argv[argc++] = nums[i][k];
	}
	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	rep = redisCommandArgv(r->c, argc, argv, argvlen);
	*noscript = rep != NULL && rep->type == REDIS_REPLY_ERROR &&
		    strncmp(rep->str, "NOSCRIPT", 8) == 0;
	return rep;
}

int rl_redis_take(struct rl_redis *r, const struct rl_limit *lims, size_t n, int64_t want,
		  int64_t refund, struct rl_outcome *out, int64_t *got)
{
	redisReply *rep = NULL;
	bool noscript = false;
	int rc = -1;

	if (n > RL_MAX_LIMITS)
		n = RL_MAX_LIMITS;
	if (redis_connect(r) != 0)
		return -1;
	*got = 0;
	if (want < 1)
		want = 1;
	if (refund < 0)
		refund = 0;
	rep = redis_eval(r, lims, n, want, refund, &noscript);
	if (noscript) {
		freeReplyObject(rep);
		rep = NULL;
		if (redis_load_script(r) == 0)
			rep = redis_eval(r, lims, n, want, refund, &noscript);
	}
	if (rep == NULL) {
		redis_down(r, r->c != NULL && r->c->err ? r->c->errstr : "no reply");
		return -1;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 6) {
		long long v[6];

		rc = 0;
		for (size_t i = 0; i < 6; i++) {
			if (rep->element[i]->type != REDIS_REPLY_INTEGER)
				rc = -1;
			else
				v[i] = rep->element[i]->integer;
		}
		if (rc == 0) {
			out->allowed = v[0] == 1;
			out->which = v[1] >= 0 && (size_t)v[1] < n ? (size_t)v[1] : 0;
			out->remaining = v[2];
			out->reset_in_us = v[3];
			out->retry_in_us = v[4];
			*got = out->allowed && v[5] >= 1 && v[5] <= want ? v[5] : 0;
			if (out->allowed && *got == 0)
				rc = -1;
		}
	}
	if (rc != 0)
		redis_down(r, rep->type == REDIS_REPLY_ERROR ? "the script failed" : "an unexpected reply");
	freeReplyObject(rep);
	return rc;
}

/* One run of the window script; *noscript as for redis_eval. */
static redisReply *window_eval(struct rl_redis *r, const char *key, const char *const nums[3],
			       bool *noscript)
{
	const char *argv[7] = { "EVALSHA", r->sha_window, "1", key, nums[0], nums[1], nums[2] };
	size_t argvlen[7];
	redisReply *rep;

	for (int i = 0; i < 7; i++)
		argvlen[i] = strlen(argv[i]);
	rep = redisCommandArgv(r->c, 7, argv, argvlen);
	*noscript = rep != NULL && rep->type == REDIS_REPLY_ERROR &&
		    strncmp(rep->str, "NOSCRIPT", 8) == 0;
	return rep;
}

int rl_redis_window_add(struct rl_redis *r, const char *key, int64_t now_ms, int64_t window_ms,
			int buckets, int64_t *count)
{
	char n0[24], n1[24], n2[24];
	const char *const nums[3] = { n0, n1, n2 };
	redisReply *rep;
	bool noscript = false;
	int rc = -1;

	snprintf(n0, sizeof(n0), "%lld", (long long)now_ms);
	snprintf(n1, sizeof(n1), "%lld", (long long)window_ms);
	snprintf(n2, sizeof(n2), "%d", buckets);
	if (redis_connect(r) != 0)
		return -1;
	rep = window_eval(r, key, nums, &noscript);
	if (noscript) {
		freeReplyObject(rep);
		rep = NULL;
		if (redis_load_script(r) == 0)
			rep = window_eval(r, key, nums, &noscript);
	}
	if (rep == NULL) {
		redis_down(r, r->c != NULL && r->c->err ? r->c->errstr : "no reply");
		return -1;
	}
	if (rep->type == REDIS_REPLY_INTEGER) {
		*count = rep->integer;
		rc = 0;
	} else {
		redis_down(r, rep->type == REDIS_REPLY_ERROR ? "the script failed" : "an unexpected reply");
	}
	freeReplyObject(rep);
	return rc;
}
