/*
 * Unit tests of ratelimit: GCRA numbers, plan and route limits, counters
 * shared by processes, locks of killed processes, layout changes, the
 * credential guard, and the Redis backend (skipped, saying so, when no
 * Redis answers on 127.0.0.1:6379).
 */
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "ratelimit.h"
#include "util/timeutil.h"

static char shm_path[64];

/* A config with the given limits and a counter file of this test run. */
static void cfg_load(struct config *c, const char *free_limit, const char *kaudit)
{
	char err[256];

	snprintf(shm_path, sizeof(shm_path), "/tmp/dbaudit-unit-rl-%d", (int)getpid());
	setenv("DBAUDIT_RATELIMIT_FILE", shm_path, 1);
	setenv("DBAUDIT_RATELIMIT_FREE", free_limit, 1);
	setenv("DBAUDIT_RATELIMIT_KAUDIT", kaudit, 1);
	assert_int_equal(config_load(c, NULL, err, sizeof(err)), 0);
}

static void who_init(struct principal *p, const char *id, enum plan plan)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->plan = plan;
}

static void test_gcra_numbers(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	cfg_load(&c, "5", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	who_init(&who, "key_gcra", PLAN_FREE);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ratelimit_check(rl, &who, "POST", "/v1/databases", &r), API_OK);
		assert_true(r.limited);
		assert_true(r.allowed);
		assert_int_equal(r.limit, 5);
		assert_int_equal(r.remaining, 4 - i);
		assert_in_range(r.reset_s, now, now + 64);   /* + slow machines */
	}
	assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_OK);
	assert_false(r.allowed);
	assert_int_equal(r.remaining, 0);
	/* One request fits again after window / limit = 12 s. */
	assert_in_range(r.retry_after_s, 11, 13);
	ratelimit_free(rl);
	config_cleanup(&c);
	unlink(shm_path);
}

static void test_unlimited_plan_and_routes(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	struct principal ent, fr;
	const char *why = NULL;

	(void)state;
	cfg_load(&c, "10", "3");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	who_init(&ent, "key_ent", PLAN_ENTERPRISE);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(ratelimit_check(rl, &ent, "GET", "/api/v1/public/audit-activity", &r), API_OK);
		assert_false(r.limited);
		assert_true(r.allowed);
	}
	who_init(&fr, "key_free", PLAN_FREE);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_check(rl, &fr, "GET", "/api/v1/public/audit-activity/summary", &r), API_OK);
		assert_true(r.allowed);
		assert_int_equal(r.limit, 3);   /* the tighter of 3 and 10 */
	}
	assert_int_equal(ratelimit_check(rl, &fr, "GET", "/api/v1/public/audit-activity", &r), API_OK);
	assert_false(r.allowed);
	/* The refused request cost the plan nothing: 7 of 10 are left. */
	for (int i = 0; i < 7; i++) {
		assert_int_equal(ratelimit_check(rl, &fr, "GET", "/v1/databases", &r), API_OK);
		assert_true(r.allowed);
	}
	assert_int_equal(ratelimit_check(rl, &fr, "GET", "/v1/databases", &r), API_OK);
	assert_false(r.allowed);
	ratelimit_free(rl);
	config_cleanup(&c);
	unlink(shm_path);
}

/* Children each try n requests; returns how many were allowed in all. */
static int allowed_by_children(const struct config *c, int children, int n)
{
	int fds[2], total = 0;

	assert_int_equal(pipe(fds), 0);
	for (int k = 0; k < children; k++) {
		if (fork() == 0) {
			struct ratelimit *rl = NULL;
			struct ratelimit_result r;
			struct principal who;
			const char *why = NULL;
			char ok = 0;

			close(fds[0]);
			if (ratelimit_create(c, &rl, &why) != API_OK)
				_exit(2);
			who_init(&who, "key_shared", PLAN_FREE);
			for (int i = 0; i < n; i++) {
				if (ratelimit_check(rl, &who, "GET", "/v1/databases", &r) == API_OK && r.allowed) {
					ok = 1;
					if (write(fds[1], &ok, 1) != 1)
						_exit(3);
				}
			}
			ratelimit_free(rl);
			_exit(0);
		}
	}
	close(fds[1]);
	for (char b; read(fds[0], &b, 1) == 1;)
		total++;
	close(fds[0]);
	for (int k = 0; k < children; k++) {
		int st;

		wait(&st);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	return total;
}

static void test_shared_by_processes(void **state)
{
	struct config c;

	(void)state;
	cfg_load(&c, "100", "60");
	unlink(shm_path);
	assert_int_equal(allowed_by_children(&c, 4, 60), 100);
	config_cleanup(&c);
	unlink(shm_path);
}

static void on_alarm(int sig)
{
	(void)sig;
	_exit(99);   /* a lock left by a killed process was never recovered */
}

static void test_survives_kill_9(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;
	pid_t pids[3];

	(void)state;
	cfg_load(&c, "10000000", "60");
	/* One group for every key: the killed children hold the very locks we need. */
	setenv("DBAUDIT_RATELIMIT_SLOTS", "1024", 1);
	config_cleanup(&c);
	cfg_load(&c, "10000000", "60");
	for (int round = 0; round < 30; round++) {
		for (int k = 0; k < 3; k++) {
			pids[k] = fork();
			if (pids[k] == 0) {
				struct ratelimit *mine = NULL;

				if (ratelimit_create(&c, &mine, &why) != API_OK)
					_exit(2);
				who_init(&who, "key_busy", PLAN_FREE);
				for (;;)
					ratelimit_check(mine, &who, "GET", "/v1/databases", &r);
			}
		}
		usleep(2000 + (useconds_t)(rand() % 3000));
		for (int k = 0; k < 3; k++) {
			kill(pids[k], SIGKILL);
			waitpid(pids[k], NULL, 0);
		}
	}
	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	who_init(&who, "key_busy", PLAN_FREE);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_OK);
		assert_true(r.allowed);
	}
	alarm(0);
	ratelimit_free(rl);
	unsetenv("DBAUDIT_RATELIMIT_SLOTS");
	config_cleanup(&c);
	unlink(shm_path);
}

static void test_layout_change(void **state)
{
	struct config c;
	struct ratelimit *a = NULL, *b = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;

	(void)state;
	cfg_load(&c, "2", "60");
	assert_int_equal(ratelimit_create(&c, &a, &why), API_OK);
	who_init(&who, "key_layout", PLAN_FREE);
	assert_int_equal(ratelimit_check(a, &who, "GET", "/v1/databases", &r), API_OK);
	config_cleanup(&c);
	setenv("DBAUDIT_RATELIMIT_SLOTS", "2048", 1);
	cfg_load(&c, "2", "60");
	/* Another size: a new file takes the name; the old mapping still works. */
	assert_int_equal(ratelimit_create(&c, &b, &why), API_OK);
	assert_int_equal(ratelimit_check(b, &who, "GET", "/v1/databases", &r), API_OK);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(ratelimit_check(a, &who, "GET", "/v1/databases", &r), API_OK);
	assert_int_equal(r.remaining, 0);
	ratelimit_free(a);
	ratelimit_free(b);
	unsetenv("DBAUDIT_RATELIMIT_SLOTS");
	config_cleanup(&c);
	unlink(shm_path);
}

static void test_guard(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	const char *why = NULL;

	(void)state;
	setenv("DBAUDIT_RATELIMIT_AUTH_FAILURES", "3", 1);
	cfg_load(&c, "5", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	for (int i = 0; i < 10; i++)   /* looking costs nothing */
		assert_true(ratelimit_guard_allows(rl, "192.0.2.1", &r));
	for (int i = 0; i < 3; i++)
		ratelimit_guard_charge(rl, "192.0.2.1");
	assert_false(ratelimit_guard_allows(rl, "192.0.2.1", &r));
	assert_true(r.limited);
	assert_true(r.retry_after_s >= 1);
	assert_true(ratelimit_guard_allows(rl, "192.0.2.2", &r));
	assert_true(ratelimit_guard_allows(rl, NULL, &r));
	ratelimit_free(rl);
	unsetenv("DBAUDIT_RATELIMIT_AUTH_FAILURES");
	config_cleanup(&c);
	unlink(shm_path);
}

static int redis_up(void)
{
	struct timeval tv = { 0, 200000 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", 6379, tv);
	int up = rc != NULL && rc->err == 0;

	if (rc != NULL)
		redisFree(rc);
	return up;
}

static void test_redis(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;
	char id[64];

	(void)state;
	if (!redis_up()) {
		fprintf(stderr, "test_redis: SKIPPED: no Redis answers on 127.0.0.1:6379\n");
		skip();
	}
	setenv("DBAUDIT_RATELIMIT_REDIS_URL", "redis://127.0.0.1:6379/0", 1);
	cfg_load(&c, "3", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	snprintf(id, sizeof(id), "key_redis_%d_%ld", (int)getpid(), (long)time(NULL));
	who_init(&who, id, PLAN_FREE);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_OK);
		assert_true(r.allowed);
		assert_int_equal(r.remaining, 2 - i);
	}
	assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_OK);
	assert_false(r.allowed);
	assert_in_range(r.retry_after_s, 19, 21);
	ratelimit_free(rl);
	config_cleanup(&c);
	unsetenv("DBAUDIT_RATELIMIT_REDIS_URL");
	unlink(shm_path);
}

/* How many EVALSHA Redis has run so far (INFO commandstats). */
static long long redis_evalsha_calls(void)
{
	struct timeval tv = { 1, 0 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", 6379, tv);
	redisReply *rep = rc ? redisCommand(rc, "INFO commandstats") : NULL;
	const char *p = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "cmdstat_evalsha:calls=") : NULL;
	long long n = p ? atoll(p + 22) : 0;

	if (rep != NULL)
		freeReplyObject(rep);
	if (rc != NULL)
		redisFree(rc);
	return n;
}

/*
 * Two limiters (two workers) share one principal's limit in Redis. A busy
 * principal far from its limit costs a round trip per several requests;
 * near the limit it is charged one request at a time, and the two never
 * let more through than the limit; unspent units come back.
 */
static void test_redis_leases(void **state)
{
	struct config c;
	struct ratelimit *a = NULL, *b = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;
	char id[64];
	long long calls;
	int allowed = 0;
	int64_t before, after, t0, refill;

	(void)state;
	if (!redis_up()) {
		fprintf(stderr, "test_redis_leases: SKIPPED: no Redis answers on 127.0.0.1:6379\n");
		skip();
	}
	setenv("DBAUDIT_RATELIMIT_REDIS_URL", "redis://127.0.0.1:6379/0", 1);
	/* An hour's window: GCRA refills about 28 a second meanwhile. */
	setenv("DBAUDIT_RATELIMIT_WINDOW_S", "3600", 1);
	cfg_load(&c, "100000", "60");
	assert_int_equal(ratelimit_create(&c, &a, &why), API_OK);
	assert_int_equal(ratelimit_create(&c, &b, &why), API_OK);
	snprintf(id, sizeof(id), "key_lease_%d_%ld", (int)getpid(), (long)time(NULL));
	who_init(&who, id, PLAN_FREE);

	/* Far from the limit: 2,000 requests, far fewer round trips. */
	calls = redis_evalsha_calls();
	t0 = time_mono_us();
	before = 100000;
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(ratelimit_check(i % 2 ? a : b, &who, "GET", "/v1/databases", &r), API_OK);
		assert_true(r.allowed && r.limited);
		assert_int_equal(r.limit, 100000);
		assert_true(r.remaining < before + 40);   /* never more than the leases' units back */
		before = r.remaining;
	}
	calls = redis_evalsha_calls() - calls;
	assert_in_range(calls, 1, 400);

	/* Unspent units come back: a's lease expires, its next take refunds. */
	sleep(2);
	assert_int_equal(ratelimit_check(a, &who, "GET", "/v1/databases", &r), API_OK);
	assert_int_equal(ratelimit_check(b, &who, "GET", "/v1/databases", &r), API_OK);
	after = r.remaining;
	/*
	 * 2,002 requests charged and nothing held (both took one unit after
	 * giving their leases back), less one request's worth for every 36 ms
	 * (an hour / 100,000) since the first; without the refund the leases
	 * would still hold up to 31 units each.
	 */
	refill = (time_mono_us() - t0) / 36000;
	assert_in_range(after, 100000 - 2002 + refill - 3, 100000 - 2002 + refill + 3);
	ratelimit_free(a);
	ratelimit_free(b);
	config_cleanup(&c);
	unsetenv("DBAUDIT_RATELIMIT_WINDOW_S");

	/* Near the limit: exact, whichever worker serves. */
	cfg_load(&c, "300", "60");
	assert_int_equal(ratelimit_create(&c, &a, &why), API_OK);
	assert_int_equal(ratelimit_create(&c, &b, &why), API_OK);
	snprintf(id, sizeof(id), "key_lease2_%d_%ld", (int)getpid(), (long)time(NULL));
	who_init(&who, id, PLAN_FREE);
	for (int i = 0; i < 600; i++) {
		assert_int_equal(ratelimit_check(i % 3 ? a : b, &who, "GET", "/v1/databases", &r), API_OK);
		allowed += r.allowed;
	}
	/* GCRA refills one every 200 ms while the loop runs. */
	assert_in_range(allowed, 300, 302);
	ratelimit_free(a);
	ratelimit_free(b);
	config_cleanup(&c);
	unsetenv("DBAUDIT_RATELIMIT_REDIS_URL");
	unlink(shm_path);
}

static void test_redis_unreachable(void **state)
{
	struct config c;
	struct ratelimit *rl = NULL;
	struct ratelimit_result r;
	struct principal who;
	const char *why = NULL;

	(void)state;
	setenv("DBAUDIT_RATELIMIT_REDIS_URL", "redis://127.0.0.1:1", 1);
	cfg_load(&c, "3", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	who_init(&who, "key_open", PLAN_FREE);
	for (int i = 0; i < 5; i++) {   /* fail open: no limit, no headers */
		assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_OK);
		assert_true(r.allowed);
		assert_false(r.limited);
	}
	ratelimit_free(rl);
	config_cleanup(&c);
	setenv("DBAUDIT_RATELIMIT_REDIS_FAIL", "closed", 1);
	cfg_load(&c, "3", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_OK);
	assert_int_equal(ratelimit_check(rl, &who, "GET", "/v1/databases", &r), API_ERR_UNAVAILABLE);
	ratelimit_free(rl);
	config_cleanup(&c);
	setenv("DBAUDIT_RATELIMIT_REDIS_FAIL", "sideways", 1);
	cfg_load(&c, "3", "60");
	assert_int_equal(ratelimit_create(&c, &rl, &why), API_ERR_INTERNAL);
	assert_non_null(strstr(why, "ratelimit_redis_fail"));
	config_cleanup(&c);
	unsetenv("DBAUDIT_RATELIMIT_REDIS_FAIL");
	unsetenv("DBAUDIT_RATELIMIT_REDIS_URL");
	unlink(shm_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcra_numbers),
		cmocka_unit_test(test_unlimited_plan_and_routes),
		cmocka_unit_test(test_shared_by_processes),
		cmocka_unit_test(test_survives_kill_9),
		cmocka_unit_test(test_layout_change),
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_redis),
		cmocka_unit_test(test_redis_leases),
		cmocka_unit_test(test_redis_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
