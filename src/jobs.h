/*
 * jobs: the background worker's periodic jobs, one table. Each job runs at
 * most every interval_ms and returns API_OK or an error (logged by the
 * worker loop, never fatal).
 */
#ifndef DBAUDIT_JOBS_H
#define DBAUDIT_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "api_err.h"

struct store;
struct config;

struct job {
	const char *name;
	int64_t interval_ms;
	enum api_err (*run)(struct store *s, const struct config *cfg);
};

extern const struct job job_table[];
extern const size_t job_table_len;

#endif
