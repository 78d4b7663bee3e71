/* unit.h: what every cmocka test file includes. */
#ifndef DBAUDIT_UNIT_H
#define DBAUDIT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*
 * Table-driven cases, as jq's .test files are data: tests/unit/data/NAME
 * holds cases separated by blank lines; a line starting with '#' is a
 * comment. Each case is a few lines whose meaning the test file and the
 * data file's header comment give. Adding a case needs no C.
 */
#define UNIT_CASE_LINE 4096
#define UNIT_CASE_MAX_LINES 8

struct unit_cases {
	FILE *f;
	char path[1024];
	int line;        /* line number of the current case's first line */
	int next_line;   /* line number of the next line to read */
};

/*
 * Opens tests/unit/data/name: under $srcdir (set by make check, also in a
 * VPATH or distcheck build), else next to this header (a test run by hand).
 */
static inline void unit_cases_open(struct unit_cases *uc, const char *name)
{
	const char *srcdir = getenv("srcdir");
	const char *here = __FILE__;
	const char *slash = strrchr(here, '/');

	memset(uc, 0, sizeof(*uc));
	if (srcdir != NULL && srcdir[0] != '\0')
		snprintf(uc->path, sizeof(uc->path), "%s/tests/unit/data/%s", srcdir, name);
	else
		snprintf(uc->path, sizeof(uc->path), "%.*sdata/%s",
			 slash ? (int)(slash - here + 1) : 0, here, name);
	uc->f = fopen(uc->path, "r");
	if (uc->f == NULL)
		fail_msg("cannot open %s", uc->path);
	uc->next_line = 1;
}

/*
 * Reads the next case: its lines (without the newline) into lines, at most
 * UNIT_CASE_MAX_LINES. Returns how many, 0 at the end of the file.
 */
static inline size_t unit_cases_next(struct unit_cases *uc,
				     char lines[UNIT_CASE_MAX_LINES][UNIT_CASE_LINE])
{
	char buf[UNIT_CASE_LINE];
	size_t n = 0;

	while (fgets(buf, sizeof(buf), uc->f) != NULL) {
		size_t len = strlen(buf);
		int lineno = uc->next_line++;

		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (!feof(uc->f))
			fail_msg("%s:%d: line longer than %d bytes", uc->path, lineno, UNIT_CASE_LINE - 2);
		if (buf[0] == '#')
			continue;
		if (len == 0) {
			if (n > 0)
				return n;
			continue;
		}
		if (n == UNIT_CASE_MAX_LINES)
			fail_msg("%s:%d: a case has more than %d lines", uc->path, lineno,
				 UNIT_CASE_MAX_LINES);
		if (n == 0)
			uc->line = lineno;
		memcpy(lines[n++], buf, len + 1);
	}
	return n;
}

/* Closes the case file. */
static inline void unit_cases_close(struct unit_cases *uc)
{
	if (uc->f != NULL)
		fclose(uc->f);
	uc->f = NULL;
}

#endif
