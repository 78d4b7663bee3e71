/*
 * policy: the policy model of CONTRACT §6, free of any store or FastCGI
 * code: validation of a policy document (create and PATCH), compilation of
 * its rules (PCRE2 patterns with match, depth and heap limits, JIT where
 * available), and evaluation of one event against a compiled policy. The
 * built-in detectors are policies too: policy_builtin_doc gives their
 * default document. docs/policies.md describes the semantics and limits.
 */
#ifndef DBAUDIT_POLICY_H
#define DBAUDIT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "detect.h"

struct event_in;

#define POLICY_MAX_PER_TENANT 100     /* policies a tenant may create (built-ins apart) */
#define POLICY_MAX_RULES 20           /* rules of one policy */
#define POLICY_IN_MAX 100             /* values of one "in" rule */
#define POLICY_PATTERN_MAX 1024       /* bytes of one "matches" pattern */
#define POLICY_VALUE_MAX 1024         /* bytes of one string value */
#define POLICY_NAME_MAX 200           /* bytes of name */
#define POLICY_DESCRIPTION_MAX 2000   /* bytes of description */
#define POLICY_DATABASE_IDS_MAX 100   /* entries of database_ids */
#define POLICY_ID_MAX 40              /* bytes of a policy id */
#define POLICY_MATCH_LIMIT 100000     /* pcre2_set_match_limit */
#define POLICY_DEPTH_LIMIT 1000       /* pcre2_set_depth_limit (interpreter only) */
#define POLICY_HEAP_LIMIT_KIB 1024    /* pcre2_set_heap_limit */
#define POLICY_CACHE_TTL_MS 2000      /* staleness bound of a worker's compiled policies */

enum policy_op { POLICY_EQ, POLICY_NE, POLICY_IN, POLICY_CONTAINS, POLICY_MATCHES,
		 POLICY_GT, POLICY_LT };

struct policy_rule;

/* One compiled policy; policy_compile fills it, policy_cleanup frees it. */
struct policy {
	char id[POLICY_ID_MAX + 1];
	char rule_id[POLICY_ID_MAX + 16];
	const char *severity;         /* static */
	int risk_score;
	bool enabled, alert, builtin;
	enum detect_kind kind;        /* built-ins only */
	char *name;                   /* owned */
	json_t *database_ids;         /* owned array; empty: every database */
	struct policy_rule *rules;    /* owned */
	size_t nrules;
};

/*
 * Validates body (a POST, or a PATCH when old is the stored document) and
 * writes the complete document to store in *out (a new reference): defaults
 * filled, id, builtin, created_at and updated_at set from id and now_ms
 * (kept from old on a PATCH). A PATCH of a built-in (old has builtin true)
 * may change only enabled, action, severity and database_ids. Returns 0,
 * or -1 with msg naming the field (and the rule's index).
 */
int policy_validate(json_t *body, json_t *old, const char *id, int64_t now_ms, json_t **out,
		    char *msg, size_t msglen);

/* The default document of built-in kind (enabled, action alert, all databases). */
json_t *policy_builtin_doc(enum detect_kind kind);

/*
 * Compiles a stored document (validated) into *p. Returns 0, or -1 with msg
 * (a pattern that does not compile, or that exceeds the match limits on the
 * probe inputs: a pattern that could stall a worker).
 */
int policy_compile(json_t *doc, struct policy *p, char *msg, size_t msglen);

/* Frees what p owns; safe on a zeroed policy. */
void policy_cleanup(struct policy *p);

/*
 * Whether every rule of p holds for ev (ev's details as sent). A pattern
 * that hits a match limit counts as no match, and *limit_hit is set (the
 * caller logs it). Does not look at enabled or database_ids.
 */
bool policy_match(const struct policy *p, const struct event_in *ev, bool *limit_hit);

/* Whether p applies to events of database_id (NULL: events without one). */
bool policy_applies_to(const struct policy *p, const char *database_id);

/* The public form of a stored policy document (a new object). */
json_t *policy_public(json_t *doc);

#endif
