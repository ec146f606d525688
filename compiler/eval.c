/* eval.c - see eval.h. */
#include "eval.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 500 /* nesting of a single expression */

value value_int(long long i)
{
    value v = {V_INT, i, 0, 0, NULL};
    return v;
}

value value_float(double f)
{
    value v = {V_FLOAT, 0, f, 0, NULL};
    return v;
}

const char *value_kind_name(const value *v)
{
    switch (v->kind) {
    case V_INT: return "an integer";
    case V_FLOAT: return "a number";
    case V_TUPLE: return "a tuple";
    }
    return "?";
}

static void append(arena *ar, char **buf, const char *s)
{
    *buf = arena_printf(ar, "%s%s", *buf, s);
}

const char *value_str(arena *ar, const value *v)
{
    switch (v->kind) {
    case V_INT: return arena_printf(ar, "%lld", v->i);
    case V_FLOAT: {
        char *s = arena_printf(ar, "%.17g", v->f);
        /* shortest form that reads back exactly */
        for (int prec = 1; prec <= 17; prec++) {
            char *t = arena_printf(ar, "%.*g", prec, v->f);
            if (strtod(t, NULL) == v->f) {
                s = t;
                break;
            }
        }
        if (!strpbrk(s, ".eEn"))
            s = arena_printf(ar, "%s.0", s);
        return s;
    }
    case V_TUPLE: {
        char *buf = arena_strdup(ar, "(");
        for (int i = 0; i < v->n; i++) {
            if (i)
                append(ar, &buf, ", ");
            if (strlen(buf) > 200) {
                append(ar, &buf, "...");
                break;
            }
            append(ar, &buf, value_str(ar, &v->items[i]));
        }
        if (v->n == 1)
            append(ar, &buf, ",");
        append(ar, &buf, ")");
        return buf;
    }
    }
    return "?";
}

void scope_set(arena *ar, scope *sc, const char *name, value v, nc_loc loc)
{
    binding *b = strmap_get(&sc->names, name);
    if (b) { /* assignment: rebind in place */
        b->v = v;
        b->loc = loc;
        return;
    }
    b = arena_alloc(ar, sizeof *b);
    b->name = name;
    b->v = v;
    b->loc = loc;
    b->next = sc->vars;
    sc->vars = b;
    strmap_put(ar, &sc->names, name, b);
}

const binding *scope_lookup(const scope *sc, const char *name)
{
    for (; sc; sc = sc->parent) {
        const binding *b = strmap_get(&sc->names, name);
        if (b)
            return b;
    }
    return NULL;
}

/* Names visible from sc, for "did you mean". */
static int visible_names(const scope *sc, const char **out, int max)
{
    int n = 0;
    for (; sc; sc = sc->parent)
        for (const binding *b = sc->vars; b && n < max; b = b->next)
            out[n++] = b->name;
    return n;
}

static int eval(evaluator *ev, const scope *sc, const ast_expr *e, value *out,
                int depth);

/* Counts n units of work; -1 once the compilation's budget is spent (the
 * first time with an error at e). Keeps any input's evaluation linear-ish. */
static int charge(evaluator *ev, const ast_expr *e, long long n)
{
    if (ev->exhausted)
        return -1;
    ev->work += n;
    if (ev->work <= EVAL_MAX_WORK)
        return 0;
    diag_error(ev->diag, e->loc,
               "evaluating expressions takes more than %d steps; is a loop too long?",
               EVAL_MAX_WORK);
    ev->exhausted = 1;
    return -1;
}

/* Room for a tuple of n values, within the compilation's budget. */
static value *new_items(evaluator *ev, const ast_expr *e, long long n)
{
    if (ev->exhausted)
        return NULL;
    ev->elements += n;
    if (ev->elements > EVAL_MAX_ELEMENTS) {
        diag_error(ev->diag, e->loc, "expressions build more than %d tuple elements",
                   EVAL_MAX_ELEMENTS);
        ev->exhausted = 1;
        return NULL;
    }
    return arena_alloc(ev->ar, sizeof(value) * (size_t)(n ? n : 1));
}

static int as_number(evaluator *ev, const ast_expr *e, const value *v,
                     const char *what)
{
    if (v->kind == V_TUPLE) {
        diag_error(ev->diag, e->loc, "%s needs numbers, got the tuple %s", what,
                   value_str(ev->ar, v));
        return -1;
    }
    return 0;
}

static double to_double(const value *v)
{
    return v->kind == V_INT ? (double)v->i : v->f;
}

static int truthy(evaluator *ev, const ast_expr *e, const value *v, int *out)
{
    if (v->kind == V_INT) {
        *out = v->i != 0;
        return 0;
    }
    diag_error(ev->diag, e->loc,
               "a condition must be an integer or true/false, got %s %s",
               value_kind_name(v), value_str(ev->ar, v));
    return -1;
}

static long long floor_div(long long a, long long b)
{
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static long long floor_mod(long long a, long long b)
{
    long long r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

static int arith(evaluator *ev, const ast_expr *e, const value *l,
                 const value *r, value *out)
{
    static const char *const sym[] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
        [OP_MOD] = "%",
    };
    if (as_number(ev, e, l, sym[e->op]) || as_number(ev, e, r, sym[e->op]))
        return -1;
    if ((e->op == OP_DIV || e->op == OP_MOD) &&
        ((r->kind == V_INT && r->i == 0) || (r->kind == V_FLOAT && r->f == 0))) {
        diag_error(ev->diag, e->loc, "division by zero: %s %s %s",
                   value_str(ev->ar, l), sym[e->op], value_str(ev->ar, r));
        return -1;
    }
    if (l->kind == V_INT && r->kind == V_INT) {
        long long a = l->i, b = r->i, c = 0;
        int overflow = 0;
        switch (e->op) {
        case OP_ADD: overflow = __builtin_add_overflow(a, b, &c); break;
        case OP_SUB: overflow = __builtin_sub_overflow(a, b, &c); break;
        case OP_MUL: overflow = __builtin_mul_overflow(a, b, &c); break;
        case OP_DIV:
            overflow = a == LLONG_MIN && b == -1;
            if (!overflow)
                c = floor_div(a, b);
            break;
        case OP_MOD:
            c = b == -1 ? 0 : floor_mod(a, b);
            break;
        default: break;
        }
        if (overflow) {
            diag_error(ev->diag, e->loc, "integer overflow in %lld %s %lld", a,
                       sym[e->op], b);
            return -1;
        }
        *out = value_int(c);
        return 0;
    }
    double a = to_double(l), b = to_double(r), c = 0;
    switch (e->op) {
    case OP_ADD: c = a + b; break;
    case OP_SUB: c = a - b; break;
    case OP_MUL: c = a * b; break;
    case OP_DIV: c = a / b; break;
    case OP_MOD: c = a - b * floor(a / b); break;
    default: break;
    }
    if (!isfinite(c)) {
        diag_error(ev->diag, e->loc, "arithmetic gives %g", c);
        return -1;
    }
    *out = value_float(c);
    return 0;
}

static int values_equal(const value *a, const value *b, long long *work)
{
    ++*work;
    if (a->kind == V_TUPLE || b->kind == V_TUPLE) {
        if (a->kind != b->kind || a->n != b->n)
            return 0;
        for (int i = 0; i < a->n; i++)
            if (!values_equal(&a->items[i], &b->items[i], work))
                return 0;
        return 1;
    }
    if (a->kind == V_INT && b->kind == V_INT)
        return a->i == b->i;
    return to_double(a) == to_double(b);
}

static int compare(evaluator *ev, const ast_expr *e, const value *l,
                   const value *r, value *out)
{
    if (e->op == OP_EQ || e->op == OP_NE) {
        long long work = 0;
        int eq = values_equal(l, r, &work);
        *out = value_int(e->op == OP_EQ ? eq : !eq);
        return charge(ev, e, work);
    }
    if (as_number(ev, e, l, "a comparison") || as_number(ev, e, r, "a comparison"))
        return -1;
    int c;
    if (l->kind == V_INT && r->kind == V_INT)
        c = (l->i > r->i) - (l->i < r->i);
    else
        c = (to_double(l) > to_double(r)) - (to_double(l) < to_double(r));
    int res = 0;
    switch (e->op) {
    case OP_LT: res = c < 0; break;
    case OP_LE: res = c <= 0; break;
    case OP_GT: res = c > 0; break;
    case OP_GE: res = c >= 0; break;
    default: break;
    }
    *out = value_int(res);
    return 0;
}

static int builtin(evaluator *ev, const scope *sc, const ast_expr *e,
                   value *out, int depth)
{
    static const char *const names[] = {"len", "min", "max", "range"};
    value args[16];
    int n = 0;
    for (const ast_arg *a = e->args; a; a = a->next) {
        if (a->name) {
            diag_error(ev->diag, a->name_loc, "%s() takes no keyword arguments",
                       e->name);
            return -1;
        }
        if (n == 16) {
            diag_error(ev->diag, a->loc, "%s() takes at most 16 arguments",
                       e->name);
            return -1;
        }
        if (eval(ev, sc, a->value, &args[n++], depth + 1))
            return -1;
    }
    if (strcmp(e->name, "len") == 0) {
        if (n != 1 || args[0].kind != V_TUPLE) {
            diag_error(ev->diag, e->loc, "len() takes one tuple");
            return -1;
        }
        *out = value_int(args[0].n);
        return 0;
    }
    if (strcmp(e->name, "min") == 0 || strcmp(e->name, "max") == 0) {
        int is_max = e->name[1] == 'a';
        /* min(t) over a tuple, or min(a, b, ...) */
        const value *items = args;
        if (n == 1 && args[0].kind == V_TUPLE) {
            items = args[0].items;
            n = args[0].n;
        }
        if (n == 0) {
            diag_error(ev->diag, e->loc, "%s() of nothing", e->name);
            return -1;
        }
        if (charge(ev, e, n))
            return -1;
        const value *best = &items[0];
        for (int i = 0; i < n; i++) {
            if (items[i].kind == V_TUPLE) {
                diag_error(ev->diag, e->loc, "%s() needs numbers", e->name);
                return -1;
            }
            double a = to_double(&items[i]), b = to_double(best);
            if (is_max ? a > b : a < b)
                best = &items[i];
        }
        *out = *best;
        return 0;
    }
    if (strcmp(e->name, "range") == 0) {
        /* range(n) = (0, 1, ..., n-1), as Python's */
        if (n != 1 || args[0].kind != V_INT || args[0].i < 0 ||
            args[0].i > 100000) {
            diag_error(ev->diag, e->loc,
                       "range() takes one integer from 0 to 100000");
            return -1;
        }
        int len = (int)args[0].i;
        value *items = new_items(ev, e, len);
        if (!items)
            return -1;
        for (int i = 0; i < len; i++)
            items[i] = value_int(i);
        value v = {V_TUPLE, 0, 0, len, items};
        *out = v;
        return 0;
    }
    const char *s = diag_suggest(e->name, names, 4);
    if (s)
        diag_error(ev->diag, e->loc, "unknown function '%s' (did you mean '%s'?)",
                   e->name, s);
    else
        diag_error(ev->diag, e->loc,
                   "unknown function '%s'; the functions are len, min, max and range",
                   e->name);
    return -1;
}

static int eval(evaluator *ev, const scope *sc, const ast_expr *e, value *out,
                int depth)
{
    if (depth > MAX_DEPTH) {
        diag_error(ev->diag, e->loc, "expression nested more than %d deep",
                   MAX_DEPTH);
        return -1;
    }
    if (charge(ev, e, 1))
        return -1;
    switch (e->kind) {
    case E_INT:
        *out = value_int(e->ival);
        return 0;
    case E_FLOAT:
        *out = value_float(e->fval);
        return 0;
    case E_NAME: {
        const binding *b = scope_lookup(sc, e->name);
        if (b) {
            *out = b->v;
            return 0;
        }
        const char *names[256];
        int n = visible_names(sc, names, 256);
        const char *s = diag_suggest(e->name, names, n);
        if (s)
            diag_error(ev->diag, e->loc, "undefined variable '%s' (did you mean '%s'?)",
                       e->name, s);
        else
            diag_error(ev->diag, e->loc, "undefined variable '%s'", e->name);
        return -1;
    }
    case E_TUPLE: {
        int n = 0;
        for (const ast_expr *i = e->items; i; i = i->next)
            n++;
        value *items = new_items(ev, e, n);
        if (!items)
            return -1;
        n = 0;
        for (const ast_expr *i = e->items; i; i = i->next)
            if (eval(ev, sc, i, &items[n++], depth + 1))
                return -1;
        value v = {V_TUPLE, 0, 0, n, items};
        *out = v;
        return 0;
    }
    case E_INDEX: {
        value base, idx;
        if (eval(ev, sc, e->lhs, &base, depth + 1) ||
            eval(ev, sc, e->rhs, &idx, depth + 1))
            return -1;
        if (base.kind != V_TUPLE) {
            diag_error(ev->diag, e->lhs->loc, "cannot index %s %s",
                       value_kind_name(&base), value_str(ev->ar, &base));
            return -1;
        }
        if (idx.kind != V_INT) {
            diag_error(ev->diag, e->rhs->loc, "an index must be an integer, got %s",
                       value_str(ev->ar, &idx));
            return -1;
        }
        long long i = idx.i < 0 ? idx.i + base.n : idx.i;
        if (i < 0 || i >= base.n) {
            diag_error(ev->diag, e->rhs->loc,
                       "index %lld out of range for %s of %d element%s", idx.i,
                       value_str(ev->ar, &base), base.n, base.n == 1 ? "" : "s");
            return -1;
        }
        *out = base.items[i];
        return 0;
    }
    case E_UNARY: {
        value x;
        if (eval(ev, sc, e->lhs, &x, depth + 1))
            return -1;
        if (e->op == OP_NOT) {
            int t = 0;
            if (truthy(ev, e->lhs, &x, &t))
                return -1;
            *out = value_int(!t);
            return 0;
        }
        if (as_number(ev, e, &x, "'-'"))
            return -1;
        if (x.kind == V_INT) {
            if (x.i == LLONG_MIN) {
                diag_error(ev->diag, e->loc, "integer overflow in -(%lld)", x.i);
                return -1;
            }
            *out = value_int(-x.i);
        } else {
            *out = value_float(-x.f);
        }
        return 0;
    }
    case E_BINARY: {
        value l, r;
        if (e->op == OP_AND || e->op == OP_OR) {
            int lt = 0, rt = 0;
            if (eval(ev, sc, e->lhs, &l, depth + 1) || truthy(ev, e->lhs, &l, &lt))
                return -1;
            if ((e->op == OP_AND && !lt) || (e->op == OP_OR && lt)) {
                *out = value_int(lt);
                return 0;
            }
            if (eval(ev, sc, e->rhs, &r, depth + 1) || truthy(ev, e->rhs, &r, &rt))
                return -1;
            *out = value_int(rt);
            return 0;
        }
        if (eval(ev, sc, e->lhs, &l, depth + 1) ||
            eval(ev, sc, e->rhs, &r, depth + 1))
            return -1;
        if (e->op <= OP_MOD)
            return arith(ev, e, &l, &r, out);
        return compare(ev, e, &l, &r, out);
    }
    case E_CALL:
        return builtin(ev, sc, e, out, depth);
    case E_QUERY:
        if (!ev->query) {
            diag_error(ev->diag, e->loc,
                       "in.%s is only known inside a net or a block, where a tensor flows",
                       e->name);
            return -1;
        }
        return ev->query(ev, e, out);
    }
    return -1;
}

int eval_expr(evaluator *ev, const scope *sc, const ast_expr *e, value *out)
{
    return eval(ev, sc, e, out, 0);
}

int eval_bind(evaluator *ev, scope *sc, const ast_pattern *p, const value *v)
{
    if (p->name) {
        scope_set(ev->ar, sc, p->name, *v, p->loc);
        return 0;
    }
    int n = 0;
    for (const ast_pattern *i = p->items; i; i = i->next)
        n++;
    if (v->kind != V_TUPLE || v->n != n) {
        diag_error(ev->diag, p->loc, "cannot unpack %s into %d name%s",
                   value_str(ev->ar, v), n, n == 1 ? "" : "s");
        return -1;
    }
    int k = 0;
    for (const ast_pattern *i = p->items; i; i = i->next, k++)
        if (eval_bind(ev, sc, i, &v->items[k]))
            return -1;
    return 0;
}
