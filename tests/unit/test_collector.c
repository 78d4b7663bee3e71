/* Unit tests of the collector's parsers: every case under
 * tests/unit/collector/ (the .test files) (a header, the raw log bytes, the events
 * expected), and the safe form of statements. */
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "collector_parse.h"

static char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		s = malloc((size_t)len + 2);
		if (s != NULL && fread(s + 1, 1, (size_t)len, f) == (size_t)len) {
			s[0] = '\n';
			s[len + 1] = '\0';
			*n = (size_t)len + 1;
		} else {
			free(s);
			s = NULL;
		}
	}
	fclose(f);
	return s;
}

/* Value of "key: value" in the header (which starts with a newline), copied to out; false when absent. */
static bool header_value(const char *hdr, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *s;
	size_t n;

	snprintf(pat, sizeof(pat), "\n%s: ", key);
	s = strstr(hdr, pat);
	if (s == NULL)
		return false;
	s += strlen(pat);
	n = strcspn(s, "\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/*
 * A case file: header lines ("# comment", "format: jsonlog", "prefix: ...",
 * "utc: no"), a line "--- input", the log bytes, a line "--- expect", one
 * JSON event per line, each with "offset" (the event's offset in the input).
 */
static void run_case(const char *path)
{
	size_t n = 0;
	char *text = read_all(path, &n);
	char *in, *exp, fmtname[32], prefix[256], utc[8];
	enum collector_format fmt;
	struct collector_parser *p = NULL;
	char err[256];
	size_t inlen, pos = 0, nexp = 0;
	json_t *got = json_array();

	assert_non_null(text);
	in = strstr(text, "\n--- input\n");
	exp = strstr(text, "\n--- expect\n");
	assert_non_null(in);
	assert_non_null(exp);
	*in = '\0';
	in += strlen("\n--- input\n");
	*exp = '\0';
	exp += strlen("\n--- expect\n");
	inlen = strlen(in);
	if (inlen > 0)
		in[inlen++] = '\n';
	assert_true(header_value(text, "format", fmtname, sizeof(fmtname)));
	assert_int_equal(collector_format_parse(fmtname, &fmt), 0);
	assert_int_equal(collector_parser_create(fmt,
						 header_value(text, "prefix", prefix, sizeof(prefix)) ? prefix : NULL,
						 !header_value(text, "utc", utc, sizeof(utc)) || strcmp(utc, "no") != 0,
						 &p, err, sizeof(err)), API_OK);
	while (pos < inlen) {
		size_t len = collector_record_len(p, in + pos, inlen - pos, true);
		json_t *ev = NULL;
		int64_t off = -1;
		char warn[256];

		if (len == 0)
			break;
		assert_int_equal(collector_parser_feed(p, in + pos, len, (int64_t)pos, &ev, &off,
						       warn, sizeof(warn)), API_OK);
		if (ev != NULL) {
			json_object_set_new(ev, "offset", json_integer(off));
			json_array_append_new(got, ev);
		}
		pos += len;
	}
	if (getenv("COLLECTOR_TEST_DUMP") != NULL)
		for (size_t i = 0; i < json_array_size(got); i++) {
			char *h = json_dumps(json_array_get(got, i), JSON_SORT_KEYS | JSON_COMPACT);

			fprintf(stderr, "%s\n", h);
			free(h);
		}
	for (char *line = exp; *line != '\0';) {
		char *nl = strchr(line, '\n');
		json_error_t jerr;
		json_t *want, *have;

		if (nl != NULL)
			*nl = '\0';
		if (line[0] != '\0' && line[0] != '#') {
			want = json_loads(line, 0, &jerr);
			if (want == NULL)
				fail_msg("%s: bad expected JSON: %s", path, jerr.text);
			have = json_array_get(got, nexp);
			if (have == NULL || !json_equal(want, have)) {
				char *h = have != NULL ? json_dumps(have, JSON_SORT_KEYS) : NULL;

				fail_msg("%s: event %zu\n want %s\n have %s", path, nexp, line,
					 h != NULL ? h : "(none)");
			}
			json_decref(want);
			nexp++;
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	if (json_array_size(got) != nexp) {
		char *h = json_dumps(json_array_get(got, nexp), JSON_SORT_KEYS);

		fail_msg("%s: %zu events expected, %zu produced; next: %s", path, nexp,
			 json_array_size(got), h);
	}
	json_decref(got);
	collector_parser_free(p);
	free(text);
}

static void test_cases(void **state)
{
	const char *srcdir = getenv("srcdir");
	char dir[1024], path[1300];
	struct dirent *e;
	DIR *d;
	int ran = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/unit/collector", srcdir != NULL ? srcdir : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".test") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		run_case(path);
		ran++;
	}
	closedir(d);
	assert_true(ran >= 5);
}

static void test_safe_text(void **state)
{
	json_t *d = json_object();
	char big[100000];

	(void)state;
	assert_int_equal(collector_put_text(d, "query", "select '\xff\xfe' \xc3\xa9", 14, 1000), 0);
	assert_string_equal(json_string_value(json_object_get(d, "query")),
			    "select '\xEF\xBF\xBD\xEF\xBF\xBD' \xc3\xa9");
	assert_true(json_is_true(json_object_get(d, "query_invalid_utf8")));
	assert_null(json_object_get(d, "query_truncated"));

	memset(big, '"', sizeof(big));
	assert_int_equal(collector_put_text(d, "q2", big, sizeof(big), 32768), 0);
	assert_int_equal(json_string_length(json_object_get(d, "q2")), (32768 - 2) / 2);
	assert_true(json_is_true(json_object_get(d, "q2_truncated")));
	assert_int_equal(json_integer_value(json_object_get(d, "q2_bytes")), sizeof(big));
	assert_int_equal(json_string_length(json_object_get(d, "q2_sha256")), 64);

	/* a cut never splits a character: 3-byte characters, odd bound */
	for (size_t i = 0; i + 3 <= sizeof(big); i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	assert_int_equal(collector_put_text(d, "q3", big, 99999, 1001), 0);
	assert_int_equal(json_string_length(json_object_get(d, "q3")), 999);
	assert_null(json_object_get(d, "q3_invalid_utf8"));

	assert_int_equal(collector_put_text(d, "q4", "a\0b", 3, 100), 0);
	assert_string_equal(json_string_value(json_object_get(d, "q4")), "a\xEF\xBF\xBD" "b");
	json_decref(d);
}

static void test_record_len(void **state)
{
	struct collector_parser *p = NULL;
	char err[128];
	const char *two = "2026-12-04 15:03:46.479 UTC [1] LOG:  a\n\tb\n2026-12-04 15:03:46.479 UTC [1] LOG:  c\n";

	(void)state;
	assert_int_equal(collector_parser_create(COLLECTOR_PG_STDERR, NULL, true, &p, err, sizeof(err)), API_OK);
	assert_int_equal(collector_record_len(p, two, strlen(two), false), strlen("2026-12-04 15:03:46.479 UTC [1] LOG:  a\n\tb\n"));
	assert_int_equal(collector_record_len(p, two, 38, true), 0);
	/* the last record is complete only once the file is idle */
	assert_int_equal(collector_record_len(p, "x LOG:  c\n", 10, false), 0);
	assert_int_equal(collector_record_len(p, "x LOG:  c\n", 10, true), 10);
	collector_parser_free(p);
	assert_int_equal(collector_parser_create(COLLECTOR_PG_CSVLOG, NULL, true, &p, err, sizeof(err)), API_OK);
	assert_int_equal(collector_record_len(p, "a,\"b\nc\"\nd\n", 10, false), 8);
	assert_int_equal(collector_record_len(p, "a,\"b\nc", 6, true), 0);
	collector_parser_free(p);
	assert_int_equal(collector_parser_create(COLLECTOR_PG_STDERR, "[%p] ", true, &p, err, sizeof(err)),
			 API_ERR_INVALID_PARAMETER);
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_safe_text),
		cmocka_unit_test(test_record_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
