/*
 * stream_server: the stream pool's process. Where dbaudit-fcgi --role api
 * serves one request at a time, --role stream runs stream_threads threads,
 * each accepting and serving FastCGI requests on the shared socket (fd 0),
 * around one stream_hub. A stream holds its thread for its whole life.
 */
#ifndef DBAUDIT_STREAM_SERVER_H
#define DBAUDIT_STREAM_SERVER_H

struct config;

/*
 * Serves until SIGTERM (or INT, HUP, USR1): then every stream ends cleanly
 * (its clients reconnect and resume), threads blocked in accept are
 * interrupted, and it returns 0. Returns 1 when it cannot start.
 */
int stream_server_run(const struct config *cfg);

#endif
