/*
 * dbaudit-worker: the background worker. Runs the jobs of jobs.c on their
 * intervals until SIGTERM or SIGINT, and logs when a job starts or stops
 * failing (not on every failure).
 *
 * usage: dbaudit-worker [--config FILE]
 */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "config.h"
#include "jobs.h"
#include "metrics.h"
#include "route.h"
#include "store.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "webhook_send.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct store *store = NULL;
	struct sigaction sa;
	char err[256];
	const char *why = NULL;
	int64_t last_run[32] = { 0 };
	enum api_err last_rc[32];
	int rc = 1;

	/* Whatever this process creates (logs, keys, stores) is its owner's alone. */
	umask(077);
	log_init("worker", LOG_INFO);
	if (config_load(&cfg, config_path_from_args(argc, argv), err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "configuration: %s", err);
		goto out;
	}
	log_init("worker", log_level_parse(cfg.log_level));
	if (store_open(&cfg, &store, &why) != API_OK) {
		log_msg(LOG_ERROR, "store: %s", why);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < job_table_len && i < 32; i++)
		last_rc[i] = API_OK;
	/* The webhook sender counts its attempts in the metrics file /metrics reads. */
	if (metrics_open(cfg.metrics_file[0] ? cfg.metrics_file : "/dev/shm/dbaudit-metrics",
			 route_table, route_table_len, &why) != 0)
		log_msg(LOG_ERROR, "metrics are off: %s", why);
	why = NULL;
	/* Webhook deliveries run in their own thread, with their own store handle. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    webhook_sender_start(&cfg, &why) != 0) {
		log_msg(LOG_ERROR, "webhook sender: %s", why ? why : "curl_global_init");
		goto out;
	}
	log_msg(LOG_INFO, "worker started with %zu jobs and the webhook sender", job_table_len);
	while (!stop_requested) {
		struct timespec tick = { 0, 200 * 1000000 };

		for (size_t i = 0; i < job_table_len && i < 32 && !stop_requested; i++) {
			int64_t now = time_mono_ms();
			enum api_err jr;

			if (last_run[i] != 0 && now - last_run[i] < job_table[i].interval_ms)
				continue;
			last_run[i] = now;
			jr = job_table[i].run(store, &cfg);
			if (jr == API_ERR_UNAVAILABLE)
				store_reset(store);
			if (jr != last_rc[i])
				log_msg(jr == API_OK ? LOG_INFO : LOG_WARN, "job %s: %s",
					job_table[i].name, jr == API_OK ? "ok again" : api_err_code(jr));
			last_rc[i] = jr;
		}
		nanosleep(&tick, NULL);
	}
	log_msg(LOG_INFO, "worker stopping");
	webhook_sender_stop();
	rc = 0;
out:
	store_free(store);
	config_cleanup(&cfg);
	return rc;
}
