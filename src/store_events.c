/*
 * store_events: the events collection and the commit sequence behind the
 * polling cursor (docs/events.md explains the design and why it is exact).
 *
 *   counters      {_id: "events", seq: last allocated, committed: W}
 *   event_ranges  {_id: "<lo>", lo, hi}: every sequence of [lo, hi] decided
 *   event_gaps    {_id: "<p>", p, first_seen, upto}: when a hole at p was seen
 *   events        the events, and tombstones {_id: "tomb_<seq>", seq, tomb: true}
 *
 * Only point lookups by _id are on the hot paths: they are cheap on every
 * store, including FerretDB's SQLite backend, which serves no other index.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util/log.h"

#define EVENTS "events"
#define COUNTERS "counters"
#define RANGES "event_ranges"
#define GAPS "event_gaps"
#define DATABASES "databases"

/* ---------------------------------------------------------------- helpers */

static void seq_key(int64_t seq, char *out, size_t n)
{
	snprintf(out, n, "%" PRId64, seq);
}

static bool append_str_array(bson_t *b, const char *key, const char *const *v, size_t n)
{
	bson_t arr;
	char idx[16];
	const char *k;
	bool ok = bson_append_array_begin(b, key, -1, &arr);

	for (size_t i = 0; i < n; i++) {
		bson_uint32_to_string((uint32_t)i, &k, idx, sizeof(idx));
		ok = ok && bson_append_utf8(&arr, k, -1, v[i], -1);
	}
	return bson_append_array_end(b, &arr) && ok;
}

/*
 * Finds one document of coll by query; *found tells whether one exists and
 * out (initialised by the call when found) holds a copy the caller destroys.
 */
static enum api_err find_one(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			     bson_t *out, bool *found, const char *what)
{
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	bson_t o = BSON_INITIALIZER;
	enum api_err rc = API_OK;

	*found = false;
	if (opts != NULL)
		bson_copy_to_excluding_noinit(opts, &o, "limit", NULL);
	BSON_APPEND_INT64(&o, "limit", 1);
	cur = mongoc_collection_find_with_opts(coll, q, &o, NULL);
	if (mongoc_cursor_next(cur, &doc)) {
		bson_copy_to(doc, out);
		*found = true;
	} else if (mongoc_cursor_error(cur, &err)) {
		rc = store_error(&err, what);
	}
	mongoc_cursor_destroy(cur);
	bson_destroy(&o);
	return rc;
}

static int64_t get_int(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) &&
	    (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_DOUBLE(&it)))
		return bson_iter_as_int64(&it);
	return 0;
}

static int64_t get_date(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_DATE_TIME(&it))
		return bson_iter_date_time(&it);
	return 0;
}

static const char *get_str(const bson_t *doc, const char *field)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return NULL;
}

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
	return BSON_APPEND_DOCUMENT_BEGIN(q, "type", &in) && append_str_array(&in, "$in", names, n) &&
	       bson_append_document_end(q, &in);
}

/*
 * The query of every event listing: the tenant filter first (always), then
 * each filter as a plain equality on a string value (never an operator
 * taken from the request), the time range, and the escaped search.
 */
static bool build_filter(bson_t *q, const struct principal *p, const struct event_filter *f)
{
	bool ok = store_append_tenant_filter(q, p);
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

/* Runs a find and collects the documents as a JSON array. */
static enum api_err find_json(mongoc_collection_t *coll, const bson_t *q, const bson_t *opts,
			      json_t **items, const char *what)
{
	mongoc_cursor_t *cur;
	const bson_t *doc;
	bson_error_t err;
	json_t *arr = json_array();
	enum api_err rc = API_OK;

	if (arr == NULL)
		return API_ERR_INTERNAL;
	cur = mongoc_collection_find_with_opts(coll, q, opts, NULL);
	while (mongoc_cursor_next(cur, &doc)) {
		json_t *j = store_bson_to_json(doc);

		if (j == NULL || json_array_append_new(arr, j) != 0) {
			rc = API_ERR_INTERNAL;
			break;
		}
	}
	if (rc == API_OK && mongoc_cursor_error(cur, &err))
		rc = store_error(&err, what);
	mongoc_cursor_destroy(cur);
	if (rc != API_OK) {
		json_decref(arr);
		return rc;
	}
	*items = arr;
	return API_OK;
}

/* ---------------------------------------------------------------- reads */

enum api_err store_events_list(struct store *s, const struct principal *p,
			       const struct event_filter *f, const char *sort_field,
			       bool ascending, int64_t skip, int64_t limit,
			       json_t **items, int64_t *total)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
	bson_error_t err;
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
	rc = find_json(store_coll(s, EVENTS), &q, &opts, items, "event list");
	if (rc == API_OK && total != NULL) {
		int64_t n = mongoc_collection_count_documents(store_coll(s, EVENTS), &q, NULL,
							      NULL, NULL, &err);

		if (n < 0) {
			rc = store_error(&err, "event count");
			json_decref(*items);
			*items = NULL;
		} else {
			*total = n;
		}
	}
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_events_after(struct store *s, const struct principal *p,
				const struct event_filter *f, int64_t after, int64_t upto,
				int64_t limit, json_t **items, bool *has_more)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, range;
	enum api_err rc = API_ERR_INTERNAL;

	*has_more = false;
	if (upto <= after) {
		*items = json_array();
		return *items ? API_OK : API_ERR_INTERNAL;
	}
	if (!build_filter(&q, p, f))
		goto out;
	BSON_APPEND_DOCUMENT_BEGIN(&q, "seq", &range);
	BSON_APPEND_INT64(&range, "$gt", after);
	BSON_APPEND_INT64(&range, "$lte", upto);
	bson_append_document_end(&q, &range);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "seq", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", limit + 1);
	rc = find_json(store_coll(s, EVENTS), &q, &opts, items, "event cursor page");
	if (rc == API_OK && (int64_t)json_array_size(*items) > limit) {
		json_array_remove(*items, json_array_size(*items) - 1);
		*has_more = true;
	}
out:
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

enum api_err store_events_get(struct store *s, const struct principal *p, const char *id,
			      json_t **doc)
{
	bson_t q = BSON_INITIALIZER, found_doc;
	bool found = false;
	enum api_err rc;

	BSON_APPEND_UTF8(&q, "_id", id);
	store_append_tenant_filter(&q, p);
	rc = find_one(store_coll(s, EVENTS), &q, NULL, &found_doc, &found, "event get");
	if (rc == API_OK && !found)
		rc = API_ERR_NOT_FOUND;
	if (rc == API_OK) {
		*doc = store_bson_to_json(&found_doc);
		if (*doc == NULL)
			rc = API_ERR_INTERNAL;
	}
	if (found)
		bson_destroy(&found_doc);
	bson_destroy(&q);
	return rc;
}

enum api_err store_events_session(struct store *s, const struct principal *p,
				  const char *id, const char *session_id, size_t max,
				  json_t **ids)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, proj, ne;
	json_t *docs = NULL, *out = NULL, *d;
	size_t i;
	enum api_err rc;

	store_append_tenant_filter(&q, p);
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
	rc = find_json(store_coll(s, EVENTS), &q, &opts, &docs, "event session lookup");
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

enum api_err store_database_name(struct store *s, const struct principal *p,
				 const char *db_id, char *out, size_t outlen)
{
	bson_t q = BSON_INITIALIZER, doc;
	bool found = false;
	enum api_err rc;

	out[0] = '\0';
	BSON_APPEND_UTF8(&q, "_id", db_id);
	store_append_tenant_filter(&q, p);
	rc = find_one(store_coll(s, DATABASES), &q, NULL, &doc, &found, "database name lookup");
	if (found) {
		const char *name = get_str(&doc, "name");

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
	int64_t n = get_int(doc, "n");
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
	d = get_str(&key, "d");
	u = get_str(&key, "u");
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
	rc = find_one(store_coll(s, EVENTS), q, &opts, &doc, &found, "event summary latest");
	if (found) {
		out->has_latest = true;
		out->latest_ms = get_date(&doc, "timestamp");
		bson_destroy(&doc);
	}
	bson_destroy(&opts);
	return rc;
}

enum api_err store_events_summary(struct store *s, const struct principal *p,
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
	cur = mongoc_collection_aggregate(store_coll(s, EVENTS), MONGOC_QUERY_NONE, &pipe, NULL, NULL);
	rc = API_OK;
	while (rc == API_OK && mongoc_cursor_next(cur, &doc))
		if (!summary_add(doc, out, &dbs, &ndbs, &users, &nusers, &cap))
			rc = API_ERR_INTERNAL;
	if (rc == API_OK && mongoc_cursor_error(cur, &err))
		rc = store_error(&err, "event summary");
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

enum api_err store_events_check_databases(struct store *s, struct event_in *ev, size_t n,
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
	append_str_array(&in, "$in", ids, nids);
	bson_append_document_end(&q, &in);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "tenant_id", 1);
	BSON_APPEND_INT32(&proj, "name", 1);
	bson_append_document_end(&opts, &proj);
	rc = find_json(store_coll(s, DATABASES), &q, &opts, &found, "database check");
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
			if (ev[i].database_name[0] == '\0' && name != NULL)
				snprintf(ev[i].database_name, sizeof(ev[i].database_name), "%s", name);
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

/* ---------------------------------------------------------------- sequence */

/* Allocates n sequences: [*lo, *hi]. */
static enum api_err seq_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi)
{
	bson_t q = BSON_INITIALIZER, update = BSON_INITIALIZER, child, reply, extra = BSON_INITIALIZER;
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_error_t err;
	bson_iter_t it, v;
	enum api_err rc = API_OK;

	BSON_APPEND_UTF8(&q, "_id", "events");
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &child);
	BSON_APPEND_INT64(&child, "seq", n);
	bson_append_document_end(&update, &child);
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$setOnInsert", &child);
	BSON_APPEND_INT64(&child, "committed", 0);
	bson_append_document_end(&update, &child);
	mongoc_find_and_modify_opts_set_update(fam, &update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_UPSERT |
						   MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	/* A rolled-back counter would hand the same sequences out twice. */
	store_append_write_concern(s, &extra);
	mongoc_find_and_modify_opts_append(fam, &extra);
	if (!mongoc_collection_find_and_modify_with_opts(store_coll(s, COUNTERS), &q, fam, &reply, &err)) {
		rc = store_error(&err, "event sequence allocation");
	} else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
		   bson_iter_recurse(&it, &v) && bson_iter_find(&v, "seq")) {
		*hi = bson_iter_as_int64(&v);
		*lo = *hi - n + 1;
		if (*lo < 1)
			rc = API_ERR_INTERNAL;
	} else {
		log_msg(LOG_ERROR, "store: event sequence allocation returned no counter");
		rc = API_ERR_INTERNAL;
	}
	bson_destroy(&reply);
	bson_destroy(&extra);
	mongoc_find_and_modify_opts_destroy(fam);
	bson_destroy(&update);
	bson_destroy(&q);
	return rc;
}

enum api_err store_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi)
{
	return seq_allocate(s, n, lo, hi);
}

/* Records that every sequence of [lo, hi] is decided. */
static enum api_err range_record(struct store *s, int64_t lo, int64_t hi)
{
	bson_t doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
	bson_error_t err;
	char key[24];
	enum api_err rc = API_OK;

	seq_key(lo, key, sizeof(key));
	BSON_APPEND_UTF8(&doc, "_id", key);
	BSON_APPEND_INT64(&doc, "lo", lo);
	BSON_APPEND_INT64(&doc, "hi", hi);
	store_append_write_concern(s, &opts);
	if (!mongoc_collection_insert_one(store_coll(s, RANGES), &doc, &opts, NULL, &err)) {
		rc = store_error(&err, "event range record");
		if (rc == API_ERR_CONFLICT)
			rc = API_OK; /* recorded already */
	}
	bson_destroy(&opts);
	bson_destroy(&doc);
	return rc;
}

/* ---------------------------------------------------------------- insert */

static bool event_to_bson(const struct event_in *e, int64_t now_ms, bson_t *doc)
{
	bool ok = true;

	ok &= BSON_APPEND_UTF8(doc, "_id", e->id);
	ok &= BSON_APPEND_INT64(doc, "seq", e->seq);
	ok &= BSON_APPEND_UTF8(doc, "xid", e->xid);
	ok &= BSON_APPEND_UTF8(doc, "tenant_id", e->tenant);
	ok &= BSON_APPEND_UTF8(doc, "type", e->type);
	ok &= BSON_APPEND_UTF8(doc, "severity", e->severity);
	if (e->database_id)
		ok &= BSON_APPEND_UTF8(doc, "database_id", e->database_id);
	if (e->database_name[0])
		ok &= BSON_APPEND_UTF8(doc, "database_name", e->database_name);
	ok &= BSON_APPEND_DATE_TIME(doc, "timestamp", e->timestamp_ms);
	ok &= BSON_APPEND_DATE_TIME(doc, "processed_at", now_ms);
	ok &= store_json_append(doc, "details", e->details);
	if (e->external_id)
		ok &= BSON_APPEND_UTF8(doc, "external_id", e->external_id);
	if (e->context)
		ok &= store_json_append(doc, "context", e->context);
	if (e->related)
		ok &= store_json_append(doc, "related_events", e->related);
	if (e->action_id[0])
		ok &= BSON_APPEND_UTF8(doc, "aid", e->action_id);
	ok &= BSON_APPEND_BOOL(doc, "ok", e->succeeded);
	return ok;
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
		/* keep the first in request order; ix is not stable, so compare */
		if (a < b)
			ev[b].duplicate = true;
		else
			ev[a].duplicate = true;
		ix[i] = a < b ? a : b;
	}
	free(ix);
	return API_OK;
}

enum write_outcome { WRITE_DONE, WRITE_PARTIAL, WRITE_UNKNOWN };

/*
 * Inspects a failed insert_many. WRITE_PARTIAL: the server answered for
 * every document (writeErrors, no write concern error): the failed
 * documents' indexes get failed[j] = their error code. WRITE_UNKNOWN: the
 * outcome is not known (network, timeout, write concern).
 */
static enum write_outcome insert_outcome(const bson_error_t *err, const bson_t *reply,
					 int32_t *failed, size_t m)
{
	bson_iter_t it, arr, e;
	bool any = false;

	if (err->domain != MONGOC_ERROR_SERVER && err->domain != MONGOC_ERROR_COMMAND)
		return WRITE_UNKNOWN;
	if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &arr) && bson_iter_next(&arr))
		return WRITE_UNKNOWN;
	if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &arr))
		return WRITE_UNKNOWN;
	while (bson_iter_next(&arr)) {
		int64_t idx = -1, code = 0;

		if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &e))
			return WRITE_UNKNOWN;
		while (bson_iter_next(&e)) {
			if (strcmp(bson_iter_key(&e), "index") == 0)
				idx = bson_iter_as_int64(&e);
			else if (strcmp(bson_iter_key(&e), "code") == 0)
				code = bson_iter_as_int64(&e);
		}
		if (idx < 0 || (size_t)idx >= m)
			return WRITE_UNKNOWN;
		failed[idx] = code ? (int32_t)code : -1;
		any = true;
	}
	return any ? WRITE_PARTIAL : WRITE_UNKNOWN;
}

/*
 * For the events whose insert hit a duplicate key: those whose id is
 * stored with the same idempotency key are duplicates; any other (a
 * sequence taken by a tombstone because this writer was too slow) failed.
 */
static enum api_err resolve_duplicates(struct store *s, struct event_in *ev, size_t *map,
				       int32_t *failed, size_t m, bool *lost)
{
	bson_t q = BSON_INITIALIZER, in, opts = BSON_INITIALIZER, proj;
	const char **ids = calloc(m ? m : 1, sizeof(*ids));
	size_t nids = 0, k;
	json_t *found = NULL, *d;
	enum api_err rc;

	if (ids == NULL)
		return API_ERR_INTERNAL;
	for (size_t j = 0; j < m; j++) {
		if (failed[j] == 0)
			continue;
		if (failed[j] == 11000 && ev[map[j]].external_id != NULL)
			ids[nids++] = ev[map[j]].id;
		else
			*lost = true;
	}
	rc = API_OK;
	if (nids == 0)
		goto out;
	BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &in);
	append_str_array(&in, "$in", ids, nids);
	bson_append_document_end(&q, &in);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "xid", 1);
	bson_append_document_end(&opts, &proj);
	rc = find_json(store_coll(s, EVENTS), &q, &opts, &found, "event duplicate lookup");
	if (rc != API_OK)
		goto out;
	for (size_t j = 0; j < m; j++) {
		struct event_in *e = &ev[map[j]];
		bool dup = false;

		if (failed[j] != 11000 || e->external_id == NULL)
			continue;
		json_array_foreach(found, k, d) {
			const char *id = json_string_value(json_object_get(d, "_id"));
			const char *xid = json_string_value(json_object_get(d, "xid"));

			if (id && xid && strcmp(id, e->id) == 0 && strcmp(xid, e->xid) == 0)
				dup = true;
		}
		if (dup) {
			e->duplicate = true;
			e->seq = 0;
		} else {
			*lost = true;
		}
	}
out:
	json_decref(found);
	free(ids);
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/* Inserts the m documents; on return failed[] says which did not go in. */
static enum api_err insert_docs(struct store *s, bson_t **docs, size_t m, int32_t *failed,
				enum write_outcome *outcome)
{
	bson_t opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_BOOL(&opts, "ordered", false);
	store_append_write_concern(s, &opts);
	*outcome = WRITE_DONE;
	if (!mongoc_collection_insert_many(store_coll(s, EVENTS), (const bson_t **)docs, m,
					   &opts, &reply, &err)) {
		*outcome = insert_outcome(&err, &reply, failed, m);
		if (*outcome == WRITE_UNKNOWN)
			rc = store_error(&err, "event insert");
		if (rc == API_ERR_CONFLICT || rc == API_OK)
			rc = API_ERR_UNAVAILABLE;
		if (*outcome == WRITE_PARTIAL)
			rc = API_OK;
	}
	bson_destroy(&reply);
	bson_destroy(&opts);
	return rc;
}

enum api_err store_events_insert(struct store *s, struct event_in *ev, size_t n,
				 int64_t now_ms)
{
	bson_t **docs = NULL;
	size_t *map = NULL, m = 0;
	int32_t *failed = NULL;
	int64_t lo = 0, hi = 0;
	enum write_outcome outcome;
	bool lost = false, hard = false;
	enum api_err rc;

	rc = dedupe_batch(ev, n);
	if (rc != API_OK)
		return rc;
	docs = calloc(n ? n : 1, sizeof(*docs));
	map = calloc(n ? n : 1, sizeof(*map));
	failed = calloc(n ? n : 1, sizeof(*failed));
	if (docs == NULL || map == NULL || failed == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!ev[i].duplicate)
			map[m++] = i;
	if (m == 0)
		goto out;
	rc = seq_allocate(s, (int64_t)m, &lo, &hi);
	if (rc != API_OK)
		goto out;
	for (size_t j = 0; j < m; j++) {
		ev[map[j]].seq = lo + (int64_t)j;
		docs[j] = bson_new();
		if (!event_to_bson(&ev[map[j]], now_ms, docs[j])) {
			/* Nothing was written: the range is decided (empty). */
			range_record(s, lo, hi);
			rc = API_ERR_INTERNAL;
			goto out;
		}
	}
	rc = insert_docs(s, docs, m, failed, &outcome);
	if (rc != API_OK)
		goto out; /* outcome unknown: the watermark claims the range after the lease */
	/* Every document's fate is known: the range is decided. */
	if (range_record(s, lo, hi) != API_OK)
		log_msg(LOG_WARN, "store: range %" PRId64 "-%" PRId64 " unrecorded; the watermark "
			"will settle it after the lease", lo, hi);
	if (outcome == WRITE_PARTIAL) {
		for (size_t j = 0; j < m; j++)
			if (failed[j] != 0 && failed[j] != 11000)
				hard = true;
		rc = resolve_duplicates(s, ev, map, failed, m, &lost);
		if (rc == API_OK && hard)
			rc = API_ERR_INTERNAL;
		else if (rc == API_OK && lost)
			rc = API_ERR_UNAVAILABLE;
	}
out:
	for (size_t j = 0; docs != NULL && j < m; j++)
		bson_destroy(docs[j]);
	free(docs);
	free(map);
	free(failed);
	return rc;
}

/* ---------------------------------------------------------------- watermark */

static enum api_err counter_read(struct store *s, int64_t *alloc, int64_t *committed)
{
	bson_t q = BSON_INITIALIZER, doc;
	bool found = false;
	enum api_err rc;

	*alloc = *committed = 0;
	BSON_APPEND_UTF8(&q, "_id", "events");
	rc = find_one(store_coll(s, COUNTERS), &q, NULL, &doc, &found, "event counter read");
	if (found) {
		*alloc = get_int(&doc, "seq");
		*committed = get_int(&doc, "committed");
		bson_destroy(&doc);
	}
	bson_destroy(&q);
	return rc;
}

/* Raises the persisted watermark to at least w; *now gets the stored value. */
static enum api_err committed_raise(struct store *s, int64_t w, int64_t *now)
{
	bson_t q = BSON_INITIALIZER, update = BSON_INITIALIZER, child, reply;
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_error_t err;
	bson_iter_t it, v;
	enum api_err rc = API_OK;

	*now = w;
	BSON_APPEND_UTF8(&q, "_id", "events");
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &child);
	BSON_APPEND_INT64(&child, "committed", w);
	bson_append_document_end(&update, &child);
	mongoc_find_and_modify_opts_set_update(fam, &update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	if (!mongoc_collection_find_and_modify_with_opts(store_coll(s, COUNTERS), &q, fam, &reply, &err))
		rc = store_error(&err, "event watermark update");
	else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
		 bson_iter_recurse(&it, &v) && bson_iter_find(&v, "committed") &&
		 bson_iter_as_int64(&v) > w)
		*now = bson_iter_as_int64(&v);
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(fam);
	bson_destroy(&update);
	bson_destroy(&q);
	return rc;
}

/* The hi of the range record starting at lo, or 0 when there is none. */
static enum api_err range_lookup(struct store *s, int64_t lo, int64_t *hi)
{
	bson_t q = BSON_INITIALIZER, doc;
	char key[24];
	bool found = false;
	enum api_err rc;

	*hi = 0;
	seq_key(lo, key, sizeof(key));
	BSON_APPEND_UTF8(&q, "_id", key);
	rc = find_one(store_coll(s, RANGES), &q, NULL, &doc, &found, "event range lookup");
	if (found) {
		*hi = get_int(&doc, "hi");
		bson_destroy(&doc);
	}
	bson_destroy(&q);
	return rc;
}

/*
 * Notes a hole at p: the first caller records now and the last sequence
 * allocated (alloc); every caller gets the recorded values back.
 */
static enum api_err gap_note(struct store *s, int64_t p, int64_t alloc, int64_t now_ms,
			     int64_t *first_seen, int64_t *upto)
{
	bson_t q = BSON_INITIALIZER, update = BSON_INITIALIZER, child, reply;
	mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new();
	bson_error_t err;
	bson_iter_t it, v;
	char key[24];
	enum api_err rc = API_OK;

	*first_seen = now_ms;
	*upto = alloc;
	seq_key(p, key, sizeof(key));
	BSON_APPEND_UTF8(&q, "_id", key);
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$setOnInsert", &child);
	BSON_APPEND_INT64(&child, "p", p);
	BSON_APPEND_DATE_TIME(&child, "first_seen", now_ms);
	BSON_APPEND_INT64(&child, "upto", alloc);
	bson_append_document_end(&update, &child);
	mongoc_find_and_modify_opts_set_update(fam, &update);
	mongoc_find_and_modify_opts_set_flags(fam, MONGOC_FIND_AND_MODIFY_UPSERT |
						   MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	if (!mongoc_collection_find_and_modify_with_opts(store_coll(s, GAPS), &q, fam, &reply, &err)) {
		rc = store_error(&err, "event gap note");
	} else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
		   bson_iter_recurse(&it, &v)) {
		while (bson_iter_next(&v)) {
			if (strcmp(bson_iter_key(&v), "first_seen") == 0 && BSON_ITER_HOLDS_DATE_TIME(&v))
				*first_seen = bson_iter_date_time(&v);
			else if (strcmp(bson_iter_key(&v), "upto") == 0)
				*upto = bson_iter_as_int64(&v);
		}
	}
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(fam);
	bson_destroy(&update);
	bson_destroy(&q);
	return rc;
}

/*
 * Inserts tombstones for seqs[0..n). A duplicate key means the sequence is
 * taken (by its event or another tombstone): decided either way.
 */
static enum api_err tombstones_insert(struct store *s, const int64_t *seqs, size_t n)
{
	bson_t **docs = calloc(n ? n : 1, sizeof(*docs));
	bson_t opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	int32_t *failed = calloc(n ? n : 1, sizeof(*failed));
	enum api_err rc = API_OK;

	if (docs == NULL || failed == NULL) {
		rc = API_ERR_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "tomb_%" PRId64, seqs[i]);
		docs[i] = BCON_NEW("_id", BCON_UTF8(id), "seq", BCON_INT64(seqs[i]), "tomb", BCON_BOOL(true));
	}
	BSON_APPEND_BOOL(&opts, "ordered", false);
	store_append_write_concern(s, &opts);
	if (!mongoc_collection_insert_many(store_coll(s, EVENTS), (const bson_t **)docs, n, &opts,
					   &reply, &err)) {
		if (insert_outcome(&err, &reply, failed, n) != WRITE_PARTIAL) {
			rc = store_error(&err, "event tombstones");
		} else {
			for (size_t i = 0; i < n; i++)
				if (failed[i] != 0 && failed[i] != 11000)
					rc = API_ERR_INTERNAL;
			if (rc != API_OK)
				log_msg(LOG_ERROR, "store: a tombstone insert failed other than by a duplicate");
		}
	}
	bson_destroy(&reply);
out:
	for (size_t i = 0; docs != NULL && i < n; i++)
		bson_destroy(docs[i]);
	free(docs);
	free(failed);
	bson_destroy(&opts);
	return rc;
}

#define CLAIM_BATCH 1000

/*
 * Decides the sequences of [p, upto] (a hole older than the lease):
 * recorded ranges are skipped, every other sequence gets a tombstone (or
 * is found taken). Spends at most *budget range lookups; when it runs out
 * first, the hole's record moves on to where the claim stopped, with its
 * age, so the next call carries on without waiting another lease. *w gets
 * the last decided sequence.
 */
static enum api_err gap_claim(struct store *s, int64_t p, int64_t upto, int64_t first_seen,
			      int *budget, int64_t *w)
{
	int64_t batch[CLAIM_BATCH];
	size_t nb = 0;
	int64_t q = p, unused_first, unused_upto;
	enum api_err rc = API_OK;

	while (q <= upto && *budget > 0 && rc == API_OK) {
		int64_t hi;

		(*budget)--;
		rc = range_lookup(s, q, &hi);
		if (rc != API_OK)
			break;
		if (hi >= q) {
			q = hi + 1;
			continue;
		}
		batch[nb++] = q++;
		if (nb == CLAIM_BATCH) {
			rc = tombstones_insert(s, batch, nb);
			nb = 0;
		}
	}
	if (rc == API_OK && nb > 0)
		rc = tombstones_insert(s, batch, nb);
	if (rc != API_OK)
		return rc;
	if (q <= upto)
		rc = gap_note(s, q, upto, first_seen, &unused_first, &unused_upto);
	log_msg(LOG_WARN, "store: claimed event sequences %" PRId64 "-%" PRId64
		" left undecided past the lease", p, q - 1);
	*w = q - 1;
	return rc;
}

enum api_err store_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
				    int max_steps, int64_t *w)
{
	int64_t alloc, committed, start, cur;
	int budget = max_steps;
	enum api_err rc;

	rc = counter_read(s, &alloc, &committed);
	if (rc != API_OK)
		return rc;
	start = cur = committed;
	while (rc == API_OK && cur < alloc && budget > 0) {
		int64_t hi, first_seen, upto, a2, c2;

		budget--;
		rc = range_lookup(s, cur + 1, &hi);
		if (rc != API_OK)
			break;
		if (hi > cur) {
			cur = hi;
			continue;
		}
		/* A hole, or records already collected behind a newer watermark. */
		rc = counter_read(s, &a2, &c2);
		if (rc == API_OK && c2 > cur) {
			start = cur = c2;
			continue;
		}
		if (rc == API_OK)
			rc = gap_note(s, cur + 1, alloc, now_ms, &first_seen, &upto);
		if (rc != API_OK || now_ms - first_seen < lease_ms)
			break;
		rc = gap_claim(s, cur + 1, upto > cur ? upto : cur + 1, first_seen, &budget, &cur);
	}
	if (cur > start) {
		enum api_err r2 = committed_raise(s, cur, &committed);

		if (r2 == API_OK && committed > cur)
			cur = committed;
		if (rc == API_OK)
			rc = r2;
	}
	*w = cur;
	return rc;
}

enum api_err store_events_gc(struct store *s)
{
	int64_t alloc, committed;
	bson_t q = BSON_INITIALIZER, lte;
	bson_error_t err;
	enum api_err rc;

	rc = counter_read(s, &alloc, &committed);
	if (rc != API_OK || committed == 0)
		return rc;
	BSON_APPEND_DOCUMENT_BEGIN(&q, "hi", &lte);
	BSON_APPEND_INT64(&lte, "$lte", committed);
	bson_append_document_end(&q, &lte);
	if (!mongoc_collection_delete_many(store_coll(s, RANGES), &q, NULL, NULL, &err))
		rc = store_error(&err, "event range cleanup");
	bson_reinit(&q);
	BSON_APPEND_DOCUMENT_BEGIN(&q, "p", &lte);
	BSON_APPEND_INT64(&lte, "$lte", committed);
	bson_append_document_end(&q, &lte);
	if (rc == API_OK && !mongoc_collection_delete_many(store_coll(s, GAPS), &q, NULL, NULL, &err))
		rc = store_error(&err, "event gap cleanup");
	bson_destroy(&q);
	return rc;
}
