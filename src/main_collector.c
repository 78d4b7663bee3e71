/*
 * dbaudit-collector: follows the audit logs of real databases and sends
 * what they record to POST /v1/events, heartbeating each database
 * (docs/collector.md). One thread, one loop: read what is new in each
 * source, send a batch when enough is queued or the oldest event has waited
 * flush_ms, back off on 429/503/no answer, advance the checkpoint only
 * after a 201. SIGTERM or SIGINT stop it between two steps.
 *
 * usage: dbaudit-collector --config FILE [--once]
 */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "collector_api.h"
#include "collector_conf.h"
#include "collector_source.h"
#include "util/log.h"
#include "util/timeutil.h"

#define READ_BYTES_PER_STEP (4u * 1024 * 1024)
#define ONCE_MAX_FAILURES 5

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct feed {
	const struct collector_source_conf *sc;
	struct collector_source *src;
	struct collector_api *api;
	int64_t next_try_ms;       /* monotonic; no request before */
	int64_t backoff_ms;        /* the next back-off without Retry-After */
	size_t batch_limit;        /* lowered by 413, and to 1 to find a refused event */
	size_t one_by_one;         /* events left to send one at a time */
	int64_t next_beat_ms;
	int64_t beat_window_ms;    /* start of the rate window */
	uint64_t acked_window;     /* events acknowledged since */
	double rate;
	int failures;              /* consecutive, for --once */
	bool failing;
};

static void feed_backoff(struct feed *f, const struct collector_conf *c, int64_t retry_after_s)
{
	int64_t wait = retry_after_s >= 0 ? retry_after_s * 1000 : f->backoff_ms;
	int64_t cap = c->max_backoff_s * 1000;

	if (wait > cap)
		wait = cap;
	f->next_try_ms = time_mono_ms() + wait;
	f->backoff_ms = f->backoff_ms * 2 > cap ? cap : f->backoff_ms * 2;
	f->failures++;
}

static void feed_ok(struct feed *f)
{
	if (f->failing)
		log_msg(LOG_INFO, "source %s: the API accepts events again", f->sc->name);
	f->failing = false;
	f->failures = 0;
	f->backoff_ms = 500;
	f->next_try_ms = 0;
}

static void feed_fail(struct feed *f, const struct collector_conf *c, const char *what,
		      const struct collector_reply *r)
{
	if (!f->failing || f->failures % 10 == 0) {
		if (r->status == 0)
			log_msg(LOG_WARN, "source %s: %s: no answer from the API (%s); retrying",
				f->sc->name, what, r->error);
		else
			log_msg(LOG_WARN, "source %s: %s: the API answered %ld; retrying%s",
				f->sc->name, what, r->status,
				r->retry_after_s >= 0 ? " after Retry-After" : "");
	}
	f->failing = true;
	feed_backoff(f, c, r->retry_after_s);
}

/* Sends the next batch of one source and acts on the answer. */
static enum api_err feed_send(struct feed *f, const struct collector_conf *c)
{
	size_t want = f->one_by_one > 0 ? 1 : f->batch_limit, count = 0;
	json_t *doc = collector_source_batch(f->src, 0, want, &count);
	char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct collector_reply r;
	enum api_err err = API_OK;

	if (body == NULL) {
		json_decref(doc);
		return API_ERR_INTERNAL;
	}
	collector_api_post(f->api, "/v1/events", body, strlen(body), &r);
	if (r.status == 201) {
		feed_ok(f);
		err = collector_source_ack(f->src, count);
		f->acked_window += count;
		if (f->one_by_one > 0)
			f->one_by_one--;
		if (f->one_by_one == 0 && f->batch_limit < (size_t)c->batch_size)
			f->batch_limit = f->batch_limit * 2 > (size_t)c->batch_size ?
					 (size_t)c->batch_size : f->batch_limit * 2;
	} else if (r.status == 413 && count > 1) {
		f->batch_limit = count / 2;
		log_msg(LOG_WARN, "source %s: a batch of %zu events is too large; sending %zu",
			f->sc->name, count, f->batch_limit);
	} else if (r.status == 400 && count > 1) {
		f->one_by_one = count;
		log_msg(LOG_WARN, "source %s: the API refused a batch of %zu events; sending them one by one",
			f->sc->name, count);
	} else if (r.status == 400 || r.status == 413) {
		json_t *ev = json_array_get(json_object_get(doc, "events"), 0);

		log_msg(LOG_ERROR, "source %s: the API refused event %s (%ld): written to the rejected file",
			f->sc->name, json_string_value(json_object_get(ev, "external_id")), r.status);
		if (collector_source_reject(f->src, ev, r.body) != 0) {
			log_msg(LOG_ERROR, "source %s: cannot write the rejected file; keeping the event",
				f->sc->name);
			feed_backoff(f, c, -1);
		} else {
			err = collector_source_ack(f->src, 1);
			if (f->one_by_one > 0)
				f->one_by_one--;
		}
	} else {
		if (r.status == 401 || r.status == 403 || r.status == 404 || r.status == 422)
			log_msg(LOG_ERROR, "source %s: the API answered %ld: check api_key_file (scope write:events) and database_id %s",
				f->sc->name, r.status, f->sc->database_id);
		feed_fail(f, c, "sending events", &r);
	}
	free(r.body);
	free(body);
	json_decref(doc);
	return err;
}

static const char *level(bool critical, bool warning)
{
	return critical ? "critical" : warning ? "warning" : "healthy";
}

/* POSTs the heartbeat of one source's database. */
static void feed_beat(struct feed *f, const struct collector_conf *c, int64_t started_ms)
{
	struct collector_source_health h;
	struct statvfs vfs;
	struct collector_reply r;
	int64_t now = time_mono_ms();
	bool disk_low = false;
	json_t *doc;
	char *body, path[160];

	if (now - f->beat_window_ms > 0)
		f->rate = (double)f->acked_window * 1000.0 / (double)(now - f->beat_window_ms);
	f->acked_window = 0;
	f->beat_window_ms = now;
	f->next_beat_ms = now + c->heartbeat_s * 1000;
	collector_source_health(f->src, &h);
	if (statvfs(c->state_dir, &vfs) == 0 && vfs.f_blocks > 0)
		disk_low = vfs.f_bavail * 20 < vfs.f_blocks;
	doc = json_pack("{s:{s:s, s:I, s:f}, s:{s:s, s:s, s:s, s:s}, s:I}",
			"collector", "version", PACKAGE_VERSION,
			"uptime_seconds", (json_int_t)((now - started_ms) / 1000),
			"events_per_second", f->rate,
			"health_checks", "connectivity", level(h.file_missing, false),
			"permissions", level(h.permission_denied, false),
			"latency", level(h.paused, h.lag_ms > 5000),
			"disk_space", level(false, disk_low),
			"latency_ms", (json_int_t)h.lag_ms);
	body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (body == NULL)
		return;
	snprintf(path, sizeof(path), "/v1/databases/%s/heartbeat", f->sc->database_id);
	collector_api_post(f->api, path, body, strlen(body), &r);
	if (r.status != 200)
		log_msg(LOG_WARN, "source %s: heartbeat not taken (status %ld%s%s)", f->sc->name,
			r.status, r.status == 0 ? ": " : "", r.status == 0 ? r.error : "");
	free(r.body);
	free(body);
}

/* One step of one source; *busy is set when it did something. */
static enum api_err feed_step(struct feed *f, const struct collector_conf *c, bool once,
			      int64_t started_ms, bool *busy)
{
	size_t added = 0, queued;
	int64_t now, oldest;
	enum api_err err;

	err = collector_source_poll(f->src, (size_t)c->buffer_events, READ_BYTES_PER_STEP, &added);
	if (err != API_OK)
		return err;
	if (added > 0)
		*busy = true;
	now = time_mono_ms();
	queued = collector_source_queued(f->src);
	oldest = collector_source_oldest_ms(f->src);
	if (queued > 0 && now >= f->next_try_ms &&
	    (queued >= f->batch_limit || now - oldest >= c->flush_ms ||
	     (once && collector_source_caught_up(f->src)) || f->one_by_one > 0)) {
		err = feed_send(f, c);
		if (err != API_OK)
			return err;
		*busy = true;
	}
	if (collector_source_queued(f->src) == 0) {
		err = collector_source_sync(f->src, once);
		if (err != API_OK)
			return err;
	}
	if (!once && now >= f->next_beat_ms && now >= f->next_try_ms)
		feed_beat(f, c, started_ms);
	return API_OK;
}

/*
 * The loop: steps every source until a signal (exit status 0), or, with
 * once, until everything was read and acknowledged (0) or the API kept
 * failing (1). Out of memory is 1.
 */
static int run(const struct collector_conf *conf, struct feed *feeds, bool once)
{
	int64_t started = time_mono_ms();

	log_msg(LOG_INFO, "dbaudit-collector %s following %zu source(s)%s", PACKAGE_VERSION,
		conf->nsources, once ? " once" : "");
	while (!stop_requested) {
		bool busy = false, done = once;

		for (size_t i = 0; i < conf->nsources && !stop_requested; i++) {
			struct feed *f = &feeds[i];

			if (feed_step(f, conf, once, started, &busy) != API_OK) {
				log_msg(LOG_ERROR, "source %s: out of memory", f->sc->name);
				return 1;
			}
			if (once && f->failures >= ONCE_MAX_FAILURES) {
				log_msg(LOG_ERROR, "source %s: the API keeps failing; stopping (--once)",
					f->sc->name);
				return 1;
			}
			if (!collector_source_caught_up(f->src) || collector_source_queued(f->src) > 0)
				done = false;
		}
		if (done) {
			for (size_t i = 0; i < conf->nsources; i++)
				feed_beat(&feeds[i], conf, started);
			return 0;
		}
		if (!busy) {
			struct timespec ts = { conf->poll_ms / 1000, (conf->poll_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	for (size_t i = 0; i < conf->nsources; i++)
		if (collector_source_queued(feeds[i].src) == 0)
			collector_source_sync(feeds[i].src, true);
	log_msg(LOG_INFO, "dbaudit-collector stopping");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: dbaudit-collector --config FILE [--once]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct collector_conf conf;
	struct feed *feeds = NULL;
	const char *path = NULL;
	bool once = false;
	char err[512];
	int rc = 1;
	struct sigaction sa;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			once = true;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else
			return usage();
	}
	if (path == NULL)
		path = getenv("DBAUDIT_COLLECTOR_CONFIG");
	if (path == NULL)
		return usage();
	log_init("collector", LOG_INFO);
	memset(&conf, 0, sizeof(conf));
	if (collector_conf_load(&conf, path, err, sizeof(err)) != API_OK) {
		fprintf(stderr, "dbaudit-collector: %s\n", err);
		collector_conf_cleanup(&conf);
		return 2;
	}
	log_init("collector", log_level_parse(conf.log_level));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	feeds = calloc(conf.nsources, sizeof(*feeds));
	if (feeds == NULL)
		goto out;
	for (size_t i = 0; i < conf.nsources; i++) {
		struct feed *f = &feeds[i];
		const struct collector_source_conf *sc = &conf.sources[i];

		f->sc = sc;
		f->backoff_ms = 500;
		f->batch_limit = (size_t)conf.batch_size;
		f->beat_window_ms = time_mono_ms();
		if (collector_source_open(sc, conf.state_dir, conf.idle_ms, &f->src, err, sizeof(err)) != API_OK ||
		    collector_api_create(sc->api_url != NULL ? sc->api_url : conf.api_url,
					 sc->api_key_file != NULL ? sc->api_key_file : conf.api_key_file,
					 conf.timeout_ms, &f->api, err, sizeof(err)) != API_OK) {
			fprintf(stderr, "dbaudit-collector: source %s: %s\n", sc->name, err);
			rc = 2;
			goto out;
		}
	}
	rc = run(&conf, feeds, once);
out:
	if (feeds != NULL) {
		for (size_t i = 0; i < conf.nsources; i++) {
			collector_source_free(feeds[i].src);
			collector_api_free(feeds[i].api);
		}
		free(feeds);
	}
	curl_global_cleanup();
	collector_conf_cleanup(&conf);
	return rc;
}
