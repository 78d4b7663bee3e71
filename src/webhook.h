/*
 * webhook: the rules of webhooks that need no network and no store, unit
 * tested: validation of what a client sends, matching an event type, the
 * payload and its signature, the retry schedule, delivery ids, and the
 * SSRF guard's address check (docs/webhooks.md).
 */
#ifndef DBAUDIT_WEBHOOK_H
#define DBAUDIT_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#define WEBHOOK_ID_LEN 19          /* "wh_" + 16 hex */
#define WEBHOOK_DELIVERY_ID_LEN 28 /* "whd_" + 24 hex */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 256
#define WEBHOOK_EVENTS_MAX 32
#define WEBHOOK_GIVE_UP_MS (24LL * 3600 * 1000)
#define WEBHOOK_TIMEOUT_MS 10000

/* Whether id looks like a webhook id ("wh_" + 16 hex) or a delivery id. */
bool webhook_id_valid(const char *id);
bool webhook_delivery_id_valid(const char *id);

/* 0 when url is an absolute http or https URL with a host and no credentials; -1 with msg. */
int webhook_url_check(const char *url, char *msg, size_t msglen);

/* 0 when events is a non-empty array of known types or "prefix.*" patterns; -1 with msg. */
int webhook_events_check(const json_t *events, char *msg, size_t msglen);

/* 0 when secret is a string of 16 to 256 characters; -1 with msg. */
int webhook_secret_check(const json_t *secret, char *msg, size_t msglen);

/* Whether event type matches one of the webhook's patterns. */
bool webhook_matches(const json_t *events, const char *type);

/* The payload of a stored event (the events seed's shape), as a new string. */
char *webhook_payload(const json_t *event);

/* "sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>" into out (at least 72 bytes). Returns 0 or -1. */
int webhook_signature(const char *secret, int64_t ts, const char *body, char *out, size_t outlen);

/*
 * The delay before attempt n+1 after n failed attempts (n >= 1): 2^(n-1)
 * seconds capped at one hour, times a jitter factor in [0.75, 1.25)
 * (jitter in [0, 1) chooses it).
 */
int64_t webhook_backoff_ms(int attempts, double jitter);

/* The delivery id of event event_id for webhook webhook_id (stable: the same every time). */
void webhook_delivery_id(const char *webhook_id, const char *event_id,
			 char out[WEBHOOK_DELIVERY_ID_LEN + 1]);

/*
 * Whether a delivery may connect to address sa: false for loopback,
 * private, link-local, shared, multicast, reserved and documentation
 * ranges, unspecified addresses, and IPv6 forms that embed such an IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
 */
bool webhook_addr_public(const struct sockaddr *sa);

#endif
