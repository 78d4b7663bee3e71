/*
 * auth: credentials to principal. API keys are looked up by the id embedded
 * in them and verified by comparing SHA-256 digests in constant time; the
 * key records are cached per worker for key_cache_ttl_s seconds (so a
 * revocation takes effect within that time on every worker) and their
 * last-used time is written back at most once a minute. JWTs are verified
 * by auth_jwt.c.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "auth_jwt.h"
#include "config.h"
#include "http.h"
#include "store.h"
#include "util/str.h"
#include "util/timeutil.h"

#define KEY_CACHE_SIZE 64
#define KEY_TOUCH_INTERVAL_MS 60000

static const char *const scope_names[] = {
	"read:databases", "write:databases", "read:events", "write:events",
	"read:policies", "write:policies", "read:alerts", "write:alerts",
	"read:webhooks", "write:webhooks", "read:audit-activity",
};

static const char *const plan_names[] = { "free", "pro", "enterprise" };

struct key_cache_entry {
	bool used;
	bool missing;              /* negative entry: no such key */
	int64_t fetched_mono;
	int64_t touched_ms;        /* last_used as known to the store */
	int64_t used_ms;           /* last use seen by this worker */
	struct key_record rec;
};

struct auth {
	const struct config *cfg;
	struct store *store;
	struct auth_jwt *jwt;
	struct key_cache_entry cache[KEY_CACHE_SIZE];
};

unsigned auth_scope_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (strcmp(scope_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *auth_scope_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
		if (bit == 1u << i)
			return scope_names[i];
	return NULL;
}

int auth_scopes_parse(const char *list, const char *seps, unsigned *bits)
{
	char *copy = strdup(list), *save = NULL, *tok;
	unsigned acc = 0;
	int rc = 0;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
		unsigned b = strcmp(tok, "all") == 0 ? SCOPE_ALL : auth_scope_bit(tok);

		if (b == 0) {
			rc = -1;
			break;
		}
		acc |= b;
	}
	free(copy);
	if (rc == 0 && acc == 0)
		rc = -1;
	if (rc == 0)
		*bits = acc;
	return rc;
}

int auth_plan_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(plan_names[i], name) == 0)
			return i;
	return -1;
}

const char *auth_plan_name(enum plan p)
{
	return plan_names[p];
}

bool auth_tenant_valid(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= AUTH_TENANT_MAX_LEN ||
		    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return n > 0;
}

bool auth_has_tenant(const struct principal *p, const char *t)
{
	for (size_t i = 0; i < p->ntenants; i++)
		if (strcmp(p->tenants[i], t) == 0)
			return true;
	return false;
}

void auth_sha256_hex(const char *s, size_t n, char *out)
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
	str_hex(md, 32, out);
}

int auth_key_generate(char *token, char *key_id, char *hash_hex)
{
	char id[17], secret[65];

	if (str_random_hex(id, 8) != 0 || str_random_hex(secret, 32) != 0)
		return -1;
	snprintf(token, AUTH_KEY_TOKEN_LEN, "dba_%s_%s", id, secret);
	snprintf(key_id, 24, "key_%s", id);
	auth_sha256_hex(token, strlen(token), hash_hex);
	return 0;
}

enum api_err auth_create(const struct config *cfg, struct store *store,
			 struct auth **out, const char **why)
{
	struct auth *a = calloc(1, sizeof(*a));
	enum api_err rc;

	if (a == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	a->cfg = cfg;
	a->store = store;
	rc = auth_jwt_create(cfg, &a->jwt, why);
	if (rc != API_OK) {
		free(a);
		return rc;
	}
	*out = a;
	return API_OK;
}

void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	auth_flush(a);
	auth_jwt_free(a->jwt);
	free(a);
}

static struct key_cache_entry *cache_slot(struct auth *a, const char *key_id)
{
	unsigned h = 5381;

	for (const char *p = key_id; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &a->cache[h % KEY_CACHE_SIZE];
}

/* The cached record of key_id, refreshed from the store when older than the TTL. */
static enum api_err key_lookup(struct auth *a, const char *key_id, struct key_cache_entry **out)
{
	struct key_cache_entry *e = cache_slot(a, key_id);
	int64_t now = time_mono_ms();
	enum api_err rc;

	if (e->used && strcmp(e->rec.key_id, key_id) == 0 &&
	    now - e->fetched_mono < a->cfg->key_cache_ttl_s * 1000) {
		*out = e;
		return API_OK;
	}
	if (e->used && !e->missing && e->used_ms > e->touched_ms)
		store_key_touch(a->store, e->rec.key_id, e->used_ms);
	memset(e, 0, sizeof(*e));
	rc = store_key_get(a->store, key_id, &e->rec);
	if (rc == API_ERR_NOT_FOUND) {
		e->missing = true;
		snprintf(e->rec.key_id, sizeof(e->rec.key_id), "%s", key_id);
	} else if (rc != API_OK) {
		return rc;
	}
	e->used = true;
	e->fetched_mono = now;
	e->touched_ms = e->rec.last_used_ms;
	*out = e;
	return API_OK;
}

static enum api_err auth_api_key(struct auth *a, const char *token, struct principal *p,
				 const char **reason)
{
	char key_id[24], hash[65];
	struct key_cache_entry *e;
	enum api_err rc;
	int64_t now = time_now_ms();

	/* dba_<16 hex>_<64 hex> */
	if (strlen(token) != AUTH_KEY_TOKEN_LEN - 1 || token[20] != '_') {
		*reason = "key_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	snprintf(key_id, sizeof(key_id), "key_%.16s", token + 4);
	if (!str_is_prefixed_hex(key_id, "key_", 16)) {
		*reason = "key_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	rc = key_lookup(a, key_id, &e);
	if (rc != API_OK) {
		*reason = "key_store_unavailable";
		return rc;
	}
	auth_sha256_hex(token, strlen(token), hash);
	if (e->missing || !str_ct_equal(hash, e->rec.hash, 64)) {
		*reason = "key_unknown";
		return API_ERR_UNAUTHORIZED;
	}
	if (e->rec.revoked) {
		*reason = "key_revoked";
		return API_ERR_UNAUTHORIZED;
	}
	if (e->rec.expires_ms != 0 && e->rec.expires_ms <= now) {
		*reason = "key_expired";
		return API_ERR_UNAUTHORIZED;
	}
	e->used_ms = now;
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", e->rec.key_id);
	memcpy(p->tenants, e->rec.tenants, sizeof(p->tenants));
	p->ntenants = e->rec.ntenants;
	p->scopes = e->rec.scopes;
	p->plan = e->rec.plan;
	if (p->ntenants == 0) {
		*reason = "no_tenant";
		return API_ERR_FORBIDDEN;
	}
	return API_OK;
}

enum api_err auth_authenticate(struct auth *a, const struct request *req,
			       struct principal *p, const char **reason)
{
	const char *token = NULL;

	if (req->authorization != NULL) {
		if (strncasecmp(req->authorization, "Bearer ", 7) != 0) {
			*reason = "auth_scheme";
			return API_ERR_UNAUTHORIZED;
		}
		token = req->authorization + 7;
		while (*token == ' ')
			token++;
	} else if (req->api_key != NULL) {
		token = req->api_key;
	}
	if (token == NULL || *token == '\0') {
		*reason = "no_credentials";
		return API_ERR_UNAUTHORIZED;
	}
	if (strlen(token) > HTTP_MAX_CREDENTIAL) {
		*reason = "credential_too_long";
		return API_ERR_UNAUTHORIZED;
	}
	if (strncmp(token, "dba_", 4) == 0)
		return auth_api_key(a, token, p, reason);
	if (req->authorization == NULL) {
		/* X-Api-Key carries API keys only. */
		*reason = "key_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	return auth_jwt_verify(a->jwt, token, p, reason);
}

void auth_flush(struct auth *a)
{
	int64_t now = time_now_ms();

	for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
		struct key_cache_entry *e = &a->cache[i];

		if (!e->used || e->missing || e->used_ms <= e->touched_ms ||
		    now - e->touched_ms < KEY_TOUCH_INTERVAL_MS)
			continue;
		if (store_key_touch(a->store, e->rec.key_id, e->used_ms) == API_OK)
			e->touched_ms = e->used_ms;
	}
}
