/* jobs: the table of background jobs. */
#include "jobs.h"

#include "store.h"

static enum api_err job_store_check(struct store *s, const struct config *cfg)
{
	(void)cfg;
	return store_ping(s);
}

const struct job job_table[] = {
	{ "store_check", 5000, job_store_check },
};

const size_t job_table_len = sizeof(job_table) / sizeof(job_table[0]);
