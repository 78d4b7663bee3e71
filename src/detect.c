/*
 * detect: rules over the tokens of sqlanalysis (detect.h). Every rule reads
 * tokens, never raw text, except bcp, whose command line usually sits in
 * a string literal handed to xp_cmdshell. docs/detection.md lists each rule
 * with its measured rates.
 */
#include "detect.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/str.h"

const struct detect_policy detect_policies[DETECT__COUNT] = {
	[DETECT_SQL_INJECTION] = { "sql_injection", "pol_builtin_sql_injection",
				   "security.threat_detected", "sql_injection", "critical" },
	[DETECT_PRIVILEGE_ESCALATION] = { "privilege_escalation", "pol_builtin_privilege_escalation",
					  "security.privilege_escalation", "privilege_escalation",
					  "critical" },
	[DETECT_LOGIN_ANOMALY] = { "login_anomaly", "pol_builtin_login_anomaly",
				   "security.anomaly", "login_anomaly", "warning" },
	[DETECT_DATA_EXPORT] = { "data_export", "pol_builtin_data_export", "data.export",
				 "data_export", "warning" },
	[DETECT_SENSITIVE_ACCESS] = { "sensitive_access", "pol_builtin_sensitive_access",
				      "data.sensitive_access", "sensitive_access", "warning" },
};

/* ---------------------------------------------------------- token helpers */

struct view {
	const struct sql_analysis *a;
	const char *x;
	const struct sql_token *t;
	size_t n;
};

static bool sig(const struct sql_token *t)
{
	return t->kind != SQLT_COMMENT_LINE && t->kind != SQLT_COMMENT_BLOCK &&
	       t->kind != SQLT_COMMENT_EXEC;
}

/* Index of the first significant token at or after i, or v->n. */
static size_t at(const struct view *v, size_t i)
{
	while (i < v->n && !sig(&v->t[i]))
		i++;
	return i;
}

static size_t after(const struct view *v, size_t i)
{
	return i >= v->n ? v->n : at(v, i + 1);
}

/* Index of the significant token before i, or v->n. */
static size_t before(const struct view *v, size_t i)
{
	while (i > 0) {
		i--;
		if (sig(&v->t[i]))
			return i;
	}
	return v->n;
}

static bool is_kw(const struct view *v, size_t i, const char *kw)
{
	return i < v->n && sqlanalysis_token_is(v->a, i, kw);
}

static bool is_kind(const struct view *v, size_t i, enum sql_token_kind k)
{
	return i < v->n && v->t[i].kind == k;
}

static bool is_op(const struct view *v, size_t i, const char *op)
{
	return is_kind(v, i, SQLT_OP) && v->t[i].len == strlen(op) &&
	       memcmp(v->x + v->t[i].off, op, v->t[i].len) == 0;
}

static bool kw_in(const struct view *v, size_t i, const char *const *kws)
{
	for (; *kws != NULL; kws++)
		if (is_kw(v, i, *kws))
			return true;
	return false;
}

/* Word (or quoted identifier, or string) i equals s ignoring case and quotes. */
static bool name_is(const struct view *v, size_t i, const char *s)
{
	const struct sql_token *t;
	size_t off, len;

	if (i >= v->n)
		return false;
	t = &v->t[i];
	off = t->off;
	len = t->len;
	if ((t->kind == SQLT_QIDENT || t->kind == SQLT_STRING) && len >= 2) {
		off++;
		len -= 2;
	} else if (t->kind != SQLT_WORD) {
		return false;
	}
	return len == strlen(s) && strncasecmp(v->x + off, s, len) == 0;
}

static bool name_in(const struct view *v, size_t i, const char *const *names)
{
	for (; *names != NULL; names++)
		if (name_is(v, i, *names))
			return true;
	return false;
}

/* Index of the token closing the parenthesis opened at i, or v->n. */
static size_t close_of(const struct view *v, size_t i)
{
	uint16_t d = v->t[i].depth;

	for (size_t j = i + 1; j < v->n; j++)
		if (v->t[j].kind == SQLT_RPAREN && v->t[j].depth == d)
			return j;
	return v->n;
}

/* A function call: word i (optionally schema-qualified before it) then "(". */
static bool is_call(const struct view *v, size_t i, const char *fn)
{
	return is_kw(v, i, fn) && is_kind(v, after(v, i), SQLT_LPAREN);
}

static void set_hit(struct detect_hit *h, enum detect_kind k, const char *rule, int risk,
		    const char *matched)
{
	if (h->rule_id != NULL && h->risk_score >= risk)
		return;
	h->kind = k;
	h->rule_id = rule;
	h->risk_score = risk;
	snprintf(h->matched, sizeof(h->matched), "%s", matched ? matched : "");
}

static bool view_init(struct view *v, const struct detect_input *in)
{
	if (in->sql == NULL || in->sql->tokens == NULL)
		return false;
	v->a = in->sql;
	v->x = in->sql->text;
	v->t = in->sql->tokens;
	v->n = in->sql->n_tokens;
	return at(v, 0) < v->n;	/* comments alone say nothing */
}

/* ---------------------------------------------------------- SQL injection */

static const char *const probe_functions[] = {
	"version", "user", "current_user", "session_user", "system_user", "database",
	"schema", "db_name", "user_name", "suser_name", "suser_sname", "current_database",
	"current_schema", "load_file", "pg_read_file", "host_name", "@@version", "banner",
	"connection_id", "inet_server_addr", "sys_context", NULL
};

static bool is_literal(const struct view *v, size_t i)
{
	static const char *const lits[] = { "NULL", "TRUE", "FALSE", NULL };

	return is_kind(v, i, SQLT_STRING) || is_kind(v, i, SQLT_NUMBER) || kw_in(v, i, lits);
}

/* Reads an operand at i (an optional sign, a literal, or a dotted name);
 * returns the index after it, or i when there is none. */
static size_t operand(const struct view *v, size_t i, bool *literal, size_t *first, size_t *last)
{
	if (is_op(v, i, "-") || is_op(v, i, "+"))
		i = after(v, i);
	*first = i;
	*literal = is_literal(v, i);
	if (*literal) {
		*last = i;
		return after(v, i);
	}
	if (!is_kind(v, i, SQLT_WORD) && !is_kind(v, i, SQLT_QIDENT))
		return *first;
	*last = i;
	while (is_kind(v, after(v, *last), SQLT_DOT) &&
	       (is_kind(v, after(v, after(v, *last)), SQLT_WORD) ||
		is_kind(v, after(v, after(v, *last)), SQLT_QIDENT)))
		*last = after(v, after(v, *last));
	return after(v, *last);
}

static bool same_text(const struct view *v, size_t a1, size_t a2, size_t b1, size_t b2)
{
	size_t la = v->t[a2].off + v->t[a2].len - v->t[a1].off;
	size_t lb = v->t[b2].off + v->t[b2].len - v->t[b1].off;

	return la == lb && strncasecmp(v->x + v->t[a1].off, v->x + v->t[b1].off, la) == 0;
}

static bool is_comparison(const struct view *v, size_t i)
{
	static const char *const ops[] = { "=", "<>", "!=", "<", ">", "<=", ">=", "<=>", "==", NULL };
	static const char *const words[] = { "LIKE", "ILIKE", "IS", "REGEXP", "RLIKE", "GLOB", NULL };

	if (kw_in(v, i, words))
		return true;
	for (const char *const *o = ops; *o != NULL; o++)
		if (is_op(v, i, *o))
			return true;
	return false;
}

/* After OR (or AND): a comparison of constants, of a name with itself, or
 * a bare constant ending the predicate. */
static bool tautology_at(const struct view *v, size_t i, bool is_or)
{
	size_t j = after(v, i), k, a1 = 0, a2 = 0, b1 = 0, b2 = 0;
	bool la = false, lb = false;

	while (is_kind(v, j, SQLT_LPAREN))
		j = after(v, j);
	if (is_kw(v, j, "NOT"))
		j = after(v, j);
	k = operand(v, j, &la, &a1, &a2);
	if (k == j)
		return false;
	if (is_comparison(v, k)) {
		size_t m = after(v, k);

		if (is_kw(v, m, "NOT"))
			m = after(v, m);
		if (operand(v, m, &lb, &b1, &b2) == m)
			return false;
		if (!is_or)
			return la && lb && is_kind(v, a1, SQLT_STRING) && is_kind(v, b1, SQLT_STRING);
		return (la && lb) || (!la && !lb && same_text(v, a1, a2, b1, b2));
	}
	if (!is_or || !la)
		return false;
	{
		static const char *const ends[] = { "AND", "OR", "ORDER", "LIMIT", "GROUP", "UNION",
						    NULL };

		return k >= v->n || is_kind(v, k, SQLT_RPAREN) || is_kind(v, k, SQLT_SEMI) ||
		       (a2 + 1 < v->n && !sig(&v->t[a2 + 1])) || kw_in(v, k, ends);
	}
}

static bool rule_tautology(const struct view *v)
{
	bool concat_is_or = v->a->dialect == SQL_DIALECT_MYSQL || v->a->dialect == SQL_DIALECT_UNKNOWN;

	for (size_t i = 0; i < v->n; i++) {
		if (is_kw(v, i, "OR") || (concat_is_or && is_op(v, i, "||"))) {
			if (tautology_at(v, i, true))
				return true;
		} else if (is_kw(v, i, "AND") || is_kw(v, i, "WHERE") || is_op(v, i, "&&")) {
			if (tautology_at(v, i, false))
				return true;
		}
	}
	return false;
}

static bool is_catalog_name(const struct view *v, size_t i)
{
	static const char *const schemas[] = { "information_schema", "pg_catalog", "mysql",
					       "sys", "master", "performance_schema", NULL };
	static const char *const sys_tables[] = {
		"objects", "tables", "columns", "databases", "sysobjects", "syslogins",
		"sql_logins", "server_principals", "database_principals", "all_objects", "user",
		"schemata", NULL
	};
	static const char *const bare[] = {
		"sysobjects", "syscolumns", "sysdatabases", "syslogins", "all_tables",
		"all_tab_columns", "user_tables", "user_tab_columns", "dba_tables", "dba_users",
		"all_users", "dba_tab_columns", "v$version", "v$database", "pg_shadow", "pg_authid",
		"pg_user", "pg_roles", "pg_tables", "pg_database", "pg_class", "pg_namespace",
		"pg_attribute", "pg_proc", "pg_stat_activity", "sqlite_master", "information_schema",
		NULL
	};
	size_t d = after(v, i);

	if (is_kind(v, i, SQLT_WORD) && v->t[i].len > 3 && strncasecmp(v->x + v->t[i].off, "pg_", 3) == 0 &&
	    !is_kind(v, d, SQLT_DOT) && !is_kind(v, d, SQLT_LPAREN))
		return true;
	if (name_in(v, i, schemas) && is_kind(v, d, SQLT_DOT)) {
		if (name_is(v, i, "information_schema") || name_is(v, i, "pg_catalog") ||
		    name_is(v, i, "performance_schema"))
			return true;
		if (name_is(v, i, "master") && is_kind(v, after(v, d), SQLT_DOT))
			return true;
		return name_in(v, after(v, d), sys_tables);
	}
	return name_in(v, i, bare);
}

/* The smallest parenthesis depth of a significant token: the statement's
 * own level. */
static uint16_t base_depth(const struct view *v)
{
	uint16_t base = 0xffff;

	for (size_t i = 0; i < v->n; i++)
		if (sig(&v->t[i]) && v->t[i].depth < base)
			base = v->t[i].depth;
	return base;
}

/* A catalog relation after FROM or JOIN. */
static bool catalog_from(const struct view *v, size_t i)
{
	return (is_kw(v, i, "FROM") || is_kw(v, i, "JOIN")) && is_catalog_name(v, after(v, i));
}

/* A subquery on the catalog in the predicate of a data statement that does
 * not itself read the catalog: "... WHERE id = 1 AND (SELECT count(*) FROM
 * pg_user) > 0". A catalog subquery elsewhere (SET x = (SELECT ...)) is how
 * maintenance scripts read it. */
static bool rule_catalog(const struct view *v)
{
	const char *act = v->a->stmt_actions[0];
	bool top = false, nested = false, where = false;
	uint16_t base = base_depth(v);

	if (strcmp(act, "SL") != 0 && strcmp(act, "UP") != 0 && strcmp(act, "DL") != 0 &&
	    strcmp(act, "IN") != 0)
		return false;
	for (size_t i = 0; i < v->n; i++) {
		if (v->t[i].depth == base && (is_kw(v, i, "WHERE") || is_kw(v, i, "HAVING")))
			where = true;
		if (!catalog_from(v, i))
			continue;
		if (v->t[i].depth == base)
			top = true;
		else if (where)
			nested = true;
	}
	return nested && !top;
}

/* A select list item at i that probes: a probe function or variable. */
static bool probe_item(const struct view *v, size_t i, size_t end)
{
	for (size_t j = i; j < end; j = after(v, j)) {
		if (is_kind(v, j, SQLT_VAR) && v->t[j].len > 2 && v->x[v->t[j].off + 1] == '@')
			return true;
		if (name_in(v, j, probe_functions) &&
		    (is_kind(v, after(v, j), SQLT_LPAREN) || is_kw(v, j, "current_user") ||
		     is_kw(v, j, "session_user") || is_kw(v, j, "system_user") || is_kw(v, j, "banner")))
			return true;
		if (is_call(v, j, "concat") || is_call(v, j, "group_concat") ||
		    is_call(v, j, "concat_ws") || is_call(v, j, "string_agg") || is_call(v, j, "char") ||
		    is_call(v, j, "chr"))
			return true;
	}
	return false;
}

/* A UNION at the statement's own level (an injected one is appended to the
 * application's query; a view's constant branch sits in a subquery) whose
 * SELECT lists only constants with a NULL or a number, or probes, or reads
 * the catalog while the application's part does not. */
static bool rule_union(const struct view *v)
{
	uint16_t base = base_depth(v);
	bool catalog_first = false;

	for (size_t i = 0; i < v->n && !is_kw(v, i, "UNION"); i++)
		if (catalog_from(v, i))
			catalog_first = true;
	for (size_t i = 0; i < v->n; i++) {
		size_t j, end;
		bool all_const = true, some_null_or_num = false, probe = false;

		if (!is_kw(v, i, "UNION") || v->t[i].depth != base)
			continue;
		j = after(v, i);
		if (is_kw(v, j, "ALL") || is_kw(v, j, "DISTINCT"))
			j = after(v, j);
		while (is_kind(v, j, SQLT_LPAREN))
			j = after(v, j);
		if (!is_kw(v, j, "SELECT"))
			continue;
		j = after(v, j);
		if (is_kw(v, j, "DISTINCT") || is_kw(v, j, "ALL"))
			j = after(v, j);
		if (is_kw(v, j, "TOP"))
			j = after(v, after(v, j));
		/* the select list, item by item */
		for (end = j; end < v->n; end = after(v, end)) {
			if (v->t[end].depth < v->t[j].depth || is_kind(v, end, SQLT_SEMI) ||
			    is_kw(v, end, "FROM") || is_kw(v, end, "UNION") || is_kw(v, end, "INTO") ||
			    is_kw(v, end, "WHERE") || is_kw(v, end, "ORDER") || is_kw(v, end, "LIMIT"))
				break;
		}
		if (end == j)
			continue;
		probe = probe_item(v, j, end);
		for (size_t k = j; k < end; k = after(v, k)) {
			if (is_kind(v, k, SQLT_COMMA) && v->t[k].depth == v->t[j].depth)
				continue;
			if (is_kw(v, k, "NULL") || is_kind(v, k, SQLT_NUMBER))
				some_null_or_num = true;
			else if (!is_kind(v, k, SQLT_STRING) && !is_op(v, k, "::") &&
				 !is_op(v, k, "-") && !(k > j && is_op(v, before(v, k), "::")))
				all_const = false;
		}
		/* a probe in a branch that reads a table is how views and reports
		 * combine rows; an injected probe needs no table (or dual) */
		if (probe && !catalog_first &&
		    (end >= v->n || !is_kw(v, end, "FROM") || is_kw(v, after(v, end), "dual")))
			return true;
		if ((all_const && some_null_or_num) ||
		    (end < v->n && catalog_from(v, end) && !catalog_first))
			return true;
	}
	return false;
}

static bool rule_stacked(const struct view *v)
{
	const struct sql_analysis *a = v->a;
	const char *first = a->stmt_actions[0];
	int n = a->n_statements < SQLA_MAX_STMTS ? a->n_statements : SQLA_MAX_STMTS;

	if (a->n_statements < 2)
		return false;
	if (strcmp(first, "SL") != 0 && strcmp(first, "UP") != 0 && strcmp(first, "DL") != 0 &&
	    strcmp(first, "IN") != 0)
		return false;
	for (int s = 1; s < n; s++) {
		const char *act = a->stmt_actions[s];

		if (strcmp(act, first) == 0)
			continue;
		if (act[0] == '\0' || strcmp(act, "SL") != 0)
			return true;
	}
	return false;
}

static bool rule_comment(const struct view *v)
{
	static const char *const exec_words[] = { "UNION", "SELECT", "OR", "AND", "SLEEP",
						  "BENCHMARK", "FROM", "WHERE", "ORDER", "LIMIT",
						  "CONCAT", "NULL", "INTO", "HAVING", NULL };
	size_t last = v->n ? v->n - 1 : 0;

	for (size_t i = 0; i < v->n; i++) {
		const struct sql_token *t = &v->t[i];
		bool tight_before = !(t->flags & SQLT_F_SPACE_BEFORE) && i > 0;
		bool tight_after = i + 1 < v->n && !(v->t[i + 1].flags & SQLT_F_SPACE_BEFORE);

		if (sig(t))
			continue;
		if (t->kind == SQLT_COMMENT_BLOCK &&
		    (t->len == 4 || (tight_before && tight_after && i + 1 < v->n &&
				     v->t[i - 1].kind == SQLT_WORD && v->t[i + 1].kind == SQLT_WORD)))
			return true;
		if (t->kind == SQLT_COMMENT_EXEC && v->x[t->off] == '/' &&
		    (kw_in(v, after(v, i), exec_words) ||
		     (tight_before && v->t[i - 1].kind == SQLT_WORD)))
			return true;
		if (i > 0 && tight_before && v->t[i - 1].kind == SQLT_STRING)
			return true;
		if (t->kind == SQLT_COMMENT_LINE && i == last && i > 0 &&
		    (tight_before || memchr(v->x + t->off, '\'', t->len) != NULL ||
		     is_kind(v, i - 1, SQLT_SEMI)))
			return true;
	}
	return false;
}

static bool rule_time(const struct view *v)
{
	static const char *const fns[] = { "pg_sleep", "pg_sleep_for", "pg_sleep_until", "sleep",
					   "benchmark", NULL };
	static const char *const pkgs[] = { "dbms_lock", "dbms_session", "dbms_pipe", NULL };

	for (size_t i = 0; i < v->n; i++) {
		if (kw_in(v, i, fns) && is_kind(v, after(v, i), SQLT_LPAREN) &&
		    !is_kw(v, before(v, i), "FUNCTION") && !is_kw(v, before(v, i), "PROCEDURE"))
			return true;
		if (is_kw(v, i, "WAITFOR") &&
		    (is_kw(v, after(v, i), "DELAY") || is_kw(v, after(v, i), "TIME")))
			return true;
		if (kw_in(v, i, pkgs) && is_kind(v, after(v, i), SQLT_DOT) &&
		    (is_kw(v, after(v, after(v, i)), "SLEEP") ||
		     is_kw(v, after(v, after(v, i)), "RECEIVE_MESSAGE")))
			return true;
	}
	return false;
}

static bool numeric_type(const struct view *v, size_t i)
{
	static const char *const types[] = { "int", "integer", "int4", "int8", "numeric",
					     "bigint", "smallint", "decimal", "float", "signed",
					     "unsigned", "number", "double", "real", NULL };

	return name_in(v, i, types);
}

/* Tokens [i, end) hold a catalog probe: a subquery, a probe function, a
 * server variable or a catalog name. */
static bool holds_probe(const struct view *v, size_t i, size_t end)
{
	for (size_t j = i; j < end && j < v->n; j = after(v, j))
		if (is_kw(v, j, "SELECT") || is_catalog_name(v, j) || probe_item(v, j, after(v, j)))
			return true;
	return false;
}

static bool rule_error(const struct view *v)
{
	static const char *const fns[] = { "extractvalue", "updatexml", "gtid_subset",
					   "name_const", "geometrycollection", "multipoint",
					   "polygon", "multipolygon", "linestring", "multilinestring",
					   "json_keys", NULL };

	for (size_t i = 0; i < v->n; i++) {
		size_t p = after(v, i), c;

		if (kw_in(v, i, fns) && is_kind(v, p, SQLT_LPAREN) &&
		    (is_kw(v, i, "extractvalue") || is_kw(v, i, "updatexml") ||
		     holds_probe(v, p, close_of(v, p))))
			return true;
		if (is_call(v, i, "floor") && is_call(v, after(v, p), "rand"))
			return true;
		if (is_call(v, i, "exp") && is_op(v, after(v, p), "~"))
			return true;
		if ((is_kw(v, i, "utl_inaddr") || is_kw(v, i, "ctxsys") || is_kw(v, i, "dbms_xdb_version") ||
		     is_kw(v, i, "dbms_utility")) && is_kind(v, p, SQLT_DOT))
			return true;
		if (is_call(v, i, "cast")) {
			c = close_of(v, p);
			for (size_t k = p; k < c; k = after(v, k))
				if (is_kw(v, k, "AS") && v->t[k].depth == v->t[p].depth + 1 &&
				    numeric_type(v, after(v, k)) && holds_probe(v, p, k))
					return true;
		}
		if (is_call(v, i, "convert") && numeric_type(v, after(v, p)) &&
		    holds_probe(v, after(v, p), close_of(v, p)))
			return true;
		if (is_op(v, i, "::") && numeric_type(v, p) && i > 0) {
			size_t b = before(v, i);

			if (is_kind(v, b, SQLT_RPAREN)) {
				size_t o = b;

				while (o > 0 && !(v->t[o].kind == SQLT_LPAREN && v->t[o].depth == v->t[b].depth))
					o--;
				if (holds_probe(v, o, b))
					return true;
			} else if (probe_item(v, b, i) || (b < v->n && is_kind(v, b, SQLT_VAR))) {
				return true;
			}
		}
	}
	return false;
}

/* CREATE [OR REPLACE] [DEFINER=...] FUNCTION|PROCEDURE|TRIGGER|EVENT|PACKAGE:
 * routine bodies legitimately sleep and read the catalog. */
static bool routine_definition(const struct view *v)
{
	static const char *const kinds[] = { "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT",
					     "PACKAGE", NULL };
	size_t i = at(v, 0);

	if (!is_kw(v, i, "CREATE"))
		return false;
	for (size_t k = 0; k < 12 && i < v->n; k++, i = after(v, i))
		if (kw_in(v, i, kinds))
			return true;
	return false;
}

bool detect_sql_injection(const struct detect_input *in, struct detect_hit *hit)
{
	struct view v;
	struct detect_hit h = { 0 };

	if (!view_init(&v, in) || routine_definition(&v))
		return false;
	if (rule_time(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_time", 90, NULL);
	if (rule_union(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_union", 85, NULL);
	if (rule_error(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_error", 85, NULL);
	if (rule_tautology(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_tautology", 80, NULL);
	if (rule_stacked(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_stacked", 80, NULL);
	if (rule_catalog(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_catalog", 70, NULL);
	if (rule_comment(&v))
		set_hit(&h, DETECT_SQL_INJECTION, "rule_sqli_comment", 60, NULL);
	if (h.rule_id == NULL)
		return false;
	*hit = h;
	return true;
}

/* --------------------------------------------------- privilege escalation */

static const char *const admin_names[] = {
	"ALL", "SUPER", "FILE", "PROCESS", "SHUTDOWN", "RELOAD", "ANY", "DBA", "SYSDBA",
	"SYSOPER", "SYSADMIN", "SECURITYADMIN", "SERVERADMIN", "DB_OWNER", "DB_SECURITYADMIN",
	"DB_ACCESSADMIN", "CONTROL", "IMPERSONATE", "SUPERUSER", "pg_read_server_files",
	"pg_write_server_files", "pg_execute_server_program", "pg_read_all_data",
	"pg_write_all_data", "rds_superuser", "azure_pg_admin", "cloudsqlsuperuser", "postgres",
	"root", "EXEMPT", "BECOME", NULL
};

static const char *const role_attrs[] = { "SUPERUSER", "CREATEROLE", "BYPASSRLS", "REPLICATION",
					  NULL };

/* End of the statement starting at i: the next ";" at depth 0, or v->n. */
static size_t stmt_end(const struct view *v, size_t i)
{
	for (size_t j = i; j < v->n; j++)
		if (v->t[j].kind == SQLT_SEMI)
			return j;
	return v->n;
}

static bool any_name(const struct view *v, size_t i, size_t end, const char *const *names)
{
	for (size_t j = i; j < end; j = after(v, j))
		if (name_in(v, j, names))
			return true;
	return false;
}

static bool any_kw(const struct view *v, size_t i, size_t end, const char *kw)
{
	for (size_t j = i; j < end; j = after(v, j))
		if (is_kw(v, j, kw))
			return true;
	return false;
}

static void privesc_grant(const struct view *v, size_t i, size_t end, struct detect_hit *h)
{
	bool on = false, global = false;
	size_t to = end;

	for (size_t j = i; j < end; j = after(v, j)) {
		if (is_kw(v, j, "ON") && v->t[j].depth == v->t[i].depth) {
			on = true;
			global = is_op(v, after(v, j), "*") && is_kind(v, after(v, after(v, j)), SQLT_DOT);
		}
		if (is_kw(v, j, "TO") && to == end)
			to = j;
	}
	if (global || any_name(v, i, to, admin_names) ||
	    (any_kw(v, i, end, "WITH") && (any_kw(v, i, end, "ADMIN") || any_kw(v, i, end, "GRANT"))))
		set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_admin_grant", 90, NULL);
	else if (!on)
		set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_role_membership", 70, NULL);
	else
		set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_grant", 50, NULL);
}

static void privesc_statement(const struct view *v, size_t i, size_t end, struct detect_hit *h)
{
	size_t k = after(v, i);

	if (is_kw(v, i, "GRANT")) {
		privesc_grant(v, i, end, h);
	} else if (is_kw(v, i, "ALTER") || is_kw(v, i, "CREATE")) {
		bool create = is_kw(v, i, "CREATE");

		if (is_kw(v, k, "SERVER"))
			k = after(v, k);
		if (!(is_kw(v, k, "ROLE") || is_kw(v, k, "USER") || is_kw(v, k, "GROUP") ||
		      is_kw(v, k, "LOGIN")))
			return;
		if (any_name(v, k, end, role_attrs))
			set_hit(h, DETECT_PRIVILEGE_ESCALATION,
				create ? "rule_privesc_admin_user" : "rule_privesc_superuser", 95, NULL);
		else if (any_kw(v, k, end, "ADD") || (create && any_kw(v, k, end, "IN")))
			set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_role_membership",
				any_name(v, k, end, admin_names) ? 90 : 70, NULL);
	} else if (is_kw(v, i, "EXEC") || is_kw(v, i, "EXECUTE") || is_kw(v, i, "sp_addsrvrolemember") ||
		   is_kw(v, i, "sp_addrolemember")) {
		size_t p = is_kw(v, i, "EXEC") || is_kw(v, i, "EXECUTE") ? k : i;

		while (is_kind(v, after(v, p), SQLT_DOT))
			p = after(v, after(v, p));
		if (is_kw(v, p, "sp_addsrvrolemember") || is_kw(v, p, "sp_addrolemember")) {
			bool admin = false;

			for (size_t j = p; j < end; j = after(v, j))
				if (is_kind(v, j, SQLT_STRING) || is_kind(v, j, SQLT_WORD))
					admin = admin || name_in(v, j, admin_names);
			set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_role_membership",
				admin ? 90 : 70, NULL);
		}
	} else if (is_kw(v, i, "UPDATE") || is_kw(v, i, "INSERT")) {
		size_t p = is_kw(v, i, "INSERT") ? after(v, k) : k;

		if ((name_is(v, p, "mysql") && is_kind(v, after(v, p), SQLT_DOT) &&
		     (name_is(v, after(v, after(v, p)), "user") || name_is(v, after(v, after(v, p)), "db"))) ||
		    name_is(v, p, "pg_authid") ||
		    (name_is(v, p, "pg_catalog") && name_is(v, after(v, after(v, p)), "pg_authid")))
			set_hit(h, DETECT_PRIVILEGE_ESCALATION, "rule_privesc_grant_tables", 90, NULL);
	}
}

bool detect_privilege_escalation(const struct detect_input *in, struct detect_hit *hit)
{
	struct view v;
	struct detect_hit h = { 0 };

	if (!view_init(&v, in))
		return false;
	for (size_t i = at(&v, 0); i < v.n; i = at(&v, stmt_end(&v, i) + 1)) {
		while (i < v.n && (is_kind(&v, i, SQLT_SEMI) || is_kind(&v, i, SQLT_LPAREN)))
			i = after(&v, i);
		if (i >= v.n)
			break;
		privesc_statement(&v, i, stmt_end(&v, i), &h);
	}
	if (h.rule_id == NULL)
		return false;
	*hit = h;
	return true;
}

/* ------------------------------------------------------------ data export */

/* Case-insensitive search for needle as a word in the first n bytes of s. */
static const char *find_word(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++) {
		if (strncasecmp(s + i, needle, m) != 0)
			continue;
		if ((i == 0 || !isalnum((unsigned char)s[i - 1])) &&
		    (i + m == n || !isalnum((unsigned char)s[i + m])))
			return s + i;
	}
	return NULL;
}

static bool bcp_export(const struct sql_analysis *a)
{
	size_t n = a->len > SQLA_SCAN_MAX ? SQLA_SCAN_MAX : a->len;
	const char *b = find_word(a->text, n, "bcp");

	if (b == NULL)
		return false;
	n -= (size_t)(b - a->text);
	return find_word(b, n, "out") != NULL || find_word(b, n, "queryout") != NULL;
}

static void export_statement(const struct view *v, size_t i, size_t end, struct detect_hit *h)
{
	if (is_kw(v, i, "COPY") || (is_op(v, i, "\\") && is_kw(v, after(v, i), "COPY")) ||
	    (is_kind(v, i, SQLT_OTHER) && is_kw(v, after(v, i), "COPY"))) {
		bool client = !is_kw(v, i, "COPY");

		for (size_t j = after(v, i); j < end; j = after(v, j)) {
			size_t k = after(v, j);

			if (!is_kw(v, j, "TO") || v->t[j].depth != v->t[i].depth)
				continue;
			if (is_kw(v, k, "PROGRAM"))
				set_hit(h, DETECT_DATA_EXPORT, "rule_export_copy_program", 95, NULL);
			else if (is_kw(v, k, "STDOUT"))
				set_hit(h, DETECT_DATA_EXPORT, "rule_export_copy_stdout", 50, NULL);
			else
				set_hit(h, DETECT_DATA_EXPORT, "rule_export_copy_file", client ? 70 : 85, NULL);
			return;
		}
		return;
	}
	if (is_kw(v, i, "EXPORT") || is_kw(v, i, "expdp")) {
		set_hit(h, DETECT_DATA_EXPORT, "rule_export_statement", 80, NULL);
		return;
	}
	for (size_t j = i; j < end; j = after(v, j)) {
		if (is_kw(v, j, "INTO") && (is_kw(v, after(v, j), "OUTFILE") || is_kw(v, after(v, j), "DUMPFILE")))
			set_hit(h, DETECT_DATA_EXPORT, "rule_export_outfile", 85, NULL);
		else if (is_call(v, j, "lo_export"))
			set_hit(h, DETECT_DATA_EXPORT, "rule_export_file", 80, NULL);
		else if ((is_kw(v, j, "dbms_datapump") || is_kw(v, j, "utl_file")) &&
			 is_kind(v, after(v, j), SQLT_DOT))
			set_hit(h, DETECT_DATA_EXPORT, "rule_export_statement", 80, NULL);
	}
}

bool detect_data_export(const struct detect_input *in, struct detect_hit *hit)
{
	struct view v;
	struct detect_hit h = { 0 };
	json_t *rows = in->details ? json_object_get(in->details, "rows") : NULL;
	int64_t limit = in->large_rows > 0 ? in->large_rows : 100000;
	char buf[64];

	if (json_is_integer(rows) && json_integer_value(rows) >= limit) {
		snprintf(buf, sizeof(buf), "rows=%lld", (long long)json_integer_value(rows));
		set_hit(&h, DETECT_DATA_EXPORT, "rule_export_large_result", 60, buf);
	} else if (json_is_real(rows) && json_real_value(rows) >= (double)limit) {
		set_hit(&h, DETECT_DATA_EXPORT, "rule_export_large_result", 60, NULL);
	}
	if (view_init(&v, in)) {
		for (size_t i = at(&v, 0); i < v.n; i = at(&v, stmt_end(&v, i) + 1)) {
			while (i < v.n && (is_kind(&v, i, SQLT_SEMI) || is_kind(&v, i, SQLT_LPAREN)))
				i = after(&v, i);
			if (i >= v.n)
				break;
			export_statement(&v, i, stmt_end(&v, i), &h);
		}
		if (bcp_export(in->sql))
			set_hit(&h, DETECT_DATA_EXPORT, "rule_export_bcp", 85, NULL);
	}
	if (h.rule_id == NULL)
		return false;
	*hit = h;
	return true;
}

/* ------------------------------------------------------- sensitive access */

static bool glob_ci(const char *p, size_t pn, const char *s)
{
	return str_glob_match(p, pn, s, true);
}

bool detect_pattern_match(const char *pattern, const char *schema, const char *name,
			  const char *column)
{
	const char *part[3];
	size_t len[3], n = 0;
	const char *p = pattern;

	while (n < 3) {
		const char *dot = strchr(p, '.');

		part[n] = p;
		len[n] = dot ? (size_t)(dot - p) : strlen(p);
		n++;
		if (dot == NULL)
			break;
		p = dot + 1;
		if (n == 3)
			return false;   /* four parts or more: not a pattern */
	}
	if (name == NULL || len[0] == 0)
		return false;
	if (n == 1)
		return glob_ci(part[0], len[0], name);
	if (schema != NULL && !glob_ci(part[0], len[0], schema))
		return false;
	if (!glob_ci(part[1], len[1], name))
		return false;
	return n == 2 || column == NULL || glob_ci(part[2], len[2], column);
}

bool detect_sensitive_access(const struct detect_input *in, struct detect_hit *hit)
{
	const struct sql_analysis *a = in->sql;
	struct detect_hit h = { 0 };
	size_t i;
	json_t *pat;

	if (a == NULL || !json_is_array(in->sensitive_objects))
		return false;
	json_array_foreach((json_t *)in->sensitive_objects, i, pat) {
		const char *ps = json_string_value(pat);
		size_t dots = 0;

		if (ps == NULL)
			continue;
		for (const char *c = ps; *c; c++)
			dots += *c == '.';
		for (size_t o = 0; o < a->n_objects; o++) {
			const struct sql_object *ob = &a->objects[o];

			if (dots < 2) {
				if (detect_pattern_match(ps, ob->schema, ob->name, NULL))
					set_hit(&h, DETECT_SENSITIVE_ACCESS, "rule_sensitive_object", 60, ps);
				continue;
			}
			if (a->star && detect_pattern_match(ps, ob->schema, ob->name, NULL))
				set_hit(&h, DETECT_SENSITIVE_ACCESS, "rule_sensitive_column", 70, ps);
			for (size_t c = 0; c < a->n_columns; c++)
				if (detect_pattern_match(ps, ob->schema, ob->name, a->columns[c]))
					set_hit(&h, DETECT_SENSITIVE_ACCESS, "rule_sensitive_column", 70, ps);
		}
	}
	if (h.rule_id == NULL)
		return false;
	*hit = h;
	return true;
}

/* ------------------------------------------------------------------ runner */

size_t detect_run(const struct detect_input *in, struct detect_hit *hits, size_t max)
{
	bool (*const fns[])(const struct detect_input *, struct detect_hit *) = {
		detect_sql_injection, detect_privilege_escalation, detect_data_export,
		detect_sensitive_access,
	};
	size_t n = 0;

	if (in->type == NULL || strcmp(in->type, "database.query") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]) && n < max; i++) {
		memset(&hits[n], 0, sizeof(hits[n]));
		if (fns[i](in, &hits[n]))
			n++;
	}
	return n;
}

/* ----------------------------------------------------------- login anomaly */

bool detect_login_anomaly(const struct detect_input *in, const char *tenant,
			  const struct detect_counter *counter,
			  const struct detect_login_limits *limits, int64_t now_ms,
			  struct detect_hit *hit)
{
	int64_t window = limits && limits->window_ms > 0 ? limits->window_ms : 300000;
	int64_t per_src = limits && limits->per_source > 0 ? limits->per_source : 20;
	int64_t per_user = limits && limits->per_user > 0 ? limits->per_user : 10;
	const char *src = in->details ? json_string_value(json_object_get(in->details, "source_ip")) : NULL;
	const char *user = in->details ? json_string_value(json_object_get(in->details, "user")) : NULL;
	struct detect_hit h = { 0 };
	char key[512];

	if (counter == NULL || counter->incr == NULL || in->type == NULL ||
	    strcmp(in->type, "user.login_failed") != 0)
		return false;
	if (src != NULL) {
		snprintf(key, sizeof(key), "login_failed:%s:src:%s", tenant ? tenant : "", src);
		if (counter->incr(counter->ctx, key, now_ms, window) >= per_src)
			set_hit(&h, DETECT_LOGIN_ANOMALY, "rule_login_burst_source", 70, src);
	}
	if (user != NULL) {
		snprintf(key, sizeof(key), "login_failed:%s:user:%s", tenant ? tenant : "", user);
		if (counter->incr(counter->ctx, key, now_ms, window) >= per_user)
			set_hit(&h, DETECT_LOGIN_ANOMALY, "rule_login_burst_user", 70, user);
	}
	if (h.rule_id == NULL)
		return false;
	*hit = h;
	return true;
}
