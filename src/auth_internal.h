/*
 * auth_internal: the parts of auth.c that unit tests and bench/ reach
 * into. Handlers never include this header.
 */
#ifndef DBAUDIT_AUTH_INTERNAL_H
#define DBAUDIT_AUTH_INTERNAL_H

#include "auth.h"
#include "store.h"

/*
 * Puts rec in a's key cache as if it had just been read from the store
 * (rec is copied), so the next key_cache_ttl_s seconds of lookups of that
 * key never reach the store.
 */
void auth_cache_put(struct auth *a, const struct key_record *rec);

#endif
