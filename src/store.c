/*
 * store: the one entry to storage. store_open chooses the engine from the
 * configuration (store = sqlite:PATH, or a mongodb:// URI; mongodb_uri when
 * store is unset or "mongodb") and every other store_* function dispatches through the
 * engine's table (store_engine.h). Nothing here knows a storage library.
 */
#include "store_engine.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "util/timeutil.h"

enum api_err store_open(const struct config *cfg, struct store **out, const char **why)
{
	const char *target = cfg->store != NULL && cfg->store[0] ? cfg->store : "mongodb";

	if (strcmp(target, "mongodb") == 0)
		target = cfg->mongodb_uri;

	if (strncmp(target, "sqlite:", 7) == 0)
		return store_sqlite_engine.open(cfg, target + 7, out, why);
	if (strncmp(target, "mongodb://", 10) == 0 || strncmp(target, "mongodb+srv://", 14) == 0)
		return store_mongo_engine.open(cfg, target, out, why);
	*why = "store must be sqlite:PATH or a mongodb:// URI";
	return API_ERR_INTERNAL;
}

#define COUNTS_MAX 32

struct store_counts {
	struct {
		char *key;
		int64_t v1, v2, n;
		uint64_t used;
	} e[COUNTS_MAX];
	uint64_t clock;
};

/* The slot of key, or the least recently used one; NULL without a cache. */
static struct store_counts *counts_slot(struct store *s, const char *key, size_t *slot)
{
	struct store_counts *c;

	if (s->counts == NULL)
		s->counts = calloc(1, sizeof(*s->counts));
	c = s->counts;
	*slot = 0;
	for (size_t i = 0; c != NULL && i < COUNTS_MAX; i++) {
		if (c->e[i].key != NULL && strcmp(c->e[i].key, key) == 0) {
			*slot = i;
			return c;
		}
		if (c->e[i].used < c->e[*slot].used)
			*slot = i;
	}
	return c;
}

bool store_counts_get(struct store *s, const char *key, int64_t v1, int64_t v2, int64_t *n)
{
	size_t i;
	struct store_counts *c = counts_slot(s, key, &i);

	if (c == NULL || c->e[i].key == NULL || strcmp(c->e[i].key, key) != 0 ||
	    c->e[i].v1 != v1 || c->e[i].v2 != v2)
		return false;
	c->e[i].used = ++c->clock;
	*n = c->e[i].n;
	return true;
}

void store_counts_put(struct store *s, const char *key, int64_t v1, int64_t v2, int64_t n)
{
	size_t i;
	struct store_counts *c = counts_slot(s, key, &i);
	char *k = c ? strdup(key) : NULL;

	if (k == NULL)
		return;
	free(c->e[i].key);
	c->e[i].key = k;
	c->e[i].v1 = v1;
	c->e[i].v2 = v2;
	c->e[i].n = n;
	c->e[i].used = ++c->clock;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->counts != NULL && i < COUNTS_MAX; i++)
		free(s->counts->e[i].key);
	free(s->counts);
	s->counts = NULL;
	s->engine->free(s);
}

const char *store_engine_name(const struct store *s)
{
	return s->engine->name;
}

uint64_t store_calls(const struct store *s)
{
	return s->calls;
}

enum api_err store_database_last_event_times(struct store *s, const struct principal *p,
					     json_t *ids, json_t **out)
{
	store_count_call(s);
	return s->engine->database_last_event_times(s, p, ids, out);
}

void store_reset(struct store *s)
{
	s->engine->reset(s);
}

enum api_err store_ping(struct store *s)
{
	store_count_call(s);
	return s->engine->ping(s);
}

enum api_err store_migrate(struct store *s)
{
	store_count_call(s);
	return s->engine->migrate(s);
}

enum api_err store_backup(struct store *s, const char *path)
{
	store_count_call(s);
	return s->engine->backup(s, path);
}

enum api_err store_key_insert(struct store *s, const struct key_record *k)
{
	store_count_call(s);
	return s->engine->key_insert(s, k);
}

enum api_err store_key_get(struct store *s, const char *key_id, struct key_record *out)
{
	store_count_call(s);
	return s->engine->key_get(s, key_id, out);
}

enum api_err store_key_list(struct store *s, const char *tenant,
			    void (*cb)(const struct key_record *k, void *arg), void *arg)
{
	store_count_call(s);
	return s->engine->key_list(s, tenant, cb, arg);
}

enum api_err store_key_revoke(struct store *s, const char *key_id)
{
	store_count_call(s);
	return s->engine->key_revoke(s, key_id);
}

enum api_err store_key_touch(struct store *s, const char *key_id, int64_t ms)
{
	store_count_call(s);
	return s->engine->key_touch(s, key_id, ms);
}

enum api_err store_events_check_databases(struct store *s, struct event_in *ev, size_t n,
					  size_t *bad)
{
	store_count_call(s);
	return s->engine->events_check_databases(s, ev, n, bad);
}

static int cmp_idx_by_id(const void *a, const void *b, void *arg)
{
	const struct event_in *ev = arg;

	return strcmp(ev[*(const size_t *)a].id, ev[*(const size_t *)b].id);
}

/* Marks later events of the batch with the id of an earlier one as duplicates. */
static enum api_err dedupe_batch(struct event_in *ev, size_t n)
{
	size_t *ix = malloc((n ? n : 1) * sizeof(*ix));

	if (ix == NULL)
		return API_ERR_INTERNAL;
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), cmp_idx_by_id, ev);
	for (size_t i = 1; i < n; i++) {
		size_t a = ix[i - 1], b = ix[i];

		if (strcmp(ev[a].id, ev[b].id) != 0)
			continue;
		/* Keep the first in request order (qsort is not stable). */
		ev[a < b ? b : a].duplicate = true;
		ix[i] = a < b ? a : b;
	}
	free(ix);
	return API_OK;
}

enum api_err store_events_insert(struct store *s, struct event_in *ev, size_t n, int64_t now_ms,
				 int64_t lease_ms)
{
	enum api_err rc;

	if (n > EVENT_MAX_BATCH)
		return API_ERR_INTERNAL;
	if ((rc = dedupe_batch(ev, n)) != API_OK)
		return rc;
	store_count_call(s);
	return s->engine->events_insert(s, ev, n, now_ms, lease_ms);
}

enum api_err store_events_list(struct store *s, const struct principal *p,
			       const struct event_filter *f, const char *sort_field, bool ascending,
			       int64_t skip, int64_t limit, json_t **items, int64_t *total)
{
	store_count_call(s);
	return s->engine->events_list(s, p, f, sort_field, ascending, skip, limit, items, total);
}

enum api_err store_events_after(struct store *s, const struct principal *p,
				const struct event_filter *f, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more)
{
	store_count_call(s);
	return s->engine->events_after(s, p, f, after, upto, limit, items, has_more);
}

enum api_err store_events_after_all(struct store *s, int64_t after, int64_t upto,
				    int64_t limit, json_t **items, bool *has_more)
{
	store_count_call(s);
	return s->engine->events_after_all(s, after, upto, limit, items, has_more);
}

enum api_err store_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
				    int max_steps, int64_t *w)
{
	store_count_call(s);
	return s->engine->events_watermark(s, lease_ms, now_ms, max_steps, w);
}

enum api_err store_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi)
{
	store_count_call(s);
	return s->engine->events_allocate(s, n, lo, hi);
}

enum api_err store_events_allocated(struct store *s, int64_t *seq)
{
	store_count_call(s);
	return s->engine->events_allocated(s, seq);
}

enum api_err store_events_invalidate(struct store *s)
{
	store_count_call(s);
	return s->engine->events_invalidate(s);
}

enum api_err store_events_gc(struct store *s)
{
	store_count_call(s);
	return s->engine->events_gc(s);
}

enum api_err store_events_get(struct store *s, const struct principal *p, const char *id,
			      json_t **doc)
{
	store_count_call(s);
	return s->engine->events_get(s, p, id, doc);
}

enum api_err store_events_session(struct store *s, const struct principal *p, const char *id,
				  const char *session_id, size_t max, json_t **ids)
{
	store_count_call(s);
	return s->engine->events_session(s, p, id, session_id, max, ids);
}

enum api_err store_events_summary(struct store *s, const struct principal *p,
				  const struct event_filter *f, struct event_summary *out)
{
	store_count_call(s);
	return s->engine->events_summary(s, p, f, out);
}

enum api_err store_database_name(struct store *s, const struct principal *p, const char *db_id,
				 char *out, size_t outlen)
{
	store_count_call(s);
	return s->engine->database_name(s, p, db_id, out, outlen);
}

enum api_err store_database_insert(struct store *s, const char *id, const char *tenant, json_t *set,
				   json_t *secrets, int64_t now_ms, json_t **out)
{
	store_count_call(s);
	return s->engine->database_insert(s, id, tenant, set, secrets, now_ms, out);
}

enum api_err store_database_get(struct store *s, const struct principal *p, const char *id,
				json_t **out)
{
	store_count_call(s);
	return s->engine->database_get(s, p, id, out);
}

enum api_err store_database_list(struct store *s, const struct principal *p,
				 const struct store_database_filter *f, json_t **items,
				 int64_t *total)
{
	store_count_call(s);
	return s->engine->database_list(s, p, f, items, total);
}

enum api_err store_database_update(struct store *s, const struct principal *p, const char *id,
				   json_t *set, json_t *secrets_set, json_t *secrets_unset,
				   int64_t now_ms, json_t **out)
{
	store_count_call(s);
	return s->engine->database_update(s, p, id, set, secrets_set, secrets_unset, now_ms, out);
}

enum api_err store_database_check_unique(struct store *s, const char *tenant, const char *host,
					 int64_t port, const char *database, const char *id)
{
	store_count_call(s);
	return s->engine->database_check_unique(s, tenant, host, port, database, id);
}

enum api_err store_database_delete(struct store *s, const struct principal *p, const char *id)
{
	store_count_call(s);
	return s->engine->database_delete(s, p, id);
}

enum api_err store_policies_disable_for_database(struct store *s, const char *tenant,
						 const char *id, int64_t now_ms, int64_t *n)
{
	store_count_call(s);
	return s->engine->policies_disable_for_database(s, tenant, id, now_ms, n);
}

enum api_err store_database_set_test(struct store *s, const char *tenant, const char *id,
				     const char *status, json_t *result, int64_t now_ms)
{
	store_count_call(s);
	return s->engine->database_set_test(s, tenant, id, status, result, now_ms);
}

enum api_err store_database_heartbeat(struct store *s, const struct principal *p, const char *id,
				      json_t *hb, int64_t now_ms, json_t **out)
{
	store_count_call(s);
	return s->engine->database_heartbeat(s, p, id, hb, now_ms, out);
}

enum api_err store_database_stats(struct store *s, const struct principal *p, const char *id,
				  int64_t now_ms, struct dbrec_stats *out)
{
	store_count_call(s);
	return s->engine->database_stats(s, p, id, now_ms, out);
}

enum api_err store_database_last_event(struct store *s, const struct principal *p, const char *id,
				       json_t **out)
{
	store_count_call(s);
	return s->engine->database_last_event(s, p, id, out);
}

enum api_err store_database_mark_stale(struct store *s, int64_t before_ms, int64_t *n)
{
	store_count_call(s);
	return s->engine->database_mark_stale(s, before_ms, n);
}

enum api_err store_database_foreach(struct store *s, enum api_err (*cb)(json_t *rec, void *arg),
				    void *arg)
{
	store_count_call(s);
	return s->engine->database_foreach(s, cb, arg);
}

enum api_err store_database_replace_secrets(struct store *s, const char *id, json_t *old,
					    json_t *secrets)
{
	store_count_call(s);
	return s->engine->database_replace_secrets(s, id, old, secrets);
}

enum api_err store_events_scan(struct store *s, const char *tenant, int64_t after, int64_t limit,
			       json_t **items)
{
	store_count_call(s);
	return s->engine->events_scan(s, tenant, after, limit, items);
}

/* An event_in of a stored document (pointers borrowed from doc); -1 if it is not one. */
static int event_from_stored(json_t *doc, struct event_in *e, int64_t *processed_ms)
{
	const char *id = json_string_value(json_object_get(doc, "_id"));
	const char *xid = json_string_value(json_object_get(doc, "xid"));
	const char *ts = json_string_value(json_object_get(doc, "timestamp"));
	const char *at = json_string_value(json_object_get(doc, "processed_at"));
	const char *dbname = json_string_value(json_object_get(doc, "database_name"));
	const char *aid = json_string_value(json_object_get(doc, "aid"));
	int t = event_type_index(json_string_value(json_object_get(doc, "type")) ?: "");

	memset(e, 0, sizeof(*e));
	if (id == NULL || !event_id_valid(id) || t < 0 || ts == NULL ||
	    time_parse_rfc3339(ts, &e->timestamp_ms) != 0 ||
	    !json_is_integer(json_object_get(doc, "seq")) ||
	    json_string_value(json_object_get(doc, "tenant_id")) == NULL ||
	    !event_severity_valid(json_string_value(json_object_get(doc, "severity")) ?: ""))
		return -1;
	*processed_ms = 0;
	if (at == NULL || time_parse_rfc3339(at, processed_ms) != 0)
		*processed_ms = time_now_ms();
	e->type = event_types[t].name;
	e->severity = json_string_value(json_object_get(doc, "severity"));
	e->tenant = json_string_value(json_object_get(doc, "tenant_id"));
	e->database_id = json_string_value(json_object_get(doc, "database_id"));
	e->external_id = json_string_value(json_object_get(doc, "external_id"));
	e->details = json_object_get(doc, "details");
	e->context = json_object_get(doc, "context");
	e->related = json_object_get(doc, "related_events");
	e->succeeded = !json_is_false(json_object_get(doc, "ok"));
	e->seq = json_integer_value(json_object_get(doc, "seq"));
	if (e->details == NULL || !json_is_object(e->details))
		return -1;
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->xid, sizeof(e->xid), "%s", xid ? xid : id);
	snprintf(e->database_name, sizeof(e->database_name), "%s", dbname ? dbname : "");
	snprintf(e->action_id, sizeof(e->action_id), "%s", aid ? aid : "");
	return 0;
}

enum api_err store_events_import(struct store *s, json_t *docs)
{
	size_t n = json_array_size(docs);
	struct event_in *ev = calloc(n ? n : 1, sizeof(*ev));
	int64_t *at = calloc(n ? n : 1, sizeof(*at));
	enum api_err rc = ev && at ? API_OK : API_ERR_INTERNAL;

	for (size_t i = 0; rc == API_OK && i < n; i++)
		if (event_from_stored(json_array_get(docs, i), &ev[i], &at[i]) != 0)
			rc = API_ERR_INVALID_PARAMETER;
	if (rc == API_OK) {
		store_count_call(s);
		rc = s->engine->events_import(s, ev, at, n);
	}
	free(ev);
	free(at);
	return rc;
}

enum api_err store_database_import(struct store *s, json_t *rec)
{
	if (!json_is_string(json_object_get(rec, "_id")) ||
	    !json_is_string(json_object_get(rec, "tenant_id")))
		return API_ERR_INVALID_PARAMETER;
	store_count_call(s);
	return s->engine->database_import(s, rec);
}

/* ---------------------------------------------------------------- policies and alerts */

enum api_err store_policy_put(struct store *s, const char *tenant, json_t *doc,
			      enum store_put_mode mode)
{
	store_count_call(s);
	return s->engine->policy_put(s, tenant, doc, mode);
}

enum api_err store_policy_get(struct store *s, const char *tenant, const char *id, json_t **doc)
{
	store_count_call(s);
	return s->engine->policy_get(s, tenant, id, doc);
}

enum api_err store_policy_delete(struct store *s, const char *tenant, const char *id)
{
	store_count_call(s);
	return s->engine->policy_delete(s, tenant, id);
}

enum api_err store_policy_list(struct store *s, const char *tenant, json_t **items)
{
	store_count_call(s);
	return s->engine->policy_list(s, tenant, items);
}

enum api_err store_alert_record(struct store *s, json_t *alert, const char *open_key,
				bool *absorbed)
{
	store_count_call(s);
	return s->engine->alert_record(s, alert, open_key, absorbed);
}

enum api_err store_alert_get(struct store *s, const struct principal *p, const char *id,
			     json_t **doc)
{
	store_count_call(s);
	return s->engine->alert_get(s, p, id, doc);
}

enum api_err store_alert_list(struct store *s, const struct principal *p,
			      const struct store_alert_filter *f, json_t **items, int64_t *total)
{
	store_count_call(s);
	return s->engine->alert_list(s, p, f, items, total);
}

enum api_err store_alert_update(struct store *s, const char *tenant, const char *id,
				const char *from_status, json_t *set, bool close, json_t **out)
{
	store_count_call(s);
	return s->engine->alert_update(s, tenant, id, from_status, set, close, out);
}

/* ---------------------------------------------------------------- webhooks */

enum api_err store_webhook_insert(struct store *s, json_t *doc)
{
	store_count_call(s);
	return s->engine->webhook_insert(s, doc);
}

enum api_err store_webhook_get(struct store *s, const struct principal *p, const char *id,
			       json_t **out)
{
	store_count_call(s);
	return s->engine->webhook_get(s, p, id, out);
}

enum api_err store_webhook_list(struct store *s, const struct principal *p, int64_t skip,
				int64_t limit, json_t **items, int64_t *total)
{
	store_count_call(s);
	return s->engine->webhook_list(s, p, skip, limit, items, total);
}

enum api_err store_webhook_update(struct store *s, const struct principal *p, const char *id,
				  json_t *set, json_t **out)
{
	store_count_call(s);
	return s->engine->webhook_update(s, p, id, set, out);
}

enum api_err store_webhook_delete(struct store *s, const struct principal *p, const char *id)
{
	store_count_call(s);
	return s->engine->webhook_delete(s, p, id);
}

enum api_err store_webhook_active(struct store *s, json_t **items)
{
	store_count_call(s);
	return s->engine->webhook_active(s, items);
}

enum api_err store_webhook_lease(struct store *s, const char *id, const char *owner,
				 int64_t now_ms, int64_t until_ms)
{
	store_count_call(s);
	return s->engine->webhook_lease(s, id, owner, now_ms, until_ms);
}

enum api_err store_webhook_advance(struct store *s, const char *id, const char *owner,
				   int64_t position)
{
	store_count_call(s);
	return s->engine->webhook_advance(s, id, owner, position);
}

enum api_err store_delivery_insert(struct store *s, json_t *doc)
{
	store_count_call(s);
	return s->engine->delivery_insert(s, doc);
}

enum api_err store_delivery_get(struct store *s, const struct principal *p, const char *webhook_id,
				const char *id, json_t **out)
{
	store_count_call(s);
	return s->engine->delivery_get(s, p, webhook_id, id, out);
}

enum api_err store_delivery_list(struct store *s, const struct principal *p,
				 const char *webhook_id, const char *status, int64_t skip,
				 int64_t limit, json_t **items, int64_t *total)
{
	store_count_call(s);
	return s->engine->delivery_list(s, p, webhook_id, status, skip, limit, items, total);
}

enum api_err store_delivery_next(struct store *s, const char *webhook_id, json_t **out)
{
	store_count_call(s);
	return s->engine->delivery_next(s, webhook_id, out);
}

enum api_err store_delivery_update(struct store *s, const char *id, json_t *set)
{
	store_count_call(s);
	return s->engine->delivery_update(s, id, set);
}
