/*
 * route: the single table of the API's routes and its lookup. Each entry
 * names the method, the pattern ("/v1/events/{id}"), the handler, the scope
 * a caller needs (NULL for public routes) and flags. Lookup tells a path
 * that exists under another method (405, with Allow) from one that does
 * not exist (404).
 */
#ifndef DBAUDIT_ROUTE_H
#define DBAUDIT_ROUTE_H

#include <stddef.h>

#include "api.h"

#define ROUTE_NDJSON 0x1  /* accepts application/x-ndjson bodies */
#define ROUTE_DEBUG  0x2  /* served only when debug_routes is on (tests) */
#define ROUTE_AUTH   0x4  /* needs valid credentials but no particular scope */

struct route {
	const char *method;
	const char *pattern;
	api_handler handler;
	const char *scope;   /* NULL: no authentication (unless ROUTE_AUTH) */
	unsigned flags;
};

struct route_match {
	const struct route *route;
	char segs[HTTP_MAX_PATH + 1];         /* the path's segments, NUL-separated */
	const char *params[API_MAX_PARAMS];   /* point into segs */
	size_t nparams;
	char allow[96];                       /* methods of the path, for 405 */
};

/* The API's route table. */
extern const struct route route_table[];
extern const size_t route_table_len;

/*
 * Finds the route of method and path in table. Returns API_OK with m filled,
 * API_ERR_NOT_FOUND, or API_ERR_METHOD_NOT_ALLOWED with m->allow listing the
 * path's methods. Routes flagged ROUTE_DEBUG match only when debug is true.
 */
enum api_err route_find(const struct route *table, size_t n, const char *method,
			const char *path, int debug, struct route_match *m);

#endif
