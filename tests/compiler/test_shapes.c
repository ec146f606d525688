/* test_shapes.c - suite "shapes": shape inference (compiler/shapes.c) for
 * every network in nets/ against PyTorch, and shape errors with their
 * arithmetic.
 *
 * The expected shapes come from tests/compiler/fixtures/shapes_*.txt, made by
 * tools/fixtures/shapes.py from the seed's PyTorch modules (traced with
 * torch.fx so functional relu, cat and += count as layers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

/* Compares the compiled net, line by line, with a fixture. */
static void check_fixture(const char *net, const char *fixture, const char *const *defines)
{
    ctest t;
    char path[256];
    snprintf(path, sizeof path, "nets/%s.net", net);
    ctest_file(&t, ctest_src(path), defines);
    CTEST_ASSERT_OK(&t);
    snprintf(path, sizeof path, "tests/compiler/fixtures/shapes_%s.txt", fixture);
    FILE *f = fopen(ctest_src(path), "r");
    ck_assert_msg(f != NULL, "missing fixture %s", path);
    const ir_graph *g = &t.c.graph;
    char line[256];
    int i = 1, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#')
            continue;
        long long total;
        if (sscanf(line, "total %lld", &total) == 1) {
            ck_assert_msg(g->total_params == total, "%s: %lld parameters, PyTorch has %lld",
                          fixture, (long long)g->total_params, total);
            continue;
        }
        ck_assert_msg(i < g->n, "%s: netc has %d layers, PyTorch more (line %d: %s)", fixture,
                      g->n - 1, lineno, line);
        const ir_node *n = &g->nodes[i];
        char shp[64], got[256];
        snprintf(got, sizeof got, "%s %s %lld", layer_op(n->kind),
                 shape_str(&n->out, shp, sizeof shp), (long long)n->params);
        ck_assert_msg(strcmp(got, line) == 0, "%s layer %d (%s): netc '%s', PyTorch '%s'",
                      fixture, i, n->path, got, line);
        i++;
    }
    fclose(f);
    ck_assert_msg(i == g->n, "%s: netc has %d layers, PyTorch %d", fixture, g->n - 1, i - 1);
    ctest_free(&t);
}

START_TEST(lenet) { check_fixture("lenet", "lenet", NULL); }
END_TEST
START_TEST(lenet_bn) { check_fixture("lenet_bn", "lenet_bn", NULL); }
END_TEST
START_TEST(alexnet) { check_fixture("alexnet", "alexnet", NULL); }
END_TEST
START_TEST(vgg_quarter) { check_fixture("vgg", "vgg", NULL); }
END_TEST
START_TEST(vgg11)
{
    const char *defs[] = {"ratio=1", NULL};
    check_fixture("vgg", "vgg_ratio1", defs);
}
END_TEST
START_TEST(nin) { check_fixture("nin", "nin", NULL); }
END_TEST
START_TEST(googlenet) { check_fixture("googlenet", "googlenet", NULL); }
END_TEST
START_TEST(resnet18) { check_fixture("resnet18", "resnet18", NULL); }
END_TEST
START_TEST(resnet18_224)
{
    const char *defs[] = {"size=224", NULL};
    check_fixture("resnet18", "resnet18_224", defs);
}
END_TEST

/* beyond the chapter: grouped, depthwise and dilated convolutions and the
 * newer kinds (kinds.net at 16 and at 20, where ceil mode rounds up) */
START_TEST(modern_kinds)
{
    check_fixture("mobilenet", "mobilenet", NULL);
    check_fixture("resnext", "resnext", NULL);
    check_fixture("../tests/e2e/nets/kinds", "kinds", NULL);
    const char *at20[] = {"size=20", NULL};
    check_fixture("../tests/e2e/nets/kinds", "kinds_20", at20);
}
END_TEST

START_TEST(reduced_sizes)
{
    /* the -D variants the parity fixtures use */
    const char *alex[] = {"size=67", "ratio=8", "hidden=64", NULL};
    check_fixture("alexnet", "alexnet_small", alex);
    const char *vgg[] = {"size=32", "ratio=16", "hidden=64", NULL};
    check_fixture("vgg", "vgg_small", vgg);
    const char *nin[] = {"size=67", "ratio=8", NULL};
    check_fixture("nin", "nin_small", nin);
    const char *goog[] = {"size=32", "ratio=8", NULL};
    check_fixture("googlenet", "googlenet_small", goog);
    const char *res[] = {"size=32", "width=8", NULL};
    check_fixture("resnet18", "resnet18_small", res);
}
END_TEST

START_TEST(alexnet_flatten_is_6400)
{
    ctest t;
    ctest_file(&t, ctest_src("nets/alexnet.net"), NULL);
    CTEST_ASSERT_OK(&t);
    const ir_graph *g = &t.c.graph;
    int found = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].kind == L_FLATTEN) {
            ck_assert_int_eq(g->nodes[i].out.d[0], 6400);
            found = 1;
        }
    ck_assert(found);
    ctest_free(&t);
}
END_TEST

START_TEST(googlenet_last_inception_is_1024x3x3)
{
    ctest t;
    ctest_file(&t, ctest_src("nets/googlenet.net"), NULL);
    CTEST_ASSERT_OK(&t);
    const ir_graph *g = &t.c.graph;
    const ir_node *gap = NULL;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].kind == L_ADAPTIVE_AVGPOOL)
            gap = &g->nodes[i];
    ck_assert_ptr_nonnull(gap);
    const shape *in = &g->nodes[gap->inputs[0]].out;
    ck_assert(in->rank == 3 && in->d[0] == 1024 && in->d[1] == 3 && in->d[2] == 3);
    ctest_free(&t);
}
END_TEST

START_TEST(flops_and_totals)
{
    ctest t;
    ctest_text(&t, "net n { input(3, 10, 10) conv(4, 3) relu flatten linear(5) }", NULL);
    CTEST_ASSERT_OK(&t);
    const ir_node *n = t.c.graph.nodes;
    /* conv: 2 * (3*3*3) * 4 * 8*8 multiply-adds + 4*8*8 bias adds */
    ck_assert_int_eq(n[1].flops, 2 * 27 * 4 * 64 + 4 * 64);
    ck_assert_int_eq(n[1].params, 27 * 4 + 4);
    ck_assert_int_eq(n[2].flops, 4 * 64);
    ck_assert_int_eq(n[4].flops, 2 * 256 * 5 + 5);
    ck_assert_int_eq(t.c.graph.total_params, 27 * 4 + 4 + 256 * 5 + 5);
    ck_assert_int_eq(t.c.graph.total_flops, n[1].flops + n[2].flops + n[4].flops);
    ctest_free(&t);
}
END_TEST

START_TEST(pytorch_window_semantics)
{
    ctest t;
    /* floor mode; pool stride defaults to the kernel; padding on both sides */
    ctest_text(&t, "net n { input(1, 7, 9) maxpool(2) avgpool(3, stride = 2, padding = 1) "
                   "conv(2, (1, 3), stride = (2, 1), padding = (0, 1)) adaptive_avgpool(1) "
                   "flatten batchnorm }",
               NULL);
    CTEST_ASSERT_OK(&t);
    char *s = ctest_shapes(&t);
    ck_assert_str_eq(s, "maxpool2d:1x3x4 avgpool2d:1x2x2 conv2d:2x1x2 adaptive_avgpool2d:2x1x1 "
                        "flatten:2 batchnorm:2");
    free(s);
    ctest_free(&t);
    /* ceil mode (PyTorch gives 2, 3, 3 for 5, 6, 7 and 3, 3, 4 with kernel 2):
     * the last window must start inside the input or its left padding;
     * dilation spans d*(k-1)+1; adaptive sizes n mean (n, n) */
    ctest_text(&t, "net n { input(2, 5, 7) maxpool(3, stride = 3, padding = 1, ceil_mode = true) "
                   "maxpool(2, stride = 1, ceil_mode = true) "
                   "conv(4, 2, dilation = 2, padding = 1, groups = 2) adaptive_maxpool(3) "
                   "adaptive_avgpool(4, 1) flatten layernorm groupnorm(2) }",
               NULL);
    CTEST_ASSERT_OK(&t);
    s = ctest_shapes(&t);
    ck_assert_str_eq(s, "maxpool2d:2x2x3 maxpool2d:2x1x2 conv2d:4x1x2 adaptive_maxpool2d:4x3x3 "
                        "adaptive_avgpool2d:4x4x1 flatten:16 layernorm:16 groupnorm:16");
    free(s);
    ctest_free(&t);
}
END_TEST

#define ASSERT_SHAPE_ERROR(text, want)                                        \
    do {                                                                      \
        ctest t_;                                                             \
        ctest_text(&t_, (text), NULL);                                        \
        CTEST_ASSERT_ERROR(&t_, (want));                                      \
        ctest_free(&t_);                                                      \
    } while (0)

START_TEST(empty_output_shows_arithmetic)
{
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) conv(4, 11) }",
                       "conv output would be empty: height (5 + 2*0 - 11) / 1 + 1 = -5, "
                       "width (5 + 2*0 - 11) / 1 + 1 = -5; the 11x11 window is larger than "
                       "the padded 5x5 input");
    ASSERT_SHAPE_ERROR("net n { input(1, 28, 3) maxpool(2, stride = 2) maxpool(2) }",
                       "maxpool output would be empty: width (1 + 2*0 - 2) / 2 + 1 = 0; the "
                       "2x2 window is larger than the padded 14x1 input");
}
END_TEST

START_TEST(groups_must_divide)
{
    ASSERT_SHAPE_ERROR("net n { input(6, 8, 8) conv(8, 3, groups = 4) }",
                       "conv: groups must divide the input channels, got 6 input channels "
                       "(6x8x8) and groups = 4");
    ASSERT_SHAPE_ERROR("net n { input(6, 8, 8) conv(9, 3, groups = 3) conv(8, 1, groups = 3) }",
                       "conv: groups must divide the output channels, got 8 output channels "
                       "and groups = 3");
    ASSERT_SHAPE_ERROR("net n { input(6, 8, 8) groupnorm(4) }",
                       "groupnorm: groups must divide the channels, got 6 channels (6x8x8) and "
                       "groups = 4");
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) conv(4, 3, dilation = 3) }",
                       "conv output would be empty: height (5 + 2*0 - 7) / 1 + 1 = -1");
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) adaptive_maxpool }",
                       "adaptive_maxpool: missing argument 'size'");
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) adaptive_avgpool((2, 2), 3) }",
                       "adaptive_avgpool: size must be an integer, got a tuple (2, 2)");
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) avgpool(2, ceil_mode = true) }",
                       "avgpool has no argument 'ceil_mode'");
    ASSERT_SHAPE_ERROR("net n { input(1, 5, 5) softplus(beta = 0) }",
                       "softplus: beta must not be 0");
}
END_TEST

START_TEST(linear_needs_flatten)
{
    ASSERT_SHAPE_ERROR("net n { input(16, 5, 5) linear(10) }",
                       "linear expects a flat input, got 16x5x5; add flatten before it "
                       "(it would give 16*5*5 = 400 features)");
    ASSERT_SHAPE_ERROR("net n { input(1, 8, 8) flatten conv(2, 1) }",
                       "conv expects a C x H x W input, got 64 features");
}
END_TEST

START_TEST(join_mismatches)
{
    ASSERT_SHAPE_ERROR("net n { input(8, 28, 28) concat { branch { conv(4, 1) } "
                       "branch { conv(4, 2) } } }",
                       "concat joins along channels, so heights and widths must match: "
                       "branch 1 gives 4x28x28 but branch 2 gives 4x27x27");
    ASSERT_SHAPE_ERROR("net n { input(64, 28, 28) add { branch { conv(128, 3, padding = 1, "
                       "stride = 2) } branch { } } }",
                       "add needs equal shapes: branch 1 gives 128x14x14 but branch 2 gives "
                       "64x28x28 (empty: its input unchanged)");
}
END_TEST

START_TEST(stated_channels_checked_at_the_call)
{
    const char *text = "block blk(in_channels, c) {\n"
                       "  input(in_channels)\n"
                       "  conv(c, 1)\n"
                       "}\n"
                       "net n {\n"
                       "  input(3, 8, 8)\n"
                       "  blk(3, 16)\n"
                       "  blk(32, 8)\n"
                       "}\n";
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_ERROR(&t, "test.net:8:3: error: blk: the call states 32 input channels, "
                           "but its input 16x8x8 has 16");
    CTEST_ASSERT_ERROR(&t, "test.net:2:3: note: stated by this input(...) of block 'blk'");
    ck_assert_msg(strstr(t.diags, "test.net:7:") == NULL, "the first call is right:\n%s",
                  t.diags);
    ctest_free(&t);
}
END_TEST

START_TEST(googlenet_wrong_inception_channels)
{
    /* the design card's example call, with a wrong input channel count */
    ctest t;
    ctest_text(&t, "import \"googlenet.net\"\n"
                   "net g { input(1, 96, 96) conv(64, 7, stride = 2, padding = 3) "
                   "inception(192, 64, (96, 128), (16, 32), 32) }",
               NULL);
    CTEST_ASSERT_ERROR(&t, "inception: the call states 192 input channels, but its input "
                           "64x48x48 has 64");
    ctest_free(&t);
}
END_TEST

START_TEST(resize_must_match_input)
{
    ASSERT_SHAPE_ERROR("net n { input(1, 96, 96) train(resize = 224) relu }",
                       "train: resize = 224 but the input is 1x96x96");
}
END_TEST

START_TEST(independent_errors_reported_together)
{
    ctest t;
    ctest_text(&t, "net n {\n input(8, 10, 10)\n concat {\n"
                   "  branch { conv(4, 20) }\n"
                   "  branch { convv(4, 1) }\n"
                   "  branch { maxpool(30) }\n }\n}",
               NULL);
    CTEST_ASSERT_ERROR(&t, "test.net:4:12: error: conv output would be empty");
    CTEST_ASSERT_ERROR(&t, "test.net:5:12: error: unknown layer or block 'convv'");
    CTEST_ASSERT_ERROR(&t, "test.net:6:12: error: maxpool output would be empty");
    ctest_free(&t);
}
END_TEST

START_TEST(no_cascade_after_a_failed_layer)
{
    ctest t;
    ctest_text(&t, "net n { input(1, 8, 8) convv(4, 3) linear(10) }", NULL);
    CTEST_ASSERT_ERROR(&t, "unknown layer or block 'convv'");
    ck_assert_msg(strstr(t.diags, "error: linear") == NULL, "no follow-on error:\n%s", t.diags);
    ctest_free(&t);
}
END_TEST

START_TEST(too_large)
{
    ASSERT_SHAPE_ERROR("net n { input(1, 4096, 4096) conv(1000000, 1) }",
                       "conv output 1000000x4096x4096 has");
    ASSERT_SHAPE_ERROR("net n { input(1, 8, 8) flatten linear(100000000) linear(100000000) }",
                       "linear weight 100000000x64 is too large");
}
END_TEST

static Suite *shapes_suite(void)
{
    Suite *s = suite_create("shapes");
    TCase *nets = tcase_create("seed networks against PyTorch");
    tcase_add_test(nets, lenet);
    tcase_add_test(nets, lenet_bn);
    tcase_add_test(nets, alexnet);
    tcase_add_test(nets, vgg_quarter);
    tcase_add_test(nets, vgg11);
    tcase_add_test(nets, nin);
    tcase_add_test(nets, googlenet);
    tcase_add_test(nets, resnet18);
    tcase_add_test(nets, resnet18_224);
    tcase_add_test(nets, reduced_sizes);
    tcase_add_test(nets, modern_kinds);
    tcase_add_test(nets, alexnet_flatten_is_6400);
    tcase_add_test(nets, googlenet_last_inception_is_1024x3x3);
    suite_add_tcase(s, nets);
    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, flops_and_totals);
    tcase_add_test(rules, pytorch_window_semantics);
    suite_add_tcase(s, rules);
    TCase *errors = tcase_create("shape errors");
    tcase_add_test(errors, empty_output_shows_arithmetic);
    tcase_add_test(errors, groups_must_divide);
    tcase_add_test(errors, linear_needs_flatten);
    tcase_add_test(errors, join_mismatches);
    tcase_add_test(errors, stated_channels_checked_at_the_call);
    tcase_add_test(errors, googlenet_wrong_inception_channels);
    tcase_add_test(errors, resize_must_match_input);
    tcase_add_test(errors, independent_errors_reported_together);
    tcase_add_test(errors, no_cascade_after_a_failed_layer);
    tcase_add_test(errors, too_large);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shapes_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
