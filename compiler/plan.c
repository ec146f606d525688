/* plan.c - see plan.h. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 16 /* floats: 64 bytes */

static int64_t round_up(int64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* The node whose storage n's output uses: flatten is a view of its input. */
static int storage(const ir_graph *g, int n)
{
    while (g->nodes[n].kind == L_FLATTEN)
        n = g->nodes[n].inputs[0];
    return n;
}

static void add_tensor(arena *ar, plan *p, int node, const char *path,
                       const char *role, int ndim, const int64_t *shape, int init,
                       int64_t fan_in, int64_t fan_out, int trainable)
{
    plan_tensor t;
    memset(&t, 0, sizeof t);
    t.node = node;
    t.name = arena_printf(ar, "%s.%s", path, role);
    t.role = role;
    t.ndim = ndim;
    t.count = 1;
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.count *= shape[i];
    }
    t.offset = p->param_floats;
    t.init = init;
    t.fan_in = fan_in;
    t.fan_out = fan_out;
    t.trainable = trainable;
    p->param_floats += round_up(t.count);
    ARRAY_PUSH(ar, p->tensors, p->ntensors, p->tcap, t);
}

/* nt_init values (runtime/nt_trainer.h) */
enum { INIT_XAVIER, INIT_BIAS, INIT_ONES, INIT_ZEROS };

static void plan_tensors(const ir_graph *g, arena *ar, plan *p)
{
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        const shape *in = n->ninputs ? &g->nodes[n->inputs[0]].out : NULL;
        plan_node *pn = &p->nodes[i];
        pn->first_tensor = p->ntensors;
        if (n->kind == L_CONV) {
            const conv_attrs *a = &n->a.conv;
            int64_t w[4] = {a->out, in->d[0], a->kh, a->kw};
            int64_t fan_in = in->d[0] * a->kh * a->kw, fan_out = (int64_t)a->out * a->kh * a->kw;
            add_tensor(ar, p, i, n->path, "weight", 4, w, INIT_XAVIER, fan_in, fan_out, 1);
            if (a->bias)
                add_tensor(ar, p, i, n->path, "bias", 1, w, INIT_BIAS, fan_in, fan_out, 1);
        } else if (n->kind == L_LINEAR) {
            const linear_attrs *a = &n->a.linear;
            int64_t w[2] = {a->out, in->d[0]};
            add_tensor(ar, p, i, n->path, "weight", 2, w, INIT_XAVIER, in->d[0], a->out, 1);
            if (a->bias)
                add_tensor(ar, p, i, n->path, "bias", 1, w, INIT_BIAS, in->d[0], a->out, 1);
        } else if (n->kind == L_BATCHNORM) {
            int64_t c[1] = {in->d[0]};
            add_tensor(ar, p, i, n->path, "weight", 1, c, INIT_ONES, 0, 0, 1);
            add_tensor(ar, p, i, n->path, "bias", 1, c, INIT_ZEROS, 0, 0, 1);
            add_tensor(ar, p, i, n->path, "running_mean", 1, c, INIT_ZEROS, 0, 0, 0);
            add_tensor(ar, p, i, n->path, "running_var", 1, c, INIT_ONES, 0, 0, 0);
        }
        pn->ntensors = p->ntensors - pn->first_tensor;
        if (!pn->ntensors)
            pn->first_tensor = -1;
    }
}

/* ---- the activation arena -------------------------------------------------- */

/* A block of the arena in use during [from, to] (inclusive, in some time
 * order) by a buffer of `size` floats. */
typedef struct interval {
    int64_t size, offset;
    int from, to;
    int64_t *dest;           /* where to write the chosen offset */
} interval;

static int by_start(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->size > y->size ? -1 : x->size < y->size; /* larger first */
}

/* First-fit: each interval, in start order, takes the lowest offset that no
 * live interval overlaps. The live set (kept sorted by offset) is only as
 * large as the graph is wide, so this is fast for long networks too.
 * Returns the arena's high-water mark. */
static int64_t first_fit(interval *iv, int n, int64_t base)
{
    qsort(iv, (size_t)n, sizeof *iv, by_start);
    interval **live = malloc(sizeof(interval *) * (size_t)(n ? n : 1));
    int nlive = 0;
    int64_t top = base;
    for (int i = 0; i < n; i++) {
        interval *v = &iv[i];
        int k = 0;
        for (int j = 0; j < nlive; j++) /* drop the dead, keep the order */
            if (live[j]->to >= v->from)
                live[k++] = live[j];
        nlive = k;
        int64_t off = base;
        int at = 0;
        for (; at < nlive; at++) {
            if (off + v->size <= live[at]->offset)
                break;
            if (live[at]->offset + live[at]->size > off)
                off = live[at]->offset + live[at]->size;
        }
        memmove(live + at + 1, live + at, sizeof(interval *) * (size_t)(nlive - at));
        live[at] = v;
        nlive++;
        v->offset = off;
        *v->dest = off;
        if (off + v->size > top)
            top = off + v->size;
    }
    free(live);
    return top;
}

/* The forward-only plan: node i runs at time i; its output lives until
 * its last consumer (the logits until the end), its argmax or mask only
 * while it runs. */
static void plan_inference(const ir_graph *g, plan *p)
{
    const size_t count = (size_t)g->n;
    int *last = malloc(sizeof(int) * count);
    interval *iv = calloc(2 * count, sizeof *iv);
    int niv = 0;
    for (int i = 0; i < g->n; i++)
        last[i] = i;
    for (int j = 1; j < g->n; j++)
        for (int k = 0; k < g->nodes[j].ninputs; k++) {
            int s = storage(g, g->nodes[j].inputs[k]);
            if (last[s] < j)
                last[s] = j;
        }
    last[storage(g, g->n - 1)] = g->n;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        plan_node *pn = &p->nodes[i];
        pn->infer_aux = PLAN_NONE;
        if (n->kind == L_FLATTEN)
            continue;
        int64_t size = shape_size(&n->out);
        iv[niv++] = (interval){round_up(size), 0, i, last[i], &pn->infer_act};
        if (pn->aux != PLAN_NONE)
            iv[niv++] = (interval){round_up(n->kind == L_DROPOUT ? (size + 3) / 4 : size), 0, i,
                                   i, &pn->infer_aux};
    }
    p->infer_floats = first_fit(iv, niv, 0);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].kind == L_FLATTEN)
            p->nodes[i].infer_act = p->nodes[storage(g, i)].infer_act;
    free(iv);
    free(last);
}

/* Kinds whose backward kernel has an _overwrite twin (runtime/nt_kernels.h):
 * as the first writer of their input's gradient they write every element,
 * so the buffer needs no zeroing. */
static int overwrites(layer_id k)
{
    return k == L_RELU || k == L_SIGMOID || k == L_TANH || k == L_BATCHNORM;
}

int plan_memory(const ir_graph *g, arena *ar, diag *d, plan *p)
{
    memset(p, 0, sizeof *p);
    if (g->n < 2)
        return -1; /* expand.c guarantees an input and a layer */
    const size_t count = (size_t)g->n;
    const ir_node *last = &g->nodes[g->n - 1];
    if (last->out.rank != 1) {
        char b[64];
        diag_error(d, last->loc,
                   "the net's output is %s; a classifier must end in a flat layer (add "
                   "flatten and linear(classes))",
                   shape_str(&last->out, b, sizeof b));
        return -1;
    }
    p->classes = (int)last->out.d[0];
    p->nodes = arena_alloc(ar, sizeof(plan_node) * count);
    plan_tensors(g, ar, p);

    /* forward outputs and saved aux data: alive for the whole step */
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        plan_node *pn = &p->nodes[i];
        pn->grad = pn->aux = pn->state = PLAN_NONE;
        pn->zero_grad_at = -1;
        pn->overwritten_by = -1;
        pn->dropout_index = -1;
        if (n->kind == L_FLATTEN) {
            pn->act = p->nodes[storage(g, i)].act;
            continue;
        }
        int64_t size = shape_size(&n->out);
        pn->act = off;
        off += round_up(size);
        if (n->kind == L_MAXPOOL) { /* int32 argmax per output */
            pn->aux = off;
            off += round_up(size);
        } else if (n->kind == L_DROPOUT) { /* uint8 mask per element */
            pn->aux = off;
            off += round_up((size + 3) / 4);
            pn->dropout_index = p->ndropout++;
        } else if (n->kind == L_BATCHNORM) {
            pn->state = p->state_floats;
            p->state_floats += 2 * round_up(n->out.d[0]);
        }
    }
    p->forward_floats = off;

    /* gradients: the backward pass visits nodes from last to first (time
     * t = g->n - 1 - node). A gradient buffer lives from the backward of the
     * first consumer that writes it to the backward of the node itself. The
     * input needs none, nor does a flatten of it. */
    interval *iv = calloc(count, sizeof *iv);
    int niv = 0;
    int *first_writer = malloc(sizeof(int) * count);
    for (int i = 0; i < g->n; i++)
        first_writer[i] = -1;
    for (int j = g->n - 1; j >= 0; j--) {
        if (g->nodes[j].kind == L_FLATTEN) /* a view: its consumers write */
            continue;
        for (int k = 0; k < g->nodes[j].ninputs; k++) {
            int s = storage(g, g->nodes[j].inputs[k]);
            if (first_writer[s] < j)
                first_writer[s] = j;
        }
    }
    for (int i = 1; i < g->n; i++) {
        if (g->nodes[i].kind == L_FLATTEN || storage(g, i) == 0)
            continue;
        int from = i == g->n - 1 || first_writer[i] < 0 ? 0 : g->n - 1 - first_writer[i];
        /* the output's gradient (dlogits) is written by the trainer, before
         * any backward: live from the start */
        if (storage(g, g->n - 1) == i)
            from = 0;
        interval v = {round_up(shape_size(&g->nodes[i].out)), 0, from, g->n - 1 - i,
                      &p->nodes[i].grad};
        iv[niv++] = v;
        if (storage(g, g->n - 1) != i && first_writer[i] >= 0) {
            if (overwrites(g->nodes[first_writer[i]].kind))
                p->nodes[i].overwritten_by = first_writer[i];
            else
                p->nodes[i].zero_grad_at = first_writer[i];
        }
    }
    p->act_floats = first_fit(iv, niv, p->forward_floats);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].kind == L_FLATTEN)
            p->nodes[i].grad = p->nodes[storage(g, i)].grad;
    free(iv);
    free(first_writer);
    plan_inference(g, p);
    return 0;
}
