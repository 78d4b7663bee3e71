/*
 * sqlanalysis: libpg_query for PostgreSQL text, one dialect-aware tokenizer
 * for everything (sqlanalysis.h). Every libpg_query result is freed with
 * its own pg_query_free_* on every path.
 */
#include "sqlanalysis.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pg_query.h>

#include "util/buf.h"

enum sql_dialect sql_dialect_from_type(const char *db_type)
{
	if (db_type == NULL)
		return SQL_DIALECT_UNKNOWN;
	if (strcasecmp(db_type, "postgresql") == 0 || strcasecmp(db_type, "postgres") == 0)
		return SQL_DIALECT_POSTGRESQL;
	if (strcasecmp(db_type, "mysql") == 0 || strcasecmp(db_type, "mariadb") == 0)
		return SQL_DIALECT_MYSQL;
	if (strcasecmp(db_type, "sqlserver") == 0 || strcasecmp(db_type, "mssql") == 0)
		return SQL_DIALECT_SQLSERVER;
	if (strcasecmp(db_type, "oracle") == 0)
		return SQL_DIALECT_ORACLE;
	return SQL_DIALECT_UNKNOWN;
}

const char *sql_dialect_name(enum sql_dialect d)
{
	switch (d) {
	case SQL_DIALECT_POSTGRESQL: return "postgresql";
	case SQL_DIALECT_MYSQL: return "mysql";
	case SQL_DIALECT_SQLSERVER: return "sqlserver";
	case SQL_DIALECT_ORACLE: return "oracle";
	default: return "unknown";
	}
}

/* ------------------------------------------------------------- tokenizer */

struct lexer {
	const char *s;
	size_t n;
	size_t pos;
	enum sql_dialect d;
	int depth;
	bool in_exec;     /* inside a MySQL executable comment */
};

static bool is_word_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool is_word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c == '#' || c >= 0x80;
}

static bool is_op_char(unsigned char c)
{
	return strchr("+-*/<>=~!%^&|`?:@#", c) != NULL && c != '\0';
}

static bool hash_is_comment(enum sql_dialect d)
{
	return d == SQL_DIALECT_MYSQL || d == SQL_DIALECT_UNKNOWN;
}

/* Scans a quoted run starting after the opening quote q at lx->pos. Doubled
 * quotes escape; with backslash, a backslash escapes the next byte.
 * Returns false when the text ends first. */
static bool lex_quoted(struct lexer *lx, char close, bool backslash)
{
	while (lx->pos < lx->n) {
		char c = lx->s[lx->pos];

		if (backslash && c == '\\' && lx->pos + 1 < lx->n) {
			lx->pos += 2;
			continue;
		}
		lx->pos++;
		if (c == close) {
			if (lx->pos < lx->n && lx->s[lx->pos] == close) {
				lx->pos++;
				continue;
			}
			return true;
		}
	}
	return false;
}

/* A dollar-quote tag "$tag$" at p, or 0. */
static size_t dollar_tag_len(const char *s, size_t n, size_t p)
{
	size_t q = p + 1;

	if (q < n && isdigit((unsigned char)s[q]))
		return 0;
	while (q < n && (isalnum((unsigned char)s[q]) || s[q] == '_' || (unsigned char)s[q] >= 0x80))
		q++;
	return q < n && s[q] == '$' ? q + 1 - p : 0;
}

static bool lex_dollar_string(struct lexer *lx, size_t taglen)
{
	const char *tag = lx->s + lx->pos;
	size_t p = lx->pos + taglen;

	for (; p + taglen <= lx->n; p++) {
		if (lx->s[p] == '$' && memcmp(lx->s + p, tag, taglen) == 0) {
			lx->pos = p + taglen;
			return true;
		}
	}
	lx->pos = lx->n;
	return false;
}

static bool lex_block_comment(struct lexer *lx)
{
	int nest = 1;

	lx->pos += 2;
	while (lx->pos < lx->n) {
		if (lx->s[lx->pos] == '*' && lx->pos + 1 < lx->n && lx->s[lx->pos + 1] == '/') {
			lx->pos += 2;
			if (--nest == 0)
				return true;
		} else if (lx->d == SQL_DIALECT_POSTGRESQL && lx->s[lx->pos] == '/' &&
			   lx->pos + 1 < lx->n && lx->s[lx->pos + 1] == '*') {
			lx->pos += 2;
			nest++;
		} else {
			lx->pos++;
		}
	}
	return false;
}

static void lex_number(struct lexer *lx)
{
	const char *s = lx->s;
	size_t p = lx->pos;

	if (s[p] == '0' && p + 1 < lx->n && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
		p += 2;
		while (p < lx->n && isxdigit((unsigned char)s[p]))
			p++;
		lx->pos = p;
		return;
	}
	while (p < lx->n && isdigit((unsigned char)s[p]))
		p++;
	if (p < lx->n && s[p] == '.' && !(p + 1 < lx->n && s[p + 1] == '.'))
		for (p++; p < lx->n && isdigit((unsigned char)s[p]); p++)
			;
	if (p < lx->n && (s[p] == 'e' || s[p] == 'E')) {
		size_t q = p + 1;

		if (q < lx->n && (s[q] == '+' || s[q] == '-'))
			q++;
		if (q < lx->n && isdigit((unsigned char)s[q])) {
			for (p = q; p < lx->n && isdigit((unsigned char)s[p]); p++)
				;
		}
	}
	lx->pos = p;
}

/* Oracle's q'<d>...<d>' quoting: returns true when it applies at lx->pos. */
static bool lex_oracle_q(struct lexer *lx, bool *terminated)
{
	const char *s = lx->s;
	size_t p = lx->pos;
	char open, close;

	if (!(lx->d == SQL_DIALECT_ORACLE || lx->d == SQL_DIALECT_UNKNOWN))
		return false;
	if ((s[p] == 'n' || s[p] == 'N') && p + 1 < lx->n)
		p++;
	if (!(s[p] == 'q' || s[p] == 'Q') || p + 2 >= lx->n || s[p + 1] != '\'')
		return false;
	open = s[p + 2];
	if (isspace((unsigned char)open))
		return false;
	close = open == '[' ? ']' : open == '{' ? '}' : open == '(' ? ')' : open == '<' ? '>' : open;
	for (p += 3; p + 1 < lx->n; p++) {
		if (s[p] == close && s[p + 1] == '\'') {
			lx->pos = p + 2;
			*terminated = true;
			return true;
		}
	}
	lx->pos = lx->n;
	*terminated = false;
	return true;
}

/* Reads the token at lx->pos into *t; false at the end of the text. */
static bool lex_next(struct lexer *lx, struct sql_token *t)
{
	const char *s = lx->s;
	size_t start;
	unsigned char c;
	bool ok = true;

	t->flags = 0;
	while (lx->pos < lx->n && isspace((unsigned char)s[lx->pos])) {
		lx->pos++;
		t->flags |= SQLT_F_SPACE_BEFORE;
	}
	if (lx->pos >= lx->n)
		return false;
	if (lx->pos == 0)
		t->flags |= SQLT_F_SPACE_BEFORE;
	start = lx->pos;
	c = (unsigned char)s[start];
	t->depth = lx->depth > 0xffff ? 0xffff : (uint16_t)(lx->depth < 0 ? 0 : lx->depth);
	t->kind = SQLT_OTHER;

	if (c == '-' && start + 1 < lx->n && s[start + 1] == '-') {
		t->kind = SQLT_COMMENT_LINE;
		lx->pos += strcspn(s + start, "\n");
		if (lx->pos > lx->n)
			lx->pos = lx->n;
	} else if (c == '#' && hash_is_comment(lx->d)) {
		t->kind = SQLT_COMMENT_LINE;
		lx->pos += strcspn(s + start, "\n");
		if (lx->pos > lx->n)
			lx->pos = lx->n;
	} else if (c == '/' && start + 2 < lx->n && s[start + 1] == '*' && s[start + 2] == '!' &&
		   lx->d != SQL_DIALECT_POSTGRESQL && !lx->in_exec) {
		t->kind = SQLT_COMMENT_EXEC;
		lx->pos += 3;
		while (lx->pos < lx->n && isdigit((unsigned char)s[lx->pos]))
			lx->pos++;
		lx->in_exec = true;
	} else if (c == '*' && lx->in_exec && start + 1 < lx->n && s[start + 1] == '/') {
		t->kind = SQLT_COMMENT_EXEC;
		lx->pos += 2;
		lx->in_exec = false;
	} else if (c == '/' && start + 1 < lx->n && s[start + 1] == '*') {
		t->kind = SQLT_COMMENT_BLOCK;
		ok = lex_block_comment(lx);
	} else if (c == '\'') {
		t->kind = SQLT_STRING;
		lx->pos++;
		ok = lex_quoted(lx, '\'', lx->d == SQL_DIALECT_MYSQL);
	} else if (lex_oracle_q(lx, &ok)) {
		t->kind = SQLT_STRING;
	} else if ((c == 'e' || c == 'E' || c == 'n' || c == 'N' || c == 'x' || c == 'X' ||
		    c == 'b' || c == 'B') && start + 1 < lx->n && s[start + 1] == '\'') {
		t->kind = SQLT_STRING;
		lx->pos += 2;
		ok = lex_quoted(lx, '\'', lx->d == SQL_DIALECT_MYSQL || c == 'e' || c == 'E');
	} else if (c == '"') {
		bool str = lx->d == SQL_DIALECT_MYSQL || lx->d == SQL_DIALECT_UNKNOWN;

		t->kind = str ? SQLT_STRING : SQLT_QIDENT;
		lx->pos++;
		ok = lex_quoted(lx, '"', lx->d == SQL_DIALECT_MYSQL);
	} else if (c == '`' && (lx->d == SQL_DIALECT_MYSQL || lx->d == SQL_DIALECT_UNKNOWN)) {
		t->kind = SQLT_QIDENT;
		lx->pos++;
		ok = lex_quoted(lx, '`', false);
	} else if (c == '[' && lx->d == SQL_DIALECT_SQLSERVER) {
		t->kind = SQLT_QIDENT;
		lx->pos++;
		ok = lex_quoted(lx, ']', false);
	} else if (c == '$' && start + 1 < lx->n && isdigit((unsigned char)s[start + 1])) {
		t->kind = SQLT_PARAM;
		for (lx->pos++; lx->pos < lx->n && isdigit((unsigned char)s[lx->pos]); lx->pos++)
			;
	} else if (c == '$' && lx->d != SQL_DIALECT_MYSQL && lx->d != SQL_DIALECT_SQLSERVER &&
		   dollar_tag_len(s, lx->n, start) > 0) {
		t->kind = SQLT_STRING;
		ok = lex_dollar_string(lx, dollar_tag_len(s, lx->n, start));
	} else if (isdigit(c) || (c == '.' && start + 1 < lx->n && isdigit((unsigned char)s[start + 1]))) {
		t->kind = SQLT_NUMBER;
		lex_number(lx);
	} else if (is_word_start(c)) {
		t->kind = SQLT_WORD;
		while (lx->pos < lx->n && is_word_char((unsigned char)s[lx->pos]))
			lx->pos++;
	} else if (c == '@') {
		t->kind = SQLT_VAR;
		lx->pos++;
		if (lx->pos < lx->n && s[lx->pos] == '@')
			lx->pos++;
		while (lx->pos < lx->n && is_word_char((unsigned char)s[lx->pos]))
			lx->pos++;
		if (lx->pos - start == 1 || (lx->pos - start == 2 && s[start + 1] == '@'))
			t->kind = SQLT_OP;
	} else if (c == '?' && lx->d != SQL_DIALECT_POSTGRESQL) {
		t->kind = SQLT_PARAM;
		lx->pos++;
	} else if (c == ':' && start + 1 < lx->n && is_word_start((unsigned char)s[start + 1]) &&
		   (start == 0 || s[start - 1] != ':')) {
		t->kind = SQLT_PARAM;
		for (lx->pos++; lx->pos < lx->n && is_word_char((unsigned char)s[lx->pos]); lx->pos++)
			;
	} else if (c == '(') {
		t->kind = SQLT_LPAREN;
		lx->pos++;
		lx->depth++;
	} else if (c == ')') {
		lx->pos++;
		t->kind = SQLT_RPAREN;
		if (lx->depth > 0)
			lx->depth--;
		t->depth = lx->depth > 0xffff ? 0xffff : (uint16_t)lx->depth;
	} else if (c == ',') {
		t->kind = SQLT_COMMA;
		lx->pos++;
	} else if (c == ';') {
		t->kind = SQLT_SEMI;
		lx->pos++;
	} else if (c == '.') {
		t->kind = SQLT_DOT;
		lx->pos++;
	} else if (is_op_char(c)) {
		t->kind = SQLT_OP;
		lx->pos++;
		while (lx->pos < lx->n && is_op_char((unsigned char)s[lx->pos])) {
			char d = s[lx->pos], p = s[lx->pos - 1];

			if ((d == '-' && lx->pos + 1 < lx->n && s[lx->pos + 1] == '-') ||
			    (d == '/' && lx->pos + 1 < lx->n && s[lx->pos + 1] == '*') ||
			    (d == '*' && lx->in_exec && lx->pos + 1 < lx->n && s[lx->pos + 1] == '/') ||
			    (d == '#' && hash_is_comment(lx->d)) || (p == '*' && d == '/'))
				break;
			lx->pos++;
		}
	} else {
		lx->pos++;
	}
	if (!ok)
		t->flags |= SQLT_F_UNTERMINATED;
	t->off = (uint32_t)start;
	t->len = (uint32_t)(lx->pos - start);
	return true;
}

static bool token_eq(const char *text, const struct sql_token *t, const char *kw)
{
	size_t n;

	/* the detectors ask this of every token many times: fail fast */
	if (t->kind != SQLT_WORD || tolower((unsigned char)text[t->off]) != tolower((unsigned char)kw[0]))
		return false;
	n = strlen(kw);
	return t->len == n && strncasecmp(text + t->off, kw, n) == 0;
}

bool sqlanalysis_token_is(const struct sql_analysis *a, size_t i, const char *kw)
{
	return i < a->n_tokens && token_eq(a->text, &a->tokens[i], kw);
}

/* --------------------------------------------------------------- masking */

static size_t max_param(const char *text, enum sql_dialect d)
{
	struct lexer lx = { text, strlen(text), 0, d, 0, false };
	struct sql_token t;
	size_t max = 0;

	while (lex_next(&lx, &t)) {
		if (t.kind == SQLT_PARAM && text[t.off] == '$' && t.len < 10) {
			size_t v = 0;

			for (size_t i = 1; i < t.len; i++)
				v = v * 10 + (size_t)(text[t.off + i] - '0');
			if (v > max)
				max = v;
		}
	}
	return max;
}

char *sqlanalysis_mask_tokens(const char *text, enum sql_dialect d)
{
	size_t n = strlen(text);
	struct lexer lx = { text, n, 0, d, 0, false };
	struct sql_token t;
	struct buf b;
	size_t next = max_param(text, d) + 1, copied = 0;
	char ph[24];

	buf_init(&b);
	while (lex_next(&lx, &t)) {
		size_t keep = 0;

		if (t.kind == SQLT_COMMENT_LINE || t.kind == SQLT_COMMENT_BLOCK) {
			/* A comment holding a quote is usually the cut-off rest of an
			 * injected statement, literals included: mask its body whole. */
			if (memchr(text + t.off, '\'', t.len) == NULL &&
			    memchr(text + t.off, '"', t.len) == NULL)
				continue;
			keep = text[t.off] == '#' ? 1 : 2;
			if (t.kind == SQLT_COMMENT_BLOCK && !(t.flags & SQLT_F_UNTERMINATED))
				t.len -= 2;
		} else if (t.kind != SQLT_STRING && t.kind != SQLT_NUMBER) {
			continue;
		}
		if (buf_append(&b, text + copied, t.off + keep - copied) != 0)
			goto fail;
		/* a placeholder glued to a word or a '$' could form a new dollar
		 * quote on a later pass: keep them apart */
		if (keep)
			snprintf(ph, sizeof(ph), " $%zu ", next++);
		else
			snprintf(ph, sizeof(ph), "%s$%zu",
				 t.off > 0 && is_word_char((unsigned char)text[t.off - 1]) ? " " : "",
				 next++);
		if (buf_appends(&b, ph) != 0)
			goto fail;
		copied = t.off + t.len;
	}
	if (buf_append(&b, text + copied, n - copied) != 0)
		goto fail;
	return buf_steal(&b);
fail:
	buf_cleanup(&b);
	return NULL;
}

/* ------------------------------------------------------ analysis helpers */

static char *dup_lower(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = (char)tolower((unsigned char)s[i]);
	p[n] = '\0';
	return p;
}

/* An identifier token's name without its quotes; lower-cased. */
static char *ident_dup(const char *text, const struct sql_token *t)
{
	if (t->kind == SQLT_QIDENT && t->len >= 2)
		return dup_lower(text + t->off + 1, t->len - 2);
	return dup_lower(text + t->off, t->len);
}

static int add_object(struct sql_analysis *a, char *schema, char *name)
{
	for (size_t i = 0; i < a->n_objects; i++) {
		const struct sql_object *o = &a->objects[i];

		if (strcmp(o->name, name) == 0 &&
		    ((o->schema == NULL && schema == NULL) ||
		     (o->schema != NULL && schema != NULL && strcmp(o->schema, schema) == 0))) {
			free(schema);
			free(name);
			return 0;
		}
	}
	if (a->n_objects == SQLA_MAX_OBJECTS) {
		a->truncated = true;
		free(schema);
		free(name);
		return 0;
	}
	a->objects[a->n_objects].schema = schema;
	a->objects[a->n_objects].name = name;
	a->n_objects++;
	return 0;
}

/* Keywords never taken for a column by the tokenizer path. */
static bool column_stopword(const char *s, size_t n)
{
	static const char *const kws[] = {
		"select", "from", "where", "and", "or", "not", "null", "as", "on", "join", "into",
		"values", "set", "update", "delete", "insert", "grant", "to", "all", "order", "by",
		"group", "limit", "union", "in", "is", "like", "table", "create", "drop", "alter",
		"exec", "execute", "distinct", "inner", "left", "right", "outer", "case", "when",
		"then", "else", "end", "having", "offset", "between", "exists", "asc", "desc",
		"with", "top", "true", "false", "begin", "commit", "rollback", NULL
	};

	for (const char *const *k = kws; *k != NULL; k++)
		if (strlen(*k) == n && strncasecmp(*k, s, n) == 0)
			return true;
	return false;
}

static int add_column(struct sql_analysis *a, const char *s, size_t n)
{
	for (size_t i = 0; i < a->n_columns; i++)
		if (strlen(a->columns[i]) == n && strncasecmp(a->columns[i], s, n) == 0)
			return 0;
	if (a->n_columns == SQLA_MAX_COLUMNS) {
		a->truncated = true;
		return 0;
	}
	a->columns[a->n_columns] = dup_lower(s, n);
	if (a->columns[a->n_columns] == NULL)
		return -1;
	a->n_columns++;
	return 0;
}

static const struct {
	const char *kw;
	const char *aid;
} action_words[] = {
	{ "SELECT", "SL" }, { "WITH", "SL" }, { "VALUES", "SL" }, { "SHOW", "SL" },
	{ "INSERT", "IN" }, { "REPLACE", "IN" }, { "UPDATE", "UP" }, { "DELETE", "DL" },
	{ "EXECUTE", "EX" }, { "EXEC", "EX" }, { "CALL", "EX" }, { "DO", "EX" },
	{ "CREATE", "CR" }, { "ALTER", "AL" }, { "RENAME", "AL" }, { "DROP", "DR" },
	{ "GRANT", "G" }, { "REVOKE", "R" }, { "DENY", "D" },
};

static const char *word_action(const char *text, const struct sql_token *t)
{
	for (size_t i = 0; i < sizeof(action_words) / sizeof(action_words[0]); i++)
		if (token_eq(text, t, action_words[i].kw))
			return action_words[i].aid;
	return "";
}

static bool is_comment(const struct sql_token *t)
{
	return t->kind == SQLT_COMMENT_LINE || t->kind == SQLT_COMMENT_BLOCK ||
	       t->kind == SQLT_COMMENT_EXEC;
}

/* Text that is one procedural block whose semicolons do not end it. */
static bool tokens_one_block(const struct sql_analysis *a)
{
	size_t i = 0, n = a->n_tokens;
	const char *x = a->text;

	while (i < n && is_comment(&a->tokens[i]))
		i++;
	if (i >= n)
		return false;
	if (token_eq(x, &a->tokens[i], "BEGIN") || token_eq(x, &a->tokens[i], "DECLARE"))
		return true;
	if (!token_eq(x, &a->tokens[i], "CREATE"))
		return false;
	for (size_t j = i + 1; j < n && j < i + 6; j++)
		if (token_eq(x, &a->tokens[j], "PROCEDURE") || token_eq(x, &a->tokens[j], "FUNCTION") ||
		    token_eq(x, &a->tokens[j], "TRIGGER") || token_eq(x, &a->tokens[j], "PACKAGE") ||
		    token_eq(x, &a->tokens[j], "BODY"))
			return true;
	return false;
}

/* Action of the statement whose first token is i: the first keyword, and
 * for WITH the first data-changing keyword at the same depth. */
static const char *stmt_action_at(const struct sql_analysis *a, size_t i)
{
	const char *x = a->text;
	const char *aid;

	while (i < a->n_tokens && (a->tokens[i].kind == SQLT_LPAREN || is_comment(&a->tokens[i])))
		i++;
	if (i >= a->n_tokens)
		return "";
	aid = word_action(x, &a->tokens[i]);
	if (token_eq(x, &a->tokens[i], "WITH")) {
		uint16_t d = a->tokens[i].depth;

		for (size_t j = i + 1; j < a->n_tokens && a->tokens[j].kind != SQLT_SEMI; j++) {
			if (a->tokens[j].depth != d || a->tokens[j].kind != SQLT_WORD)
				continue;
			if (token_eq(x, &a->tokens[j], "INSERT") || token_eq(x, &a->tokens[j], "UPDATE") ||
			    token_eq(x, &a->tokens[j], "DELETE") || token_eq(x, &a->tokens[j], "SELECT"))
				return word_action(x, &a->tokens[j]);
		}
	}
	return aid;
}

static void tokens_statements(struct sql_analysis *a)
{
	bool block = tokens_one_block(a), open = false;
	int n = 0;

	for (size_t i = 0; i < a->n_tokens; i++) {
		const struct sql_token *t = &a->tokens[i];

		if (t->kind == SQLT_SEMI && !block) {
			open = false;
			continue;
		}
		if (open || is_comment(t) || t->kind == SQLT_SEMI)
			continue;
		open = true;
		if (n < SQLA_MAX_STMTS)
			snprintf(a->stmt_actions[n], sizeof(a->stmt_actions[n]), "%s", stmt_action_at(a, i));
		n++;
	}
	a->n_statements = n;
}

static bool is_name_token(const struct sql_token *t)
{
	return t->kind == SQLT_WORD || t->kind == SQLT_QIDENT;
}

/* Words after which a dotted name is an object. */
static bool object_keyword(const char *x, const struct sql_token *t)
{
	static const char *kws[] = { "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "STRAIGHT_JOIN" };

	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (token_eq(x, t, kws[i]))
			return true;
	return false;
}

/* Words that cannot be an object name right after an object keyword. */
static bool not_object_word(const char *x, const struct sql_token *t)
{
	static const char *kws[] = { "SELECT", "OUTFILE", "DUMPFILE", "IF", "EXISTS", "NOT",
				     "ONLY", "LATERAL", "TEMP", "TEMPORARY", "UNNEST", "DUAL",
				     "STDOUT", "STDIN", "WITH", "VALUES" };

	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
		if (token_eq(x, t, kws[i]))
			return true;
	return false;
}

/* Reads a dotted name at i; returns the index after it, or i. */
static size_t read_object(struct sql_analysis *a, size_t i, int *err)
{
	const struct sql_token *p[4];
	size_t n = 0, j = i;

	while (j < a->n_tokens && n < 4 && is_name_token(&a->tokens[j])) {
		p[n++] = &a->tokens[j++];
		if (j + 1 < a->n_tokens && a->tokens[j].kind == SQLT_DOT)
			j++;
		else
			break;
	}
	if (n == 0 || (p[n - 1]->kind == SQLT_WORD && not_object_word(a->text, p[n - 1])))
		return i;
	if (j < a->n_tokens && a->tokens[j].kind == SQLT_LPAREN && n == 1 &&
	    !token_eq(a->text, &a->tokens[i - 1], "INTO") &&
	    !token_eq(a->text, &a->tokens[i - 1], "TABLE"))
		return i;
	{
		char *name = ident_dup(a->text, p[n - 1]);
		char *schema = n >= 2 ? ident_dup(a->text, p[n - 2]) : NULL;

		if (name == NULL || (n >= 2 && schema == NULL)) {
			free(name);
			free(schema);
			*err = -1;
			return j;
		}
		*err = add_object(a, schema, name);
	}
	return j;
}

static int tokens_objects(struct sql_analysis *a)
{
	const char *x = a->text;
	int err = 0;

	for (size_t i = 0; i + 1 < a->n_tokens && err == 0; i++) {
		const struct sql_token *t = &a->tokens[i];
		size_t j;

		if (t->kind == SQLT_OP && t->len == 1 && x[t->off] == '*' && i > 0 &&
		    (token_eq(x, &a->tokens[i - 1], "SELECT") || a->tokens[i - 1].kind == SQLT_DOT ||
		     a->tokens[i - 1].kind == SQLT_COMMA || token_eq(x, &a->tokens[i - 1], "DISTINCT")))
			a->star = true;
		if (is_name_token(t) && !(a->tokens[i + 1].kind == SQLT_LPAREN) &&
		    !(a->tokens[i + 1].kind == SQLT_DOT)) {
			size_t off = t->off, len = t->len;

			if (t->kind == SQLT_QIDENT && len >= 2) {
				off++;
				len -= 2;
			}
			if (!(t->kind == SQLT_WORD && column_stopword(x + off, len)) &&
			    add_column(a, x + off, len) != 0)
				return -1;
		}
		if (!object_keyword(x, t))
			continue;
		j = read_object(a, i + 1, &err);
		/* FROM a, b c, d AS e: follow the list at the same depth */
		while (j > i + 1 && err == 0 && token_eq(x, t, "FROM")) {
			if (j < a->n_tokens && token_eq(x, &a->tokens[j], "AS"))
				j++;
			if (j < a->n_tokens && is_name_token(&a->tokens[j]) &&
			    !object_keyword(x, &a->tokens[j]))
				j++;
			if (j + 1 >= a->n_tokens || a->tokens[j].kind != SQLT_COMMA ||
			    a->tokens[j].depth != t->depth)
				break;
			i = j;
			j = read_object(a, j + 1, &err);
			if (j == i + 1)
				break;
		}
	}
	if (a->n_tokens > 0 && is_name_token(&a->tokens[a->n_tokens - 1])) {
		const struct sql_token *t = &a->tokens[a->n_tokens - 1];
		bool quoted = t->kind == SQLT_QIDENT && t->len >= 2;

		if (!(t->kind == SQLT_WORD && column_stopword(x + t->off, t->len)) &&
		    add_column(a, x + t->off + quoted, t->len - (quoted ? 2 : 0)) != 0)
			return -1;
	}
	return err;
}

static int tokenize(struct sql_analysis *a)
{
	size_t n = a->len > SQLA_SCAN_MAX ? SQLA_SCAN_MAX : a->len;
	struct lexer lx = { a->text, n, 0, a->dialect, 0, false };
	struct sql_token t;
	size_t cap = 64;

	if (n < a->len)
		a->truncated = true;
	a->tokens = malloc(cap * sizeof(*a->tokens));
	if (a->tokens == NULL)
		return -1;
	while (lex_next(&lx, &t)) {
		if (a->n_tokens == SQLA_MAX_TOKENS) {
			a->truncated = true;
			break;
		}
		if (a->n_tokens == cap) {
			struct sql_token *p = realloc(a->tokens, 2 * cap * sizeof(*p));

			if (p == NULL)
				return -1;
			a->tokens = p;
			cap *= 2;
		}
		a->tokens[a->n_tokens++] = t;
	}
	return 0;
}

/* ------------------------------------------------------- libpg_query path */

/* Action of a top-level node of libpg_query's tree; GrantStmt and CopyStmt
 * are refined by their is_grant / is_from flags (false ones are omitted). */
static const char *pg_node_action(const char *node, size_t n)
{
	static const struct {
		const char *node;
		const char *aid;
	} map[] = {
		{ "SelectStmt", "SL" }, { "InsertStmt", "IN" }, { "UpdateStmt", "UP" },
		{ "DeleteStmt", "DL" }, { "ExecuteStmt", "EX" }, { "CallStmt", "EX" },
		{ "DoStmt", "EX" }, { "IndexStmt", "CR" }, { "ViewStmt", "CR" },
		{ "DefineStmt", "CR" }, { "CompositeTypeStmt", "CR" }, { "RuleStmt", "CR" },
		{ "DropStmt", "DR" }, { "RenameStmt", "AL" }, { "ExplainStmt", "SL" },
		{ "GrantStmt", "R" }, { "GrantRoleStmt", "R" }, { "CopyStmt", "SL" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].node) == n && memcmp(node, map[i].node, n) == 0)
			return map[i].aid;
	if (n >= 6 && memcmp(node, "Create", 6) == 0)
		return "CR";
	if (n >= 5 && memcmp(node, "Alter", 5) == 0)
		return "AL";
	if (n >= 4 && memcmp(node, "Drop", 4) == 0)
		return "DR";
	return "";
}

/*
 * libpg_query's JSON is read by one forward scan instead of a DOM: building
 * a jansson tree of it cost several times the parse itself. The scan keeps
 * the last key seen at each nesting level, which is all the context the
 * fields below need.
 */
#define PGJ_DEPTH 512

struct pgj {
	const char *p;           /* scan position in the JSON text */
	const char *key[PGJ_DEPTH];
	size_t klen[PGJ_DEPTH];
	int depth;
};

static bool pgj_key_is(const struct pgj *j, int d, const char *k)
{
	return d >= 0 && d < PGJ_DEPTH && j->key[d] != NULL && j->klen[d] == strlen(k) &&
	       memcmp(j->key[d], k, j->klen[d]) == 0;
}

/* Scans a JSON string at j->p (on its opening quote); *s and *n get its raw
 * contents (escapes left as they are). */
static void pgj_string(struct pgj *j, const char **s, size_t *n)
{
	const char *q = ++j->p;

	while (*q != '\0' && *q != '"')
		q += (*q == '\\' && q[1] != '\0') ? 2 : 1;
	*s = j->p;
	*n = (size_t)(q - j->p);
	j->p = *q ? q + 1 : q;
}

/* A name from the tree: the common escapes \" and \\ undone. */
static char *pgj_name(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		out[o++] = (char)tolower((unsigned char)s[i]);
	}
	out[o] = '\0';
	return out;
}

static int pg_scan(struct sql_analysis *a, const char *json)
{
	struct pgj j;
	const char *schema = NULL, *col = NULL;
	size_t schema_len = 0, col_len = 0;
	int schema_depth = -1, col_depth = -1, stmt = -1;

	memset(&j, 0, sizeof(j));
	j.p = json;
	while (*j.p != '\0') {
		char c = *j.p;

		if (c == '{' || c == '[') {
			j.depth++;
			if (j.depth < PGJ_DEPTH)
				j.key[j.depth] = NULL;
			j.p++;
		} else if (c == '}' || c == ']') {
			if (col != NULL && j.depth == col_depth) {
				if (add_column(a, col, col_len) != 0)
					return -1;
				col = NULL;
			}
			j.depth--;
			j.p++;
		} else if (c == '"') {
			const char *k, *v = NULL;
			size_t kn, vn = 0;
			int d = j.depth;

			pgj_string(&j, &k, &kn);
			if (*j.p != ':')
				continue;	/* a value, read with its key below */
			j.p++;
			if (d < PGJ_DEPTH) {
				j.key[d] = k;
				j.klen[d] = kn;
			}
			if (*j.p == '"')
				pgj_string(&j, &v, &vn);
			/* {"stmts":[{"stmt":{"<Node>":{...}}}]}: the node is a key at depth 4 */
			if (d == 4 && pgj_key_is(&j, 3, "stmt")) {
				stmt++;
				if (stmt < SQLA_MAX_STMTS)
					snprintf(a->stmt_actions[stmt], sizeof(a->stmt_actions[stmt]), "%s",
						 pg_node_action(k, kn));
			} else if (d == 5 && stmt >= 0 && stmt < SQLA_MAX_STMTS &&
				   strncmp(j.p, "true", 4) == 0 &&
				   ((pgj_key_is(&j, 4, "GrantStmt") || pgj_key_is(&j, 4, "GrantRoleStmt")) &&
				    kn == 8 && memcmp(k, "is_grant", 8) == 0)) {
				snprintf(a->stmt_actions[stmt], sizeof(a->stmt_actions[stmt]), "G");
			} else if (d == 5 && stmt >= 0 && stmt < SQLA_MAX_STMTS &&
				   strncmp(j.p, "true", 4) == 0 && pgj_key_is(&j, 4, "CopyStmt") &&
				   kn == 7 && memcmp(k, "is_from", 7) == 0) {
				snprintf(a->stmt_actions[stmt], sizeof(a->stmt_actions[stmt]), "IN");
			} else if (v != NULL && kn == 10 && memcmp(k, "schemaname", 10) == 0) {
				schema = v;
				schema_len = vn;
				schema_depth = d;
			} else if (v != NULL && kn == 7 && memcmp(k, "relname", 7) == 0) {
				char *name = pgj_name(v, vn);
				char *sch = schema != NULL && schema_depth == d ? pgj_name(schema, schema_len) : NULL;

				if (name == NULL || (schema != NULL && schema_depth == d && sch == NULL)) {
					free(name);
					free(sch);
					return -1;
				}
				schema = NULL;
				if (add_object(a, sch, name) != 0)
					return -1;
			} else if (v != NULL && kn == 4 && memcmp(k, "sval", 4) == 0 &&
				   pgj_key_is(&j, d - 1, "String") && pgj_key_is(&j, d - 3, "fields") &&
				   pgj_key_is(&j, d - 4, "ColumnRef")) {
				/* the last field of a ColumnRef is the column; keep it until it closes */
				col = v;
				col_len = vn;
				col_depth = d - 3;
			} else if (kn == 6 && memcmp(k, "A_Star", 6) == 0 && pgj_key_is(&j, d - 2, "fields")) {
				a->star = true;
				col = NULL;
			} else if (v != NULL && kn == 4 && memcmp(k, "name", 4) == 0 &&
				   pgj_key_is(&j, d - 1, "ResTarget")) {
				if (add_column(a, v, vn) != 0)
					return -1;
			}
		} else {
			j.p++;
		}
	}
	a->n_statements = stmt + 1;
	return 0;
}

/* Parses with libpg_query; 1 when it parsed, 0 when it did not, -1 on OOM. */
static int pg_analyse(struct sql_analysis *a)
{
	PgQueryParseResult r = pg_query_parse(a->text);
	int rc = 0;

	if (r.error == NULL && r.parse_tree != NULL) {
		a->pg_parsed = true;
		rc = pg_scan(a, r.parse_tree) != 0 ? -1 : 1;
	}
	pg_query_free_parse_result(r);
	return rc;
}

static char *pg_mask(const char *text)
{
	PgQueryNormalizeResult r = pg_query_normalize(text);
	char *masked = NULL;

	if (r.error == NULL && r.normalized_query != NULL)
		masked = sqlanalysis_mask_tokens(r.normalized_query, SQL_DIALECT_POSTGRESQL);
	else
		masked = sqlanalysis_mask_tokens(text, SQL_DIALECT_POSTGRESQL);
	pg_query_free_normalize_result(r);
	return masked;
}

/* ---------------------------------------------------------------- driver */

enum api_err sqlanalysis_run(const char *text, enum sql_dialect dialect, unsigned flags,
			     struct sql_analysis *out)
{
	bool try_pg = dialect == SQL_DIALECT_POSTGRESQL || dialect == SQL_DIALECT_UNKNOWN;
	int pg = 0;

	out->dialect = dialect;
	out->len = strlen(text);
	out->text = malloc(out->len + 1);
	if (out->text == NULL)
		return API_ERR_INTERNAL;
	memcpy(out->text, text, out->len + 1);
	text = out->text;
	if (try_pg && out->len <= SQLA_PARSE_MAX) {
		pg = pg_analyse(out);
		if (pg < 0)
			return API_ERR_INTERNAL;
		out->parse_failed = pg == 0;
	} else if (try_pg) {
		out->truncated = true;
	}
	if (pg == 1 && dialect == SQL_DIALECT_UNKNOWN)
		out->dialect = SQL_DIALECT_POSTGRESQL;
	if (tokenize(out) != 0)
		return API_ERR_INTERNAL;
	if (pg != 1) {
		tokens_statements(out);
		if (tokens_objects(out) != 0)
			return API_ERR_INTERNAL;
	}
	snprintf(out->action_id, sizeof(out->action_id), "%s",
		 out->n_statements > 0 ? out->stmt_actions[0] : "");
	if (out->n_objects > 0) {
		out->schema_name = out->objects[0].schema;
		out->object_name = out->objects[0].name;
	}
	if (flags & SQLA_WANT_MASK) {
		out->masked = pg == 1 ? pg_mask(text) : sqlanalysis_mask_tokens(text, out->dialect);
		if (out->masked == NULL)
			return API_ERR_INTERNAL;
	}
	return API_OK;
}

void sqlanalysis_cleanup(struct sql_analysis *a)
{
	for (size_t i = 0; i < a->n_objects; i++) {
		free(a->objects[i].schema);
		free(a->objects[i].name);
	}
	for (size_t i = 0; i < a->n_columns; i++)
		free(a->columns[i]);
	free(a->tokens);
	free(a->masked);
	free(a->text);
	memset(a, 0, sizeof(*a));
}

/* --------------------------------------------------------- event helpers */

static bool option_bool(const json_t *opts, const char *key, bool dflt)
{
	json_t *v = json_is_object(opts) ? json_object_get(opts, key) : NULL;

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

enum api_err sqlanalysis_apply_audit_options(json_t *details, const json_t *audit_options,
					     enum sql_dialect dialect,
					     const struct sql_analysis *a)
{
	json_t *q = json_object_get(details, "query");
	char *masked = NULL;
	int rc;

	if (!json_is_string(q))
		return API_OK;
	if (!option_bool(audit_options, "capture_queries", true))
		return json_object_del(details, "query") == 0 ? API_OK : API_ERR_INTERNAL;
	if (!option_bool(audit_options, "mask_sensitive_data", true))
		return API_OK;
	if (a != NULL && a->text != NULL && strcmp(a->text, json_string_value(q)) == 0) {
		if (a->masked != NULL)
			masked = strdup(a->masked);
		else if (a->pg_parsed)
			masked = pg_mask(a->text);
		else
			masked = sqlanalysis_mask_tokens(a->text, a->dialect);
		if (masked == NULL)
			return API_ERR_INTERNAL;
		rc = json_object_set_new(details, "query", json_string(masked));
		free(masked);
	} else {
		struct sql_analysis tmp;

		memset(&tmp, 0, sizeof(tmp));
		if (sqlanalysis_run(json_string_value(q), dialect, SQLA_WANT_MASK, &tmp) != API_OK) {
			sqlanalysis_cleanup(&tmp);
			return API_ERR_INTERNAL;
		}
		masked = tmp.masked;
		tmp.masked = NULL;
		sqlanalysis_cleanup(&tmp);
		rc = json_object_set_new(details, "query", json_string(masked));
		free(masked);
	}
	return rc == 0 ? API_OK : API_ERR_INTERNAL;
}

static int fill_one(json_t *details, const char *key, const char *value)
{
	json_t *v;

	if (value == NULL || value[0] == '\0' || json_object_get(details, key) != NULL)
		return 0;
	v = json_string(value);
	if (v == NULL)
		return 0;	/* not UTF-8: a name cut at the scan cap */
	return json_object_set_new(details, key, v);
}

enum api_err sqlanalysis_fill_details(json_t *details, const struct sql_analysis *a)
{
	if (fill_one(details, "action_id", a->action_id) != 0 ||
	    fill_one(details, "schema_name", a->schema_name) != 0 ||
	    fill_one(details, "object_name", a->object_name) != 0)
		return API_ERR_INTERNAL;
	return API_OK;
}
