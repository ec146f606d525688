/* test_recipe.c - the training recipe (recipe.c, optim.c): settings parse and
 * check; every optimizer (SGD, momentum and weight decay, Nesterov, Adam,
 * AdamW, with gradient clipping) and every lr schedule against PyTorch over
 * 20 steps; label smoothing against CrossEntropyLoss(label_smoothing=). The
 * fixtures come from tools/fixtures/recipes.py. */
#include "nt_recipe.h"
#include "nt_trainer.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/recipes_torch.h"

/* ---- settings ----------------------------------------------------------------- */

START_TEST(test_defaults_and_parsing)
{
    nt_recipe r;
    nt_error err = {{0}};
    nt_recipe_defaults(&r);
    /* every default is valid text for its own row */
    for (int i = 0; i < nt_recipe_nrows; i++) {
        nt_recipe t = r;
        ck_assert_msg(nt_recipe_set(&t, &nt_recipe_rows[i], nt_recipe_rows[i].def,
                                    nt_recipe_rows[i].name, &err) == 0, "%s", err.msg);
    }
    ck_assert_int_eq(r.optimizer, NT_OPTIM_SGD);
    ck_assert(r.betas.n == 2 && r.betas.v[0] == 0.9 && r.betas.v[1] == 0.999);
    ck_assert(r.eps == 1e-8 && r.gamma == 0.1);
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0, &err), 0);
    char buf[512];
    nt_recipe_describe(buf, sizeof buf, &r);
    ck_assert_str_eq(buf, "");

    ck_assert_int_eq(nt_recipe_apply(&r, "optimizer=adamw betas=0.8,0.9 mean=0.5,0.4,0.3 "
                                         "std=0.2,0.2,0.2 flip=true crop_padding=4", &err), 0);
    ck_assert_int_eq(r.optimizer, NT_OPTIM_ADAMW);
    ck_assert(r.mean.n == 3 && r.mean.v[2] == 0.3 && r.flip && r.crop_padding == 4);
    nt_recipe_describe(buf, sizeof buf, &r);
    ck_assert_str_eq(buf, "optimizer=adamw betas=0.8,0.9 mean=0.5,0.4,0.3 std=0.2,0.2,0.2 "
                          "crop_padding=4 flip=true");
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0, &err), 0);
    ck_assert_int_eq(nt_recipe_check(&r, 1, 28, 28, 0, &err), -1);
    ck_assert_str_eq(err.msg, "mean and std have 3 values, but the net takes 1 input channel");
    ck_assert_int_eq(nt_recipe_check(&r, 3, 1, 1, 0, &err), -1);
    ck_assert_str_eq(err.msg, "mean and std normalise image channels, but the net takes a "
                              "flat input of 3 features");

    ck_assert_int_eq(nt_recipe_apply(&r, "optimizer=adagrad", &err), -1);
    ck_assert_str_eq(err.msg, "optimizer needs one of: sgd adam adamw; got 'adagrad'");
    ck_assert_int_eq(nt_recipe_apply(&r, "betas=0.9", &err), -1);
    ck_assert_str_eq(err.msg, "betas needs 2 numbers separated by a comma, got '0.9'");
    ck_assert_int_eq(nt_recipe_apply(&r, "eps=-1", &err), -1);
    ck_assert_str_eq(err.msg, "eps needs a number from 0 to 1, got '-1'");
    ck_assert_int_eq(nt_recipe_apply(&r, "warmup=1.5", &err), -1);
    ck_assert_str_eq(err.msg, "warmup needs an integer from 0 to 100000000, got '1.5'");
    ck_assert_int_eq(nt_recipe_apply(&r, "bogus=1", &err), -1);
    ck_assert_str_eq(err.msg, "unknown setting 'bogus'");

    nt_recipe_defaults(&r);
    ck_assert_int_eq(nt_recipe_apply(&r, "lr_schedule=multistep", &err), 0);
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0, &err), -1);
    ck_assert_str_eq(err.msg, "lr_schedule multistep needs milestones");
    ck_assert_int_eq(nt_recipe_apply(&r, "milestones=5,3", &err), 0);
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0, &err), -1);
    ck_assert_str_eq(err.msg, "milestones must be increasing integers");
    nt_recipe_defaults(&r);
    ck_assert_int_eq(nt_recipe_apply(&r, "nesterov=true", &err), 0);
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0, &err), -1);
    ck_assert_str_eq(err.msg, "nesterov needs optimizer sgd with a momentum above 0");
    ck_assert_int_eq(nt_recipe_check(&r, 3, 32, 32, 0.9, &err), 0);
}
END_TEST

/* ---- optimizers against torch.optim ---------------------------------------------- */

static nt_tensor_desc fake_tensors[2] = {
    {"a.weight", 2, {8, 5, 0, 0}, 0, OPT_N0, NT_INIT_ZEROS, 0, 0, 1},
    {"a.bias", 1, {OPT_N - OPT_N0, 0, 0, 0}, OPT_N0, OPT_N - OPT_N0, NT_INIT_ZEROS, 0, 0, 1},
};

START_TEST(test_optimizers_match_torch)
{
    const int c = _i;
    nt_net_desc net;
    memset(&net, 0, sizeof net);
    net.name = "fake";
    net.tensors = fake_tensors;
    net.ntensors = 2;
    net.param_floats = OPT_N;
    float params[OPT_N], grads[OPT_N], mom[OPT_N] = {0}, mom2[OPT_N] = {0};
    nt_model m;
    memset(&m, 0, sizeof m);
    m.net = &net;
    m.params = params;
    m.grads = grads;
    m.momentum = mom;
    m.moment2 = mom2;
    memcpy(params, opt_init, sizeof params);

    nt_recipe r;
    nt_error err = {{0}};
    nt_recipe_defaults(&r);
    ck_assert_msg(nt_recipe_apply(&r, opt_cases[c].settings, &err) == 0, "%s", err.msg);
    const nt_optim_config oc = nt_recipe_config(&r, opt_cases[c].lr, opt_cases[c].momentum,
                                                opt_cases[c].weight_decay);
    double worst = 0;
    for (int k = 0; k < OPT_STEPS; k++) {
        for (int i = 0; i < OPT_N; i++)
            grads[i] = opt_grads[k * OPT_N + i] + 0.5f * params[i];
        nt_optim_step(&m, &oc);
        m.step++;
        const float *want = opt_traj + ((size_t)c * OPT_STEPS + k) * OPT_N;
        char what[96];
        snprintf(what, sizeof what, "%s step %d", opt_cases[c].name, k + 1);
        /* float32 on both sides, different operation order in places (the
         * clip norm's reduction): a few ulps per step, growing slowly */
        TU_ASSERT_CLOSE(what, params, want, OPT_N, 2e-6, 2e-5);
        tu_diff d = tu_compare(params, want, OPT_N, 0, 0);
        if (d.max_abs > worst)
            worst = d.max_abs;
    }
    if (getenv("NETC_TEST_VERBOSE"))
        printf("%-18s 20 steps: max abs error %.3g\n", opt_cases[c].name, worst);
}
END_TEST

/* ---- schedules against torch.optim.lr_scheduler ------------------------------------ */

START_TEST(test_schedules_match_torch)
{
    const int c = _i;
    nt_recipe r;
    nt_error err = {{0}};
    nt_recipe_defaults(&r);
    ck_assert_msg(nt_recipe_apply(&r, sched_cases[c].settings, &err) == 0, "%s", err.msg);
    for (int t = 0; t < SCHED_STEPS; t++) {
        const double got = nt_recipe_lr(&r, 0.1, t, SCHED_STEPS);
        const double want = sched_lrs[c * SCHED_STEPS + t];
        ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15,
                      "%s epoch %d: lr %.17g, torch %.17g", sched_cases[c].name, t, got,
                      want);
    }
}
END_TEST

START_TEST(test_per_iteration_counts_steps)
{
    nt_recipe r;
    nt_error err = {{0}};
    nt_recipe_defaults(&r);
    ck_assert_int_eq(nt_recipe_apply(&r, "lr_schedule=cosine lr_step_per=iteration", &err), 0);
    ck_assert_int_eq(r.per_iteration, 1);
    /* halfway through 100 iterations: half the lr */
    ck_assert(fabs(nt_recipe_lr(&r, 0.2, 50, 100) - 0.1) < 1e-15);
}
END_TEST

/* ---- label smoothing against CrossEntropyLoss ------------------------------------ */

START_TEST(test_label_smoothing_matches_torch)
{
    float p[LS_N * LS_K], g[LS_N * LS_K] = {0};
    float loss = nt_softmax_xent_forward(p, NULL, ls_logits, ls_labels, LS_N, LS_K, 0.2f);
    ck_assert_msg(fabsf(loss - ls_loss) <= 1e-6f, "loss %.9g, torch %.9g", (double)loss,
                  (double)ls_loss);
    nt_softmax_xent_backward(g, p, ls_labels, LS_N, LS_K, 0.2f);
    TU_ASSERT_CLOSE("smoothed dlogits", g, ls_dlogits, LS_N * LS_K, 1e-7, 1e-5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("recipe");
    TCase *tc = tcase_create("settings");
    tcase_add_test(tc, test_defaults_and_parsing);
    suite_add_tcase(s, tc);
    tc = tcase_create("optimizers");
    tcase_add_loop_test(tc, test_optimizers_match_torch, 0, OPT_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedules");
    tcase_add_loop_test(tc, test_schedules_match_torch, 0, SCHED_COUNT);
    tcase_add_test(tc, test_per_iteration_counts_steps);
    suite_add_tcase(s, tc);
    tc = tcase_create("loss");
    tcase_add_test(tc, test_label_smoothing_matches_torch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
