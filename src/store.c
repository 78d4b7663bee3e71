/*
 * store: the process's connection to the document store. One
 * mongoc_client_t per process (workers are separate processes; no pool,
 * no monitoring thread), error API v2, short timeouts so that a dead or
 * hung store turns into a quick 503 rather than a hung worker.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "util/log.h"

/* Routes mongoc's own log lines into ours, one JSON line each. */
static void store_log_handler(mongoc_log_level_t level, const char *domain,
			      const char *message, void *data)
{
	(void)data;
	if (level <= MONGOC_LOG_LEVEL_ERROR)
		log_msg(LOG_ERROR, "mongoc %s: %s", domain, message);
	else if (level == MONGOC_LOG_LEVEL_WARNING && !strstr(message, "endSessions"))
		log_msg(LOG_WARN, "mongoc %s: %s", domain, message);
	/* FerretDB has no endSessions; info and debug lines are not ours to keep */
}

static void store_init_once(void)
{
	static int done;

	if (!done) {
		/*
		 * libmongoc keeps performance counters in /dev/shm/mongoc-<pid>,
		 * which only its mongoc-stat tool reads. Workers that are killed
		 * leave the files behind, and a later process with the same pid
		 * then warns on stderr. We read no such counters: keep them in memory.
		 */
		setenv("MONGOC_DISABLE_SHM", "1", 0);
		mongoc_log_set_handler(store_log_handler, NULL);
		mongoc_init();
		done = 1;
	}
}

/* Creates the client and database handle of s from uri. */
static enum api_err store_connect(struct store *s, const mongoc_uri_t *uri)
{
	bson_error_t err;

	s->client = mongoc_client_new_from_uri_with_error(uri, &err);
	if (s->client == NULL)
		return API_ERR_INTERNAL;
	mongoc_client_set_error_api(s->client, MONGOC_ERROR_API_VERSION_2);
	s->db = mongoc_client_get_database(s->client, s->dbname);
	return API_OK;
}

/* Destroys the client and every handle made from it. */
static void store_disconnect(struct store *s)
{
	for (size_t i = 0; i < s->ncolls; i++)
		mongoc_collection_destroy(s->colls[i].coll);
	s->ncolls = 0;
	mongoc_database_destroy(s->db);
	mongoc_client_destroy(s->client);
	s->db = NULL;
	s->client = NULL;
}

/*
 * After a network failure libmongoc's single-threaded client refuses to
 * look at the server again for 5 s ("cooldown"), so a worker would keep
 * answering 503 for seconds after the store is back. A new client has no
 * such memory: the next request reconnects at once, or fails just as fast.
 */
void store_reset(struct store *s)
{
	store_disconnect(s);
	if (store_connect(s, s->uri) != API_OK)
		log_msg(LOG_ERROR, "store: cannot recreate the MongoDB client");
}

enum api_err store_open(const struct config *cfg, struct store **out, const char **why)
{
	struct store *s = NULL;
	mongoc_uri_t *uri = NULL;
	bson_error_t err;
	int32_t t = (int32_t)cfg->store_timeout_ms;
	enum api_err rc = API_ERR_INTERNAL;

	store_init_once();
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*why = "out of memory";
		goto out;
	}
	uri = mongoc_uri_new_with_error(cfg->mongodb_uri, &err);
	if (uri == NULL) {
		*why = "mongodb_uri is not a valid MongoDB connection string";
		goto out;
	}
	/* The URI may ask for shorter timeouts; never longer than ours. */
	if (mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t) > t ||
	    !mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, t / 4 < 1000 ? t / 4 : 1000);
	if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
		mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, t);
	mongoc_uri_set_appname(uri, "dbaudit");
	s->dbname = strdup(cfg->mongodb_database);
	if (s->dbname == NULL || store_connect(s, uri) != API_OK) {
		*why = "cannot create the MongoDB client from mongodb_uri";
		goto out;
	}
	s->uri = uri;
	uri = NULL;
	s->wc = mongoc_write_concern_new();
	if (s->wc == NULL) {
		*why = "out of memory";
		goto out;
	}
	if (strcmp(cfg->write_concern, "majority") == 0) {
		mongoc_write_concern_set_w(s->wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
	} else {
		char *end;
		long w = strtol(cfg->write_concern, &end, 10);

		if (*end != '\0' || w < 1 || w > 50) {
			*why = "write_concern must be majority or a number of nodes from 1";
			goto out;
		}
		mongoc_write_concern_set_w(s->wc, (int32_t)w);
	}
	mongoc_write_concern_set_wtimeout_int64(s->wc, cfg->store_timeout_ms);
	*out = s;
	s = NULL;
	rc = API_OK;
out:
	mongoc_uri_destroy(uri);
	store_free(s);
	return rc;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	store_disconnect(s);
	mongoc_write_concern_destroy(s->wc);
	mongoc_uri_destroy(s->uri);
	free(s->dbname);
	store_events_counts_free(s->event_counts);
	free(s);
}

mongoc_collection_t *store_coll(struct store *s, const char *name)
{
	for (size_t i = 0; i < s->ncolls; i++)
		if (strcmp(s->colls[i].name, name) == 0)
			return s->colls[i].coll;
	if (s->ncolls == STORE_MAX_COLLECTIONS)
		abort(); /* a programming error: raise STORE_MAX_COLLECTIONS */
	s->colls[s->ncolls].name = name;
	s->colls[s->ncolls].coll = mongoc_client_get_collection(s->client, s->dbname, name);
	return s->colls[s->ncolls++].coll;
}

enum api_err store_error(const bson_error_t *err, const char *what)
{
	enum api_err e = API_ERR_INTERNAL;

	switch (err->domain) {
	case MONGOC_ERROR_SERVER_SELECTION:
	case MONGOC_ERROR_STREAM:
	case MONGOC_ERROR_WRITE_CONCERN:
		e = API_ERR_UNAVAILABLE;
		break;
	case MONGOC_ERROR_SERVER:
		switch (err->code) {
		case 11000:
		case 11001:
			e = API_ERR_CONFLICT;
			break;
		case 6: case 7: case 89: case 91: case 189: case 262:
		case 9001: case 10107: case 11600: case 11602: case 13435: case 13436:
		case 64: /* WriteConcernFailed */
			e = API_ERR_UNAVAILABLE;
			break;
		}
		break;
	case MONGOC_ERROR_CLIENT:
		/* The handshake of a new connection reports stream failures
		 * in the client domain ("socket timeout calling hello"). */
		switch (err->code) {
		case MONGOC_ERROR_CLIENT_AUTHENTICATE:
		case MONGOC_ERROR_CLIENT_NOT_READY:
		case MONGOC_ERROR_STREAM_NAME_RESOLUTION:
		case MONGOC_ERROR_STREAM_SOCKET:
		case MONGOC_ERROR_STREAM_CONNECT:
		case MONGOC_ERROR_STREAM_NOT_ESTABLISHED:
			e = API_ERR_UNAVAILABLE;
			break;
		}
		break;
	}
	if (e != API_ERR_CONFLICT)
		metrics_add(METRIC_STORE_ERRORS, 1);
	if (e != API_ERR_CONFLICT)
		log_msg(e == API_ERR_UNAVAILABLE ? LOG_WARN : LOG_ERROR,
			"store: %s failed: domain %u code %u: %s", what,
			err->domain, err->code, err->message);
	return e;
}

enum api_err store_ping(struct store *s)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	if (!mongoc_client_command_simple(s->client, "admin", &cmd, NULL, &reply, &err))
		rc = store_error(&err, "ping");
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return rc;
}

bool store_append_tenant_filter(bson_t *q, const struct principal *p)
{
	bson_t tf, in;
	char idx[16];
	const char *key;
	bool ok = true;

	ok &= BSON_APPEND_DOCUMENT_BEGIN(q, "tenant_id", &tf);
	ok &= BSON_APPEND_ARRAY_BEGIN(&tf, "$in", &in);
	for (size_t i = 0; i < p->ntenants; i++) {
		bson_uint32_to_string((uint32_t)i, &key, idx, sizeof(idx));
		ok &= bson_append_utf8(&in, key, -1, p->tenants[i], -1);
	}
	ok &= bson_append_array_end(&tf, &in);
	ok &= bson_append_document_end(q, &tf);
	return ok;
}

bool store_append_write_concern(struct store *s, bson_t *opts)
{
	return mongoc_write_concern_append(s->wc, opts);
}
