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

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth_internal.h"

#include "auth_jwt.h"
#include "config.h"
#include "http.h"
#include "store.h"
#include "util/str.h"
#include "util/timeutil.h"

/*
 * The key cache: KEY_CACHE_SETS sets of KEY_CACHE_WAYS entries, picked by a
 * hash of the key id, least recently used entry replaced. A negative entry
 * (no such key) never displaces a positive one, so a flood of made-up key
 * ids cannot push real keys out.
 */
#define KEY_CACHE_SETS 64
#define KEY_CACHE_WAYS 4
#define KEY_TOUCH_INTERVAL_MS 60000
#define KEY_FLUSH_SCAN_MS 1000

struct key_cache_entry {
	bool used;
	bool missing;              /* negative entry: no such key */
	unsigned char digest[32];  /* rec.hash decoded */
	int64_t fetched_mono;      /* when rec was read from the store */
	int64_t hit_mono;          /* last lookup, for LRU */
	int64_t touched_ms;        /* last_used as known to the store */
	int64_t used_ms;           /* last successful use seen by this worker */
	struct key_record rec;
};

struct auth {
	const struct config *cfg;
	struct store *store;
	struct auth_jwt *jwt;
	EVP_MD *sha256;
	EVP_MD_CTX *md;
	int64_t next_flush_mono;
	struct key_cache_entry cache[KEY_CACHE_SETS][KEY_CACHE_WAYS];
};

int auth_sha256_hex(const char *s, size_t n, char *out)
{
	unsigned char md[32];
	unsigned int len = 0;

	if (!EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) || len != 32) {
		out[0] = '\0';
		return -1;
	}
	str_hex(md, 32, out);
	return 0;
}

int auth_key_generate(char *token, char *key_id, char *hash_hex)
{
	char id[17], secret[65];

	if (str_random_hex(id, 8) != 0 || str_random_hex(secret, 32) != 0)
		return -1;
	snprintf(token, AUTH_KEY_TOKEN_LEN, "dba_%s_%s", id, secret);
	snprintf(key_id, 24, "key_%s", id);
	OPENSSL_cleanse(secret, sizeof(secret));
	return auth_sha256_hex(token, strlen(token), hash_hex);
}

/* 1 for the lowercase hex digits: checked for every key on every request. */
static const unsigned char is_lower_hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
	['e'] = 1, ['f'] = 1,
};

int auth_key_parse_id(const char *token, size_t n, char *key_id)
{
	const unsigned char *t = (const unsigned char *)token;
	unsigned ok = 1;

	/* dba_<16 hex id>_<64 hex secret> */
	if (n != AUTH_KEY_TOKEN_LEN - 1 || memcmp(token, "dba_", 4) != 0 || token[20] != '_')
		return -1;
	/*
	 * Only the id is checked here: it becomes a store query. The secret
	 * is checked by its digest, which only the real secret matches.
	 */
	for (size_t i = 4; i < 20; i++)
		ok &= is_lower_hex[t[i]];
	if (!ok)
		return -1;
	memcpy(key_id, "key_", 4);
	memcpy(key_id + 4, token + 4, 16);
	key_id[20] = '\0';
	return 0;
}

enum api_err auth_create(const struct config *cfg, struct store *store,
			 struct auth **out, const char **why)
{
	struct auth *a = calloc(1, sizeof(*a));
	enum api_err rc;

	*out = NULL;
	if (a == NULL) {
		*why = "out of memory";
		return API_ERR_INTERNAL;
	}
	a->cfg = cfg;
	a->store = store;
	/* Fetched once: EVP_sha256() would look the provider up on every digest. */
	a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	a->md = EVP_MD_CTX_new();
	if (a->sha256 == NULL || a->md == NULL) {
		auth_free(a);
		*why = "cannot set up SHA-256";
		return API_ERR_INTERNAL;
	}
	rc = auth_jwt_create(cfg, &a->jwt, why);
	if (rc != API_OK) {
		auth_free(a);
		return rc;
	}
	*out = a;
	return API_OK;
}

static void flush_pending(struct auth *a, bool force);

void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	if (a->store != NULL)
		flush_pending(a, true);
	auth_jwt_free(a->jwt);
	EVP_MD_CTX_free(a->md);
	EVP_MD_free(a->sha256);
	free(a);
}

static struct key_cache_entry *cache_set(struct auth *a, const char *key_id)
{
	uint32_t h = 2166136261u;

	for (const char *p = key_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return a->cache[h % KEY_CACHE_SETS];
}

static enum api_err entry_touch_if_pending(struct auth *a, struct key_cache_entry *e)
{
	enum api_err rc = API_OK;

	if (e->used && !e->missing && e->used_ms > e->touched_ms) {
		rc = store_key_touch(a->store, e->rec.key_id, e->used_ms);
		if (rc == API_OK)
			e->touched_ms = e->used_ms;
	}
	return rc;
}

/* The way of set to (re)use for key_id: its own entry, an empty one, the
 * least recently hit negative one, else the least recently hit key. */
static struct key_cache_entry *cache_victim(struct key_cache_entry *set, const char *key_id)
{
	struct key_cache_entry *empty = NULL, *neg = NULL, *pos = NULL;

	for (int i = 0; i < KEY_CACHE_WAYS; i++) {
		struct key_cache_entry *e = &set[i];

		if (!e->used) {
			if (empty == NULL)
				empty = e;
		} else if (strcmp(e->rec.key_id, key_id) == 0) {
			return e;
		} else if (e->missing) {
			if (neg == NULL || e->hit_mono < neg->hit_mono)
				neg = e;
		} else if (pos == NULL || e->hit_mono < pos->hit_mono) {
			pos = e;
		}
	}
	return empty ? empty : neg ? neg : pos;
}

/* Decodes 64 hex digits; anything else gives zeros, which match no digest. */
static void digest_from_hex(const char *hex, unsigned char *out)
{
	memset(out, 0, 32);
	if (strlen(hex) != 64)
		return;
	for (size_t i = 0; i < 64; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0) {
			memset(out, 0, 32);
			return;
		}
		out[i / 2] = (unsigned char)(out[i / 2] | (v << (i % 2 ? 0 : 4)));
	}
}

/* Stores rec (or a negative entry when rec is NULL) in the cache. */
static struct key_cache_entry *cache_put(struct auth *a, const char *key_id,
					 const struct key_record *rec, int64_t now)
{
	struct key_cache_entry *e = cache_victim(cache_set(a, key_id), key_id);

	if (e->used && strcmp(e->rec.key_id, key_id) != 0) {
		if (rec == NULL && !e->missing)
			return NULL;   /* a negative entry never evicts a real key */
		entry_touch_if_pending(a, e);
		memset(e, 0, sizeof(*e));
	}
	if (rec != NULL) {
		/* A refresh keeps what this worker knows about last use. */
		if (rec->last_used_ms > e->touched_ms)
			e->touched_ms = rec->last_used_ms;
		e->rec = *rec;
		e->missing = false;
		digest_from_hex(rec->hash, e->digest);
	} else {
		memset(&e->rec, 0, sizeof(e->rec));
		snprintf(e->rec.key_id, sizeof(e->rec.key_id), "%s", key_id);
		e->missing = true;
	}
	e->used = true;
	e->fetched_mono = now;
	e->hit_mono = now;
	return e;
}

void auth_cache_put(struct auth *a, const struct key_record *rec)
{
	cache_put(a, rec->key_id, rec, time_mono_coarse_ms());
}

/*
 * The record of key_id: from the cache while younger than key_cache_ttl_s,
 * else from the store. *out is NULL for an unknown key. A store failure is
 * returned as is (503), never taken for an unknown key.
 */
static enum api_err key_lookup(struct auth *a, const char *key_id, struct key_cache_entry **out)
{
	struct key_cache_entry *set = cache_set(a, key_id);
	struct key_record rec;
	int64_t now = time_mono_coarse_ms();
	enum api_err rc;

	for (int i = 0; i < KEY_CACHE_WAYS; i++) {
		struct key_cache_entry *e = &set[i];

		if (e->used && now - e->fetched_mono < a->cfg->key_cache_ttl_s * 1000 &&
		    memcmp(e->rec.key_id, key_id, 21) == 0) {
			e->hit_mono = now;
			*out = e->missing ? NULL : e;
			return API_OK;
		}
	}
	rc = store_key_get(a->store, key_id, &rec);
	if (rc == API_ERR_NOT_FOUND) {
		cache_put(a, key_id, NULL, now);
		*out = NULL;
		return API_OK;
	}
	if (rc != API_OK)
		return rc;
	*out = cache_put(a, key_id, &rec, now);
	return API_OK;
}

/* Constant-time equality of two SHA-256 digests, without a call. */
static bool digest_equal(const unsigned char *a, const unsigned char *b)
{
	uint64_t x[4], y[4], d = 0;

	memcpy(x, a, 32);
	memcpy(y, b, 32);
	for (int i = 0; i < 4; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static enum api_err auth_api_key(struct auth *a, const char *token, size_t n,
				 struct principal *p, const char **reason)
{
	char key_id[24];
	unsigned char digest[32];
	unsigned int dlen = 0;
	struct key_cache_entry *e;
	enum api_err rc;
	int64_t now;

	if (auth_key_parse_id(token, n, key_id) != 0) {
		*reason = "key_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	rc = key_lookup(a, key_id, &e);
	if (rc != API_OK) {
		*reason = "key_store_unavailable";
		return rc;
	}
	if (!EVP_DigestInit_ex(a->md, a->sha256, NULL) || !EVP_DigestUpdate(a->md, token, n) ||
	    !EVP_DigestFinal_ex(a->md, digest, &dlen) || dlen != 32) {
		*reason = "key_digest_failed";
		return API_ERR_INTERNAL;
	}
	if (e == NULL || !digest_equal(digest, e->digest)) {
		*reason = "key_unknown";
		return API_ERR_UNAUTHORIZED;
	}
	if (e->rec.revoked) {
		*reason = "key_revoked";
		return API_ERR_UNAUTHORIZED;
	}
	now = time_now_coarse_ms();
	if (e->rec.expires_ms != 0 && e->rec.expires_ms <= now) {
		*reason = "key_expired";
		return API_ERR_UNAUTHORIZED;
	}
	if (e->rec.ntenants == 0) {
		*reason = "no_tenant";
		return API_ERR_FORBIDDEN;
	}
	e->used_ms = now;
	memcpy(p->id, e->rec.key_id, sizeof(e->rec.key_id));
	p->ntenants = e->rec.ntenants;
	for (size_t i = 0; i < p->ntenants; i++)
		memcpy(p->tenants[i], e->rec.tenants[i], sizeof(p->tenants[i]));
	p->scopes = e->rec.scopes;
	p->plan = e->rec.plan;
	p->is_jwt = false;
	return API_OK;
}

/*
 * Which credential the request carries: "Authorization: Bearer" first,
 * else X-Api-Key. Another Authorization scheme (Basic, say) is refused
 * unless an X-Api-Key is there, so a proxy's Basic auth does not mask it.
 */
static enum api_err credential_pick(const struct request *req, const char **token,
				    bool *from_bearer, const char **reason)
{
	const char *t = NULL;

	*from_bearer = false;
	if (req->authorization != NULL && strncasecmp(req->authorization, "Bearer ", 7) == 0) {
		t = req->authorization + 7;
		while (*t == ' ')
			t++;
		*from_bearer = true;
	} else if (req->api_key != NULL) {
		t = req->api_key;
	} else if (req->authorization != NULL) {
		*reason = "auth_scheme";
		return API_ERR_UNAUTHORIZED;
	}
	if (t == NULL || *t == '\0') {
		*reason = "no_credentials";
		return API_ERR_UNAUTHORIZED;
	}
	*token = t;
	return API_OK;
}

enum api_err auth_authenticate(struct auth *a, const struct request *req,
			       struct principal *p, const char **reason)
{
	const char *token = NULL;
	bool bearer;
	size_t n;
	enum api_err rc;

	/* Not a memset of the whole principal: this runs on every request. */
	p->id[0] = '\0';
	p->ntenants = 0;
	p->scopes = 0;
	p->plan = PLAN_FREE;
	p->is_jwt = false;
	rc = credential_pick(req, &token, &bearer, reason);
	if (rc != API_OK)
		return rc;
	n = strnlen(token, HTTP_MAX_CREDENTIAL + 1);
	if (n > HTTP_MAX_CREDENTIAL) {
		*reason = "credential_too_long";
		return API_ERR_UNAUTHORIZED;
	}
	if (strncmp(token, "dba_", 4) == 0)
		return auth_api_key(a, token, n, p, reason);
	if (!bearer) {
		/* X-Api-Key carries API keys only. */
		*reason = "key_malformed";
		return API_ERR_UNAUTHORIZED;
	}
	return auth_jwt_verify(a->jwt, token, p, reason);
}

static void flush_pending(struct auth *a, bool force)
{
	int64_t now = time_now_ms();

	for (size_t s = 0; s < KEY_CACHE_SETS; s++)
		for (size_t w = 0; w < KEY_CACHE_WAYS; w++) {
			struct key_cache_entry *e = &a->cache[s][w];

			if (!force && now - e->touched_ms < KEY_TOUCH_INTERVAL_MS)
				continue;
			if (entry_touch_if_pending(a, e) == API_ERR_UNAVAILABLE)
				return;   /* the store is down: try again later */
		}
}

void auth_flush(struct auth *a)
{
	int64_t mono = time_mono_coarse_ms();

	/* Called after every request: scan the cache at most once a second. */
	if (mono < a->next_flush_mono)
		return;
	a->next_flush_mono = mono + KEY_FLUSH_SCAN_MS;
	flush_pending(a, false);
}
