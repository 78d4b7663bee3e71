/*
 * buf: a growable byte buffer. The buffer owns its memory; data is always
 * NUL-terminated after a successful append so it can be used as a C string.
 */
#ifndef DBAUDIT_BUF_H
#define DBAUDIT_BUF_H

#include <stddef.h>

struct buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;
	size_t cap;
};

/* Prepares an empty buffer. */
void buf_init(struct buf *b);

/* Frees the buffer's memory and leaves it empty and reusable. */
void buf_cleanup(struct buf *b);

/* Appends n bytes. Returns 0, or -1 when memory runs out (b is unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Same result as buf_append. */
int buf_appends(struct buf *b, const char *s);

/* Appends printf-style formatted text. Same result as buf_append. */
int buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Hands the data to the caller (who frees it) and leaves b empty. */
char *buf_steal(struct buf *b);

#endif
