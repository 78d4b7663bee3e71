/*
 * store_json: conversions between stored BSON and the JSON the API speaks.
 * Dates become RFC 3339 strings; everything a client sent (details,
 * options) round-trips.
 */
#include "store_mongo.h"

#include <math.h>
#include <string.h>

#include "util/timeutil.h"

static json_t *value_to_json(bson_iter_t *it);

static json_t *doc_to_json(bson_iter_t *child, bool array)
{
	json_t *out = array ? json_array() : json_object();

	while (out != NULL && bson_iter_next(child)) {
		json_t *v = value_to_json(child);

		if (v == NULL)
			continue; /* a type the API never stores */
		if (array)
			json_array_append_new(out, v);
		else
			json_object_set_new(out, bson_iter_key(child), v);
	}
	return out;
}

static json_t *value_to_json(bson_iter_t *it)
{
	bson_iter_t child;
	char ts[TIME_RFC3339_LEN];

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UTF8:
		return json_stringn(bson_iter_utf8(it, NULL), strlen(bson_iter_utf8(it, NULL)));
	case BSON_TYPE_INT32:
		return json_integer(bson_iter_int32(it));
	case BSON_TYPE_INT64:
		return json_integer(bson_iter_int64(it));
	case BSON_TYPE_DOUBLE:
		return isfinite(bson_iter_double(it)) ? json_real(bson_iter_double(it)) : json_null();
	case BSON_TYPE_BOOL:
		return json_boolean(bson_iter_bool(it));
	case BSON_TYPE_NULL:
		return json_null();
	case BSON_TYPE_DATE_TIME:
		time_format_rfc3339(bson_iter_date_time(it), ts);
		return json_string(ts);
	case BSON_TYPE_DOCUMENT:
		return bson_iter_recurse(it, &child) ? doc_to_json(&child, false) : NULL;
	case BSON_TYPE_ARRAY:
		return bson_iter_recurse(it, &child) ? doc_to_json(&child, true) : NULL;
	default:
		return NULL;
	}
}

json_t *store_mongo_bson_to_json(const bson_t *doc)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, doc))
		return NULL;
	return doc_to_json(&it, false);
}

json_t *store_mongo_iter_to_json(bson_iter_t *it)
{
	return value_to_json(it);
}

bool store_mongo_json_append(bson_t *b, const char *key, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return bson_append_utf8(b, key, -1, json_string_value(v), (int)json_string_length(v));
	case JSON_INTEGER:
		return bson_append_int64(b, key, -1, json_integer_value(v));
	case JSON_REAL:
		return bson_append_double(b, key, -1, json_real_value(v));
	case JSON_TRUE:
	case JSON_FALSE:
		return bson_append_bool(b, key, -1, json_is_true(v));
	case JSON_NULL:
		return bson_append_null(b, key, -1);
	case JSON_OBJECT: {
		bson_t child;
		const char *k;
		json_t *cv;
		bool ok = bson_append_document_begin(b, key, -1, &child);

		json_object_foreach(v, k, cv)
			ok = ok && store_mongo_json_append(&child, k, cv);
		return bson_append_document_end(b, &child) && ok;
	}
	case JSON_ARRAY: {
		bson_t child;
		char idx[16];
		const char *ik;
		size_t i;
		json_t *cv;
		bool ok = bson_append_array_begin(b, key, -1, &child);

		json_array_foreach(v, i, cv) {
			bson_uint32_to_string((uint32_t)i, &ik, idx, sizeof(idx));
			ok = ok && store_mongo_json_append(&child, ik, cv);
		}
		return bson_append_array_end(b, &child) && ok;
	}
	}
	return false;
}
