/* webhook: see webhook.h. */
#include "webhook.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "event.h"

static bool hex_tail(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool webhook_id_valid(const char *id)
{
	return id != NULL && strncmp(id, "wh_", 3) == 0 && hex_tail(id + 3, WEBHOOK_ID_LEN - 3);
}

bool webhook_delivery_id_valid(const char *id)
{
	return id != NULL && strncmp(id, "whd_", 4) == 0 &&
	       hex_tail(id + 4, WEBHOOK_DELIVERY_ID_LEN - 4);
}

int webhook_url_check(const char *url, char *msg, size_t msglen)
{
	const char *host, *end;
	size_t n;

	if (strlen(url) > WEBHOOK_URL_MAX) {
		snprintf(msg, msglen, "url is longer than %d characters", WEBHOOK_URL_MAX);
		return -1;
	}
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			snprintf(msg, msglen, "url must not contain spaces or control characters");
			return -1;
		}
	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else {
		snprintf(msg, msglen, "url must be an http or https URL");
		return -1;
	}
	end = host + strcspn(host, "/?#");
	n = (size_t)(end - host);
	if (n == 0 || host[0] == ':' || memchr(host, '@', n) != NULL) {
		snprintf(msg, msglen, "url must name a host, without credentials");
		return -1;
	}
	return 0;
}

int webhook_events_check(const json_t *events, char *msg, size_t msglen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(events) || json_array_size(events) == 0 ||
	    json_array_size(events) > WEBHOOK_EVENTS_MAX) {
		snprintf(msg, msglen, "events must be an array of 1 to %d event types",
			 WEBHOOK_EVENTS_MAX);
		return -1;
	}
	json_array_foreach(events, i, v) {
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0;
		uint32_t mask = 0;
		bool ok = false;

		if (s != NULL && event_type_index(s) >= 0)
			ok = true;
		else if (s != NULL && n > 2 && strcmp(s + n - 2, ".*") == 0 &&
			 strchr(s, '*') == s + n - 1 && event_type_pattern(s, &mask) == 0 && mask != 0)
			ok = true;
		if (!ok) {
			snprintf(msg, msglen, "events[%zu] must be a known event type or a prefix.* "
				 "pattern such as security.*", i);
			return -1;
		}
	}
	return 0;
}

int webhook_secret_check(const json_t *secret, char *msg, size_t msglen)
{
	const char *s = json_string_value(secret);
	size_t n = s ? strlen(s) : 0;

	if (s == NULL || n < WEBHOOK_SECRET_MIN || n > WEBHOOK_SECRET_MAX) {
		snprintf(msg, msglen, "secret must be a string of %d to %d characters",
			 WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
		return -1;
	}
	return 0;
}

bool webhook_matches(const json_t *events, const char *type)
{
	size_t i;
	json_t *v;

	if (type == NULL)
		return false;
	json_array_foreach(events, i, v) {
		const char *p = json_string_value(v);
		size_t n = p ? strlen(p) : 0;

		if (p == NULL)
			continue;
		if (strcmp(p, type) == 0)
			return true;
		if (n >= 2 && strcmp(p + n - 2, ".*") == 0 && strncmp(p, type, n - 1) == 0)
			return true;
	}
	return false;
}

char *webhook_payload(const json_t *event)
{
	json_t *data = json_object(), *details = json_object_get(event, "details"), *o;
	const char *keys[] = { "database_id", "database_name", "severity" };
	char *text;

	if (data == NULL)
		return NULL;
	if (json_is_object(details))
		json_object_update(data, details);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(event, keys[i]);

		if (json_is_string(v))
			json_object_set(data, keys[i], v);
	}
	o = json_pack("{s:O,s:O,s:O,s:o}", "id", json_object_get(event, "_id"),
		      "type", json_object_get(event, "type"),
		      "created", json_object_get(event, "timestamp"), "data", data);
	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

int webhook_signature(const char *secret, int64_t ts, const char *body, char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t blen = strlen(body), n;
	char *signed_payload;

	if (outlen < 7 + 64 + 1 || (signed_payload = malloc(blen + 32)) == NULL)
		return -1;
	n = (size_t)snprintf(signed_payload, 32, "%lld.", (long long)ts);
	memcpy(signed_payload + n, body, blen);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_payload,
		 n + blen, mac, &maclen) == NULL || maclen != 32) {
		free(signed_payload);
		return -1;
	}
	free(signed_payload);
	memcpy(out, "sha256=", 7);
	for (unsigned i = 0; i < maclen; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

int64_t webhook_backoff_ms(int attempts, double jitter)
{
	int64_t base = 3600 * 1000;

	if (attempts < 1)
		attempts = 1;
	if (attempts <= 12)
		base = 1000LL << (attempts - 1);
	if (base > 3600 * 1000)
		base = 3600 * 1000;
	return (int64_t)((double)base * (0.75 + 0.5 * jitter));
}

void webhook_delivery_id(const char *webhook_id, const char *event_id,
			 char out[WEBHOOK_DELIVERY_ID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (c != NULL) {
		EVP_DigestInit_ex(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, webhook_id, strlen(webhook_id));
		EVP_DigestUpdate(c, "/", 1);
		EVP_DigestUpdate(c, event_id, strlen(event_id));
		EVP_DigestFinal_ex(c, md, &mdlen);
		EVP_MD_CTX_free(c);
	}
	memcpy(out, "whd_", 4);
	for (int i = 0; i < 12; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", md[i]);
}

/* Whether an IPv4 address (host order) is public. */
static bool v4_public(uint32_t a)
{
	static const struct { uint32_t net; int bits; } blocked[] = {
		{ 0x00000000, 8 },   /* "this" network */
		{ 0x0a000000, 8 },   /* private */
		{ 0x64400000, 10 },  /* shared (carrier-grade NAT) */
		{ 0x7f000000, 8 },   /* loopback */
		{ 0xa9fe0000, 16 },  /* link-local (cloud metadata) */
		{ 0xac100000, 12 },  /* private */
		{ 0xc0000000, 24 },  /* IETF protocol assignments */
		{ 0xc0000200, 24 },  /* documentation */
		{ 0xc0586300, 24 },  /* 6to4 relay anycast */
		{ 0xc0a80000, 16 },  /* private */
		{ 0xc6120000, 15 },  /* benchmarking */
		{ 0xc6336400, 24 },  /* documentation */
		{ 0xcb007100, 24 },  /* documentation */
		{ 0xe0000000, 4 },   /* multicast */
		{ 0xf0000000, 4 },   /* reserved, broadcast */
	};

	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - blocked[i].bits);

		if ((a & mask) == blocked[i].net)
			return false;
	}
	return true;
}

static uint32_t v4_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool v6_public(const unsigned char *b)
{
	static const unsigned char zero[12];

	if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff)
		return v4_public(v4_at(b + 12));         /* ::ffff:a.b.c.d, IPv4-mapped */
	if (memcmp(b, zero, 12) == 0)
		return false;                             /* ::, ::1, IPv4-compatible */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
		return v4_public(v4_at(b + 12));         /* 64:ff9b::/96 NAT64 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_public(v4_at(b + 2));          /* 2002::/16 6to4 */
	if ((b[0] & 0xfe) == 0xfc)
		return false;                             /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return false;                             /* fe80::/10 link-local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return false;                             /* fec0::/10 site-local */
	if (b[0] == 0xff)
		return false;                             /* multicast */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return false;                             /* documentation */
	if (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, zero, 6) == 0)
		return false;                             /* 100::/64 discard */
	return true;
}

bool webhook_addr_public(const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return v4_public(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_public(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return false;
}
