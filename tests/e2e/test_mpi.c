/* test_mpi.c - suite "mpi": data-parallel trainers (netc build --mpi) under
 * `mpirun -np 2`, one thread per process. Built and run only when meson
 * finds Open MPI and mpirun (CI installs them).
 *
 * Two processes sharing every batch must compute what one process computes
 * with the same global batch: BN-LeNet trained 20 steps on the real data and
 * a small ResNet trained 20 steps on fixed random batches give the same
 * weights as one process within 1e-5 of each tensor's largest value (the
 * order of the sums is the only difference). Checkpoints move between the
 * two, evaluation is split and reduced, and a broken job (different
 * options, a rank killed, a rank stuck, rank 0 unable to write) ends every
 * process with a message instead of hanging. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "nt_io.h"

#define TOL 1e-5
/* A gradient is one step's float sums over the batch, in another order with
 * two processes, and not damped by a learning rate like the weights. */
#define GRAD_TOL 1e-4
/* Every mpirun is bounded: a hang fails the test instead of the suite. */
#define MPIRUN "timeout 300 mpirun --allow-run-as-root --oversubscribe"

static const char *lenet(void)
{
    static char bin[4096];
    if (!bin[0])
        snprintf(bin, sizeof bin, "%s", e2e_build("lenet_bn.net", "--mpi", "lenet_bn_mpi"));
    return bin;
}

/* ResNet-18's stem and first two stages at 32x32 (tests/e2e/resnet_small.net) */
static const char *resnet(void)
{
    static char bin[4096];
    if (!bin[0]) {
        char opts[4096];
        snprintf(opts, sizeof opts, "--mpi -I '%s/nets'", NETC_SOURCE_DIR);
        snprintf(bin, sizeof bin, "%s",
                 e2e_build("../tests/e2e/resnet_small.net", opts, "resnet_small_mpi"));
    }
    return bin;
}

/* "momentum.conv1.bias" -> length of "momentum.conv1" */
static size_t layer_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

static double max_abs(const nt_safetensors *st, const nt_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    float *x = malloc((n ? n : 1) * sizeof *x);
    nt_st_copy_f32(st, t, x);
    double m = 0;
    for (size_t k = 0; k < n; k++)
        m = fmax(m, fabs(x[k]));
    free(x);
    return m;
}

/* Every tensor of file a equals file b's within TOL of the largest absolute
 * value of its layer's tensors of the same kind (conv1.weight and
 * conv1.bias, grad.conv1.weight and grad.conv1.bias, ...): the gradient of a
 * bias that feeds batch norm is exactly 0 and both sides return rounding
 * noise there, as in test_parity. Gradients ("grad.*") within GRAD_TOL.
 * Returns the worst error relative to the tolerance. */
static double compare_files(const char *a, const char *b)
{
    nt_safetensors sa, sb;
    nt_error err;
    ck_assert_msg(nt_st_read(&sa, e2e_work(a), &err) == 0, "%s", err.msg);
    ck_assert_msg(nt_st_read(&sb, e2e_work(b), &err) == 0, "%s", err.msg);
    double worst = 0;
    const char *worst_name = "";
    int compared = 0;
    for (int i = 0; i < sa.ntensors; i++) {
        const nt_st_tensor *ta = &sa.tensors[i];
        const size_t len = layer_len(ta->name);
        double scale = 0;
        for (int j = 0; j < sa.ntensors; j++)
            if (layer_len(sa.tensors[j].name) == len &&
                strncmp(sa.tensors[j].name, ta->name, len) == 0)
                scale = fmax(scale, max_abs(&sa, &sa.tensors[j]));
        const nt_st_tensor *tb = nt_st_find(&sb, ta->name);
        ck_assert_msg(tb != NULL, "%s lacks %s", b, ta->name);
        size_t n = 1;
        for (int d = 0; d < ta->ndim; d++)
            n *= (size_t)ta->shape[d];
        float *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
        nt_st_copy_f32(&sa, ta, x);
        nt_st_copy_f32(&sb, tb, y);
        double diff = 0;
        for (size_t k = 0; k < n; k++)
            diff = fmax(diff, fabs((double)x[k] - y[k]));
        double rel = (scale > 0 ? diff / scale : diff) /
                     (strncmp(ta->name, "grad.", 5) == 0 ? GRAD_TOL : TOL);
        if (rel > worst) {
            worst = rel;
            worst_name = ta->name;
        }
        compared++;
        free(x);
        free(y);
    }
    if (getenv("NETC_TEST_VERBOSE"))
        printf("%s vs %s: %d tensors, worst %.3g of the tolerance (%s)\n", a, b, compared,
               worst, worst_name);
    ck_assert_msg(compared > 0, "no tensors compared");
    ck_assert_msg(worst <= 1, "%s vs %s: tensor %s differs by %.3g times the tolerance "
                  "(%g of its layer's largest value; gradients %g)", a, b, worst_name, worst, TOL,
                  GRAD_TOL);
    nt_st_free(&sa);
    nt_st_free(&sb);
    return worst;
}

/* Counts the occurrences of needle in text. */
static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(bn_lenet_two_processes_equal_one)
{
    /* 640 examples in batches of 32: 20 steps of SGD with momentum */
    const char *opts = "--epochs 1 --limit-train 640 --limit-test 500 --batch-size 32 "
                       "--lr 0.05 --momentum 0.9 --threads 1";
    for (int np = 1; np <= 2; np++) {
        e2e_run r = e2e_sh("rm -f lenet_p%d.safetensors && " MPIRUN " -np %d '%s' %s "
                           "--save lenet_p%d.safetensors", np, np, lenet(), opts, np);
        E2E_ASSERT_STATUS(r, 0);
        ck_assert_int_eq(count(r.out, "epoch 1/1"), 1); /* rank 0 alone prints */
        ck_assert_int_eq(count(r.out, "done: "), 1);
        if (np == 2)
            E2E_ASSERT_HAS(r.out, "processes 2 (Open MPI");
        e2e_free(&r);
    }
    compare_files("lenet_p1.safetensors", "lenet_p2.safetensors");
    /* and with 2 threads a process: each process's batch norm adds its two
     * shares' sums at a barrier, then rank 0 reduces them over the
     * processes (the same sums in another order) */
    e2e_run r = e2e_sh("rm -f lenet_p2t2.safetensors && " MPIRUN " -np 2 '%s' %s --threads 2 "
                       "--save lenet_p2t2.safetensors", lenet(), opts);
    E2E_ASSERT_STATUS(r, 0);
    ck_assert_int_eq(count(r.out, "done: "), 1);
    e2e_free(&r);
    compare_files("lenet_p1.safetensors", "lenet_p2t2.safetensors");
}
END_TEST

START_TEST(resnet_two_processes_equal_one)
{
    /* 20 steps. A ReLU network trained on small batches is chaotic: at a
     * larger step (lr 0.001 with momentum 0.9 already), a second thread in
     * one process (another order of the same sums) can move its weights
     * apart by more than 1e-5 within 20 steps, as a second process does
     * (see README); the momentum buffers are tested with BN-LeNet */
    const char *opts = "--epochs 1 --limit-train 640 --limit-test 200 --batch-size 32 "
                       "--lr 0.001 --momentum 0 --threads 1";
    for (int np = 1; np <= 2; np++) {
        e2e_run r = e2e_sh("rm -f resnet_p%d.safetensors && " MPIRUN " -np %d '%s' %s "
                           "--save resnet_p%d.safetensors", np, np, resnet(), opts, np);
        E2E_ASSERT_STATUS(r, 0);
        ck_assert_int_eq(count(r.out, "epoch 1/1"), 1);
        e2e_free(&r);
    }
    compare_files("resnet_p1.safetensors", "resnet_p2.safetensors");
}
END_TEST

/* S batches of N random 28x28 images and labels, for --train-step. */
static void write_batches(const char *x_path, const char *y_path, int S, int N)
{
    const size_t nx = (size_t)S * N * 28 * 28, ny = (size_t)S * N;
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y);
    nt_rng rng;
    nt_rng_seed(&rng, 12);
    for (size_t i = 0; i < nx; i++)
        x[i] = nt_rng_uniform(&rng);
    for (size_t i = 0; i < ny; i++)
        y[i] = (float)nt_rng_below(&rng, 10);
    const int64_t xs[5] = {S, N, 1, 28, 28}, ys[2] = {S, N};
    nt_error err;
    ck_assert_msg(nt_npy_write_f32(e2e_work(x_path), x, xs, 5, &err) == 0, "%s", err.msg);
    ck_assert_msg(nt_npy_write_f32(e2e_work(y_path), y, ys, 2, &err) == 0, "%s", err.msg);
    free(x);
    free(y);
}

START_TEST(train_step_and_infer_split_and_gathered)
{
    /* --train-step: 20 steps of 33 examples (17 + 16 per process); the dump
     * holds the gathered logits, the losses, the gradients and the weights.
     * --infer: the logits of 33 examples, each process computing its part. */
    write_batches("ts_x.npy", "ts_y.npy", 20, 33);
    for (int np = 1; np <= 2; np++) {
        e2e_run r = e2e_sh(MPIRUN " -np %d '%s' --threads 1 --lr 0.05 --momentum 0.9 "
                           "--train-step ts_x.npy --labels ts_y.npy --dump ts_p%d.safetensors",
                           np, lenet(), np);
        E2E_ASSERT_STATUS(r, 0);
        E2E_ASSERT_HAS(r.out, "20 training steps");
        e2e_free(&r);
    }
    compare_files("ts_p1.safetensors", "ts_p2.safetensors");
    /* the first step's batch as an [N, C, H, W] array for --infer */
    float *x = NULL, *logits[2] = {NULL, NULL};
    int64_t shape[8];
    int ndim;
    nt_error err;
    ck_assert_msg(nt_npy_read_f32(e2e_work("ts_x.npy"), &x, shape, &ndim, &err) == 0, "%s",
                  err.msg);
    const int64_t one[4] = {33, 1, 28, 28};
    ck_assert_msg(nt_npy_write_f32(e2e_work("inf_x.npy"), x, one, 4, &err) == 0, "%s", err.msg);
    free(x);
    for (int np = 1; np <= 2; np++) {
        e2e_run r = e2e_sh("rm -f inf_p%d.npy && '%s' --epochs 0 --seed 3 --save inf_w.safetensors "
                           "--quiet && " MPIRUN " -np %d '%s' --threads 1 --load inf_w.safetensors "
                           "--infer inf_x.npy --out inf_p%d.npy", np, lenet(), np, lenet(), np);
        E2E_ASSERT_STATUS(r, 0);
        ck_assert_int_eq(count(r.out, "wrote eval-mode logits [33, 10]"), 1);
        e2e_free(&r);
        char name[32];
        snprintf(name, sizeof name, "inf_p%d.npy", np);
        ck_assert_msg(nt_npy_read_f32(e2e_work(name), &logits[np - 1], shape, &ndim, &err) == 0,
                      "%s", err.msg);
        ck_assert_int_eq(ndim, 2);
        ck_assert_int_eq(shape[0], 33);
    }
    double scale = 0, diff = 0;
    for (int i = 0; i < 330; i++) {
        scale = fmax(scale, fabs(logits[0][i]));
        diff = fmax(diff, fabs((double)logits[0][i] - logits[1][i]));
    }
    ck_assert_msg(diff <= TOL * scale, "--infer: 2 processes differ by %g (scale %g)", diff,
                  scale);
    free(logits[0]);
    free(logits[1]);
}
END_TEST

START_TEST(checkpoints_move_between_one_and_two_processes)
{
    /* 2 epochs of 10 steps with momentum: straight with 2 processes, then
     * epoch 1 with 2 and epoch 2 with 1, then epoch 1 with 1 and epoch 2 with 2 */
    const char *opts = "--limit-train 320 --limit-test 200 --batch-size 32 --lr 0.1 "
                       "--momentum 0.9 --threads 1 --quiet";
    const char *bin = lenet();
    e2e_run r = e2e_sh("rm -f ck_*.safetensors && "
                       MPIRUN " -np 2 '%s' %s --epochs 2 --save ck_straight.safetensors && "
                       MPIRUN " -np 2 '%s' %s --epochs 1 --save ck_a.safetensors && "
                       "'%s' %s --epochs 2 --resume ck_a.safetensors --save ck_a.safetensors && "
                       "'%s' %s --epochs 1 --save ck_b.safetensors && "
                       MPIRUN " -np 2 '%s' %s --epochs 2 --resume ck_b.safetensors "
                       "--save ck_b.safetensors",
                       bin, opts, bin, opts, bin, opts, bin, opts, bin, opts);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    compare_files("ck_straight.safetensors", "ck_a.safetensors");
    compare_files("ck_straight.safetensors", "ck_b.safetensors");
}
END_TEST

START_TEST(evaluation_is_split_and_reduced)
{
    const char *bin = lenet();
    e2e_run r = e2e_sh("'%s' --epochs 1 --limit-train 512 --batch-size 64 --threads 1 --quiet "
                       "--save ev.safetensors >/dev/null && '%s' --load ev.safetensors --eval "
                       "--limit-test 999 --threads 1", bin, bin);
    E2E_ASSERT_STATUS(r, 0);
    char one[256];
    snprintf(one, sizeof one, "%s", r.out);
    e2e_free(&r);
    r = e2e_sh(MPIRUN " -np 2 '%s' --load ev.safetensors --eval --limit-test 999 --threads 1",
               bin);
    E2E_ASSERT_STATUS(r, 0);
    ck_assert_str_eq(r.out, one); /* one line, the same correct count */
    e2e_free(&r);
}
END_TEST

START_TEST(different_options_are_refused)
{
    const char *bin = lenet();
    e2e_run r = e2e_sh(MPIRUN " -np 1 '%s' --epochs 1 --limit-train 64 --quiet : "
                       "-np 1 '%s' --epochs 2 --limit-train 64 --quiet", bin, bin);
    ck_assert_int_ne(r.status, 0);
    E2E_ASSERT_HAS(r.err, "rank 1 of 2");
    E2E_ASSERT_HAS(r.err, "the trainer or its command line differs from rank 0's");
    e2e_free(&r);
}
END_TEST

START_TEST(a_killed_rank_ends_the_job)
{
    const char *bin = lenet();
    const char *opts = "--epochs 5 --limit-train 30000 --threads 1 --quiet";
    e2e_run r = e2e_sh("SECONDS=0; " MPIRUN " -np 1 '%s' %s : -np 1 timeout -s KILL 3 '%s' %s; "
                       "s=$?; echo \"after $SECONDS s\"; exit $s", bin, opts, bin, opts);
    ck_assert_int_ne(r.status, 0);
    ck_assert_int_ne(r.status, 124); /* not the test's own time limit */
    E2E_ASSERT_HAS(r.err, "Killed");
    e2e_free(&r);
}
END_TEST

START_TEST(a_stuck_rank_ends_the_job)
{
    /* rank 1 joins the job and never takes part in a collective */
    e2e_run r = e2e_sh("NETC_MPI_TIMEOUT=3 " MPIRUN " -x NETC_MPI_TIMEOUT -np 1 '%s' --epochs 1 "
                       "--limit-train 64 --quiet : -np 1 '%s'", lenet(), MPI_STALL_EXE);
    ck_assert_int_ne(r.status, 0);
    ck_assert_int_ne(r.status, 124);
    E2E_ASSERT_HAS(r.err, "rank 0 of 2");
    E2E_ASSERT_HAS(r.err, "one of them is stuck or gone; ending the job");
    e2e_free(&r);
}
END_TEST

START_TEST(rank0_write_failure_ends_the_job)
{
    e2e_run r = e2e_sh(MPIRUN " -np 2 '%s' --epochs 2 --limit-train 128 --batch-size 32 "
                       "--threads 1 --quiet --save no/such/dir/x.safetensors", lenet());
    ck_assert_int_ne(r.status, 0);
    ck_assert_int_ne(r.status, 124);
    E2E_ASSERT_HAS(r.err, "rank 0: no/such/dir/x.safetensors");
    e2e_free(&r);
}
END_TEST

START_TEST(bad_timeout_is_refused)
{
    e2e_run r = e2e_sh("NETC_MPI_TIMEOUT=soon " MPIRUN " -x NETC_MPI_TIMEOUT -np 2 '%s' "
                       "--epochs 1 --limit-train 64 --quiet", lenet());
    ck_assert_int_ne(r.status, 0);
    ck_assert_int_ne(r.status, 124);
    E2E_ASSERT_HAS(r.err, "NETC_MPI_TIMEOUT needs a number of seconds");
    e2e_free(&r);
}
END_TEST

static Suite *mpi_suite(void)
{
    Suite *s = suite_create("mpi");
    TCase *same = tcase_create("same as one process");
    tcase_set_timeout(same, 900);
    tcase_add_test(same, bn_lenet_two_processes_equal_one);
    tcase_add_test(same, resnet_two_processes_equal_one);
    tcase_add_test(same, train_step_and_infer_split_and_gathered);
    tcase_add_test(same, checkpoints_move_between_one_and_two_processes);
    tcase_add_test(same, evaluation_is_split_and_reduced);
    suite_add_tcase(s, same);
    TCase *fail = tcase_create("failures end the job");
    tcase_set_timeout(fail, 900);
    tcase_add_test(fail, different_options_are_refused);
    tcase_add_test(fail, a_killed_rank_ends_the_job);
    tcase_add_test(fail, a_stuck_rank_ends_the_job);
    tcase_add_test(fail, rank0_write_failure_ends_the_job);
    tcase_add_test(fail, bad_timeout_is_refused);
    suite_add_tcase(s, fail);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mpi_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
