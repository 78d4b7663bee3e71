/*
 * store_migrate: the collections and indexes the server relies on, as one
 * table. `dbaudit-admin migrate` applies it; createIndexes is idempotent,
 * so running it again changes nothing. docs/storage.md lists each index
 * with the queries it serves.
 */
#include "store_mongo.h"

#include "util/log.h"

static const struct store_mongo_index indexes[] = {
	{ "api_keys", "key_id_1", "{\"key_id\": 1}", true },
	{ "api_keys", "tenants_1", "{\"tenants\": 1}", false },
	{ "api_keys", "tenants_1_created_1__id_1",
	  "{\"tenants\": 1, \"created\": 1, \"_id\": 1}", false },
	/* databases: one registration per host/port/database in a tenant (409 otherwise) */
	{ "databases", "tenant_id_1_host_1_port_1_database_1",
	  "{\"tenant_id\": 1, \"host\": 1, \"port\": 1, \"database\": 1}", true },
	{ "databases", "tenant_id_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "databases", "tenant_id_1_status_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"status\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "databases", "tenant_id_1_type_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"type\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "databases", "status_1_heartbeat.received_at_1",
	  "{\"status\": 1, \"heartbeat.received_at\": 1}", false },
	/* what the databases API counts and looks up per database (and events' tenant_db_ts) */
	{ "alerts", "tenant_id_1_database_id_1_status_1",
	  "{\"tenant_id\": 1, \"database_id\": 1, \"status\": 1}", false },
	{ "policies", "tenant_id_1_enabled_1_database_ids_1",
	  "{\"tenant_id\": 1, \"enabled\": 1, \"database_ids\": 1}", false },
	/* alerts: one open alert per policy, database and user; the list and its filters */
	{ "alerts", "open_key_1", "{\"open_key\": 1}", true },
	{ "alerts", "tenant_id_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "alerts", "tenant_id_1_status_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"status\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "alerts", "tenant_id_1_policy_id_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"policy_id\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "alerts", "tenant_id_1_severity_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"severity\": 1, \"created_at\": -1, \"_id\": -1}", false },
	{ "alerts", "tenant_id_1_database_id_1_created_at_-1__id_-1",
	  "{\"tenant_id\": 1, \"database_id\": 1, \"created_at\": -1, \"_id\": -1}", false },
	/* events: docs/storage.md lists the queries each one serves */
	{ "events", "seq_1", "{\"seq\": 1}", true },
	{ "events", "xid_1", "{\"xid\": 1}", true },
	{ "events", "tenant_ts", "{\"tenant_id\": 1, \"timestamp\": -1, \"seq\": -1}", false },
	{ "events", "tenant_seq", "{\"tenant_id\": 1, \"seq\": 1}", false },
	{ "events", "tenant_type_ts", "{\"tenant_id\": 1, \"type\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_sev_type_ts",
	  "{\"tenant_id\": 1, \"severity\": 1, \"type\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_db_ts", "{\"tenant_id\": 1, \"database_id\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_user_ts",
	  "{\"tenant_id\": 1, \"details.user\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_ip_ts",
	  "{\"tenant_id\": 1, \"details.source_ip\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_session",
	  "{\"tenant_id\": 1, \"details.session_id\": 1, \"seq\": -1}", false },
	{ "events", "tenant_aid_ts", "{\"tenant_id\": 1, \"aid\": 1, \"timestamp\": -1}", false },
	{ "events", "tenant_dbname_ts",
	  "{\"tenant_id\": 1, \"database_name\": 1, \"timestamp\": -1}", false },
	/* webhooks (store_mongo_webhooks.c) */
	{ "webhooks", "tenant_id_1_created_ms_-1__id_-1",
	  "{\"tenant_id\": 1, \"created_ms\": -1, \"_id\": -1}", false },
	{ "webhooks", "status_1__id_1", "{\"status\": 1, \"_id\": 1}", false },
	{ "webhook_deliveries", "webhook_id_1_tenant_id_1_created_ms_-1__id_-1",
	  "{\"webhook_id\": 1, \"tenant_id\": 1, \"created_ms\": -1, \"_id\": -1}", false },
	{ "webhook_deliveries", "webhook_id_1_status_1_tenant_id_1_created_ms_-1__id_-1",
	  "{\"webhook_id\": 1, \"status\": 1, \"tenant_id\": 1, \"created_ms\": -1, \"_id\": -1}",
	  false },
	{ "webhook_deliveries", "webhook_id_1_status_1_seq_1_created_ms_1",
	  "{\"webhook_id\": 1, \"status\": 1, \"seq\": 1, \"created_ms\": 1}", false },
	{ "event_blocks", "k_1", "{\"k\": 1}", false },
	{ "event_ranges", "k_1", "{\"k\": 1}", false },
	{ "event_floors", "k_1", "{\"k\": 1}", false },
};

static enum api_err create_index(struct store *s, const struct store_mongo_index *ix)
{
	bson_t cmd = BSON_INITIALIZER, arr, spec, reply;
	bson_t *keys = NULL;
	bson_error_t err;
	enum api_err rc = API_OK;

	keys = bson_new_from_json((const uint8_t *)ix->keys, -1, &err);
	if (keys == NULL) {
		log_msg(LOG_ERROR, "migrate: bad index spec %s", ix->name);
		return API_ERR_INTERNAL;
	}
	BSON_APPEND_UTF8(&cmd, "createIndexes", ix->collection);
	BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
	BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &spec);
	BSON_APPEND_DOCUMENT(&spec, "key", keys);
	BSON_APPEND_UTF8(&spec, "name", ix->name);
	if (ix->unique)
		BSON_APPEND_BOOL(&spec, "unique", true);
	bson_append_document_end(&arr, &spec);
	bson_append_array_end(&cmd, &arr);
	if (!mongoc_database_write_command_with_opts(store_mongo_of(s)->db, &cmd, NULL, &reply, &err))
		rc = store_mongo_error(&err, "createIndexes");
	bson_destroy(&reply);
	bson_destroy(&cmd);
	bson_destroy(keys);
	return rc;
}

enum api_err store_mongo_migrate(struct store *s)
{
	for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
		enum api_err rc = create_index(s, &indexes[i]);

		if (rc != API_OK)
			return rc;
	}
	return API_OK;
}

const struct store_mongo_index *store_mongo_indexes(size_t *n)
{
	*n = sizeof(indexes) / sizeof(indexes[0]);
	return indexes;
}

enum api_err store_mongo_backup(struct store *s, const char *path)
{
	(void)s;
	(void)path;
	return API_ERR_INVALID_PARAMETER; /* mongodump, or dbaudit-admin export */
}
