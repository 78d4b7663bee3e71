/*
 * audit_apply: masking and query capture at ingest. The statement
 * analysis of event_parse ran in the unknown dialect (libpg_query first,
 * the tokenizer when it refuses); it is reused for masking when it
 * masks as the database's own dialect would, and the statement is masked
 * again in that dialect otherwise (a MySQL "..." is a string that
 * PostgreSQL's grammar takes for a name).
 */
#include "audit_apply.h"

#include "sqlanalysis.h"

/* The analysis of ev usable for masking in dialect d, or NULL. */
static const struct sql_analysis *reusable(const struct event_in *ev, enum sql_dialect d)
{
	const struct sql_analysis *a = ev->sql;

	if (a == NULL)
		return NULL;
	if (a->dialect == d)
		return a;
	if (a->pg_parsed && (d == SQL_DIALECT_POSTGRESQL || d == SQL_DIALECT_UNKNOWN))
		return a;
	return NULL;
}

enum api_err audit_apply_batch(struct event_in *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum sql_dialect d;
		enum api_err rc;

		if (ev[i].database_id == NULL)
			continue;
		d = sql_dialect_from_type(ev[i].db_type[0] ? ev[i].db_type : NULL);
		rc = sqlanalysis_apply_audit_options(ev[i].details, ev[i].db_audit_options, d,
						     reusable(&ev[i], d));
		if (rc != API_OK)
			return rc;
	}
	return API_OK;
}
