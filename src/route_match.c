/* route_match: the matcher, pattern matching over the static route table (route_table.c). */
#include "route.h"

#include <stdio.h>
#include <string.h>

/*
 * Matches pattern against the segments of path (already split into m->segs).
 * Captures "{name}" segments into m->params.
 */
static int route_match_pattern(const char *pattern, const char *segs, size_t nseg,
			       struct route_match *m)
{
	const char *p = pattern + 1, *s = segs;
	size_t i = 0;

	m->nparams = 0;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		if (i == nseg)
			return 0;
		if (p[0] == '{') {
			if (*s == '\0' || m->nparams == API_MAX_PARAMS)
				return 0;
			m->params[m->nparams++] = s;
		} else if (strlen(s) != plen || memcmp(p, s, plen) != 0) {
			return 0;
		}
		s += strlen(s) + 1;
		i++;
		p += plen;
		if (*p == '/')
			p++;
	}
	return i == nseg;
}

enum api_err route_find(const struct route *table, size_t n, const char *method,
			const char *path, int debug, struct route_match *m)
{
	size_t len = strlen(path), nseg = 0, alen = 0;
	int path_seen = 0;

	memset(m, 0, sizeof(*m));
	if (len == 0 || path[0] != '/' || len > HTTP_MAX_PATH)
		return API_ERR_NOT_FOUND;
	/* "/a/b/" is not "/a/b": a trailing slash is a different resource. */
	memcpy(m->segs, path + 1, len);
	for (size_t i = 0; i < len - 1; i++) {
		if (m->segs[i] == '/') {
			m->segs[i] = '\0';
			nseg++;
		}
	}
	nseg++;
	for (size_t i = 0; i < n; i++) {
		const struct route *r = &table[i];

		if ((r->flags & ROUTE_DEBUG) && !debug)
			continue;
		if (!route_match_pattern(r->pattern, m->segs, nseg, m))
			continue;
		if (strcmp(r->method, method) == 0) {
			m->route = r;
			return API_OK;
		}
		path_seen = 1;
		if (!strstr(m->allow, r->method)) {
			int w = snprintf(m->allow + alen, sizeof(m->allow) - alen, "%s%s",
					 alen ? ", " : "", r->method);

			if (w > 0 && (size_t)w < sizeof(m->allow) - alen)
				alen += (size_t)w;
		}
	}
	m->nparams = 0;
	return path_seen ? API_ERR_METHOD_NOT_ALLOWED : API_ERR_NOT_FOUND;
}
