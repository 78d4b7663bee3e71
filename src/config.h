/*
 * config: the one configuration file (lines "key = value", '#' comments),
 * every key overridable by the environment variable DBAUDIT_<KEY> (upper
 * case). Unknown keys are an error, so a typo never goes unnoticed.
 * docs/configuration.md lists every key.
 */
#ifndef DBAUDIT_CONFIG_H
#define DBAUDIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config {
	char *store;                  /* "sqlite:PATH" or a mongodb:// URI; "": mongodb_uri */
	char *sqlite_synchronous;     /* PRAGMA synchronous of the SQLite engine: full, normal, extra */
	char *mongodb_uri;
	char *mongodb_database;
	char *write_concern;          /* "majority" or a number of nodes */
	int64_t store_timeout_ms;     /* server selection, connect and socket */
	char *jwt_hs256_secret_file;
	char *jwt_rs256_keys;         /* "kid=/path.pem,kid2=/path2.pem" */
	char *jwt_es256_keys;
	char *jwt_issuer;
	char *jwt_audience;
	int64_t jwt_leeway_s;
	int64_t jwt_cache_entries;    /* verified tokens kept per worker; 0: none */
	char *crypto_key_file;        /* AES-256-GCM key for stored credentials (64 hex) */
	char *crypto_key;             /* the same key given directly (DBAUDIT_CRYPTO_KEY) */
	char *crypto_key_id;
	char *crypto_old_keys;        /* "kid=/path,kid2=/path2": keys that only open */
	int64_t probe_timeout_ms;     /* connection tests of POST /v1/databases/{id}/test */
	bool probe_allow_loopback;    /* connection tests may reach loopback addresses */
	char *probe_slot_dir;         /* flock'd files capping concurrent tests per principal */
	int64_t probe_max_per_principal;  /* concurrent connection tests of one principal */
	int64_t heartbeat_stale_s;    /* a connected database without heartbeat for longer is disconnected */
	bool webhook_allow_private;
	int64_t max_body_bytes;
	int64_t key_cache_ttl_s;
	int64_t health_cache_ms;
	int64_t cursor_gap_lease_ms;  /* an undecided event sequence is claimed after this */
	int64_t ratelimit_window_s;   /* the window every limit counts over */
	int64_t ratelimit_free;       /* requests per window per principal of a plan; 0: unlimited */
	int64_t ratelimit_pro;
	int64_t ratelimit_enterprise;
	int64_t ratelimit_events_list; /* GET /v1/events per principal; 0: no route limit */
	int64_t ratelimit_events_get;  /* GET /v1/events/{id} */
	int64_t ratelimit_kaudit;      /* GETs of the kAudit surface */
	int64_t ratelimit_auth_failures; /* failed authentications per client address; 0: off */
	char *ratelimit_file;         /* the host's shared counters ("": /dev/shm/dbaudit-ratelimit) */
	int64_t ratelimit_slots;
	char *ratelimit_redis_url;    /* "": counters per host */
	int64_t ratelimit_redis_timeout_ms;
	char *ratelimit_redis_fail;   /* "open" or "closed" when Redis is unreachable */
	int64_t detect_login_window_s;   /* login-anomaly sliding window */
	int64_t detect_login_per_source; /* user.login_failed per source_ip in it */
	int64_t detect_login_per_user;   /* user.login_failed per user in it */
	char *detect_counter_file;       /* the host's login counters ("": /dev/shm/dbaudit-detect) */
	int64_t detect_counter_slots;
	char *cors_origins;           /* origins a browser may call from ("a,b" or "*"); "": none */
	char *metrics_file;           /* the host's shared metrics ("": /dev/shm/dbaudit-metrics) */
	bool debug_routes;            /* test-only routes such as /v1/_debug/sleep */
	char *public_base_url;        /* "https://audit.example.com": absolute Link targets; "": relative */
	int64_t stream_threads;       /* concurrent streams per stream process */
	int64_t stream_store_clients; /* store clients a stream process shares among its threads */
	int64_t stream_max_per_principal;
	char *stream_slot_dir;        /* flock'd slot files counting streams per principal */
	int64_t stream_heartbeat_ms;  /* a comment line this often */
	int64_t stream_retry_ms;      /* the retry: field sent on connect */
	int64_t stream_poll_ms;       /* the reader's pause between watermark reads */
	int64_t stream_buffer_events; /* recent events each stream process keeps in memory */
	char *log_level;
};

/*
 * Loads defaults, then the file at path (NULL: defaults and environment
 * only), then the environment. On failure writes a one-line reason to err
 * and returns -1; the config must still be cleaned up.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Frees every string of the config. */
void config_cleanup(struct config *c);

/*
 * Resolves the config path from argv ("--config FILE" or "--config=FILE")
 * or DBAUDIT_CONFIG. Returns NULL when neither is given.
 */
const char *config_path_from_args(int argc, char **argv);

/* Reads a whole small file (a key or secret, at most 64 KiB) without its
 * trailing newline. Returns a malloc'ed string or NULL. */
char *config_read_file(const char *path, size_t *len);

#endif
