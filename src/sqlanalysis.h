/*
 * sqlanalysis: what one audited statement does, for the kAudit fields, the
 * built-in detectors and masking. PostgreSQL text goes through libpg_query
 * (the server's own grammar); every dialect, and PostgreSQL text that does
 * not parse, also goes through one small dialect-aware tokenizer whose
 * tokens the detectors read. Free of store and FastCGI code; owns nothing
 * but the analysis it returns. docs/detection.md says what the tokenizer
 * recognises and what it does not.
 */
#ifndef DBAUDIT_SQLANALYSIS_H
#define DBAUDIT_SQLANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_err.h"

/*
 * Bounded cost: libpg_query sees a statement only up to SQLA_PARSE_MAX
 * bytes, the tokenizer keeps at most SQLA_MAX_TOKENS tokens from the first
 * SQLA_SCAN_MAX bytes, and at most SQLA_MAX_OBJECTS objects and
 * SQLA_MAX_COLUMNS columns are kept. Masking alone always covers the whole
 * text (one linear pass), so no literal past a cap is ever stored.
 */
#define SQLA_PARSE_MAX (32 * 1024)
#define SQLA_SCAN_MAX (64 * 1024)
#define SQLA_MAX_TOKENS 8192
#define SQLA_MAX_OBJECTS 32
#define SQLA_MAX_COLUMNS 64
#define SQLA_MAX_STMTS 16
#define SQLA_ACTION_MAX 8

enum sql_dialect {
	SQL_DIALECT_UNKNOWN = 0,
	SQL_DIALECT_POSTGRESQL,
	SQL_DIALECT_MYSQL,      /* MySQL and MariaDB */
	SQL_DIALECT_SQLSERVER,
	SQL_DIALECT_ORACLE,
};

/* The dialect of a database type of the databases API ("postgresql",
 * "mysql", "mariadb", "sqlserver", "oracle"); UNKNOWN for anything else
 * or NULL. */
enum sql_dialect sql_dialect_from_type(const char *db_type);

/* Name of a dialect, "unknown" for UNKNOWN. */
const char *sql_dialect_name(enum sql_dialect d);

enum sql_token_kind {
	SQLT_WORD,           /* keyword or unquoted identifier */
	SQLT_QIDENT,         /* "x" (not MySQL), `x`, [x] (SQL Server) */
	SQLT_STRING,         /* 'x', E'x', N'x', X'..', $tag$x$tag$, MySQL "x" */
	SQLT_NUMBER,         /* 12, 1.5e3, .5, 0x1F */
	SQLT_PARAM,          /* $1, ?, :name */
	SQLT_VAR,            /* @x, @@version */
	SQLT_OP,             /* = <> != <= || :: and every other operator run */
	SQLT_LPAREN,
	SQLT_RPAREN,
	SQLT_COMMA,
	SQLT_SEMI,
	SQLT_DOT,
	SQLT_COMMENT_LINE,   /* -- x, and # x for MySQL and unknown dialects */
	SQLT_COMMENT_BLOCK,  /* slash-star comments, nested in PostgreSQL */
	SQLT_COMMENT_EXEC,   /* MySQL's executable comment opener or its closer */
	SQLT_OTHER,
};

#define SQLT_F_SPACE_BEFORE 1u  /* whitespace right before the token */
#define SQLT_F_UNTERMINATED 2u  /* a quote or comment runs to the end */

struct sql_token {
	uint8_t kind;        /* enum sql_token_kind */
	uint8_t flags;       /* SQLT_F_* */
	uint16_t depth;      /* parenthesis depth, saturating */
	uint32_t off;        /* byte offset in the analysed text */
	uint32_t len;        /* bytes */
};

/* One table (or view, sequence, ...) a statement touches; strings owned. */
struct sql_object {
	char *schema;        /* NULL when unqualified */
	char *name;
};

struct sql_analysis {
	enum sql_dialect dialect;
	char *text;               /* owned: a copy of the statement analysed */
	size_t len;               /* its length in bytes */
	bool pg_parsed;           /* libpg_query parsed it */
	bool parse_failed;        /* PostgreSQL (or unknown) text libpg_query refused */
	bool truncated;           /* past a cap: objects/tokens cover a prefix only */
	int n_statements;         /* 0 for empty text */
	char action_id[SQLA_ACTION_MAX + 1];  /* of the first statement; "" when none */
	char stmt_actions[SQLA_MAX_STMTS][SQLA_ACTION_MAX + 1]; /* per statement */
	const char *schema_name;  /* the first object's, borrowed from objects; or NULL */
	const char *object_name;  /* the first object's name, or NULL */
	struct sql_object objects[SQLA_MAX_OBJECTS];
	size_t n_objects;
	char *columns[SQLA_MAX_COLUMNS];  /* owned; lower-cased column names seen */
	size_t n_columns;
	bool star;                /* SELECT * or t.* somewhere */
	struct sql_token *tokens; /* owned, n_tokens of them */
	size_t n_tokens;
	char *masked;             /* owned: every literal as $n, when asked */
};

#define SQLA_WANT_MASK 1u

/*
 * Analyses text (NUL-terminated) as the given dialect and fills *out, which
 * the caller zeroes first and releases with sqlanalysis_cleanup whatever the
 * result. PostgreSQL and unknown dialects try libpg_query first; every
 * dialect is tokenized. With SQLA_WANT_MASK, out->masked receives the text
 * with every literal replaced by $1, $2, ... (pg_query_normalize for text
 * it parses, the tokenizer otherwise). Returns API_OK, or API_ERR_INTERNAL
 * when memory runs out. Text that is not SQL is not an error.
 */
enum api_err sqlanalysis_run(const char *text, enum sql_dialect dialect, unsigned flags,
			     struct sql_analysis *out);

/* Releases what a is owns and zeroes it; safe on a zeroed analysis. */
void sqlanalysis_cleanup(struct sql_analysis *a);

/*
 * The text with every literal (string, number, and literals inside MySQL
 * executable comments) replaced by $n, numbering after the highest $n
 * already present, through the tokenizer alone over the whole text.
 * Returns a malloc'ed string the caller frees, or NULL when memory runs out.
 */
char *sqlanalysis_mask_tokens(const char *text, enum sql_dialect dialect);

/* The bytes of token t of a as a pointer into a->text. */
static inline const char *sqlanalysis_token_text(const struct sql_analysis *a,
						 const struct sql_token *t)
{
	return a->text + t->off;
}

/* True when token i of a is a word equal to kw (ASCII case-insensitive). */
bool sqlanalysis_token_is(const struct sql_analysis *a, size_t i, const char *kw);

/*
 * Applies a database's audit_options (CONTRACT §6) to the details of an
 * event about to be stored, after policies and detectors have seen them:
 * capture_queries false removes details.query; mask_sensitive_data (true
 * when absent, and when audit_options is NULL) replaces details.query by its
 * masked form. a, when not NULL, is the analysis of that same query with
 * SQLA_WANT_MASK, reused to avoid a second pass. Returns API_OK or
 * API_ERR_INTERNAL (the event must then not be stored).
 */
enum api_err sqlanalysis_apply_audit_options(json_t *details, const json_t *audit_options,
					     enum sql_dialect dialect,
					     const struct sql_analysis *a);

/*
 * Fills details.action_id, details.schema_name and details.object_name from
 * a when the collector did not send them and a has a value for them.
 * Returns API_OK or API_ERR_INTERNAL.
 */
enum api_err sqlanalysis_fill_details(json_t *details, const struct sql_analysis *a);

#endif
