/* plan.c - see plan.h. */
#include "plan.h"
#include "nt_kernels.h" /* NT_PIXEL_*: the pixel GEMMs' regime */

#include <stdlib.h>
#include <string.h>

#define ALIGN 16 /* floats: 64 bytes */

static int64_t round_up(int64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* Every node's tensors, as its kind declares them, in network order. */
static void plan_tensors(const ir_graph *g, arena *ar, plan *p)
{
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        const shape *in = n->ninputs ? &g->nodes[n->inputs[0]].out : NULL;
        plan_node *pn = &p->nodes[i];
        tensor_decl decl[LAYER_MAX_TENSORS];
        pn->ntensors = layer_table[n->kind].tensors(n, in, decl);
        pn->first_tensor = pn->ntensors ? p->ntensors : -1;
        for (int k = 0; k < pn->ntensors; k++) {
            plan_tensor t = {.node = i,
                             .name = arena_printf(ar, "%s.%s", n->path, decl[k].role),
                             .role = decl[k].role, .ndim = decl[k].ndim,
                             .offset = p->param_floats, .count = 1, .init = decl[k].init,
                             .fan_in = decl[k].fan_in, .fan_out = decl[k].fan_out,
                             .trainable = decl[k].trainable};
            for (int d = 0; d < t.ndim; d++) {
                t.shape[d] = decl[k].shape[d];
                t.count *= t.shape[d];
            }
            p->param_floats += round_up(t.count);
            ARRAY_PUSH(ar, p->tensors, p->ntensors, p->tcap, t);
        }
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
static int64_t first_fit(interval *iv, int n, int64_t base, int reuse)
{
    if (!reuse) { /* one after the other: none shares memory */
        for (int i = 0; i < n; i++) {
            iv[i].offset = *iv[i].dest = base;
            base += iv[i].size;
        }
        return base;
    }
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

/* readers[i]: how many inputs of later nodes are node i (the caller frees) */
static int *count_readers(const ir_graph *g)
{
    int *readers = calloc(g->n > 0 ? (size_t)g->n : 1, sizeof(int));
    for (int j = 1; j < g->n; j++)
        for (int k = 0; k < g->nodes[j].ninputs; k++)
            readers[g->nodes[j].inputs[k]]++;
    return readers;
}

/* A convolution with the plain kernels (neither grouped nor dilated). */
static int plain_conv(const ir_node *n)
{
    return n->kind == L_CONV && n->a.conv.groups == 1 && n->a.conv.dh == 1 && n->a.conv.dw == 1;
}

/* The relus and sigmoids computed by their producer's kernel (plan.h): the
 * producer is a conv (neither grouped nor dilated), linear or batch-norm
 * layer that nothing else reads. */

static void plan_epilogues(const ir_graph *g, plan *p)
{
    int *readers = count_readers(g);
    for (int i = 0; i < g->n; i++)
        p->nodes[i].epilogue = -1;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        p->nodes[i].epilogue_of = -1;
        if (n->kind != L_RELU && n->kind != L_SIGMOID)
            continue;
        int x = n->inputs[0];
        const ir_node *xn = &g->nodes[x];
        int fits = xn->kind == L_LINEAR || xn->kind == L_BATCHNORM || plain_conv(xn);
        if (x > 0 && fits && readers[x] == 1) {
            p->nodes[i].epilogue_of = x;
            p->nodes[x].epilogue = i;
        }
    }
    free(readers);
}

/* Backward epilogues: a relu or sigmoid whose only reader is a max or
 * average pool or a convolution (neither grouped nor dilated), and which is
 * the only reader of its input (a layer that needs a gradient), has its
 * backward applied by the reader's overwriting backward, plane by plane or
 * image by image as it writes the gradient: the activation's input
 * gradient is then its output gradient's memory, rewritten in place, and
 * one pass over it is saved. */
static void plan_grad_epilogues(const ir_graph *g, plan *p)
{
    int *readers = count_readers(g);
    for (int i = 0; i < g->n; i++)
        p->nodes[i].grad_epilogue = p->nodes[i].grad_epilogue_of = -1;
    for (int r = 1; r < g->n; r++) {
        const ir_node *rn = &g->nodes[r];
        if (rn->kind != L_AVGPOOL && rn->kind != L_MAXPOOL && !plain_conv(rn))
            continue;
        const int a = rn->inputs[0];
        const ir_node *an = &g->nodes[a];
        if ((an->kind != L_RELU && an->kind != L_SIGMOID) || readers[a] != 1)
            continue;
        const int x = an->inputs[0];
        if (ir_storage(g, x) != x || x == 0 || readers[x] != 1)
            continue;
        p->nodes[r].grad_epilogue = a;
        p->nodes[a].grad_epilogue_of = r;
    }
    free(readers);
}

/* Batch-norm statistics in the producer: a batch norm over maps whose input
 * is a plain conv's output, read by nothing else, has the statistics of its
 * rows (nt_bn_dims.rows) written by the conv's forward, image by image while
 * each is still in cache; its forward then only normalises. Not in a
 * sample-parallel step, whose batch norms sum over shares instead. */
static void plan_bn_rows(const ir_graph *g, plan *p)
{
    int *readers = count_readers(g);
    for (int i = 0; i < g->n; i++)
        p->nodes[i].rows_for = p->nodes[i].rows_by = -1;
    for (int j = 1; j < g->n && !p->sample_parallel; j++) {
        const ir_node *bn = &g->nodes[j];
        if (bn->kind != L_BATCHNORM || bn->out.rank != 3)
            continue;
        const int x = bn->inputs[0];
        if (ir_storage(g, x) != x || !plain_conv(&g->nodes[x]) || readers[x] != 1)
            continue;
        p->nodes[x].rows_for = j;
        p->nodes[j].rows_by = x;
    }
    free(readers);
}

/* A conv in the pixel GEMMs' regime (runtime/nt_kernels.h's NT_PIXEL_*). */
static int pixel_conv(const ir_graph *g, const ir_node *n)
{
    return plain_conv(n) && g->nodes[n->inputs[0]].out.d[0] >= NT_PIXEL_MIN_C &&
           n->out.d[1] * n->out.d[2] <= NT_PIXEL_MAX_P;
}

/* Blocked layouts between convs: two convs in the pixel GEMMs' regime, the
 * second the only reader of the first's output, or of the relu or sigmoid
 * the first computes (plan_epilogues) and the second back-propagates
 * (plan_grad_epilogues), keep the tensor between them and its gradient in
 * the pixel GEMMs' block layout: the copies in and out of it at each end
 * are skipped (the runtime links them when the batch is whole blocks of 32
 * images). AlexNet's 13x13 convs, VGG's last block, NiN's 12x12 block and
 * GoogLeNet's 1x1-to-3x3 branches from 12x12 on. */
static void plan_links(const ir_graph *g, plan *p)
{
    int *readers = count_readers(g);
    for (int i = 0; i < g->n; i++)
        p->nodes[i].link_next = p->nodes[i].link_prev = -1;
    for (int b = 1; b < g->n; b++) {
        const ir_node *bn = &g->nodes[b];
        if (!pixel_conv(g, bn))
            continue;
        int a = bn->inputs[0];
        if (p->nodes[a].epilogue_of >= 0) { /* through a fused activation */
            if (p->nodes[a].grad_epilogue_of != b)
                continue;
            a = p->nodes[a].epilogue_of;
        } else if (readers[a] != 1 || ir_storage(g, a) != a) {
            continue;
        }
        if (!pixel_conv(g, &g->nodes[a]))
            continue;
        p->nodes[a].link_next = b;
        p->nodes[b].link_prev = a;
    }
    free(readers);
}

/* Node x's gradient is the memory of its only reader's, an activation
 * whose backward a pool applies (plan_grad_epilogues). */
static int grad_is_activations(const ir_graph *g, const plan *p, int x)
{
    for (int j = x + 1; j < g->n; j++)
        if (p->nodes[j].grad_epilogue_of >= 0 && g->nodes[j].inputs[0] == x)
            return 1;
    return 0;
}

/* The forward-only plan: node i runs at time i; its output lives until
 * its last consumer (the logits until the end), its per-example saved
 * buffers only while it runs. */
static void plan_inference(const ir_graph *g, plan *p)
{
    const size_t count = (size_t)g->n;
    int *last = malloc(sizeof(int) * count);
    interval *iv = calloc((1 + LAYER_MAX_SAVED) * count, sizeof *iv);
    int niv = 0;
    for (int i = 0; i < g->n; i++)
        last[i] = i;
    for (int j = 1; j < g->n; j++)
        for (int k = 0; k < g->nodes[j].ninputs; k++) {
            int s = ir_storage(g, g->nodes[j].inputs[k]);
            if (last[s] < j)
                last[s] = j;
        }
    last[ir_storage(g, g->n - 1)] = g->n;
    for (int i = g->n - 1; i >= 0; i--) /* a fused relu's memory is its producer's */
        if (p->nodes[i].epilogue_of >= 0 && last[p->nodes[i].epilogue_of] < last[i])
            last[p->nodes[i].epilogue_of] = last[i];
    for (int i = 0; i < g->n; i++) {
        plan_node *pn = &p->nodes[i];
        if ((layer_flags(g->nodes[i].kind) & LF_VIEW) || pn->epilogue_of >= 0)
            continue;
        iv[niv++] = (interval){round_up(shape_size(&g->nodes[i].out)), 0, i, last[i],
                               &pn->infer_act};
        for (int k = 0; k < pn->nsaved; k++) {
            plan_saved *sv = &pn->saved[k];
            sv->infer_offset = sv->offset; /* per layer: the state arena's */
            if (sv->d.per_example)
                iv[niv++] = (interval){round_up(saved_floats(&sv->d)), 0, i, i, &sv->infer_offset};
        }
    }
    p->infer_floats = first_fit(iv, niv, 0, !p->sample_parallel);
    for (int i = 0; i < g->n; i++) {
        if (p->nodes[i].epilogue_of >= 0)
            p->nodes[i].infer_act = p->nodes[p->nodes[i].epilogue_of].infer_act;
        if (layer_flags(g->nodes[i].kind) & LF_VIEW)
            p->nodes[i].infer_act = p->nodes[ir_storage(g, i)].infer_act;
    }
    free(iv);
    free(last);
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
    int64_t outputs = 0; /* per example */
    for (int i = 0; i < g->n; i++)
        outputs += shape_size(&g->nodes[i].out);
    p->sample_parallel = p->param_floats <= SAMPLE_PARALLEL_MAX_PARAMS &&
                         outputs <= SAMPLE_PARALLEL_MAX_OUTPUTS;
    int trainable = 0;
    for (int t = 0; t < p->ntensors; t++)
        trainable |= p->tensors[t].trainable;
    if (!trainable) {
        diag_error(d, g->loc, "net %s has no learnable parameters: there is nothing to train "
                   "(add a layer with weights, such as conv or linear)", g->name);
        return -1;
    }

    plan_epilogues(g, p);
    plan_grad_epilogues(g, p);
    plan_bn_rows(g, p);
    plan_links(g, p);

    /* forward outputs and saved data: alive for the whole step */
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        plan_node *pn = &p->nodes[i];
        pn->grad = PLAN_NONE;
        pn->zero_grad_at = -1;
        pn->overwritten_by = -1;
        if (layer_flags(n->kind) & LF_VIEW) {
            pn->act = p->nodes[ir_storage(g, i)].act;
            continue;
        }
        if (pn->epilogue_of >= 0) {
            pn->act = p->nodes[pn->epilogue_of].act;
            continue;
        }
        pn->act = off;
        off += round_up(shape_size(&n->out));
        saved_decl decl[LAYER_MAX_SAVED];
        pn->nsaved = layer_table[n->kind].saved(n, decl);
        for (int k = 0; k < pn->nsaved; k++) {
            int64_t *top = decl[k].per_example ? &off : &p->state_floats;
            pn->saved[k] = (plan_saved){decl[k], *top, PLAN_NONE};
            *top += round_up(saved_floats(&decl[k]));
        }
    }
    p->forward_floats = off;

    /* gradients: the backward pass visits nodes from last to first (time
     * t = g->n - 1 - node). A gradient buffer lives from the backward of the
     * first consumer that writes it to the backward of the node itself. The
     * input needs none, nor does a view of it. */
    interval *iv = calloc(count, sizeof *iv);
    int niv = 0;
    int *first_writer = malloc(sizeof(int) * count);
    for (int i = 0; i < g->n; i++)
        first_writer[i] = -1;
    for (int j = g->n - 1; j >= 0; j--) {
        if (layer_flags(g->nodes[j].kind) & LF_VIEW) /* its consumers write */
            continue;
        for (int k = 0; k < g->nodes[j].ninputs; k++) {
            int s = ir_storage(g, g->nodes[j].inputs[k]);
            if (first_writer[s] < j)
                first_writer[s] = j;
        }
    }
    for (int i = 1; i < g->n; i++) {
        if ((layer_flags(g->nodes[i].kind) & LF_VIEW) || ir_storage(g, i) == 0)
            continue;
        /* the input of an activation whose backward a pool applies: its
         * gradient is the activation's (below) */
        if (grad_is_activations(g, p, i))
            continue;
        int from = i == g->n - 1 || first_writer[i] < 0 ? 0 : g->n - 1 - first_writer[i];
        /* the output's gradient (dlogits) is written by the trainer, before
         * any backward: live from the start */
        if (ir_storage(g, g->n - 1) == i)
            from = 0;
        /* an activation's gradient that becomes its input's lives on until
         * its input's backward */
        const int until = p->nodes[i].grad_epilogue_of >= 0 ? g->nodes[i].inputs[0] : i;
        interval v = {round_up(shape_size(&g->nodes[i].out)), 0, from, g->n - 1 - until,
                      &p->nodes[i].grad};
        iv[niv++] = v;
        if (ir_storage(g, g->n - 1) != i && first_writer[i] >= 0) {
            if (layer_flags(g->nodes[first_writer[i]].kind) & LF_OVERWRITE)
                p->nodes[i].overwritten_by = first_writer[i];
            else
                p->nodes[i].zero_grad_at = first_writer[i];
        }
    }
    p->act_floats = first_fit(iv, niv, p->forward_floats, !p->sample_parallel);
    for (int i = 0; i < g->n; i++)
        if (p->nodes[i].grad_epilogue_of >= 0)
            p->nodes[g->nodes[i].inputs[0]].grad = p->nodes[i].grad;
    for (int i = 0; i < g->n; i++)
        if (layer_flags(g->nodes[i].kind) & LF_VIEW)
            p->nodes[i].grad = p->nodes[ir_storage(g, i)].grad;
    free(iv);
    free(first_writer);
    plan_inference(g, p);
    return 0;
}
