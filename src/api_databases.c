/*
 * api_databases: the databases API. Operators register the databases they
 * audit (credentials sealed with AES-256-GCM before they reach the store),
 * list and change them, test the connection for real, and collectors
 * report their health with heartbeats. Validation and views live in dbrec,
 * storage in store_databases, connection tests in dbprobe.
 *
 * Secrets: each is sealed with associated data "<record id>/<field>" so a
 * ciphertext only opens where it was written. Plaintexts exist only while
 * a request seals them or a test uses them, are wiped after, and never
 * reach a response, a log line or an error message.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api_handlers.h"
#include "principal.h"
#include "config.h"
#include "crypto.h"
#include "dbprobe.h"
#include "dbrec.h"
#include "dbsecrets.h"
#include "policy_eval.h"
#include "metrics.h"
#include "store_databases.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

/* The string value of j, or "" (stored records always have their strings). */
static const char *text_of(const json_t *j)
{
	const char *s = json_string_value(j);

	return s ? s : "";
}

/* The record id of the path; anything malformed is simply not found. */
static const char *const no_params[] = { NULL };

/* The database id of the path; every route of one database takes no query parameter. */
static enum api_err path_id(struct ctx *c, const char **id)
{
	enum api_err rc = api_query_only(c, no_params);

	if (rc != API_OK)
		return rc;
	*id = c->nparams > 0 ? c->params[0] : NULL;
	if (*id == NULL || !dbrec_id_valid(*id))
		return api_fail(c, API_ERR_NOT_FOUND, "no such database");
	return API_OK;
}

static enum api_err not_found(struct ctx *c, enum api_err rc)
{
	if (rc == API_ERR_NOT_FOUND)
		return api_fail(c, rc, "no such database");
	return rc;
}

static enum api_err conflict(struct ctx *c, enum api_err rc)
{
	if (rc == API_ERR_CONFLICT)
		return api_fail(c, rc, "a database with the same host, port and database is already "
				"registered in this tenant");
	return not_found(c, rc);
}

/*
 * Seals the secrets given in in under record id into *out (an object by
 * field name). 503 when no crypto key is configured.
 */
static enum api_err seal_secrets(struct ctx *c, const char *id, const struct dbrec_input *in,
				 json_t **out)
{
	enum crypto_err ce;
	bool any = false;

	*out = NULL;
	for (int s = 0; s < DB_SECRET__COUNT; s++)
		any |= in->secrets[s] != NULL;
	if (any && crypto_keyring_current_kid(c->app->keys) == NULL)
		return api_fail(c, API_ERR_UNAVAILABLE, "credential encryption is not configured "
				"on this server (crypto_key_file); credentials cannot be stored");
	ce = dbsecrets_seal(c->app->keys, id, in->secrets, out);
	if (ce != CRYPTO_OK) {
		log_msg(LOG_ERROR, "database %s: sealing its secrets failed (%d)", id, (int)ce);
		return API_ERR_INTERNAL;
	}
	return API_OK;
}

/* last_event_at of a record: the timestamp of its newest event, or NULL. */
static enum api_err last_event_at(struct ctx *c, const char *id, json_t **ev, const char **at)
{
	enum api_err rc = store_database_last_event(c->app->store, c->who, id, ev);

	*at = rc == API_OK && *ev ? json_string_value(json_object_get(*ev, "timestamp")) : NULL;
	return rc;
}

/* Responds with the detail view of rec (stats and last event read now). */
static enum api_err respond_detail(struct ctx *c, int status, json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "_id"));
	struct dbrec_stats st;
	json_t *ev = NULL, *view;
	const char *at = NULL;
	enum api_err rc;

	const char *tenant = json_string_value(json_object_get(rec, "tenant_id"));
	int64_t builtins = 0;

	rc = store_database_stats(c->app->store, c->who, id, time_now_ms(), &st);
	if (rc == API_OK)   /* built-ins the tenant never changed are active too */
		rc = policy_builtins_default(c->app->store, tenant ? tenant : "", &builtins);
	st.policies_active += builtins;
	if (rc == API_OK)
		rc = last_event_at(c, id, &ev, &at);
	if (rc != API_OK)
		return rc;
	view = dbrec_view_detail(rec, &st, at);
	json_decref(ev);
	if (view == NULL)
		return API_ERR_INTERNAL;
	http_response_json(c->res, status, view);
	return API_OK;
}

enum api_err api_databases_list(struct ctx *c)
{
	static const char *const allowed[] = { "status", "type", "tags", "page", "per_page", NULL };
	struct store_database_filter f;
	const char *status = NULL, *type = NULL, *tags = NULL;
	int64_t page, per_page, total = 0;
	json_t *items = NULL, *data = NULL, *rec, *tagarr = NULL, *ids = NULL, *times = NULL;
	enum api_err rc;
	size_t i;

	if ((rc = api_query_only(c, allowed)) != API_OK ||
	    (rc = api_query_str(c, "status", 32, &status)) != API_OK ||
	    (rc = api_query_str(c, "type", 32, &type)) != API_OK ||
	    (rc = api_query_str(c, "tags", 2048, &tags)) != API_OK ||
	    (rc = api_query_int(c, "page", 1, 1000000, 1, &page)) != API_OK ||
	    (rc = api_query_int(c, "per_page", 1, 100, 20, &per_page)) != API_OK)
		return rc;
	if (status != NULL && !dbrec_status_valid(status))
		return api_fail(c, API_ERR_INVALID_PARAMETER,
				"status must be one of pending, connected, disconnected, error");
	if (type != NULL && dbrec_type_parse(type) < 0)
		return api_fail(c, API_ERR_INVALID_PARAMETER, "type must be one of postgresql, mysql, "
				"mariadb, sqlserver, oracle, mongodb");
	if (tags != NULL && dbrec_tags_parse_csv(tags, &tagarr, c->msg, sizeof(c->msg)) != 0)
		return API_ERR_INVALID_PARAMETER;
	memset(&f, 0, sizeof(f));
	f.status = status;
	f.type = type;
	f.tags = tagarr;
	f.skip = (page - 1) * per_page;
	f.limit = per_page;
	rc = store_database_list(c->app->store, c->who, &f, &items, &total);
	if (rc != API_OK)
		goto out;
	/* The page's last events in one store call, whatever its size (issue 9). */
	ids = json_array();
	json_array_foreach(items, i, rec)
		json_array_append(ids, json_object_get(rec, "_id"));
	rc = ids ? store_database_last_event_times(c->app->store, c->who, ids, &times) :
	     API_ERR_INTERNAL;
	if (rc != API_OK)
		goto out;
	data = json_array();
	json_array_foreach(items, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "_id"));

		json_array_append_new(data, dbrec_view_summary(rec, json_string_value(
						  json_object_get(times, id ? id : ""))));
	}
	api_respond_page(c, data, total, page, per_page);
	data = NULL;
out:
	json_decref(data);
	json_decref(items);
	json_decref(ids);
	json_decref(times);
	json_decref(tagarr);
	return rc;
}

enum api_err api_databases_create(struct ctx *c)
{
	struct dbrec_input in;
	json_t *body = NULL, *secrets = NULL, *rec = NULL;
	const char *tenant = NULL;
	char id[DBREC_ID_LEN + 1] = "db_";
	enum api_err rc;

	memset(&in, 0, sizeof(in));
	if ((rc = api_query_only(c, no_params)) != API_OK ||
	    (rc = api_body_object(c, &body)) != API_OK)
		return rc;
	if (dbrec_input_parse(body, false, &in, c->msg, sizeof(c->msg)) != 0 ||
	    dbrec_check_combined(in.set, NULL, c->msg, sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	if ((rc = api_write_tenant(c, in.tenant_id, &tenant)) != API_OK)
		goto out;
	if (str_random_hex(id + 3, 12) != 0) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	if ((rc = seal_secrets(c, id, &in, &secrets)) != API_OK)
		goto out;
	rc = store_database_insert(c->app->store, id, tenant, in.set, secrets, time_now_ms(), &rec);
	if (rc != API_OK) {
		rc = conflict(c, rc);
		goto out;
	}
	log_msg(LOG_INFO, "database %s registered (%s) by %s", id,
		json_string_value(json_object_get(in.set, "type")), c->who->id);
	http_response_json(c->res, 201, dbrec_view_summary(rec, NULL));
	http_response_header(c->res, "Location", "/v1/databases/%s", id);
out:
	json_decref(rec);
	json_decref(secrets);
	dbrec_input_cleanup(&in);
	json_decref(body);
	return rc;
}

enum api_err api_databases_get(struct ctx *c)
{
	const char *id;
	json_t *rec = NULL;
	enum api_err rc;

	if ((rc = path_id(c, &id)) != API_OK)
		return rc;
	rc = store_database_get(c->app->store, c->who, id, &rec);
	if (rc == API_OK)
		rc = respond_detail(c, 200, rec);
	json_decref(rec);
	return not_found(c, rc);
}

/* Fixes what an update implies: resuming auditing without a heartbeat yet is "initializing". */
static void patch_implications(json_t *set, const json_t *old)
{
	const char *audit = json_string_value(json_object_get(set, "audit_status"));

	if (audit != NULL && strcmp(audit, "active") == 0 &&
	    !json_is_object(json_object_get(old, "heartbeat")))
		json_object_set_new(set, "audit_status", json_string("initializing"));
}

/*
 * With a new host, port or database, the tuple the record would have must
 * be free in its tenant (409 otherwise).
 */
static enum api_err patch_unique(struct ctx *c, const json_t *set, const json_t *old, const char *id)
{
	const json_t *host = json_object_get(set, "host"), *port = json_object_get(set, "port");
	const json_t *db = json_object_get(set, "database");

	if (host == NULL && port == NULL && db == NULL)
		return API_OK;
	if (host == NULL)
		host = json_object_get(old, "host");
	if (port == NULL)
		port = json_object_get(old, "port");
	if (db == NULL)
		db = json_object_get(old, "database");
	return store_database_check_unique(c->app->store, text_of(json_object_get(old, "tenant_id")),
					   text_of(host), json_integer_value(port), text_of(db), id);
}

enum api_err api_databases_patch(struct ctx *c)
{
	struct dbrec_input in;
	json_t *body = NULL, *old = NULL, *secrets = NULL, *unset = NULL, *rec = NULL;
	const char *id;
	enum api_err rc;

	memset(&in, 0, sizeof(in));
	if ((rc = path_id(c, &id)) != API_OK)
		return rc;
	if ((rc = api_body_object(c, &body)) != API_OK)
		return rc;
	if (dbrec_input_parse(body, true, &in, c->msg, sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	if ((rc = store_database_get(c->app->store, c->who, id, &old)) != API_OK) {
		rc = not_found(c, rc);
		goto out;
	}
	if (dbrec_check_combined(in.set, old, c->msg, sizeof(c->msg)) != 0 ||
	    dbrec_check_retarget(&in, old, c->msg, sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	patch_implications(in.set, old);
	if ((rc = patch_unique(c, in.set, old, id)) != API_OK) {
		rc = conflict(c, rc);
		goto out;
	}
	if ((rc = seal_secrets(c, id, &in, &secrets)) != API_OK)
		goto out;
	unset = json_array();
	for (int s = 0; s < DB_SECRET__COUNT; s++)
		if (in.unset[s])
			json_array_append_new(unset, json_string(dbrec_secret_name((enum db_secret)s)));
	rc = store_database_update(c->app->store, c->who, id, in.set, secrets, unset, time_now_ms(),
				   &rec);
	if (rc == API_ERR_INTERNAL && patch_unique(c, in.set, old, id) == API_ERR_CONFLICT)
		rc = API_ERR_CONFLICT;  /* lost a race for the tuple on a store without code 11000 */
	if (rc != API_OK) {
		rc = conflict(c, rc);
		goto out;
	}
	rc = respond_detail(c, 200, rec);
out:
	json_decref(rec);
	json_decref(unset);
	json_decref(secrets);
	json_decref(old);
	dbrec_input_cleanup(&in);
	json_decref(body);
	return rc;
}

enum api_err api_databases_delete(struct ctx *c)
{
	const char *id, *tenant;
	json_t *rec = NULL;
	int64_t disabled = 0;
	enum api_err rc;

	if ((rc = path_id(c, &id)) != API_OK)
		return rc;
	if ((rc = store_database_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc);
	tenant = json_string_value(json_object_get(rec, "tenant_id"));
	/* Policies first: if the delete then fails, a retry finds them already disabled. */
	rc = store_policies_disable_for_database(c->app->store, tenant ? tenant : "", id,
						 time_now_ms(), &disabled);
	if (rc == API_OK)
		rc = store_database_delete(c->app->store, c->who, id);
	if (rc == API_OK) {
		log_msg(LOG_INFO, "database %s deleted by %s; %lld policies disabled", id, c->who->id,
			(long long)disabled);
		http_response_json(c->res, 204, NULL);
	}
	json_decref(rec);
	return not_found(c, rc);
}

enum api_err api_databases_status(struct ctx *c)
{
	const char *id, *at;
	json_t *rec = NULL, *ev = NULL, *view;
	enum api_err rc;

	if ((rc = path_id(c, &id)) != API_OK)
		return rc;
	if ((rc = store_database_get(c->app->store, c->who, id, &rec)) != API_OK)
		return not_found(c, rc);
	rc = last_event_at(c, id, &ev, &at);
	if (rc == API_OK) {
		view = dbrec_view_status(rec, ev);
		if (view == NULL)
			rc = API_ERR_INTERNAL;
		else
			http_response_json(c->res, 200, view);
	}
	json_decref(ev);
	json_decref(rec);
	return rc;
}

/* Opens the sealed secrets of rec into plain (wipe with dbsecrets_free). */
static enum api_err open_secrets(struct ctx *c, const json_t *rec, const char *id,
				 char *plain[DB_SECRET__COUNT])
{
	struct dbsecrets_failure why;
	enum crypto_err ce;

	memset(&why, 0, sizeof(why));
	ce = dbsecrets_open(c->app->keys, id, json_object_get(rec, "secrets"), plain, &why);
	if (ce == CRYPTO_OK)
		return API_OK;
	log_msg(LOG_ERROR, "database %s: the stored %s cannot be opened: %s (key id %s)", id,
		dbrec_secret_name(why.secret),
		ce == CRYPTO_ERR_NOKEY ? "its key is not configured"
		: ce == CRYPTO_ERR_AUTH ? "authentication failed (wrong key or altered data)"
		: "malformed", why.kid[0] ? why.kid : "?");
	return api_fail(c, API_ERR_INTERNAL, "stored credentials cannot be decrypted");
}

/* The test target of rec with plaintext secrets plain. */
static void target_of(struct ctx *c, const json_t *rec, char *plain[DB_SECRET__COUNT],
		      struct dbprobe_target *t)
{
	int type = dbrec_type_parse(json_string_value(json_object_get(rec, "type")));
	int ssl = dbrec_ssl_mode_parse(json_string_value(json_object_get(rec, "ssl_mode")));
	const char *s;

	memset(t, 0, sizeof(*t));
	t->type = type < 0 ? DB_POSTGRESQL : (enum db_type)type;
	t->host = json_string_value(json_object_get(rec, "host"));
	t->port = (int)json_integer_value(json_object_get(rec, "port"));
	s = json_string_value(json_object_get(rec, "database"));
	t->database = s ? s : "";
	s = json_string_value(json_object_get(rec, "username"));
	t->username = s ? s : "";
	t->password = plain[DB_SECRET_PASSWORD] ? plain[DB_SECRET_PASSWORD] : "";
	t->ssl_mode = ssl < 0 ? DB_SSL_REQUIRE : (enum db_ssl_mode)ssl;
	t->ssl_ca = plain[DB_SECRET_SSL_CA];
	t->ssl_cert = plain[DB_SECRET_SSL_CERT];
	t->ssl_key = plain[DB_SECRET_SSL_KEY];
	t->timeout_ms = c->app->cfg->probe_timeout_ms;
	t->allow_loopback = c->app->cfg->probe_allow_loopback;
}

/* The last_test object stored for result r. */
static json_t *test_record(const struct dbprobe_result *r)
{
	json_t *o = json_pack("{s:b,s:I}", "success", r->ok, "latency_ms", (json_int_t)r->latency_ms);

	if (o == NULL)
		return NULL;
	if (r->version[0])
		json_object_set_new(o, "version", json_string(r->version));
	if (!r->ok) {
		json_object_set_new(o, "error", json_string(dbprobe_kind_name(r->kind)));
		json_object_set_new(o, "message", json_string(r->message));
	}
	json_object_set(o, "warnings", r->warnings);
	return o;
}

/*
 * Takes one of the caller's concurrent test slots into *slot. When all are
 * held, answers 429 with Retry-After itself and leaves *slot at -1 (the
 * handler then returns API_OK: the error envelope alone has no header).
 */
static enum api_err take_test_slot(struct ctx *c, int *slot)
{
	const struct config *cfg = c->app->cfg;
	int64_t wait_s = (cfg->probe_timeout_ms + 999) / 1000;

	switch (dbprobe_slot_take(cfg->probe_slot_dir, c->who->id, (int)cfg->probe_max_per_principal,
				  slot)) {
	case DBPROBE_SLOT_TAKEN:
		return API_OK;
	case DBPROBE_SLOT_BUSY:
		snprintf(c->msg, sizeof(c->msg), "%lld connection tests of these credentials are "
			 "already running; retry when one has finished",
			 (long long)cfg->probe_max_per_principal);
		/* api_error_response keeps this as the one Retry-After. */
		http_response_header(c->res, "Retry-After", "%lld", (long long)wait_s);
		api_error_response(c->res, API_ERR_RATE_LIMITED, c->msg);
		return API_OK;
	default:
		log_msg(LOG_ERROR, "probe_slot_dir %s cannot be used: %s", cfg->probe_slot_dir,
			strerror(errno));
		return api_fail(c, API_ERR_INTERNAL, "connection tests are not available on this "
				"server (probe_slot_dir)");
	}
}

enum api_err api_databases_test(struct ctx *c)
{
	const char *id, *tenant;
	json_t *rec = NULL, *body = NULL, *last = NULL;
	char *plain[DB_SECRET__COUNT] = { NULL };
	struct dbprobe_target t;
	struct dbprobe_result r;
	enum api_err rc;
	int slot = -1;

	dbprobe_result_init(&r);
	if ((rc = path_id(c, &id)) != API_OK)
		goto out;
	/* No options: the test uses what is stored. An empty object is accepted. */
	if (c->req->body_len > 0) {
		if ((rc = api_body_object(c, &body)) != API_OK)
			goto out;
		if (json_object_size(body) > 0) {
			rc = api_fail(c, API_ERR_INVALID_PARAMETER,
				      "the test takes no parameters; send no body or {}");
			goto out;
		}
	}
	if ((rc = store_database_get(c->app->store, c->who, id, &rec)) != API_OK) {
		rc = not_found(c, rc);
		goto out;
	}
	if ((rc = open_secrets(c, rec, id, plain)) != API_OK)
		goto out;
	if ((rc = take_test_slot(c, &slot)) != API_OK || slot < 0)
		goto out;
	target_of(c, rec, plain, &t);
	dbprobe_result_cleanup(&r);
	dbprobe_run(&t, &r);
	dbprobe_slot_give(slot);
	slot = -1;
	log_msg(r.ok ? LOG_INFO : LOG_WARN, "connection test of database %s (%s): %s in %lld ms%s%s",
		id, dbrec_type_name(t.type), dbprobe_kind_name(r.kind), (long long)r.latency_ms,
		r.detail[0] ? "; " : "", r.detail);
	tenant = json_string_value(json_object_get(rec, "tenant_id"));
	last = test_record(&r);
	if (last == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	rc = store_database_set_test(c->app->store, tenant ? tenant : "", id,
				     r.ok ? "connected" : "error", last, time_now_ms());
	if (rc != API_OK) {
		rc = not_found(c, rc);  /* deleted while the test ran */
		goto out;
	}
	if (!r.ok) {
		rc = api_fail(c, API_ERR_UNPROCESSABLE, "%s", r.message);
		goto out;
	}
	http_response_json(c->res, 200,
			   json_pack("{s:b,s:I,s:s?,s:O,s:O}", "success", 1,
				     "latency_ms", (json_int_t)r.latency_ms,
				     "version", r.version[0] ? r.version : NULL,
				     "permissions", r.permissions, "warnings", r.warnings));
out:
	dbprobe_slot_give(slot);
	dbsecrets_free(plain);
	dbprobe_result_cleanup(&r);
	json_decref(last);
	json_decref(body);
	json_decref(rec);
	return rc;
}

enum api_err api_databases_heartbeat(struct ctx *c)
{
	const char *id;
	json_t *body = NULL, *hb = NULL, *rec = NULL;
	enum api_err rc;

	if ((rc = path_id(c, &id)) != API_OK)
		return rc;
	if ((rc = api_body_object(c, &body)) != API_OK)
		return rc;
	if (dbrec_heartbeat_parse(body, &hb, c->msg, sizeof(c->msg)) != 0) {
		rc = API_ERR_INVALID_PARAMETER;
		goto out;
	}
	rc = store_database_heartbeat(c->app->store, c->who, id, hb, time_now_ms(), &rec);
	if (rc != API_OK) {
		rc = not_found(c, rc);
		goto out;
	}
	metrics_add(METRIC_HEARTBEATS, 1);
	http_response_json(c->res, 200,
			   json_pack("{s:O?,s:O?,s:O?,s:O?}", "id", json_object_get(rec, "_id"),
				     "received_at",
				     json_object_get(json_object_get(rec, "heartbeat"), "received_at"),
				     "connection_status", json_object_get(rec, "status"),
				     "audit_status", json_object_get(rec, "audit_status")));
out:
	json_decref(rec);
	json_decref(hb);
	json_decref(body);
	return rc;
}
