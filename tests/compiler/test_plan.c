/* test_plan.c - suite "plan": the memory plan (compiler/plan.c). For every
 * network in nets/ and some branchy synthetic ones, no two buffers that are
 * alive at the same time share memory: forward outputs and saved data live
 * through the whole step; the gradient of a layer's output lives from the
 * backward of its last consumer (the first to accumulate into it) to its own
 * backward. The same for the inference plan (eval mode), where an output
 * lives from its layer to its last consumer and per-example saved buffers
 * (argmax, dropout masks) only during their layer. Also the parameter arena's order and sizes. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "plan.h"

typedef struct span {
    int64_t lo, hi;   /* floats [lo, hi) of the per-example arena */
    int from, to;     /* alive during backward times [from, to] */
    int node;
    const char *what;
} span;

static int is_view(const ir_graph *g, int n) { return layer_flags(g->nodes[n].kind) & LF_VIEW; }

/* The node whose memory node i's output is: through views, and from a relu
 * computed in its producer's kernel to the producer. */
static int mem_of(const ir_graph *g, const plan *p, int i)
{
    int s = ir_storage(g, i);
    return p->nodes[s].epilogue_of >= 0 ? p->nodes[s].epilogue_of : s;
}

/* No two spans alive at the same time share memory; every span is inside
 * [0, top) and 64-byte aligned. */
static void check_disjoint(const ir_graph *g, const span *s, int ns, int64_t top,
                           const char *plan_name)
{
    for (int a = 0; a < ns; a++) {
        ck_assert_msg(s[a].lo >= 0 && s[a].hi <= top, "%s plan: %s %s outside the arena",
                      plan_name, g->nodes[s[a].node].path, s[a].what);
        ck_assert_msg(s[a].lo % 16 == 0, "%s plan: %s %s not 64-byte aligned", plan_name,
                      g->nodes[s[a].node].path, s[a].what);
        for (int b = a + 1; b < ns; b++) {
            int live = s[a].from <= s[b].to && s[b].from <= s[a].to;
            int shared = s[a].lo < s[b].hi && s[b].lo < s[a].hi;
            ck_assert_msg(!(live && shared), "%s plan: %s (%s) and %s (%s) overlap while both "
                          "alive", plan_name, g->nodes[s[a].node].path, s[a].what,
                          g->nodes[s[b].node].path, s[b].what);
        }
    }
}

/* The inference plan: node i runs at time i; its output is alive from i to
 * its last consumer (through views), the logits to the end; its per-example
 * saved buffers only at i; per-layer ones stay in the state arena. */
static void check_inference_plan(const ir_graph *g, const plan *p)
{
    span *s = calloc((size_t)((1 + LAYER_MAX_SAVED) * g->n), sizeof *s);
    int ns = 0;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        const plan_node *pn = &p->nodes[i];
        if (is_view(g, i) || pn->epilogue_of >= 0) {
            ck_assert_int_eq(pn->infer_act, p->nodes[mem_of(g, p, i)].infer_act);
            continue;
        }
        int last = mem_of(g, p, g->n - 1) == i ? g->n : i;
        for (int j = i + 1; j < g->n; j++)
            for (int k = 0; k < g->nodes[j].ninputs; k++)
                if (mem_of(g, p, g->nodes[j].inputs[k]) == i)
                    last = j > last ? j : last;
        s[ns++] = (span){pn->infer_act, pn->infer_act + shape_size(&n->out), i, last, i,
                         "output"};
        for (int k = 0; k < pn->nsaved; k++) {
            const plan_saved *sv = &pn->saved[k];
            if (sv->d.per_example)
                s[ns++] = (span){sv->infer_offset, sv->infer_offset + saved_floats(&sv->d), i, i,
                                 i, sv->d.name};
            else
                ck_assert_int_eq(sv->infer_offset, sv->offset);
        }
    }
    check_disjoint(g, s, ns, p->infer_floats, "inference");
    ck_assert_msg(p->infer_floats <= p->forward_floats,
                  "the inference plan (%lld floats) is larger than the training plan's forward "
                  "part (%lld)", (long long)p->infer_floats, (long long)p->forward_floats);
    free(s);
}

static void check_plan(const ctest *t)
{
    const ir_graph *g = &t->c.graph;
    plan p;
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    ck_assert_int_eq(plan_memory(g, &ar, &d, &p), 0);
    const int T = g->n; /* backward time of node i: T - 1 - i; forward: before 0 */
    span *s = calloc((size_t)((2 + LAYER_MAX_SAVED) * g->n), sizeof *s);
    int ns = 0;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        const plan_node *pn = &p.nodes[i];
        if (is_view(g, i)) {
            ck_assert_int_eq(pn->act, p.nodes[ir_storage(g, i)].act);
            continue;
        }
        int64_t size = shape_size(&n->out);
        if (pn->epilogue_of >= 0) /* its producer's output, computed in place */
            ck_assert_int_eq(pn->act, p.nodes[pn->epilogue_of].act);
        else
            s[ns++] = (span){pn->act, pn->act + size, -1, T, i, "output"};
        for (int k = 0; k < pn->nsaved; k++)
            if (pn->saved[k].d.per_example)
                s[ns++] = (span){pn->saved[k].offset,
                                 pn->saved[k].offset + saved_floats(&pn->saved[k].d), -1, T, i,
                                 pn->saved[k].d.name};
        int fused_into = -1; /* the activation whose backward a pool applies */
        for (int j = i + 1; j < g->n; j++)
            if (p.nodes[j].grad_epilogue_of >= 0 && g->nodes[j].inputs[0] == i)
                fused_into = j;
        if (fused_into >= 0) {
            /* its gradient is that activation's memory (whose span below
             * reaches this node's backward), written by the pool */
            ck_assert_msg(pn->grad == p.nodes[fused_into].grad && pn->grad != PLAN_NONE &&
                              pn->zero_grad_at == -1 && pn->overwritten_by == -1,
                          "%s: not the gradient of %s", n->path, g->nodes[fused_into].path);
        } else if (pn->grad != PLAN_NONE) {
            /* last consumer in forward order = first writer in backward */
            /* the output's gradient (dlogits) is written by the trainer */
            int first = ir_storage(g, g->n - 1) == i ? g->n : -1;
            for (int j = i + 1; j < g->n; j++)
                for (int k = 0; k < g->nodes[j].ninputs; k++)
                    if (ir_storage(g, g->nodes[j].inputs[k]) == i && !is_view(g, j))
                        first = j;
            for (int j = i + 1; j < g->n; j++) /* consumers through a view */
                if (is_view(g, j) && ir_storage(g, j) == i)
                    for (int q = j + 1; q < g->n; q++)
                        for (int k = 0; k < g->nodes[q].ninputs; k++)
                            if (g->nodes[q].inputs[k] == j && q > first)
                                first = q;
            ck_assert_msg(first > i, "%s: gradient without a writer", n->path);
            int from = first >= g->n ? -1 : T - 1 - first;
            const int until = pn->grad_epilogue_of >= 0 ? n->inputs[0] : i;
            if (pn->grad_epilogue_of >= 0) /* its only reader, a pool, overwrites it */
                ck_assert_int_eq(pn->grad_epilogue_of, first);
            s[ns++] = (span){pn->grad, pn->grad + size, from, T - 1 - until, i, "gradient"};
            /* zeroed before its first writer, or overwritten by it (LF_OVERWRITE) */
            int ovw = first < g->n && (layer_flags(g->nodes[first].kind) & LF_OVERWRITE);
            if (first < g->n)
                ck_assert_msg(ovw ? pn->overwritten_by == first && pn->zero_grad_at == -1
                                  : pn->zero_grad_at == first && pn->overwritten_by == -1,
                              "%s: zeroed before %d, overwritten by %d, first writer %d",
                              n->path, pn->zero_grad_at, pn->overwritten_by, first);
        } else {
            ck_assert_msg(i == 0 || ir_storage(g, i) == 0, "%s has no gradient buffer", n->path);
        }
    }
    check_disjoint(g, s, ns, p.act_floats, "training");
    check_inference_plan(g, &p);
    /* parameters: checkpoint order, disjoint, counts equal the layer's */
    int64_t end = 0, params = 0;
    for (int k = 0; k < p.ntensors; k++) {
        const plan_tensor *pt = &p.tensors[k];
        ck_assert_msg(pt->offset >= end, "%s overlaps the previous tensor", pt->name);
        end = pt->offset + pt->count;
        params += pt->trainable ? pt->count : 0;
    }
    ck_assert_msg(params == g->total_params, "trainable tensors hold %lld floats, the net %lld",
                  (long long)params, (long long)g->total_params);
    ck_assert(p.param_floats >= end);
    free(s);
    arena_free(&ar);
}

static const char *const nets[] = {"lenet",     "lenet_bn", "alexnet",  "vgg",
                                   "nin",       "googlenet", "resnet18", "mobilenet",
                                   "resnext",   "../tests/e2e/nets/kinds", "cifar_resnet"};

START_TEST(seed_networks)
{
    char path[128];
    snprintf(path, sizeof path, "nets/%s.net", nets[_i]);
    ctest t;
    ctest_file(&t, ctest_src(path), NULL);
    CTEST_ASSERT_OK(&t);
    check_plan(&t);
    ctest_free(&t);
}
END_TEST

START_TEST(branchy_networks)
{
    static const char *const texts[] = {
        /* fan-out to three consumers, an identity, a flatten view feeding two */
        "net a { input(4, 8, 8) conv(4, 3, padding = 1) add { branch { relu } branch { } "
        "branch { conv(4, 1) tanh } } flatten concat { branch { linear(5) } branch { linear(3) } } "
        "linear(10) }",
        /* nested joins, pooling and dropout in branches */
        "net b { input(3, 12, 12) concat { branch { maxpool(3, stride = 1, padding = 1) } "
        "branch { add { branch { conv(3, 3, padding = 1) batchnorm } branch { } } dropout(0.5) } "
        "branch { } } conv(6, 3, stride = 2) relu adaptive_avgpool(1) flatten linear(10) }",
        /* the input feeding a join directly, and x + x */
        "net c { input(2, 6, 6) add { branch { } branch { } } conv(3, 1) flatten "
        "linear(10) }",
        /* a net that ends in a flatten view */
        "net d { input(10, 5, 5) conv(10, 3) adaptive_avgpool(1) flatten }",
    };
    ctest t;
    ctest_text(&t, texts[_i], NULL);
    CTEST_ASSERT_OK(&t);
    check_plan(&t);
    ctest_free(&t);
}
END_TEST

/* A relu or sigmoid runs in its producer's kernel exactly when the
 * producer is a plain conv, a linear or a batch-norm layer that nothing else
 * reads. */
/* The plan of text, which must compile and plan (t, p and ar: the caller's
 * to free). */
static void plan_text(ctest *t, plan *p, arena *ar, const char *text)
{
    ctest_text(t, text, NULL);
    CTEST_ASSERT_OK(t);
    diag d;
    diag_init(&d, ar);
    ck_assert_int_eq(plan_memory(&t->c.graph, ar, &d, p), 0);
}

START_TEST(relu_epilogues)
{
    ctest t;
    plan p;
    arena ar = {0};
    plan_text(&t, &p, &ar,
               "net f { input(4, 8, 8) conv(4, 3, padding = 1) relu "  /* 1, 2: fused */
               "conv(4, 3, groups = 2) relu "                         /* 3, 4: grouped */
               "add { branch { conv(4, 1) } branch { } } relu "       /* 5-7: after add */
               "conv(4, 1) add { branch { relu } branch { } } "       /* 8-10: two readers */
               "conv(4, 1) sigmoid "                                  /* 11, 12: fused */
               "conv(4, 1) batchnorm relu "                           /* 13-15: fused */
               "flatten linear(8) relu linear(3) sigmoid linear(10) }"); /* 16-21 */
    const ir_graph *g = &t.c.graph;
    int fused = 0;
    for (int i = 0; i < g->n; i++) {
        int x = p.nodes[i].epilogue_of;
        if (g->nodes[i].kind != L_RELU && g->nodes[i].kind != L_SIGMOID) {
            ck_assert_int_eq(x, -1);
            continue;
        }
        const ir_node *in = &g->nodes[g->nodes[i].inputs[0]];
        int want = (in->kind == L_CONV && in->a.conv.groups == 1 && (i == 2 || i == 12)) ||
                   in->kind == L_LINEAR || in->kind == L_BATCHNORM;
        ck_assert_msg(want ? x == g->nodes[i].inputs[0] : x == -1, "%s: epilogue of %d",
                      g->nodes[i].path, x);
        if (want) /* and the producer knows its activation */
            ck_assert_int_eq(p.nodes[x].epilogue, i);
        fused += want;
    }
    ck_assert_int_eq(fused, 5);
    check_plan(&t);
    arena_free(&ar);
    ctest_free(&t);
}
END_TEST

/* Plans text and checks that exactly the activations at nodes a and b have
 * their backward done by the next node's (grad_epilogue). */
static void check_grad_epilogues(const char *text, int a, int b)
{
    ctest t;
    plan p;
    arena ar = {0};
    plan_text(&t, &p, &ar, text);
    const ir_graph *g = &t.c.graph;
    int fused = 0;
    for (int i = 0; i < g->n; i++) {
        const int r = p.nodes[i].grad_epilogue_of;
        const int want = i == a || i == b;
        ck_assert_msg(want ? r == i + 1 && p.nodes[r].grad_epilogue == i : r == -1,
                      "%s: backward by %d", g->nodes[i].path, r);
        fused += r >= 0;
    }
    ck_assert_int_eq(fused, 2);
    check_plan(&t);
    arena_free(&ar);
    ctest_free(&t);
}

/* A relu or sigmoid between a layer and a max or average pool, each the
 * other's only reader, has its backward done by the pool's (grad_epilogue):
 * not after an input, nor with a second reader of either. */
START_TEST(pool_grad_epilogues)
{
    check_grad_epilogues("net f { input(4, 8, 8) relu maxpool(2) "                 /* 1, 2: input */
                         "conv(4, 3, padding = 1) sigmoid avgpool(2) "             /* 3-5: fused */
                         "conv(4, 1) add { branch { relu maxpool(1) } branch { maxpool(1) } } "
                         /* 6-10 */
                         "conv(4, 1) relu maxpool(2, stride = 1) "                 /* 11-13: fused */
                         "flatten linear(10) }",
                         4, 12);
}
END_TEST

/* A relu or sigmoid read by a convolution alone (neither grouped nor
 * dilated), whose input it is the only reader of, has its backward done by
 * the conv's: not after an input, nor before a grouped or dilated conv,
 * nor with a second reader. */
START_TEST(conv_grad_epilogues)
{
    check_grad_epilogues("net f { input(4, 8, 8) relu conv(4, 3, padding = 1) "      /* 1, 2: input */
                         "relu conv(4, 3, padding = 1) "                             /* 3, 4: fused */
                         "sigmoid conv(4, 3, padding = 1) "                          /* 5, 6: fused */
                         "relu conv(4, 3, padding = 1, groups = 2) "                 /* 7, 8 */
                         "relu conv(4, 3, padding = 2, dilation = 2) "               /* 9, 10 */
                         "relu add { branch { conv(4, 1) } branch { conv(4, 1) } } " /* 11 */
                         "flatten linear(10) }",
                         3, 5);
}
END_TEST

/* A batch norm over maps whose input is a plain conv's output, and only its
 * input, has its rows' statistics written by the conv (rows_for, rows_by):
 * not after a grouped or dilated conv, a conv with a second reader or
 * another layer, and never in a sample-parallel step (the small net). */
START_TEST(bn_rows_by_conv)
{
    static const char *const nets[] = {
        "net f { input(4, 32, 32) ",
        "net f { input(4, 8, 8) ",
    };
    const char *body = "conv(4, 3, padding = 1) batchnorm "                 /* rows by the conv */
                       "conv(4, 3, padding = 1, groups = 2) batchnorm "
                       "conv(4, 3, padding = 2, dilation = 2) batchnorm "
                       "conv(4, 1) add { branch { batchnorm } branch { } } " /* two readers */
                       "relu batchnorm conv(4, 1) relu batchnorm "
                       "flatten linear(%d) linear(10) }";
    ctest t;
    plan p;
    arena ar = {0};
    char text[600];
    snprintf(text, sizeof text, "%s", nets[_i]);
    snprintf(text + strlen(text), sizeof text - strlen(text), body, _i == 0 ? 300 : 10);
    plan_text(&t, &p, &ar, text);
    const ir_graph *g = &t.c.graph;
    ck_assert_int_eq(p.sample_parallel, _i == 1);
    int first_bn = -1, fused = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].kind == L_BATCHNORM && first_bn < 0)
            first_bn = i;
        const int want = _i == 0 && i == first_bn;
        ck_assert_msg(want ? p.nodes[i].rows_by == i - 1 && p.nodes[i - 1].rows_for == i
                           : p.nodes[i].rows_by == -1,
                      "%s: rows by %d", g->nodes[i].path, p.nodes[i].rows_by);
        fused += p.nodes[i].rows_for >= 0;
    }
    ck_assert_int_eq(fused, _i == 0);
    check_plan(&t);
    arena_free(&ar);
    ctest_free(&t);
}
END_TEST

/* Two convs in the pixel GEMMs' regime (64 input channels or more, at most
 * 256 output pixels), the second the only reader of the first's output or
 * of the relu between them, are linked (link_next, link_prev): a chain of
 * three links twice; not with fewer input channels, a larger output, a
 * second reader, a grouped conv, or a pool between. */
START_TEST(conv_links)
{
    ctest t;
    plan p;
    arena ar = {0};
    plan_text(&t, &p, &ar,
              "net f { input(64, 12, 12) conv(64, 3, padding = 1) relu "  /* 1, 2 */
              "conv(96, 1) conv(64, 3, padding = 1) relu "                /* 3; 4, 5 */
              "conv(32, 1) relu conv(64, 1) relu conv(64, 1) "            /* 6-10: 32 in */
              "add { branch { conv(64, 1) } branch { } } "                /* 11-13 */
              "conv(64, 3, padding = 1, groups = 2) relu conv(64, 1) "    /* 14-16 */
              "maxpool(1) conv(64, 1) "                                   /* 17, 18 */
              "conv(64, 3, padding = 4) relu conv(64, 1) "                /* 19-21: 18x18 */
              "flatten linear(10) }");
    const ir_graph *g = &t.c.graph;
    static const int want[][2] = {{1, 3}, {3, 4}, {4, 6}};
    int links = 0;
    ck_assert_str_eq(g->nodes[10].path, "conv6"); /* the numbering above */
    for (int i = 0; i < g->n; i++) {
        int next = -1;
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
            if (want[k][0] == i)
                next = want[k][1];
        ck_assert_msg(p.nodes[i].link_next == next, "%s: linked to %d", g->nodes[i].path,
                      p.nodes[i].link_next);
        if (next >= 0)
            ck_assert_int_eq(p.nodes[next].link_prev, i);
        links += p.nodes[i].link_prev >= 0;
    }
    ck_assert_int_eq(links, 3);
    check_plan(&t);
    arena_free(&ar);
    ctest_free(&t);
}
END_TEST

/* Asserts that the plan of text fails with the diagnostic want. */
static void plan_refuses(const char *text, const char *want)
{
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_OK(&t);
    plan p;
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    ck_assert_int_eq(plan_memory(&t.c.graph, &ar, &d, &p), -1);
    ck_assert_str_eq(d.items[0].msg, want);
    arena_free(&ar);
    ctest_free(&t);
}

START_TEST(output_must_be_flat)
{
    plan_refuses("net e { input(1, 8, 8) conv(2, 3) }",
                 "the net's output is 2x6x6; a classifier must end in a flat layer (add "
                 "flatten and linear(classes))");
}
END_TEST

/* Issue 13: a net whose output is a view of its input (or that has nothing to
 * learn) had no gradient buffer for its output (dlogits at offset -1, a heap
 * overflow in the trainer) and emitted C with unused-variable warnings. */
START_TEST(needs_learnable_parameters)
{
    static const char *const texts[] = {
        "net z() { input(1, 28, 28) flatten }",
        "net r() { input(784) relu }",
        "net p() { input(1, 28, 28) maxpool(2) flatten dropout(0.5) }",
    };
    static const char *const names[] = {"z", "r", "p"};
    char want[200];
    snprintf(want, sizeof want, "net %s has no learnable parameters: there is nothing to train "
             "(add a layer with weights, such as conv or linear)", names[_i]);
    plan_refuses(texts[_i], want);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("memory plan");
    tcase_add_loop_test(tc, seed_networks, 0, sizeof nets / sizeof *nets);
    tcase_add_loop_test(tc, branchy_networks, 0, 4);
    tcase_add_test(tc, output_must_be_flat);
    tcase_add_test(tc, relu_epilogues);
    tcase_add_test(tc, pool_grad_epilogues);
    tcase_add_test(tc, conv_grad_epilogues);
    tcase_add_loop_test(tc, bn_rows_by_conv, 0, 2);
    tcase_add_test(tc, conv_links);
    tcase_add_loop_test(tc, needs_learnable_parameters, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
