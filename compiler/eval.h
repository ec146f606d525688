/* eval.h - values of the .net language and evaluation of expressions.
 *
 * Values are integers (booleans are 0 and 1), floats and tuples. Integer
 * arithmetic is checked for overflow; `/` on two integers is floor division
 * (Python's //), on a float it is true division. Scopes are lexical and,
 * as in Python, only blocks (functions) make them: a block sees its
 * parameters, its own lets and the top-level lets, never its caller's
 * variables; the bodies of loops, conditionals and branches share the
 * enclosing scope, so `let` there assigns a variable that outlives them.
 */
#ifndef EVAL_H
#define EVAL_H

#include "ast.h"
#include "strmap.h"

typedef enum { V_INT, V_FLOAT, V_TUPLE } value_kind;

typedef struct value {
    value_kind kind;
    long long i;
    double f;
    int n;                      /* V_TUPLE */
    const struct value *items;  /* V_TUPLE */
} value;

typedef struct binding binding;
struct binding {
    const char *name;
    value v;
    nc_loc loc;
    binding *next;
};

/* A scope's variables: a hash map by name, and a list (newest first) for
 * "did you mean". A zeroed scope is empty. */
typedef struct scope scope;
struct scope {
    strmap names;
    binding *vars;
    const scope *parent;
};

#define EVAL_MAX_ELEMENTS 1000000 /* tuple elements built in one compilation */
#define EVAL_MAX_WORK 20000000    /* expression nodes and elements visited */

typedef struct evaluator evaluator;
struct evaluator {
    arena *ar;
    diag *diag;
    long long elements;   /* tuple elements built so far */
    long long work;       /* nodes evaluated and elements compared or scanned */
    int exhausted;        /* a budget ran out: every evaluation fails */
    /* Shape queries (in.channels): the value of e, or -1 (after reporting,
     * or silently when an earlier error left the shape unknown). Set by the
     * expander; NULL outside a net. */
    int (*query)(evaluator *ev, const ast_expr *e, value *out);
    void *host;
};

value value_int(long long i);
value value_float(double f);
/* Formats a value as the language writes it: 3, 0.5, (96, 128). */
const char *value_str(arena *ar, const value *v);
const char *value_kind_name(const value *v);

/* Evaluates e in sc; returns 0, or -1 after reporting an error. */
int eval_expr(evaluator *ev, const scope *sc, const ast_expr *e, value *out);

/* Binds pattern to v in sc (destructuring tuples); -1 on a shape mismatch.
 * A name already bound in sc (not in its parents) is assigned. */
int eval_bind(evaluator *ev, scope *sc, const ast_pattern *p, const value *v);
void scope_set(arena *ar, scope *sc, const char *name, value v, nc_loc loc);
const binding *scope_lookup(const scope *sc, const char *name);

#endif
