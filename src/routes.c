/*
 * routes: the route table. More specific patterns come before the patterns
 * they overlap ("/v1/events/stream" before "/v1/events/{id}").
 */
#include "route.h"

#include "api_handlers.h"

const struct route route_table[] = {
	{ "GET", "/v1/health", api_health_get, NULL, 0 },
	{ "GET", "/swagger", api_swagger_get, NULL, 0 },
	{ "GET", "/v1/auth/whoami", api_whoami_get, NULL, ROUTE_AUTH },
	{ "GET", "/v1/_debug/sleep", api_debug_sleep, NULL, ROUTE_DEBUG },
};

const size_t route_table_len = sizeof(route_table) / sizeof(route_table[0]);
