/*
 * store_events: reading events: the filtered lists (pages and commit
 * order), one event, its session, the kAudit summary, and the database
 * check of ingest. Writing and the commit sequence: store_event_seq.c.
 */
#include "store_mongo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util/log.h"

#define EVENTS "events"
#define DATABASES "databases"

/* ---------------------------------------------------------------- filters */

static const char *const search_fields[] = {
	"details.query", "details.user", "details.database_principal_name", "database_name",
	"details.schema_name", "details.object_name", "details.client_application",
	"details.host_name", "details.source_ip",
};

static bool append_search(bson_t *q, const char *term)
{
	bson_t or, alt, re;
	char idx[16];
	const char *k;
	char *pat = event_regex_escape(term);
	bool ok;

	if (pat == NULL)
		return false;
	ok = BSON_APPEND_ARRAY_BEGIN(q, "$or", &or);
	for (size_t i = 0; i < sizeof(search_fields) / sizeof(search_fields[0]); i++) {
		bson_uint32_to_string((uint32_t)i, &k, idx, sizeof(idx));
		ok = ok && bson_append_document_begin(&or, k, -1, &alt);
		ok = ok && bson_append_document_begin(&alt, search_fields[i], -1, &re);
		ok = ok && BSON_APPEND_UTF8(&re, "$regex", pat);
		ok = ok && BSON_APPEND_UTF8(&re, "$options", "i");
		ok = ok && bson_append_document_end(&alt, &re);
		ok = ok && bson_append_document_end(&or, &alt);
	}
	ok = ok && bson_append_array_end(q, &or);
	free(pat);
	return ok;
}

static bool append_types(bson_t *q, uint32_t mask)
{
	const char *names[EVENT_NTYPES];
	size_t n = 0;
	bson_t in;

	mask &= EVENT_TYPES_ALL;
	if (mask == 0 || mask == EVENT_TYPES_ALL)
		return true;
	for (int i = 0; i < EVENT_NTYPES; i++)
		if (mask & (1u << i))
			names[n++] = event_types[i].name;
	if (n == 1)
		return BSON_APPEND_UTF8(q, "type", names[0]);
	return BSON_APPEND_DOCUMENT_BEGIN(q, "type", &in) && store_mongo_append_str_array(&in, "$in", names, n) &&
	       bson_append_document_end(q, &in);
}

/*
 * The query of every event listing: the tenant filter first (always), then
 * each filter as a plain equality on a string value (never an operator
 * taken from the request), the time range, and the escaped search.
 */
static bool build_filter(bson_t *q, const struct principal *p, const struct event_filter *f)
{
	bool ok = store_mongo_append_tenant_filter(q, p);
	bson_t range;

	ok = ok && append_types(q, f->types);
	if (f->severity)
		ok = ok && BSON_APPEND_UTF8(q, "severity", f->severity);
	if (f->database_id)
		ok = ok && BSON_APPEND_UTF8(q, "database_id", f->database_id);
	if (f->database_name)
		ok = ok && BSON_APPEND_UTF8(q, "database_name", f->database_name);
	if (f->user)
		ok = ok && BSON_APPEND_UTF8(q, "details.user", f->user);
	if (f->source_ip)
		ok = ok && BSON_APPEND_UTF8(q, "details.source_ip", f->source_ip);
	if (f->action_id)
		ok = ok && BSON_APPEND_UTF8(q, "aid", f->action_id);
	if (f->has_start || f->has_end) {
		ok = ok && BSON_APPEND_DOCUMENT_BEGIN(q, "timestamp", &range);
		if (f->has_start)
			ok = ok && BSON_APPEND_DATE_TIME(&range, "$gte", f->start_ms);
		if (f->has_end)
			ok = ok && BSON_APPEND_DATE_TIME(&range, "$lte", f->end_ms);
		ok = ok && bson_append_document_end(q, &range);
	}
	if (f->search && f->search[0])
		ok = ok && append_search(q, f->search);
	return ok;
}

/* ---------------------------------------------------------------- counts */

/*
 * Totals of lists: store_counts (store.c), keyed on the filter as canonical
 * extended JSON and the highest allocated block, and taken only when
 * nothing was in flight. On MongoDB the indexes make counts cheap anyway;
 * on FerretDB a count is a second full scan.
 */
static enum api_err count_events(struct store *s, const bson_t *q, int64_t *total)
{
	bson_error_t err;
	char *key;
	int64_t version, n;
	bool settled = false;
	enum api_err rc = store_mongo_events_version(s, &version, &settled);

	if (rc != API_OK)
		return rc;
	key = bson_as_canonical_extended_json(q, NULL);
	if (key != NULL && store_counts_get(s, key, version, 0, total)) {
		bson_free(key);
		return API_OK;
	}
	n = mongoc_collection_count_documents(store_mongo_coll(s, EVENTS), q, NULL, NULL, NULL, &err);
	if (n < 0) {
		bson_free(key);
		return store_mongo_error(&err, "event count");
	}
	*total = n;
	if (key != NULL && settled)
		store_counts_put(s, key, version, 0, n);
	bson_free(key);
	return API_OK;
}

/* ---------------------------------------------------------------- reads */

enum api_err store_mongo_events_list(struct store *s, const struct principal *p,
			       const struct event_filter *f, const char *sort_field,
			       bool ascending, int64_t skip, int64_t limit,
			       json_t **items, int64_t *total)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	enum api_err rc = API_ERR_INTERNAL;
	int dir = ascending ? 1 : -1;

	if (!build_filter(&q, p, f))
		goto out;
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, sort_field, dir);
	if (strcmp(sort_field, "seq") != 0)
		BSON_APPEND_INT32(&sort, "seq", dir);
	bson_append_document_end(&opts, &sort);
	if (skip > 0)
		BSON_APPEND_INT64(&opts, "skip", skip);
	BSON_APPEND_INT64(&opts, "limit", limit);
	rc = store_mongo_find_json(store_mongo_coll(s, EVENTS), &q, &opts, items, "event list");
	if (rc == API_OK && total != NULL) {
		/* A first page shorter than the limit is the whole result. */
		if (skip == 0 && (int64_t)json_array_size(*items) < limit)
			*total = (int64_t)json_array_size(*items);
		else
			rc = count_events(s, &q, total);
		if (rc != API_OK) {
			json_decref(*items);
			*items = NULL;
		}
	}
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/*
 * The events of q with after < seq <= upto in commit order, at most limit;
 * *has_more tells whether more match. Adds the range, sort and limit to q.
 */
static enum api_err page_by_seq(struct store *s, bson_t *q, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more, const char *what)
{
	bson_t opts = BSON_INITIALIZER, sort, range;
	enum api_err rc;

	BSON_APPEND_DOCUMENT_BEGIN(q, "seq", &range);
	BSON_APPEND_INT64(&range, "$gt", after);
	BSON_APPEND_INT64(&range, "$lte", upto);
	bson_append_document_end(q, &range);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "seq", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", limit + 1);
	rc = store_mongo_find_json(store_mongo_coll(s, EVENTS), q, &opts, items, what);
	if (rc == API_OK && (int64_t)json_array_size(*items) > limit) {
		json_array_remove(*items, json_array_size(*items) - 1);
		*has_more = true;
	}
	bson_destroy(&opts);
	return rc;
}

enum api_err store_mongo_events_after(struct store *s, const struct principal *p,
				const struct event_filter *f, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc = API_ERR_INTERNAL;

	*has_more = false;
	if (upto <= after) {
		*items = json_array();
		return *items ? API_OK : API_ERR_INTERNAL;
	}
	if (build_filter(&q, p, f))
		rc = page_by_seq(s, &q, after, upto, limit, items, has_more, "event cursor page");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_events_after_all(struct store *s, int64_t after, int64_t upto,
					  int64_t limit, json_t **items, bool *has_more)
{
	bson_t q = BSON_INITIALIZER, exists;
	enum api_err rc;

	*has_more = false;
	if (upto <= after) {
		*items = json_array();
		return *items ? API_OK : API_ERR_INTERNAL;
	}
	/* Markers and tombstones carry no tenant_id. */
	BSON_APPEND_DOCUMENT_BEGIN(&q, "tenant_id", &exists);
	BSON_APPEND_BOOL(&exists, "$exists", true);
	bson_append_document_end(&q, &exists);
	rc = page_by_seq(s, &q, after, upto, limit, items, has_more, "event stream page");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_events_get(struct store *s, const struct principal *p, const char *id,
				    json_t **doc)
{
	bson_t q = BSON_INITIALIZER;
	enum api_err rc;

	BSON_APPEND_UTF8(&q, "_id", id);
	store_mongo_append_tenant_filter(&q, p);
	rc = store_mongo_find_one_json(store_mongo_coll(s, EVENTS), &q, NULL, doc, "event get");
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_events_session(struct store *s, const struct principal *p,
				  const char *id, const char *session_id, size_t max,
				  json_t **ids)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, proj, ne;
	json_t *docs = NULL, *out = NULL, *d;
	size_t i;
	enum api_err rc;

	store_mongo_append_tenant_filter(&q, p);
	BSON_APPEND_UTF8(&q, "details.session_id", session_id);
	BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &ne);
	BSON_APPEND_UTF8(&ne, "$ne", id);
	bson_append_document_end(&q, &ne);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "seq", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "_id", 1);
	bson_append_document_end(&opts, &proj);
	BSON_APPEND_INT64(&opts, "limit", (int64_t)max);
	rc = store_mongo_find_json(store_mongo_coll(s, EVENTS), &q, &opts, &docs, "event session lookup");
	if (rc == API_OK) {
		out = json_array();
		json_array_foreach(docs, i, d) {
			json_t *v = json_object_get(d, "_id");

			if (out != NULL && json_is_string(v))
				json_array_append(out, v);
		}
		if (out == NULL)
			rc = API_ERR_INTERNAL;
		*ids = out;
	}
	json_decref(docs);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_database_name(struct store *s, const struct principal *p,
				 const char *db_id, char *out, size_t outlen)
{
	bson_t q = BSON_INITIALIZER, doc;
	bool found = false;
	enum api_err rc;

	out[0] = '\0';
	BSON_APPEND_UTF8(&q, "_id", db_id);
	store_mongo_append_tenant_filter(&q, p);
	rc = store_mongo_find_one(store_mongo_coll(s, DATABASES), &q, NULL, &doc, &found, "database name lookup");
	if (found) {
		const char *name = store_mongo_get_str(&doc, "name");

		if (name != NULL)
			snprintf(out, outlen, "%s", name);
		bson_destroy(&doc);
	}
	bson_destroy(&q);
	return rc;
}

/* ---------------------------------------------------------------- summary */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int64_t count_distinct(char **v, size_t n)
{
	int64_t d = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			d++;
	return d;
}

/* Adds one $group result {_id: {d, u, o}, n} to the summary and the name lists. */
static bool summary_add(const bson_t *doc, struct event_summary *out, char ***dbs,
			size_t *ndbs, char ***users, size_t *nusers, size_t *cap)
{
	bson_t key;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	int64_t n = store_mongo_get_int(doc, "n");
	const char *d, *u;
	bool ok = true;

	if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_DOCUMENT(&it))
		return true;
	bson_iter_document(&it, &len, &data);
	if (!bson_init_static(&key, data, len))
		return true;
	out->total += n;
	if (bson_iter_init_find(&it, &key, "o") && BSON_ITER_HOLDS_BOOL(&it) && !bson_iter_bool(&it))
		out->failed += n;
	else
		out->succeeded += n;
	if (*ndbs == *cap || *nusers == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **a = realloc(*dbs, nc * sizeof(char *)), **b;

		if (a == NULL)
			return false;
		*dbs = a;
		b = realloc(*users, nc * sizeof(char *));
		if (b == NULL)
			return false;
		*users = b;
		*cap = nc;
	}
	d = store_mongo_get_str(&key, "d");
	u = store_mongo_get_str(&key, "u");
	if (d != NULL) {
		(*dbs)[*ndbs] = strdup(d);
		if ((*dbs)[*ndbs] == NULL)
			ok = false;
		else
			(*ndbs)++;
	}
	if (u != NULL) {
		(*users)[*nusers] = strdup(u);
		if ((*users)[*nusers] == NULL)
			ok = false;
		else
			(*nusers)++;
	}
	return ok;
}

static enum api_err summary_latest(struct store *s, const bson_t *q, struct event_summary *out)
{
	bson_t opts = BSON_INITIALIZER, sort, proj, doc;
	bool found = false;
	enum api_err rc;

	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "timestamp", -1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "timestamp", 1);
	bson_append_document_end(&opts, &proj);
	rc = store_mongo_find_one(store_mongo_coll(s, EVENTS), q, &opts, &doc, &found, "event summary latest");
	if (found) {
		out->has_latest = true;
		out->latest_ms = store_mongo_get_date(&doc, "timestamp");
		bson_destroy(&doc);
	}
	bson_destroy(&opts);
	return rc;
}

enum api_err store_mongo_events_summary(struct store *s, const struct principal *p,
				  const struct event_filter *f, struct event_summary *out)
{
	bson_t q = BSON_INITIALIZER, pipe = BSON_INITIALIZER, st, stage, grp, id, n;
	mongoc_cursor_t *cur = NULL;
	const bson_t *doc;
	bson_error_t err;
	char **dbs = NULL, **users = NULL;
	size_t ndbs = 0, nusers = 0, cap = 0;
	enum api_err rc = API_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	if (!build_filter(&q, p, f))
		goto out;
	/* One pass: count per (database, principal, outcome); the distincts
	 * and sums come from the groups ($facet and $addToSet are not portable). */
	BSON_APPEND_ARRAY_BEGIN(&pipe, "pipeline", &st);
	BSON_APPEND_DOCUMENT_BEGIN(&st, "0", &stage);
	BSON_APPEND_DOCUMENT(&stage, "$match", &q);
	bson_append_document_end(&st, &stage);
	BSON_APPEND_DOCUMENT_BEGIN(&st, "1", &stage);
	BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &grp);
	BSON_APPEND_DOCUMENT_BEGIN(&grp, "_id", &id);
	BSON_APPEND_UTF8(&id, "d", "$database_name");
	BSON_APPEND_UTF8(&id, "u", "$details.user");
	BSON_APPEND_UTF8(&id, "o", "$ok");
	bson_append_document_end(&grp, &id);
	BSON_APPEND_DOCUMENT_BEGIN(&grp, "n", &n);
	BSON_APPEND_INT32(&n, "$sum", 1);
	bson_append_document_end(&grp, &n);
	bson_append_document_end(&stage, &grp);
	bson_append_document_end(&st, &stage);
	bson_append_array_end(&pipe, &st);
	cur = mongoc_collection_aggregate(store_mongo_coll(s, EVENTS), MONGOC_QUERY_NONE, &pipe, NULL, NULL);
	rc = API_OK;
	while (rc == API_OK && mongoc_cursor_next(cur, &doc))
		if (!summary_add(doc, out, &dbs, &ndbs, &users, &nusers, &cap))
			rc = API_ERR_INTERNAL;
	if (rc == API_OK && mongoc_cursor_error(cur, &err))
		rc = store_mongo_error(&err, "event summary");
	if (rc == API_OK) {
		out->distinct_databases = count_distinct(dbs, ndbs);
		out->distinct_principals = count_distinct(users, nusers);
		if (out->total > 0)
			rc = summary_latest(s, &q, out);
	}
out:
	for (size_t i = 0; i < ndbs; i++)
		free(dbs[i]);
	for (size_t i = 0; i < nusers; i++)
		free(users[i]);
	free(dbs);
	free(users);
	mongoc_cursor_destroy(cur);
	bson_destroy(&pipe);
	bson_destroy(&q);
	return rc;
}

/* ---------------------------------------------------------------- databases */

enum api_err store_mongo_events_check_databases(struct store *s, struct event_in *ev, size_t n,
					  size_t *bad)
{
	bson_t q = BSON_INITIALIZER, in, opts = BSON_INITIALIZER, proj;
	const char **ids = NULL;
	size_t nids = 0;
	json_t *found = NULL, *d;
	enum api_err rc = API_OK;

	ids = calloc(n ? n : 1, sizeof(*ids));
	if (ids == NULL)
		return API_ERR_INTERNAL;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (ev[i].database_id == NULL)
			continue;
		for (j = 0; j < nids && strcmp(ids[j], ev[i].database_id) != 0; j++)
			;
		if (j == nids)
			ids[nids++] = ev[i].database_id;
	}
	if (nids == 0)
		goto out;
	BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &in);
	store_mongo_append_str_array(&in, "$in", ids, nids);
	bson_append_document_end(&q, &in);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "tenant_id", 1);
	BSON_APPEND_INT32(&proj, "name", 1);
	BSON_APPEND_INT32(&proj, "type", 1);
	BSON_APPEND_INT32(&proj, "audit_options", 1);
	bson_append_document_end(&opts, &proj);
	rc = store_mongo_find_json(store_mongo_coll(s, DATABASES), &q, &opts, &found, "database check");
	if (rc != API_OK)
		goto out;
	for (size_t i = 0; i < n && rc == API_OK; i++) {
		size_t k;
		bool ok = false;

		if (ev[i].database_id == NULL)
			continue;
		json_array_foreach(found, k, d) {
			const char *t = json_string_value(json_object_get(d, "tenant_id"));
			const char *id = json_string_value(json_object_get(d, "_id"));
			const char *name = json_string_value(json_object_get(d, "name"));

			if (id == NULL || t == NULL || strcmp(id, ev[i].database_id) != 0 ||
			    strcmp(t, ev[i].tenant) != 0)
				continue;
			ok = true;
			event_set_database(&ev[i], name, json_string_value(json_object_get(d, "type")),
					   json_object_get(d, "audit_options"));
		}
		if (!ok) {
			*bad = i;
			rc = API_ERR_UNPROCESSABLE;
		}
	}
out:
	json_decref(found);
	free(ids);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}
