/*
 * dbprobe_mongo: MongoDB connection test with libmongoc. A direct
 * connection (no discovery of other replica-set members, which could name
 * other hosts) to the resolved address (verify-full, which needs the
 * name, is refused before: libmongoc checks the certificate against the
 * host it connects to), credentials against authSource
 * admin, every timeout from the remaining time. Reads buildInfo (the
 * version; FerretDB says so), connectionStatus (the user's roles) and
 * checks reading for real with listCollections on the database: read is
 * required, clusterMonitor gives a warning when missing. An empty username
 * means no authentication (a server without access control).
 */
#include "dbprobe.h"

#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

static enum dbprobe_kind classify(const bson_error_t *e)
{
	if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
		return DBPROBE_AUTH;
	if (e->domain == MONGOC_ERROR_SERVER) {
		if (e->code == 18)
			return DBPROBE_AUTH;
		if (e->code == 13)
			return DBPROBE_PRIVILEGE;
	}
	if (strstr(e->message, "Authentication failed") || strstr(e->message, "authentication mechanism"))
		return DBPROBE_AUTH;
	if (strstr(e->message, "TLS") || strstr(e->message, "SSL") || strstr(e->message, "certificate"))
		return DBPROBE_TLS;
	if (strstr(e->message, "socket timeout") || strstr(e->message, "Timed out") ||
	    strstr(e->message, "timed out"))
		return DBPROBE_TIMEOUT;
	if (strstr(e->message, "connection refused") || strstr(e->message, "Connection refused"))
		return DBPROBE_REFUSED;
	return DBPROBE_OTHER;
}

static void fail_bson(struct dbprobe_result *r, const struct dbprobe_target *t, const bson_error_t *e)
{
	enum dbprobe_kind k = classify(e);

	dbprobe_failf(r, t, k, "libmongoc error domain %u code %u", e->domain, e->code);
	if (k == DBPROBE_AUTH && strstr(e->message, "authentication mechanism"))
		snprintf(r->message, sizeof(r->message),
			 "Authentication failed: the server does not support the authentication "
			 "mechanism (SCRAM). If it runs without access control, register the database "
			 "with an empty username.");
}

static mongoc_uri_t *make_uri(const struct dbprobe_conn *c, bson_error_t *err)
{
	const struct dbprobe_target *t = c->t;
	const char *host = c->addr;
	char s[400];
	mongoc_uri_t *uri;
	int32_t left = (int32_t)dbprobe_remaining_ms(c);

	snprintf(s, sizeof(s), strchr(host, ':') ? "mongodb://[%s]:%d/?directConnection=true"
		 : "mongodb://%s:%d/?directConnection=true", host, t->port);
	uri = mongoc_uri_new_with_error(s, err);
	if (uri == NULL)
		return NULL;
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, left);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, left);
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, left);
	mongoc_uri_set_appname(uri, "dbaudit-connection-test");
	if (t->username[0] != '\0') {
		mongoc_uri_set_username(uri, t->username);
		mongoc_uri_set_password(uri, t->password);
		mongoc_uri_set_auth_source(uri, "admin");
	}
	if (t->ssl_mode != DB_SSL_DISABLE) {
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLS, true);
		if (t->ssl_mode == DB_SSL_REQUIRE && c->ca_file == NULL)
			mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDCERTIFICATES, true);
		/* The address is checked, the name cannot be (verify-full is refused). */
		mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDHOSTNAMES, true);
		if (c->ca_file != NULL)
			mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_TLSCAFILE, c->ca_file);
		if (c->certkey_file != NULL)
			mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_TLSCERTIFICATEKEYFILE,
						      c->certkey_file);
	}
	return uri;
}

/* Fills version from buildInfo; FerretDB reports itself in ferretdbVersion. */
static void read_version(const bson_t *reply, struct dbprobe_result *r)
{
	bson_iter_t it;
	const char *v = "unknown", *ferret = NULL;

	if (bson_iter_init_find(&it, reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
		v = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, reply, "ferretdbVersion") && BSON_ITER_HOLDS_UTF8(&it))
		ferret = bson_iter_utf8(&it, NULL);
	if (ferret != NULL)
		snprintf(r->version, sizeof(r->version), "FerretDB %s (MongoDB %s compatible)",
			 ferret[0] == 'v' ? ferret + 1 : ferret, v);
	else
		snprintf(r->version, sizeof(r->version), "MongoDB %s", v);
}

/* Roles of connectionStatus into permissions; *users is the number of authenticated users. */
static void read_roles(const bson_t *reply, const char *database, struct dbprobe_result *r,
		       int *users, bool *monitor)
{
	bson_iter_t it, arr, role;
	json_t *names = json_array();

	*users = 0;
	*monitor = false;
	if (bson_iter_init(&it, reply) && bson_iter_find_descendant(&it, "authInfo.authenticatedUsers", &arr) &&
	    BSON_ITER_HOLDS_ARRAY(&arr) && bson_iter_recurse(&arr, &role))
		while (bson_iter_next(&role))
			(*users)++;
	if (bson_iter_init(&it, reply) &&
	    bson_iter_find_descendant(&it, "authInfo.authenticatedUserRoles", &arr) &&
	    BSON_ITER_HOLDS_ARRAY(&arr) && bson_iter_recurse(&arr, &role)) {
		while (bson_iter_next(&role)) {
			bson_iter_t f;
			const char *name = NULL, *db = NULL;
			char buf[300];

			if (bson_iter_recurse(&role, &f) && bson_iter_find(&f, "role") && BSON_ITER_HOLDS_UTF8(&f))
				name = bson_iter_utf8(&f, NULL);
			if (bson_iter_recurse(&role, &f) && bson_iter_find(&f, "db") && BSON_ITER_HOLDS_UTF8(&f))
				db = bson_iter_utf8(&f, NULL);
			if (name == NULL || db == NULL)
				continue;
			snprintf(buf, sizeof(buf), "%s@%s", name, db);
			json_array_append_new(names, json_string(buf));
			if (strcmp(db, "admin") == 0 &&
			    (strcmp(name, "clusterMonitor") == 0 || strcmp(name, "clusterAdmin") == 0 ||
			     strcmp(name, "root") == 0 || strcmp(name, "__system") == 0))
				*monitor = true;
		}
	}
	(void)database;
	json_object_set_new(r->permissions, "roles", names);
}

void dbprobe_mongo(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	const struct dbprobe_target *t = c->t;
	mongoc_uri_t *uri = NULL;
	mongoc_client_t *client = NULL;
	bson_t cmd = BSON_INITIALIZER, reply = BSON_INITIALIZER;
	bson_error_t err;
	int users = 0;
	bool monitor = false;

	mongoc_init();  /* idempotent; the store has usually done it already */
	uri = make_uri(c, &err);
	if (uri == NULL) {
		dbprobe_failf(r, t, DBPROBE_OTHER, "libmongoc: invalid URI (domain %u code %u)",
			      err.domain, err.code);
		goto out;
	}
	client = mongoc_client_new_from_uri_with_error(uri, &err);
	if (client == NULL) {
		dbprobe_failf(r, t, DBPROBE_OTHER, "libmongoc: no client (domain %u code %u)",
			      err.domain, err.code);
		goto out;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	BSON_APPEND_INT32(&cmd, "buildInfo", 1);
	if (!mongoc_client_command_simple(client, "admin", &cmd, NULL, &reply, &err)) {
		fail_bson(r, t, &err);
		goto out;
	}
	read_version(&reply, r);
	bson_reinit(&cmd);
	bson_destroy(&reply);
	BSON_APPEND_INT32(&cmd, "connectionStatus", 1);
	if (!mongoc_client_command_simple(client, t->database, &cmd, NULL, &reply, &err)) {
		fail_bson(r, t, &err);
		goto out;
	}
	read_roles(&reply, t->database, r, &users, &monitor);
	bson_reinit(&cmd);
	bson_destroy(&reply);
	BSON_APPEND_INT32(&cmd, "listCollections", 1);
	BSON_APPEND_BOOL(&cmd, "nameOnly", true);
	BSON_APPEND_BOOL(&cmd, "authorizedCollections", true);
	if (!mongoc_client_command_simple(client, t->database, &cmd, NULL, &reply, &err)) {
		if (classify(&err) != DBPROBE_PRIVILEGE) {
			fail_bson(r, t, &err);
			goto out;
		}
		json_object_set_new(r->permissions, "read", json_false());
		json_object_set_new(r->permissions, "cluster_monitor", json_boolean(monitor));
		dbprobe_failf(r, t, DBPROBE_PRIVILEGE, "libmongoc error domain %u code %u",
			      err.domain, err.code);
		snprintf(r->message, sizeof(r->message),
			 "Connected, but the user may not read the database '%s'. Grant the role read "
			 "on it (and clusterMonitor on admin) and test again.", t->database);
		goto out;
	}
	if (users == 0) {
		monitor = true;
		dbprobe_warn(r, t->username[0] ? "The server reported no authenticated user."
			     : "No credentials were used and the server accepted the connection: "
			       "it runs without access control.");
	}
	json_object_set_new(r->permissions, "read", json_true());
	json_object_set_new(r->permissions, "cluster_monitor", json_boolean(monitor));
	if (!monitor)
		dbprobe_warn(r, "clusterMonitor is not granted: server-wide activity is not visible.");
	if (t->ssl_mode == DB_SSL_DISABLE)
		dbprobe_warn(r, "The connection is not encrypted (ssl_mode disable).");
out:
	bson_destroy(&reply);
	bson_destroy(&cmd);
	mongoc_client_destroy(client);
	mongoc_uri_destroy(uri);
}
