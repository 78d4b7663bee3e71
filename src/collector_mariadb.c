/*
 * collector_mariadb: records of the MariaDB audit plugin (server_audit,
 * file output) to events. A record is one line:
 *   timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode
 * QUERY's object is the statement in single quotes with backslash escapes.
 * TABLE records (READ, WRITE, CREATE, ALTER, DROP, RENAME) come before the
 * QUERY record of the same connection and query id: they are held and
 * joined to it as details.objects.
 */
#include "collector_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/str.h"

struct maria_rec {
	const char *f[8];      /* the eight fields before the object */
	size_t n[8];
	const char *obj;       /* raw object, quotes included */
	size_t objn;
	const char *ret;
	size_t retn;
};

/* Splits a record; the object may hold commas when quoted. Returns 0 or -1. */
static int maria_split(const char *s, size_t len, struct maria_rec *r)
{
	size_t i = 0;

	for (int k = 0; k < 8; k++) {
		const char *c = memchr(s + i, ',', len - i);

		if (c == NULL)
			return -1;
		r->f[k] = s + i;
		r->n[k] = (size_t)(c - (s + i));
		i = (size_t)(c - s) + 1;
	}
	r->obj = s + i;
	if (i < len && s[i] == '\'') {
		for (i++; i < len && s[i] != '\''; i++)
			if (s[i] == '\\')
				i++;
		if (i >= len)
			return -1;
		i++;
		if (i < len && s[i] != ',')
			return -1;
	} else {
		const char *c = memrchr(s + i, ',', len - i);

		if (c == NULL)
			return -1;
		i = (size_t)(c - s);
	}
	r->objn = (size_t)(s + i - r->obj);
	r->ret = i < len ? s + i + 1 : s + len;
	r->retn = (size_t)(s + len - r->ret);
	return 0;
}

static bool field_is(const struct maria_rec *r, int k, const char *word)
{
	return r->n[k] == strlen(word) && memcmp(r->f[k], word, r->n[k]) == 0;
}

/* "20261204 15:03:59" in UTC or the collector's local time. */
static int maria_time(const struct collector_parser *p, const char *s, size_t n, int64_t *ms)
{
	struct tm tm;
	char tmp[32];
	char *end;
	time_t t;

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(tmp, "%Y%m%d %H:%M:%S", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	tm.tm_isdst = -1;
	t = p->utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000;
	return 0;
}

/* The statement inside the quotes, unescaped; malloc'ed, *outn its length. */
static char *maria_unquote(const char *s, size_t n, size_t *outn)
{
	struct buf b;

	buf_init(&b);
	if (buf_append(&b, "", 0) != 0)
		return NULL;
	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		s++;
		n -= 2;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < n) {
			char e = s[++i];

			c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e == '0' ? '\0' : e;
			if (e != 'n' && e != 'r' && e != 't' && e != '0' && e != '\\' && e != '\'' &&
			    buf_append(&b, "\\", 1) != 0)
				goto fail;
		}
		if (buf_append(&b, &c, 1) != 0)
			goto fail;
	}
	*outn = b.len;
	return buf_steal(&b);
fail:
	buf_cleanup(&b);
	return NULL;
}

static uint64_t field_u64(const struct maria_rec *r, int k)
{
	char tmp[24];
	size_t n = r->n[k] < sizeof(tmp) - 1 ? r->n[k] : sizeof(tmp) - 1;

	memcpy(tmp, r->f[k], n);
	tmp[n] = '\0';
	return strtoull(tmp, NULL, 10);
}

static void copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Holds a TABLE record; the oldest goes when the table is full. */
static void maria_hold(struct collector_parser *p, const struct maria_rec *r, int64_t off)
{
	struct collector_held *h;

	if (p->nheld == COLLECTOR_HELD_MAX) {
		memmove(p->held, p->held + 1, (COLLECTOR_HELD_MAX - 1) * sizeof(p->held[0]));
		p->nheld--;
	}
	h = &p->held[p->nheld++];
	h->off = off;
	h->conn = field_u64(r, 4);
	h->query = field_u64(r, 5);
	copy_field(h->op, sizeof(h->op), r->f[6], r->n[6]);
	copy_field(h->db, sizeof(h->db), r->f[7], r->n[7]);
	copy_field(h->obj, sizeof(h->obj), r->obj, r->objn);
}

/* The server's own tables (privileges, statistics) name no object of a statement. */
static bool system_schema(const char *db)
{
	return strcmp(db, "mysql") == 0 || strcmp(db, "information_schema") == 0 ||
	       strcmp(db, "performance_schema") == 0 || strcmp(db, "sys") == 0;
}

/*
 * Moves the held TABLE records of this connection into details: those of
 * this query become details.objects (the first outside the server's own
 * schemas names schema_name and object_name); those of an older query of the connection are dropped, as
 * their QUERY record will not come.
 */
static int maria_join(struct collector_parser *p, uint64_t conn, uint64_t query, json_t *d)
{
	json_t *objs = NULL;
	size_t keep = 0;
	bool named = false;
	int rc = -1;

	for (size_t i = 0; i < p->nheld; i++) {
		struct collector_held *h = &p->held[i];

		if (h->conn != conn) {
			p->held[keep++] = *h;
			continue;
		}
		if (h->query != query)
			continue;
		if (objs == NULL && (objs = json_array()) == NULL)
			goto out;
		if (!named && !system_schema(h->db)) {
			named = true;
			if (collector_put_field(d, "schema_name", h->db, strlen(h->db)) != 0 ||
			    collector_put_field(d, "object_name", h->obj, strlen(h->obj)) != 0)
				goto out;
		}
		if (json_array_size(objs) < COLLECTOR_OBJECTS_MAX) {
			json_t *o = json_object();

			if (o == NULL || json_array_append_new(objs, o) != 0 ||
			    collector_put_field(o, "operation", h->op, strlen(h->op)) != 0 ||
			    collector_put_field(o, "schema_name", h->db, strlen(h->db)) != 0 ||
			    collector_put_field(o, "object_name", h->obj, strlen(h->obj)) != 0)
				goto out;
		}
	}
	p->nheld = keep;
	if (objs != NULL && json_object_set(d, "objects", objs) != 0)
		goto out;
	rc = 0;
out:
	json_decref(objs);
	return rc;
}

static int put_common(json_t *ev, json_t *d, const struct maria_rec *r)
{
	return collector_put_field(d, "server_instance_name", r->f[1], r->n[1]) != 0 ||
	       collector_put_field(d, "user", r->f[2], r->n[2]) != 0 ||
	       collector_put_host(d, r->f[3], r->n[3]) != 0 ||
	       collector_put_field(d, "session_id", r->f[4], r->n[4]) != 0 ||
	       collector_put_top(ev, "database_name", r->f[7], r->n[7]) != 0 ? -1 : 0;
}

static int put_retcode(json_t *d, const struct maria_rec *r)
{
	bool ok = r->retn == 1 && r->ret[0] == '0';

	if (json_object_set_new(d, "succeeded", json_boolean(ok)) != 0)
		return -1;
	if (!ok && r->retn > 0 && collector_put_field(d, "error_code", r->ret, r->retn) != 0)
		return -1;
	return 0;
}

static int maria_query(struct collector_parser *p, const struct maria_rec *r, json_t *d)
{
	size_t qn = 0;
	char *q = maria_unquote(r->obj, r->objn, &qn);
	const char *aid;
	int rc = -1;

	if (q == NULL)
		return -1;
	if (collector_put_text(d, "query", q, qn, COLLECTOR_QUERY_MAX) != 0 ||
	    json_object_set_new(d, "query_id", json_integer((json_int_t)field_u64(r, 5))) != 0 ||
	    put_retcode(d, r) != 0)
		goto out;
	aid = collector_action_id(q, qn);
	if (aid != NULL && json_object_set_new(d, "action_id", json_string(aid)) != 0)
		goto out;
	rc = maria_join(p, field_u64(r, 4), field_u64(r, 5), d);
out:
	free(q);
	return rc;
}

enum api_err collector_mariadb_feed(struct collector_parser *p, const char *rec, size_t len,
				    int64_t off, json_t **out, int64_t *event_off,
				    char *warn, size_t warnlen)
{
	struct maria_rec r;
	const char *type = NULL, *aid = NULL;
	json_t *ev = NULL, *d = NULL;
	int64_t ts;
	enum api_err err = API_OK;

	*event_off = off;
	if (maria_split(rec, len, &r) != 0 || maria_time(p, r.f[0], r.n[0], &ts) != 0) {
		collector_warn(warn, warnlen, "not a MariaDB audit record");
		return API_OK;
	}
	if (field_is(&r, 6, "QUERY")) {
		type = "database.query";
	} else if (field_is(&r, 6, "CONNECT")) {
		bool ok = r.retn == 1 && r.ret[0] == '0';

		type = ok ? "user.login_success" : "user.login_failed";
		aid = ok ? "LGIS" : "LGIF";
	} else if (field_is(&r, 6, "FAILED_CONNECT")) {
		type = "user.login_failed";
		aid = "LGIF";
	} else if (field_is(&r, 6, "DISCONNECT")) {
		type = "database.disconnect";
		aid = "LO";
	} else if (field_is(&r, 6, "READ") || field_is(&r, 6, "WRITE") ||
		   field_is(&r, 6, "CREATE") || field_is(&r, 6, "ALTER") ||
		   field_is(&r, 6, "DROP") || field_is(&r, 6, "RENAME")) {
		maria_hold(p, &r, off);
		return API_OK;
	} else {
		return API_OK;
	}
	if (collector_event_new(type, ts, &ev, &d) != 0 || put_common(ev, d, &r) != 0)
		goto fail;
	if (aid != NULL) {
		if (json_object_set_new(d, "action_id", json_string(aid)) != 0)
			goto fail;
		if (strcmp(aid, "LO") != 0 && put_retcode(d, &r) != 0)
			goto fail;
	} else if (maria_query(p, &r, d) != 0) {
		goto fail;
	}
	*out = ev;
	return API_OK;
fail:
	err = API_ERR_INTERNAL;
	json_decref(ev);
	return err;
}
