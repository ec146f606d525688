/* expand.c - see expand.h. */
#include "expand.h"

#include <string.h>

#include "layers.h"
#include "shapes.h"
#include "train.h"

#define MAX_CALL_DEPTH 64
#define MAX_REPEAT 100000
#define MAX_STEPS 1000000 /* statements and loop iterations while expanding a net */

/* Path prefix of a naming scope and how often each name was used in it
 * (counts: key -> int *). */
typedef struct naming {
    const char *prefix;     /* "" or "b3.inception1." */
    strmap counts;
    int loops;              /* loops of this scope being run */
} naming;

/* The chain of block calls being expanded (recursion detection). */
typedef struct frame {
    const ast_item *block;
    const struct frame *up;
} frame;

typedef struct expander {
    arena *ar;
    diag *d;
    evaluator ev;
    ir_graph *g;
    const ast_item **blocks;
    int nblocks, bcap;
    strmap block_names;     /* name -> ast_item */
    scope globals;
    int group;              /* current block call */
    int cur;                /* the running output where a statement starts (-1: none) */
    const frame *stack;
    int depth;
    long steps;             /* statements executed so far */
    int stopped;            /* a limit was reached or too many errors */
} expander;

static int stopped(expander *x)
{
    if (diag_full(x->d) || x->ev.exhausted)
        x->stopped = 1;
    return x->stopped;
}

/* ---- naming ---------------------------------------------------------------- */

static int bump(expander *x, naming *nm, const char *key)
{
    int *n = strmap_get(&nm->counts, key);
    if (!n) {
        n = arena_alloc(x->ar, sizeof *n);
        strmap_put(x->ar, &nm->counts, key, n);
    }
    return ++*n;
}

/* key and count joined, with '_' after a key that ends in a digit:
 * conv3, b1_2 */
static const char *join_count(expander *x, naming *nm, const char *key, int k)
{
    size_t n = strlen(key);
    int digit = n > 0 && key[n - 1] >= '0' && key[n - 1] <= '9';
    return arena_printf(x->ar, "%s%s%s%d", nm->prefix, key, digit ? "_" : "", k);
}

/* "conv" -> "prefix.conv3" (numbered names always carry their count) */
static const char *numbered(expander *x, naming *nm, const char *key)
{
    return join_count(x, nm, key, bump(x, nm, key));
}

/* A name the user chose: as written the first time, then name2, name3;
 * in a loop always numbered (grow1, grow2, ...), one per iteration. */
static const char *chosen(expander *x, naming *nm, const char *key)
{
    int k = bump(x, nm, arena_printf(x->ar, "=%s", key));
    if (k == 1 && !nm->loops)
        return arena_printf(x->ar, "%s%s", nm->prefix, key);
    return join_count(x, nm, key, k);
}

/* Gives back the number bump just gave (an empty branch keeps none). */
static void unbump(naming *nm, const char *key)
{
    int *n = strmap_get(&nm->counts, key);
    if (n)
        --*n;
}

static naming child_naming(expander *x, const char *path)
{
    naming nm = {arena_printf(x->ar, "%s.", path), {0}, 0};
    return nm;
}

/* ---- graph building ---------------------------------------------------------- */

static int add_node(expander *x, layer_id kind, nc_loc loc, const char *path,
                    const int *inputs, int ninputs)
{
    ir_graph *g = x->g;
    if (g->n >= EXPAND_MAX_NODES) {
        if (!x->stopped)
            diag_error(x->d, loc,
                       "the network has more than %d layers; is a repeat count wrong?",
                       EXPAND_MAX_NODES);
        x->stopped = 1;
        return -1;
    }
    ir_node n;
    memset(&n, 0, sizeof n);
    n.kind = kind;
    n.loc = loc;
    n.path = path;
    n.group = x->group;
    n.ninputs = ninputs;
    n.inputs = arena_dup(x->ar, inputs, sizeof(int) * (size_t)ninputs);
    ARRAY_PUSH(x->ar, g->nodes, g->n, g->cap, n);
    return g->n - 1;
}

/* A node is complete (kind, attributes, wiring): infer its shape now, so a
 * later shape query sees it, and report a shape error in the context of the
 * loop iteration and block call that made it. */
static int finish(expander *x, int id)
{
    shape_node(x->g, x->d, id);
    return id;
}

/* A stand-in for a layer that could not be expanded: later shape errors that
 * depend on it are not reported. */
static int error_node(expander *x, nc_loc loc, int cur)
{
    if (cur < 0)
        return cur;
    int r = add_node(x, L_ERROR, loc, "error", &cur, 1);
    return r < 0 ? cur : finish(x, r);
}

/* ---- arguments ----------------------------------------------------------------- */

/* "a, b and c" */
static const char *name_list(expander *x, const char *const *names, int n)
{
    char *s = arena_strdup(x->ar, "");
    for (int i = 0; i < n; i++)
        s = arena_printf(x->ar, "%s%s%s", s, i == 0 ? "" : i == n - 1 ? " and " : ", ",
                         names[i]);
    return s;
}

/* Matches the call's arguments to parameter names and evaluates them in the
 * caller's scope. vals/given/locs have room for nnames. */
static int match_args(expander *x, const scope *caller, const char *callee,
                      const char *const *names, int nnames, const ast_arg *args,
                      nc_loc call, value *vals, int *given, nc_loc *locs)
{
    int rc = 0, pos = 0, seen_keyword = 0;
    x->steps += nnames; /* a call's work grows with its parameters */
    for (int i = 0; i < nnames; i++) {
        given[i] = 0;
        locs[i] = call;
    }
    for (const ast_arg *a = args; a; a = a->next) {
        int slot;
        if (!a->name) {
            if (seen_keyword) {
                diag_error(x->d, a->loc, "%s: positional argument after a keyword argument",
                           callee);
                rc = -1;
                continue;
            }
            if (pos >= nnames) {
                if (nnames == 0)
                    diag_error(x->d, a->loc, "%s takes no arguments", callee);
                else
                    diag_error(x->d, a->loc, "%s takes at most %d argument%s, got more",
                               callee, nnames, nnames == 1 ? "" : "s");
                return -1;
            }
            slot = pos++;
        } else {
            seen_keyword = 1;
            for (slot = 0; slot < nnames; slot++)
                if (strcmp(names[slot], a->name) == 0)
                    break;
            if (slot == nnames) {
                const char *s = strlen(a->name) >= 3 ? diag_suggest(a->name, names, nnames) : NULL;
                if (s)
                    diag_error(x->d, a->name_loc,
                               "%s has no argument '%s' (did you mean '%s'?)", callee,
                               a->name, s);
                else if (nnames == 0)
                    diag_error(x->d, a->name_loc, "%s takes no arguments", callee);
                else
                    diag_error(x->d, a->name_loc, "%s has no argument '%s'; its arguments are %s",
                               callee, a->name, name_list(x, names, nnames));
                rc = -1;
                continue;
            }
            if (given[slot]) {
                diag_error(x->d, a->name_loc, "%s: argument '%s' given twice", callee,
                           a->name);
                rc = -1;
                continue;
            }
        }
        given[slot] = 1;
        locs[slot] = a->value->loc;
        if (eval_expr(&x->ev, caller, a->value, &vals[slot]))
            rc = -1;
    }
    return rc;
}

static const char *call_label(expander *x, const char *name, const value *vals,
                              int n)
{
    char *s = arena_printf(x->ar, "%s(", name);
    for (int i = 0; i < n; i++) {
        if (strlen(s) > 200) { /* a label for people: long ones are cut */
            s = arena_printf(x->ar, "%s, ...", s);
            break;
        }
        s = arena_printf(x->ar, "%s%s%s", s, i ? ", " : "",
                         value_str(x->ar, &vals[i]));
    }
    return arena_printf(x->ar, "%s)", s);
}

/* ---- shape queries --------------------------------------------------------------- */

/* in.FIELD: the shape of the running output (what the next layer receives).
 * Nodes are inferred as they are appended, so it is known here. */
static int shape_query(evaluator *ev, const ast_expr *e, value *out)
{
    static const char *const fields[] = {"channels", "height", "width", "features", "shape"};
    expander *x = ev->host;
    int f;
    for (f = 0; f < 5; f++)
        if (strcmp(e->name, fields[f]) == 0)
            break;
    if (f == 5) {
        const char *sug = diag_suggest(e->name, fields, 5);
        diag_error(x->d, e->loc, "in has no field '%s'%s%s%s; the fields are %s", e->name,
                   sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "",
                   name_list(x, fields, 5));
        return -1;
    }
    if (x->cur < 0) {
        diag_error(x->d, e->loc, "in.%s: nothing flows here yet; the net's input(C, H, W) "
                   "comes first", e->name);
        return -1;
    }
    const ir_node *n = &x->g->nodes[x->cur];
    if (!n->ok)
        return -1; /* unknown after an earlier error, already reported */
    const shape *sh = &n->out;
    char buf[64];
    if (f == 4) {
        value *items = arena_alloc(x->ar, sizeof(value) * (size_t)sh->rank);
        for (int i = 0; i < sh->rank; i++)
            items[i] = value_int(sh->d[i]);
        value v = {V_TUPLE, 0, 0, sh->rank, items};
        *out = v;
        return 0;
    }
    if (f == 3 && sh->rank != 1) {
        diag_error(x->d, e->loc, "in.features: the input here is %s, not flat; flatten would "
                   "give %lld features (in.channels, in.height and in.width give its sizes)",
                   shape_str(sh, buf, sizeof buf), (long long)shape_size(sh));
        return -1;
    }
    if (f < 3 && sh->rank != 3) {
        diag_error(x->d, e->loc, "in.%s: the input here is flat (%lld features); in.features "
                   "gives its size", e->name, (long long)sh->d[0]);
        return -1;
    }
    *out = value_int(sh->d[f < 3 ? f : 0]);
    return 0;
}

/* ---- statements -------------------------------------------------------------- */

static int expand_stmts(expander *x, const ast_stmt *s, scope *sc, naming *nm,
                        int cur);

static const ast_item *find_block(expander *x, const char *name)
{
    return strmap_get(&x->block_names, name);
}

static void unknown_callee(expander *x, const ast_stmt *s)
{
    const char *names[256];
    int nlayers = layer_names(names, 256), n = nlayers;
    for (int i = 0; i < x->nblocks && n < 256; i++)
        names[n++] = x->blocks[i]->name;
    const char *sug = diag_suggest(s->name, names, n);
    if (sug) {
        diag_error(x->d, s->name_loc, "unknown layer or block '%s' (did you mean '%s'?)",
                   s->name, sug);
        return;
    }
    const char *blocks = "";
    if (n > nlayers && n - nlayers <= 20)
        blocks = arena_printf(x->ar, "; the blocks are %s",
                              name_list(x, names + nlayers, n - nlayers));
    else if (n > nlayers)
        blocks = arena_printf(x->ar, "; %d blocks are defined", x->nblocks);
    diag_error(x->d, s->name_loc, "unknown layer or block '%s'; the layers are %s%s", s->name,
               name_list(x, names, nlayers), blocks);
}

static int need_input(expander *x, const ast_stmt *s, int cur)
{
    if (cur >= 0)
        return 0;
    diag_error(x->d, s->loc, "'%s' comes before the net's input(C, H, W)", s->name);
    return -1;
}

static int expand_layer(expander *x, const ast_stmt *s, scope *sc, naming *nm,
                        layer_id kind, int cur)
{
    const layer_info *li = &layer_table[kind];
    int nargs = layer_nargs(kind);
    const char *names[8];
    bound_args b;
    memset(&b, 0, sizeof b);
    b.call = s->loc;
    for (int i = 0; i < nargs; i++)
        names[i] = li->args[i].name;
    int rc = match_args(x, sc, li->name, names, nargs, s->args, s->loc, b.v,
                        b.given, b.loc);
    for (int i = 0; i < nargs; i++) {
        if (b.given[i])
            continue;
        if (li->args[i].kind == ARG_REQUIRED) {
            if (rc == 0)
                diag_error(x->d, s->loc, "%s: missing argument '%s'", li->name,
                           li->args[i].name);
            rc = -1;
        }
        b.v[i] = li->args[i].def;
    }
    if (need_input(x, s, cur))
        return cur;
    ir_node tmp;
    memset(&tmp, 0, sizeof tmp);
    if (rc == 0 && li->bind(&tmp, &b, &x->ev) == 0) {
        int id = add_node(x, kind, s->loc, numbered(x, nm, li->name), &cur, 1);
        if (id < 0)
            return cur;
        x->g->nodes[id].a = tmp.a;
        return finish(x, id);
    }
    return error_node(x, s->loc, cur);
}

static int expand_join(expander *x, const ast_stmt *s, scope *sc, naming *nm,
                       layer_id kind, int cur)
{
    int nb = 0;
    for (const ast_branch *b = s->branches; b; b = b->next)
        nb++;
    if (nb < 2) {
        diag_error(x->d, s->loc, "%s needs at least two branches", s->name);
        return error_node(x, s->loc, cur);
    }
    int *outs = arena_alloc(x->ar, sizeof(int) * (size_t)nb);
    int k = 0, ok = 1;
    for (const ast_branch *b = s->branches; b; b = b->next) {
        const char *path = b->name ? chosen(x, nm, b->name) : numbered(x, nm, "branch");
        naming bn = child_naming(x, path);
        outs[k] = expand_stmts(x, b->body, sc, &bn, cur);
        if (outs[k] == cur && !b->name) /* empty: the identity, no name used */
            unbump(nm, "branch");
        if (x->g->nodes[outs[k]].kind == L_ERROR)
            ok = 0;
        k++;
        if (stopped(x))
            return cur;
    }
    int id = add_node(x, kind, s->loc, numbered(x, nm, layer_name(kind)), outs, nb);
    if (id < 0)
        return cur;
    x->g->nodes[id].branch_from = cur;
    if (!ok)
        x->g->nodes[id].kind = L_ERROR;
    return finish(x, id);
}

static int expand_block_call(expander *x, const ast_stmt *s, scope *caller,
                             naming *nm, const ast_item *blk, int cur)
{
    for (const frame *f = x->stack; f; f = f->up)
        if (f->block == blk) {
            diag_error(x->d, s->name_loc, "block '%s' calls itself (recursive blocks "
                       "never finish expanding)", blk->name);
            diag_note(x->d, blk->name_loc, "'%s' is defined here", blk->name);
            return error_node(x, s->loc, cur);
        }
    if (x->depth >= MAX_CALL_DEPTH) {
        diag_error(x->d, s->name_loc, "block calls nested more than %d deep",
                   MAX_CALL_DEPTH);
        return error_node(x, s->loc, cur);
    }
    int np = 0;
    for (const ast_param *p = blk->params; p; p = p->next)
        np++;
    const char **names = arena_alloc(x->ar, sizeof(char *) * (size_t)(np + 1));
    value *vals = arena_alloc(x->ar, sizeof(value) * (size_t)(np + 1));
    int *given = arena_alloc(x->ar, sizeof(int) * (size_t)(np + 1));
    nc_loc *locs = arena_alloc(x->ar, sizeof(nc_loc) * (size_t)(np + 1));
    int i = 0;
    for (const ast_param *p = blk->params; p; p = p->next)
        names[i++] = p->name;
    int rc = match_args(x, caller, blk->name, names, np, s->args, s->loc, vals,
                        given, locs);
    /* the block's scope: parameters over the top-level lets; defaults are
     * evaluated there, so they may use earlier parameters */
    scope *bsc = arena_alloc(x->ar, sizeof *bsc);
    bsc->parent = &x->globals;
    i = 0;
    for (const ast_param *p = blk->params; p; p = p->next, i++) {
        if (!given[i]) {
            if (!p->def) {
                if (rc == 0) {
                    diag_error(x->d, s->loc, "%s: missing argument '%s'", blk->name,
                               p->name);
                    diag_note(x->d, blk->name_loc, "'%s' is defined here", blk->name);
                }
                rc = -1;
                continue;
            }
            if (eval_expr(&x->ev, bsc, p->def, &vals[i])) {
                rc = -1;
                continue;
            }
        }
        scope_set(x->ar, bsc, p->name, vals[i], p->loc);
    }
    if (need_input(x, s, cur))
        return cur;
    if (rc)
        return error_node(x, s->loc, cur);

    if (x->g->ngroups >= EXPAND_MAX_NODES) {
        diag_error(x->d, s->loc, "the network has more than %d block calls; is a loop too long?",
                   EXPAND_MAX_NODES);
        x->stopped = 1;
        return cur;
    }
    const char *path = numbered(x, nm, blk->name);
    ir_group grp = {path, blk->name, call_label(x, blk->name, vals, np), s->loc,
                    x->group};
    ARRAY_PUSH(x->ar, x->g->groups, x->g->ngroups, x->g->gcap, grp);

    int saved_group = x->group;
    const diag_context *saved_ctx = x->d->ctx;
    diag_context ctx = {saved_ctx, s->loc,
                        arena_printf(x->ar, "in block '%s' called here", blk->name), 0, 0, NULL, NULL};
    frame fr = {blk, x->stack};
    x->group = x->g->ngroups - 1;
    x->d->ctx = &ctx;
    x->stack = &fr;
    x->depth++;
    naming inner = child_naming(x, path);
    int out = expand_stmts(x, blk->body, bsc, &inner, cur);
    x->depth--;
    x->stack = fr.up;
    x->d->ctx = saved_ctx;
    x->group = saved_group;
    return out;
}

static int expand_call(expander *x, const ast_stmt *s, scope *sc, naming *nm,
                       int cur)
{
    layer_id kind = layer_lookup(s->name);
    if (kind != L_COUNT) {
        int joins = layer_flags(kind) & LF_BRANCHES;
        if (joins && !s->branches) {
            diag_error(x->d, s->loc,
                       "%s joins branches: write %s { branch { ... } branch { ... } }",
                       s->name, s->name);
            return error_node(x, s->loc, cur);
        }
        if (!joins && s->branches) {
            diag_error(x->d, s->loc, "%s does not take branches", s->name);
            return error_node(x, s->loc, cur);
        }
        if (joins)
            return need_input(x, s, cur) ? cur : expand_join(x, s, sc, nm, kind, cur);
        return expand_layer(x, s, sc, nm, kind, cur);
    }
    const ast_item *blk = find_block(x, s->name);
    if (!blk) {
        unknown_callee(x, s);
        return error_node(x, s->loc, cur);
    }
    if (s->branches) {
        diag_error(x->d, s->loc, "block '%s' does not take branches", s->name);
        return error_node(x, s->loc, cur);
    }
    return expand_block_call(x, s, sc, nm, blk, cur);
}

/* Positional integer arguments of input(...): 1 or 3 of them. */
static int input_dims(expander *x, const ast_stmt *s, scope *sc, int64_t *dims,
                      int *n)
{
    *n = 0;
    for (const ast_arg *a = s->args; a; a = a->next) {
        value v;
        if (a->name) {
            diag_error(x->d, a->name_loc, "input takes positional sizes: input(C, H, W)");
            return -1;
        }
        if (*n == 3) {
            diag_error(x->d, a->loc, "input takes (C, H, W) or (features): at most 3 sizes");
            return -1;
        }
        if (eval_expr(&x->ev, sc, a->value, &v))
            return -1;
        if (v.kind != V_INT || v.i < 1 || v.i > 100000) {
            diag_error(x->d, a->value->loc,
                       "input sizes must be integers from 1 to 100000, got %s",
                       value_str(x->ar, &v));
            return -1;
        }
        dims[(*n)++] = v.i;
    }
    if (*n != 1 && *n != 3) {
        diag_error(x->d, s->loc, "input takes (C, H, W) or (features), got %d size%s",
                   *n, *n == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

static int expand_input(expander *x, const ast_stmt *s, scope *sc, int cur)
{
    int64_t dims[3];
    int n;
    if (x->depth == 0) {
        if (cur >= 0) {
            diag_error(x->d, s->loc, "the net's input is already declared");
            return cur;
        }
        if (input_dims(x, s, sc, dims, &n))
            return cur;
        int id = add_node(x, L_INPUT, s->loc, "input", NULL, 0);
        if (id < 0)
            return cur;
        ir_node *in = &x->g->nodes[id];
        in->out.rank = n;
        for (int i = 0; i < n; i++)
            in->out.d[i] = dims[i];
        return finish(x, id);
    }
    /* in a block: a statement about what the block receives */
    if (input_dims(x, s, sc, dims, &n))
        return cur;
    ir_check c = {cur, x->group, n, {dims[0], n > 1 ? dims[1] : 0, n > 2 ? dims[2] : 0},
                  s->loc};
    ARRAY_PUSH(x->ar, x->g->checks, x->g->nchecks, x->g->ccap, c);
    return cur;
}

static void expand_train(expander *x, const ast_stmt *s, scope *sc)
{
    ir_train *t = &x->g->train;
    if (x->depth > 0) {
        diag_error(x->d, s->loc, "train(...) belongs in the net, not in a block");
        return;
    }
    if (t->loc.src) {
        diag_error(x->d, s->loc, "the net's training settings are already given");
        diag_note(x->d, t->loc, "by this train(...); write every setting there");
        return;
    }
    t->loc = s->loc;
    for (const ast_arg *a = s->args; a; a = a->next) {
        if (!a->name) {
            diag_error(x->d, a->loc, "train takes keyword arguments: train(lr = 0.1, epochs = 10)");
            continue;
        }
        value v = {0};
        const char *word = NULL;
        if (!train_setting_known(a->name) || train_setting_takes_word(a->name))
            word = a->value->kind == E_NAME ? a->value->name : "";
        else if (eval_expr(&x->ev, sc, a->value, &v))
            continue;
        train_setting(x->d, x->ar, t, a, &v, word);
    }
}

static int count_value(expander *x, const ast_expr *e, scope *sc, long long *n)
{
    value v;
    if (eval_expr(&x->ev, sc, e, &v))
        return -1;
    if (v.kind != V_INT || v.i < 0 || v.i > MAX_REPEAT) {
        diag_error(x->d, e->loc, "repeat count must be an integer from 0 to %d, got %s",
                   MAX_REPEAT, value_str(x->ar, &v));
        return -1;
    }
    *n = v.i;
    return 0;
}

/* Counts one statement or loop iteration; true once expansion must stop. */
static int step(expander *x, nc_loc loc)
{
    if (stopped(x))
        return 1;
    if (++x->steps > MAX_STEPS) {
        diag_error(x->d, loc,
                   "expanding the net takes more than %d steps (statements and loop "
                   "iterations); is a loop too long?",
                   MAX_STEPS);
        x->stopped = 1;
    }
    return x->stopped;
}

/* A for loop's variables in this iteration, for the "in iteration" note. */
typedef struct loop_binding {
    const ast_pattern *p;
    const value *v;
} loop_binding;

/* "a = 1, b = (2, 3)" for pattern p bound to v (as far as they match). */
static const char *bound_names(arena *ar, const ast_pattern *p, const value *v)
{
    if (p->name)
        return arena_printf(ar, "%s = %s", p->name, value_str(ar, v));
    const char *s = "";
    int k = 0;
    for (const ast_pattern *i = p->items; i && v->kind == V_TUPLE && k < v->n;
         i = i->next, k++)
        s = arena_printf(ar, "%s%s%s", s, k ? ", " : "", bound_names(ar, i, &v->items[k]));
    return s;
}

static const char *loop_detail(arena *ar, const void *data)
{
    const loop_binding *lb = data;
    return arena_printf(ar, "(%s)", bound_names(ar, lb->p, lb->v));
}

static int expand_stmts(expander *x, const ast_stmt *s, scope *sc, naming *nm,
                        int cur)
{
    for (; s && !step(x, s->loc); s = s->next) {
        x->cur = cur;
        switch (s->kind) {
        case S_CALL:
            cur = expand_call(x, s, sc, nm, cur);
            break;
        case S_LET: {
            value v;
            if (eval_expr(&x->ev, sc, s->expr, &v) == 0)
                eval_bind(&x->ev, sc, s->pattern, &v);
            break;
        }
        case S_REPEAT: {
            long long n;
            if (count_value(x, s->expr, sc, &n))
                break;
            diag_context it = {x->d->ctx, s->loc, NULL, 0, (long)n, NULL, NULL};
            x->d->ctx = &it;
            nm->loops++;
            for (long long i = 0; i < n && !step(x, s->loc); i++) {
                it.iteration = (long)i + 1;
                cur = expand_stmts(x, s->body, sc, nm, cur);
            }
            nm->loops--;
            x->d->ctx = it.up;
            break;
        }
        case S_FOR: {
            value list;
            if (eval_expr(&x->ev, sc, s->expr, &list))
                break;
            if (list.kind != V_TUPLE) {
                diag_error(x->d, s->expr->loc, "for needs a tuple to iterate over, got %s %s",
                           value_kind_name(&list), value_str(x->ar, &list));
                break;
            }
            loop_binding lb = {s->pattern, NULL};
            diag_context it = {x->d->ctx, s->loc, NULL, 0, list.n, loop_detail, &lb};
            x->d->ctx = &it;
            nm->loops++;
            for (int i = 0; i < list.n && !step(x, s->loc); i++) {
                it.iteration = i + 1;
                lb.v = &list.items[i];
                if (eval_bind(&x->ev, sc, s->pattern, &list.items[i]))
                    break;
                cur = expand_stmts(x, s->body, sc, nm, cur);
            }
            nm->loops--;
            x->d->ctx = it.up;
            break;
        }
        case S_IF: {
            value c;
            if (eval_expr(&x->ev, sc, s->expr, &c))
                break;
            if (c.kind != V_INT) {
                diag_error(x->d, s->expr->loc,
                           "a condition must be an integer or true/false, got %s",
                           value_str(x->ar, &c));
                break;
            }
            cur = expand_stmts(x, c.i ? s->body : s->else_body, sc, nm, cur);
            break;
        }
        case S_INPUT:
            cur = expand_input(x, s, sc, cur);
            break;
        case S_TRAIN:
            expand_train(x, s, sc);
            break;
        }
    }
    return cur;
}

/* ---- program ------------------------------------------------------------------ */

/* A parameter named twice (block b(x, x)) is refused, as a second input is. */
static void check_params(expander *x, const ast_item *it)
{
    strmap seen = {0};
    for (const ast_param *p = it->params; p; p = p->next) {
        const ast_param *prev = strmap_get(&seen, p->name);
        if (prev) {
            diag_error(x->d, p->loc, "%s '%s' has two parameters named '%s'",
                       it->kind == I_BLOCK ? "block" : "net", it->name, p->name);
            diag_note(x->d, prev->loc, "the first is here");
            continue;
        }
        strmap_put(x->ar, &seen, p->name, (void *)p);
    }
}

static void collect_blocks(expander *x, const program *p)
{
    for (int f = 0; f < p->nfiles; f++)
        for (const ast_item *it = p->files[f].items; it; it = it->next) {
            if (it->kind == I_BLOCK || it->kind == I_NET)
                check_params(x, it);
            if (it->kind != I_BLOCK)
                continue;
            const ast_item *prev = find_block(x, it->name);
            if (prev) {
                diag_error(x->d, it->name_loc, "block '%s' is defined twice", it->name);
                diag_note(x->d, prev->name_loc, "first defined here");
                continue;
            }
            if (layer_lookup(it->name) != L_COUNT) {
                diag_error(x->d, it->name_loc,
                           "block '%s' has the name of a built-in layer", it->name);
                continue;
            }
            ARRAY_PUSH(x->ar, x->blocks, x->nblocks, x->bcap, it);
            strmap_put(x->ar, &x->block_names, it->name, (void *)it);
        }
}

/* Top-level lets, imported files first (they are loaded after the root). */
static void eval_globals(expander *x, const program *p)
{
    for (int f = p->nfiles - 1; f >= 0; f--)
        for (const ast_item *it = p->files[f].items; it; it = it->next) {
            if (it->kind != I_LET)
                continue;
            value v;
            if (eval_expr(&x->ev, &x->globals, it->expr, &v) == 0)
                eval_bind(&x->ev, &x->globals, it->pattern, &v);
        }
}

static int has_net(const ast_file *f)
{
    for (const ast_item *it = f->items; it; it = it->next)
        if (it->kind == I_NET)
            return 1;
    return 0;
}

static const ast_item *select_net(expander *x, const program *p, const char *want)
{
    const ast_item *found = NULL;
    int count = 0;
    const char *names[64];
    for (const ast_item *it = p->files[0].items; it; it = it->next) {
        if (it->kind != I_NET)
            continue;
        if (count < 64)
            names[count] = it->name;
        count++;
        if (want ? strcmp(it->name, want) == 0 : !found)
            found = it;
    }
    if (want && !found) {
        const char *sug = diag_suggest(want, names, count < 64 ? count : 64);
        diag_error(x->d, loc_none(), "%s has no net '%s'%s%s%s", p->files[0].src->name,
                   want, sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        return NULL;
    }
    if (!found) {
        diag_error(x->d, loc_none(), "%s has no net to expand (only blocks?)",
                   p->files[0].src->name);
        return NULL;
    }
    if (!want && count > 1) {
        diag_error(x->d, loc_none(), "%s has %d nets; choose one with --net NAME",
                   p->files[0].src->name, count);
        return NULL;
    }
    return found;
}

/* Net parameters: defaults, or -D name=value. */
static int bind_net_params(expander *x, const ast_item *net, const expand_opts *o,
                           scope *sc)
{
    int rc = 0;
    const char *names[64];
    int np = 0;
    for (const ast_param *p = net->params; p && np < 64; p = p->next)
        names[np++] = p->name;
    const ast_expr **over = arena_alloc(x->ar, sizeof(ast_expr *) * (size_t)(np + 1));
    for (int i = 0; i < o->ndefines; i++) {
        const char *def = o->defines[i];
        const char *eq = strchr(def, '=');
        if (!eq || eq == def) {
            diag_error(x->d, loc_none(), "-D needs name=value, got '%s'", def);
            rc = -1;
            continue;
        }
        char *name = arena_strndup(x->ar, def, (size_t)(eq - def));
        int k;
        for (k = 0; k < np; k++)
            if (strcmp(names[k], name) == 0)
                break;
        if (k == np) {
            const char *sug = diag_suggest(name, names, np);
            if (sug)
                diag_error(x->d, loc_none(), "-D %s: net '%s' has no parameter '%s' (did you mean '%s'?)",
                           def, net->name, name, sug);
            else if (np)
                diag_error(x->d, loc_none(), "-D %s: net '%s' has no parameter '%s'", def,
                           net->name, name);
            else
                diag_error(x->d, loc_none(), "-D %s: net '%s' takes no parameters", def,
                           net->name);
            rc = -1;
            continue;
        }
        ast_expr *e = parse_expr_string(x->ar, x->d, arena_printf(x->ar, "-D %s", name),
                                        eq + 1);
        if (!e) {
            rc = -1;
            continue;
        }
        over[k] = e;
    }
    int i = 0;
    for (const ast_param *p = net->params; p && i < 64; p = p->next, i++) {
        const ast_expr *e = over[i] ? over[i] : p->def;
        if (!e) {
            diag_error(x->d, p->loc,
                       "net parameter '%s' needs a default (the command line may override it)",
                       p->name);
            rc = -1;
            continue;
        }
        value v;
        if (eval_expr(&x->ev, sc, e, &v)) {
            rc = -1;
            continue;
        }
        scope_set(x->ar, sc, p->name, v, p->loc);
        ir_param ip = {p->name, value_str(x->ar, &v), over[i] != NULL};
        ARRAY_PUSH(x->ar, x->g->params, x->g->nparams, x->g->pcap, ip);
    }
    return rc;
}

int expand_program(const program *p, arena *ar, diag *d, const expand_opts *o,
                   ir_graph *g)
{
    expander x;
    memset(&x, 0, sizeof x);
    x.ar = ar;
    x.d = d;
    x.ev.ar = ar;
    x.ev.diag = d;
    x.g = g;
    x.group = -1;
    memset(g, 0, sizeof *g);
    int before = d->nerrors;
    if (p->nfiles == 0)
        return -1;
    g->file = p->files[0].src->name;

    x.cur = -1;
    collect_blocks(&x, p);
    eval_globals(&x, p);
    x.ev.query = shape_query; /* top-level lets cannot ask: no tensor flows there */
    x.ev.host = &x;
    if (o->library_ok && !o->net && !has_net(&p->files[0]))
        return d->nerrors == before ? 0 : -1;
    const ast_item *net = select_net(&x, p, o->net);
    if (!net)
        return -1;
    g->name = net->name;
    g->loc = net->name_loc;

    scope *sc = arena_alloc(ar, sizeof *sc);
    sc->parent = &x.globals;
    if (bind_net_params(&x, net, o, sc))
        return -1;
    naming nm = {"", {0}, 0};
    int last = expand_stmts(&x, net->body, sc, &nm, -1);
    if (d->nerrors != before)
        return -1;
    if (last < 0) {
        diag_error(d, net->name_loc, "net '%s' has no input(C, H, W)", net->name);
        return -1;
    }
    if (g->n < 2) {
        diag_error(d, net->name_loc, "net '%s' has no layers", net->name);
        return -1;
    }
    if (last != g->n - 1) {
        /* the output is always the last node; an identity tail cannot occur */
        diag_error(d, net->name_loc, "net '%s' ends in an empty branch", net->name);
        return -1;
    }
    return 0;
}
