/*
 * collector_source: following one log, its queue and its checkpoint.
 *
 * Files are told apart by a fingerprint: the first 16 hex digits of the
 * SHA-256 of their first line (at most 1 KiB). A file renamed by rotation,
 * and the copy that copy-and-truncate leaves, keep the fingerprint, so the
 * checkpoint and the external ids stay valid; the truncated original gets a
 * new first line and so a new identity. A file whose first line is not
 * complete yet is not read.
 *
 * Two maps fingerprint -> offset: ckpt (acknowledged, on disk) and seen
 * (read, in memory). Reading resumes from seen, a restart from ckpt.
 */
#include "collector_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/timeutil.h"

#define FP_LEN 16
#define FP_HEAD 1024
#define READ_CHUNK 65536
#define SCAN_EVERY_MS 250
#define CKPT_MAX_FILES 512

struct qev {
	json_t *ev;
	char fp[FP_LEN + 1];
	int64_t resume;    /* reading again from here reproduces what follows the event */
	int64_t read_ms;
};

struct cand {
	char *path;
	char fp[FP_LEN + 1];
	int64_t size;
	struct timespec mtime;
	dev_t dev;
	ino_t ino;
};

struct collector_source {
	const struct collector_source_conf *sc;
	char *state_path;
	char *tmp_path;
	char *reject_path;
	char *state_dir;
	struct collector_parser *parser;
	int64_t idle_ms;

	int fd;                 /* the file being read, or -1 */
	dev_t dev;
	ino_t ino;
	char fp[FP_LEN + 1];
	char *cur_path;
	int64_t pos;            /* bytes of the file read; pend holds the last pend.len */
	struct buf pend;
	int64_t grew_ms;
	bool skipping;          /* inside an over-long record: drop up to the next newline */

	json_t *ckpt;
	json_t *seen;
	json_t *present;        /* fingerprints of the last scan */
	bool dirty;
	int64_t written_ms;
	int64_t scanned_ms;

	struct qev *q;
	size_t qhead, qlen, qcap;

	bool missing, denied, paused, caught_up;
};

static int64_t map_get(json_t *m, const char *fp)
{
	json_t *v = json_object_get(m, fp);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static int map_raise(json_t *m, const char *fp, int64_t off, bool *changed)
{
	if (map_get(m, fp) >= off)
		return 0;
	if (changed != NULL)
		*changed = true;
	return json_object_set_new(m, fp, json_integer((json_int_t)off));
}

static char *path_join(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b);
	if (buf_appendf(&b, "%s/%s", dir, name) != 0) {
		buf_cleanup(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* Fingerprint of the file open at fd; 1 when its first line is not complete yet. */
static int fingerprint(int fd, char *fp)
{
	char head[FP_HEAD];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	const char *nl;
	size_t len;

	if (n < 0)
		return -1;
	nl = memchr(head, '\n', (size_t)n);
	if (nl == NULL && (size_t)n < sizeof(head))
		return 1;
	len = nl != NULL ? (size_t)(nl - head) + 1 : sizeof(head);
	if (!EVP_Digest(head, len, md, &mdlen, EVP_sha256(), NULL))
		return -1;
	str_hex(md, 16, hex);
	memcpy(fp, hex, FP_LEN);
	fp[FP_LEN] = '\0';
	return 0;
}

static bool is_candidate_name(const struct collector_source *s, const char *name,
			      const char *base, bool dir_mode)
{
	static const char *const packed[] = { ".gz", ".bz2", ".xz", ".zst", ".zip", ".tmp" };
	size_t n = strlen(name), bl;

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		size_t pl = strlen(packed[i]);

		if (n > pl && strcmp(name + n - pl, packed[i]) == 0)
			return false;
	}
	if (dir_mode)
		return s->sc->pattern == NULL || fnmatch(s->sc->pattern, name, 0) == 0;
	bl = strlen(base);
	return strcmp(name, base) == 0 ||
	       (n > bl + 1 && strncmp(name, base, bl) == 0 && (name[bl] == '.' || name[bl] == '-'));
}

static void cands_free(struct cand *c, size_t n)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

/* Lists the files of the source whose first line is complete. */
static int list_cands(struct collector_source *s, struct cand **out, size_t *nout)
{
	struct stat st;
	bool dir_mode;
	char *copy = NULL, *dirp, *base = NULL;
	DIR *d = NULL;
	struct dirent *e;
	struct cand *c = NULL;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	dir_mode = stat(s->sc->path, &st) == 0 && S_ISDIR(st.st_mode);
	copy = strdup(s->sc->path);
	base = strdup(s->sc->path);
	if (copy == NULL || base == NULL)
		goto out;
	dirp = dir_mode ? s->sc->path : dirname(copy);
	d = opendir(dirp);
	if (d == NULL) {
		if (errno == EACCES)
			s->denied = true;
		rc = 0;
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		struct cand *nc;
		char *p;
		int fd;

		if (!is_candidate_name(s, e->d_name, basename(base), dir_mode))
			continue;
		p = path_join(dirp, e->d_name);
		if (p == NULL)
			goto out;
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == EACCES)
				s->denied = true;
			free(p);
			continue;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			free(p);
			continue;
		}
		nc = realloc(c, (n + 1) * sizeof(*c));
		if (nc == NULL) {
			close(fd);
			free(p);
			goto out;
		}
		c = nc;
		memset(&c[n], 0, sizeof(c[n]));
		if (fingerprint(fd, c[n].fp) != 0) {
			close(fd);
			free(p);
			continue;
		}
		close(fd);
		c[n].path = p;
		c[n].size = (int64_t)st.st_size;
		c[n].mtime = st.st_mtim;
		c[n].dev = st.st_dev;
		c[n].ino = st.st_ino;
		n++;
	}
	*out = c;
	*nout = n;
	c = NULL;
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	cands_free(c, n);
	free(copy);
	free(base);
	return rc;
}

static int64_t offset_of(const struct collector_source *s, const char *fp)
{
	int64_t off = map_get(s->seen, fp);

	if (off < 0)
		off = map_get(s->ckpt, fp);
	return off < 0 ? 0 : off;
}

/* Offset from which reading the current file again loses nothing held. */
static int64_t safe_offset(const struct collector_source *s)
{
	int64_t consumed = s->pos - (int64_t)s->pend.len;
	int64_t hold = collector_parser_hold(s->parser);

	return hold >= 0 && hold < consumed ? hold : consumed;
}

static void reader_close(struct collector_source *s)
{
	if (s->fd < 0)
		return;
	json_object_set_new(s->seen, s->fp, json_integer((json_int_t)(s->pos - (int64_t)s->pend.len)));
	close(s->fd);
	s->fd = -1;
	free(s->cur_path);
	s->cur_path = NULL;
	s->pend.len = 0;
	s->skipping = false;
	collector_parser_reset(s->parser);
}

static int reader_open(struct collector_source *s, const struct cand *c)
{
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char fp[FP_LEN + 1];

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || fingerprint(fd, fp) != 0 || strcmp(fp, c->fp) != 0) {
		close(fd);
		return -1;
	}
	s->cur_path = strdup(c->path);
	if (s->cur_path == NULL) {
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	memcpy(s->fp, fp, sizeof(fp));
	s->pos = offset_of(s, fp);
	s->grew_ms = time_mono_ms();
	log_msg(LOG_INFO, "source %s: reading %s (file %s) from offset %lld", s->sc->name,
		c->path, fp, (long long)s->pos);
	return 0;
}

/*
 * Picks the file to read: the one with unread bytes and the oldest
 * modification time (of two with one fingerprint, the longer).
 */
static enum api_err scan(struct collector_source *s)
{
	struct cand *c = NULL;
	size_t n = 0;
	const struct cand *best = NULL;
	bool was_missing = s->missing, was_denied = s->denied;
	enum api_err err = API_OK;

	s->denied = false;
	s->scanned_ms = time_mono_ms();
	if (list_cands(s, &c, &n) != 0)
		return API_ERR_INTERNAL;
	s->missing = n == 0 && access(s->sc->path, F_OK) != 0;
	json_object_clear(s->present);
	for (size_t i = 0; i < n; i++) {
		json_object_set_new(s->present, c[i].fp, json_true());
		if (c[i].size <= offset_of(s, c[i].fp) ||
		    (s->fd >= 0 && strcmp(c[i].fp, s->fp) == 0 && c[i].size <= s->pos))
			continue;
		if (best == NULL)
			best = &c[i];
		else if (strcmp(best->fp, c[i].fp) == 0)
			best = c[i].size > best->size ? &c[i] : best;
		else if (c[i].mtime.tv_sec < best->mtime.tv_sec ||
			 (c[i].mtime.tv_sec == best->mtime.tv_sec &&
			  c[i].mtime.tv_nsec < best->mtime.tv_nsec))
			best = &c[i];
	}
	if (s->missing && !was_missing)
		log_msg(LOG_WARN, "source %s: no log file at %s; waiting for one", s->sc->name, s->sc->path);
	if (s->denied && !was_denied)
		log_msg(LOG_ERROR, "source %s: permission denied reading %s", s->sc->name, s->sc->path);
	s->caught_up = best == NULL;
	if (best != NULL && !(s->fd >= 0 && strcmp(best->fp, s->fp) == 0 && best->dev == s->dev &&
			      best->ino == s->ino)) {
		reader_close(s);
		if (reader_open(s, best) != 0)
			s->caught_up = false;
	}
	cands_free(c, n);
	return err;
}

static enum api_err queue_push(struct collector_source *s, json_t *ev, int64_t off, int64_t resume)
{
	char xid[160];
	struct qev *e;

	if (s->qhead > 0 && s->qhead + s->qlen == s->qcap) {
		memmove(s->q, s->q + s->qhead, s->qlen * sizeof(*s->q));
		s->qhead = 0;
	}
	if (s->qhead + s->qlen == s->qcap) {
		size_t cap = s->qcap == 0 ? 256 : s->qcap * 2;
		struct qev *nq = realloc(s->q, cap * sizeof(*nq));

		if (nq == NULL)
			return API_ERR_INTERNAL;
		s->q = nq;
		s->qcap = cap;
	}
	snprintf(xid, sizeof(xid), "%s:%s:%lld", s->sc->database_id, s->fp, (long long)off);
	if (json_object_set_new(ev, "external_id", json_string(xid)) != 0 ||
	    json_object_set_new(ev, "database_id", json_string(s->sc->database_id)) != 0)
		return API_ERR_INTERNAL;
	e = &s->q[s->qhead + s->qlen++];
	e->ev = ev;
	memcpy(e->fp, s->fp, sizeof(e->fp));
	e->resume = resume;
	e->read_ms = time_mono_ms();
	return API_OK;
}

/* Parses the complete records in pend; stops when the queue is full. */
static enum api_err drain_records(struct collector_source *s, size_t max_queue, bool final,
				  size_t *added)
{
	int64_t base = s->pos - (int64_t)s->pend.len;
	size_t i = 0;
	enum api_err err = API_OK;

	if (s->skipping) {
		const char *nl = s->pend.len > 0 ? memchr(s->pend.data, '\n', s->pend.len) : NULL;

		if (nl == NULL) {
			s->pend.len = 0;
			return API_OK;
		}
		i = (size_t)(nl - s->pend.data) + 1;
		s->skipping = false;
	}
	while (s->qlen < max_queue && i < s->pend.len) {
		size_t len = collector_record_len(s->parser, s->pend.data + i, s->pend.len - i, final);
		json_t *ev = NULL;
		int64_t eoff = 0, hold;
		char warn[256];

		if (len == 0)
			break;
		err = collector_parser_feed(s->parser, s->pend.data + i, len, base + (int64_t)i, &ev,
					    &eoff, warn, sizeof(warn));
		if (err != API_OK)
			break;
		if (warn[0] != '\0')
			log_msg(LOG_WARN, "source %s: %s at offset %lld of %s", s->sc->name, warn,
				(long long)(base + (int64_t)i), s->cur_path);
		i += len;
		if (ev != NULL) {
			hold = collector_parser_hold(s->parser);
			err = queue_push(s, ev, eoff, hold >= 0 && hold < base + (int64_t)i ? hold : base + (int64_t)i);
			if (err != API_OK) {
				json_decref(ev);
				break;
			}
			(*added)++;
		}
	}
	memmove(s->pend.data, s->pend.data + i, s->pend.len - i);
	s->pend.len -= i;
	if (s->pend.len > COLLECTOR_RECORD_MAX) {
		log_msg(LOG_ERROR, "source %s: a record at offset %lld of %s is longer than %u bytes: skipped",
			s->sc->name, (long long)(s->pos - (int64_t)s->pend.len), s->cur_path,
			COLLECTOR_RECORD_MAX);
		s->pend.len = 0;
		s->skipping = true;
	}
	return err;
}

/*
 * True while the open file still starts with the line it was identified by:
 * a file truncated and written again past the read position has a new one.
 */
static bool same_file(const struct collector_source *s)
{
	char fp[FP_LEN + 1];

	return fingerprint(s->fd, fp) == 0 && strcmp(fp, s->fp) == 0;
}

enum api_err collector_source_poll(struct collector_source *s, size_t max_queue,
				   size_t max_bytes, size_t *added)
{
	struct stat st;
	size_t got = 0;
	bool eof = false, was_paused = s->paused;
	enum api_err err = API_OK;
	char *chunk = NULL;

	*added = 0;
	s->paused = s->qlen >= max_queue;
	if (s->paused && !was_paused)
		log_msg(LOG_WARN, "source %s: %zu events wait for the API: reading stopped", s->sc->name,
			s->qlen);
	if (!s->paused && was_paused)
		log_msg(LOG_INFO, "source %s: reading again", s->sc->name);
	if (s->paused)
		return API_OK;
	if (s->fd >= 0 && fstat(s->fd, &st) == 0 &&
	    ((int64_t)st.st_size < s->pos ||
	     ((int64_t)st.st_size > s->pos && !same_file(s)))) {
		log_msg(LOG_INFO, "source %s: %s was truncated (copy-and-truncate rotation)",
			s->sc->name, s->cur_path);
		reader_close(s);
	}
	if (s->fd < 0 || time_mono_ms() - s->scanned_ms >= SCAN_EVERY_MS) {
		err = scan(s);
		if (err != API_OK)
			return err;
	}
	if (s->fd < 0)
		return API_OK;
	chunk = malloc(READ_CHUNK);
	if (chunk == NULL)
		return API_ERR_INTERNAL;
	while (got < max_bytes && s->qlen < max_queue) {
		ssize_t r = pread(s->fd, chunk, READ_CHUNK, s->pos);

		if (r < 0) {
			log_msg(LOG_ERROR, "source %s: reading %s failed", s->sc->name, s->cur_path);
			break;
		}
		if (r == 0)
			eof = true;
		else if (buf_append(&s->pend, chunk, (size_t)r) != 0) {
			err = API_ERR_INTERNAL;
			break;
		}
		s->pos += r;
		got += (size_t)r;
		if (r > 0)
			s->grew_ms = time_mono_ms();
		err = drain_records(s, max_queue, eof && time_mono_ms() - s->grew_ms >= s->idle_ms, added);
		if (err != API_OK || eof)
			break;
	}
	free(chunk);
	if (s->fd >= 0)
		json_object_set_new(s->seen, s->fp, json_integer((json_int_t)s->pos));
	if (!eof)
		s->caught_up = false;
	return err;
}

size_t collector_source_queued(const struct collector_source *s)
{
	return s->qlen;
}

int64_t collector_source_oldest_ms(const struct collector_source *s)
{
	return s->qlen == 0 ? -1 : s->q[s->qhead].read_ms;
}

bool collector_source_caught_up(const struct collector_source *s)
{
	return s->caught_up && (s->pend.len == 0 || time_mono_ms() - s->grew_ms >= s->idle_ms);
}

json_t *collector_source_batch(struct collector_source *s, size_t from, size_t n, size_t *count)
{
	json_t *arr = json_array(), *doc;

	*count = 0;
	if (arr == NULL)
		return NULL;
	for (size_t i = from; i < s->qlen && *count < n; i++) {
		if (json_array_append(arr, s->q[s->qhead + i].ev) != 0) {
			json_decref(arr);
			return NULL;
		}
		(*count)++;
	}
	doc = json_pack("{s:o}", "events", arr);
	return doc;
}

/* Writes the checkpoint: a temporary file, fsync, rename, fsync of the directory. */
static enum api_err ckpt_write(struct collector_source *s)
{
	json_t *doc;
	char *text = NULL;
	int fd = -1, dfd;
	size_t len, done = 0;
	enum api_err err = API_ERR_INTERNAL;

	if (json_object_size(s->ckpt) > CKPT_MAX_FILES) {
		const char *k;
		json_t *v, *tmp;

		json_object_foreach_safe(s->ckpt, tmp, k, v)
			if (json_object_get(s->present, k) == NULL && strcmp(k, s->fp) != 0)
				json_object_del(s->ckpt, k);
	}
	doc = json_pack("{s:i, s:s, s:O}", "version", 1, "database_id", s->sc->database_id,
			"files", s->ckpt);
	if (doc == NULL || (text = json_dumps(doc, JSON_SORT_KEYS)) == NULL)
		goto out;
	len = strlen(text);
	fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(s->tmp_path, s->state_path) != 0)
		goto out;
	dfd = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	s->dirty = false;
	s->written_ms = time_mono_ms();
	err = API_OK;
out:
	if (err != API_OK)
		log_msg(LOG_ERROR, "source %s: cannot write the checkpoint %s: %s", s->sc->name,
			s->state_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(doc);
	return err;
}

enum api_err collector_source_ack(struct collector_source *s, size_t count)
{
	for (size_t i = 0; i < count && s->qlen > 0; i++) {
		struct qev *e = &s->q[s->qhead];

		map_raise(s->ckpt, e->fp, e->resume, &s->dirty);
		json_decref(e->ev);
		s->qhead++;
		s->qlen--;
	}
	if (s->qlen == 0)
		s->qhead = 0;
	return s->dirty ? ckpt_write(s) : API_OK;
}

enum api_err collector_source_sync(struct collector_source *s, bool force)
{
	const char *k;
	json_t *v;

	if (s->qlen > 0)
		return API_OK;
	json_object_foreach(s->seen, k, v)
		if (s->fd < 0 || strcmp(k, s->fp) != 0)
			map_raise(s->ckpt, k, (int64_t)json_integer_value(v), &s->dirty);
	if (s->fd >= 0)
		map_raise(s->ckpt, s->fp, safe_offset(s), &s->dirty);
	if (s->dirty && (force || time_mono_ms() - s->written_ms >= 1000))
		return ckpt_write(s);
	return API_OK;
}

int collector_source_reject(struct collector_source *s, json_t *event, const char *why)
{
	json_t *line = json_pack("{s:O, s:s}", "event", event, "reason", why);
	char *text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
	FILE *f = text != NULL ? fopen(s->reject_path, "a") : NULL;
	int rc = -1;

	if (f != NULL) {
		rc = fprintf(f, "%s\n", text) < 0 ? -1 : 0;
		if (fclose(f) != 0)
			rc = -1;
	}
	free(text);
	json_decref(line);
	return rc;
}

void collector_source_health(const struct collector_source *s, struct collector_source_health *h)
{
	int64_t oldest = collector_source_oldest_ms(s);

	h->file_missing = s->missing;
	h->permission_denied = s->denied;
	h->paused = s->paused;
	h->lag_ms = oldest < 0 ? 0 : time_mono_ms() - oldest;
}

static enum api_err ckpt_load(struct collector_source *s, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_load_file(s->state_path, JSON_REJECT_DUPLICATES, &jerr);
	json_t *files;
	const char *k;
	json_t *v;

	if (doc == NULL) {
		if (access(s->state_path, F_OK) != 0)
			return API_OK;
		snprintf(err, errlen, "checkpoint %s is unreadable: %s", s->state_path, jerr.text);
		return API_ERR_INVALID_PARAMETER;
	}
	files = json_object_get(doc, "files");
	if (!json_is_object(files)) {
		json_decref(doc);
		snprintf(err, errlen, "checkpoint %s has no files", s->state_path);
		return API_ERR_INVALID_PARAMETER;
	}
	json_object_foreach(files, k, v)
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			json_object_set(s->ckpt, k, v);
	json_decref(doc);
	return API_OK;
}

enum api_err collector_source_open(const struct collector_source_conf *sc,
				   const char *state_dir, int64_t idle_ms,
				   struct collector_source **out, char *err, size_t errlen)
{
	struct collector_source *s = calloc(1, sizeof(*s));
	enum api_err rc = API_ERR_INTERNAL;
	struct buf b;

	*out = NULL;
	if (s == NULL)
		return rc;
	s->sc = sc;
	s->fd = -1;
	s->idle_ms = idle_ms;
	buf_init(&s->pend);
	buf_init(&b);
	s->ckpt = json_object();
	s->seen = json_object();
	s->present = json_object();
	s->state_dir = strdup(state_dir);
	if (s->ckpt == NULL || s->seen == NULL || s->present == NULL || s->state_dir == NULL ||
	    buf_appendf(&b, "%s/%s.json", state_dir, sc->name) != 0 ||
	    (s->state_path = buf_steal(&b)) == NULL ||
	    buf_appendf(&b, "%s/%s.json.tmp", state_dir, sc->name) != 0 ||
	    (s->tmp_path = buf_steal(&b)) == NULL ||
	    buf_appendf(&b, "%s/%s.rejected.ndjson", state_dir, sc->name) != 0 ||
	    (s->reject_path = buf_steal(&b)) == NULL)
		goto fail;
	rc = collector_parser_create(sc->format, sc->line_prefix, sc->utc, &s->parser, err, errlen);
	if (rc != API_OK)
		goto fail;
	rc = ckpt_load(s, err, errlen);
	if (rc != API_OK)
		goto fail;
	*out = s;
	return API_OK;
fail:
	buf_cleanup(&b);
	collector_source_free(s);
	return rc;
}

void collector_source_free(struct collector_source *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->qlen; i++)
		json_decref(s->q[s->qhead + i].ev);
	free(s->q);
	free(s->cur_path);
	buf_cleanup(&s->pend);
	collector_parser_free(s->parser);
	json_decref(s->ckpt);
	json_decref(s->seen);
	json_decref(s->present);
	free(s->state_path);
	free(s->tmp_path);
	free(s->reject_path);
	free(s->state_dir);
	free(s);
}
