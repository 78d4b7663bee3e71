/* Unit tests of collector_source and collector_conf: external ids from file
 * fingerprint and offset, the checkpoint after an ack and a restart,
 * rotation by rename and by copy-and-truncate (also while reading), a log
 * that disappears, the bounded queue; the configuration's errors. */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "collector_conf.h"
#include "collector_source.h"

struct fixture {
	char dir[64];
	char log[128];
	char state[128];
	struct collector_source_conf sc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/dbaudit-unit-src-XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	mkdir(f->state, 0700);
	f->sc.name = "my";
	f->sc.database_id = "db_unit";
	f->sc.format = COLLECTOR_MARIADB_AUDIT;
	f->sc.path = f->log;
	f->sc.utc = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void append(const char *path, const char *text)
{
	FILE *fp = fopen(path, "a");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A QUERY record of statement "select N" in connection 1. */
static void query(const char *path, int n)
{
	char line[128];

	snprintf(line, sizeof(line), "20261204 15:00:00,h,app,10.0.0.1,1,%d,QUERY,db,'select %d',0\n", n, n);
	append(path, line);
}

/* Polls until nothing new comes (a scan runs at most every 250 ms). */
static void poll_all(struct collector_source *s)
{
	size_t added = 0;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(collector_source_poll(s, 1000, 1 << 20, &added), API_OK);
		usleep(260 * 1000);
	}
}

/* The queued events' statements and external ids, in order. */
static json_t *queued(struct collector_source *s)
{
	size_t n = 0;
	json_t *doc = collector_source_batch(s, 0, 1000, &n);
	json_t *out = json_array();
	size_t i;
	json_t *ev;

	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "events"), i, ev)
		json_array_append_new(out, json_pack("[s,s]",
			json_string_value(json_object_get(json_object_get(ev, "details"), "query")),
			json_string_value(json_object_get(ev, "external_id"))));
	json_decref(doc);
	return out;
}

static const char *query_at(json_t *q, size_t i)
{
	return json_string_value(json_array_get(json_array_get(q, i), 0));
}

static const char *xid_at(json_t *q, size_t i)
{
	return json_string_value(json_array_get(json_array_get(q, i), 1));
}

static void test_checkpoint_and_restart(void **state)
{
	struct fixture *f = *state;
	struct collector_source *s = NULL;
	char err[256], path[256];
	json_t *q, *ck;
	const char *fp;

	query(f->log, 1);
	query(f->log, 2);
	query(f->log, 3);
	assert_int_equal(collector_source_open(&f->sc, f->state, 300, &s, err, sizeof(err)), API_OK);
	poll_all(s);
	q = queued(s);
	assert_int_equal(json_array_size(q), 3);
	assert_string_equal(query_at(q, 0), "select 1");
	/* "<database_id>:<16 hex of the first line's SHA-256>:<offset>" */
	assert_int_equal(strlen(xid_at(q, 0)), strlen("db_unit:") + 16 + 2);
	assert_string_equal(xid_at(q, 0) + strlen(xid_at(q, 0)) - 2, ":0");
	assert_string_equal(xid_at(q, 1) + strlen(xid_at(q, 1)) - 3, ":59");
	assert_int_equal(collector_source_ack(s, 2), API_OK);
	collector_source_free(s);

	snprintf(path, sizeof(path), "%s/my.json", f->state);
	ck = json_load_file(path, 0, NULL);
	assert_non_null(ck);
	fp = strchr(xid_at(q, 0), ':') + 1;
	assert_int_equal(json_integer_value(json_object_getn(json_object_get(ck, "files"), fp, 16)), 118);
	json_decref(ck);

	/* a restart reads from the checkpoint: the third again, with its id */
	assert_int_equal(collector_source_open(&f->sc, f->state, 300, &s, err, sizeof(err)), API_OK);
	poll_all(s);
	{
		json_t *again = queued(s);

		assert_int_equal(json_array_size(again), 1);
		assert_string_equal(xid_at(again, 0), xid_at(q, 2));
		json_decref(again);
	}
	assert_true(collector_source_caught_up(s));
	json_decref(q);
	collector_source_free(s);
}

static void test_rotation_by_rename(void **state)
{
	struct fixture *f = *state;
	struct collector_source *s = NULL;
	char err[256], old[256];
	json_t *q;

	query(f->log, 1);
	assert_int_equal(collector_source_open(&f->sc, f->state, 300, &s, err, sizeof(err)), API_OK);
	poll_all(s);
	snprintf(old, sizeof(old), "%s.1", f->log);
	assert_int_equal(rename(f->log, old), 0);
	query(old, 2);          /* the server still wrote to the old file */
	query(f->log, 3);
	poll_all(s);
	q = queued(s);
	assert_int_equal(json_array_size(q), 3);
	assert_string_equal(query_at(q, 1), "select 2");
	assert_string_equal(query_at(q, 2), "select 3");
	/* the renamed file keeps its identity; the new one has its own */
	assert_memory_equal(xid_at(q, 0), xid_at(q, 1), strlen("db_unit:") + 16);
	assert_memory_not_equal(xid_at(q, 1), xid_at(q, 2), strlen("db_unit:") + 16);
	json_decref(q);
	collector_source_free(s);
}

static void test_copy_truncate_while_reading(void **state)
{
	struct fixture *f = *state;
	struct collector_source *s = NULL;
	char err[256], copy[256], cmd[512];
	json_t *q;

	query(f->log, 1);
	query(f->log, 2);
	assert_int_equal(collector_source_open(&f->sc, f->state, 300, &s, err, sizeof(err)), API_OK);
	poll_all(s);
	assert_int_equal(collector_source_ack(s, 2), API_OK);
	{
		size_t added = 0;

		/* a scan now, so that none is due at the poll after the truncation */
		assert_int_equal(collector_source_poll(s, 1000, 1 << 20, &added), API_OK);
	}
	query(f->log, 3);       /* written, then copied, never read from the original */
	snprintf(copy, sizeof(copy), "%s-20261204", f->log);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", f->log, copy);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(truncate(f->log, 0), 0);
	/* past the old read position at once, and read before the next scan of
	 * the directory: only the first line tells it is another file */
	for (int i = 4; i < 10; i++)
		query(f->log, i);
	{
		size_t added = 0;

		assert_int_equal(collector_source_poll(s, 1000, 1 << 20, &added), API_OK);
	}
	poll_all(s);
	q = queued(s);
	assert_int_equal(json_array_size(q), 7);
	assert_string_equal(query_at(q, 0), "select 3");
	for (int i = 4; i < 10; i++) {
		char want[16];

		snprintf(want, sizeof(want), "select %d", i);
		assert_string_equal(query_at(q, (size_t)i - 3), want);
	}
	assert_string_equal(xid_at(q, 1) + strlen(xid_at(q, 1)) - 2, ":0");
	json_decref(q);
	collector_source_free(s);
}

static void test_missing_then_back_and_bounded_queue(void **state)
{
	struct fixture *f = *state;
	struct collector_source *s = NULL;
	struct collector_source_health h;
	char err[256];
	size_t added = 0;

	assert_int_equal(collector_source_open(&f->sc, f->state, 300, &s, err, sizeof(err)), API_OK);
	poll_all(s);
	collector_source_health(s, &h);
	assert_true(h.file_missing);
	for (int i = 0; i < 5; i++)
		query(f->log, i);
	usleep(260 * 1000);
	assert_int_equal(collector_source_poll(s, 2, 1 << 20, &added), API_OK);
	assert_int_equal(collector_source_queued(s), 2);
	assert_int_equal(collector_source_poll(s, 2, 1 << 20, &added), API_OK);
	collector_source_health(s, &h);
	assert_false(h.file_missing);
	assert_true(h.paused);
	assert_int_equal(collector_source_queued(s), 2);
	assert_int_equal(collector_source_ack(s, 2), API_OK);
	poll_all(s);
	assert_int_equal(collector_source_queued(s), 3);
	collector_source_free(s);
}

static void write_conf(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_conf(void **state)
{
	struct fixture *f = *state;
	struct collector_conf c;
	char path[256], err[512];

	snprintf(path, sizeof(path), "%s/c.conf", f->dir);
	write_conf(path, "api_url = http://x\napi_key_file = /k\nbatch_size = 50\n"
		   "[source pg]\ndatabase_id = db_1\nformat = stderr\npath = /var/log/pg\n"
		   "log_line_prefix = '%m [%p] '\n[source my]\ndatabase_id = db_2\n"
		   "format = mariadb_audit\npath = /a.log\ntimezone = local\n");
	assert_int_equal(collector_conf_load(&c, path, err, sizeof(err)), API_OK);
	assert_int_equal(c.batch_size, 50);
	assert_int_equal(c.nsources, 2);
	assert_string_equal(c.sources[0].line_prefix, "%m [%p] ");
	assert_false(c.sources[1].utc);
	collector_conf_cleanup(&c);

	write_conf(path, "api_url = http://x\napi_key_file = /k\nbatch_size = 5000\n");
	assert_int_equal(collector_conf_load(&c, path, err, sizeof(err)), API_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err, ":3: batch_size must be an integer from 1 to 1000"));
	collector_conf_cleanup(&c);

	write_conf(path, "api_url = http://x\napi_key_file = /k\n[source a]\npath = /x\n");
	assert_int_equal(collector_conf_load(&c, path, err, sizeof(err)), API_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err, "database_id is required"));
	collector_conf_cleanup(&c);

	write_conf(path, "[source a]\ndatabase_id = db_1\npath = /x\nbogus = 1\n");
	assert_int_equal(collector_conf_load(&c, path, err, sizeof(err)), API_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err, ":4: unknown key \"bogus\""));
	collector_conf_cleanup(&c);

	write_conf(path, "api_url = http://x\napi_key_file = /k\n[source a]\ndatabase_id = db_1\npath = /x\n[source a]\n");
	assert_int_equal(collector_conf_load(&c, path, err, sizeof(err)), API_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err, "defined twice"));
	collector_conf_cleanup(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_checkpoint_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_by_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_truncate_while_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_then_back_and_bounded_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
