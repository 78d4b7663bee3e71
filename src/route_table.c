/*
 * route_table: the route table (the matcher is route_match.c). More
 * specific patterns come before the patterns they overlap
 * ("/v1/events/stream" before "/v1/events/{id}").
 */
#include "route.h"

#include "api_handlers.h"

const struct route route_table[] = {
	{ "GET", "/v1/health", api_health_get, NULL, 0 },
	{ "GET", "/swagger", api_swagger_get, NULL, 0 },
	{ "GET", "/metrics", api_metrics_get, NULL, 0 },
	{ "GET", "/v1/auth/whoami", api_whoami_get, NULL, ROUTE_AUTH },
	{ "GET", "/v1/_debug/sleep", api_debug_sleep, NULL, ROUTE_DEBUG },
	{ "GET", "/v1/databases", api_databases_list, "read:databases", 0 },
	{ "POST", "/v1/databases", api_databases_create, "write:databases", 0 },
	{ "GET", "/v1/databases/{id}/status", api_databases_status, "read:databases", 0 },
	{ "POST", "/v1/databases/{id}/test", api_databases_test, "write:databases", 0 },
	{ "POST", "/v1/databases/{id}/heartbeat", api_databases_heartbeat, "write:events", 0 },
	{ "GET", "/v1/databases/{id}", api_databases_get, "read:databases", 0 },
	{ "PATCH", "/v1/databases/{id}", api_databases_patch, "write:databases", 0 },
	{ "DELETE", "/v1/databases/{id}", api_databases_delete, "write:databases", 0 },
	{ "POST", "/v1/_debug/events/allocate", api_events_debug_allocate, "write:events", ROUTE_DEBUG },
	{ "POST", "/v1/events", api_events_post, "write:events", ROUTE_NDJSON },
	{ "GET", "/v1/events", api_events_list, "read:events", 0 },
	{ "GET", "/v1/events/stream", api_events_stream, "read:events", 0 },
	{ "GET", "/v1/events/{id}", api_events_get, "read:events", 0 },
	{ "GET", "/v1/policies", api_policies_list, "read:policies", 0 },
	{ "POST", "/v1/policies", api_policies_create, "write:policies", 0 },
	{ "GET", "/v1/policies/{id}", api_policies_get, "read:policies", 0 },
	{ "PATCH", "/v1/policies/{id}", api_policies_patch, "write:policies", 0 },
	{ "DELETE", "/v1/policies/{id}", api_policies_delete, "write:policies", 0 },
	{ "GET", "/v1/alerts", api_alerts_list, "read:alerts", 0 },
	{ "GET", "/v1/alerts/{id}", api_alerts_get, "read:alerts", 0 },
	{ "PATCH", "/v1/alerts/{id}", api_alerts_patch, "write:alerts", 0 },
	{ "GET", "/v1/webhooks", api_webhooks_list, "read:webhooks", 0 },
	{ "POST", "/v1/webhooks", api_webhooks_create, "write:webhooks", 0 },
	{ "GET", "/v1/webhooks/{id}/deliveries", api_webhooks_deliveries, "read:webhooks", 0 },
	{ "POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", api_webhooks_retry, "write:webhooks", 0 },
	{ "POST", "/v1/webhooks/{id}/test", api_webhooks_test, "write:webhooks", 0 },
	{ "GET", "/v1/webhooks/{id}", api_webhooks_get, "read:webhooks", 0 },
	{ "PATCH", "/v1/webhooks/{id}", api_webhooks_patch, "write:webhooks", 0 },
	{ "DELETE", "/v1/webhooks/{id}", api_webhooks_delete, "write:webhooks", 0 },
	{ "GET", "/api/v1/public/audit-activity", api_kaudit_list, "read:audit-activity", 0 },
	{ "GET", "/api/v1/public/audit-activity/summary", api_kaudit_summary, "read:audit-activity", 0 },
	{ "GET", "/api/v1/public/audit-activity/{recordId}", api_kaudit_get, "read:audit-activity", 0 },
};

const size_t route_table_len = sizeof(route_table) / sizeof(route_table[0]);
