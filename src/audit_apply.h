/*
 * audit_apply: the databases' audit_options (CONTRACT §6) applied to a
 * validated batch right before it is stored, after policies and detectors
 * have seen the statements as sent. Owns nothing.
 */
#ifndef DBAUDIT_AUDIT_APPLY_H
#define DBAUDIT_AUDIT_APPLY_H

#include <stddef.h>

#include "api_err.h"
#include "event.h"

/*
 * For each of the n events that has a database_id (its audit_options and
 * type filled by store_events_check_databases), applies its database's
 * audit_options to its details: capture_queries false removes
 * details.query; mask_sensitive_data (the default) replaces it by the
 * masked text, analysed in the database's dialect. Events without a
 * database_id are left as sent. An event with a database_id whose facts
 * were never looked up (db_audit_options NULL) gets the defaults: masked.
 * A derived event built at ingest from a source event must carry the
 * source's facts (event_set_database(dst, NULL, src->db_type,
 * src->db_audit_options)) and pass through here before it is stored.
 * Returns API_OK, or API_ERR_INTERNAL when memory runs out (the batch must
 * then not be stored).
 */
enum api_err audit_apply_batch(struct event_in *ev, size_t n);

#endif
