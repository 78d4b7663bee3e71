/* jobs: the table of background jobs. */
#include "jobs.h"

#include "config.h"
#include "store.h"
#include "util/timeutil.h"

static enum api_err job_store_check(struct store *s, const struct config *cfg)
{
	(void)cfg;
	return store_ping(s);
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
	{ "events_watermark", 1000, job_events_watermark },
	{ "events_gc", 30000, job_events_gc },
};

const size_t job_table_len = sizeof(job_table) / sizeof(job_table[0]);
