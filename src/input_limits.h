/*
 * input_limits: every bound on what a client may send, in one header, so
 * that the code and the table in docs/limits.md cannot drift apart. A leaf:
 * constants only, included by http.h, event.h and auth_jwt.h. The body
 * size is also a setting (max_body_bytes); LIMIT_BODY_BYTES is its default.
 */
#ifndef DBAUDIT_INPUT_LIMITS_H
#define DBAUDIT_INPUT_LIMITS_H

/* ---- requests (http.c) */
#define LIMIT_BODY_BYTES (5 * 1024 * 1024) /* default max_body_bytes: 413 above */
#define HTTP_MAX_PATH 2048                 /* bytes of the path before '?' */
#define HTTP_MAX_QUERY_PARAMS 64           /* name=value pairs in the query */
#define HTTP_MAX_CREDENTIAL 8192           /* bytes of an API key or bearer token */
#define AUTH_JWT_MAX_LEN 8192              /* bytes of a JWT */

/* ---- events (event.c): one event of POST /v1/events */
#define EVENT_MAX_BATCH 1000               /* events in one request */
#define EVENT_ENCODED_MAX 65536            /* bytes of one event as compact JSON */
#define EVENT_DETAILS_KEYS_MAX 256         /* keys in details, every level counted */
#define EVENT_DETAILS_DEPTH 8              /* levels of details (details itself is 1) */
#define EVENT_STRING_MAX 32768             /* bytes of one string in details (query included) */
#define EVENT_KEY_MAX 256                  /* bytes of one details key */
#define EVENT_EXTERNAL_ID_MAX 128          /* characters (code points) */
#define EVENT_NAME_MAX 256                 /* database_name, bytes */
#define EVENT_DATABASE_ID_MAX 64           /* database_id, bytes */
#define EVENT_ACTION_ID_MAX 8              /* details.action_id, letters or digits */
#define EVENT_SEARCH_MAX 200               /* bytes of a kAudit search term */

#endif
