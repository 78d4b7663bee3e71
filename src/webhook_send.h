/*
 * webhook_send: sending webhook deliveries with libcurl, and the sender
 * of the background worker (docs/webhooks.md).
 *
 * Every request goes through the SSRF guard: the URL's host is resolved
 * once, every address checked (webhook_addr_public) unless private targets
 * are allowed, and libcurl connects only to those addresses (pinned with
 * CURLOPT_RESOLVE; CURLOPT_OPENSOCKETFUNCTION checks the address again).
 * 10 s timeout, no redirects, http and https only, certificates verified.
 */
#ifndef DBAUDIT_WEBHOOK_SEND_H
#define DBAUDIT_WEBHOOK_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct config;
struct crypto_keyring;
struct webhook_req;

/*
 * A request posting body to url signed with secret (timestamp now) with
 * X-DBaudit-Delivery delivery_id. NULL with a reason in err when the URL
 * is refused (bad form, a name that does not resolve, a refused address).
 */
struct webhook_req *webhook_req_new(const char *url, const char *secret, const char *delivery_id,
				    const char *body, bool allow_private, char *err, size_t errlen);

/* The libcurl easy handle of r (for a multi handle). */
void *webhook_req_handle(struct webhook_req *r);

/* The outcome of r's transfer: the HTTP status (0 when none), or an error text. */
long webhook_req_status(struct webhook_req *r, int curl_code, char *err, size_t errlen);

void webhook_req_free(struct webhook_req *r);

/* Sends a request now and waits (at most the timeout). Returns the status (0 on failure). */
long webhook_send_now(const char *url, const char *secret, const char *delivery_id,
		      const char *body, bool allow_private, char *err, size_t errlen);

/* Opens the sealed secret of webhook doc as a new string (free with crypto_secret_free). */
char *webhook_secret_open(const struct crypto_keyring *kr, const json_t *doc);

/* Seals secret for webhook id (the stored form), or NULL. */
json_t *webhook_secret_seal(const struct crypto_keyring *kr, const char *id, const char *secret);

/*
 * Starts the sender thread of dbaudit-worker (its own store handle) and
 * stops it (waiting for it). curl_global_init must have run.
 */
int webhook_sender_start(const struct config *cfg, const char **why);
void webhook_sender_stop(void);

#endif
