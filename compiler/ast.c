/* ast.c - constructors for the syntax tree and a printer for tests. */
#include "ast.h"

#include <string.h>

#define NEW(a, T) ((T *)arena_alloc((a), sizeof(T)))

static ast_expr *expr(arena *a, expr_kind k, nc_loc loc)
{
    ast_expr *e = NEW(a, ast_expr);
    e->kind = k;
    e->loc = loc;
    return e;
}

ast_expr *ast_int(arena *a, nc_loc loc, long long v)
{
    ast_expr *e = expr(a, E_INT, loc);
    e->ival = v;
    return e;
}

ast_expr *ast_float(arena *a, nc_loc loc, double v)
{
    ast_expr *e = expr(a, E_FLOAT, loc);
    e->fval = v;
    return e;
}

ast_expr *ast_name(arena *a, nc_loc loc, const char *name)
{
    ast_expr *e = expr(a, E_NAME, loc);
    e->name = name;
    return e;
}

ast_expr *ast_tuple(arena *a, nc_loc loc, ast_expr *items)
{
    ast_expr *e = expr(a, E_TUPLE, loc);
    e->items = items;
    return e;
}

ast_expr *ast_index(arena *a, nc_loc loc, ast_expr *base, ast_expr *index)
{
    ast_expr *e = expr(a, E_INDEX, loc);
    e->lhs = base;
    e->rhs = index;
    return e;
}

ast_expr *ast_unary(arena *a, nc_loc loc, expr_op op, ast_expr *x)
{
    ast_expr *e = expr(a, E_UNARY, loc);
    e->op = op;
    e->lhs = x;
    return e;
}

ast_expr *ast_binary(arena *a, nc_loc loc, expr_op op, ast_expr *l, ast_expr *r)
{
    ast_expr *e = expr(a, E_BINARY, loc);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    return e;
}

ast_expr *ast_fcall(arena *a, nc_loc loc, const char *name, ast_arg *args)
{
    ast_expr *e = expr(a, E_CALL, loc);
    e->name = name;
    e->args = args;
    return e;
}

ast_expr *ast_query(arena *a, nc_loc loc, const char *field)
{
    ast_expr *e = expr(a, E_QUERY, loc);
    e->name = field;
    return e;
}

ast_arg *ast_arg_new(arena *a, nc_loc loc, const char *name, nc_loc name_loc,
                     ast_expr *value)
{
    ast_arg *g = NEW(a, ast_arg);
    g->loc = loc;
    g->name = name;
    g->name_loc = name_loc;
    g->value = value;
    return g;
}

ast_pattern *ast_pattern_name(arena *a, nc_loc loc, const char *name)
{
    ast_pattern *p = NEW(a, ast_pattern);
    p->loc = loc;
    p->name = name;
    return p;
}

ast_pattern *ast_pattern_tuple(arena *a, nc_loc loc, ast_pattern *items)
{
    ast_pattern *p = NEW(a, ast_pattern);
    p->loc = loc;
    p->items = items;
    return p;
}

static ast_stmt *stmt(arena *a, stmt_kind k, nc_loc loc)
{
    ast_stmt *s = NEW(a, ast_stmt);
    s->kind = k;
    s->loc = loc;
    return s;
}

ast_stmt *ast_call(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                   int has_parens, ast_arg *args, ast_branch *branches)
{
    ast_stmt *s = stmt(a, S_CALL, loc);
    s->name_loc = name_loc;
    s->name = name;
    s->has_parens = has_parens;
    s->args = args;
    s->branches = branches;
    return s;
}

ast_stmt *ast_let(arena *a, nc_loc loc, ast_pattern *p, ast_expr *e)
{
    ast_stmt *s = stmt(a, S_LET, loc);
    s->pattern = p;
    s->expr = e;
    return s;
}

ast_stmt *ast_repeat(arena *a, nc_loc loc, ast_expr *count, ast_stmt *body)
{
    ast_stmt *s = stmt(a, S_REPEAT, loc);
    s->expr = count;
    s->body = body;
    return s;
}

ast_stmt *ast_for(arena *a, nc_loc loc, ast_pattern *p, ast_expr *list,
                  ast_stmt *body)
{
    ast_stmt *s = stmt(a, S_FOR, loc);
    s->pattern = p;
    s->expr = list;
    s->body = body;
    return s;
}

ast_stmt *ast_if(arena *a, nc_loc loc, ast_expr *cond, ast_stmt *then,
                 int has_else, ast_stmt *otherwise)
{
    ast_stmt *s = stmt(a, S_IF, loc);
    s->expr = cond;
    s->body = then;
    s->has_else = has_else;
    s->else_body = otherwise;
    return s;
}

ast_stmt *ast_input(arena *a, nc_loc loc, ast_arg *args)
{
    ast_stmt *s = stmt(a, S_INPUT, loc);
    s->args = args;
    return s;
}

ast_stmt *ast_train(arena *a, nc_loc loc, ast_arg *args)
{
    ast_stmt *s = stmt(a, S_TRAIN, loc);
    s->args = args;
    return s;
}

ast_branch *ast_branch_new(arena *a, nc_loc loc, const char *name,
                           ast_stmt *body)
{
    ast_branch *b = NEW(a, ast_branch);
    b->loc = loc;
    b->name = name;
    b->body = body;
    return b;
}

ast_param *ast_param_new(arena *a, nc_loc loc, const char *name, ast_expr *def)
{
    ast_param *p = NEW(a, ast_param);
    p->loc = loc;
    p->name = name;
    p->def = def;
    return p;
}

static ast_item *item(arena *a, item_kind k, nc_loc loc)
{
    ast_item *i = NEW(a, ast_item);
    i->kind = k;
    i->loc = loc;
    return i;
}

ast_item *ast_import(arena *a, nc_loc loc, const char *path)
{
    ast_item *i = item(a, I_IMPORT, loc);
    i->name = path;
    return i;
}

ast_item *ast_let_item(arena *a, nc_loc loc, ast_pattern *p, ast_expr *e)
{
    ast_item *i = item(a, I_LET, loc);
    i->pattern = p;
    i->expr = e;
    return i;
}

static ast_item *definition(arena *a, item_kind k, nc_loc loc, nc_loc name_loc,
                            const char *name, ast_param *params, ast_stmt *body)
{
    ast_item *i = item(a, k, loc);
    i->name_loc = name_loc;
    i->name = name;
    i->params = params;
    i->body = body;
    return i;
}

ast_item *ast_block(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                    ast_param *params, ast_stmt *body)
{
    return definition(a, I_BLOCK, loc, name_loc, name, params, body);
}

ast_item *ast_net(arena *a, nc_loc loc, nc_loc name_loc, const char *name,
                  ast_param *params, ast_stmt *body)
{
    return definition(a, I_NET, loc, name_loc, name, params, body);
}

/* Constant-time append: the head keeps a pointer to its last node. */
#define DEFINE_APPEND(T, fn)                                                  \
    T *fn(T *a, T *b)                                                         \
    {                                                                         \
        if (!b)                                                               \
            return a;                                                         \
        T *b_tail = b->tail ? b->tail : b;                                    \
        if (!a) {                                                             \
            b->tail = b_tail;                                                 \
            return b;                                                         \
        }                                                                     \
        (a->tail ? a->tail : a)->next = b;                                    \
        a->tail = b_tail;                                                     \
        return a;                                                             \
    }

DEFINE_APPEND(ast_expr, ast_expr_append)
DEFINE_APPEND(ast_arg, ast_arg_append)
DEFINE_APPEND(ast_pattern, ast_pattern_append)
DEFINE_APPEND(ast_stmt, ast_stmt_append)
DEFINE_APPEND(ast_branch, ast_branch_append)
DEFINE_APPEND(ast_param, ast_param_append)
DEFINE_APPEND(ast_item, ast_item_append)

/* ---- printing ------------------------------------------------------------ */

static const char *const op_names[] = {
    [OP_ADD] = "+",  [OP_SUB] = "-",  [OP_MUL] = "*", [OP_DIV] = "/",
    [OP_MOD] = "%",  [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<",
    [OP_LE] = "<=",  [OP_GT] = ">",  [OP_GE] = ">=", [OP_AND] = "and",
    [OP_OR] = "or",  [OP_NEG] = "neg", [OP_NOT] = "not",
};

static void dump_args(const ast_arg *g, FILE *out);

static void dump_expr(const ast_expr *e, FILE *out, int depth)
{
    if (depth > 200) {
        fputs("...", out);
        return;
    }
    switch (e->kind) {
    case E_INT: fprintf(out, "%lld", e->ival); break;
    case E_FLOAT: fprintf(out, "%g", e->fval); break;
    case E_NAME: fputs(e->name, out); break;
    case E_QUERY: fprintf(out, "in.%s", e->name); break;
    case E_TUPLE:
        fputs("(tuple", out);
        for (const ast_expr *i = e->items; i; i = i->next) {
            fputc(' ', out);
            dump_expr(i, out, depth + 1);
        }
        fputc(')', out);
        break;
    case E_INDEX:
        fputs("(index ", out);
        dump_expr(e->lhs, out, depth + 1);
        fputc(' ', out);
        dump_expr(e->rhs, out, depth + 1);
        fputc(')', out);
        break;
    case E_UNARY:
        fprintf(out, "(%s ", op_names[e->op]);
        dump_expr(e->lhs, out, depth + 1);
        fputc(')', out);
        break;
    case E_BINARY:
        fprintf(out, "(%s ", op_names[e->op]);
        dump_expr(e->lhs, out, depth + 1);
        fputc(' ', out);
        dump_expr(e->rhs, out, depth + 1);
        fputc(')', out);
        break;
    case E_CALL:
        fprintf(out, "(%s", e->name);
        dump_args(e->args, out);
        fputc(')', out);
        break;
    }
}

static void dump_args(const ast_arg *g, FILE *out)
{
    for (; g; g = g->next) {
        fputc(' ', out);
        if (g->name)
            fprintf(out, "%s=", g->name);
        dump_expr(g->value, out, 0);
    }
}

static void dump_pattern(const ast_pattern *p, FILE *out)
{
    if (p->name) {
        fputs(p->name, out);
        return;
    }
    fputc('(', out);
    for (const ast_pattern *i = p->items; i; i = i->next) {
        dump_pattern(i, out);
        if (i->next)
            fputc(' ', out);
    }
    fputc(')', out);
}

static void dump_stmts(const ast_stmt *s, FILE *out, int indent);

static void dump_body(const char *head, const ast_stmt *body, FILE *out,
                      int indent)
{
    fprintf(out, "%*s(%s", indent, "", head);
    if (body) {
        fputc('\n', out);
        dump_stmts(body, out, indent + 2);
    }
    fputs(")", out);
}

static void dump_stmts(const ast_stmt *s, FILE *out, int indent)
{
    for (; s; s = s->next) {
        switch (s->kind) {
        case S_CALL:
            fprintf(out, "%*s(call %s", indent, "", s->name);
            dump_args(s->args, out);
            for (const ast_branch *b = s->branches; b; b = b->next) {
                fputc('\n', out);
                dump_body(b->name ? b->name : "branch", b->body, out,
                          indent + 2);
            }
            fputc(')', out);
            break;
        case S_LET:
            fprintf(out, "%*s(let ", indent, "");
            dump_pattern(s->pattern, out);
            fputc(' ', out);
            dump_expr(s->expr, out, 0);
            fputc(')', out);
            break;
        case S_REPEAT:
            fprintf(out, "%*s(repeat ", indent, "");
            dump_expr(s->expr, out, 0);
            fputc('\n', out);
            dump_body("body", s->body, out, indent + 2);
            fputc(')', out);
            break;
        case S_FOR:
            fprintf(out, "%*s(for ", indent, "");
            dump_pattern(s->pattern, out);
            fputc(' ', out);
            dump_expr(s->expr, out, 0);
            fputc('\n', out);
            dump_body("body", s->body, out, indent + 2);
            fputc(')', out);
            break;
        case S_IF:
            fprintf(out, "%*s(if ", indent, "");
            dump_expr(s->expr, out, 0);
            fputc('\n', out);
            dump_body("then", s->body, out, indent + 2);
            if (s->has_else) {
                fputc('\n', out);
                dump_body("else", s->else_body, out, indent + 2);
            }
            fputc(')', out);
            break;
        case S_INPUT:
        case S_TRAIN:
            fprintf(out, "%*s(%s", indent, "",
                    s->kind == S_INPUT ? "input" : "train");
            dump_args(s->args, out);
            fputc(')', out);
            break;
        }
        fputc('\n', out);
    }
}

static void dump_params(const ast_param *p, FILE *out)
{
    fputs(" (", out);
    for (; p; p = p->next) {
        fputs(p->name, out);
        if (p->def) {
            fputc('=', out);
            dump_expr(p->def, out, 0);
        }
        if (p->next)
            fputc(' ', out);
    }
    fputc(')', out);
}

void ast_dump(const ast_file *f, FILE *out)
{
    for (const ast_item *i = f->items; i; i = i->next) {
        switch (i->kind) {
        case I_IMPORT: fprintf(out, "(import \"%s\")\n", i->name); break;
        case I_LET:
            fputs("(let ", out);
            dump_pattern(i->pattern, out);
            fputc(' ', out);
            dump_expr(i->expr, out, 0);
            fputs(")\n", out);
            break;
        case I_BLOCK:
        case I_NET:
            fprintf(out, "(%s %s", i->kind == I_NET ? "net" : "block", i->name);
            dump_params(i->params, out);
            fputc('\n', out);
            dump_stmts(i->body, out, 2);
            fputs(")\n", out);
            break;
        }
    }
}
