/*
 * store_event_seq: writing events, and the commit sequence behind the
 * polling cursor. docs/events.md explains the design and proves it; in
 * short:
 *
 *   Sequences come in blocks of SEQ_BLOCK. Block k holds the sequences
 *   k*SEQ_BLOCK .. k*SEQ_BLOCK + SEQ_BLOCK - 1; the first is the block's
 *   marker, the others go to the events of one ingest batch.
 *
 *   event_blocks  {_id: "<k>", k, n, at}   block k is allocated (n events, at ms)
 *   event_ranges  {_id: "<k>", k}          every sequence of block k is decided
 *   event_floors  {_id: "<k>", k}          every block up to k is decided
 *   events        the events; markers {_id: "blk_<k>", seq: k*SEQ_BLOCK, tomb: true};
 *                 tombstones {_id: "tomb_<seq>", seq, tomb: true}
 *   counters      {_id: "event_watermark", k}: first undecided block (a cache)
 *
 * Nothing here relies on an atomic read-modify-write (FerretDB has none:
 * concurrent $inc lose updates). Every decision is an insert that a unique
 * index accepts once: the block's record (_id), the block's marker and each
 * event or tombstone (the unique index on events.seq).
 */
#include "store_mongo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util/log.h"
#include "util/timeutil.h"

#define EVENTS "events"
#define BLOCKS "event_blocks"
#define RANGES "event_ranges"
#define FLOORS "event_floors"
#define COUNTERS "counters"
#define SEQ_BLOCK 1024          /* > EVENT_MAX_BATCH: a batch fits one block */
#define ALLOC_ATTEMPTS 64

_Static_assert(SEQ_BLOCK > EVENT_MAX_BATCH, "a batch and its marker fit one block");

static void key_of(int64_t k, char *out, size_t n)
{
	snprintf(out, n, "%" PRId64, k);
}

/* Inserts doc durably; *dup tells a duplicate key (then API_OK). */
static enum api_err insert_unique(struct store *s, const char *coll, const bson_t *doc,
				  bool *dup, const char *what)
{
	bson_t opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_OK;

	*dup = false;
	store_mongo_append_write_concern(s, &opts);
	if (!mongoc_collection_insert_one(store_mongo_coll(s, coll), doc, &opts, NULL, &err)) {
		rc = store_mongo_error(&err, what);
		if (rc == API_ERR_CONFLICT) {
			*dup = true;
			rc = API_OK;
		}
	}
	bson_destroy(&opts);
	return rc;
}

/* The k of the first document of coll sorted on k (dir 1 or -1); -1 when empty. */
static enum api_err edge_k(struct store *s, const char *coll, int dir, int64_t *k)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, doc;
	bool found = false;
	enum api_err rc;

	*k = -1;
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "k", dir);
	bson_append_document_end(&opts, &sort);
	rc = store_mongo_find_one(store_mongo_coll(s, coll), &q, &opts, &doc, &found, "event block edge");
	if (found) {
		*k = store_mongo_get_int(&doc, "k");
		bson_destroy(&doc);
	}
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/* The record of block k in coll: *found, and n and at for event_blocks. */
static enum api_err block_lookup(struct store *s, const char *coll, int64_t k, bool *found,
				 int64_t *n, int64_t *at)
{
	bson_t q = BSON_INITIALIZER, doc;
	bson_iter_t it;
	char key[24];
	enum api_err rc;

	key_of(k, key, sizeof(key));
	BSON_APPEND_UTF8(&q, "_id", key);
	rc = store_mongo_find_one(store_mongo_coll(s, coll), &q, NULL, &doc, found, "event block lookup");
	if (*found) {
		if (n != NULL)
			*n = store_mongo_get_int(&doc, "n");
		if (at != NULL)
			*at = bson_iter_init_find(&it, &doc, "at") && BSON_ITER_HOLDS_DATE_TIME(&it) ?
			      bson_iter_date_time(&it) : 0;
		bson_destroy(&doc);
	}
	bson_destroy(&q);
	return rc;
}

/*
 * Allocates a block for n events: the first free block number after the
 * highest allocated one (an insert the unique _id accepts once), then its
 * marker in events (the unique seq index accepts it once, ever, even after
 * the block records are collected). *k is the block.
 */
static enum api_err block_allocate(struct store *s, int64_t n, int64_t now_ms, int64_t *k)
{
	int64_t cand = -1;
	enum api_err rc = API_OK;

	for (int attempt = 0; attempt < ALLOC_ATTEMPTS && rc == API_OK; attempt++) {
		bson_t doc = BSON_INITIALIZER;
		char key[24], mid[40];
		bool dup = false;

		if (cand < 0 || attempt % 8 == 7) {
			rc = edge_k(s, BLOCKS, -1, &cand);
			if (rc != API_OK)
				break;
			cand++;
		}
		key_of(cand, key, sizeof(key));
		BSON_APPEND_UTF8(&doc, "_id", key);
		BSON_APPEND_INT64(&doc, "k", cand);
		BSON_APPEND_INT64(&doc, "n", n);
		BSON_APPEND_DATE_TIME(&doc, "at", now_ms);
		rc = insert_unique(s, BLOCKS, &doc, &dup, "event block allocation");
		bson_destroy(&doc);
		if (rc != API_OK)
			break;
		if (dup) {
			cand++;
			continue;
		}
		snprintf(mid, sizeof(mid), "blk_%" PRId64, cand);
		bson_init(&doc);
		BSON_APPEND_UTF8(&doc, "_id", mid);
		BSON_APPEND_INT64(&doc, "seq", cand * SEQ_BLOCK);
		BSON_APPEND_BOOL(&doc, "tomb", true);
		rc = insert_unique(s, EVENTS, &doc, &dup, "event block marker");
		bson_destroy(&doc);
		if (rc == API_OK && !dup) {
			*k = cand;
			return API_OK;
		}
		/* A number used before and collected since: start over from the top. */
		cand = -1;
	}
	if (rc == API_OK) {
		log_msg(LOG_WARN, "store: no event block after %d attempts", ALLOC_ATTEMPTS);
		rc = API_ERR_UNAVAILABLE;
	}
	return rc;
}

enum api_err store_mongo_events_allocate(struct store *s, int64_t n, int64_t *lo, int64_t *hi)
{
	int64_t k;
	enum api_err rc = block_allocate(s, n, time_now_ms(), &k);

	if (rc == API_OK) {
		*lo = k * SEQ_BLOCK + 1;
		*hi = k * SEQ_BLOCK + n;
	}
	return rc;
}

/* Records that every sequence of block k is decided. */
static enum api_err range_record(struct store *s, int64_t k)
{
	bson_t doc = BSON_INITIALIZER;
	char key[24];
	bool dup;
	enum api_err rc;

	key_of(k, key, sizeof(key));
	BSON_APPEND_UTF8(&doc, "_id", key);
	BSON_APPEND_INT64(&doc, "k", k);
	rc = insert_unique(s, RANGES, &doc, &dup, "event range record");
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
	ok &= store_mongo_json_append(doc, "details", e->details);
	if (e->external_id)
		ok &= BSON_APPEND_UTF8(doc, "external_id", e->external_id);
	if (e->context)
		ok &= store_mongo_json_append(doc, "context", e->context);
	if (e->related)
		ok &= store_mongo_json_append(doc, "related_events", e->related);
	if (e->action_id[0])
		ok &= BSON_APPEND_UTF8(doc, "aid", e->action_id);
	ok &= BSON_APPEND_BOOL(doc, "ok", e->succeeded);
	return ok;
}

enum write_outcome { WRITE_DONE, WRITE_PARTIAL, WRITE_UNKNOWN };

/*
 * Inspects a failed insert_many. WRITE_PARTIAL: the server answered for
 * every document (writeErrors, no write concern error) and failed[j] holds
 * the error code of each document that did not go in. WRITE_UNKNOWN: the
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

/* Inserts docs[0..m) unordered and durably; reports each document's fate. */
static enum api_err insert_many(struct store *s, bson_t **docs, size_t m, int32_t *failed,
				enum write_outcome *outcome, const char *what)
{
	bson_t opts = BSON_INITIALIZER, reply;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_BOOL(&opts, "ordered", false);
	store_mongo_append_write_concern(s, &opts);
	*outcome = WRITE_DONE;
	if (!mongoc_collection_insert_many(store_mongo_coll(s, EVENTS), (const bson_t **)docs, m,
					   &opts, &reply, &err)) {
		*outcome = insert_outcome(&err, &reply, failed, m);
		if (*outcome == WRITE_UNKNOWN) {
			rc = store_mongo_error(&err, what);
			if (rc == API_OK || rc == API_ERR_CONFLICT)
				rc = API_ERR_UNAVAILABLE;
		}
	}
	bson_destroy(&reply);
	bson_destroy(&opts);
	return rc;
}

/*
 * Inserts tombstones for the sequences seqs[0..n). A duplicate key means
 * the sequence is taken (by its event, its block marker or a tombstone):
 * decided either way. API_OK when every sequence is decided.
 */
static enum api_err tombstones_insert(struct store *s, const int64_t *seqs, size_t n)
{
	bson_t **docs = calloc(n ? n : 1, sizeof(*docs));
	int32_t *failed = calloc(n ? n : 1, sizeof(*failed));
	enum write_outcome outcome;
	enum api_err rc = API_ERR_INTERNAL;

	if (docs == NULL || failed == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char id[40];

		snprintf(id, sizeof(id), "tomb_%" PRId64, seqs[i]);
		docs[i] = BCON_NEW("_id", BCON_UTF8(id), "seq", BCON_INT64(seqs[i]), "tomb", BCON_BOOL(true));
	}
	rc = insert_many(s, docs, n, failed, &outcome, "event tombstones");
	for (size_t i = 0; rc == API_OK && i < n; i++) {
		if (failed[i] != 0 && failed[i] != 11000) {
			log_msg(LOG_ERROR, "store: tombstone %" PRId64 " failed with code %d",
				seqs[i], (int)failed[i]);
			rc = API_ERR_INTERNAL;
		}
	}
out:
	for (size_t i = 0; docs != NULL && i < n; i++)
		bson_destroy(docs[i]);
	free(docs);
	free(failed);
	return rc;
}

/* Decides block k (marker and its n event sequences) by tombstones, then records it. */
static enum api_err block_settle(struct store *s, int64_t k, int64_t n)
{
	int64_t *seqs = calloc((size_t)n + 1, sizeof(*seqs));
	enum api_err rc;

	if (seqs == NULL)
		return API_ERR_INTERNAL;
	for (int64_t i = 0; i <= n; i++)
		seqs[i] = k * SEQ_BLOCK + i;
	rc = tombstones_insert(s, seqs, (size_t)n + 1);
	free(seqs);
	if (rc == API_OK)
		rc = range_record(s, k);
	return rc;
}

/*
 * For the events whose insert hit a duplicate key. When the writer was
 * quick (fast: well within the lease, so no tombstone can be in its block)
 * a duplicate key of an event with an external_id is its id, derived from
 * the tenant and external_id: a duplicate. Otherwise the stored ids are
 * looked up: an event stored with the same idempotency key is a duplicate;
 * any other was not stored (its sequence went to a tombstone): *lost.
 */
static enum api_err resolve_duplicates(struct store *s, struct event_in *ev, size_t *map,
				       int32_t *failed, size_t m, bool fast, bool *lost)
{
	bson_t q = BSON_INITIALIZER, in, opts = BSON_INITIALIZER, proj;
	const char **ids = calloc(m ? m : 1, sizeof(*ids));
	size_t nids = 0, k;
	json_t *found = NULL, *d;
	enum api_err rc = API_OK;

	if (ids == NULL)
		return API_ERR_INTERNAL;
	for (size_t j = 0; j < m; j++) {
		if (failed[j] == 11000 && ev[map[j]].external_id != NULL) {
			ids[nids++] = ev[map[j]].id;
		} else if (failed[j] != 0) {
			log_msg(LOG_WARN, "store: event %s (sequence %" PRId64 ") not stored: code %d",
				ev[map[j]].id, ev[map[j]].seq, (int)failed[j]);
			*lost = true;
		}
	}
	if (nids == 0)
		goto out;
	if (fast) {
		for (size_t j = 0; j < m; j++) {
			if (failed[j] == 11000 && ev[map[j]].external_id != NULL) {
				ev[map[j]].duplicate = true;
				ev[map[j]].seq = 0;
			}
		}
		goto out;
	}
	BSON_APPEND_DOCUMENT_BEGIN(&q, "_id", &in);
	store_mongo_append_str_array(&in, "$in", ids, nids);
	bson_append_document_end(&q, &in);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
	BSON_APPEND_INT32(&proj, "xid", 1);
	bson_append_document_end(&opts, &proj);
	rc = store_mongo_find_json(store_mongo_coll(s, EVENTS), &q, &opts, &found, "event duplicate lookup");
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
			log_msg(LOG_WARN, "store: event %s lost its sequence %" PRId64
				" (the writer was slower than cursor_gap_lease_ms)", e->id, e->seq);
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

/*
 * Keeps databases.last_event_at: per database of the stored events, their
 * newest timestamp, where it is newer than the recorded one (the databases
 * list reads it with the records: issue 9). A failure here leaves the
 * events stored; it is logged, not reported.
 */
static void last_event_record(struct store *s, const struct event_in *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, or, a, b, lt, ex, set;
		bson_error_t err;
		int64_t t = ev[i].timestamp_ms;
		bool first = true;

		if (ev[i].duplicate || ev[i].database_id == NULL)
			continue;
		for (size_t j = 0; j < n && first; j++) {
			if (j == i || ev[j].duplicate || ev[j].database_id == NULL ||
			    strcmp(ev[j].database_id, ev[i].database_id) != 0)
				continue;
			if (j < i)
				first = false; /* done with that database */
			else if (ev[j].timestamp_ms > t)
				t = ev[j].timestamp_ms;
		}
		if (!first)
			continue;
		BSON_APPEND_UTF8(&q, "_id", ev[i].database_id);
		BSON_APPEND_UTF8(&q, "tenant_id", ev[i].tenant);
		BSON_APPEND_ARRAY_BEGIN(&q, "$or", &or);
		BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &a);
		BSON_APPEND_DOCUMENT_BEGIN(&a, "last_event_at", &lt);
		BSON_APPEND_DATE_TIME(&lt, "$lt", t);
		bson_append_document_end(&a, &lt);
		bson_append_document_end(&or, &a);
		BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &b);
		BSON_APPEND_DOCUMENT_BEGIN(&b, "last_event_at", &ex);
		BSON_APPEND_BOOL(&ex, "$exists", false);
		bson_append_document_end(&b, &ex);
		bson_append_document_end(&or, &b);
		bson_append_array_end(&q, &or);
		BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &set);
		BSON_APPEND_DATE_TIME(&set, "last_event_at", t);
		bson_append_document_end(&u, &set);
		if (!mongoc_collection_update_one(store_mongo_coll(s, "databases"), &q, &u, NULL, NULL,
						  &err))
			store_mongo_error(&err, "last event record");
		bson_destroy(&u);
		bson_destroy(&q);
	}
}

enum api_err store_mongo_events_insert(struct store *s, struct event_in *ev, size_t n,
				 int64_t now_ms, int64_t lease_ms)
{
	int64_t started = time_mono_ms();
	bson_t **docs = NULL;
	size_t *map = NULL, m = 0;
	int32_t *failed = NULL;
	int64_t k = 0;
	enum write_outcome outcome;
	bool lost = false, hard = false;
	enum api_err rc = API_OK;

	if (n > EVENT_MAX_BATCH)
		return API_ERR_INTERNAL;
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
	rc = block_allocate(s, (int64_t)m, now_ms, &k);
	if (rc != API_OK)
		goto out;
	for (size_t j = 0; j < m; j++) {
		ev[map[j]].seq = k * SEQ_BLOCK + 1 + (int64_t)j;
		docs[j] = bson_new();
		if (!event_to_bson(&ev[map[j]], now_ms, docs[j])) {
			range_record(s, k); /* nothing written: decided, empty */
			rc = API_ERR_INTERNAL;
			goto out;
		}
	}
	rc = insert_many(s, docs, m, failed, &outcome, "event insert");
	if (rc != API_OK) {
		/* Unknown outcome: settle the block now (a late insert then loses
		 * to the tombstones); if the store is gone, the lease does it. */
		if (block_settle(s, k, (int64_t)m) != API_OK)
			log_msg(LOG_WARN, "store: event block %" PRId64 " left to the lease", k);
		goto out;
	}
	/* Every document's fate is known: the block is decided. */
	if (range_record(s, k) != API_OK)
		log_msg(LOG_WARN, "store: event block %" PRId64 " unrecorded; the lease settles it", k);
	if (outcome == WRITE_PARTIAL) {
		for (size_t j = 0; j < m; j++)
			if (failed[j] != 0 && failed[j] != 11000)
				hard = true;
		/* A quarter of the lease is left for clock skew between hosts. */
		rc = resolve_duplicates(s, ev, map, failed, m,
					time_mono_ms() - started < lease_ms * 3 / 4, &lost);
		if (rc == API_OK && hard)
			rc = API_ERR_INTERNAL;
		else if (rc == API_OK && lost)
			rc = API_ERR_UNAVAILABLE;
	}
	if (rc == API_OK)
		last_event_record(s, ev, n);
out:
	for (size_t j = 0; docs != NULL && j < m; j++)
		bson_destroy(docs[j]);
	free(docs);
	free(map);
	free(failed);
	return rc;
}

/* ---------------------------------------------------------------- watermark */

/* The persisted first undecided block (a cache: it may lag, never lead). */
static enum api_err watermark_read(struct store *s, int64_t *k)
{
	bson_t q = BSON_INITIALIZER, doc;
	bool found = false;
	enum api_err rc;

	*k = 0;
	BSON_APPEND_UTF8(&q, "_id", "event_watermark");
	rc = store_mongo_find_one(store_mongo_coll(s, COUNTERS), &q, NULL, &doc, &found, "event watermark read");
	if (found) {
		*k = store_mongo_get_int(&doc, "k");
		bson_destroy(&doc);
	}
	bson_destroy(&q);
	return rc;
}

static enum api_err watermark_raise(struct store *s, int64_t k)
{
	bson_t q = BSON_INITIALIZER, update = BSON_INITIALIZER, child, opts = BSON_INITIALIZER;
	bson_error_t err;
	enum api_err rc = API_OK;

	BSON_APPEND_UTF8(&q, "_id", "event_watermark");
	BSON_APPEND_DOCUMENT_BEGIN(&update, "$max", &child);
	BSON_APPEND_INT64(&child, "k", k);
	bson_append_document_end(&update, &child);
	BSON_APPEND_BOOL(&opts, "upsert", true);
	if (!mongoc_collection_update_one(store_mongo_coll(s, COUNTERS), &q, &update, &opts, NULL, &err))
		rc = store_mongo_error(&err, "event watermark update");
	if (rc == API_ERR_CONFLICT)
		rc = API_OK; /* two first upserts raced; the other one stored it */
	bson_destroy(&opts);
	bson_destroy(&update);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_events_watermark(struct store *s, int64_t lease_ms, int64_t now_ms,
				    int max_steps, int64_t *w)
{
	int64_t persisted, kmin, k;
	enum api_err rc;

	/* Start from the persisted block, or after the newest floor if the
	 * persisted value lost an update (FerretDB): both only ever hold
	 * blocks below which everything is decided. */
	rc = watermark_read(s, &persisted);
	if (rc == API_OK)
		rc = edge_k(s, FLOORS, -1, &kmin);
	if (rc != API_OK)
		return rc;
	k = persisted > kmin + 1 ? persisted : kmin + 1;
	for (int step = 0; step < max_steps; step++) {
		int64_t n = 0, at = 0;
		bool found;

		rc = block_lookup(s, RANGES, k, &found, NULL, NULL);
		if (rc != API_OK)
			break;
		if (found) {
			k++;
			continue;
		}
		rc = block_lookup(s, BLOCKS, k, &found, &n, &at);
		if (rc != API_OK || !found || now_ms - at < lease_ms)
			break; /* nothing allocated there yet, or its writer may still be at work */
		log_msg(LOG_WARN, "store: settling event block %" PRId64 " undecided for %" PRId64
			" ms (its writer failed or died)", k, now_ms - at);
		rc = block_settle(s, k, n < 0 || n >= SEQ_BLOCK ? SEQ_BLOCK - 1 : n);
		if (rc != API_OK)
			break;
		k++;
	}
	if (k > persisted) {
		enum api_err r2 = watermark_raise(s, k);

		if (rc == API_OK)
			rc = r2;
	}
	*w = k * SEQ_BLOCK;
	return rc;
}

enum api_err store_mongo_events_version(struct store *s, int64_t *version, bool *settled)
{
	int64_t w = 0;
	enum api_err rc = edge_k(s, BLOCKS, -1, version);

	*settled = false;
	if (rc == API_OK)
		rc = watermark_read(s, &w);
	if (rc == API_OK)
		*settled = w > *version;
	return rc;
}

enum api_err store_mongo_events_invalidate(struct store *s)
{
	int64_t k;
	enum api_err rc = block_allocate(s, 0, time_now_ms(), &k);

	if (rc == API_OK)
		rc = range_record(s, k);
	return rc;
}

enum api_err store_mongo_events_allocated(struct store *s, int64_t *seq)
{
	int64_t k;
	enum api_err rc = edge_k(s, BLOCKS, -1, &k);

	*seq = (k + 1) * SEQ_BLOCK;
	return rc;
}

enum api_err store_mongo_events_gc(struct store *s)
{
	int64_t k, f;
	bson_t q = BSON_INITIALIZER, lt, doc = BSON_INITIALIZER;
	bson_error_t err;
	char key[24];
	bool dup;
	enum api_err rc;

	/*
	 * Every block before the persisted watermark k is decided: write the
	 * floor k-1 first (walkers start after it), then drop the records
	 * below it. The block record k-1 stays: allocation starts above the
	 * highest block record.
	 */
	rc = watermark_read(s, &k);
	if (rc != API_OK || k < 2)
		return rc;
	f = k - 1;
	key_of(f, key, sizeof(key));
	BSON_APPEND_UTF8(&doc, "_id", key);
	BSON_APPEND_INT64(&doc, "k", f);
	rc = insert_unique(s, FLOORS, &doc, &dup, "event floor");
	bson_destroy(&doc);
	if (rc != API_OK)
		return rc;
	BSON_APPEND_DOCUMENT_BEGIN(&q, "k", &lt);
	BSON_APPEND_INT64(&lt, "$lt", f);
	bson_append_document_end(&q, &lt);
	if (!mongoc_collection_delete_many(store_mongo_coll(s, RANGES), &q, NULL, NULL, &err))
		rc = store_mongo_error(&err, "event range cleanup");
	if (rc == API_OK && !mongoc_collection_delete_many(store_mongo_coll(s, BLOCKS), &q, NULL, NULL, &err))
		rc = store_mongo_error(&err, "event block cleanup");
	if (rc == API_OK && !mongoc_collection_delete_many(store_mongo_coll(s, FLOORS), &q, NULL, NULL, &err))
		rc = store_mongo_error(&err, "event floor cleanup");
	bson_destroy(&q);
	return rc;
}

/* ---------------------------------------------------------------- export, import */

enum api_err store_mongo_events_scan(struct store *s, const char *tenant, int64_t after,
				     int64_t limit, json_t **items)
{
	bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, gt, ne, sort;
	enum api_err rc;

	if (tenant != NULL)
		BSON_APPEND_UTF8(&q, "tenant_id", tenant);
	BSON_APPEND_DOCUMENT_BEGIN(&q, "seq", &gt);
	BSON_APPEND_INT64(&gt, "$gt", after);
	bson_append_document_end(&q, &gt);
	BSON_APPEND_DOCUMENT_BEGIN(&q, "tomb", &ne);
	BSON_APPEND_BOOL(&ne, "$ne", true);
	bson_append_document_end(&q, &ne);
	BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
	BSON_APPEND_INT32(&sort, "seq", 1);
	bson_append_document_end(&opts, &sort);
	BSON_APPEND_INT64(&opts, "limit", limit);
	rc = store_mongo_find_json(store_mongo_coll(s, EVENTS), &q, &opts, items, "event export");
	bson_destroy(&opts);
	bson_destroy(&q);
	return rc;
}

/* Whether events holds id with sequence seq. */
static enum api_err same_event(struct store *s, const char *id, int64_t seq, bool *same)
{
	bson_t q = BSON_INITIALIZER, doc;
	enum api_err rc;

	BSON_APPEND_UTF8(&q, "_id", id);
	BSON_APPEND_INT64(&q, "seq", seq);
	rc = store_mongo_find_one(store_mongo_coll(s, EVENTS), &q, NULL, &doc, same, "event import");
	if (*same)
		bson_destroy(&doc);
	bson_destroy(&q);
	return rc;
}

enum api_err store_mongo_events_import(struct store *s, struct event_in *ev,
				       const int64_t *processed_ms, size_t n)
{
	bson_t **docs = calloc(n ? n : 1, sizeof(*docs));
	int32_t *failed = calloc(n ? n : 1, sizeof(*failed));
	enum write_outcome outcome;
	int64_t kmax = -1, k = -1;
	enum api_err rc = docs && failed ? API_OK : API_ERR_INTERNAL;

	for (size_t i = 0; rc == API_OK && i < n; i++) {
		docs[i] = bson_new();
		if (!event_to_bson(&ev[i], processed_ms[i], docs[i]))
			rc = API_ERR_INTERNAL;
		if (ev[i].seq / SEQ_BLOCK > kmax)
			kmax = ev[i].seq / SEQ_BLOCK;
	}
	if (rc == API_OK && n > 0)
		rc = insert_many(s, docs, n, failed, &outcome, "event import");
	for (size_t i = 0; rc == API_OK && i < n; i++) {
		bool same = false;

		if (failed[i] == 0)
			continue;
		rc = failed[i] == 11000 ? same_event(s, ev[i].id, ev[i].seq, &same) : API_ERR_INTERNAL;
		if (rc == API_OK && !same) {
			log_msg(LOG_ERROR, "store: import: event %s or its sequence %" PRId64
				" is taken by another event", ev[i].id, ev[i].seq);
			rc = API_ERR_CONFLICT;
		}
	}
	/*
	 * Every block up to the batch's is decided now: record them (from the
	 * first unrecorded one, so gaps between batches are covered) and their
	 * allocation, so that the watermark passes them and new batches are
	 * numbered above.
	 */
	if (rc == API_OK && kmax >= 0)
		rc = edge_k(s, RANGES, -1, &k);
	for (k = k + 1; rc == API_OK && kmax >= 0 && k <= kmax; k++) {
		bson_t doc = BSON_INITIALIZER;
		char key[24];
		bool dup;

		key_of(k, key, sizeof(key));
		BSON_APPEND_UTF8(&doc, "_id", key);
		BSON_APPEND_INT64(&doc, "k", k);
		BSON_APPEND_INT64(&doc, "n", 0);
		BSON_APPEND_DATE_TIME(&doc, "at", time_now_ms());
		rc = insert_unique(s, BLOCKS, &doc, &dup, "event import block");
		bson_destroy(&doc);
		if (rc == API_OK)
			rc = range_record(s, k);
	}
	for (size_t i = 0; docs != NULL && i < n; i++)
		if (docs[i] != NULL)
			bson_destroy(docs[i]);
	free(docs);
	free(failed);
	return rc;
}
