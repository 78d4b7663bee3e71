/*
 * webhook_send: see webhook_send.h. The sender thread keeps one curl multi
 * handle: each active webhook it holds the lease of has at most one
 * transfer in flight (its oldest pending delivery, so deliveries go out in
 * commit order), at most SENDER_MAX_INFLIGHT in all and
 * SENDER_MAX_PER_HOST per receiving host, so a slow or dead receiver only
 * ever holds its own transfers.
 */
#include "webhook_send.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>

#include "config.h"
#include "crypto.h"
#include "metrics.h"
#include "store.h"
#include "store_webhooks.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"
#include "webhook.h"

#define SENDER_MAX_INFLIGHT 64
#define SENDER_MAX_PER_HOST 8
#define SENDER_LEASE_MS 30000
#define SENDER_SCAN_MS 100
#define SENDER_PAGE 200

struct webhook_req {
	CURL *easy;
	struct curl_slist *headers;
	struct curl_slist *resolve;
	char *body;
	bool allow_private;
	char errbuf[CURL_ERROR_SIZE];
};

static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct webhook_req *r = arg;

	(void)purpose;
	if (!r->allow_private && !webhook_addr_public(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Resolves host once and checks every address; fills r->resolve with them for host:port. */
static int resolve_checked(struct webhook_req *r, const char *host, const char *port, char *err,
			   size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char name[256], entry[1024];
	size_t n = strlen(host), len;
	int rc;

	if (n >= sizeof(name)) {
		snprintf(err, errlen, "host name too long");
		return -1;
	}
	memcpy(name, host, n + 1);
	if (name[0] == '[' && n > 2 && name[n - 1] == ']') {
		memmove(name, name + 1, n - 2);
		name[n - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(name, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve host: %s", gai_strerror(rc));
		return -1;
	}
	len = (size_t)snprintf(entry, sizeof(entry), "%s:%s:", host, port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *a = ai->ai_family == AF_INET ?
			(const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr :
			(const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		inet_ntop(ai->ai_family, a, text, sizeof(text));
		if (!r->allow_private && !webhook_addr_public(ai->ai_addr)) {
			snprintf(err, errlen, "address %s of the host is not allowed (private, loopback,"
				 " link-local or reserved)", text);
			freeaddrinfo(res);
			return -1;
		}
		if (len + strlen(text) + 4 < sizeof(entry))
			len += (size_t)snprintf(entry + len, sizeof(entry) - len,
						ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
						entry[len - 1] == ':' ? "" : ",", text);
	}
	freeaddrinfo(res);
	if (entry[len - 1] == ':') {
		snprintf(err, errlen, "host has no address");
		return -1;
	}
	r->resolve = curl_slist_append(NULL, entry);
	return r->resolve ? 0 : -1;
}

/* Parses url with libcurl's parser (the form it will use) and resolves its host. */
static int check_url(struct webhook_req *r, const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *scheme = NULL;
	int rc = -1;

	if (u == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		snprintf(err, errlen, "url cannot be parsed");
	else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		snprintf(err, errlen, "url must be http or https");
	else
		rc = resolve_checked(r, host, port, err, errlen);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

struct webhook_req *webhook_req_new(const char *url, const char *secret, const char *delivery_id,
				    const char *body, bool allow_private, char *err, size_t errlen)
{
	struct webhook_req *r = calloc(1, sizeof(*r));
	char sig[80], line[160];
	int64_t ts = time_now_ms() / 1000;
	bool ok;

	if (r == NULL)
		return NULL;
	r->allow_private = allow_private;
	r->body = strdup(body);
	r->easy = curl_easy_init();
	if (r->body == NULL || r->easy == NULL || webhook_signature(secret, ts, body, sig, sizeof(sig))) {
		snprintf(err, errlen, "out of memory");
		webhook_req_free(r);
		return NULL;
	}
	if (check_url(r, url, err, errlen) != 0) {
		webhook_req_free(r);
		return NULL;
	}
	r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
	snprintf(line, sizeof(line), "X-DBaudit-Signature: %s", sig);
	r->headers = curl_slist_append(r->headers, line);
	snprintf(line, sizeof(line), "X-DBaudit-Timestamp: %lld", (long long)ts);
	r->headers = curl_slist_append(r->headers, line);
	snprintf(line, sizeof(line), "X-DBaudit-Delivery: %s", delivery_id);
	r->headers = curl_slist_append(r->headers, line);
	r->headers = curl_slist_append(r->headers, "Expect:");
	ok = r->headers != NULL &&
	     curl_easy_setopt(r->easy, CURLOPT_URL, url) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)WEBHOOK_TIMEOUT_MS) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_RESOLVE, r->resolve) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETFUNCTION, open_checked) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "dbaudit-webhooks/1") == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK &&
	     curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r) == CURLE_OK;
	if (!ok) {
		snprintf(err, errlen, "cannot set up the request");
		webhook_req_free(r);
		return NULL;
	}
	return r;
}

void *webhook_req_handle(struct webhook_req *r)
{
	return r->easy;
}

long webhook_req_status(struct webhook_req *r, int curl_code, char *err, size_t errlen)
{
	long status = 0;

	if (curl_code != CURLE_OK) {
		snprintf(err, errlen, "%s", r->errbuf[0] ? r->errbuf :
			 curl_easy_strerror((CURLcode)curl_code));
		return 0;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		snprintf(err, errlen, "receiver answered %ld", status);
	return status;
}

void webhook_req_free(struct webhook_req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->resolve);
	free(r->body);
	free(r);
}

long webhook_send_now(const char *url, const char *secret, const char *delivery_id,
		      const char *body, bool allow_private, char *err, size_t errlen)
{
	struct webhook_req *r = webhook_req_new(url, secret, delivery_id, body, allow_private, err,
						errlen);
	long status;

	if (r == NULL)
		return 0;
	status = webhook_req_status(r, curl_easy_perform(r->easy), err, errlen);
	webhook_req_free(r);
	return status;
}

/* "<id>/secret": the associated data of a webhook's sealed secret. */
static size_t secret_aad(char *out, size_t n, const char *id)
{
	int len = snprintf(out, n, "%s/secret", id ? id : "");

	return len > 0 && (size_t)len < n ? (size_t)len : 0;
}

char *webhook_secret_open(const struct crypto_keyring *kr, const json_t *doc)
{
	struct crypto_sealed sealed;
	char aad[64], *pt = NULL;
	size_t aadlen = secret_aad(aad, sizeof(aad), json_string_value(json_object_get(doc, "_id")));

	if (kr == NULL || aadlen == 0 ||
	    crypto_sealed_from_json(json_object_get(doc, "secret"), &sealed) != CRYPTO_OK)
		return NULL;
	if (crypto_open(kr, &sealed, aad, aadlen, &pt, NULL) != CRYPTO_OK)
		pt = NULL;
	crypto_sealed_cleanup(&sealed);
	return pt;
}

json_t *webhook_secret_seal(const struct crypto_keyring *kr, const char *id, const char *secret)
{
	struct crypto_sealed sealed;
	char aad[64];
	size_t aadlen = secret_aad(aad, sizeof(aad), id);
	json_t *out = NULL;

	if (aadlen == 0 || crypto_seal(kr, aad, aadlen, secret, strlen(secret), &sealed) != CRYPTO_OK)
		return NULL;
	out = crypto_sealed_to_json(&sealed);
	crypto_sealed_cleanup(&sealed);
	return out;
}

/* ---------------------------------------------------------------- the sender thread */

struct flight {
	struct webhook_req *req;
	char hook[WEBHOOK_ID_LEN + 1];
	char delivery[WEBHOOK_DELIVERY_ID_LEN + 1];
	json_t *doc;          /* the delivery as it was sent */
};

struct sender {
	const struct config *cfg;
	struct store *store;
	struct crypto_keyring *keys;
	CURLM *multi;
	struct flight flights[SENDER_MAX_INFLIGHT];
	char owner[128];
	int64_t last_created_ms;  /* the newest created_ms given to a delivery */
	pthread_t thread;
	volatile int stop;
	bool running;
};

static struct sender sender;

static bool in_flight(const struct sender *sd, const char *hook)
{
	for (int i = 0; i < SENDER_MAX_INFLIGHT; i++)
		if (sd->flights[i].req != NULL && strcmp(sd->flights[i].hook, hook) == 0)
			return true;
	return false;
}

static struct flight *free_slot(struct sender *sd)
{
	for (int i = 0; i < SENDER_MAX_INFLIGHT; i++)
		if (sd->flights[i].req == NULL)
			return &sd->flights[i];
	return NULL;
}

static void set_date(json_t *o, const char *key, int64_t ms)
{
	char ts[TIME_RFC3339_LEN];

	time_format_rfc3339(ms, ts);
	json_object_set_new(o, key, json_string(ts));
}

/* Creates the deliveries of hook's matching events after its position, up to w. */
static enum api_err fill(struct sender *sd, json_t *hook, int64_t w)
{
	const char *id = json_string_value(json_object_get(hook, "_id"));
	const char *tenant = json_string_value(json_object_get(hook, "tenant_id"));
	json_t *events = json_object_get(hook, "events"), *items = NULL, *ev;
	int64_t pos = json_integer_value(json_object_get(hook, "position"));
	bool more = true;
	enum api_err rc = API_OK;
	size_t i;

	for (int pages = 0; more && pos < w && pages < 5 && rc == API_OK; pages++) {
		int64_t next = pos;

		rc = store_events_after_all(sd->store, pos, w, SENDER_PAGE, &items, &more);
		if (rc != API_OK)
			break;
		json_array_foreach(items, i, ev) {
			const char *eid = json_string_value(json_object_get(ev, "_id"));
			int64_t seq = json_integer_value(json_object_get(ev, "seq"));
			int64_t now = time_now_ms();
			char did[WEBHOOK_DELIVERY_ID_LEN + 1];
			char *body;
			json_t *d;

			next = seq;
			if (eid == NULL || tenant == NULL ||
			    strcmp(tenant, json_string_value(json_object_get(ev, "tenant_id")) ?
				   json_string_value(json_object_get(ev, "tenant_id")) : "") != 0 ||
			    !webhook_matches(events, json_string_value(json_object_get(ev, "type"))))
				continue;
			/* created_ms orders the deliveries list: one per ms keeps commit order in it */
			if (now <= sd->last_created_ms)
				now = sd->last_created_ms + 1;
			sd->last_created_ms = now;
			webhook_delivery_id(id, eid, did);
			body = webhook_payload(ev);
			d = json_pack("{s:s,s:s,s:s,s:s,s:O,s:I,s:s,s:s,s:i,s:n,s:n,s:n,s:I,s:I,s:I}",
				      "_id", did, "webhook_id", id, "tenant_id", tenant, "event_id", eid,
				      "event_type", json_object_get(ev, "type"), "seq", (json_int_t)seq,
				      "body", body ? body : "{}", "status", "pending", "attempts", 0,
				      "last_status_code", "last_error", "delivered_at",
				      "next_ms", (json_int_t)now, "created_ms", (json_int_t)now,
				      "window_ms", (json_int_t)now);
			free(body);
			if (d == NULL) {
				rc = API_ERR_INTERNAL;
				break;
			}
			set_date(d, "next_attempt_at", now);
			set_date(d, "created_at", now);
			rc = store_delivery_insert(sd->store, d);
			json_decref(d);
			if (rc == API_ERR_CONFLICT)
				rc = API_OK;      /* made before a restart: the same delivery */
			if (rc != API_OK)
				break;
		}
		json_decref(items);
		items = NULL;
		if (rc != API_OK)
			break;
		if (!more)
			next = w;
		if (next > pos) {
			rc = store_webhook_advance(sd->store, id, sd->owner, next);
			pos = next;
		}
	}
	return rc;
}

static void done(struct sender *sd, struct flight *f, long status, const char *why);

/* Starts the transfer of delivery d of hook. */
static void start(struct sender *sd, json_t *hook, json_t *d)
{
	struct flight *f = free_slot(sd);
	char *secret, err[256];
	const char *did = json_string_value(json_object_get(d, "_id"));

	if (f == NULL || did == NULL)
		return;
	secret = webhook_secret_open(sd->keys, hook);
	if (secret == NULL) {
		log_msg(LOG_WARN, "webhook %s: its secret does not open",
			json_string_value(json_object_get(hook, "_id")));
		return;
	}
	err[0] = '\0';
	f->req = webhook_req_new(json_string_value(json_object_get(hook, "url")), secret, did,
				 json_string_value(json_object_get(d, "body")),
				 sd->cfg->webhook_allow_private, err, sizeof(err));
	crypto_secret_free(secret);
	snprintf(f->hook, sizeof(f->hook), "%s", json_string_value(json_object_get(hook, "_id")));
	snprintf(f->delivery, sizeof(f->delivery), "%s", did);
	f->doc = json_incref(d);
	if (f->req == NULL || curl_multi_add_handle(sd->multi, webhook_req_handle(f->req)) != CURLM_OK) {
		/* Refused before sending (SSRF guard, bad URL): an attempt that failed. */
		done(sd, f, 0, err[0] ? err : "cannot start the request");
	}
}

/* Records the outcome of flight f and frees it. */
static void done(struct sender *sd, struct flight *f, long status, const char *why)
{
	int64_t now = time_now_ms();
	int attempts = (int)json_integer_value(json_object_get(f->doc, "attempts")) + 1;
	int64_t window = json_integer_value(json_object_get(f->doc, "window_ms"));
	json_t *set = json_pack("{s:i}", "attempts", attempts);
	enum api_err rc;

	if (set == NULL)
		goto out;
	json_object_set_new(set, "last_status_code", status ? json_integer(status) : json_null());
	if (status >= 200 && status <= 299) {
		metrics_add(METRIC_WEBHOOK_DELIVERIES, 1);
		json_object_set_new(set, "status", json_string("delivered"));
		json_object_set_new(set, "last_error", json_null());
		json_object_set_new(set, "next_attempt_at", json_null());
		set_date(set, "delivered_at", now);
	} else {
		int64_t delay = webhook_backoff_ms(attempts, (double)(rand() % 1000) / 1000.0);

		metrics_add(METRIC_WEBHOOK_FAILURES, 1);
		json_object_set_new(set, "last_error", json_string(why ? why : "failed"));
		if (status == 410 || now + delay > window + WEBHOOK_GIVE_UP_MS) {
			json_object_set_new(set, "status", json_string("failed"));
			json_object_set_new(set, "next_attempt_at", json_null());
		} else {
			json_object_set_new(set, "next_ms", json_integer(now + delay));
			set_date(set, "next_attempt_at", now + delay);
		}
	}
	rc = store_delivery_update(sd->store, f->delivery, set);
	if (rc != API_OK && rc != API_ERR_NOT_FOUND)
		log_msg(LOG_WARN, "webhook %s: delivery %s not recorded (%s)", f->hook, f->delivery,
			api_err_code(rc));
	if (status == 410) {
		json_t *hs = json_pack("{s:s}", "status", "disabled");

		set_date(hs, "updated_at", now);
		if (store_webhook_update(sd->store, NULL, f->hook, hs, NULL) == API_OK)
			log_msg(LOG_INFO, "webhook %s disabled: its receiver answered 410", f->hook);
		json_decref(hs);
	}
	json_decref(set);
out:
	if (f->req != NULL) {
		curl_multi_remove_handle(sd->multi, webhook_req_handle(f->req));
		webhook_req_free(f->req);
	}
	json_decref(f->doc);
	memset(f, 0, sizeof(*f));
}

/* One pass over the active webhooks: lease, fill, start what is due. */
static enum api_err scan(struct sender *sd)
{
	json_t *hooks = NULL, *hook;
	int64_t w = 0, now = time_now_ms();
	enum api_err rc;
	size_t i;

	rc = store_events_watermark(sd->store, sd->cfg->cursor_gap_lease_ms, now, 2000, &w);
	if (rc == API_OK)
		rc = store_webhook_active(sd->store, &hooks);
	if (rc != API_OK)
		return rc;
	json_array_foreach(hooks, i, hook) {
		const char *id = json_string_value(json_object_get(hook, "_id"));
		const char *owner = json_string_value(json_object_get(hook, "lease_owner"));
		int64_t until = json_integer_value(json_object_get(hook, "lease_until_ms"));
		json_t *d = NULL;

		if (id == NULL)
			continue;
		now = time_now_ms();
		if (owner == NULL || strcmp(owner, sd->owner) != 0 || until - now < SENDER_LEASE_MS / 2) {
			rc = store_webhook_lease(sd->store, id, sd->owner, now, now + SENDER_LEASE_MS);
			if (rc == API_ERR_CONFLICT) {
				rc = API_OK;
				continue;         /* another worker holds it */
			}
			if (rc != API_OK)
				break;
		}
		if (in_flight(sd, id))
			continue;
		if ((rc = fill(sd, hook, w)) != API_OK)
			break;
		if ((rc = store_delivery_next(sd->store, id, &d)) != API_OK)
			break;
		if (d != NULL && json_integer_value(json_object_get(d, "next_ms")) <= now)
			start(sd, hook, d);
		json_decref(d);
	}
	json_decref(hooks);
	return rc;
}

static void *sender_main(void *arg)
{
	struct sender *sd = arg;
	int64_t last_scan = 0;
	enum api_err last = API_OK;

	while (!sd->stop) {
		int running = 0, left = 0, finished = 0;
		CURLMsg *m;

		if (time_mono_ms() - last_scan >= SENDER_SCAN_MS) {
			enum api_err rc = scan(sd);

			last_scan = time_mono_ms();
			if (rc == API_ERR_UNAVAILABLE)
				store_reset(sd->store);
			if (rc != last)
				log_msg(rc == API_OK ? LOG_INFO : LOG_WARN, "webhook sender: %s",
					rc == API_OK ? "ok again" : api_err_code(rc));
			last = rc;
		}
		curl_multi_perform(sd->multi, &running);
		while ((m = curl_multi_info_read(sd->multi, &left)) != NULL) {
			struct webhook_req *r = NULL;
			char err[256] = "";
			long status;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			status = webhook_req_status(r, m->data.result, err, sizeof(err));
			for (int i = 0; i < SENDER_MAX_INFLIGHT; i++)
				if (sd->flights[i].req == r) {
					done(sd, &sd->flights[i], status, err);
					break;
				}
			finished++;
		}
		if (finished)
			last_scan = 0;        /* the next delivery of that webhook right away */
		else
			curl_multi_poll(sd->multi, NULL, 0, 20, NULL);
	}
	for (int i = 0; i < SENDER_MAX_INFLIGHT; i++)
		if (sd->flights[i].req != NULL) {
			curl_multi_remove_handle(sd->multi, webhook_req_handle(sd->flights[i].req));
			webhook_req_free(sd->flights[i].req);
			json_decref(sd->flights[i].doc);
		}
	return NULL;
}

int webhook_sender_start(const struct config *cfg, const char **why)
{
	char host[64] = "", kwhy[256], rnd[9];

	memset(&sender, 0, sizeof(sender));
	sender.cfg = cfg;
	if (crypto_keyring_from_config(cfg, &sender.keys, kwhy, sizeof(kwhy)) != 0) {
		*why = "crypto key configuration";
		return -1;
	}
	if (store_open(cfg, &sender.store, why) != API_OK)
		return -1;
	sender.multi = curl_multi_init();
	if (sender.multi == NULL) {
		*why = "curl_multi_init";
		return -1;
	}
	curl_multi_setopt(sender.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)SENDER_MAX_PER_HOST);
	curl_multi_setopt(sender.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)SENDER_MAX_INFLIGHT);
	gethostname(host, sizeof(host) - 1);
	if (str_random_hex(rnd, 4) != 0)
		snprintf(rnd, sizeof(rnd), "0");
	snprintf(sender.owner, sizeof(sender.owner), "%s:%ld:%s", host, (long)getpid(), rnd);
	srand((unsigned)(time_now_ms() ^ getpid()));
	if (pthread_create(&sender.thread, NULL, sender_main, &sender) != 0) {
		*why = "pthread_create";
		return -1;
	}
	sender.running = true;
	return 0;
}

void webhook_sender_stop(void)
{
	if (sender.running) {
		sender.stop = 1;
		pthread_join(sender.thread, NULL);
	}
	if (sender.multi != NULL)
		curl_multi_cleanup(sender.multi);
	store_free(sender.store);
	crypto_keyring_free(sender.keys);
	memset(&sender, 0, sizeof(sender));
}
