/*
 * store: the document store (MongoDB, or FerretDB in development) behind
 * plain C functions. Only store_*.c include <mongoc.h>. Every function
 * returns API_OK or an api_err: API_ERR_UNAVAILABLE when the store cannot
 * be reached in time (the caller answers 503), API_ERR_CONFLICT on a
 * duplicate key, API_ERR_NOT_FOUND, API_ERR_INTERNAL otherwise. Library
 * errors are logged once, here, and never reach a client.
 */
#ifndef DBAUDIT_STORE_H
#define DBAUDIT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "api_err.h"
#include "auth.h"

struct config;
struct store;

/*
 * Creates a store handle for this process (call after fork). Connects
 * lazily, with the timeouts of the config. *why names a bad setting.
 */
enum api_err store_open(const struct config *cfg, struct store **out, const char **why);

/* Frees s; NULL is a no-op. */
void store_free(struct store *s);

/*
 * Drops the connection after a failure (API_ERR_UNAVAILABLE), so that the
 * next call reconnects immediately instead of waiting out libmongoc's 5 s
 * cooldown. Every handle of s stays usable.
 */
void store_reset(struct store *s);

/* Round trip to the store. */
enum api_err store_ping(struct store *s);

/* Creates collections and indexes; idempotent. */
enum api_err store_migrate(struct store *s);

/* An API key as stored: never the key itself, only its SHA-256. */
struct key_record {
	char key_id[24];        /* "key_<16 hex>" */
	char hash[65];          /* SHA-256 hex of the whole token */
	char tenants[AUTH_MAX_TENANTS][AUTH_TENANT_MAX_LEN + 1];
	size_t ntenants;
	unsigned scopes;
	enum plan plan;
	char name[129];
	int64_t created_ms;
	int64_t expires_ms;     /* 0: never */
	int64_t last_used_ms;   /* 0: never */
	bool revoked;
};

enum api_err store_key_insert(struct store *s, const struct key_record *k);

/* API_ERR_NOT_FOUND when no key has that id. */
enum api_err store_key_get(struct store *s, const char *key_id, struct key_record *out);

/* Calls cb for each key (of tenant, unless NULL), oldest first. */
enum api_err store_key_list(struct store *s, const char *tenant,
			    void (*cb)(const struct key_record *k, void *arg), void *arg);

/* API_ERR_NOT_FOUND when no key has that id. */
enum api_err store_key_revoke(struct store *s, const char *key_id);

/* Raises last_used to ms (never lowers it). */
enum api_err store_key_touch(struct store *s, const char *key_id, int64_t ms);

#endif
