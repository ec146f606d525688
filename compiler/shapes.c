/* shapes.c - see shapes.h. One <ID>_shape function per row of layers.def. */
#include "shapes.h"

#include <string.h>

typedef struct shape_ctx {
    ir_graph *g;
    diag *d;
    arena *ar;
} shape_ctx;

static const shape *in_shape(shape_ctx *c, const ir_node *n, int i)
{
    return &c->g->nodes[n->inputs[i]].out;
}

static const char *sstr(shape_ctx *c, const shape *s)
{
    char buf[64];
    return arena_strdup(c->ar, shape_str(s, buf, sizeof buf));
}

static int need_image(shape_ctx *c, ir_node *n, const shape *s)
{
    if (s->rank == 3)
        return 0;
    diag_error(c->d, n->loc,
               "%s expects a C x H x W input, got %lld features (is there a flatten too early?)",
               layer_name(n->kind), (long long)s->d[0]);
    return -1;
}

static int check_size(shape_ctx *c, ir_node *n)
{
    if (shape_size(&n->out) <= SHAPE_MAX_ELEMS)
        return 0;
    diag_error(c->d, n->loc, "%s output %s has %lld elements per example; the limit is %lld",
               layer_name(n->kind), sstr(c, &n->out), (long long)shape_size(&n->out),
               SHAPE_MAX_ELEMS);
    return -1;
}

/* Output size of a sliding window along one dimension; NULL, or the
 * arithmetic that makes it empty. Ceil mode (PyTorch's rule): round up, but
 * the last window must start inside the input or its left padding. */
static const char *window(shape_ctx *c, const char *dim, int64_t in, int k, int s,
                          int p, int ceil_mode, int64_t *out)
{
    int64_t span = in + 2 * (int64_t)p - k;
    *out = span < 0 ? 0 : (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && span >= 0 && (*out - 1) * s >= in + p)
        --*out;
    if (span >= 0)
        return NULL;
    long long floor_q = (long long)(span / s - (span % s != 0));
    return arena_printf(c->ar, "%s (%lld + 2*%d - %d) / %d + 1 = %lld", dim, (long long)in, p,
                        k, s, floor_q + 1);
}

static int spatial(shape_ctx *c, ir_node *n, const shape *x, int kh, int kw,
                   int sh, int sw, int ph, int pw, int ceil_mode, int64_t channels)
{
    int64_t oh, ow;
    const char *h = window(c, "height", x->d[1], kh, sh, ph, ceil_mode, &oh);
    const char *w = window(c, "width", x->d[2], kw, sw, pw, ceil_mode, &ow);
    if (h || w) {
        diag_error(c->d, n->loc,
                   "%s output would be empty: %s%s%s; the %dx%d window is larger than the "
                   "padded %lldx%lld input",
                   layer_name(n->kind), h ? h : w, h && w ? ", " : "", h && w ? w : "", kh, kw,
                   (long long)(x->d[1] + 2 * ph), (long long)(x->d[2] + 2 * pw));
        return -1;
    }
    n->out.rank = 3;
    n->out.d[0] = channels;
    n->out.d[1] = oh;
    n->out.d[2] = ow;
    return check_size(c, n);
}

static int CONV_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    const conv_attrs *a = &n->a.conv;
    if (need_image(c, n, x))
        return -1;
    if (x->d[0] % a->groups) {
        diag_error(c->d, n->loc,
                   "conv: groups must divide the input channels, got %lld input channels "
                   "(%s) and groups = %d",
                   (long long)x->d[0], sstr(c, x), a->groups);
        return -1;
    }
    /* a dilated kernel spans dilation * (kernel - 1) + 1 */
    if (spatial(c, n, x, a->dh * (a->kh - 1) + 1, a->dw * (a->kw - 1) + 1, a->sh, a->sw, a->ph,
                a->pw, 0, a->out))
        return -1;
    int64_t k = x->d[0] / a->groups * a->kh * a->kw;
    if (k * a->out > SHAPE_MAX_ELEMS) {
        diag_error(c->d, n->loc, "conv weight %dx%lldx%dx%d is too large", a->out,
                   (long long)(x->d[0] / a->groups), a->kh, a->kw);
        return -1;
    }
    int64_t hw = n->out.d[1] * n->out.d[2];
    n->params = k * a->out + (a->bias ? a->out : 0);
    n->flops = 2 * k * a->out * hw + (a->bias ? a->out * hw : 0);
    return 0;
}

static int pool_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    const pool_attrs *a = &n->a.pool;
    if (need_image(c, n, x) ||
        spatial(c, n, x, a->kh, a->kw, a->sh, a->sw, a->ph, a->pw, a->ceil_mode, x->d[0]))
        return -1;
    n->flops = shape_size(&n->out) * a->kh * a->kw;
    return 0;
}

static int MAXPOOL_shape(shape_ctx *c, ir_node *n) { return pool_shape(c, n); }
static int AVGPOOL_shape(shape_ctx *c, ir_node *n) { return pool_shape(c, n); }

/* PyTorch's adaptive windows: output i reads [floor(i*in/out), ceil((i+1)*in/out)) */
static int64_t adaptive_reads(int64_t in, int64_t out)
{
    int64_t total = 0;
    for (int64_t i = 0; i < out; i++)
        total += ((i + 1) * in + out - 1) / out - i * in / out;
    return total;
}

static int adaptive_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    const adaptive_attrs *a = &n->a.adaptive;
    if (need_image(c, n, x))
        return -1;
    n->out.rank = 3;
    n->out.d[0] = x->d[0];
    n->out.d[1] = a->oh;
    n->out.d[2] = a->ow;
    if (check_size(c, n))
        return -1;
    n->flops = x->d[0] * adaptive_reads(x->d[1], a->oh) * adaptive_reads(x->d[2], a->ow);
    return 0;
}

static int ADAPTIVE_AVGPOOL_shape(shape_ctx *c, ir_node *n) { return adaptive_shape(c, n); }
static int ADAPTIVE_MAXPOOL_shape(shape_ctx *c, ir_node *n) { return adaptive_shape(c, n); }

static int BATCHNORM_shape(shape_ctx *c, ir_node *n)
{
    n->out = *in_shape(c, n, 0);
    n->params = 2 * n->out.d[0]; /* gamma and beta per channel or feature */
    n->flops = 2 * shape_size(&n->out);
    return 0;
}

static int LAYERNORM_shape(shape_ctx *c, ir_node *n)
{
    n->out = *in_shape(c, n, 0);
    n->params = 2 * shape_size(&n->out); /* weight and bias per element */
    n->flops = 2 * shape_size(&n->out);
    return 0;
}

static int GROUPNORM_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    if (x->d[0] % n->a.norm.groups) {
        diag_error(c->d, n->loc,
                   "groupnorm: groups must divide the channels, got %lld channels (%s) and "
                   "groups = %d",
                   (long long)x->d[0], sstr(c, x), n->a.norm.groups);
        return -1;
    }
    n->out = *x;
    n->params = 2 * n->out.d[0]; /* weight and bias per channel */
    n->flops = 2 * shape_size(&n->out);
    return 0;
}

static int elementwise(shape_ctx *c, ir_node *n)
{
    n->out = *in_shape(c, n, 0);
    n->flops = shape_size(&n->out);
    return 0;
}

static int RELU_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int SIGMOID_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int TANH_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int DROPOUT_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int LEAKY_RELU_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int ELU_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int SILU_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int GELU_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int HARDSWISH_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }
static int SOFTPLUS_shape(shape_ctx *c, ir_node *n) { return elementwise(c, n); }

static int FLATTEN_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    n->out.rank = 1;
    n->out.d[0] = shape_size(x);
    return 0;
}

static int LINEAR_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    const linear_attrs *a = &n->a.linear;
    if (x->rank != 1) {
        diag_error(c->d, n->loc,
                   "linear expects a flat input, got %s; add flatten before it "
                   "(it would give %lld*%lld*%lld = %lld features)",
                   sstr(c, x), (long long)x->d[0], (long long)x->d[1],
                   (long long)x->d[2], (long long)shape_size(x));
        return -1;
    }
    if (x->d[0] * a->out > SHAPE_MAX_ELEMS) {
        diag_error(c->d, n->loc, "linear weight %dx%lld is too large", a->out,
                   (long long)x->d[0]);
        return -1;
    }
    n->out.rank = 1;
    n->out.d[0] = a->out;
    n->params = x->d[0] * a->out + (a->bias ? a->out : 0);
    n->flops = 2 * x->d[0] * a->out + (a->bias ? a->out : 0);
    return 0;
}

static int SLICE_shape(shape_ctx *c, ir_node *n)
{
    const shape *x = in_shape(c, n, 0);
    const slice_attrs *a = &n->a.slice;
    if (a->end > x->d[0]) {
        diag_error(c->d, n->loc, "slice: end %d is beyond the input's %lld %s (%s)", a->end,
                   (long long)x->d[0], x->rank == 3 ? "channels" : "features", sstr(c, x));
        return -1;
    }
    n->out = *x;
    n->out.d[0] = a->end - a->start;
    return 0;
}

/* What branch i gives, for messages: "branch 2 gives 64x27x27". An empty
 * branch passes the join's input through. */
static const char *branch_desc(shape_ctx *c, const ir_node *n, int i)
{
    const shape *s = in_shape(c, n, i);
    int identity = n->inputs[i] == n->branch_from;
    return arena_printf(c->ar, "branch %d gives %s%s", i + 1, sstr(c, s),
                        identity ? " (empty: its input unchanged)" : "");
}

static int CONCAT_shape(shape_ctx *c, ir_node *n)
{
    const shape *first = in_shape(c, n, 0);
    int64_t total = 0;
    for (int i = 0; i < n->ninputs; i++) {
        const shape *s = in_shape(c, n, i);
        if (s->rank != first->rank ||
            (s->rank == 3 && (s->d[1] != first->d[1] || s->d[2] != first->d[2]))) {
            diag_error(c->d, n->loc,
                       "concat joins along channels, so heights and widths must match: "
                       "%s but %s", branch_desc(c, n, 0), branch_desc(c, n, i));
            return -1;
        }
        total += s->d[0];
    }
    n->out = *first;
    n->out.d[0] = total;
    return check_size(c, n);
}

static int ADD_shape(shape_ctx *c, ir_node *n)
{
    const shape *first = in_shape(c, n, 0);
    for (int i = 1; i < n->ninputs; i++) {
        const shape *s = in_shape(c, n, i);
        int same = s->rank == first->rank;
        for (int k = 0; same && k < s->rank; k++)
            same = s->d[k] == first->d[k];
        if (!same) {
            int chans = s->rank == first->rank && s->d[0] != first->d[0];
            diag_error(c->d, n->loc, "add needs equal shapes: %s but %s%s",
                       branch_desc(c, n, 0), branch_desc(c, n, i),
                       chans || s->rank != first->rank
                           ? ""
                           : " (a strided 1x1 conv on the shortcut would match them)");
            return -1;
        }
    }
    n->out = *first;
    n->flops = shape_size(first) * (n->ninputs - 1);
    return 0;
}

typedef int (*shape_fn)(shape_ctx *, ir_node *);

static const shape_fn shape_fns[L_COUNT] = {
#define LAYER(id, name, op, flags) [L_##id] = id##_shape,
#include "layers.def"
#undef LAYER
};

static void check_stated(shape_ctx *c, const ir_check *k)
{
    const ir_node *n = &c->g->nodes[k->node];
    const ir_group *grp = &c->g->groups[k->group];
    if (!n->ok)
        return;
    const shape *s = &n->out;
    if (k->n == 1) {
        if (s->d[0] == k->want[0])
            return;
        diag_error(c->d, grp->loc, "%s: the call states %lld input %s, but its input %s has %lld",
                   grp->block, (long long)k->want[0],
                   s->rank == 3 ? "channels" : "features", sstr(c, s), (long long)s->d[0]);
    } else {
        if (s->rank == 3 && s->d[0] == k->want[0] && s->d[1] == k->want[1] &&
            s->d[2] == k->want[2])
            return;
        diag_error(c->d, grp->loc, "%s: the call states an input of %lldx%lldx%lld, but its input is %s",
                   grp->block, (long long)k->want[0], (long long)k->want[1],
                   (long long)k->want[2], sstr(c, s));
    }
    diag_note(c->d, k->loc, "stated by this input(...) of block '%s'", grp->block);
}

/* For every block call, the chain of calls that leads to it, as notes for
 * errors inside it ("in block 'residual' called here"). */
static diag_context *call_chains(const ir_graph *g, arena *ar)
{
    diag_context *ctx = arena_alloc(ar, sizeof *ctx * (size_t)(g->ngroups + 1));
    for (int k = 0; k < g->ngroups; k++) {
        const ir_group *gr = &g->groups[k];
        ctx[k].up = gr->parent >= 0 ? &ctx[gr->parent] : NULL;
        ctx[k].loc = gr->loc;
        ctx[k].what = arena_printf(ar, "in block '%s' called here", gr->block);
    }
    return ctx;
}

void shape_node(ir_graph *g, diag *d, int i)
{
    shape_ctx c = {g, d, d->ar};
    ir_node *n = &g->nodes[i];
    n->ok = 0;
    n->params = n->flops = 0;
    if (n->kind == L_INPUT) {
        n->ok = 1;
    } else if (n->kind != L_ERROR) {
        int inputs_ok = 1;
        for (int k = 0; k < n->ninputs; k++)
            inputs_ok &= g->nodes[n->inputs[k]].ok;
        if (inputs_ok)
            n->ok = shape_fns[n->kind](&c, n) == 0;
    }
    if (g->nshaped <= i)
        g->nshaped = i + 1;
}

int infer_shapes(ir_graph *g, diag *d)
{
    shape_ctx c = {g, d, d->ar};
    int before = d->nerrors;
    const diag_context *saved = d->ctx;
    diag_context *chains = call_chains(g, d->ar);
    for (int i = g->nshaped; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        d->ctx = n->group >= 0 ? &chains[n->group] : NULL;
        shape_node(g, d, i);
        d->ctx = saved;
    }
    g->total_params = g->total_flops = g->total_activations = 0;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->ok) {
            g->total_params += n->params;
            g->total_flops += n->flops;
            if (!(layer_flags(n->kind) & LF_VIEW)) /* no memory of its own */
                g->total_activations += shape_size(&n->out);
        }
    }
    for (int i = 0; i < g->nchecks; i++) {
        int parent = g->groups[g->checks[i].group].parent;
        d->ctx = parent >= 0 ? &chains[parent] : NULL;
        check_stated(&c, &g->checks[i]);
        d->ctx = saved;
    }
    const ir_train *t = &g->train;
    const shape *in = g->n ? &g->nodes[0].out : NULL;
    if (t->has_resize && in && in->rank == 3 &&
        (in->d[1] != t->resize || in->d[2] != t->resize))
        diag_error(d, t->loc,
                   "train: resize = %lld but the input is %s; images are resized to the input's height and width",
                   (long long)t->resize, sstr(&c, in));
    return d->nerrors == before ? 0 : -1;
}
