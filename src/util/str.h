/*
 * str: string helpers with strict contracts: percent-decoding that rejects
 * malformed input, UTF-8 validation, constant-time comparison, hex and
 * random identifiers from OpenSSL's CSPRNG, strict integer parsing.
 */
#ifndef DBAUDIT_STR_H
#define DBAUDIT_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes n bytes of percent-encoded text. With plus_is_space, '+' becomes a
 * space (query strings). Fails on a '%' not followed by two hex digits, on an
 * encoded NUL and on a result that is not valid UTF-8. On success *out is a
 * malloc'ed NUL-terminated string the caller frees and *outlen its length.
 * Returns 0 or -1.
 */
int str_percent_decode(const char *in, size_t n, bool plus_is_space,
		       char **out, size_t *outlen);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool str_utf8_valid(const char *s, size_t n);

/* Compares n bytes in time independent of their contents. */
bool str_ct_equal(const void *a, const void *b, size_t n);

/* Value of one hex digit (either case), or -1. */
int str_hex_value(unsigned char c);

/* Writes 2n lowercase hex digits and a NUL to out (size >= 2n+1). */
void str_hex(const unsigned char *in, size_t n, char *out);

/*
 * Writes 2*nbytes random hex digits and a NUL to out from OpenSSL's CSPRNG.
 * Returns 0, or -1 when the CSPRNG fails.
 */
int str_random_hex(char *out, size_t nbytes);

/*
 * Parses a whole decimal integer in [min, max]: no sign other than a leading
 * '-', no spaces, no trailing text. Returns 0 or -1.
 */
int str_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* True when s starts with prefix. */
bool str_starts_with(const char *s, const char *prefix);

/* True when s consists only of characters in [a-z0-9_] and is 1..max long. */
bool str_is_ident(const char *s, size_t max);

/* True when s is exactly prefix followed by hexlen lowercase hex digits. */
bool str_is_prefixed_hex(const char *s, const char *prefix, size_t hexlen);

/*
 * Glob match of the pattern p[0..pn) ('*' = any run of characters, nothing
 * else special) against the whole of s; ASCII case-insensitive with icase.
 * Backtracks over the last '*' only, so no pattern is expensive.
 */
bool str_glob_match(const char *p, size_t pn, const char *s, bool icase);

#endif
