/* test_queries.c - suite "queries": shape queries (in.channels, in.height,
 * in.width, in.features, in.shape) read the inferred shape of the running
 * output while the net expands (compiler/expand.c, shapes.c's shape_node). */
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

#define NET(body) "net n { input(3, 32, 32) " body " }"

/* Compiles text and compares "op:shape ..." of every layer. */
static void assert_shapes(const char *text, const char *want)
{
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_OK(&t);
    char *got = ctest_shapes(&t);
    ck_assert_msg(strcmp(got, want) == 0, "shapes:\n  got  %s\n  want %s", got, want);
    free(got);
    ctest_free(&t);
}

static void assert_error(const char *text, const char *want)
{
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_ERROR(&t, want);
    ctest_free(&t);
}

/* The number of errors reported. */
static int nerrors(const char *text)
{
    ctest t;
    ctest_text(&t, text, NULL);
    int n = t.c.diag.nerrors;
    ctest_free(&t);
    return n;
}

START_TEST(queries_in_a_net)
{
    /* the running output: 3x32x32, then 8x30x30, then flat 7200 */
    assert_shapes(NET("conv(in.channels * 2, 3) conv(in.height / 3, 1) flatten linear(in.features / 100)"),
                  "conv2d:6x30x30 conv2d:10x30x30 flatten:9000 linear:90");
    assert_shapes(NET("let (c, h, w) = in.shape conv(c + h + w, 1)"), "conv2d:67x32x32");
    assert_shapes(NET("flatten let s = in.shape linear(len(s) + s[0] - 3072)"),
                  "flatten:3072 linear:1");
}
END_TEST

START_TEST(queries_in_loops)
{
    /* DenseNet's running channel count needs no bookkeeping */
    assert_shapes(NET("repeat 3 { conv(in.channels + 2, 1) }"),
                  "conv2d:5x32x32 conv2d:7x32x32 conv2d:9x32x32");
    assert_shapes(NET("for i in range(2) { maxpool(2) let h = in.height } flatten linear(h)"),
                  "maxpool2d:3x16x16 maxpool2d:3x8x8 flatten:192 linear:8");
}
END_TEST

static const char residual[] =
    "block residual(channels, stride = 1,\n"
    "               use_1x1conv = in.channels != channels or stride != 1) {\n"
    "  add {\n"
    "    branch { conv(channels, 3, padding = 1, stride = stride) batchnorm relu\n"
    "             conv(channels, 3, padding = 1) batchnorm }\n"
    "    branch { if use_1x1conv { conv(channels, 1, stride = stride) } }\n"
    "  }\n"
    "  relu\n"
    "}\n"
    "block transition() { batchnorm relu conv(in.channels / 2, 1) avgpool(2, stride = 2) }\n";

START_TEST(blocks_read_their_input)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", residual,
             NET("conv(16, 1) residual(16) residual(32, 2) transition"));
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_OK(&t);
    /* the same channels: no 1x1 conv; more channels and a stride: one */
    ck_assert_str_eq(t.c.graph.groups[0].label, "residual(16, 1, 0)");
    ck_assert_str_eq(t.c.graph.groups[1].label, "residual(32, 2, 1)");
    char *paths = ctest_paths(&t);
    ck_assert_msg(strstr(paths, "residual2.branch2.conv1") != NULL, "%s", paths);
    ck_assert_msg(strstr(paths, "residual1.branch2") == NULL, "%s", paths);
    free(paths);
    char *shapes = ctest_shapes(&t);
    ck_assert_msg(strstr(shapes, "conv2d:16x16x16 avgpool2d:16x8x8") != NULL, "%s", shapes);
    free(shapes);
    ctest_free(&t);
}
END_TEST

START_TEST(query_inside_branches)
{
    /* in a branch, in is the branch's running output */
    assert_shapes(NET("concat { branch { conv(in.channels, 1) } branch { maxpool(3, stride = 1, padding = 1) conv(in.width, 1) } }"),
                  "conv2d:3x32x32 maxpool2d:3x32x32 conv2d:32x32x32 concat:35x32x32");
}
END_TEST

START_TEST(query_errors)
{
    assert_error(NET("flatten linear(in.channels)"),
                 "test.net:1:41: error: in.channels: the input here is flat (3072 features); "
                 "in.features gives its size");
    assert_error(NET("linear(in.features)"),
                 "error: in.features: the input here is 3x32x32, not flat; flatten would give "
                 "3072 features");
    assert_error(NET("conv(in.chanels, 1)"),
                 "error: in has no field 'chanels' (did you mean 'channels'?); the fields are "
                 "channels, height, width, features and shape");
    assert_error("net n { let c = in.channels input(1, 8, 8) relu }",
                 "error: in.channels: nothing flows here yet; the net's input(C, H, W) comes first");
    assert_error("let c = in.channels\nnet n { input(1, 8, 8) relu }",
                 "test.net:1:9: error: in.channels is only known inside a net or a block");
    assert_error("net n(c = in.width) { input(1, 8, 8) relu }",
                 "error: in.width: nothing flows here yet");
}
END_TEST

START_TEST(shape_mistake_reported_where_it_happens)
{
    /* the pool that empties the map is reported at its line, once, naming
     * the iteration; the query after it adds no error of its own */
    const char *text = "net n {\n"
                       "  input(1, 8, 8)\n"
                       "  repeat 4 {\n"
                       "    maxpool(2)\n"
                       "    conv(in.height, 1)\n"
                       "  }\n"
                       "}\n";
    ctest t;
    ctest_text(&t, text, NULL);
    CTEST_ASSERT_ERROR(&t, "test.net:4:5: error: maxpool output would be empty");
    CTEST_ASSERT_ERROR(&t, "test.net:3:3: note: in iteration 4 of 4\n");
    ck_assert_int_eq(t.c.diag.nerrors, 1);
    ctest_free(&t);
    ck_assert_int_eq(nerrors(NET("rleu conv(in.channels, 1)")), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queries");
    TCase *tc = tcase_create("shape queries");
    tcase_add_test(tc, queries_in_a_net);
    tcase_add_test(tc, queries_in_loops);
    tcase_add_test(tc, blocks_read_their_input);
    tcase_add_test(tc, query_inside_branches);
    tcase_add_test(tc, query_errors);
    tcase_add_test(tc, shape_mistake_reported_where_it_happens);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
