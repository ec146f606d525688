/* test_export.c - suite "export": the emitters of `netc emit --inference`
 * (emit_infer.c) and `netc emit --pytorch` (emit_pytorch.c) on every seed
 * network, as text (test_infer and test_pytorch in the e2e suite run what
 * they write). Here: every checkpoint tensor is in the library's table and
 * in the module's attribute paths, the outputs are deterministic, the
 * library's buffer plan never lets two live buffers overlap, a layer
 * kind without a row is reported by name, and path segments that are Python
 * keywords (a branch named `lambda`) still make valid attribute access. Runs in the ASan build. */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "emit_infer.h"
#include "emit_pytorch.h"

static char *read_back(FILE *f)
{
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

typedef struct outputs {
    int rc_c, rc_py;
    char *c, *h, *py, *diags;
} outputs;

/* paths: check that each tensor's layer is assigned as self.PATH */
static void emit_all(const ir_graph *g, outputs *o, int paths)
{
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    plan p;
    ck_assert_int_eq(plan_memory(g, &ar, &d, &p), 0);
    FILE *c = tmpfile(), *h = tmpfile(), *py = tmpfile(), *dg = tmpfile();
    ck_assert(c && h && py && dg);
    infer_opts io = {"test", "netc emit --inference test.net", "test.h", NULL, 0};
    pytorch_opts po = {"test", "netc emit --pytorch test.net"};
    o->rc_c = emit_inference(g, &p, &io, &d, c, h);
    o->rc_py = emit_pytorch(g, &po, &d, py);
    diag_print(&d, dg);
    o->c = read_back(c);
    o->h = read_back(h);
    o->py = read_back(py);
    o->diags = read_back(dg);
    /* every checkpoint tensor: in the table, and as an attribute path */
    for (int t = 0; o->rc_c == 0 && t < p.ntensors; t++) {
        char want[600];
        snprintf(want, sizeof want, "{\"%s\", %d, {", p.tensors[t].name, p.tensors[t].ndim);
        ck_assert_msg(strstr(o->c, want), "tensor %s missing from the library", want);
        snprintf(want, sizeof want, "self.%s = ", g->nodes[p.tensors[t].node].path);
        ck_assert_msg(!paths || strstr(o->py, want), "%s missing from the module", want);
    }
    arena_free(&ar);
}

static void free_outputs(outputs *o)
{
    free(o->c);
    free(o->h);
    free(o->py);
    free(o->diags);
}

/* The inference plan (infer_layout_of): a buffer lives from its producer to
 * the last reader of any node stored in it; no two buffers alive at once
 * overlap; the scratch lies above them all; a node shares only its first
 * input's buffer, and only as a view (flatten, dropout, a folded batch
 * norm) or as an elementwise layer that nothing after it reads past; the
 * caller's input is never written. */
static void check_layout(const ir_graph *g, const infer_layout *l)
{
    const int n = g->n;
    int *end = calloc((size_t)n, sizeof(int));
    for (int i = 1; i < n; i++)
        for (int k = 0; k < g->nodes[i].ninputs; k++) {
            int r = l->root[g->nodes[i].inputs[k]];
            end[r] = end[r] > i ? end[r] : i;
        }
    end[l->root[n - 1]] = n; /* the logits are copied out last */
    for (int i = 1; i < n; i++) {
        const ir_node *nd = &g->nodes[i];
        const int r = l->root[i], x = nd->inputs[0];
        const char *why = NULL;
        if (r == i) {
            if (l->off[i] < 0 || l->off[i] + shape_size(&nd->out) > l->scratch)
                why = "outside the buffers";
        } else if (r != l->root[x]) {
            why = "shares a buffer other than its first input's";
        } else {
            int view = nd->kind == L_FLATTEN || nd->kind == L_DROPOUT ||
                       (nd->kind == L_BATCHNORM && l->fold[i] >= 0);
            int elementwise = nd->kind == L_RELU || nd->kind == L_SIGMOID ||
                              nd->kind == L_TANH || nd->kind == L_BATCHNORM || nd->kind == L_ADD;
            if (!view && (!elementwise || r == 0))
                why = "overwrites its input";
            for (int v = 1; !view && !why && v < i; v++) /* nothing reads the old data later */
                for (int u = i + 1; l->root[v] == r && u < n; u++)
                    for (int k = 0; k < g->nodes[u].ninputs; k++)
                        if (g->nodes[u].inputs[k] == v)
                            why = "overwrites data read later";
        }
        ck_assert_msg(!why, "%s: node %d (%s) %s", g->name, i, nd->path, why);
        for (int j = 1; r == i && j < i; j++) /* alive together: disjoint */
            if (l->root[j] == j && end[j] >= i)
                ck_assert_msg(l->off[i] >= l->off[j] + shape_size(&g->nodes[j].out) ||
                                  l->off[j] >= l->off[i] + shape_size(&nd->out),
                              "%s: %s and %s overlap while both alive", g->name, nd->path,
                              g->nodes[j].path);
    }
    ck_assert(l->floats >= l->scratch);
    free(end);
}

/* With and without batch-norm folding. */
static void check_layouts(const ir_graph *g)
{
    for (int no_fold = 0; no_fold < 2; no_fold++) {
        arena ar = {0};
        diag d;
        diag_init(&d, &ar);
        plan p;
        infer_layout l;
        ck_assert_int_eq(plan_memory(g, &ar, &d, &p), 0);
        ck_assert_int_eq(infer_layout_of(g, &p, no_fold, &ar, &l), 0);
        check_layout(g, &l);
        arena_free(&ar);
    }
}

static const char *const nets[] = {"lenet", "lenet_bn", "alexnet", "vgg",
                                   "nin", "googlenet", "resnet18"};

START_TEST(seed_networks)
{
    char path[64];
    snprintf(path, sizeof path, "nets/%s.net", nets[_i]);
    ctest t;
    ctest_file(&t, ctest_src(path), NULL);
    CTEST_ASSERT_OK(&t);
    outputs a, b;
    emit_all(&t.c.graph, &a, 1);
    emit_all(&t.c.graph, &b, 1);
    ck_assert_msg(a.rc_c == 0 && a.rc_py == 0, "%s", a.diags);
    ck_assert_msg(strcmp(a.c, b.c) == 0 && strcmp(a.h, b.h) == 0 && strcmp(a.py, b.py) == 0,
                  "%s: not deterministic", nets[_i]);
    ck_assert(strstr(a.c, "_predict(const ") && strstr(a.h, "_WORKSPACE_FLOATS "));
    ck_assert(strstr(a.py, "def load_netc_checkpoint(module, path):"));
    check_layouts(&t.c.graph);
    free_outputs(&a);
    free_outputs(&b);
    ctest_free(&t);
}
END_TEST

START_TEST(branchy_layouts)
{
    static const char *const texts[] = {
        /* elementwise layers on a buffer another branch still reads; x + x */
        "net a { input(4, 8, 8) conv(4, 3, padding = 1) relu add { branch { relu } branch { } "
        "branch { sigmoid batchnorm } } add { branch { } branch { } } tanh flatten "
        "concat { branch { linear(5) batchnorm } branch { dropout(0.5) linear(3) } } linear(10) }",
        /* the input feeding elementwise layers and joins directly */
        "net b { input(3, 6, 6) add { branch { relu } branch { } } concat { branch { } "
        "branch { batchnorm } } conv(3, 1) batchnorm relu flatten linear(10) }",
        /* a conv whose output feeds its batch norm and another layer: not folded */
        "net c { input(2, 6, 6) conv(2, 3, padding = 1) add { branch { batchnorm } branch { } } "
        "flatten linear(4) }",
    };
    ctest t;
    ctest_text(&t, texts[_i], NULL);
    CTEST_ASSERT_OK(&t);
    check_layouts(&t.c.graph);
    ctest_free(&t);
}
END_TEST

START_TEST(unsupported_kind_is_reported)
{
    ctest t;
    ctest_file(&t, ctest_src("nets/lenet.net"), NULL);
    CTEST_ASSERT_OK(&t);
    t.c.graph.nodes[2].kind = L_ERROR; /* stands for a kind added without a row */
    arena ar = {0};
    diag d;
    diag_init(&d, &ar);
    plan p;
    ck_assert_int_eq(plan_memory(&t.c.graph, &ar, &d, &p), 0);
    FILE *c = tmpfile(), *h = tmpfile(), *py = tmpfile(), *dg = tmpfile();
    infer_opts io = {"test", "cmd", "test.h", NULL, 0};
    pytorch_opts po = {"test", "cmd"};
    ck_assert_int_eq(emit_inference(&t.c.graph, &p, &io, &d, c, h), -1);
    ck_assert_int_eq(emit_pytorch(&t.c.graph, &po, &d, py), -1);
    ck_assert_int_eq(ftell(c) + ftell(h) + ftell(py), 0); /* nothing written */
    diag_print(&d, dg);
    char *s = read_back(dg);
    const char *path = t.c.graph.nodes[2].path;
    char want[200];
    snprintf(want, sizeof want,
             "error: netc emit --inference does not support layer kind 'error' yet (%s)", path);
    ck_assert_msg(strstr(s, want), "missing \"%s\" in:\n%s", want, s);
    snprintf(want, sizeof want,
             "error: netc emit --pytorch does not support layer kind 'error' yet (%s)", path);
    ck_assert_msg(strstr(s, want), "missing \"%s\" in:\n%s", want, s);
    ck_assert_msg(strstr(s, "lenet.net:"), "no location in:\n%s", s);
    free(s);
    fclose(c);
    fclose(h);
    fclose(py);
    arena_free(&ar);
    ctest_free(&t);
}
END_TEST

START_TEST(python_keywords_in_paths)
{
    ctest t;
    ctest_text(&t,
               "block pass(c) { add { branch lambda { conv(c, 3, padding = 1) batchnorm } "
               "branch { } } relu }\n"
               "net n { input(1, 8, 8) pass(1) flatten linear(10) }\n",
               NULL);
    CTEST_ASSERT_OK(&t);
    outputs o;
    emit_all(&t.c.graph, &o, 0);
    ck_assert_msg(o.rc_py == 0, "%s", o.diags);
    ck_assert_msg(strstr(o.py, "self.pass1.add_module('lambda', Block())") &&
                      strstr(o.py, "getattr(self.pass1, 'lambda').conv1 = nn.Conv2d(") &&
                      strstr(o.py, " = getattr(self.pass1, 'lambda').batchnorm1(t"),
                  "%s", o.py);
    free_outputs(&o);
    ctest_free(&t);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("emitters");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, seed_networks, 0, 7);
    tcase_add_loop_test(tc, branchy_layouts, 0, 3);
    tcase_add_test(tc, unsupported_kind_is_reported);
    tcase_add_test(tc, python_keywords_in_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(export_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
