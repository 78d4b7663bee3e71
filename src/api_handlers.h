/*
 * api_handlers: every route handler, grouped by the api_<resource>.c file
 * that defines it. route_table.c puts them in the route table.
 */
#ifndef DBAUDIT_API_HANDLERS_H
#define DBAUDIT_API_HANDLERS_H

#include "api.h"

/* api_health.c */
enum api_err api_health_get(struct ctx *c);
enum api_err api_swagger_get(struct ctx *c);
enum api_err api_metrics_get(struct ctx *c);
enum api_err api_debug_sleep(struct ctx *c);

/* api_auth.c */
enum api_err api_whoami_get(struct ctx *c);

/* api_databases.c */
enum api_err api_databases_list(struct ctx *c);
enum api_err api_databases_create(struct ctx *c);
enum api_err api_databases_get(struct ctx *c);
enum api_err api_databases_patch(struct ctx *c);
enum api_err api_databases_delete(struct ctx *c);
enum api_err api_databases_status(struct ctx *c);
enum api_err api_databases_test(struct ctx *c);
enum api_err api_databases_heartbeat(struct ctx *c);

/* api_events.c */
enum api_err api_events_post(struct ctx *c);
enum api_err api_events_list(struct ctx *c);
enum api_err api_events_get(struct ctx *c);
enum api_err api_events_debug_allocate(struct ctx *c);

struct event_filter;
struct store;

/*
 * Reads the list filters of /v1/events (type with wildcards, severity,
 * database_id, start_date, end_date, user, source_ip) into f; 400 on any
 * invalid value. Strings in f point into the request.
 */
enum api_err api_events_parse_filter(struct ctx *c, struct event_filter *f);

/*
 * The JSON text of a stored event exactly as GET /v1/events/{id} returns
 * it (lookups confined to the event's own tenant; doc is changed). A
 * malloc'ed string, or NULL with *rc set. The stream's stream_render_fn.
 */
char *api_events_render(struct store *st, json_t *doc, enum api_err *rc);

/*
 * One cursor page in commit order (docs/events.md): the events of c's
 * principal matching f strictly after cursor cur ("" = the beginning) and
 * at most the watermark, at most limit. *docs receives the stored
 * documents, *next_seq the sequence of the next cursor, *more whether more
 * events follow. A malformed, repeated or never-issued cursor is a 400.
 */
enum api_err api_events_cursor_page(struct ctx *c, const struct event_filter *f,
				    const char *cur, int64_t limit, json_t **docs,
				    int64_t *next_seq, bool *more);

/* api_stream.c */
enum api_err api_events_stream(struct ctx *c);

/* api_kaudit.c */
enum api_err api_kaudit_list(struct ctx *c);
enum api_err api_kaudit_get(struct ctx *c);
enum api_err api_kaudit_summary(struct ctx *c);

/* api_policies.c, api_alerts.c */
enum api_err api_policies_list(struct ctx *c);
enum api_err api_policies_create(struct ctx *c);
enum api_err api_policies_get(struct ctx *c);
enum api_err api_policies_patch(struct ctx *c);
enum api_err api_policies_delete(struct ctx *c);
enum api_err api_alerts_list(struct ctx *c);
enum api_err api_alerts_get(struct ctx *c);
enum api_err api_alerts_patch(struct ctx *c);
/* api_webhooks.c */
enum api_err api_webhooks_list(struct ctx *c);
enum api_err api_webhooks_create(struct ctx *c);
enum api_err api_webhooks_get(struct ctx *c);
enum api_err api_webhooks_patch(struct ctx *c);
enum api_err api_webhooks_delete(struct ctx *c);
enum api_err api_webhooks_deliveries(struct ctx *c);
enum api_err api_webhooks_test(struct ctx *c);
enum api_err api_webhooks_retry(struct ctx *c);

#endif
