/*
 * api_handlers: every route handler, grouped by the api_<resource>.c file
 * that defines it. routes.c puts them in the route table.
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

/* api_kaudit.c */
enum api_err api_kaudit_list(struct ctx *c);
enum api_err api_kaudit_get(struct ctx *c);
enum api_err api_kaudit_summary(struct ctx *c);

#endif
