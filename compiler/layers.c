/* layers.c - the layer table (built from layers.def) with every kind's
 * arguments and the bind functions that check argument values and turn them
 * into IR attributes. Shapes are not looked at here (shapes.c). */
#include "layers.h"

#include <string.h>

#define INT(x) {V_INT, (x), 0, 0, NULL}
#define FLT(x) {V_FLOAT, 0, (x), 0, NULL}
#define NONE {V_INT, 0, 0, 0, NULL}
#define END {NULL, ARG_REQUIRED, NONE} /* ends every argument list */

/* ---- argument checks ----------------------------------------------------- */

static int get_int(const bound_args *a, int i, const char *layer,
                   const char *arg, long long lo, long long hi, int *out,
                   evaluator *ev)
{
    const value *v = &a->v[i];
    if (v->kind != V_INT) {
        diag_error(ev->diag, a->loc[i], "%s: %s must be an integer, got %s %s",
                   layer, arg, value_kind_name(v), value_str(ev->ar, v));
        return -1;
    }
    if (v->i < lo || v->i > hi) {
        if (hi == 1 && lo == 0)
            diag_error(ev->diag, a->loc[i], "%s: %s must be true or false, got %lld",
                       layer, arg, v->i);
        else
            diag_error(ev->diag, a->loc[i], "%s: %s must be from %lld to %lld, got %lld",
                       layer, arg, lo, hi, v->i);
        return -1;
    }
    *out = (int)v->i;
    return 0;
}

/* An int or a pair of ints: kernel, stride, padding as (h, w). */
static int get_pair(const bound_args *a, int i, const char *layer,
                    const char *arg, long long lo, long long hi, int *h, int *w,
                    evaluator *ev)
{
    const value *v = &a->v[i];
    if (v->kind == V_TUPLE) {
        if (v->n != 2 || v->items[0].kind != V_INT || v->items[1].kind != V_INT) {
            diag_error(ev->diag, a->loc[i],
                       "%s: %s must be an integer or a pair of integers, got %s",
                       layer, arg, value_str(ev->ar, v));
            return -1;
        }
        for (int k = 0; k < 2; k++)
            if (v->items[k].i < lo || v->items[k].i > hi) {
                diag_error(ev->diag, a->loc[i], "%s: %s must be from %lld to %lld, got %s",
                           layer, arg, lo, hi, value_str(ev->ar, v));
                return -1;
            }
        *h = (int)v->items[0].i;
        *w = (int)v->items[1].i;
        return 0;
    }
    if (get_int(a, i, layer, arg, lo, hi, h, ev))
        return -1;
    *w = *h;
    return 0;
}

static int get_float(const bound_args *a, int i, const char *layer,
                     const char *arg, double lo, double hi, int hi_open,
                     double *out, evaluator *ev)
{
    const value *v = &a->v[i];
    if (v->kind == V_TUPLE) {
        diag_error(ev->diag, a->loc[i], "%s: %s must be a number, got %s", layer,
                   arg, value_str(ev->ar, v));
        return -1;
    }
    double x = v->kind == V_INT ? (double)v->i : v->f;
    if (x < lo || x > hi || (hi_open && x == hi)) {
        diag_error(ev->diag, a->loc[i], "%s: %s must be in [%g, %g%c, got %s",
                   layer, arg, lo, hi, hi_open ? ')' : ']', value_str(ev->ar, v));
        return -1;
    }
    *out = x;
    return 0;
}

#define BIG 1000000 /* sizes beyond this are mistakes, not networks */

/* ---- the kinds ------------------------------------------------------------- */

static const layer_arg CONV_args[] = {
    {"out", ARG_REQUIRED, NONE},     {"kernel", ARG_REQUIRED, NONE},
    {"stride", ARG_DEFAULT, INT(1)}, {"padding", ARG_DEFAULT, INT(0)},
    {"bias", ARG_DEFAULT, INT(1)},           END,
};

static int CONV_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    conv_attrs *c = &n->a.conv;
    return get_int(a, 0, "conv", "out", 1, BIG, &c->out, ev) |
           get_pair(a, 1, "conv", "kernel", 1, 1000, &c->kh, &c->kw, ev) |
           get_pair(a, 2, "conv", "stride", 1, 1000, &c->sh, &c->sw, ev) |
           get_pair(a, 3, "conv", "padding", 0, 1000, &c->ph, &c->pw, ev) |
           get_int(a, 4, "conv", "bias", 0, 1, &c->bias, ev);
}

static const layer_arg POOL_args[] = {
    {"kernel", ARG_REQUIRED, NONE},
    {"stride", ARG_OPTIONAL, NONE},
    {"padding", ARG_DEFAULT, INT(0)},        END,
};

static int bind_pool(ir_node *n, const bound_args *a, evaluator *ev,
                     const char *name)
{
    pool_attrs *p = &n->a.pool;
    if (get_pair(a, 0, name, "kernel", 1, 1000, &p->kh, &p->kw, ev) |
        get_pair(a, 2, name, "padding", 0, 1000, &p->ph, &p->pw, ev))
        return -1;
    if (a->given[1]) {
        if (get_pair(a, 1, name, "stride", 1, 1000, &p->sh, &p->sw, ev))
            return -1;
    } else {
        p->sh = p->kh; /* PyTorch: stride defaults to the kernel size */
        p->sw = p->kw;
    }
    if (2 * p->ph > p->kh || 2 * p->pw > p->kw) {
        diag_error(ev->diag, a->loc[2],
                   "%s: padding must be at most half the kernel size, got padding "
                   "(%d, %d) for kernel (%d, %d)",
                   name, p->ph, p->pw, p->kh, p->kw);
        return -1;
    }
    return 0;
}

#define MAXPOOL_args POOL_args
#define AVGPOOL_args POOL_args

static int MAXPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_pool(n, a, ev, "maxpool");
}

static int AVGPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_pool(n, a, ev, "avgpool");
}

static const layer_arg GAVGPOOL_args[] = {
    {"size", ARG_DEFAULT, INT(1)},           END,
};

static int GAVGPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    (void)n;
    const value *v = &a->v[0];
    int one = (v->kind == V_INT && v->i == 1) ||
              (v->kind == V_TUPLE && v->n == 2 && v->items[0].kind == V_INT &&
               v->items[0].i == 1 && v->items[1].kind == V_INT &&
               v->items[1].i == 1);
    if (!one) {
        diag_error(ev->diag, a->loc[0],
                   "adaptive_avgpool: only output size 1 (or (1, 1)) is supported, got %s",
                   value_str(ev->ar, v));
        return -1;
    }
    return 0;
}

static const layer_arg BATCHNORM_args[] = {
    {"eps", ARG_DEFAULT, FLT(1e-5)},
    {"momentum", ARG_DEFAULT, FLT(0.1)},     END,
};

static int BATCHNORM_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "batchnorm", "eps", 0, 1, 0, &n->a.bn.eps, ev) |
           get_float(a, 1, "batchnorm", "momentum", 0, 1, 0, &n->a.bn.momentum, ev);
}

static const layer_arg NO_args[] = {END};

#define RELU_args NO_args
#define SIGMOID_args NO_args
#define TANH_args NO_args
#define FLATTEN_args NO_args
#define CONCAT_args NO_args
#define ADD_args NO_args

static int no_args(ir_node *n, const bound_args *a, evaluator *ev)
{
    (void)n, (void)a, (void)ev;
    return 0;
}

#define RELU_bind no_args
#define SIGMOID_bind no_args
#define TANH_bind no_args
#define FLATTEN_bind no_args
#define CONCAT_bind no_args
#define ADD_bind no_args

static const layer_arg DROPOUT_args[] = {
    {"p", ARG_DEFAULT, FLT(0.5)},            END,
};

static int DROPOUT_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "dropout", "p", 0, 1, 1, &n->a.dropout.p, ev);
}

static const layer_arg LINEAR_args[] = {
    {"out", ARG_REQUIRED, NONE},
    {"bias", ARG_DEFAULT, INT(1)},           END,
};

static int LINEAR_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_int(a, 0, "linear", "out", 1, 100000000, &n->a.linear.out, ev) |
           get_int(a, 1, "linear", "bias", 0, 1, &n->a.linear.bias, ev);
}

const layer_info layer_table[L_COUNT] = {
    [L_INPUT] = {"input", "input", 0, NO_args, NULL},
    [L_ERROR] = {"error", "error", 0, NO_args, NULL},
#define LAYER(id, name, op, flags) \
    [L_##id] = {name, op, flags, id##_args, id##_bind},
#include "layers.def"
#undef LAYER
};

const char *layer_name(layer_id k) { return layer_table[k].name; }
const char *layer_op(layer_id k) { return layer_table[k].op; }
int layer_flags(layer_id k) { return layer_table[k].flags; }

layer_id layer_lookup(const char *name)
{
    for (int k = L_ERROR + 1; k < L_COUNT; k++)
        if (strcmp(layer_table[k].name, name) == 0)
            return (layer_id)k;
    return L_COUNT;
}

int layer_nargs(layer_id k)
{
    int n = 0;
    while (layer_table[k].args[n].name)
        n++;
    return n;
}

int layer_names(const char **out, int max)
{
    int n = 0;
    for (int k = L_ERROR + 1; k < L_COUNT && n < max; k++)
        out[n++] = layer_table[k].name;
    return n;
}
