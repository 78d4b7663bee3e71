/* jobs: the table of background jobs. */
#include "jobs.h"

#include "config.h"
#include "store.h"
#include "store_databases.h"
#include "util/log.h"
#include "util/timeutil.h"

static enum api_err job_store_check(struct store *s, const struct config *cfg)
{
	(void)cfg;
	return store_ping(s);
}

/* Connected databases whose collector stopped sending heartbeats become disconnected. */
static enum api_err job_databases_stale(struct store *s, const struct config *cfg)
{
	int64_t n = 0;
	enum api_err rc = store_database_mark_stale(s, time_now_ms() - cfg->heartbeat_stale_s * 1000, &n);

	if (rc == API_OK && n > 0)
		log_msg(LOG_INFO, "%lld database(s) marked disconnected: no heartbeat for %lld s",
			(long long)n, (long long)cfg->heartbeat_stale_s);
	return rc;
}

/* Keeps the cursor watermark moving (and claims abandoned sequences) even
 * when no poller runs. */
static enum api_err job_events_watermark(struct store *s, const struct config *cfg)
{
	int64_t w;

	return store_events_watermark(s, cfg->cursor_gap_lease_ms, time_now_ms(), 20000, &w);
}

static enum api_err job_events_gc(struct store *s, const struct config *cfg)
{
	(void)cfg;
	return store_events_gc(s);
}

const struct job job_table[] = {
	{ "store_check", 5000, job_store_check },
	{ "databases_stale", 30000, job_databases_stale },
	{ "events_watermark", 1000, job_events_watermark },
	{ "events_gc", 30000, job_events_gc },
};

const size_t job_table_len = sizeof(job_table) / sizeof(job_table[0]);
