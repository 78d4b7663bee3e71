/*
 * dbaudit-admin: administration from the shell.
 *
 *   dbaudit-admin [--config FILE] migrate
 *   dbaudit-admin [--config FILE] ping
 *   dbaudit-admin [--config FILE] key create --tenant T[,T2...] --scopes S[,S2...]|all
 *                                            [--name NAME] [--plan free|pro|enterprise]
 *                                            [--expires-in DAYS|Ns|Nm|Nh]
 *   dbaudit-admin [--config FILE] key list [--tenant T]
 *   dbaudit-admin [--config FILE] key revoke KEY_ID
 *   dbaudit-admin [--config FILE] crypto generate-key
 *   dbaudit-admin [--config FILE] crypto rotate
 *   dbaudit-admin [--config FILE] crypto check
 *   dbaudit-admin [--config FILE] backup FILE       (SQLite: online, consistent)
 *   dbaudit-admin [--config FILE] export [--tenant T] > FILE.ndjson
 *   dbaudit-admin [--config FILE] import < FILE.ndjson
 *
 * Exit status 0 on success; otherwise 1 with a one-line reason on stderr.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "dbsecrets.h"
#include "store.h"
#include "store_databases.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

struct admin {
	struct config cfg;
	struct store *store;
};

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "dbaudit-admin: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

static int store_fail(enum api_err rc, const char *what)
{
	if (rc == API_ERR_UNAVAILABLE)
		return fail("%s: the store is unreachable", what);
	return fail("%s: the store refused the operation", what);
}

/* Value of "--name VALUE" among args, or NULL. Marks nothing; unknown flags are caught by the caller. */
static const char *opt_value(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0 && i + 1 < argc)
			return argv[i + 1];
	return NULL;
}

static int check_flags(int argc, char **argv, const char *const *allowed)
{
	for (int i = 0; i < argc; i += 2) {
		int ok = 0;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(argv[i], *a) == 0)
				ok = 1;
		if (!ok)
			return fail("unknown option %s", argv[i]);
		if (i + 1 >= argc)
			return fail("option %s needs a value", argv[i]);
	}
	return 0;
}

static int parse_tenants(const char *list, struct key_record *k)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;

	if (copy == NULL)
		return fail("%s", "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!principal_tenant_valid(tok)) {
			rc = fail("invalid tenant '%s' (1-64 of A-Z a-z 0-9 _ -)", tok);
			break;
		}
		if (k->ntenants == PRINCIPAL_MAX_TENANTS) {
			rc = fail("%s", "too many tenants (at most 16)");
			break;
		}
		snprintf(k->tenants[k->ntenants++], sizeof(k->tenants[0]), "%s", tok);
	}
	free(copy);
	if (rc == 0 && k->ntenants == 0)
		rc = fail("%s", "--tenant needs at least one tenant");
	return rc;
}

/* Whether s holds a control character (a tab or newline would forge `key list` lines). */
static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * "--expires-in DAYS" as the contract says; "90s", "15m", "12h" or "7d" for
 * short-lived keys (a CI job's, a test's). At most 100 years.
 */
static int parse_expiry(const char *v, int64_t *ms)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 },
	};
	char num[16];
	size_t n = strlen(v);
	int64_t mult = 86400000, max_ms = (int64_t)36500 * 86400000, x;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, v, n + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (num[n - 1] == units[i].unit) {
			mult = units[i].ms;
			num[n - 1] = '\0';
		}
	if (str_parse_int(num, 1, max_ms / mult, &x) != 0)
		return -1;
	*ms = x * mult;
	return 0;
}

static int cmd_key_create(struct admin *ad, int argc, char **argv)
{
	static const char *const allowed[] = { "--tenant", "--scopes", "--name", "--plan",
					       "--expires-in", NULL };
	struct key_record k;
	char token[AUTH_KEY_TOKEN_LEN];
	const char *v;
	enum api_err rc;
	int plan;

	memset(&k, 0, sizeof(k));
	if (check_flags(argc, argv, allowed) != 0)
		return 1;
	if ((v = opt_value(argc, argv, "--tenant")) == NULL)
		return fail("%s", "key create needs --tenant");
	if (parse_tenants(v, &k) != 0)
		return 1;
	if ((v = opt_value(argc, argv, "--scopes")) == NULL)
		return fail("%s", "key create needs --scopes");
	if (principal_scopes_parse(v, ",", &k.scopes) != 0)
		return fail("unknown scope in '%s'", v);
	v = opt_value(argc, argv, "--plan");
	plan = principal_plan_parse(v ? v : "free");
	if (plan < 0)
		return fail("unknown plan '%s' (free, pro, enterprise)", v);
	k.plan = (enum plan)plan;
	v = opt_value(argc, argv, "--name");
	if (v != NULL && (strlen(v) > 128 || !str_utf8_valid(v, strlen(v)) || has_control(v)))
		return fail("%s", "--name must be valid UTF-8 without control characters, at most 128 bytes");
	snprintf(k.name, sizeof(k.name), "%s", v ? v : "");
	k.created_ms = time_now_ms();
	if ((v = opt_value(argc, argv, "--expires-in")) != NULL) {
		int64_t ms;

		if (parse_expiry(v, &ms) != 0)
			return fail("--expires-in must be a number of days from 1 to 36500 "
				    "(or of seconds, minutes, hours with s, m, h), not '%s'", v);
		k.expires_ms = k.created_ms + ms;
	}
	if (auth_key_generate(token, k.key_id, k.hash) != 0)
		return fail("%s", "the random number generator failed");
	rc = store_key_insert(ad->store, &k);
	if (rc != API_OK)
		return store_fail(rc, "key create");
	printf("%s\n", token);
	return 0;
}

static void print_key(const struct key_record *k, void *arg)
{
	char scopes[512] = "", tenants[1200] = "", created[TIME_RFC3339_LEN];
	char expires[TIME_RFC3339_LEN] = "never", last_used[TIME_RFC3339_LEN] = "never";
	const char *state = "active";
	size_t n = 0;

	(void)arg;
	if (k->scopes == SCOPE_ALL) {
		snprintf(scopes, sizeof(scopes), "all");
	} else {
		for (unsigned bit = 1; bit & SCOPE_ALL; bit <<= 1)
			if (k->scopes & bit)
				n += (size_t)snprintf(scopes + n, sizeof(scopes) - n, "%s%s",
						      n ? "," : "", principal_scope_name(bit));
	}
	n = 0;
	for (size_t i = 0; i < k->ntenants; i++)
		n += (size_t)snprintf(tenants + n, sizeof(tenants) - n, "%s%s", i ? "," : "",
				      k->tenants[i]);
	if (k->revoked)
		state = "revoked";
	else if (k->expires_ms != 0 && k->expires_ms <= time_now_ms())
		state = "expired";
	time_format_rfc3339(k->created_ms, created);
	if (k->expires_ms != 0)
		time_format_rfc3339(k->expires_ms, expires);
	if (k->last_used_ms != 0)
		time_format_rfc3339(k->last_used_ms, last_used);
	printf("%s\ttenants=%s\tscopes=%s\tplan=%s\tname=%s\tstate=%s\tcreated=%s"
	       "\texpires=%s\tlast_used=%s\n",
	       k->key_id, tenants, scopes, principal_plan_name(k->plan),
	       k->name[0] ? k->name : "-", state, created, expires, last_used);
}

static int cmd_key_list(struct admin *ad, int argc, char **argv)
{
	static const char *const allowed[] = { "--tenant", NULL };
	enum api_err rc;

	if (check_flags(argc, argv, allowed) != 0)
		return 1;
	rc = store_key_list(ad->store, opt_value(argc, argv, "--tenant"), print_key, NULL);
	return rc == API_OK ? 0 : store_fail(rc, "key list");
}

static int cmd_key_revoke(struct admin *ad, int argc, char **argv)
{
	enum api_err rc;

	if (argc != 1)
		return fail("%s", "usage: key revoke KEY_ID");
	if (!str_is_prefixed_hex(argv[0], "key_", 16))
		return fail("'%s' is not a key id (key_ and 16 hex digits)", argv[0]);
	rc = store_key_revoke(ad->store, argv[0]);
	if (rc == API_ERR_NOT_FOUND)
		return fail("no key %s", argv[0]);
	return rc == API_OK ? 0 : store_fail(rc, "key revoke");
}

/* ---------------------------------------------------------------- export, import */

/* One NDJSON line {"kind": kind, "doc": doc} on stdout; steals doc. */
static bool emit(const char *kind, json_t *doc)
{
	json_t *line = json_pack("{s:s,s:o}", "kind", kind, "doc", doc);
	bool ok = line != NULL && json_dumpf(line, stdout, JSON_COMPACT) == 0 &&
		  fputc('\n', stdout) != EOF;

	json_decref(line);
	return ok;
}

static void export_key(const struct key_record *k, void *arg)
{
	bool *ok = arg;
	json_t *tenants = json_array(), *scopes = json_array();

	for (size_t i = 0; i < k->ntenants; i++)
		json_array_append_new(tenants, json_string(k->tenants[i]));
	for (unsigned bit = 1; bit & SCOPE_ALL; bit <<= 1)
		if (k->scopes & bit)
			json_array_append_new(scopes, json_string(principal_scope_name(bit)));
	*ok &= emit("key", json_pack("{s:s,s:s,s:o,s:o,s:s,s:s,s:I,s:I,s:I,s:b}", "key_id",
				     k->key_id, "hash", k->hash, "tenants", tenants, "scopes", scopes,
				     "plan", principal_plan_name(k->plan), "name", k->name, "created",
				     (json_int_t)k->created_ms, "expires", (json_int_t)k->expires_ms,
				     "last_used", (json_int_t)k->last_used_ms, "revoked", k->revoked));
}

struct export_walk {
	const char *tenant;
	long long n;
};

static enum api_err export_database(json_t *rec, void *arg)
{
	struct export_walk *w = arg;
	const char *t = json_string_value(json_object_get(rec, "tenant_id"));

	if (w->tenant != NULL && (t == NULL || strcmp(t, w->tenant) != 0))
		return API_OK;
	w->n++;
	return emit("database", json_incref(rec)) ? API_OK : API_ERR_INTERNAL;
}

static int cmd_export(struct admin *ad, int argc, char **argv)
{
	static const char *const allowed[] = { "--tenant", NULL };
	struct export_walk w = { NULL, 0 };
	long long events = 0;
	int64_t after = 0;
	bool ok = true;
	enum api_err rc;

	if (check_flags(argc, argv, allowed) != 0)
		return 1;
	w.tenant = opt_value(argc, argv, "--tenant");
	rc = store_key_list(ad->store, w.tenant, export_key, &ok);
	if (rc == API_OK)
		rc = store_database_foreach(ad->store, export_database, &w);
	/* Events in commit order, a page at a time: the export streams. */
	while (rc == API_OK && ok) {
		json_t *page = NULL, *d;
		size_t i;

		rc = store_events_scan(ad->store, w.tenant, after, 1000, &page);
		if (rc != API_OK || json_array_size(page) == 0) {
			json_decref(page);
			break;
		}
		json_array_foreach(page, i, d) {
			after = json_integer_value(json_object_get(d, "seq"));
			ok &= emit("event", json_incref(d));
			events++;
		}
		json_decref(page);
	}
	if (rc != API_OK)
		return store_fail(rc, "export");
	if (!ok || fflush(stdout) != 0)
		return fail("%s", "export: cannot write the output");
	fprintf(stderr, "exported %lld database(s) and %lld event(s)\n", w.n, events);
	return 0;
}

static enum api_err import_key(struct admin *ad, json_t *d)
{
	struct key_record k;
	json_t *v;
	size_t i;
	int plan = principal_plan_parse(json_string_value(json_object_get(d, "plan")) ?: "");
	enum api_err rc;

	memset(&k, 0, sizeof(k));
	snprintf(k.key_id, sizeof(k.key_id), "%s",
		 json_string_value(json_object_get(d, "key_id")) ?: "");
	snprintf(k.hash, sizeof(k.hash), "%s", json_string_value(json_object_get(d, "hash")) ?: "");
	snprintf(k.name, sizeof(k.name), "%s", json_string_value(json_object_get(d, "name")) ?: "");
	if (!str_is_prefixed_hex(k.key_id, "key_", 16) || strlen(k.hash) != 64 || plan < 0)
		return API_ERR_INVALID_PARAMETER;
	k.plan = (enum plan)plan;
	json_array_foreach(json_object_get(d, "tenants"), i, v)
		if (json_is_string(v) && k.ntenants < PRINCIPAL_MAX_TENANTS)
			snprintf(k.tenants[k.ntenants++], sizeof(k.tenants[0]), "%s",
				 json_string_value(v));
	json_array_foreach(json_object_get(d, "scopes"), i, v)
		k.scopes |= principal_scope_bit(json_string_value(v) ?: "");
	k.created_ms = json_integer_value(json_object_get(d, "created"));
	k.expires_ms = json_integer_value(json_object_get(d, "expires"));
	rc = store_key_insert(ad->store, &k);
	if (rc == API_ERR_CONFLICT)
		rc = API_OK; /* imported before */
	if (rc == API_OK && json_is_true(json_object_get(d, "revoked")))
		rc = store_key_revoke(ad->store, k.key_id);
	if (rc == API_OK && json_integer_value(json_object_get(d, "last_used")) > 0)
		rc = store_key_touch(ad->store, k.key_id,
				     json_integer_value(json_object_get(d, "last_used")));
	return rc;
}

static int cmd_import(struct admin *ad, int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	long long keys = 0, dbs = 0, events = 0, lineno = 0;
	json_t *batch = json_array();
	enum api_err rc = batch ? API_OK : API_ERR_INTERNAL;

	(void)argv;
	if (argc != 0)
		return fail("%s", "usage: import < FILE.ndjson");
	while (rc == API_OK && getline(&line, &cap, stdin) > 0) {
		json_t *o = json_loads(line, 0, NULL);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		json_t *doc = json_object_get(o, "doc");

		lineno++;
		if (kind == NULL || !json_is_object(doc)) {
			rc = API_ERR_INVALID_PARAMETER;
		} else if (strcmp(kind, "key") == 0) {
			rc = import_key(ad, doc);
			keys++;
		} else if (strcmp(kind, "database") == 0) {
			rc = store_database_import(ad->store, doc);
			dbs++;
		} else if (strcmp(kind, "event") == 0) {
			json_array_append(batch, doc);
			events++;
			if (json_array_size(batch) == 500) {
				rc = store_events_import(ad->store, batch);
				json_array_clear(batch);
			}
		} else {
			rc = API_ERR_INVALID_PARAMETER;
		}
		json_decref(o);
	}
	if (rc == API_OK && json_array_size(batch) > 0)
		rc = store_events_import(ad->store, batch);
	free(line);
	json_decref(batch);
	if (rc == API_ERR_INVALID_PARAMETER) {
		fprintf(stderr, "dbaudit-admin: import: line %lld is not an export record\n", lineno);
		return 1;
	}
	if (rc == API_ERR_CONFLICT)
		return fail("%s", "import: an id or commit sequence is taken by another record "
			    "(import into a store without events of its own)");
	if (rc != API_OK)
		return store_fail(rc, "import");
	printf("imported %lld key(s), %lld database(s), %lld event(s)\n", keys, dbs, events);
	return 0;
}

static int usage(void);

struct crypto_walk {
	struct store *store;
	struct crypto_keyring *kr;
	bool check;            /* only open every secret */
	long long records, secrets, changed, failed;
};

static void crypto_report(const char *id, const struct dbsecrets_failure *why, enum crypto_err ce)
{
	fprintf(stderr, "dbaudit-admin: %s: %s under key id %s: %s\n", id,
		dbrec_secret_name(why->secret), why->kid[0] ? why->kid : "?",
		ce == CRYPTO_ERR_NOKEY ? "that key is not configured (crypto_old_keys)"
		: ce == CRYPTO_ERR_AUTH ? "it does not open with that key (wrong key or altered data)"
		: "malformed");
}

/* One record of the walk: check that its secrets open, or re-seal them under the current key. */
static enum api_err crypto_visit(json_t *rec, void *arg)
{
	struct crypto_walk *w = arg;
	const char *id = json_string_value(json_object_get(rec, "_id"));
	json_t *secrets = json_object_get(rec, "secrets"), *fresh = NULL;
	struct dbsecrets_failure why;
	enum crypto_err ce;
	enum api_err rc = API_OK;
	int n = 0;

	if (id == NULL)
		return API_OK;
	memset(&why, 0, sizeof(why));
	w->records++;
	if (w->check) {
		char *plain[DB_SECRET__COUNT];

		ce = dbsecrets_open(w->kr, id, secrets, plain, &why);
		dbsecrets_free(plain);
		if (ce != CRYPTO_OK) {
			crypto_report(id, &why, ce);
			w->failed++;
		} else {
			w->secrets += (long long)json_object_size(secrets);
		}
		return API_OK;
	}
	ce = dbsecrets_reseal(w->kr, id, secrets, &fresh, &n, &why);
	if (ce != CRYPTO_OK) {
		crypto_report(id, &why, ce);
		w->failed++;
		return API_OK;
	}
	if (fresh == NULL)
		return API_OK;
	rc = store_database_replace_secrets(w->store, id, secrets, fresh);
	json_decref(fresh);
	if (rc == API_ERR_NOT_FOUND) {
		fprintf(stderr, "dbaudit-admin: %s changed while rotating; run the command again\n", id);
		w->failed++;
		return API_OK;
	}
	if (rc == API_OK) {
		w->secrets += n;
		w->changed++;
	}
	return rc;
}

static int cmd_crypto(struct admin *ad, int argc, char **argv)
{
	struct crypto_walk w;
	char why[256], hex[CRYPTO_KEY_HEX_LEN + 1];
	enum api_err rc;

	memset(&w, 0, sizeof(w));
	if (argc == 1 && strcmp(argv[0], "generate-key") == 0) {
		if (crypto_key_generate_hex(hex) != 0)
			return fail("%s", "the random number generator failed");
		printf("%s\n", hex);
		return 0;
	}
	if (argc != 1 || (strcmp(argv[0], "rotate") != 0 && strcmp(argv[0], "check") != 0))
		return usage();
	if (crypto_keyring_from_config(&ad->cfg, &w.kr, why, sizeof(why)) != 0)
		return fail("%s", why);
	if (w.kr == NULL)
		return fail("%s", "no crypto key is configured (crypto_key_file or crypto_key)");
	w.store = ad->store;
	w.check = strcmp(argv[0], "check") == 0;
	rc = store_database_foreach(ad->store, crypto_visit, &w);
	if (rc != API_OK) {
		crypto_keyring_free(w.kr);
		return store_fail(rc, w.check ? "crypto check" : "crypto rotate");
	}
	if (w.check)
		printf("%lld secret(s) of %lld database(s) open with the configured keys; %lld "
		       "database(s) failed\n", w.secrets, w.records - w.failed, w.failed);
	else
		printf("re-encrypted %lld secret(s) in %lld database(s) under key %s; %lld "
		       "database(s) failed\n", w.secrets, w.changed,
		       crypto_keyring_current_kid(w.kr), w.failed);
	crypto_keyring_free(w.kr);
	return w.failed > 0 ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: dbaudit-admin [--config FILE] migrate | ping\n"
		"       dbaudit-admin [--config FILE] key create --tenant T[,T2] --scopes S[,S2]|all\n"
		"                     [--name NAME] [--plan free|pro|enterprise] [--expires-in DAYS|Ns|Nm|Nh]\n"
		"       dbaudit-admin [--config FILE] key list [--tenant T]\n"
		"       dbaudit-admin [--config FILE] key revoke KEY_ID\n"
		"       dbaudit-admin [--config FILE] crypto generate-key | rotate | check\n"
		"       dbaudit-admin [--config FILE] backup FILE\n"
		"       dbaudit-admin [--config FILE] export [--tenant T] > FILE.ndjson\n"
		"       dbaudit-admin [--config FILE] import < FILE.ndjson\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct admin ad;
	char err[256];
	const char *why = NULL;
	int i = 1, rc = 1;

	/* Whatever this process creates (logs, keys, stores) is its owner's alone. */
	umask(077);
	memset(&ad, 0, sizeof(ad));
	/* The CLI's answer is its one-line reason on stderr, not log lines. */
	log_init("admin", LOG_OFF);
	if (i < argc && strcmp(argv[i], "--config") == 0)
		i += 2;
	else if (i < argc && strncmp(argv[i], "--config=", 9) == 0)
		i += 1;
	if (i >= argc)
		return usage();
	if (config_load(&ad.cfg, config_path_from_args(argc, argv), err, sizeof(err)) != 0) {
		config_cleanup(&ad.cfg);
		return fail("%s", err);
	}
	/* Bulk commands wait for the store as long as a bulk write takes (a
	 * batch of 500 on FerretDB, a large backup), not a request's deadline. */
	if ((strcmp(argv[i], "import") == 0 || strcmp(argv[i], "export") == 0 ||
	     strcmp(argv[i], "backup") == 0) && ad.cfg.store_timeout_ms < 120000)
		ad.cfg.store_timeout_ms = 120000;
	if (store_open(&ad.cfg, &ad.store, &why) != API_OK) {
		rc = fail("%s", why);
		goto out;
	}
	if (strcmp(argv[i], "migrate") == 0 && i + 1 == argc) {
		enum api_err e = store_migrate(ad.store);

		rc = e == API_OK ? 0 : store_fail(e, "migrate");
	} else if (strcmp(argv[i], "ping") == 0 && i + 1 == argc) {
		enum api_err e = store_ping(ad.store);

		rc = e == API_OK ? 0 : store_fail(e, "ping");
	} else if (strcmp(argv[i], "key") == 0 && i + 1 < argc) {
		const char *sub = argv[i + 1];

		if (strcmp(sub, "create") == 0)
			rc = cmd_key_create(&ad, argc - i - 2, argv + i + 2);
		else if (strcmp(sub, "list") == 0)
			rc = cmd_key_list(&ad, argc - i - 2, argv + i + 2);
		else if (strcmp(sub, "revoke") == 0)
			rc = cmd_key_revoke(&ad, argc - i - 2, argv + i + 2);
		else
			rc = usage();
	} else if (strcmp(argv[i], "backup") == 0 && i + 2 == argc) {
		enum api_err e = store_backup(ad.store, argv[i + 1]);

		if (e == API_ERR_INVALID_PARAMETER)
			rc = fail("backup: the %s engine has no online backup (use mongodump)",
				  store_engine_name(ad.store));
		else if (e == API_ERR_CONFLICT)
			rc = fail("backup: %s exists or cannot be created", argv[i + 1]);
		else
			rc = e == API_OK ? 0 : store_fail(e, "backup");
	} else if (strcmp(argv[i], "export") == 0) {
		rc = cmd_export(&ad, argc - i - 1, argv + i + 1);
	} else if (strcmp(argv[i], "import") == 0) {
		rc = cmd_import(&ad, argc - i - 1, argv + i + 1);
	} else if (strcmp(argv[i], "crypto") == 0) {
		rc = cmd_crypto(&ad, argc - i - 1, argv + i + 1);
	} else {
		fprintf(stderr, "dbaudit-admin: unknown command\n");
		rc = usage();
	}
out:
	store_free(ad.store);
	config_cleanup(&ad.cfg);
	return rc;
}
