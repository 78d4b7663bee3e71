/*
 * Unit tests of auth: API key format, scope/plan/tenant parsing, header
 * selection and the key cache. The store points at a closed port: keys
 * are put in the cache directly (auth_internal.h), and a key missing from
 * the cache shows what a store outage gives (503, never 401).
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "auth_internal.h"
#include "config.h"
#include "http.h"
#include "route.h"
#include "store.h"
#include "util/timeutil.h"

struct fx {
	struct config cfg;
	struct store *store;
	struct auth *auth;
	char token[AUTH_KEY_TOKEN_LEN];
	struct key_record rec;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	const char *why = NULL;

	setenv("DBAUDIT_MONGODB_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", 1);
	setenv("DBAUDIT_STORE_TIMEOUT_MS", "200", 1);
	assert_int_equal(config_load(&f->cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(store_open(&f->cfg, &f->store, &why), API_OK);
	assert_int_equal(auth_create(&f->cfg, f->store, &f->auth, &why), API_OK);
	assert_int_equal(auth_key_generate(f->token, f->rec.key_id, f->rec.hash), 0);
	f->rec.ntenants = 2;
	snprintf(f->rec.tenants[0], sizeof(f->rec.tenants[0]), "acme");
	snprintf(f->rec.tenants[1], sizeof(f->rec.tenants[1]), "beta");
	f->rec.scopes = SCOPE_READ_EVENTS | SCOPE_READ_ALERTS;
	f->rec.plan = PLAN_PRO;
	f->rec.created_ms = time_now_ms();
	auth_cache_put(f->auth, &f->rec);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	auth_free(f->auth);
	store_free(f->store);
	config_cleanup(&f->cfg);
	free(f);
	return 0;
}

static enum api_err run(struct fx *f, const char *authz, const char *api_key,
			struct principal *p, const char **reason)
{
	struct request req;

	memset(&req, 0, sizeof(req));
	req.authorization = authz;
	req.api_key = api_key;
	*reason = NULL;
	return auth_authenticate(f->auth, &req, p, reason);
}

static void test_key_format(void **state)
{
	char token[AUTH_KEY_TOKEN_LEN], id[24], hash[65], hash2[65], parsed[24], bad[AUTH_KEY_TOKEN_LEN];

	(void)state;
	assert_int_equal(auth_key_generate(token, id, hash), 0);
	assert_int_equal(strlen(token), AUTH_KEY_TOKEN_LEN - 1);
	assert_memory_equal(token, "dba_", 4);
	assert_int_equal(auth_key_parse_id(token, strlen(token), parsed), 0);
	assert_string_equal(parsed, id);
	assert_int_equal(strlen(id), 20);
	assert_int_equal(auth_sha256_hex(token, strlen(token), hash2), 0);
	assert_string_equal(hash, hash2);
	/* two keys never share id or secret */
	assert_int_equal(auth_key_generate(bad, parsed, hash2), 0);
	assert_string_not_equal(bad, token);
	assert_string_not_equal(parsed, id);
	/* shapes that are not keys */
	memcpy(bad, token, sizeof(bad));
	bad[10] = 'A';
	assert_int_equal(auth_key_parse_id(bad, strlen(bad), parsed), -1);
	memcpy(bad, token, sizeof(bad));
	bad[20] = '-';
	assert_int_equal(auth_key_parse_id(bad, strlen(bad), parsed), -1);
	memcpy(bad, token, sizeof(bad));
	bad[19] = 'g';
	assert_int_equal(auth_key_parse_id(bad, strlen(bad), parsed), -1);
	assert_int_equal(auth_key_parse_id(token, strlen(token) - 1, parsed), -1);
	assert_int_equal(auth_key_parse_id("dba_", 4, parsed), -1);
}

static void test_parsers(void **state)
{
	unsigned bits = 0;

	(void)state;
	assert_int_equal(principal_scopes_parse("read:events,write:alerts", ",", &bits), 0);
	assert_int_equal(bits, SCOPE_READ_EVENTS | SCOPE_WRITE_ALERTS);
	assert_int_equal(principal_scopes_parse("all", ",", &bits), 0);
	assert_int_equal(bits, SCOPE_ALL);
	assert_int_equal(principal_scopes_parse("read:events,nope", ",", &bits), -1);
	assert_int_equal(principal_scopes_parse("", ",", &bits), -1);
	assert_int_equal(principal_scopes_parse(",", ",", &bits), -1);
	assert_int_equal(principal_scope_bit("read:audit-activity"), SCOPE_READ_AUDIT_ACTIVITY);
	assert_int_equal(principal_scope_bit("READ:EVENTS"), 0);
	assert_string_equal(principal_scope_name(SCOPE_WRITE_WEBHOOKS), "write:webhooks");
	assert_null(principal_scope_name(SCOPE_READ_EVENTS | SCOPE_WRITE_EVENTS));
	assert_int_equal(principal_plan_parse("enterprise"), PLAN_ENTERPRISE);
	assert_int_equal(principal_plan_parse("Free"), -1);
	assert_true(principal_tenant_valid("acme_EU-1"));
	assert_false(principal_tenant_valid(""));
	assert_false(principal_tenant_valid("a.b"));
	assert_false(principal_tenant_valid("a/b"));
	assert_false(principal_tenant_valid("0123456789012345678901234567890123456789012345678901234567890123x"));
	assert_true(principal_tenant_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

/* Every route that needs auth names a scope that exists. */
static void test_route_scopes_known(void **state)
{
	(void)state;
	for (size_t i = 0; i < route_table_len; i++)
		if (route_table[i].scope != NULL)
			assert_int_not_equal(principal_scope_bit(route_table[i].scope), 0);
}

static void test_both_headers(void **state)
{
	struct fx *f = *state;
	struct principal p;
	const char *why;
	char bearer[128];

	snprintf(bearer, sizeof(bearer), "Bearer %s", f->token);
	assert_int_equal(run(f, bearer, NULL, &p, &why), API_OK);
	assert_string_equal(p.id, f->rec.key_id);
	assert_int_equal(p.ntenants, 2);
	assert_string_equal(p.tenants[1], "beta");
	assert_int_equal(p.scopes, SCOPE_READ_EVENTS | SCOPE_READ_ALERTS);
	assert_int_equal(p.plan, PLAN_PRO);
	assert_false(p.is_jwt);
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_OK);
	assert_string_equal(p.id, f->rec.key_id);
	snprintf(bearer, sizeof(bearer), "bearer   %s", f->token);
	assert_int_equal(run(f, bearer, NULL, &p, &why), API_OK);
	/* another scheme does not hide an X-Api-Key, and alone it is a 401 */
	assert_int_equal(run(f, "Basic dXNlcjpwYXNz", f->token, &p, &why), API_OK);
	assert_int_equal(run(f, "Basic dXNlcjpwYXNz", NULL, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "auth_scheme");
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct principal p;
	const char *why;
	char bad[AUTH_KEY_TOKEN_LEN], big[HTTP_MAX_CREDENTIAL + 16];

	assert_int_equal(run(f, NULL, NULL, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "no_credentials");
	assert_int_equal(run(f, "Bearer ", NULL, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "no_credentials");
	assert_int_equal(run(f, NULL, "", &p, &why), API_ERR_UNAUTHORIZED);
	/* right id, wrong secret */
	memcpy(bad, f->token, sizeof(bad));
	bad[50] = bad[50] == 'a' ? 'b' : 'a';
	assert_int_equal(run(f, NULL, bad, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_unknown");
	assert_string_equal(p.id, "");
	assert_int_equal(p.ntenants, 0);
	/* a secret that is not hex: only its digest decides, and it matches nothing */
	bad[50] = 'Z';
	assert_int_equal(run(f, NULL, bad, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_unknown");
	/* malformed */
	assert_int_equal(run(f, NULL, "dba_123", &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_malformed");
	/* X-Api-Key carries keys only, never a JWT */
	assert_int_equal(run(f, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_malformed");
	/* oversized credentials, on both headers */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(run(f, NULL, big, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "credential_too_long");
	memcpy(big, "Bearer ", 7);
	assert_int_equal(run(f, big, NULL, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "credential_too_long");
	/* a JWT while no JWT key is configured */
	assert_int_equal(run(f, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", NULL, &p, &why),
			 API_ERR_UNAUTHORIZED);
}

static void test_revoked_expired(void **state)
{
	struct fx *f = *state;
	struct principal p;
	const char *why;

	f->rec.revoked = true;
	auth_cache_put(f->auth, &f->rec);
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_revoked");
	f->rec.revoked = false;
	f->rec.expires_ms = time_now_ms() - 1000;   /* the coarse clock may lag a few ms */
	auth_cache_put(f->auth, &f->rec);
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_ERR_UNAUTHORIZED);
	assert_string_equal(why, "key_expired");
	f->rec.expires_ms = time_now_ms() + 60000;
	auth_cache_put(f->auth, &f->rec);
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_OK);
	f->rec.ntenants = 0;
	auth_cache_put(f->auth, &f->rec);
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_ERR_FORBIDDEN);
	assert_string_equal(why, "no_tenant");
}

/* A key the cache does not hold, with the store down: 503, never 401. */
static void test_store_down(void **state)
{
	struct fx *f = *state;
	struct principal p;
	const char *why;
	char token[AUTH_KEY_TOKEN_LEN], id[24], hash[65];

	assert_int_equal(auth_key_generate(token, id, hash), 0);
	assert_int_equal(run(f, NULL, token, &p, &why), API_ERR_UNAVAILABLE);
	assert_string_equal(why, "key_store_unavailable");
	/* the cached key keeps working while its entry is fresh */
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_OK);
}

/* A cache entry older than key_cache_ttl_s is read again: with a TTL of 0, every request reaches the store. */
static void test_ttl(void **state)
{
	struct fx *f = *state;
	struct principal p;
	const char *why;

	f->cfg.key_cache_ttl_s = 0;
	assert_int_equal(run(f, NULL, f->token, &p, &why), API_ERR_UNAVAILABLE);
	f->cfg.key_cache_ttl_s = 30;
}

/* Many keys in one worker: the cache holds them all (no thrashing below its size). */
static void test_cache_many(void **state)
{
	struct fx *f = *state;
	struct key_record rec;
	char tokens[12][AUTH_KEY_TOKEN_LEN];
	struct principal p;
	const char *why;

	for (int i = 0; i < 12; i++) {
		memset(&rec, 0, sizeof(rec));
		assert_int_equal(auth_key_generate(tokens[i], rec.key_id, rec.hash), 0);
		rec.ntenants = 1;
		snprintf(rec.tenants[0], sizeof(rec.tenants[0]), "t%d", i);
		rec.scopes = SCOPE_ALL;
		auth_cache_put(f->auth, &rec);
	}
	for (int i = 0; i < 12; i++) {
		char t[8];

		snprintf(t, sizeof(t), "t%d", i);
		assert_int_equal(run(f, NULL, tokens[i], &p, &why), API_OK);
		assert_string_equal(p.tenants[0], t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_format),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_route_scopes_known),
		cmocka_unit_test_setup_teardown(test_both_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
