/* test_profile.c - suite "profile": the per-layer timing of --profile
 * (profile.c) on a hand-written layer table: laps add up per layer, pass and
 * phase; the table heads layers with their block calls (nested, with the
 * summed time of their layers), gives shares of the step and GFLOP/s from
 * the FLOPs and the examples; a reset forgets; the generated code's macros
 * do nothing without a profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nt_trainer.h"
#include "testutil.h"

/* input, conv1, then a block call b1 holding a nested call b1.inner with
 * one relu, then linear1 outside any call */
static const nt_layer_desc layers[] = {
    {.path = "input", .op = "input", .group = -1, .flops_forward = 0, .flops_backward = 0},
    {.path = "conv1", .op = "conv2d", .group = -1, .flops_forward = 2e6, .flops_backward = 4e6},
    {.path = "b1.inner.relu1", .op = "relu", .group = 1, .flops_forward = 1e3, .flops_backward = 1e3},
    {.path = "b1.add1", .op = "add", .group = 0, .flops_forward = 1e3, .flops_backward = 1e3},
    {.path = "linear1", .op = "linear", .group = -1, .flops_forward = 1e6, .flops_backward = 2e6},
};
static const nt_group_desc groups[] = {
    {"b1", "block(3)", -1},
    {"inner", "inner_block(1, 2)", 0},
};
static const nt_net_desc net = {
    .name = "fake", .layers = layers, .nlayers = 5, .groups = groups, .ngroups = 2,
};

/* Lines of the printed table. */
static char *print_table(const nt_profile *p, int steps, long examples, double wall)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    nt_profile_print(f, p, steps, examples, wall);
    fclose(f);
    return buf;
}

static const char *line_with(const char *text, const char *start)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *s = l;
        while (*s == ' ')
            s++;
        if (strncmp(s, start, strlen(start)) == 0)
            return l;
    }
    ck_abort_msg("no line starting with '%s' in:\n%s", start, text);
    return NULL;
}

START_TEST(laps_and_table)
{
    nt_error err = {{0}};
    nt_profile *p = nt_profile_alloc(&net, &err);
    ck_assert_ptr_nonnull(p);
    /* two steps: conv1 10 ms + 30 ms forward, 20 ms backward; the relu 5 ms,
     * the add 1 ms; data 4 ms. The laps return the clock they read. */
    for (int step = 0; step < 2; step++) {
        double now = nt_now();
        double t = nt_profile_lap(p, now - 0.010 - 0.020 * step, 1, NT_PROF_FORWARD);
        ck_assert(t >= now);
        nt_profile_lap(p, nt_now() - 0.005, 2, NT_PROF_FORWARD);
        nt_profile_lap(p, nt_now() - 0.001, 3, NT_PROF_BACKWARD);
        nt_profile_phase(p, nt_now() - 0.002, NT_PROF_DATA);
    }
    nt_profile_lap(p, nt_now() - 0.020, 1, NT_PROF_BACKWARD);
    /* linear1: a forward of a clock's lap (an activation fused into its
     * producer takes no time of its own), a 10 ms backward */
    nt_profile_lap(p, nt_now(), 4, NT_PROF_FORWARD);
    nt_profile_lap(p, nt_now() - 0.010, 4, NT_PROF_BACKWARD);
    nt_profile_lap(p, nt_now(), 99, NT_PROF_BACKWARD); /* out of range: ignored */
    char *text = print_table(p, 2, 100, 0.200);
    /* ms per step, share of the 100 ms step, GFLOP/s over 100 examples */
    const char *conv = line_with(text, "conv1");
    double fwd, bwd, share, gf, gb;
    ck_assert_int_eq(sscanf(conv, " conv1 conv2d %lf %lf %lf%% %lf %lf", &fwd, &bwd, &share,
                            &gf, &gb), 5);
    ck_assert_msg(fwd > 19.9 && fwd < 21 && bwd > 9.9 && bwd < 11, "conv1: %s", conv);
    ck_assert_msg(share > 29.9 && share < 32, "conv1: %s", conv);
    ck_assert_msg(gf > 4.7 && gf < 5.01 && gb > 18 && gb < 20.1, "conv1: %s", conv);
    /* groups head their layers, indented by depth, with summed times */
    const char *b1 = line_with(text, "b1  block(3)");
    const char *inner = line_with(text, "inner  inner_block(1, 2)");
    const char *relu = line_with(text, "b1.inner.relu1");
    const char *add = line_with(text, "b1.add1");
    const char *linear = line_with(text, "linear1");
    ck_assert(conv < b1 && b1 < inner && inner < relu && relu < add && add < linear);
    ck_assert(b1[0] == 'b' && strncmp(inner, "  inner", 7) == 0 &&
              strncmp(relu, "    b1.inner.relu1", 18) == 0 && strncmp(add, "  b1.add1", 9) == 0);
    double gfwd, gbwd;
    ck_assert_int_eq(sscanf(b1, "b1 block(3) %lf %lf", &gfwd, &gbwd), 2);
    ck_assert_msg(gfwd > 4.9 && gfwd < 5.5 && gbwd > 0.9 && gbwd < 1.3, "b1: %s", b1);
    ck_assert_int_eq(sscanf(line_with(text, "data (batch"), " data (batch preparation) %lf",
                            &fwd), 1);
    ck_assert_msg(fwd > 1.9 && fwd < 2.5, "data: %f ms per step", fwd);
    /* below 1 us a step the forward rate is left blank: the one rate on
     * linear1's line is its backward's, 2e6 FLOPs x 100 examples in 10 ms */
    double lin_gf;
    ck_assert_int_eq(sscanf(line_with(text, "linear1"), " linear1 linear %lf %lf %lf%% %lf %lf",
                            &fwd, &bwd, &share, &lin_gf, &gb), 4);
    ck_assert_msg(fwd < 0.001 && lin_gf > 18 && lin_gf < 20.1, "linear1: %s",
                  line_with(text, "linear1"));
    line_with(text, "optimizer (SGD step)");
    line_with(text, "other (untimed)");
    free(text);
    /* a reset forgets every sum */
    nt_profile_reset(p);
    text = print_table(p, 1, 1, 1.0);
    ck_assert_int_eq(sscanf(line_with(text, "conv1"), " conv1 conv2d %lf %lf", &fwd, &bwd), 2);
    ck_assert(fwd == 0 && bwd == 0);
    free(text);
    nt_profile_free(p);
}
END_TEST

START_TEST(macros_without_profile)
{
    nt_model m;
    memset(&m, 0, sizeof m);
    ck_assert(nt_prof_start(&m) == 0.0);
    ck_assert(nt_prof_lap(&m, 1.0, 1, NT_PROF_FORWARD) == 0.0);
    ck_assert(nt_prof_phase(&m, 1.0, NT_PROF_DATA) == 0.0);
    nt_error err = {{0}};
    m.prof = nt_profile_alloc(&net, &err);
    ck_assert(nt_prof_start(&m) > 0.0);
    nt_profile_free(m.prof);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_test(tc, laps_and_table);
    tcase_add_test(tc, macros_without_profile);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
