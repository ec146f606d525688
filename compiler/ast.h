/* ast.h - the syntax tree of a .net file, as the parser builds it.
 *
 * The parser only builds this tree (one constructor call per grammar rule);
 * it does no lookups, validation or arithmetic. Lists are singly linked in
 * source order. Every node has its source location.
 */
#ifndef AST_H
#define AST_H

#include "arena.h"
#include "diag.h"

typedef enum {
    E_INT, E_FLOAT, E_NAME, E_TUPLE, E_INDEX, E_UNARY, E_BINARY, E_CALL,
    E_QUERY     /* in.FIELD: the shape of what flows into the next layer */
} expr_kind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_AND, OP_OR, OP_NEG, OP_NOT
} expr_op;

typedef struct ast_expr ast_expr;
typedef struct ast_arg ast_arg;

struct ast_expr {
    expr_kind kind;
    nc_loc loc;
    ast_expr *next;            /* in a tuple or argument list */
    ast_expr *tail;           /* list head only: the last node */
    long long ival;            /* E_INT */
    double fval;               /* E_FLOAT */
    const char *name;          /* E_NAME, E_CALL (function name), E_QUERY (field) */
    expr_op op;                /* E_UNARY, E_BINARY */
    ast_expr *lhs, *rhs;       /* operands; E_INDEX: base, index */
    ast_expr *items;           /* E_TUPLE */
    ast_arg *args;             /* E_CALL */
};

/* An argument: positional (name == NULL) or keyword. */
struct ast_arg {
    const char *name;
    nc_loc name_loc;
    ast_expr *value;
    nc_loc loc;
    ast_arg *next;
    ast_arg *tail;            /* list head only: the last node */
};

/* A binding target: a name, or a tuple of patterns to destructure. */
typedef struct ast_pattern ast_pattern;
struct ast_pattern {
    const char *name;          /* NULL for a tuple pattern */
    ast_pattern *items;
    nc_loc loc;
    ast_pattern *next;
    ast_pattern *tail;        /* list head only: the last node */
};

typedef enum {
    S_CALL,     /* a layer or block: name, name(args), or name { branches } */
    S_LET,      /* let pattern = expr */
    S_REPEAT,   /* repeat count { body } */
    S_FOR,      /* for pattern in expr { body } */
    S_IF,       /* if cond { body } else { body } */
    S_INPUT,    /* input(C, H, W) in a net; input(C[, H, W]) check in a block */
    S_TRAIN     /* train(lr = ..., ...) */
} stmt_kind;

typedef struct ast_stmt ast_stmt;
typedef struct ast_branch ast_branch;

struct ast_stmt {
    stmt_kind kind;
    nc_loc loc;                /* the whole statement */
    nc_loc name_loc;           /* S_CALL: the callee's name */
    ast_stmt *next;
    ast_stmt *tail;           /* list head only: the last node */
    const char *name;          /* S_CALL */
    ast_arg *args;             /* S_CALL, S_INPUT, S_TRAIN */
    int has_parens;            /* S_CALL: written with ( ) */
    ast_branch *branches;      /* S_CALL with { branch ... } */
    ast_pattern *pattern;      /* S_LET, S_FOR */
    ast_expr *expr;            /* S_LET value, S_REPEAT count, S_FOR list, S_IF cond */
    ast_stmt *body;            /* S_REPEAT, S_FOR, S_IF then */
    ast_stmt *else_body;       /* S_IF */
    int has_else;
};

struct ast_branch {
    const char *name;          /* optional: branch NAME { ... } */
    nc_loc loc;
    ast_stmt *body;            /* empty: the identity */
    ast_branch *next;
    ast_branch *tail;         /* list head only: the last node */
};

typedef struct ast_param ast_param;
struct ast_param {
    const char *name;
    ast_expr *def;             /* default value, or NULL if required */
    nc_loc loc;
    ast_param *next;
    ast_param *tail;          /* list head only: the last node */
};

typedef enum { I_IMPORT, I_LET, I_BLOCK, I_NET } item_kind;

typedef struct ast_item ast_item;
struct ast_item {
    item_kind kind;
    nc_loc loc;
    nc_loc name_loc;
    ast_item *next;
    ast_item *tail;           /* list head only: the last node */
    const char *name;          /* I_BLOCK, I_NET; I_IMPORT: the path */
    ast_param *params;         /* I_BLOCK, I_NET */
    ast_stmt *body;            /* I_BLOCK, I_NET */
    ast_pattern *pattern;      /* I_LET */
    ast_expr *expr;            /* I_LET */
};

typedef struct ast_file {
    const nc_source *src;
    const char *real_path;     /* identifies the file across imports */
    ast_item *items;
} ast_file;

/* Constructors (arena-allocated). */
ast_expr *ast_int(arena *a, nc_loc loc, long long v);
ast_expr *ast_float(arena *a, nc_loc loc, double v);
ast_expr *ast_name(arena *a, nc_loc loc, const char *name);
ast_expr *ast_tuple(arena *a, nc_loc loc, ast_expr *items);
ast_expr *ast_index(arena *a, nc_loc loc, ast_expr *base, ast_expr *index);
ast_expr *ast_unary(arena *a, nc_loc loc, expr_op op, ast_expr *x);
ast_expr *ast_binary(arena *a, nc_loc loc, expr_op op, ast_expr *l, ast_expr *r);
ast_expr *ast_fcall(arena *a, nc_loc loc, const char *name, ast_arg *args);
ast_expr *ast_query(arena *a, nc_loc loc, const char *field);

ast_arg *ast_arg_new(arena *a, nc_loc loc, const char *name, nc_loc name_loc,
                     ast_expr *value);
ast_pattern *ast_pattern_name(arena *a, nc_loc loc, const char *name);
ast_pattern *ast_pattern_tuple(arena *a, nc_loc loc, ast_pattern *items);

ast_stmt *ast_call(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                   int has_parens, ast_arg *args, ast_branch *branches);
ast_stmt *ast_let(arena *a, nc_loc loc, ast_pattern *p, ast_expr *e);
ast_stmt *ast_repeat(arena *a, nc_loc loc, ast_expr *count, ast_stmt *body);
ast_stmt *ast_for(arena *a, nc_loc loc, ast_pattern *p, ast_expr *list,
                  ast_stmt *body);
ast_stmt *ast_if(arena *a, nc_loc loc, ast_expr *cond, ast_stmt *then,
                 int has_else, ast_stmt *otherwise);
ast_stmt *ast_input(arena *a, nc_loc loc, ast_arg *args);
ast_stmt *ast_train(arena *a, nc_loc loc, ast_arg *args);
ast_branch *ast_branch_new(arena *a, nc_loc loc, const char *name,
                           ast_stmt *body);

ast_param *ast_param_new(arena *a, nc_loc loc, const char *name, ast_expr *def);
ast_item *ast_import(arena *a, nc_loc loc, const char *path);
ast_item *ast_let_item(arena *a, nc_loc loc, ast_pattern *p, ast_expr *e);
ast_item *ast_block(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                    ast_param *params, ast_stmt *body);
ast_item *ast_net(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                  ast_param *params, ast_stmt *body);

/* List building for the parser: appends the list b after list a (either may
 * be NULL) in constant time and returns the head. One per list type. */
ast_expr *ast_expr_append(ast_expr *a, ast_expr *b);
ast_arg *ast_arg_append(ast_arg *a, ast_arg *b);
ast_pattern *ast_pattern_append(ast_pattern *a, ast_pattern *b);
ast_stmt *ast_stmt_append(ast_stmt *a, ast_stmt *b);
ast_branch *ast_branch_append(ast_branch *a, ast_branch *b);
ast_param *ast_param_append(ast_param *a, ast_param *b);
ast_item *ast_item_append(ast_item *a, ast_item *b);

/* Prints the tree as an S-expression (for tests and `netc --dump-ast`). */
void ast_dump(const ast_file *f, FILE *out);

#endif
