/*
 * Unit tests of detect_counter: the sliding window's counts, counters
 * shared by several processes, locks of killed processes, the
 * login-anomaly check with configured limits, and the Redis backend shared
 * by two "hosts" (skipped, saying so, when no Redis answers on
 * 127.0.0.1:6379), failing safe when Redis is unreachable.
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
#include "detect_counter.h"

#define WINDOW 120000   /* 12 buckets of 10 s */
#define T0 1700000000000LL

static char shm_path[64];

static struct detect_counters *open_shm(int64_t slots)
{
	struct detect_counters *dc = NULL;
	const char *why = NULL;

	/* the test process's own file: children of one test share it */
	if (shm_path[0] == '\0')
		snprintf(shm_path, sizeof(shm_path), "/tmp/dbaudit-unit-dc-%d", (int)getpid());
	assert_int_equal(detect_counters_open(shm_path, slots, NULL, 0, &dc, &why), API_OK);
	return dc;
}

static void test_window(void **state)
{
	struct detect_counters *dc;

	(void)state;
	unlink(shm_path);
	dc = open_shm(1024);
	for (int i = 1; i <= 5; i++)
		assert_int_equal(detect_counters_incr(dc, "a", T0 + i, WINDOW), i);
	/* another key counts on its own */
	assert_int_equal(detect_counters_incr(dc, "b", T0, WINDOW), 1);
	/* half a window later both halves count */
	for (int i = 1; i <= 3; i++)
		assert_int_equal(detect_counters_incr(dc, "a", T0 + WINDOW / 2, WINDOW), 5 + i);
	/* one window (and a bucket) after the first five, only the later three are left */
	assert_int_equal(detect_counters_incr(dc, "a", T0 + WINDOW + WINDOW / 12, WINDOW), 4);
	/* long after: a fresh window */
	assert_int_equal(detect_counters_incr(dc, "a", T0 + 10 * WINDOW, WINDOW), 1);
	/* a changed window length starts the key over */
	assert_int_equal(detect_counters_incr(dc, "a", T0 + 10 * WINDOW, WINDOW * 2), 1);
	/* bad input and no backend fail safe */
	assert_int_equal(detect_counters_incr(dc, "a", T0, 0), -1);
	assert_int_equal(detect_counters_incr(NULL, "a", T0, WINDOW), -1);
	detect_counters_free(dc);
	detect_counters_free(NULL);
	unlink(shm_path);
}

/* Every key of a full group still counts: the stalest counter is reused. */
static void test_full_group(void **state)
{
	struct detect_counters *dc;
	char key[32];

	(void)state;
	unlink(shm_path);
	dc = open_shm(256);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(detect_counters_incr(dc, key, T0 + i, WINDOW), 1);
	}
	assert_int_equal(detect_counters_incr(dc, "k4999", T0 + 5000, WINDOW), 2);
	detect_counters_free(dc);
	unlink(shm_path);
}

static void test_shared_by_processes(void **state)
{
	struct detect_counters *dc;
	pid_t pids[4];

	(void)state;
	unlink(shm_path);
	dc = open_shm(1024);
	for (int k = 0; k < 4; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			struct detect_counters *mine = open_shm(1024);

			for (int i = 0; i < 250; i++)
				if (detect_counters_incr(mine, "shared", T0 + i, WINDOW) < 1)
					_exit(2);
			detect_counters_free(mine);
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st;

		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(detect_counters_incr(dc, "shared", T0 + 300, WINDOW), 1001);
	detect_counters_free(dc);
	unlink(shm_path);
}

static void on_alarm(int sig)
{
	(void)sig;
	_exit(99);   /* a lock left by a killed process was never recovered */
}

static void test_survives_kill_9(void **state)
{
	struct detect_counters *dc;
	pid_t pids[3];

	(void)state;
	unlink(shm_path);
	/* the smallest file: 32 groups, so the children hold the locks we need */
	dc = open_shm(256);
	for (int round = 0; round < 30; round++) {
		for (int k = 0; k < 3; k++) {
			pids[k] = fork();
			if (pids[k] == 0) {
				struct detect_counters *mine = open_shm(256);

				for (int64_t i = 0;; i++)
					detect_counters_incr(mine, (i & 1) ? "busy" : "other", T0, WINDOW);
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
	for (int i = 0; i < 100; i++)
		assert_true(detect_counters_incr(dc, "busy", T0 + WINDOW * 3, WINDOW) >= 1);
	alarm(0);
	detect_counters_free(dc);
	unlink(shm_path);
}

static void login_event(struct detect_input *in, json_t **details, const char *ip, const char *user)
{
	memset(in, 0, sizeof(*in));
	in->type = "user.login_failed";
	*details = json_pack("{s:s,s:s}", "source_ip", ip, "user", user);
	in->details = *details;
}

static struct detect_counters *from_config(struct config *c, const char *redis_url)
{
	struct detect_counters *dc = NULL;
	const char *why = NULL;
	char err[256];

	if (shm_path[0] == '\0')
		snprintf(shm_path, sizeof(shm_path), "/tmp/dbaudit-unit-dc-%d", (int)getpid());
	setenv("DBAUDIT_DETECT_COUNTER_FILE", shm_path, 1);
	setenv("DBAUDIT_DETECT_LOGIN_PER_USER", "3", 1);
	setenv("DBAUDIT_DETECT_LOGIN_PER_SOURCE", "5", 1);
	setenv("DBAUDIT_DETECT_LOGIN_WINDOW_S", "60", 1);
	if (redis_url != NULL)
		setenv("DBAUDIT_RATELIMIT_REDIS_URL", redis_url, 1);
	assert_int_equal(config_load(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(detect_counters_create(c, &dc, &why), API_OK);
	return dc;
}

static void test_login_check(void **state)
{
	struct config c;
	struct detect_counters *dc;
	struct detect_input in;
	struct detect_hit hit;
	json_t *d = NULL;
	char user[64];

	(void)state;
	unlink(shm_path);
	dc = from_config(&c, NULL);
	snprintf(user, sizeof(user), "u%d", (int)getpid());
	login_event(&in, &d, "10.0.0.1", user);
	assert_false(detect_login_check(dc, "t1", &in, T0, &hit));
	assert_false(detect_login_check(dc, "t1", &in, T0 + 1, &hit));
	assert_true(detect_login_check(dc, "t1", &in, T0 + 2, &hit));
	assert_string_equal(hit.rule_id, "rule_login_burst_user");
	assert_int_equal(hit.kind, DETECT_LOGIN_ANOMALY);
	/* another tenant's counters are its own */
	assert_false(detect_login_check(dc, "t2", &in, T0 + 3, &hit));
	/* past the window the burst is over */
	assert_false(detect_login_check(dc, "t1", &in, T0 + 200000, &hit));
	/* a success is not counted */
	in.type = "user.login_success";
	assert_false(detect_login_check(dc, "t1", &in, T0 + 200001, &hit));
	assert_false(detect_login_check(NULL, "t1", &in, T0, &hit));
	json_decref(d);
	detect_counters_free(dc);
	config_cleanup(&c);
	unsetenv("DBAUDIT_DETECT_COUNTER_FILE");
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

/* Two "hosts" (two clients) count into one window in Redis. */
static void test_redis(void **state)
{
	struct detect_counters *a = NULL, *b = NULL;
	const char *why = NULL;
	char key[64];

	(void)state;
	if (!redis_up()) {
		fprintf(stderr, "test_redis: SKIPPED: no Redis answers on 127.0.0.1:6379\n");
		skip();
	}
	assert_int_equal(detect_counters_open("/nonexistent/unused", 256, "redis://127.0.0.1:6379/0",
					      500, &a, &why), API_OK);
	assert_int_equal(detect_counters_open("/nonexistent/unused", 256, "redis://127.0.0.1:6379/0",
					      500, &b, &why), API_OK);
	snprintf(key, sizeof(key), "unit_%d_%ld", (int)getpid(), (long)time(NULL));
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(detect_counters_incr(a, key, T0 + i, WINDOW), 2 * i - 1);
		assert_int_equal(detect_counters_incr(b, key, T0 + i, WINDOW), 2 * i);
	}
	assert_int_equal(detect_counters_incr(a, key, T0 + WINDOW / 2, WINDOW), 9);
	assert_int_equal(detect_counters_incr(b, key, T0 + WINDOW + WINDOW / 12, WINDOW), 2);
	detect_counters_free(a);
	detect_counters_free(b);
}

static void test_redis_unreachable(void **state)
{
	struct config c;
	struct detect_counters *dc;
	struct detect_input in;
	struct detect_hit hit;
	json_t *d = NULL;

	(void)state;
	dc = from_config(&c, "redis://127.0.0.1:1");
	login_event(&in, &d, "10.0.0.2", "victim");
	for (int i = 0; i < 10; i++) {
		assert_int_equal(detect_counters_incr(dc, "x", T0 + i, WINDOW), -1);
		assert_false(detect_login_check(dc, "t1", &in, T0 + i, &hit));
	}
	json_decref(d);
	detect_counters_free(dc);
	config_cleanup(&c);
	unsetenv("DBAUDIT_RATELIMIT_REDIS_URL");
	unsetenv("DBAUDIT_DETECT_COUNTER_FILE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_full_group),
		cmocka_unit_test(test_shared_by_processes),
		cmocka_unit_test(test_survives_kill_9),
		cmocka_unit_test(test_login_check),
		cmocka_unit_test(test_redis),
		cmocka_unit_test(test_redis_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
