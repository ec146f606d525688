/* test_layers.c - suite "layers": the layer table (compiler/layers.def) is
 * complete. Every kind is used once, in a small net, with every argument
 * written and away from its default, then planned and emitted; the parts the
 * kind declares must agree with each other and with what the passes do:
 *   - its learned tensors hold exactly the parameters its shape rule counts;
 *   - every tensor and every saved buffer is used by the emitted forward and
 *     backward (and a trainable tensor's gradient by backward);
 *   - LF_TRAIN kinds, and only they, read forward's `train`; LF_SCRATCH
 *     kinds, and only they, size their scratch; LF_VIEW kinds own no memory;
 *   - LF_OVERWRITE kinds, and only they, as the first writer of their input's
 *     gradient (the sample's conv output), call an _overwrite kernel with no
 *     memset before it; concat and add of one input twice also add to it;
 *   - every attribute bind sets is a declared field (no byte of the node's
 *     attributes outside them is set), and each field moves the network hash.
 * A kind without a sample here fails: adding a kind means adding its use. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "emit.h"
#include "layers.h"
#include "plan.h"

/* One use of each kind: every argument written, every attribute nonzero. */
static const struct {
    const char *kind, *use, *input;
} samples[] = {
    {"conv", "conv(4, (3, 2), stride = (2, 1), padding = (1, 2), bias = true, groups = 2, "
             "dilation = (2, 1))", "4, 9, 9"},
    {"maxpool", "maxpool((3, 2), stride = (2, 1), padding = 1, ceil_mode = true)", "2, 9, 9"},
    {"avgpool", "avgpool((3, 2), stride = (2, 1), padding = 1)", "2, 9, 9"},
    {"adaptive_avgpool", "adaptive_avgpool((3, 2))", "2, 5, 5"},
    {"adaptive_maxpool", "adaptive_maxpool((3, 2))", "2, 5, 5"},
    {"batchnorm", "batchnorm(eps = 0.001, momentum = 0.2)", "2, 5, 5"},
    {"layernorm", "layernorm(eps = 0.001)", "2, 5, 5"},
    {"groupnorm", "groupnorm(2, eps = 0.001)", "4, 5, 5"},
    {"relu", "relu", "2, 5, 5"},
    {"sigmoid", "sigmoid", "2, 5, 5"},
    {"tanh", "tanh", "2, 5, 5"},
    {"leaky_relu", "leaky_relu(slope = 0.2)", "2, 5, 5"},
    {"elu", "elu(alpha = 0.5)", "2, 5, 5"},
    {"silu", "silu", "2, 5, 5"},
    {"gelu", "gelu", "2, 5, 5"},
    {"hardswish", "hardswish", "2, 5, 5"},
    {"softplus", "softplus(beta = 2, threshold = 10)", "2, 5, 5"},
    {"dropout", "dropout(0.25)", "2, 5, 5"},
    {"flatten", "flatten", "2, 5, 5"},
    {"linear", "linear(7, bias = true)", "12"},
    {"slice", "slice(1, 3)", "4, 5, 5"},
    {"concat", "concat { branch { } branch { } }", "2, 5, 5"},
    {"add", "add { branch { } branch { } }", "2, 5, 5"},
};

typedef struct used {
    ctest t;
    plan p;
    arena ar;
    int node;        /* the kind's node */
    char *c;         /* the emitted file */
    const char *fwd, *bwd, *scratch; /* its sections */
} used;

static void use_kind(used *u, layer_id k)
{
    const char *name = layer_table[k].name;
    int s = 0;
    while (s < (int)(sizeof samples / sizeof *samples) && strcmp(samples[s].kind, name) != 0)
        s++;
    ck_assert_msg(s < (int)(sizeof samples / sizeof *samples),
                  "layer kind '%s' has no sample in tests/compiler/test_layers.c", name);
    /* a learned layer first, so that the kind's input needs a gradient */
    char text[512];
    int c = atoi(samples[s].input);
    snprintf(text, sizeof text, "net t { input(%s) %s(%d, 1) %s flatten linear(3) }",
             samples[s].input, strchr(samples[s].input, ',') ? "conv" : "linear", c,
             samples[s].use);
    ctest_text(&u->t, text, NULL);
    ck_assert_msg(u->t.rc == 0, "%s: %s", text, u->t.diags);
    const ir_graph *g = &u->t.c.graph;
    u->node = 2; /* after the input and the first layer */
    ck_assert_int_eq(g->nodes[u->node].kind, k);
    memset(&u->ar, 0, sizeof u->ar);
    diag d;
    diag_init(&d, &u->ar);
    ck_assert_int_eq(plan_memory(g, &u->ar, &d, &u->p), 0);
    size_t len = 0;
    FILE *f = open_memstream(&u->c, &len);
    emit_opts o = {"test", "test"};
    emit_c(g, &u->p, &o, f);
    fclose(f);
    u->fwd = strstr(u->c, "static void forward(");
    u->bwd = strstr(u->c, "static void backward(");
    u->scratch = strstr(u->c, "static size_t scratch_floats(");
    ck_assert(u->fwd && u->bwd && u->scratch && u->fwd < u->bwd && u->bwd < u->scratch);
}

static void free_used(used *u)
{
    free(u->c);
    arena_free(&u->ar);
    ctest_free(&u->t);
}

/* needle occurs in [from, to) */
static int within(const char *from, const char *to, const char *needle)
{
    const char *at = strstr(from, needle);
    return at && at < to;
}

START_TEST(every_kind_is_complete)
{
    layer_id k = (layer_id)(L_ERROR + 1 + _i);
    const layer_info *li = &layer_table[k];
    ck_assert(li->name && li->op && li->args && li->bind && li->fields && li->tensors &&
              li->saved);
    used u;
    use_kind(&u, k);
    const ir_graph *g = &u.t.c.graph;
    const ir_node *n = &g->nodes[u.node];
    const plan_node *pn = &u.p.nodes[u.node];
    char *nm = strdup(n->path); /* its C name: the path with '_' for '.' */
    for (char *c = nm; *c; c++)
        if (*c == '.')
            *c = '_';
    char want[256];

    /* tensors: the parameters the shape rule counts, used by the code */
    int64_t trainable = 0;
    for (int t = 0; t < pn->ntensors; t++) {
        const plan_tensor *pt = &u.p.tensors[pn->first_tensor + t];
        ck_assert(pt->ndim >= 1 && pt->ndim <= 4 && pt->count > 0);
        trainable += pt->trainable ? pt->count : 0;
        snprintf(want, sizeof want, "b.%s_%s", nm, pt->role);
        ck_assert_msg(within(u.fwd, u.bwd, want), "%s: forward does not use %s", li->name, want);
        if (pt->trainable) {
            snprintf(want, sizeof want, "b.d_%s_%s", nm, pt->role);
            ck_assert_msg(within(u.bwd, u.scratch, want), "%s: backward does not write %s",
                          li->name, want);
        }
    }
    ck_assert_msg(trainable == n->params, "%s: tensors hold %lld trainable floats, shape rule %lld",
                  li->name, (long long)trainable, (long long)n->params);

    /* saved buffers: written by forward, read by backward */
    for (int s = 0; s < pn->nsaved; s++) {
        ck_assert(pn->saved[s].d.count > 0);
        snprintf(want, sizeof want, "b.%s_%s", nm, pn->saved[s].d.name);
        ck_assert_msg(within(u.fwd, u.bwd, want), "%s: forward does not save %s", li->name, want);
        ck_assert_msg(within(u.bwd, u.scratch, want), "%s: backward does not read %s", li->name,
                      want);
    }

    /* flags */
    int flags = layer_flags(k);
    ck_assert_msg((flags & LF_TRAIN ? 0 : 1) == within(u.fwd, u.bwd, "(void)train;"),
                  "%s: LF_TRAIN says %d, but forward %s train", li->name, !!(flags & LF_TRAIN),
                  within(u.fwd, u.bwd, "(void)train;") ? "ignores" : "reads");
    int sizes = 0, scratchy = 0; /* scratch sizes computed, layers with LF_SCRATCH */
    for (const char *at = u.scratch; (at = strstr(at, "\n    s = ")); at++)
        sizes++;
    for (int i = 0; i < g->n; i++)
        scratchy += (layer_flags(g->nodes[i].kind) & LF_SCRATCH) != 0;
    ck_assert_msg(sizes == scratchy, "%s: %d layers with LF_SCRATCH, %d scratch sizes", li->name,
                  scratchy, sizes);
    if (flags & LF_VIEW) {
        ck_assert_int_eq(pn->act, u.p.nodes[n->inputs[0]].act);
        ck_assert_int_eq(pn->nsaved, 0);
    } else if (pn->epilogue_of >= 0) {
        /* an activation computed by its producer's kernel (the sample's
         * first layer) */
        ck_assert_int_eq(pn->epilogue_of, n->inputs[0]);
        ck_assert_int_eq(pn->act, u.p.nodes[n->inputs[0]].act);
        snprintf(want, sizeof want, "_%s_forward(", li->name);
        ck_assert_msg(strstr(u.fwd, want) != NULL, "%s: no fused kernel", li->name);
    } else {
        ck_assert_msg(pn->act != u.p.nodes[n->inputs[0]].act, "%s: shares its input's memory",
                      li->name);
        /* a kernel call between its comment and the next */
        snprintf(want, sizeof want, "/* %s: %s", n->path, li->op);
        const char *at = strstr(u.fwd, want), *next = at ? strstr(at + 1, "/* ") : NULL;
        ck_assert_msg(at && next && within(at, next, "nt_"), "%s: forward calls no kernel",
                      li->name);
        /* its backward, between its comment and the next */
        at = strstr(u.bwd, want);
        next = at ? strstr(at + 1, "/* ") : NULL;
        ck_assert(at && next);
        int ovw = (flags & LF_OVERWRITE) != 0;
        ck_assert_msg(within(at, next, "_overwrite(") == ovw && within(at, next, "memset(") != ovw,
                      "%s: LF_OVERWRITE says %d, but its backward %s an _overwrite kernel and "
                      "%s a memset", li->name, ovw,
                      within(at, next, "_overwrite(") ? "calls" : "calls no",
                      within(at, next, "memset(") ? "has" : "has no");
        if (flags & LF_BRANCHES) { /* both branches are the conv: the second adds */
            snprintf(want, sizeof want, "nt_%s_backward(", li->name);
            ck_assert_msg(within(at, next, want), "%s: the second branch does not add", li->name);
        }
    }

    /* attributes: bind sets only declared fields, each of which is hashed */
    const unsigned char *attrs = (const unsigned char *)&n->a;
    const size_t base = offsetof(ir_node, a);
    for (size_t b = 0; b < sizeof n->a; b++) {
        if (!attrs[b])
            continue;
        int covered = 0;
        for (const attr_field *f = li->fields; f->name; f++) {
            size_t size = f->type == ATTR_FLOAT ? sizeof(double) : sizeof(int);
            covered |= base + b >= f->offset && base + b < f->offset + size;
        }
        ck_assert_msg(covered, "%s: bind sets byte %zu of the attributes, which no field of "
                      "its table declares (the network hash would not see it)", li->name, b);
    }
    uint64_t h = ir_hash(g);
    for (const attr_field *f = li->fields; f->name; f++) {
        ck_assert(f->offset >= base && f->offset < base + sizeof n->a);
        unsigned char *at = (unsigned char *)n + f->offset; /* the graph is ours */
        unsigned char save[sizeof(double)];
        size_t size = f->type == ATTR_FLOAT ? sizeof(double) : sizeof(int);
        memcpy(save, at, size);
        if (f->type == ATTR_FLOAT) {
            double v;
            memcpy(&v, at, size);
            v = v * 1.5 + 0.125;
            memcpy(at, &v, size);
        } else {
            int v;
            memcpy(&v, at, size);
            v += 3;
            memcpy(at, &v, size);
        }
        ck_assert_msg(ir_hash(g) != h, "%s: attribute %s does not move the hash", li->name,
                      f->name);
        memcpy(at, save, size);
    }
    ck_assert(ir_hash(g) == h);
    free(nm);
    free_used(&u);
}
END_TEST

/* The sample list names only kinds that exist (a renamed kind is noticed). */
START_TEST(samples_name_kinds)
{
    for (size_t s = 0; s < sizeof samples / sizeof *samples; s++)
        ck_assert_msg(layer_lookup(samples[s].kind) != L_COUNT, "sample for unknown kind '%s'",
                      samples[s].kind);
}
END_TEST

static uint64_t hash_of(const char *text)
{
    ctest t;
    ctest_text(&t, text, NULL);
    ck_assert_msg(t.rc == 0, "%s", t.diags);
    uint64_t h = ir_hash(&t.c.graph);
    ctest_free(&t);
    return h;
}

/* Attributes added to a kind later keep the hash (and the checkpoints) of
 * nets that leave them at their old behaviour, and change it otherwise. */
START_TEST(neutral_attributes_keep_the_hash)
{
    const char *net = "net n { input(4, 9, 9) %s flatten linear(3) }";
    static const char *const same[][2] = {
        {"conv(4, 3)", "conv(4, 3, groups = 1, dilation = 1)"},
        {"maxpool(2)", "maxpool(2, ceil_mode = false)"},
        {"adaptive_avgpool(1)", "adaptive_avgpool((1, 1))"},
    };
    static const char *const differ[][2] = {
        {"conv(4, 3)", "conv(4, 3, groups = 2)"},
        {"conv(4, 3, groups = 2)", "conv(4, 3, dilation = (1, 2), padding = (0, 1))"},
        {"maxpool(3, stride = 2)", "maxpool(3, stride = 2, ceil_mode = true)"}, /* both 4x4 */
        {"adaptive_avgpool(1)", "adaptive_avgpool((1, 2))"},
    };
    char a[256], b[256];
    for (size_t k = 0; k < sizeof same / sizeof *same; k++) {
        snprintf(a, sizeof a, net, same[k][0]);
        snprintf(b, sizeof b, net, same[k][1]);
        ck_assert_msg(hash_of(a) == hash_of(b), "%s and %s hash differently", same[k][0],
                      same[k][1]);
    }
    for (size_t k = 0; k < sizeof differ / sizeof *differ; k++) {
        snprintf(a, sizeof a, net, differ[k][0]);
        snprintf(b, sizeof b, net, differ[k][1]);
        ck_assert_msg(hash_of(a) != hash_of(b), "%s and %s hash the same", differ[k][0],
                      differ[k][1]);
    }
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("layer table");
    tcase_add_loop_test(tc, every_kind_is_complete, 0, L_COUNT - L_ERROR - 1);
    tcase_add_test(tc, samples_name_kinds);
    tcase_add_test(tc, neutral_attributes_keep_the_hash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
