/* emit.c - see emit.h. One <ID>_emit function per row of layers.def writes
 * that layer's forward or backward call (and, for LF_SCRATCH kinds, the size
 * of its scratch); everything else about a kind (its tensors, saved
 * buffers, flags) is read from the layer table and the plan. */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"

typedef enum { FORWARD, BACKWARD, SCRATCH } pass;

typedef struct emitter {
    FILE *out;
    const ir_graph *g;
    const plan *p;
    char **names;            /* C identifier per node (its buffers' field names) */
    arena ar;                /* strings of the expressions being printed */
    int sample_parallel;     /* runs of layers go to the threads by shares of
                                the batch (see emit_forward) */
    int64_t *team_off;       /* per node: where a batch norm's sums begin in a
                                share's team slot (nt_part_bn_share) */
    int64_t team_doubles;    /* doubles of a share's team slot */
} emitter;

/* ---- names ------------------------------------------------------------------ */

/* "b3.inception1.branch2.conv1" -> "b3_inception1_branch2_conv1"; made
 * unique with the node index if two paths map to the same identifier. */
static void make_names(emitter *e)
{
    const ir_graph *g = e->g;
    e->names = calloc((size_t)g->n, sizeof(char *));
    for (int i = 0; i < g->n; i++) {
        const char *path = g->nodes[i].path;
        char *s = malloc(strlen(path) + 24);
        size_t k = 0;
        for (const char *c = path; *c; c++)
            s[k++] = *c == '.' ? '_' : *c;
        s[k] = 0;
        for (int j = 0; j < i; j++)
            if (strcmp(e->names[j], s) == 0) {
                sprintf(s + k, "_n%d", i);
                break;
            }
        e->names[i] = s;
    }
}

static void free_names(emitter *e)
{
    for (int i = 0; i < e->g->n; i++)
        free(e->names[i]);
    free(e->names);
}

/* The expression for node i's output and its gradient ("NULL" if none). */
static const char *act(emitter *e, int i)
{
    return arena_printf(&e->ar, "b.%s", e->names[ir_storage(e->g, i)]);
}

static const char *grad(emitter *e, int i)
{
    int s = ir_storage(e->g, i);
    if (e->p->nodes[s].grad == PLAN_NONE)
        return "NULL";
    return arena_printf(&e->ar, "b.d_%s", e->names[s]);
}

static int has_grad(emitter *e, int i)
{
    return e->p->nodes[ir_storage(e->g, i)].grad != PLAN_NONE;
}

/* Node i's backward writes the gradient of its input k instead of adding
 * to it: i is that buffer's first writer and overwrites it (plan.c,
 * LF_OVERWRITE), and k is i's first input on that buffer (add(x, x): the
 * first term writes, the second adds). */
static int overwrites(emitter *e, int i, int k)
{
    const ir_node *n = &e->g->nodes[i];
    int s = ir_storage(e->g, n->inputs[k]);
    for (int j = 0; j < k; j++)
        if (ir_storage(e->g, n->inputs[j]) == s)
            return 0;
    return e->p->nodes[s].overwritten_by == i;
}

/* The kernel suffix of a one-input layer: "_overwrite" or "" */
static const char *overwrite(emitter *e, int i)
{
    return overwrites(e, i, 0) ? "_overwrite" : "";
}

static const char *tensor_field(emitter *e, const plan_tensor *t, int d)
{
    return arena_printf(&e->ar, "b.%s%s_%s", d ? "d_" : "", e->names[t->node], t->role);
}

/* The floats of a shape as the product of its sizes: "6*28*28". */
static const char *shape_product(emitter *e, const shape *sh)
{
    char *s = arena_printf(&e->ar, "%lld", (long long)sh->d[0]);
    for (int k = 1; k < sh->rank; k++)
        s = arena_printf(&e->ar, "%s*%lld", s, (long long)sh->d[k]);
    return s;
}

/* The i-th tensor of node n (weight, bias, ...), or NULL. */
static const plan_tensor *tensor(emitter *e, int n, const char *role)
{
    const plan_node *pn = &e->p->nodes[n];
    for (int k = 0; k < pn->ntensors; k++)
        if (strcmp(e->p->tensors[pn->first_tensor + k].role, role) == 0)
            return &e->p->tensors[pn->first_tensor + k];
    return NULL;
}

static const char *param(emitter *e, int n, const char *role, int d)
{
    const plan_tensor *t = tensor(e, n, role);
    return t ? tensor_field(e, t, d) : "NULL";
}

static const ir_node *node(emitter *e, int i) { return &e->g->nodes[i]; }
static const shape *in_shape(emitter *e, int i, int k)
{
    return &e->g->nodes[e->g->nodes[i].inputs[k]].out;
}

/* "%.9g" with a trailing f, always with a decimal point */
static const char *flt(emitter *e, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", v);
    return arena_printf(&e->ar, "%s%sf", buf, strpbrk(buf, ".en") ? "" : ".0");
}

/* ---- layers ------------------------------------------------------------------- */

#define P(...) fprintf(e->out, __VA_ARGS__)

/* backward: the activation whose backward a pool's or conv's applies
 * (plan.h's grad_epilogue), as the last fields of its dims */
static void grad_epilogue_fields(emitter *e, int i, pass ps)
{
    const int r = ps == BACKWARD ? e->p->nodes[i].grad_epilogue : -1;
    if (r >= 0)
        P(",\n                         .act = %s, .act_out = %s",
          node(e, r)->kind == L_SIGMOID ? "NT_ACT_SIGMOID" : "NT_ACT_RELU", act(e, r));
}

/* A pool's or conv's backward comment on the activation backward it applies. */
static void grad_epilogue_note(emitter *e, int i)
{
    const int r = e->p->nodes[i].grad_epilogue;
    if (r >= 0)
        P("    /* and %s's backward: %s as the gradient is written */\n", e->names[r],
          node(e, r)->kind == L_SIGMOID ? "times y (1 - y)" : "zero where y <= 0");
}

/* forward: the rows of the batch norm this conv's output feeds (plan.h's
 * rows_for), in training */
static void bn_rows_field(emitter *e, int i, pass ps)
{
    const int r = ps == FORWARD ? e->p->nodes[i].rows_for : -1;
    if (r >= 0)
        P(",\n                         .bn_rows = train ? b.%s_rows : NULL", e->names[r]);
}

static void conv_dims(emitter *e, int i, const char *nexpr, pass ps)
{
    const conv_attrs *a = &node(e, i)->a.conv;
    const shape *x = in_shape(e, i, 0), *y = &node(e, i)->out;
    const plan_node *pn = &e->p->nodes[i];
    P("&(nt_conv2d_dims){.N = %s, .C = %lld, .H = %lld, .W = %lld, .OC = %d,\n"
      "                         .KH = %d, .KW = %d, .SH = %d, .SW = %d, .PH = %d, .PW = %d,\n"
      "                         .OH = %lld, .OW = %lld",
      nexpr, (long long)x->d[0], (long long)x->d[1], (long long)x->d[2], a->out, a->kh, a->kw,
      a->sh, a->sw, a->ph, a->pw, (long long)y->d[1], (long long)y->d[2]);
    if (pn->link_prev >= 0 || pn->link_next >= 0) /* plan.h's links, in every pass */
        P(",\n                         %s%s%s", pn->link_prev >= 0 ? ".in_block = 1" : "",
          pn->link_prev >= 0 && pn->link_next >= 0 ? ", " : "",
          pn->link_next >= 0 ? ".out_block = 1" : "");
    grad_epilogue_fields(e, i, ps);
    bn_rows_field(e, i, ps);
    P("}");
}

/* Grouped or dilated convolutions have their own kernels (conv_grouped.c). */
static int conv_grouped(emitter *e, int i)
{
    const conv_attrs *a = &node(e, i)->a.conv;
    return a->groups > 1 || a->dh > 1 || a->dw > 1;
}

/* The activation node i's kernel computes as it writes its output (plan.h's
 * epilogue), after a comment naming it: L_RELU, L_SIGMOID, or -1. */
static int fused_activation(emitter *e, int i)
{
    int r = e->p->nodes[i].epilogue;
    if (r < 0)
        return -1;
    const int kind = node(e, r)->kind;
    P("    /* and %s: %s as the output is written */\n", e->names[r],
      kind == L_SIGMOID ? "sigmoid(x)" : "max(x, 0)");
    return kind;
}

/* "", "_relu" or "_sigmoid": node i's forward kernel (conv, linear) */
static const char *epilogue(emitter *e, int i)
{
    const int kind = fused_activation(e, i);
    return kind == L_SIGMOID ? "_sigmoid" : kind == L_RELU ? "_relu" : "";
}

static void conv_grouped_dims(emitter *e, int i, const char *nexpr)
{
    const conv_attrs *a = &node(e, i)->a.conv;
    const shape *x = in_shape(e, i, 0), *y = &node(e, i)->out;
    P("&(nt_conv2d_grouped_dims){.N = %s, .C = %lld, .H = %lld, .W = %lld, .OC = %d,\n"
      "                         .KH = %d, .KW = %d, .SH = %d, .SW = %d, .PH = %d, .PW = %d,\n"
      "                         .DH = %d, .DW = %d, .G = %d, .OH = %lld, .OW = %lld}",
      nexpr, (long long)x->d[0], (long long)x->d[1], (long long)x->d[2], a->out, a->kh, a->kw,
      a->sh, a->sw, a->ph, a->pw, a->dh, a->dw, a->groups, (long long)y->d[1],
      (long long)y->d[2]);
}

static void CONV_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    if (conv_grouped(e, i)) {
        if (ps == SCRATCH)
            P("    s = nt_conv2d_grouped_scratch_floats(");
        else if (ps == FORWARD)
            P("    nt_conv2d_grouped_forward(%s, %s, %s, %s,\n                              ",
              act(e, i), act(e, x), param(e, i, "weight", 0), param(e, i, "bias", 0));
        else
            P("    nt_conv2d_grouped_backward%s(%s, %s, %s, %s,\n"
              "                               %s, %s,\n                               ",
              overwrite(e, i), grad(e, x), param(e, i, "weight", 1), param(e, i, "bias", 1), grad(e, i),
              act(e, x), param(e, i, "weight", 0));
        conv_grouped_dims(e, i, ps == SCRATCH ? "1" : "n");
        P(ps == SCRATCH ? ", nthreads);\n" : ", b.scratch);\n");
        return;
    }
    if (ps == SCRATCH) {
        P("    s = nt_conv2d_scratch_floats(");
        conv_dims(e, i, "1", ps);
        P(", nthreads);\n");
    } else if (ps == FORWARD) {
        const char *r = epilogue(e, i);
        if (e->p->nodes[i].rows_for >= 0)
            P("    /* and the statistics of %s's rows, as each image is written */\n",
              e->names[e->p->nodes[i].rows_for]);
        if (e->p->nodes[i].link_prev >= 0)
            P("    /* linked: its input comes from %s in the pixel block layout */\n",
              e->names[e->p->nodes[i].link_prev]);
        if (e->p->nodes[i].link_next >= 0)
            P("    /* linked: its output stays in the pixel block layout for %s */\n",
              e->names[e->p->nodes[i].link_next]);
        P("    nt_conv2d%s_forward(%s, %s, %s, %s,\n                      %*s", r, act(e, i), act(e, x),
          param(e, i, "weight", 0), param(e, i, "bias", 0), (int)strlen(r), "");
        conv_dims(e, i, "n", ps);
        P(", b.scratch);\n");
    } else {
        grad_epilogue_note(e, i);
        P("    nt_conv2d_backward%s(%s, %s, %s, %s,\n                       %s, %s,\n"
          "                       ",
          overwrite(e, i), grad(e, x), param(e, i, "weight", 1), param(e, i, "bias", 1), grad(e, i), act(e, x),
          param(e, i, "weight", 0));
        conv_dims(e, i, "n", ps);
        P(", b.scratch);\n");
    }
}

static void pool_dims(emitter *e, int i, pass ps)
{
    const pool_attrs *a = &node(e, i)->a.pool;
    const shape *x = in_shape(e, i, 0), *y = &node(e, i)->out;
    P("&(nt_pool2d_dims){.N = n, .C = %lld, .H = %lld, .W = %lld, .KH = %d, .KW = %d,\n"
      "                         .SH = %d, .SW = %d, .PH = %d, .PW = %d, .OH = %lld, .OW = %lld%s",
      (long long)x->d[0], (long long)x->d[1], (long long)x->d[2], a->kh, a->kw, a->sh, a->sw,
      a->ph, a->pw, (long long)y->d[1], (long long)y->d[2], a->ceil_mode ? ", .ceil_mode = 1" : "");
    grad_epilogue_fields(e, i, ps);
    P("}");
}

static void MAXPOOL_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    if (ps == FORWARD) {
        P("    nt_maxpool2d_forward(%s, b.%s_argmax, %s,\n                         ", act(e, i),
          e->names[i], act(e, x));
    } else {
        if (!has_grad(e, x))
            return;
        grad_epilogue_note(e, i);
        P("    nt_maxpool2d_backward%s(%s, %s, b.%s_argmax,\n                          ",
          overwrite(e, i), grad(e, x), grad(e, i), e->names[i]);
    }
    pool_dims(e, i, ps);
    P(");\n");
}

static void AVGPOOL_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    if (ps == FORWARD) {
        P("    nt_avgpool2d_forward(%s, %s,\n                         ", act(e, i), act(e, x));
    } else {
        if (!has_grad(e, x))
            return;
        grad_epilogue_note(e, i);
        P("    nt_avgpool2d_backward%s(%s, %s,\n                          ", overwrite(e, i),
          grad(e, x), grad(e, i));
    }
    pool_dims(e, i, ps);
    P(");\n");
}

static void adaptive_dims(emitter *e, int i)
{
    const shape *x = in_shape(e, i, 0), *y = &node(e, i)->out;
    P("&(nt_adaptive_pool2d_dims){.N = n, .C = %lld, .H = %lld, .W = %lld, .OH = %lld, "
      ".OW = %lld}",
      (long long)x->d[0], (long long)x->d[1], (long long)x->d[2], (long long)y->d[1],
      (long long)y->d[2]);
}

static void ADAPTIVE_AVGPOOL_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    const shape *s = in_shape(e, i, 0), *y = &node(e, i)->out;
    if (ps == BACKWARD && !has_grad(e, x))
        return;
    if (y->d[1] == 1 && y->d[2] == 1) { /* the mean of each plane */
        if (ps == FORWARD)
            P("    nt_global_avgpool_forward(%s, %s, n, %lld, %lld);\n", act(e, i), act(e, x),
              (long long)s->d[0], (long long)(s->d[1] * s->d[2]));
        else
            P("    nt_global_avgpool_backward%s(%s, %s, n, %lld, %lld);\n", overwrite(e, i),
              grad(e, x), grad(e, i), (long long)s->d[0], (long long)(s->d[1] * s->d[2]));
        return;
    }
    if (ps == FORWARD)
        P("    nt_adaptive_avgpool2d_forward(%s, %s,\n                                  ",
          act(e, i), act(e, x));
    else
        P("    nt_adaptive_avgpool2d_backward%s(%s, %s,\n                                   ",
          overwrite(e, i), grad(e, x), grad(e, i));
    adaptive_dims(e, i);
    P(");\n");
}

static void ADAPTIVE_MAXPOOL_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    if (ps == FORWARD) {
        P("    nt_adaptive_maxpool2d_forward(%s, b.%s_argmax, %s,\n"
          "                                  ",
          act(e, i), e->names[i], act(e, x));
    } else {
        if (!has_grad(e, x))
            return;
        P("    nt_adaptive_maxpool2d_backward%s(%s, %s, b.%s_argmax,\n"
          "                                   ",
          overwrite(e, i), grad(e, x), grad(e, i), e->names[i]);
    }
    adaptive_dims(e, i);
    P(");\n");
}

static void BATCHNORM_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    const shape *s = in_shape(e, i, 0);
    const bn_attrs *a = &node(e, i)->a.bn;
    const int kind = ps == FORWARD ? fused_activation(e, i) : -1;
    const char *nm = e->names[i];
    const char *ind = ps == FORWARD ? "\n                                   "
                                    : "\n                          ";
    const char *fields = "", *train_fields = "";
    if (kind == L_SIGMOID || kind == L_RELU)
        fields = arena_printf(&e->ar, ",%s.act = %s", ind,
                              kind == L_SIGMOID ? "NT_ACT_SIGMOID" : "NT_ACT_RELU");
    if (s->rank == 3) /* training's rows' sums (streaming, or between block passes) */
        train_fields = arena_printf(&e->ar, ",%s.rows = b.%s_rows%s", ind, nm,
                                    ps == FORWARD && e->p->nodes[i].rows_by >= 0
                                        ? ", .rows_ready = 1 /* by the conv */" : "");
    const char *fmt = "&(nt_bn_dims){.N = n, .C = %lld, .HW = %lld, .eps = %s, .momentum = %s%s%s}";
    const long long C = (long long)s->d[0], HW = (long long)(s->rank == 3 ? s->d[1] * s->d[2] : 1);
    const char *dims = arena_printf(&e->ar, fmt, C, HW, flt(e, a->eps), flt(e, a->momentum),
                                    fields, train_fields);
    const char *eval_dims =
        arena_printf(&e->ar, fmt, C, HW, flt(e, a->eps), flt(e, a->momentum), fields, "");
    /* in a sample-parallel step: on this share, with the team's sums */
    const char *share = !e->sample_parallel ? ""
                        : arena_printf(&e->ar, ",\n%*snt_part_bn_share(p, %lld)",
                                       ps == FORWARD ? 35 : 26, "", (long long)e->team_off[i]);
    if (ps == FORWARD) {
        P("    if (train)\n");
        P("        nt_batchnorm%s_forward_train(%s, b.%s_mean, b.%s_invstd,\n"
          "                                   %s, %s,\n"
          "                                   %s, %s, %s,\n"
          "                                   %s%s);\n",
          e->sample_parallel ? "_share" : "", act(e, i), nm, nm,
          param(e, i, "running_mean", 0), param(e, i, "running_var", 0),
          act(e, x), param(e, i, "weight", 0), param(e, i, "bias", 0), dims, share);
        P("    else\n");
        P("        nt_batchnorm_forward_eval(%s, %s, %s, %s,\n"
          "                                  %s, %s,\n"
          "                                  %s);\n",
          act(e, i), act(e, x), param(e, i, "weight", 0), param(e, i, "bias", 0),
          param(e, i, "running_mean", 0), param(e, i, "running_var", 0), eval_dims);
    } else {
        P("    nt_batchnorm%s_backward%s(%s, %s, %s,\n"
          "                          %s, %s, %s, b.%s_mean, b.%s_invstd,\n"
          "                          %s%s);\n",
          e->sample_parallel ? "_share" : "", overwrite(e, i), grad(e, x),
          param(e, i, "weight", 1), param(e, i, "bias", 1), grad(e, i), act(e, x),
          param(e, i, "weight", 0), nm, nm, dims, share);
    }
}

/* Normalisation over each group of channels of each example, the same in
 * training and evaluation. */
static void norm_emit(emitter *e, int i, pass ps, const char *fn, const char *dims)
{
    int x = node(e, i)->inputs[0];
    const char *nm = e->names[i];
    if (ps == FORWARD)
        P("    nt_%s_forward(%s, b.%s_mean, b.%s_invstd, %s,\n"
          "                  %s, %s,\n                  %s);\n",
          fn, act(e, i), nm, nm, act(e, x), param(e, i, "weight", 0), param(e, i, "bias", 0),
          dims);
    else
        P("    nt_%s_backward%s(%s, %s, %s,\n"
          "                   %s, %s, %s, b.%s_mean, b.%s_invstd,\n                   %s);\n",
          fn, overwrite(e, i), grad(e, x), param(e, i, "weight", 1), param(e, i, "bias", 1),
          grad(e, i),
          act(e, x), param(e, i, "weight", 0), nm, nm, dims);
}

/* layer norm over D elements, weight [D]: group norm with one group of D
 * channels of one element each */
static void LAYERNORM_emit(emitter *e, int i, pass ps)
{
    const ir_node *n = node(e, i);
    norm_emit(e, i, ps, "groupnorm",
              arena_printf(&e->ar, "&(nt_norm_dims){.N = n, .G = 1, .C = %lld, .HW = 1, .eps = %s}",
                           (long long)shape_size(&n->out), flt(e, n->a.norm.eps)));
}

static void GROUPNORM_emit(emitter *e, int i, pass ps)
{
    const ir_node *n = node(e, i);
    const shape *s = &n->out;
    norm_emit(e, i, ps, "groupnorm",
              arena_printf(&e->ar,
                           "&(nt_norm_dims){.N = n, .G = %d, .C = %lld, .HW = %lld, .eps = %s}",
                           n->a.norm.groups, (long long)s->d[0],
                           (long long)(s->rank == 3 ? s->d[1] * s->d[2] : 1),
                           flt(e, n->a.norm.eps)));
}

static void activation(emitter *e, int i, pass ps, const char *fn)
{
    int x = node(e, i)->inputs[0];
    long long size = (long long)shape_size(&node(e, i)->out);
    if (ps == FORWARD && e->p->nodes[i].epilogue_of >= 0)
        P("    /* computed by %s's kernel, in place */\n", e->names[e->p->nodes[i].epilogue_of]);
    else if (ps == BACKWARD && e->p->nodes[i].grad_epilogue_of >= 0)
        P("    /* computed by %s's backward kernel, in place */\n",
          e->names[e->p->nodes[i].grad_epilogue_of]);
    else if (ps == FORWARD)
        P("    nt_%s_forward(%s, %s, (size_t)n * %lld);\n", fn, act(e, i), act(e, x), size);
    else if (has_grad(e, x))
        P("    nt_%s_backward%s(%s, %s, %s, (size_t)n * %lld);\n", fn, overwrite(e, i),
          grad(e, x), grad(e, i), act(e, i), size);
}

static void RELU_emit(emitter *e, int i, pass ps) { activation(e, i, ps, "relu"); }
static void SIGMOID_emit(emitter *e, int i, pass ps) { activation(e, i, ps, "sigmoid"); }
static void TANH_emit(emitter *e, int i, pass ps) { activation(e, i, ps, "tanh"); }

/* Activations whose backward reads the input, with their parameters ("" or
 * ", 0.01f") after the size. */
static void activation_in(emitter *e, int i, pass ps, const char *fn, const char *args)
{
    int x = node(e, i)->inputs[0];
    long long size = (long long)shape_size(&node(e, i)->out);
    if (ps == FORWARD)
        P("    nt_%s_forward(%s, %s, (size_t)n * %lld%s);\n", fn, act(e, i), act(e, x), size, args);
    else if (has_grad(e, x))
        P("    nt_%s_backward(%s, %s, %s, (size_t)n * %lld%s);\n", fn, grad(e, x), grad(e, i),
          act(e, x), size, args);
}

static void LEAKY_RELU_emit(emitter *e, int i, pass ps)
{
    activation_in(e, i, ps, "leaky_relu",
                  arena_printf(&e->ar, ", %s", flt(e, node(e, i)->a.act.a)));
}

static void ELU_emit(emitter *e, int i, pass ps)
{
    activation_in(e, i, ps, "elu", arena_printf(&e->ar, ", %s", flt(e, node(e, i)->a.act.a)));
}

static void SOFTPLUS_emit(emitter *e, int i, pass ps)
{
    const act_attrs *a = &node(e, i)->a.act;
    activation_in(e, i, ps, "softplus",
                  arena_printf(&e->ar, ", %s, %s", flt(e, a->a), flt(e, a->b)));
}

static void SILU_emit(emitter *e, int i, pass ps) { activation_in(e, i, ps, "silu", ""); }
static void GELU_emit(emitter *e, int i, pass ps) { activation_in(e, i, ps, "gelu", ""); }
static void HARDSWISH_emit(emitter *e, int i, pass ps) { activation_in(e, i, ps, "hardswish", ""); }

static void DROPOUT_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    int index = 0; /* among the net's dropout layers: picks its random stream */
    for (int j = 0; j < i; j++)
        index += node(e, j)->kind == L_DROPOUT;
    long long size = (long long)shape_size(&node(e, i)->out);
    const char *p = flt(e, node(e, i)->a.dropout.p);
    if (ps == FORWARD) {
        P("    nt_dropout_forward(%s, b.%s_mask, %s, (size_t)n * %lld,\n"
          "                       train && m->dropout_enabled ? %s : 0.0f, "
          "nt_dropout_key(m, %d));\n",
          act(e, i), e->names[i], act(e, x), size, p, index);
    } else if (has_grad(e, x)) {
        P("    nt_dropout_backward%s(%s, %s, b.%s_mask, (size_t)n * %lld,\n"
          "                        m->dropout_enabled ? %s : 0.0f);\n",
          overwrite(e, i), grad(e, x), grad(e, i), e->names[i], size, p);
    }
}

static void FLATTEN_emit(emitter *e, int i, pass ps)
{
    if (ps == FORWARD)
        P("    /* a view of %s: no data moves */\n", e->names[ir_storage(e->g, i)]);
}

static void LINEAR_emit(emitter *e, int i, pass ps)
{
    int x = node(e, i)->inputs[0];
    long long in = (long long)in_shape(e, i, 0)->d[0], out = node(e, i)->a.linear.out;
    if (ps == FORWARD) {
        const char *r = epilogue(e, i);
        P("    nt_linear%s_forward(%s, %s, %s, %s,\n                      %*sn, %lld, %lld);\n",
          r, act(e, i), act(e, x), param(e, i, "weight", 0), param(e, i, "bias", 0),
          (int)strlen(r), "", in, out);
    } else
        P("    nt_linear_backward%s(%s, %s, %s,\n                       %s, %s, %s,\n"
          "                       n, %lld, %lld);\n",
          overwrite(e, i), grad(e, x), param(e, i, "weight", 1), param(e, i, "bias", 1),
          grad(e, i), act(e, x), param(e, i, "weight", 0), in, out);
}

static void SLICE_emit(emitter *e, int i, pass ps)
{
    const ir_node *n = node(e, i);
    int x = n->inputs[0];
    const shape *s = in_shape(e, i, 0);
    long long hw = s->rank == 3 ? (long long)(s->d[1] * s->d[2]) : 1;
    if (ps == FORWARD)
        P("    nt_slice_forward(%s, %s, n, %lld, %lld, %d, %d);\n", act(e, i), act(e, x),
          (long long)s->d[0], hw, n->a.slice.start, n->a.slice.end);
    else if (has_grad(e, x))
        P("    nt_slice_backward%s(%s, %s, n, %lld, %lld, %d, %d);\n", overwrite(e, i),
          grad(e, x), grad(e, i), (long long)s->d[0], hw, n->a.slice.start, n->a.slice.end);
}

/* The end of a concat call: the inputs' channel counts and the sizes. */
static void concat_sizes(emitter *e, int i)
{
    const ir_node *n = node(e, i);
    const shape *y = &n->out;
    long long hw = y->rank == 3 ? (long long)(y->d[1] * y->d[2]) : 1;
    P(",\n                      (const int[]){");
    for (int k = 0; k < n->ninputs; k++)
        P("%s%lld", k ? ", " : "", (long long)in_shape(e, i, k)->d[0]);
    P("}, %d, n, %lld);\n", n->ninputs, hw);
}

static void CONCAT_emit(emitter *e, int i, pass ps)
{
    const ir_node *n = node(e, i);
    if (ps == FORWARD) {
        P("    nt_concat_forward(%s, (const float *const[]){", act(e, i));
        for (int k = 0; k < n->ninputs; k++)
            P("%s%s", k ? ", " : "", act(e, n->inputs[k]));
        P("}");
        concat_sizes(e, i);
        return;
    }
    /* one call for the gradients this layer writes first, one for those it
     * adds to */
    for (int ovw = 1; ovw >= 0; ovw--) {
        int any = 0;
        for (int k = 0; k < n->ninputs; k++)
            any |= has_grad(e, n->inputs[k]) && overwrites(e, i, k) == ovw;
        if (!any)
            continue;
        P("    nt_concat_backward%s((float *const[]){", ovw ? "_overwrite" : "");
        for (int k = 0; k < n->ninputs; k++)
            P("%s%s", k ? ", " : "",
              overwrites(e, i, k) == ovw ? grad(e, n->inputs[k]) : "NULL");
        P("},\n                       %s", grad(e, i));
        concat_sizes(e, i);
    }
}

static void ADD_emit(emitter *e, int i, pass ps)
{
    const ir_node *n = node(e, i);
    long long size = (long long)shape_size(&n->out);
    if (ps == FORWARD) {
        P("    nt_add_forward(%s, %s, %s, (size_t)n * %lld);\n", act(e, i), act(e, n->inputs[0]),
          act(e, n->inputs[1]), size);
        for (int k = 2; k < n->ninputs; k++)
            P("    nt_add_forward(%s, %s, %s, (size_t)n * %lld);\n", act(e, i), act(e, i),
              act(e, n->inputs[k]), size);
        return;
    }
    /* two gradients a call: first those this layer writes first, then
     * those it adds to */
    for (int ovw = 1; ovw >= 0; ovw--) {
        const char *pending = NULL;
        for (int k = 0; k < n->ninputs; k++) {
            if (!has_grad(e, n->inputs[k]) || overwrites(e, i, k) != ovw)
                continue;
            if (!pending) {
                pending = grad(e, n->inputs[k]);
                continue;
            }
            P("    nt_add_backward%s(%s, %s, %s, (size_t)n * %lld);\n", ovw ? "_overwrite" : "",
              pending, grad(e, n->inputs[k]), grad(e, i), size);
            pending = NULL;
        }
        if (pending)
            P("    nt_add_backward%s(%s, NULL, %s, (size_t)n * %lld);\n",
              ovw ? "_overwrite" : "", pending, grad(e, i), size);
    }
}

typedef void (*emit_fn)(emitter *, int, pass);

static const emit_fn emit_fns[L_COUNT] = {
#define LAYER(id, name, op, flags) [L_##id] = id##_emit,
#include "layers.def"
#undef LAYER
};

/* ---- the file ------------------------------------------------------------------- */

static void comment_line(emitter *e, int i)
{
    const ir_node *n = node(e, i);
    char b[64];
    P("\n    /* %s: %s -> %s  (%s:%d) */\n", n->path, layer_op(n->kind),
      shape_str(&n->out, b, sizeof b), n->loc.src ? n->loc.src->name : "?", n->loc.first_line);
}

/* bind(): the buffers of a training step in the training plan's arena;
 * bind_inference(): those of an eval-mode forward in the inference plan's
 * (outputs and per-example saved buffers reused once dead; no gradients). */
static void emit_bind(emitter *e, int inference)
{
    const ir_graph *g = e->g;
    const plan *p = e->p;
    P("static buffers bind%s(const nt_model *m)\n{\n", inference ? "_inference" : "");
    P("    const size_t B = (size_t)m->batch_max; /* activation offsets are per example */\n");
    P(inference ? "    buffers b = {0}; /* no gradients */\n" : "    buffers b;\n");
    for (int i = 0; i < g->n; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW))
            P("    b.%s = m->act + %lld * B;\n", e->names[i],
              (long long)(inference ? p->nodes[i].infer_act : p->nodes[i].act));
    for (int i = 0; i < g->n && !inference; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW) && p->nodes[i].grad != PLAN_NONE)
            P("    b.d_%s = m->act + %lld * B;\n", e->names[i], (long long)p->nodes[i].grad);
    for (int t = 0; t < p->ntensors; t++) {
        const plan_tensor *pt = &p->tensors[t];
        P("    %s = m->params + %lld;\n", tensor_field(e, pt, 0), (long long)pt->offset);
        if (pt->trainable && !inference)
            P("    %s = m->grads + %lld;\n", tensor_field(e, pt, 1), (long long)pt->offset);
    }
    for (int i = 0; i < g->n; i++) {
        const plan_node *pn = &p->nodes[i];
        for (int k = 0; k < pn->nsaved; k++) {
            const plan_saved *sv = &pn->saved[k];
            const char *nm = e->names[i], *field = sv->d.name;
            long long off = (long long)(inference ? sv->infer_offset : sv->offset);
            if (!sv->d.per_example)
                P("    b.%s_%s = m->state + %lld;\n", nm, field, off);
            else if (sv->d.type == SAVED_F32)
                P("    b.%s_%s = m->act + %lld * B;\n", nm, field, off);
            else
                P("    b.%s_%s = (%s *)(m->act + %lld * B);\n", nm, field,
                  saved_ctype(sv->d.type), off);
        }
    }
    P("    b.scratch = m->scratch;\n");
    P("    return b;\n}\n\n");
}

/* part(): the buffers of one share of the batch (nt_parts_run): every
 * per-example buffer moved to the share's first example, its own parameter
 * gradients and scratch. */
static void emit_part(emitter *e)
{
    const ir_graph *g = e->g;
    const plan *p = e->p;
    P("/* The buffers of one share of the batch (nt_parts_run): its examples' layer\n"
      " * outputs, their gradients and saved buffers; its own parameter gradients\n"
      " * and scratch. The share of the whole batch on one thread is the batch. */\n");
    P("static buffers part(const buffers *whole, const nt_part *p)\n{\n");
    P("    buffers b = *whole;\n");
    P("    const size_t k = (size_t)p->first;\n");
    for (int i = 0; i < g->n; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW))
            P("    b.%s += k * %s;\n", e->names[i], shape_product(e, &g->nodes[i].out));
    for (int i = 0; i < g->n; i++) {
        const plan_node *pn = &p->nodes[i];
        for (int s = 0; s < pn->nsaved; s++)
            if (pn->saved[s].d.per_example)
                P("    b.%s_%s += k * %lld;\n", e->names[i], pn->saved[s].d.name,
                  (long long)pn->saved[s].d.count);
    }
    P("    if (p->grads) { /* a training model */\n");
    for (int i = 0; i < g->n; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW) && p->nodes[i].grad != PLAN_NONE)
            P("        b.d_%s += k * %s;\n", e->names[i], shape_product(e, &g->nodes[i].out));
    for (int t = 0; t < p->ntensors; t++) {
        const plan_tensor *pt = &p->tensors[t];
        if (pt->trainable)
            P("        %s = p->grads + %lld;\n", tensor_field(e, pt, 1),
              (long long)pt->offset);
    }
    P("    }\n");
    P("    b.scratch = p->scratch;\n");
    P("    return b;\n}\n\n");
}

static void emit_buffers(emitter *e)
{
    const ir_graph *g = e->g;
    const plan *p = e->p;
    char b[64];
    P("/* Pointers into the arenas, one per buffer of a training step. */\n");
    P("typedef struct buffers {\n");
    P("    /* layer outputs, [batch, ...] */\n");
    for (int i = 0; i < g->n; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW))
            P("    float *%s; /* %s */\n", e->names[i], shape_str(&g->nodes[i].out, b, sizeof b));
    P("    /* gradients of layer outputs (reused once dead) */\n");
    for (int i = 0; i < g->n; i++)
        if (!(layer_flags(g->nodes[i].kind) & LF_VIEW) && p->nodes[i].grad != PLAN_NONE)
            P("    float *d_%s;\n", e->names[i]);
    P("    /* parameters and their gradients */\n");
    for (int t = 0; t < p->ntensors; t++) {
        const plan_tensor *pt = &p->tensors[t];
        P("    float *%s", tensor_field(e, pt, 0) + 2);
        if (pt->trainable)
            P(", *%s", tensor_field(e, pt, 1) + 2);
        P(";\n");
    }
    P("    /* saved by forward for backward */\n");
    for (int i = 0; i < g->n; i++) {
        const plan_node *pn = &p->nodes[i];
        for (int k = 0; k < pn->nsaved; k++) { /* one line per run of one type */
            saved_type t = pn->saved[k].d.type;
            if (k == 0 || t != pn->saved[k - 1].d.type)
                P("    %s ", saved_ctype(t));
            P("*%s_%s", e->names[i], pn->saved[k].d.name);
            P(k + 1 < pn->nsaved && pn->saved[k + 1].d.type == t ? ", " : ";\n");
        }
    }
    P("    float *scratch; /* kernel scratch */\n");
    P("} buffers;\n\n");

    emit_bind(e, 0);
    emit_bind(e, 1);
    emit_part(e);
    P("/* What forward and backward hand nt_parts_run: the whole batch's buffers\n"
      " * and the mode. */\n");
    P("typedef struct pass_args {\n    const buffers *b;\n    int train;\n} pass_args;\n\n");
}

/* ---- forward and backward ---------------------------------------------------
 *
 * A sample-parallel net (plan.h: small) runs its
 * layers in segments: a maximal run of layers that treat examples
 * independently is one function over a share of the batch, which
 * nt_parts_run calls once per thread in one parallel region; a layer that
 * couples the examples (LF_BATCH: dropout) runs between them on the whole
 * batch, its kernels parallel as usual. Batch norm stays inside a run: its
 * _share kernels add the shares' sums at a barrier (nt_bn_share). Any other
 * net has one segment of all its layers, run on the whole batch. */

/* Node i runs on the whole batch between segments. */
static int couples(emitter *e, int i)
{
    return e->sample_parallel && (layer_flags(node(e, i)->kind) & LF_BATCH);
}

static int net_uses_train(emitter *e)
{
    for (int i = 1; i < e->g->n; i++)
        if (layer_flags(node(e, i)->kind) & LF_TRAIN)
            return 1;
    return 0;
}

/* The segments of nodes 1 .. n-1 in forward order: seg_first[k],
 * seg_last[k] (inclusive); returns their number. */
static int segments(emitter *e, int *seg_first, int *seg_last)
{
    int ns = 0;
    for (int i = 1; i < e->g->n; i++) {
        if (couples(e, i))
            continue;
        if (i == 1 || couples(e, i - 1))
            seg_first[ns++] = i;
        seg_last[ns - 1] = i;
    }
    return ns;
}

/* Node j's backward: the zeroing of the gradient buffers whose first
 * accumulator it is, its kernels, its lap. */
static void backward_node(emitter *e, int j, const int *zero_first, const int *zero_next,
                          int start)
{
    comment_line(e, j);
    if (start) /* between runs of shares: its own lap */
        P("    t = nt_prof_start(m);\n");
    for (int s = zero_first[j]; s >= 0; s = zero_next[s])
        P("    memset(b.d_%s, 0, sizeof(float) * (size_t)n * %s);\n", e->names[s],
          shape_product(e, &e->g->nodes[s].out));
    emit_fns[node(e, j)->kind](e, j, BACKWARD);
    P("    t = nt_prof_lap(m, t, %d, NT_PROF_BACKWARD);\n", j);
}

/* "conv1 .. linear3" */
static const char *seg_label(emitter *e, int first, int last)
{
    return first == last ? e->names[first]
                         : arena_printf(&e->ar, "%s .. %s", e->names[first], e->names[last]);
}

static void emit_passes(emitter *e)
{
    const ir_graph *g = e->g;
    int *seg_first = malloc(sizeof(int) * (size_t)g->n);
    int *seg_last = malloc(sizeof(int) * (size_t)g->n);
    int ns = segments(e, seg_first, seg_last);
    int uses_train = net_uses_train(e);

    /* zero_first[j]: the first of the buffers to zero before node j's
     * backward, chained through zero_next */
    int *zero_first = malloc(sizeof(int) * (size_t)g->n);
    int *zero_next = malloc(sizeof(int) * (size_t)g->n);
    for (int j = 0; j < g->n; j++)
        zero_first[j] = -1;
    for (int s = g->n - 1; s >= 0; s--) {
        int j = e->p->nodes[s].zero_grad_at;
        if (j >= 0) {
            zero_next[s] = zero_first[j];
            zero_first[j] = s;
        }
    }

    for (int k = 0; k < ns; k++)
        P("static void forward_%d(nt_model *m, const nt_part *p, const void *args);\n", k + 1);
    P("\n/* Computes the logits of n examples from m->input. train: batch statistics\n"
      " * and dropout, and keeps what backward needs; otherwise eval mode.%s */\n",
      e->sample_parallel ? "\n * Sample-parallel: forward_K run on shares of the batch (nt_parts_run)." : "");
    P("static void forward(nt_model *m, int n, int train)\n{\n");
    P("    const buffers b = m->inference ? bind_inference(m) : bind(m);\n");
    if (!uses_train)
        P("    (void)train; /* no layer of this net behaves differently in training */\n");
    P("    const pass_args args = {&b, %s};\n", uses_train ? "train" : "0");
    int coupled = 0;
    for (int i = 1; i < g->n; i++)
        coupled |= couples(e, i);
    if (coupled)
        P("    double t;\n");
    for (int i = 1, k = 0; i < g->n; i++) {
        if (!couples(e, i)) {
            if (k < ns && i == seg_first[k]) {
                P("    nt_parts_run(m, n, forward_%d, &args); /* %s */\n", k + 1,
                  seg_label(e, seg_first[k], seg_last[k]));
                k++;
            }
            continue;
        }
        comment_line(e, i);
        P("    t = nt_prof_start(m);\n");
        emit_fns[node(e, i)->kind](e, i, FORWARD);
        P("    t = nt_prof_lap(m, t, %d, NT_PROF_FORWARD);\n", i);
    }
    P("}\n\n");

    for (int k = 0; k < ns; k++) {
        int seg_train = 0;
        for (int i = seg_first[k]; i <= seg_last[k]; i++)
            seg_train |= layer_flags(node(e, i)->kind) & LF_TRAIN;
        P("/* Forward of %s on one share of the batch. */\n", seg_label(e, seg_first[k], seg_last[k]));
        P("static void forward_%d(nt_model *m, const nt_part *p, const void *args)\n{\n", k + 1);
        P("    const pass_args *a = args;\n");
        P("    const buffers b = part(a->b, p);\n");
        P("    const int n = p->n;\n");
        if (seg_train)
            P("    const int train = a->train;\n");
        P("    double t = nt_prof_start(m); /* --profile: the time of every layer */\n");
        for (int i = seg_first[k]; i <= seg_last[k]; i++) {
            comment_line(e, i);
            emit_fns[node(e, i)->kind](e, i, FORWARD);
            P("    t = nt_prof_lap(m, t, %d, NT_PROF_FORWARD);\n", i);
        }
        P("}\n\n");
    }

    for (int k = ns - 1; k >= 0; k--)
        P("static void backward_%d(nt_model *m, const nt_part *p, const void *args);\n", k + 1);
    P("\n/* From m->dlogits, accumulates every parameter's gradient into m->grads\n"
      " * (zeroed by the caller). Gradient buffers of layer outputs are zeroed\n"
      " * just before the first layer that accumulates into them, unless that\n"
      " * layer overwrites them (the _overwrite kernels).%s */\n",
      e->sample_parallel ? "\n * Sample-parallel: backward_K run on shares of the batch, each share\n"
                           " * with its own gradients, added up at the end." : "");
    P("static void backward(nt_model *m, int n)\n{\n");
    P("    const buffers b = bind(m);\n");
    P("    const pass_args args = {&b, 1};\n");
    if (coupled)
        P("    double t;\n");
    for (int j = g->n - 1, k = ns - 1; j >= 1; j--) {
        if (!couples(e, j)) {
            if (k >= 0 && j == seg_last[k]) {
                P("    nt_parts_run(m, n, backward_%d, &args); /* %s */\n", k + 1,
                  seg_label(e, seg_first[k], seg_last[k]));
                k--;
            }
            continue;
        }
        backward_node(e, j, zero_first, zero_next, 1);
    }
    P("    nt_parts_sum_grads(m); /* the shares' gradients into m->grads */\n");
    P("}\n\n");

    for (int k = ns - 1; k >= 0; k--) {
        P("/* Backward of %s on one share of the batch. */\n",
          seg_label(e, seg_last[k], seg_first[k]));
        P("static void backward_%d(nt_model *m, const nt_part *p, const void *args)\n{\n", k + 1);
        P("    const pass_args *a = args;\n");
        P("    const buffers b = part(a->b, p);\n");
        P("    const int n = p->n;\n");
        P("    double t = nt_prof_start(m);\n");
        for (int j = seg_last[k]; j >= seg_first[k]; j--)
            backward_node(e, j, zero_first, zero_next, 0);
        P("}\n\n");
    }
    free(zero_first);
    free(zero_next);
    free(seg_first);
    free(seg_last);
}

static void emit_scratch(emitter *e)
{
    P("/* Kernel scratch for nthreads threads: the largest any layer needs. */\n");
    P("static size_t scratch_floats(int nthreads)\n{\n    size_t most = 0, s;\n");
    int any = 0;
    for (int i = 1; i < e->g->n; i++) {
        if (!(layer_flags(node(e, i)->kind) & LF_SCRATCH))
            continue;
        any = 1;
        emit_fns[node(e, i)->kind](e, i, SCRATCH);
        P("    if (s > most)\n        most = s;\n");
    }
    if (!any)
        P("    (void)nthreads;\n    (void)s;\n");
    P("    return most;\n}\n\n");
}

/* s as a C string literal */
static void c_string(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n')
            fputs("\\n", out);
        else if (s[i] == '"' || s[i] == '\\')
            fprintf(out, "\\%c", s[i]);
        else
            fputc(s[i], out);
    }
    fputc('"', out);
}

/* The layer and block-call tables: every layer (0 the input) with its
 * path, .net line, block call, output buffer and FLOPs per example, for
 * --profile and divergence reports (backward FLOPs: conv and linear twice
 * forward, once without an input gradient; other layers once forward, 0
 * without an input gradient unless they have parameters), and every block
 * call. */
static void emit_layer_tables(emitter *e)
{
    const ir_graph *g = e->g;
    const plan *p = e->p;
    P("/* Layers (0 is the input) and block calls: outputs (per-example offsets\n"
      " * and sizes) and FLOPs per example, for --profile and divergence reports. */\n");
    P("static const nt_layer_desc layers[] = {\n");
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = node(e, i);
        int grad_in = 0;
        for (int k = 0; k < n->ninputs; k++)
            grad_in |= has_grad(e, n->inputs[k]);
        double fwd = (double)n->flops;
        double bwd = n->kind == L_CONV || n->kind == L_LINEAR ? fwd * (grad_in ? 2 : 1)
                     : grad_in || n->params ? fwd : 0;
        P("    {\"%s\", \"%s\", %d, %d, %lld, %lld, %.0f, %.0f},\n", n->path,
          i ? layer_op(n->kind) : "input", i ? n->loc.first_line : 0, n->group,
          (long long)p->nodes[i].act, (long long)shape_size(&n->out), fwd, bwd);
    }
    P("};\n\n");
    P("static const nt_group_desc groups[] = {\n");
    for (int k = 0; k < g->ngroups; k++) {
        const ir_group *gr = &g->groups[k];
        const char *leaf = strrchr(gr->path, '.');
        P("    {\"%s\", ", leaf ? leaf + 1 : gr->path);
        c_string(e->out, gr->label, strlen(gr->label));
        P(", %d},\n", gr->parent);
    }
    if (g->ngroups == 0)
        P("    {\"none\", \"\", -1},\n");
    P("};\n\n");
}

static void emit_desc(emitter *e, const emit_opts *o)
{
    const ir_graph *g = e->g;
    const plan *p = e->p;
    static const char *const inits[] = {"NT_INIT_XAVIER", "NT_INIT_BIAS", "NT_INIT_ONES",
                                        "NT_INIT_ZEROS"};
    P("/* The checkpoint's tensors, in network order (PyTorch state_dict order). */\n");
    P("static const nt_tensor_desc tensors[] = {\n");
    for (int t = 0; t < p->ntensors; t++) {
        const plan_tensor *pt = &p->tensors[t];
        P("    {\"%s\", %d, {", pt->name, pt->ndim);
        for (int k = 0; k < pt->ndim; k++)
            P("%s%lld", k ? ", " : "", (long long)pt->shape[k]);
        P("}, %lld, %lld, %s, %lld, %lld, %d},\n", (long long)pt->offset, (long long)pt->count,
          inits[pt->init], (long long)pt->fan_in, (long long)pt->fan_out, pt->trainable);
    }
    P("};\n\n");

    P("static const char *const net_params[] = {");
    for (int k = 0; k < g->nparams; k++)
        P("\"%s\", ", g->params[k].name);
    P("NULL};\n\n");

    char *table = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&table, &len);
    report_table(g, 1, mem);
    fclose(mem);
    P("static const char *const layer_table[] = {\n");
    for (const char *line = table; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        P("    ");
        c_string(e->out, line, n);
        P(",\n");
        line += n;
    }
    P("    NULL,\n};\n\n");
    free(table);

    emit_layer_tables(e);

    const shape *in = &g->nodes[0].out;
    const ir_train *t = &g->train;
    P("static const nt_net_desc net = {\n");
    P("    .name = \"%s\",\n", g->name);
    P("    .source = ");
    c_string(e->out, g->file, strlen(g->file));
    P(",\n    .netc_version = \"%s\",\n", o->netc_version);
    P("    .hash = 0x%016llxULL,\n", (unsigned long long)ir_hash(g));
    P("    .arch_hash = 0x%016llxULL,\n", (unsigned long long)ir_arch_hash(g));
    P("    .in_c = %lld, .in_h = %lld, .in_w = %lld,\n", (long long)in->d[0],
      (long long)(in->rank == 3 ? in->d[1] : 1), (long long)(in->rank == 3 ? in->d[2] : 1));
    P("    .classes = %d,\n", p->classes);
    P("    .tensors = tensors,\n    .ntensors = %d,\n", p->ntensors);
    P("    .param_floats = %lld,\n", (long long)p->param_floats);
    P("    .act_floats = %lld,\n", (long long)p->act_floats);
    P("    .input_offset = %lld,\n", (long long)p->nodes[0].act);
    P("    .logits_offset = %lld,\n", (long long)p->nodes[ir_storage(g, g->n - 1)].act);
    P("    .dlogits_offset = %lld,\n", (long long)p->nodes[ir_storage(g, g->n - 1)].grad);
    P("    .infer_floats = %lld,\n", (long long)p->infer_floats);
    P("    .infer_input_offset = %lld,\n", (long long)p->nodes[0].infer_act);
    P("    .infer_logits_offset = %lld,\n",
      (long long)p->nodes[ir_storage(g, g->n - 1)].infer_act);
    P("    .state_floats = %lld,\n", (long long)(p->state_floats ? p->state_floats : 0));
    P("    .scratch_floats = scratch_floats,\n");
    if (e->sample_parallel)
        P("    .sample_parallel = 1,\n");
    if (e->team_doubles)
        P("    .team_doubles = %lld,\n", (long long)e->team_doubles);
    P("    .forward = forward,\n    .backward = backward,\n");
    P("    .layer_table = layer_table,\n");
    P("    .layers = layers,\n    .nlayers = %d,\n", g->n);
    P("    .groups = groups,\n    .ngroups = %d,\n", g->ngroups);
    P("    .net_params = net_params,\n");
    P("    .defaults = {.lr = %.15g, .momentum = %.15g, .weight_decay = %.15g,\n"
      "                 .epochs = %lld, .batch_size = %lld, .resize = %lld",
      t->has_lr ? t->lr : 0.0, t->momentum, t->weight_decay,
      t->has_epochs ? (long long)t->epochs : -1LL,
      t->has_batch_size ? (long long)t->batch_size : 0LL,
      t->has_resize ? (long long)t->resize : 0LL);
    if (t->settings) {
        P(",\n                 .settings = ");
        c_string(e->out, t->settings, strlen(t->settings));
    }
    P("},\n");
    P("};\n\n");
    P("int main(int argc, char **argv)\n{\n"
      "    nt_prefer_passive_wait(argv); /* may start this program again, once */\n"
      "    return nt_trainer_main(&net, argc, argv);\n}\n");
}

void emit_c(const ir_graph *g, const plan *p, const emit_opts *o, FILE *out)
{
    emitter e = {.out = out, .g = g, .p = p};
    make_names(&e);
    char b1[64], b2[64];
    fprintf(out,
            "/* %s.c - the trainer of net %s, generated by netc %s from %s.\n"
            " * %s\n"
            " *\n"
            " * %s parameters, %s FLOPs forward per example. Build it against the netc\n"
            " * runtime (netc build does); run it with --help for its options.\n"
            " */\n",
            g->name, g->name, o->netc_version, g->file, o->command,
            fmt_count(g->total_params, b1, sizeof b1), fmt_si((double)g->total_flops, b2, sizeof b2));
    fprintf(out, "#include <stdint.h>\n#include <string.h>\n\n#include \"netc_runtime.h\"\n"
                 "#include \"nt_trainer.h\"\n\n");
    e.sample_parallel = p->sample_parallel;
    e.team_off = calloc((size_t)g->n, sizeof *e.team_off);
    for (int i = 1; i < g->n && e.sample_parallel; i++)
        if (g->nodes[i].kind == L_BATCHNORM) {
            e.team_off[i] = e.team_doubles;
            e.team_doubles += 2 * in_shape(&e, i, 0)->d[0] + 1; /* NT_BN_SHARE_DOUBLES */
        }
    emit_buffers(&e);
    emit_passes(&e);
    emit_scratch(&e);
    emit_desc(&e, o);
    free_names(&e);
    free(e.team_off);
    arena_free(&e.ar);
}
