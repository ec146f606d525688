/* emit_infer.c - see emit_infer.h. One row of `kinds` per layer kind says
 * how the kind behaves in eval mode (a view, elementwise, foldable), which
 * weights it reads and the call it emits; a kind without a row is reported,
 * never guessed. */
#include "emit_infer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "infer_kernels.c"       /* netc folds compiled-in weights with the same code */
#include "infer_kernels_text.h"  /* ... and copies it into every library */
#include "infer_main_text.h"

typedef struct ictx {
    FILE *out;
    const ir_graph *g;
    const plan *p;
    const infer_opts *o;
    arena ar;
    char **names;            /* C identifier per node */
    int *root;               /* node whose buffer holds the output (0: the input) */
    int *fold;               /* conv/linear <-> the batch norm folded into it, -1 */
    int64_t *off;            /* buffer owners: offset in the workspace (floats) */
    int64_t *woff, *boff;    /* prepared weights: weight (or bn table) and bias, -1 */
    nti_step *steps;
    int nsteps, scap;
    int64_t wfloats;         /* prepared weights */
    int64_t scratch, ws;     /* scratch offset; workspace size */
} ictx;

/* How a kind runs in eval mode. */
typedef struct infer_kind {
    int view;                /* its output is its input (no data moves) */
    int inplace;             /* elementwise over input 0: may overwrite it */
    int foldable;            /* a batch norm right after it can be folded in */
    void (*weights)(ictx *c, int i);      /* adds its preparation steps */
    int64_t (*scratch)(ictx *c, int i);   /* floats of scratch it needs */
    void (*emit)(ictx *c, int i);         /* writes its call */
} infer_kind;

#define P(...) fprintf(c->out, __VA_ARGS__)

static const ir_node *node(ictx *c, int i) { return &c->g->nodes[i]; }
static const shape *in_shape(ictx *c, int i, int k)
{
    return &c->g->nodes[c->g->nodes[i].inputs[k]].out;
}

/* The expression of node i's output. */
static const char *buf(ictx *c, int i)
{
    int r = c->root[i];
    return r == 0 ? "input" : c->names[r];
}

static int64_t align(int64_t x) { return (x + 15) / 16 * 16; }

/* Index of node n's checkpoint tensor `role`, or -1. */
static int tensor_index(ictx *c, int n, const char *role)
{
    const plan_node *pn = &c->p->nodes[n];
    for (int k = 0; k < pn->ntensors; k++)
        if (strcmp(c->p->tensors[pn->first_tensor + k].role, role) == 0)
            return pn->first_tensor + k;
    return -1;
}

static int64_t reserve(ictx *c, int64_t floats)
{
    int64_t at = c->wfloats;
    c->wfloats += align(floats);
    return at;
}

static void add_step(ictx *c, nti_step s) { ARRAY_PUSH(&c->ar, c->steps, c->nsteps, c->scap, s); }

static const char *weight_expr(ictx *c, int64_t off)
{
    return off < 0 ? "NULL" : arena_printf(&c->ar, "w + %lld", (long long)off);
}

/* ---- the kinds -------------------------------------------------------------------------- */

/* conv and linear: weight rows x cols and a bias, folded with the batch
 * norm after them when there is one. */
static void matrix_weights(ictx *c, int i, int64_t rows, int64_t cols)
{
    int wt = tensor_index(c, i, "weight"), bt = tensor_index(c, i, "bias"), bn = c->fold[i];
    c->woff[i] = reserve(c, rows * cols);
    if (bn >= 0) {
        c->boff[i] = reserve(c, rows);
        add_step(c, (nti_step){NTI_FOLD,
                               {wt, bt, tensor_index(c, bn, "weight"), tensor_index(c, bn, "bias"),
                                tensor_index(c, bn, "running_mean"),
                                tensor_index(c, bn, "running_var")},
                               c->woff[i], c->boff[i], rows, cols, node(c, bn)->a.bn.eps});
        return;
    }
    add_step(c, (nti_step){NTI_COPY, {wt, -1, -1, -1, -1, -1}, c->woff[i], -1, 0, 0, 0});
    if (bt >= 0) {
        c->boff[i] = reserve(c, rows);
        add_step(c, (nti_step){NTI_COPY, {bt, -1, -1, -1, -1, -1}, c->boff[i], -1, 0, 0, 0});
    }
}

static const char *fold_note(ictx *c, int i)
{
    return c->fold[i] >= 0 ? arena_printf(&c->ar, " /* %s folded in */", node(c, c->fold[i])->path)
                           : "";
}

static nti_conv conv_dims(ictx *c, int i)
{
    const conv_attrs *a = &node(c, i)->a.conv;
    const shape *x = in_shape(c, i, 0), *y = &node(c, i)->out;
    return (nti_conv){(int)x->d[0], (int)x->d[1], (int)x->d[2], a->out, a->kh, a->kw, a->sh,
                      a->sw, a->ph, a->pw, (int)y->d[1], (int)y->d[2]};
}

static void CONV_weights(ictx *c, int i)
{
    const conv_attrs *a = &node(c, i)->a.conv;
    matrix_weights(c, i, a->out, in_shape(c, i, 0)->d[0] * a->kh * a->kw);
}

static int64_t CONV_scratch(ictx *c, int i)
{
    nti_conv d = conv_dims(c, i);
    return (int64_t)nti_conv2d_scratch(&d);
}

static void CONV_emit(ictx *c, int i)
{
    nti_conv d = conv_dims(c, i);
    P("    nti_conv2d(%s, %s, %s, %s,%s\n", buf(c, i), buf(c, node(c, i)->inputs[0]),
      weight_expr(c, c->woff[i]), weight_expr(c, c->boff[i]), fold_note(c, i));
    P("               &(nti_conv){.C = %d, .H = %d, .W = %d, .OC = %d, .KH = %d, .KW = %d,\n"
      "                           .SH = %d, .SW = %d, .PH = %d, .PW = %d, .OH = %d, .OW = %d},\n"
      "               workspace + %lld);\n",
      d.C, d.H, d.W, d.OC, d.KH, d.KW, d.SH, d.SW, d.PH, d.PW, d.OH, d.OW, (long long)c->scratch);
}

static void LINEAR_weights(ictx *c, int i)
{
    matrix_weights(c, i, node(c, i)->a.linear.out, in_shape(c, i, 0)->d[0]);
}

static void LINEAR_emit(ictx *c, int i)
{
    P("    nti_linear(%s, %s, %s, %s, %lld, %d);%s\n", buf(c, i), buf(c, node(c, i)->inputs[0]),
      weight_expr(c, c->woff[i]), weight_expr(c, c->boff[i]),
      (long long)in_shape(c, i, 0)->d[0], node(c, i)->a.linear.out, fold_note(c, i));
}

static void pool(ictx *c, int i, const char *fn)
{
    const pool_attrs *a = &node(c, i)->a.pool;
    const shape *x = in_shape(c, i, 0), *y = &node(c, i)->out;
    P("    nti_%s(%s, %s,\n"
      "                  &(nti_pool){.C = %lld, .H = %lld, .W = %lld, .KH = %d, .KW = %d, .SH = %d,\n"
      "                              .SW = %d, .PH = %d, .PW = %d, .OH = %lld, .OW = %lld});\n",
      fn, buf(c, i), buf(c, node(c, i)->inputs[0]), (long long)x->d[0], (long long)x->d[1],
      (long long)x->d[2], a->kh, a->kw, a->sh, a->sw, a->ph, a->pw, (long long)y->d[1],
      (long long)y->d[2]);
}

static void MAXPOOL_emit(ictx *c, int i) { pool(c, i, "maxpool2d"); }
static void AVGPOOL_emit(ictx *c, int i) { pool(c, i, "avgpool2d"); }

static void ADAPTIVE_AVGPOOL_emit(ictx *c, int i)
{
    const shape *x = in_shape(c, i, 0);
    P("    nti_global_avgpool(%s, %s, %lld, %lld);\n", buf(c, i), buf(c, node(c, i)->inputs[0]),
      (long long)x->d[0], (long long)(x->d[1] * x->d[2]));
}

static void BATCHNORM_weights(ictx *c, int i)
{
    if (c->fold[i] >= 0)
        return;
    int64_t ch = in_shape(c, i, 0)->d[0];
    c->woff[i] = reserve(c, 3 * ch);
    add_step(c, (nti_step){NTI_BN,
                           {-1, -1, tensor_index(c, i, "weight"), tensor_index(c, i, "bias"),
                            tensor_index(c, i, "running_mean"), tensor_index(c, i, "running_var")},
                           c->woff[i], -1, ch, 0, node(c, i)->a.bn.eps});
}

static void BATCHNORM_emit(ictx *c, int i)
{
    if (c->fold[i] >= 0) {
        P("    /* folded into %s */\n", node(c, c->fold[i])->path);
        return;
    }
    const shape *x = in_shape(c, i, 0);
    P("    nti_batchnorm(%s, %s, w + %lld, %lld, %lld);\n", buf(c, i),
      buf(c, node(c, i)->inputs[0]), (long long)c->woff[i], (long long)x->d[0],
      (long long)(x->rank == 3 ? x->d[1] * x->d[2] : 1));
}

static void elementwise(ictx *c, int i, const char *fn)
{
    P("    nti_%s(%s, %s, %lld);\n", fn, buf(c, i), buf(c, node(c, i)->inputs[0]),
      (long long)shape_size(&node(c, i)->out));
}

static void RELU_emit(ictx *c, int i) { elementwise(c, i, "relu"); }
static void SIGMOID_emit(ictx *c, int i) { elementwise(c, i, "sigmoid"); }
static void TANH_emit(ictx *c, int i) { elementwise(c, i, "tanh"); }

static void DROPOUT_emit(ictx *c, int i)
{
    (void)i;
    P("    /* the identity in eval mode */\n");
}

static void FLATTEN_emit(ictx *c, int i)
{
    (void)i;
    P("    /* a view: no data moves */\n");
}

static void CONCAT_emit(ictx *c, int i)
{
    const ir_node *n = node(c, i);
    int64_t at = 0;
    for (int k = 0; k < n->ninputs; k++) {
        int64_t size = shape_size(in_shape(c, i, k));
        P("    memcpy(%s + %lld, %s, %lld * sizeof(float));\n", buf(c, i), (long long)at,
          buf(c, n->inputs[k]), (long long)size);
        at += size;
    }
}

static void ADD_emit(ictx *c, int i)
{
    const ir_node *n = node(c, i);
    long long size = (long long)shape_size(&n->out);
    P("    nti_add(%s, %s, %s, %lld);\n", buf(c, i), buf(c, n->inputs[0]), buf(c, n->inputs[1]),
      size);
    for (int k = 2; k < n->ninputs; k++)
        P("    nti_add(%s, %s, %s, %lld);\n", buf(c, i), buf(c, i), buf(c, n->inputs[k]), size);
}

static const infer_kind kinds[L_COUNT] = {
    [L_CONV] = {0, 0, 1, CONV_weights, CONV_scratch, CONV_emit},
    [L_MAXPOOL] = {0, 0, 0, NULL, NULL, MAXPOOL_emit},
    [L_AVGPOOL] = {0, 0, 0, NULL, NULL, AVGPOOL_emit},
    [L_ADAPTIVE_AVGPOOL] = {0, 0, 0, NULL, NULL, ADAPTIVE_AVGPOOL_emit},
    [L_BATCHNORM] = {0, 1, 0, BATCHNORM_weights, NULL, BATCHNORM_emit},
    [L_RELU] = {0, 1, 0, NULL, NULL, RELU_emit},
    [L_SIGMOID] = {0, 1, 0, NULL, NULL, SIGMOID_emit},
    [L_TANH] = {0, 1, 0, NULL, NULL, TANH_emit},
    [L_DROPOUT] = {1, 0, 0, NULL, NULL, DROPOUT_emit},
    [L_FLATTEN] = {1, 0, 0, NULL, NULL, FLATTEN_emit},
    [L_LINEAR] = {0, 0, 1, LINEAR_weights, NULL, LINEAR_emit},
    [L_CONCAT] = {0, 0, 0, NULL, NULL, CONCAT_emit},
    [L_ADD] = {0, 1, 0, NULL, NULL, ADD_emit},
};

/* ---- planning ------------------------------------------------------------------------- */

/* What the kernels here cannot compute yet among a supported kind's
 * arguments, or NULL. */
static const char *unsupported_args(const ir_node *n)
{
    if (n->kind == L_CONV && n->a.conv.groups != 1)
        return "groups";
    if (n->kind == L_CONV && (n->a.conv.dh != 1 || n->a.conv.dw != 1))
        return "dilation";
    if ((n->kind == L_MAXPOOL || n->kind == L_AVGPOOL) && n->a.pool.ceil_mode)
        return "ceil_mode";
    if (n->kind == L_ADAPTIVE_AVGPOOL && (n->a.adaptive.oh != 1 || n->a.adaptive.ow != 1))
        return "an output size other than 1";
    return NULL;
}

static int check_kinds(const ir_graph *g, diag *d)
{
    int rc = 0;
    for (int i = 1; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        const char *args = kinds[n->kind].emit ? unsupported_args(n) : NULL;
        if (!kinds[n->kind].emit)
            diag_error(d, n->loc, "netc emit --inference does not support layer kind '%s' yet (%s)",
                       layer_name(n->kind), n->path);
        else if (args)
            diag_error(d, n->loc, "netc emit --inference does not support %s with %s yet (%s)",
                       layer_name(n->kind), args, n->path);
        else
            continue;
        rc = -1;
    }
    return rc;
}

typedef struct named {
    char *name;
    int node;
} named;

static int by_name(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int d = strcmp(x->name, y->name);
    return d ? d : (x->node > y->node) - (x->node < y->node);
}

/* "b3.inception1.conv1" -> "b3_inception1_conv1"; a name that an earlier
 * node already has (paths that differ only in '.' and '_') gets "_nINDEX". */
static void make_names(ictx *c)
{
    const ir_graph *g = c->g;
    c->names = arena_alloc(&c->ar, sizeof(char *) * (size_t)g->n);
    named *order = arena_alloc(&c->ar, sizeof(named) * (size_t)g->n);
    for (int i = 0; i < g->n; i++) {
        char *s = arena_alloc(&c->ar, strlen(g->nodes[i].path) + 16);
        size_t k = 0;
        for (const char *p = g->nodes[i].path; *p; p++)
            s[k++] = isalnum((unsigned char)*p) ? *p : '_';
        c->names[i] = s;
        order[i] = (named){s, i};
    }
    qsort(order, (size_t)g->n, sizeof *order, by_name);
    for (int k = g->n - 1; k > 0; k--)
        if (strcmp(order[k].name, order[k - 1].name) == 0)
            sprintf(order[k].name + strlen(order[k].name), "_n%d", order[k].node);
}

/* Batch norms folded into the conv or linear before them (when that
 * layer's output feeds nothing else). */
static void plan_folds(ictx *c, const int *uses)
{
    for (int i = 0; i < c->g->n; i++)
        c->fold[i] = -1;
    if (c->o->no_fold)
        return;
    for (int i = 1; i < c->g->n; i++) {
        const ir_node *n = node(c, i);
        if (n->kind != L_BATCHNORM)
            continue;
        int x = n->inputs[0];
        if (kinds[node(c, x)->kind].foldable && uses[x] == 1) {
            c->fold[i] = x;
            c->fold[x] = i;
        }
    }
}

/* Forward-only buffers: views and folded batch norms share their input's
 * buffer, elementwise layers overwrite an input that dies with them, and
 * the rest get first-fit offsets over their live ranges [producer, last
 * reader]. Scratch goes after the largest extent. */
static void plan_buffers(ictx *c)
{
    const ir_graph *g = c->g;
    int *last = arena_alloc(&c->ar, sizeof(int) * (size_t)g->n);
    int *uses = arena_alloc(&c->ar, sizeof(int) * (size_t)g->n);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].ninputs; k++) {
            last[g->nodes[i].inputs[k]] = i;
            uses[g->nodes[i].inputs[k]]++;
        }
    last[g->n - 1] = g->n; /* the logits are copied out at the end */
    plan_folds(c, uses);
    /* end[r]: the last reader of buffer r through any node that uses it */
    int *end = arena_alloc(&c->ar, sizeof(int) * (size_t)g->n);
    for (int i = 0; i < g->n; i++) {
        const infer_kind *k = &kinds[g->nodes[i].kind];
        int r = i ? c->root[g->nodes[i].inputs[0]] : 0;
        int view = k->view || (g->nodes[i].kind == L_BATCHNORM && c->fold[i] >= 0);
        int dies = r != 0 && end[r] <= i; /* nothing after i reads buffer r */
        c->root[i] = i && (view || (k->inplace && dies)) ? r : i;
        if (last[i] > end[c->root[i]])
            end[c->root[i]] = last[i];
    }
    /* first fit, in order of birth, against the buffers still alive */
    int *live = arena_alloc(&c->ar, sizeof(int) * (size_t)g->n);
    int nlive = 0;
    int64_t top = 0;
    for (int i = 1; i < g->n; i++) {
        if (c->root[i] != i)
            continue;
        int k = 0;
        for (int j = 0; j < nlive; j++) /* drop the dead, keep the offset order */
            if (end[live[j]] >= i)
                live[k++] = live[j];
        nlive = k;
        int64_t size = align(shape_size(&g->nodes[i].out)), at = 0;
        int pos = 0;
        for (; pos < nlive; pos++) {
            int j = live[pos];
            if (at + size <= c->off[j])
                break;
            int64_t j_end = c->off[j] + align(shape_size(&g->nodes[j].out));
            if (j_end > at)
                at = j_end;
        }
        c->off[i] = at;
        memmove(live + pos + 1, live + pos, sizeof(int) * (size_t)(nlive - pos));
        live[pos] = i;
        nlive++;
        if (at + size > top)
            top = at + size;
    }
    int64_t scratch = 0;
    for (int i = 1; i < g->n; i++) {
        const infer_kind *k = &kinds[g->nodes[i].kind];
        int64_t s = k->scratch ? k->scratch(c, i) : 0;
        if (s > scratch)
            scratch = s;
    }
    c->scratch = top;
    c->ws = top + align(scratch);
    if (c->ws == 0)
        c->ws = 1;
}

static void plan_weights(ictx *c)
{
    for (int i = 0; i < c->g->n; i++)
        c->woff[i] = c->boff[i] = -1;
    for (int i = 1; i < c->g->n; i++)
        if (kinds[c->g->nodes[i].kind].weights)
            kinds[c->g->nodes[i].kind].weights(c, i);
}

/* ---- the files ------------------------------------------------------------------------- */

static char *upper(ictx *c, const char *s)
{
    char *u = arena_strdup(&c->ar, s);
    for (char *p = u; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static void emit_header(ictx *c, FILE *h)
{
    const ir_graph *g = c->g;
    const char *nm = g->name, *NM = upper(c, g->name);
    const shape *in = &g->nodes[0].out;
    long long ic = in->d[0], ih = in->rank == 3 ? in->d[1] : 1, iw = in->rank == 3 ? in->d[2] : 1;
    fprintf(h,
            "/* %s - inference for net %s (%s), eval mode.\n"
            " * Generated by netc %s: %s%s%s\n"
            " *\n"
            " *   %s_model m;\n"
            " *   if (%s_init(&m, %s) != 0)\n"
            " *       fprintf(stderr, \"%%s\\n\", m.error);\n"
            " *   float *ws = malloc(%s_WORKSPACE_FLOATS * sizeof(float));\n"
            " *   %s_predict(&m, images, n, logits, ws);\n"
            " *   %s_free(&m);\n"
            " *\n"
            " * images: n x %lld x %lld x %lld floats (what the trainer feeds: pixels / 255),\n"
            " * logits: n x %d floats. init allocates the weights (nothing with compiled-in\n"
            " * weights); predict allocates nothing and writes only logits and the\n"
            " * workspace, so threads may call it at the same time on one model with\n"
            " * separate workspaces. Batch norm uses its running statistics%s;\n"
            " * dropout is the identity. */\n"
            "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n\n"
            "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            c->o->header, g->name, g->file, c->o->netc_version, c->o->command,
            c->o->weights ? " --weights " : "", c->o->weights ? c->o->weights : "", nm, nm,
            c->o->weights ? "NULL" : arena_printf(&c->ar, "\"%s.safetensors\"", nm), NM,
            nm, nm, ic, ih, iw, c->p->classes,
            c->o->no_fold ? "" : " (folded into\n * the conv or linear before it where it can be)", NM, NM);
    fprintf(h,
            "#define %s_INPUT_C %lld\n#define %s_INPUT_H %lld\n#define %s_INPUT_W %lld\n"
            "#define %s_INPUT_FLOATS %lld /* per image */\n"
            "#define %s_CLASSES %d\n"
            "/* floats of the workspace one predict call needs, for any n */\n"
            "#define %s_WORKSPACE_FLOATS %lld\n"
            "/* floats of the weights (after folding) */\n"
            "#define %s_WEIGHT_FLOATS %lld\n"
            "/* 1: %s_init(&m, NULL) uses weights compiled into the library */\n"
            "#define %s_BUILTIN_WEIGHTS %d\n\n",
            NM, ic, NM, ih, NM, iw, NM, (long long)shape_size(in), NM, c->p->classes, NM,
            (long long)c->ws, NM, (long long)c->wfloats, nm, NM, c->o->weights ? 1 : 0);
    fprintf(h,
            "typedef struct %s_model {\n"
            "    const float *weights; /* read by predict */\n"
            "    float *owned;         /* what init allocated, or NULL */\n"
            "    char error[256];      /* why init failed */\n"
            "} %s_model;\n\n"
            "/* Reads a checkpoint written by the trainer (safetensors; tensors named by\n"
            " * layer paths, other tensors ignored) and prepares the weights; path NULL\n"
            " * takes the compiled-in weights if there are any. 0, or -1 with a message\n"
            " * in m->error (nothing to free then). */\n"
            "int %s_init(%s_model *m, const char *safetensors_path);\n\n"
            "/* logits[i] = the network on images[i], for i < n. workspace: at least\n"
            " * %s_WORKSPACE_FLOATS floats, not shared with a concurrent call. */\n"
            "void %s_predict(const %s_model *m, const float *images, int n, float *logits,\n"
            "                float *workspace);\n\n"
            "void %s_free(%s_model *m);\n\n"
            "#ifdef __cplusplus\n}\n#endif\n\n#endif\n",
            nm, nm, nm, nm, NM, nm, nm, nm, nm);
}

static void emit_tables(ictx *c)
{
    const plan *p = c->p;
    P("/* The checkpoint's tensors and where init reads them to. */\n");
    P("static const nti_tensor tensors[%d] = {\n", p->ntensors);
    for (int t = 0; t < p->ntensors; t++) {
        const plan_tensor *pt = &p->tensors[t];
        P("    {\"%s\", %d, {", pt->name, pt->ndim);
        for (int d = 0; d < pt->ndim; d++)
            P("%s%lld", d ? ", " : "", (long long)pt->shape[d]);
        P("}, %lld},\n", (long long)pt->offset);
    }
    P("};\n\n");
    static const char *const ops[] = {"NTI_COPY", "NTI_FOLD", "NTI_BN"};
    P("/* How they become the weights predict reads (see nti_prepare). */\n");
    P("static const nti_step steps[%d] = {\n", c->nsteps);
    for (int k = 0; k < c->nsteps; k++) {
        const nti_step *s = &c->steps[k];
        char eps[40];
        snprintf(eps, sizeof eps, "%.17g", s->eps);
        P("    {%s, {%d, %d, %d, %d, %d, %d}, %lld, %lld, %lld, %lld, %s},\n", ops[s->op],
          s->src[0], s->src[1], s->src[2], s->src[3], s->src[4], s->src[5], (long long)s->dst,
          (long long)s->dst2, (long long)s->rows, (long long)s->cols, eps);
    }
    P("};\n\n");
}

/* The prepared weights as a static array: read and fold them now, with the
 * same code init runs. */
static int emit_builtin(ictx *c, diag *d)
{
    const plan *p = c->p;
    nti_tensor *t = arena_alloc(&c->ar, sizeof(nti_tensor) * (size_t)(p->ntensors + 1));
    for (int k = 0; k < p->ntensors; k++) {
        t[k].name = p->tensors[k].name;
        t[k].ndim = p->tensors[k].ndim;
        for (int j = 0; j < t[k].ndim; j++)
            t[k].shape[j] = p->tensors[k].shape[j];
        t[k].offset = p->tensors[k].offset;
    }
    float *raw = calloc((size_t)p->param_floats + 1, sizeof(float));
    float *w = calloc((size_t)c->wfloats + 1, sizeof(float));
    char err[256];
    if (nti_read_checkpoint(c->o->weights, t, p->ntensors, raw, err) != 0) {
        diag_error(d, loc_none(), "--weights: %s (net %s)", err, c->g->name);
        free(raw);
        free(w);
        return -1;
    }
    nti_prepare(w, raw, t, c->steps, c->nsteps);
    free(raw);
    P("/* The weights of %s, prepared (batch norm folded). */\n", c->o->weights);
    P("static const float builtin[%lld] = {", (long long)c->wfloats);
    for (int64_t k = 0; k < c->wfloats; k++) {
        char b[40];
        snprintf(b, sizeof b, "%.9g", (double)w[k]);
        P("%s%s%s", k % 6 ? " " : "\n    ", b, strpbrk(b, ".en") ? "f," : ".0f,");
    }
    P("\n};\n\n");
    free(w);
    return 0;
}

static void emit_functions(ictx *c)
{
    const ir_graph *g = c->g;
    const char *nm = g->name, *NM = upper(c, g->name);
    P("int %s_init(%s_model *m, const char *safetensors_path)\n{\n", nm, nm);
    P("    memset(m, 0, sizeof *m);\n");
    if (c->o->weights)
        P("    if (!safetensors_path) {\n        m->weights = builtin;\n        return 0;\n    }\n");
    else
        P("    if (!safetensors_path) {\n"
          "        snprintf(m->error, sizeof m->error, \"%s: no weights compiled in: give a "
          "checkpoint\");\n        return -1;\n    }\n", nm);
    P("    float *raw = malloc(%lld * sizeof(float));\n", (long long)(c->p->param_floats + 1));
    P("    float *w = malloc(%s_WEIGHT_FLOATS * sizeof(float));\n", NM);
    P("    if (!raw || !w) {\n"
      "        snprintf(m->error, sizeof m->error, \"%s: out of memory\");\n"
      "        free(raw);\n        free(w);\n        return -1;\n    }\n", nm);
    P("    if (nti_read_checkpoint(safetensors_path, tensors, %d, raw, m->error) != 0) {\n"
      "        free(raw);\n        free(w);\n        return -1;\n    }\n", c->p->ntensors);
    P("    nti_prepare(w, raw, tensors, steps, %d);\n", c->nsteps);
    P("    free(raw);\n    m->weights = m->owned = w;\n    return 0;\n}\n\n");
    P("void %s_free(%s_model *m)\n{\n    free(m->owned);\n"
      "    m->owned = NULL;\n    m->weights = NULL;\n}\n\n", nm, nm);

    P("void %s_predict(const %s_model *m, const float *images, int n, float *logits,\n"
      "                float *workspace)\n{\n", nm, nm);
    P("    const float *w = m->weights;\n");
    P("    for (int i = 0; i < n; i++) {\n");
    P("        const float *input = images + (size_t)i * %s_INPUT_FLOATS;\n", NM);
    P("        forward_one(w, input, workspace);\n");
    int r = c->root[g->n - 1];
    P("        memcpy(logits + (size_t)i * %s_CLASSES, %s, %s_CLASSES * sizeof(float));\n", NM,
      r == 0 ? "input" : arena_printf(&c->ar, "workspace + %lld", (long long)c->off[r]), NM);
    P("    }\n}\n");
}

/* Names, folds, buffers and weights of g (free c->ar afterwards). */
static void setup(ictx *c, const ir_graph *g, const plan *p, const infer_opts *o)
{
    memset(c, 0, sizeof *c);
    c->g = g;
    c->p = p;
    c->o = o;
    size_t n = (size_t)g->n;
    c->root = arena_alloc(&c->ar, sizeof(int) * n);
    c->fold = arena_alloc(&c->ar, sizeof(int) * n);
    c->off = arena_alloc(&c->ar, sizeof(int64_t) * n);
    c->woff = arena_alloc(&c->ar, sizeof(int64_t) * n);
    c->boff = arena_alloc(&c->ar, sizeof(int64_t) * n);
    make_names(c);
    plan_buffers(c);
    plan_weights(c);
}

int infer_layout_of(const ir_graph *g, const plan *p, int no_fold, arena *ar, infer_layout *l)
{
    for (int i = 1; i < g->n; i++)
        if (!kinds[g->nodes[i].kind].emit || unsupported_args(&g->nodes[i]))
            return -1;
    infer_opts o = {"", "", "", NULL, no_fold};
    ictx c;
    setup(&c, g, p, &o);
    l->root = arena_dup(ar, c.root, sizeof(int) * (size_t)g->n);
    l->fold = arena_dup(ar, c.fold, sizeof(int) * (size_t)g->n);
    l->off = arena_dup(ar, c.off, sizeof(int64_t) * (size_t)g->n);
    l->scratch = c.scratch;
    l->floats = c.ws;
    arena_free(&c.ar);
    return 0;
}

int emit_inference(const ir_graph *g, const plan *p, const infer_opts *o, diag *d, FILE *c_out,
                   FILE *h_out)
{
    if (check_kinds(g, d) != 0)
        return -1;
    ictx cx;
    ictx *c = &cx;
    setup(c, g, p, o);
    c->out = c_out;

    P("/* %s.c - inference for net %s (%s), eval mode; the API is in %s.\n"
      " * Generated by netc %s: %s%s%s\n"
      " * Needs only the C library and libm (compile with -O3; -march=native lets the\n"
      " * compiler use AVX2 or AVX-512 in the matmul). */\n",
      g->name, g->name, g->file, o->header, o->netc_version, o->command,
      o->weights ? " --weights " : "", o->weights ? o->weights : "");
    P("#include \"%s\"\n\n", o->header);
    P("/* ==== support code (netc's compiler/infer_kernels.c) ==== */\n");
    for (const char *const *l = infer_kernels_text; *l; l++)
        fputs(*l, c->out);
    P("/* ==== the network ==== */\n\n");
    emit_tables(c);
    if (o->weights && emit_builtin(c, d) != 0) {
        arena_free(&c->ar);
        return -1;
    }
    P("/* One image: input -> the buffers in the workspace. */\n");
    P("static void forward_one(const float *w, const float *input, float *workspace)\n{\n");
    for (int i = 1; i < g->n; i++)
        if (c->root[i] == i)
            P("    float *const %s = workspace + %lld; /* %lld floats */\n", c->names[i],
              (long long)c->off[i], (long long)shape_size(&g->nodes[i].out));
    P("    (void)w, (void)workspace; /* a net may have no weights or buffers */\n");
    for (int i = 1; i < g->n; i++) {
        const ir_node *nd = &g->nodes[i];
        char b[64];
        P("\n    /* %s: %s -> %s  (%s:%d) */\n", nd->path, layer_op(nd->kind),
          shape_str(&nd->out, b, sizeof b), nd->loc.src ? nd->loc.src->name : "?",
          nd->loc.first_line);
        kinds[nd->kind].emit(c, i);
    }
    P("}\n\n");
    emit_functions(c);
    emit_header(c, h_out);
    arena_free(&c->ar);
    return 0;
}

void emit_inference_main(const ir_graph *g, const infer_opts *o, FILE *out)
{
    ictx cx;
    memset(&cx, 0, sizeof cx);
    const char *nm = g->name, *NM = upper(&cx, g->name);
    fprintf(out,
            "/* The command-line classifier of net %s (%s), generated by netc %s:\n"
            " * %s%s%s */\n#include \"%s\"\n\n",
            nm, g->file, o->netc_version, o->command, o->weights ? " --weights " : "",
            o->weights ? o->weights : "", o->header);
    fprintf(out,
            "#define NET_NAME \"%s\"\n#define NET_MODEL %s_model\n#define NET_INIT %s_init\n"
            "#define NET_PREDICT %s_predict\n#define NET_FREE %s_free\n"
            "#define NET_INPUT_C %s_INPUT_C\n#define NET_INPUT_H %s_INPUT_H\n"
            "#define NET_INPUT_W %s_INPUT_W\n#define NET_INPUT_FLOATS %s_INPUT_FLOATS\n"
            "#define NET_CLASSES %s_CLASSES\n#define NET_WORKSPACE_FLOATS %s_WORKSPACE_FLOATS\n"
            "#define NET_BUILTIN_WEIGHTS %s_BUILTIN_WEIGHTS\n\n",
            nm, nm, nm, nm, nm, NM, NM, NM, NM, NM, NM, NM);
    for (const char *const *l = infer_main_text; *l; l++)
        fputs(*l, out);
    arena_free(&cx.ar);
}
