/* parse_ctx.h - what the generated lexer and parser share with parse.c. */
#ifndef PARSE_CTX_H
#define PARSE_CTX_H

#include <stddef.h>

#include "ast.h"
#include "diag.h"

/* State of one lexer instance (flex's extra data). */
struct lex_extra {
    const nc_source *src;
    diag *diag;
    arena *ar;
    int line, column;      /* position of the next character, 1-based */
    int start_token;       /* returned once before the input: picks the grammar's start */
    int depth;             /* open brackets ( [ { */
    int stop;              /* a fatal error: the lexer ended the input early */
};

/* Deepest nesting of brackets (statement bodies, branches, tuples and
 * parentheses together) the lexer accepts. */
#define LEX_MAX_NESTING 128

/* State of one parse. */
typedef struct parse_ctx {
    arena *ar;
    diag *diag;
    void *scanner;         /* yyscan_t */
    const struct lex_extra *lex;
    ast_item *items;       /* result of START_FILE */
    ast_expr *expr;        /* result of START_EXPR */
} parse_ctx;

void lex_advance(struct lex_extra *x, nc_loc *loc, const char *text, int len);
void lex_eof(struct lex_extra *x, nc_loc *loc);
long long lex_int(struct lex_extra *x, const nc_loc *loc, const char *text,
                  size_t len);
double lex_float(struct lex_extra *x, const nc_loc *loc, const char *text,
                 size_t len);
const char *lex_ident(struct lex_extra *x, const nc_loc *loc, const char *text,
                      size_t len);
const char *lex_string(struct lex_extra *x, const nc_loc *loc, const char *text,
                       size_t len);
int lex_open(struct lex_extra *x, const nc_loc *loc, int c);
int lex_close(struct lex_extra *x, int c);
void lex_stray(struct lex_extra *x, const nc_loc *loc, unsigned char c);

#endif
