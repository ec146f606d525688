/* layers.c - the layer table (built from layers.def): per kind, its
 * arguments and the bind function that checks argument values and turns them
 * into IR attributes, its attribute fields, its tensors and its saved
 * buffers (see layers.h). Shapes are inferred in shapes.c; the tensor and
 * saved-buffer declarations read the shapes shapes.c inferred. */
#include "layers.h"

#include <stddef.h>
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

/* ---- declarations shared by several kinds -------------------------------------- */

#define FIELD(kind, f, type) {#f, type, offsetof(ir_node, a.kind.f), 0, 0}
#define FIELD_SINCE(kind, f, neutral) {#f, ATTR_INT, offsetof(ir_node, a.kind.f), 1, neutral}
#define NAMED(name, kind, f, type) {name, type, offsetof(ir_node, a.kind.f), 0, 0}
#define FIELDS_END {NULL, ATTR_INT, 0, 0, 0}

static const attr_field no_fields[] = {FIELDS_END};

static int no_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    (void)n, (void)in, (void)out;
    return 0;
}

static int no_saved(const ir_node *n, saved_decl *out)
{
    (void)n, (void)out;
    return 0;
}

static tensor_decl tensor(const char *role, int ndim, const int64_t *shape, tensor_init init,
                          int64_t fan_in, int64_t fan_out, int trainable)
{
    tensor_decl t = {role, ndim, {0}, init, fan_in, fan_out, trainable};
    for (int i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    return t;
}

/* A learned weight (Xavier) and, if bias, its bias (PyTorch's default). */
static int weight_bias(tensor_decl *out, int ndim, const int64_t *w, int64_t fan_in,
                       int64_t fan_out, int bias)
{
    out[0] = tensor("weight", ndim, w, INIT_XAVIER, fan_in, fan_out, 1);
    if (bias)
        out[1] = tensor("bias", 1, w, INIT_BIAS, fan_in, fan_out, 1);
    return 1 + (bias != 0);
}

/* ---- the kinds ------------------------------------------------------------- */

static const layer_arg CONV_args[] = {
    {"out", ARG_REQUIRED, NONE},     {"kernel", ARG_REQUIRED, NONE},
    {"stride", ARG_DEFAULT, INT(1)}, {"padding", ARG_DEFAULT, INT(0)},
    {"bias", ARG_DEFAULT, INT(1)},   {"groups", ARG_DEFAULT, INT(1)},
    {"dilation", ARG_DEFAULT, INT(1)},       END,
};

/* Whether groups divide the output channels is checked here; the input's
 * channels are checked by the shape rule. */
static int CONV_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    conv_attrs *c = &n->a.conv;
    if (get_int(a, 0, "conv", "out", 1, BIG, &c->out, ev) |
        get_pair(a, 1, "conv", "kernel", 1, 1000, &c->kh, &c->kw, ev) |
        get_pair(a, 2, "conv", "stride", 1, 1000, &c->sh, &c->sw, ev) |
        get_pair(a, 3, "conv", "padding", 0, 1000, &c->ph, &c->pw, ev) |
        get_int(a, 4, "conv", "bias", 0, 1, &c->bias, ev) |
        get_int(a, 5, "conv", "groups", 1, BIG, &c->groups, ev) |
        get_pair(a, 6, "conv", "dilation", 1, 1000, &c->dh, &c->dw, ev))
        return -1;
    if (c->out % c->groups) {
        diag_error(ev->diag, a->loc[5],
                   "conv: groups must divide the output channels, got %d output channels "
                   "and groups = %d",
                   c->out, c->groups);
        return -1;
    }
    return 0;
}

static const attr_field CONV_fields[] = {
    FIELD(conv, out, ATTR_INT), FIELD(conv, kh, ATTR_INT), FIELD(conv, kw, ATTR_INT),
    FIELD(conv, sh, ATTR_INT),  FIELD(conv, sw, ATTR_INT), FIELD(conv, ph, ATTR_INT),
    FIELD(conv, pw, ATTR_INT),  FIELD(conv, bias, ATTR_INT),
    FIELD_SINCE(conv, groups, 1), FIELD_SINCE(conv, dh, 1), FIELD_SINCE(conv, dw, 1),
    FIELDS_END,
};

/* nn.Conv2d: weight [out, in / groups, kh, kw], bias [out]; PyTorch's fans
 * are fan_in = in / groups * kh * kw, fan_out = out * kh * kw */
static int CONV_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    const conv_attrs *a = &n->a.conv;
    int64_t w[4] = {a->out, in->d[0] / a->groups, a->kh, a->kw};
    return weight_bias(out, 4, w, w[1] * a->kh * a->kw, (int64_t)a->out * a->kh * a->kw,
                       a->bias);
}

#define CONV_saved no_saved

static const layer_arg AVGPOOL_args[] = {
    {"kernel", ARG_REQUIRED, NONE},
    {"stride", ARG_OPTIONAL, NONE},
    {"padding", ARG_DEFAULT, INT(0)},        END,
};

static const layer_arg MAXPOOL_args[] = {
    {"kernel", ARG_REQUIRED, NONE},
    {"stride", ARG_OPTIONAL, NONE},
    {"padding", ARG_DEFAULT, INT(0)},
    {"ceil_mode", ARG_DEFAULT, INT(0)},      END,
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

static const attr_field AVGPOOL_fields[] = {
    FIELD(pool, kh, ATTR_INT), FIELD(pool, kw, ATTR_INT), FIELD(pool, sh, ATTR_INT),
    FIELD(pool, sw, ATTR_INT), FIELD(pool, ph, ATTR_INT), FIELD(pool, pw, ATTR_INT),
    FIELDS_END,
};

static const attr_field MAXPOOL_fields[] = {
    FIELD(pool, kh, ATTR_INT), FIELD(pool, kw, ATTR_INT), FIELD(pool, sh, ATTR_INT),
    FIELD(pool, sw, ATTR_INT), FIELD(pool, ph, ATTR_INT), FIELD(pool, pw, ATTR_INT),
    FIELD_SINCE(pool, ceil_mode, 0), FIELDS_END,
};
#define MAXPOOL_tensors no_tensors
#define AVGPOOL_tensors no_tensors
#define AVGPOOL_saved no_saved

/* the index (h * W + w) of each output's maximum in its plane */
static int MAXPOOL_saved(const ir_node *n, saved_decl *out)
{
    out[0] = (saved_decl){"argmax", SAVED_I32, shape_size(&n->out), 1};
    return 1;
}

static int MAXPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_pool(n, a, ev, "maxpool") |
           get_int(a, 3, "maxpool", "ceil_mode", 0, 1, &n->a.pool.ceil_mode, ev);
}

static int AVGPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_pool(n, a, ev, "avgpool");
}

static const layer_arg ADAPTIVE_AVGPOOL_args[] = {
    {"size", ARG_DEFAULT, INT(1)},
    {"width", ARG_OPTIONAL, NONE},           END,
};

static const layer_arg ADAPTIVE_MAXPOOL_args[] = {
    {"size", ARG_REQUIRED, NONE},
    {"width", ARG_OPTIONAL, NONE},           END,
};

/* The output size: (h, w), or h, w, or n for (n, n), as
 * nn.AdaptiveAvgPool2d(n) */
static int bind_adaptive(ir_node *n, const bound_args *a, evaluator *ev, const char *name)
{
    adaptive_attrs *s = &n->a.adaptive;
    if (!a->given[1])
        return get_pair(a, 0, name, "size", 1, BIG, &s->oh, &s->ow, ev);
    return get_int(a, 0, name, "size", 1, BIG, &s->oh, ev) |
           get_int(a, 1, name, "width", 1, BIG, &s->ow, ev);
}

static int ADAPTIVE_AVGPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_adaptive(n, a, ev, "adaptive_avgpool");
}

static int ADAPTIVE_MAXPOOL_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return bind_adaptive(n, a, ev, "adaptive_maxpool");
}

/* adaptive_avgpool was (1, 1) only before it had a size: 1 stays neutral */
static const attr_field ADAPTIVE_AVGPOOL_fields[] = {
    FIELD_SINCE(adaptive, oh, 1), FIELD_SINCE(adaptive, ow, 1), FIELDS_END,
};

static const attr_field ADAPTIVE_MAXPOOL_fields[] = {
    FIELD(adaptive, oh, ATTR_INT), FIELD(adaptive, ow, ATTR_INT), FIELDS_END,
};

#define ADAPTIVE_AVGPOOL_tensors no_tensors
#define ADAPTIVE_MAXPOOL_tensors no_tensors
#define ADAPTIVE_AVGPOOL_saved no_saved
#define ADAPTIVE_MAXPOOL_saved MAXPOOL_saved

static const layer_arg BATCHNORM_args[] = {
    {"eps", ARG_DEFAULT, FLT(1e-5)},
    {"momentum", ARG_DEFAULT, FLT(0.1)},     END,
};

static int BATCHNORM_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "batchnorm", "eps", 0, 1, 0, &n->a.bn.eps, ev) |
           get_float(a, 1, "batchnorm", "momentum", 0, 1, 0, &n->a.bn.momentum, ev);
}

static const attr_field BATCHNORM_fields[] = {
    FIELD(bn, eps, ATTR_FLOAT), FIELD(bn, momentum, ATTR_FLOAT), FIELDS_END,
};

/* nn.BatchNorm2d / 1d: per channel or feature */
static int BATCHNORM_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    (void)n;
    int64_t c[1] = {in->d[0]};
    out[0] = tensor("weight", 1, c, INIT_ONES, 0, 0, 1);
    out[1] = tensor("bias", 1, c, INIT_ZEROS, 0, 0, 1);
    out[2] = tensor("running_mean", 1, c, INIT_ZEROS, 0, 0, 0);
    out[3] = tensor("running_var", 1, c, INIT_ONES, 0, 0, 0);
    return 4;
}

/* the batch's mean and 1/sqrt(var + eps) per channel; over maps, the sums
 * of each example's rows (nt_bn_dims.rows) */
static int BATCHNORM_saved(const ir_node *n, saved_decl *out)
{
    out[0] = (saved_decl){"mean", SAVED_F32, n->out.d[0], 0};
    out[1] = (saved_decl){"invstd", SAVED_F32, n->out.d[0], 0};
    if (n->out.rank == 1)
        return 2;
    out[2] = (saved_decl){"rows", SAVED_F64, 2 * n->out.d[0], 1};
    return 3;
}

static const layer_arg LAYERNORM_args[] = {
    {"eps", ARG_DEFAULT, FLT(1e-5)},         END,
};

static int LAYERNORM_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "layernorm", "eps", 0, 1, 0, &n->a.norm.eps, ev);
}

static const layer_arg GROUPNORM_args[] = {
    {"groups", ARG_REQUIRED, NONE},
    {"eps", ARG_DEFAULT, FLT(1e-5)},         END,
};

/* whether groups divide the channels is the shape rule's to check */
static int GROUPNORM_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_int(a, 0, "groupnorm", "groups", 1, BIG, &n->a.norm.groups, ev) |
           get_float(a, 1, "groupnorm", "eps", 0, 1, 0, &n->a.norm.eps, ev);
}

static const attr_field LAYERNORM_fields[] = {FIELD(norm, eps, ATTR_FLOAT), FIELDS_END};
static const attr_field GROUPNORM_fields[] = {
    FIELD(norm, groups, ATTR_INT), FIELD(norm, eps, ATTR_FLOAT), FIELDS_END,
};

/* elementwise affine: weight (ones) and bias (zeros) of the given shape */
static int affine(tensor_decl *out, int ndim, const int64_t *shape)
{
    out[0] = tensor("weight", ndim, shape, INIT_ONES, 0, 0, 1);
    out[1] = tensor("bias", ndim, shape, INIT_ZEROS, 0, 0, 1);
    return 2;
}

/* nn.LayerNorm(normalized_shape = [C, H, W] or [F]) */
static int LAYERNORM_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    (void)n;
    return affine(out, in->rank, in->d);
}

/* nn.GroupNorm(groups, C): per channel */
static int GROUPNORM_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    (void)n;
    return affine(out, 1, in->d);
}

/* mean and 1/sqrt(var + eps) of each of `per` groups of each example */
static int norm_saved(saved_decl *out, int64_t per)
{
    out[0] = (saved_decl){"mean", SAVED_F32, per, 1};
    out[1] = (saved_decl){"invstd", SAVED_F32, per, 1};
    return 2;
}

static int LAYERNORM_saved(const ir_node *n, saved_decl *out)
{
    (void)n;
    return norm_saved(out, 1);
}

static int GROUPNORM_saved(const ir_node *n, saved_decl *out)
{
    return norm_saved(out, n->a.norm.groups);
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

#define RELU_fields no_fields
#define SIGMOID_fields no_fields
#define TANH_fields no_fields
#define FLATTEN_fields no_fields
#define CONCAT_fields no_fields
#define ADD_fields no_fields

#define RELU_tensors no_tensors
#define SIGMOID_tensors no_tensors
#define TANH_tensors no_tensors
#define FLATTEN_tensors no_tensors
#define CONCAT_tensors no_tensors
#define ADD_tensors no_tensors

#define SILU_args NO_args
#define GELU_args NO_args
#define HARDSWISH_args NO_args
#define SILU_bind no_args
#define GELU_bind no_args
#define HARDSWISH_bind no_args
#define SILU_fields no_fields
#define GELU_fields no_fields
#define HARDSWISH_fields no_fields

static const layer_arg LEAKY_RELU_args[] = {{"slope", ARG_DEFAULT, FLT(0.01)}, END};
static const layer_arg ELU_args[] = {{"alpha", ARG_DEFAULT, FLT(1.0)}, END};
static const layer_arg SOFTPLUS_args[] = {
    {"beta", ARG_DEFAULT, FLT(1.0)},
    {"threshold", ARG_DEFAULT, FLT(20.0)},   END,
};

static int LEAKY_RELU_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "leaky_relu", "slope", -1000, 1000, 0, &n->a.act.a, ev);
}

static int ELU_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "elu", "alpha", 0, 1000, 0, &n->a.act.a, ev);
}

static int SOFTPLUS_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    if (get_float(a, 0, "softplus", "beta", 0, 1000, 0, &n->a.act.a, ev) |
        get_float(a, 1, "softplus", "threshold", 0, 1000, 0, &n->a.act.b, ev))
        return -1;
    if (n->a.act.a == 0) {
        diag_error(ev->diag, a->loc[0], "softplus: beta must not be 0");
        return -1;
    }
    return 0;
}

static const attr_field LEAKY_RELU_fields[] = {NAMED("slope", act, a, ATTR_FLOAT), FIELDS_END};
static const attr_field ELU_fields[] = {NAMED("alpha", act, a, ATTR_FLOAT), FIELDS_END};
static const attr_field SOFTPLUS_fields[] = {
    NAMED("beta", act, a, ATTR_FLOAT), NAMED("threshold", act, b, ATTR_FLOAT), FIELDS_END,
};

#define LEAKY_RELU_tensors no_tensors
#define ELU_tensors no_tensors
#define SILU_tensors no_tensors
#define GELU_tensors no_tensors
#define HARDSWISH_tensors no_tensors
#define SOFTPLUS_tensors no_tensors

/* activations' backward reads their output (relu, sigmoid, tanh) or their
 * input (the others): both stay alive for the whole step */
#define LEAKY_RELU_saved no_saved
#define ELU_saved no_saved
#define SILU_saved no_saved
#define GELU_saved no_saved
#define HARDSWISH_saved no_saved
#define SOFTPLUS_saved no_saved
#define RELU_saved no_saved
#define SIGMOID_saved no_saved
#define TANH_saved no_saved
#define FLATTEN_saved no_saved
#define CONCAT_saved no_saved
#define ADD_saved no_saved

static const layer_arg DROPOUT_args[] = {
    {"p", ARG_DEFAULT, FLT(0.5)},            END,
};

static int DROPOUT_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_float(a, 0, "dropout", "p", 0, 1, 1, &n->a.dropout.p, ev);
}

static const attr_field DROPOUT_fields[] = {FIELD(dropout, p, ATTR_FLOAT), FIELDS_END};

#define DROPOUT_tensors no_tensors

/* which elements were kept, one byte each */
static int DROPOUT_saved(const ir_node *n, saved_decl *out)
{
    out[0] = (saved_decl){"mask", SAVED_U8, shape_size(&n->out), 1};
    return 1;
}

static const layer_arg SLICE_args[] = {
    {"start", ARG_REQUIRED, NONE},
    {"end", ARG_REQUIRED, NONE},             END,
};

/* channels (or features) [start, end), as x[:, start:end]; that end is
 * within the input is the shape rule's to check */
static int SLICE_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    slice_attrs *s = &n->a.slice;
    if (get_int(a, 0, "slice", "start", 0, BIG, &s->start, ev) |
        get_int(a, 1, "slice", "end", 1, BIG, &s->end, ev))
        return -1;
    if (s->start >= s->end) {
        diag_error(ev->diag, a->loc[1], "slice: end must be greater than start, got (%d, %d)",
                   s->start, s->end);
        return -1;
    }
    return 0;
}

static const attr_field SLICE_fields[] = {
    FIELD(slice, start, ATTR_INT), FIELD(slice, end, ATTR_INT), FIELDS_END,
};

#define SLICE_tensors no_tensors
#define SLICE_saved no_saved

static const layer_arg LINEAR_args[] = {
    {"out", ARG_REQUIRED, NONE},
    {"bias", ARG_DEFAULT, INT(1)},           END,
};

static int LINEAR_bind(ir_node *n, const bound_args *a, evaluator *ev)
{
    return get_int(a, 0, "linear", "out", 1, 100000000, &n->a.linear.out, ev) |
           get_int(a, 1, "linear", "bias", 0, 1, &n->a.linear.bias, ev);
}

static const attr_field LINEAR_fields[] = {
    FIELD(linear, out, ATTR_INT), FIELD(linear, bias, ATTR_INT), FIELDS_END,
};

/* nn.Linear: weight [out, in], bias [out] */
static int LINEAR_tensors(const ir_node *n, const shape *in, tensor_decl *out)
{
    const linear_attrs *a = &n->a.linear;
    int64_t w[2] = {a->out, in->d[0]};
    return weight_bias(out, 2, w, in->d[0], a->out, a->bias);
}

#define LINEAR_saved no_saved

const layer_info layer_table[L_COUNT] = {
    [L_INPUT] = {"input", "input", 0, NO_args, NULL, no_fields, no_tensors, no_saved},
    [L_ERROR] = {"error", "error", 0, NO_args, NULL, no_fields, no_tensors, no_saved},
#define LAYER(id, name, op, flags) \
    [L_##id] = {name, op, flags, id##_args, id##_bind, id##_fields, id##_tensors, id##_saved},
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

int64_t saved_floats(const saved_decl *s)
{
    static const int bytes[] = {[SAVED_F32] = 4, [SAVED_I32] = 4, [SAVED_U8] = 1,
                                [SAVED_F64] = 8};
    return (s->count * bytes[s->type] + 3) / 4;
}

const char *saved_ctype(saved_type t)
{
    static const char *const names[] = {[SAVED_F32] = "float", [SAVED_I32] = "int32_t",
                                        [SAVED_U8] = "uint8_t", [SAVED_F64] = "double"};
    return names[t];
}
