/*
 * store_mongo: the MongoDB engine's connection, its shared helpers and
 * its table of functions. One
 * mongoc_client_t per process (workers are separate processes; no pool,
 * no monitoring thread), error API v2, short timeouts so that a dead or
 * hung store turns into a quick 503 rather than a hung worker.
 */
#include "store_mongo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "util/log.h"

/* Routes mongoc's own log lines into ours, one JSON line each. */
static void store_mongo_log_handler(mongoc_log_level_t level, const char *domain,
			      const char *message, void *data)
{
	(void)data;
	if (level <= MONGOC_LOG_LEVEL_ERROR)
		log_msg(LOG_ERROR, "mongoc %s: %s", domain, message);
	else if (level == MONGOC_LOG_LEVEL_WARNING && !strstr(message, "endSessions"))
		log_msg(LOG_WARN, "mongoc %s: %s", domain, message);
	/* FerretDB has no endSessions; info and debug lines are not ours to keep */
}

static void store_mongo_init_once(void)
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
		mongoc_log_set_handler(store_mongo_log_handler, NULL);
		mongoc_init();
		done = 1;
	}
}

/* Creates the client and database handle of s from uri. */
static enum api_err store_mongo_connect(struct store_mongo *s, const mongoc_uri_t *uri)
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
static void store_mongo_disconnect(struct store_mongo *s)
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
void store_mongo_reset(struct store *base)
{
	struct store_mongo *s = store_mongo_of(base);

	store_mongo_disconnect(s);
	if (store_mongo_connect(s, s->uri) != API_OK)
		log_msg(LOG_ERROR, "store: cannot recreate the MongoDB client");
}

enum api_err store_mongo_open(const struct config *cfg, const char *target, struct store **out,
			      const char **why)
{
	struct store_mongo *s = NULL;
	mongoc_uri_t *uri = NULL;
	bson_error_t err;
	int32_t t = (int32_t)cfg->store_timeout_ms;
	enum api_err rc = API_ERR_INTERNAL;

	store_mongo_init_once();
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*why = "out of memory";
		goto out;
	}
	s->base.engine = &store_mongo_engine;
	uri = mongoc_uri_new_with_error(target, &err);
	if (uri == NULL) {
		*why = "store (or mongodb_uri) is not a valid MongoDB connection string";
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
	if (s->dbname == NULL || store_mongo_connect(s, uri) != API_OK) {
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
	*out = &s->base;
	s = NULL;
	rc = API_OK;
out:
	mongoc_uri_destroy(uri);
	store_mongo_free(s ? &s->base : NULL);
	return rc;
}

void store_mongo_free(struct store *base)
{
	struct store_mongo *s = store_mongo_of(base);

	if (s == NULL)
		return;
	store_mongo_disconnect(s);
	mongoc_write_concern_destroy(s->wc);
	mongoc_uri_destroy(s->uri);
	free(s->dbname);
	free(s);
}

mongoc_collection_t *store_mongo_coll(struct store *base, const char *name)
{
	struct store_mongo *s = store_mongo_of(base);

	for (size_t i = 0; i < s->ncolls; i++)
		if (strcmp(s->colls[i].name, name) == 0)
			return s->colls[i].coll;
	if (s->ncolls == STORE_MAX_COLLECTIONS)
		abort(); /* a programming error: raise STORE_MAX_COLLECTIONS */
	s->colls[s->ncolls].name = name;
	s->colls[s->ncolls].coll = mongoc_client_get_collection(s->client, s->dbname, name);
	return s->colls[s->ncolls++].coll;
}

enum api_err store_mongo_error(const bson_error_t *err, const char *what)
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

enum api_err store_mongo_ping(struct store *s)
{
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_INT32(&cmd, "ping", 1);
	if (!mongoc_client_command_simple(store_mongo_of(s)->client, "admin", &cmd, NULL, &reply, &err))
		rc = store_mongo_error(&err, "ping");
	bson_destroy(&reply);
	bson_destroy(&cmd);
	return rc;
}

bool store_mongo_append_tenant_filter(bson_t *q, const struct principal *p)
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

bool store_mongo_append_write_concern(struct store *s, bson_t *opts)
{
	return mongoc_write_concern_append(store_mongo_of(s)->wc, opts);
}

bool store_mongo_append_str_array(bson_t *b, const char *key, const char *const *v, size_t n)
{
	bson_t arr;
	char idx[16];
	const char *k;
	bool ok = bson_append_array_begin(b, key, -1, &arr);

	for (size_t i = 0; i < n; i++) {
		bson_uint32_to_string((uint32_t)i, &k, idx, sizeof(idx));
		ok = ok && bson_append_utf8(&arr, k, -1, v[i], -1);
	}
	return bson_append_array_end(b, &arr) && ok;
}

enum api_err store_mongo_find_one(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			     bson_t *out, bool *found, const char *what)
{
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	bson_t o = BSON_INITIALIZER;
	enum api_err rc = API_OK;

	*found = false;
	if (opts != NULL)
		bson_copy_to_excluding_noinit(opts, &o, "limit", NULL);
	BSON_APPEND_INT64(&o, "limit", 1);
	cur = mongoc_collection_find_with_opts(coll, q, &o, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		bson_copy_to(doc, out);
		*found = true;
	} else if (mongoc_cursor_error(cur, &err)) {
		rc = store_mongo_error(&err, what);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(&o);
	return rc;
}

int64_t store_mongo_get_int(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) &&
	    (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_DOUBLE(&it)))
		return bson_iter_as_int64(&it);
	return 0;
}

int64_t store_mongo_get_date(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it);
	return 0;
}

const char *store_mongo_get_str(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

enum api_err store_mongo_find_json(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			      json_t **items, const char *what)
{
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	json_t *arr = json_array();
	enum api_err rc = API_OK;

	if (arr == NULL)
		return API_ERR_INTERNAL;
	cur = mongoc_collection_find_with_opts(coll, q, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		json_t *j = store_mongo_bson_to_json(doc);

		if (j == NULL || json_array_append_new(arr, j) != 0) {
			rc = API_ERR_INTERNAL;
			break;
		}
	}
	if (rc == API_OK && mongoc_cursor_error(cur, &err))
		rc = store_mongo_error(&err, what);
	mongoc_cursor_destroy(cur);
	if (rc != API_OK) {
		json_decref(arr);
		return rc;
	}
	*items = arr;
	return API_OK;
}

enum api_err store_mongo_find_one_json(mongoc_collection_t *coll, const bson_t *q,
				       const bson_t *opts, json_t **out, const char *what)
{
	bson_t doc;
	bool found = false;
	enum api_err rc = store_mongo_find_one(coll, q, opts, &doc, &found, what);

	*out = NULL;
	if (rc != API_OK)
		return rc;
	if (!found)
		return API_ERR_NOT_FOUND;
	*out = store_mongo_bson_to_json(&doc);
	bson_destroy(&doc);
	return *out ? API_OK : API_ERR_INTERNAL;
}

const struct store_engine store_mongo_engine = {
	.name = "mongodb",
	.open = store_mongo_open,
	.free = store_mongo_free,
	.reset = store_mongo_reset,
	.ping = store_mongo_ping,
	.migrate = store_mongo_migrate,
	.backup = store_mongo_backup,
	.key_insert = store_mongo_key_insert,
	.key_get = store_mongo_key_get,
	.key_list = store_mongo_key_list,
	.key_revoke = store_mongo_key_revoke,
	.key_touch = store_mongo_key_touch,
	.events_check_databases = store_mongo_events_check_databases,
	.events_insert = store_mongo_events_insert,
	.events_list = store_mongo_events_list,
	.events_after = store_mongo_events_after,
	.events_after_all = store_mongo_events_after_all,
	.events_watermark = store_mongo_events_watermark,
	.events_allocate = store_mongo_events_allocate,
	.events_allocated = store_mongo_events_allocated,
	.events_invalidate = store_mongo_events_invalidate,
	.events_gc = store_mongo_events_gc,
	.events_scan = store_mongo_events_scan,
	.events_import = store_mongo_events_import,
	.database_import = store_mongo_database_import,
	.events_get = store_mongo_events_get,
	.events_session = store_mongo_events_session,
	.events_summary = store_mongo_events_summary,
	.database_name = store_mongo_database_name,
	.database_insert = store_mongo_database_insert,
	.database_get = store_mongo_database_get,
	.database_list = store_mongo_database_list,
	.database_update = store_mongo_database_update,
	.database_check_unique = store_mongo_database_check_unique,
	.database_delete = store_mongo_database_delete,
	.policies_disable_for_database = store_mongo_policies_disable_for_database,
	.database_set_test = store_mongo_database_set_test,
	.database_heartbeat = store_mongo_database_heartbeat,
	.database_stats = store_mongo_database_stats,
	.database_last_event = store_mongo_database_last_event,
	.database_last_event_times = store_mongo_database_last_event_times,
	.database_mark_stale = store_mongo_database_mark_stale,
	.database_foreach = store_mongo_database_foreach,
	.database_replace_secrets = store_mongo_database_replace_secrets,
	.policy_put = store_mongo_policy_put,
	.policy_get = store_mongo_policy_get,
	.policy_delete = store_mongo_policy_delete,
	.policy_list = store_mongo_policy_list,
	.alert_record = store_mongo_alert_record,
	.alert_get = store_mongo_alert_get,
	.alert_list = store_mongo_alert_list,
	.alert_update = store_mongo_alert_update,
	.webhook_insert = store_mongo_webhook_insert,
	.webhook_get = store_mongo_webhook_get,
	.webhook_list = store_mongo_webhook_list,
	.webhook_update = store_mongo_webhook_update,
	.webhook_delete = store_mongo_webhook_delete,
	.webhook_active = store_mongo_webhook_active,
	.webhook_lease = store_mongo_webhook_lease,
	.webhook_advance = store_mongo_webhook_advance,
	.delivery_insert = store_mongo_delivery_insert,
	.delivery_get = store_mongo_delivery_get,
	.delivery_list = store_mongo_delivery_list,
	.delivery_next = store_mongo_delivery_next,
	.delivery_update = store_mongo_delivery_update,
};
