/* test_loss.c - loss.c: softmax cross-entropy against a double-precision
 * reference, huge logits, ties in the accuracy count, the gradient against
 * finite differences, and PyTorch's CrossEntropyLoss. */
#include "testutil.h"
#include "isa_paths.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/loss_torch.h"
#include "nt_kernels.h"

/* Mean cross-entropy in double; probs and the count of first-argmax hits. */
static double ref_xent(double *probs, int *ncorrect, const float *x,
                       const int32_t *labels, int N, int K)
{
    double loss = 0;
    int ok = 0;
    for (int n = 0; n < N; n++) {
        const float *row = x + (size_t)n * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[arg])
                arg = k;
        double s = 0;
        for (int k = 0; k < K; k++)
            s += exp((double)row[k] - row[arg]);
        for (int k = 0; k < K; k++)
            if (probs)
                probs[(size_t)n * K + k] = exp((double)row[k] - row[arg]) / s;
        loss += row[arg] + log(s) - row[labels[n]];
        ok += arg == labels[n];
    }
    if (ncorrect)
        *ncorrect = ok;
    return loss / N;
}

/* ---- forward --------------------------------------------------------------- */

/* {N, K}: one class, batch 1, odd sizes, and 40 x 1000 (above loss.c's fork
 * threshold of 32768 logits) */
static const int shapes[][2] = {{1, 1}, {1, 10}, {7, 3}, {64, 10}, {40, 1000}};

START_TEST(test_forward)
{
    const int N = shapes[_i][0], K = shapes[_i][1];
    const size_t n = (size_t)N * K;
    nt_rng rng;
    nt_rng_seed(&rng, 1 + _i);
    float *x = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float));
    float *p1 = malloc(n * sizeof(float));
    double *want = malloc(n * sizeof(double));
    int32_t *labels = malloc(N * sizeof(int32_t));
    ck_assert(x && p && p1 && want && labels);
    tu_fill(x, n, -5, 5, &rng);
    for (int i = 0; i < N; i++)
        labels[i] = (int32_t)nt_rng_below(&rng, K);
    /* make about half the rows right, so the count is not trivially 0 */
    for (int i = 0; i < N; i += 2)
        x[(size_t)i * K + labels[i]] = 6;
    int want_ok;
    double want_loss = ref_xent(want, &want_ok, x, labels, N, K);
    float loss1 = 0;

    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        int ok = -1;
        float loss = nt_softmax_xent_forward(p, &ok, x, labels, N, K, 0.0f);
        /* the loss is summed in double and rounded once; expf and the
         * float probabilities cost a few ulps each */
        ck_assert_double_eq_tol(loss, want_loss, 1e-6 * (1 + want_loss));
        TU_ASSERT_CLOSE_D("softmax probs", p, want, n, 1e-10, 1e-6);
        ck_assert_int_eq(ok, want_ok);
        if (th == 1) {
            memcpy(p1, p, n * sizeof(float));
            loss1 = loss;
        } else {
            /* rows are independent: probabilities do not depend on the
             * thread count; the loss only through summation order */
            ck_assert_mem_eq(p1, p, n * sizeof(float));
            ck_assert_float_eq_tol(loss, loss1, 1e-6f * (1 + loss1));
        }
    }
    /* ncorrect may be NULL */
    float loss = nt_softmax_xent_forward(p, NULL, x, labels, N, K, 0.0f);
    ck_assert_double_eq_tol(loss, want_loss, 1e-6 * (1 + want_loss));
    free(x);
    free(p);
    free(p1);
    free(want);
    free(labels);
}
END_TEST

/* Ties go to the first maximum, as torch.argmax. */
START_TEST(test_ties)
{
    const float x[3 * 4] = {
        0, 5, 1, 5, /* max at 1 and 3, label 1: right */
        5, 0, 5, 5, /* max at 0, 2, 3, label 2: wrong */
        2, 2, 2, 2, /* all equal, label 0: right */
    };
    const int32_t labels[3] = {1, 2, 0};
    float p[12];
    int ok = -1;
    nt_softmax_xent_forward(p, &ok, x, labels, 3, 4, 0.0f);
    ck_assert_int_eq(ok, 2);
}
END_TEST

/* Huge logits: no inf or nan, the right values. */
START_TEST(test_huge)
{
    const float x[4 * 3] = {
        1000,  -1000, 0,    /* label 0: loss 0 */
        1000,  -1000, 0,    /* label 1: loss 2000 */
        -1000, 1000,  999,  /* label 2: loss 1 + log(1 + 1/e) */
        1e30f, -1e30f, 0,   /* label 1: loss 2e30 */
    };
    const int32_t labels[4] = {0, 1, 2, 1};
    float p[12], g[12] = {0};
    int ok = -1;
    double want_p[12];
    int want_ok;
    double want = ref_xent(want_p, &want_ok, x, labels, 4, 3);
    float loss = nt_softmax_xent_forward(p, &ok, x, labels, 4, 3, 0.0f);
    ck_assert(isfinite(loss));
    /* dominated by the 2e30 row; float rounding of the double mean */
    ck_assert_double_eq_tol(loss, want, 1e-6 * want);
    ck_assert_int_eq(ok, want_ok);
    TU_ASSERT_CLOSE_D("huge probs", p, want_p, 12, 1e-10, 1e-6);
    /* and without the last row, the small values are exact enough */
    loss = nt_softmax_xent_forward(p, &ok, x, labels, 3, 3, 0.0f);
    want = (0 + 2000 + 1 + log1p(exp(-1.0))) / 3;
    ck_assert_double_eq_tol(loss, want, 1e-6 * want);
    nt_softmax_xent_backward(g, p, labels, 3, 3, 0.0f);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(isfinite(p[i]) && isfinite(g[i]), "[%d] p %g g %g", i,
                      p[i], g[i]);
    /* row 1 is confidently wrong: dlogits = (p - onehot) / 3 = (1, -1, 0)/3 */
    ck_assert_float_eq_tol(g[3], 1.0f / 3, 1e-7f);
    ck_assert_float_eq_tol(g[4], -1.0f / 3, 1e-7f);
}
END_TEST

/* ---- backward -------------------------------------------------------------- */

typedef struct fd_ctx {
    const float *x;
    const int32_t *labels;
    int N, K;
} fd_ctx;

static double fd_loss(void *p)
{
    const fd_ctx *c = p;
    return ref_xent(NULL, NULL, c->x, c->labels, c->N, c->K);
}

START_TEST(test_backward)
{
    static const int bshapes[][2] = {{1, 4}, {5, 7}};
    const int N = bshapes[_i][0], K = bshapes[_i][1];
    float x[35], p[35], g[35], g0[35];
    double want[35];
    int32_t labels[5];
    nt_rng rng;
    nt_rng_seed(&rng, 50 + _i);
    tu_fill(x, N * K, -3, 3, &rng);
    tu_fill(g0, N * K, -0.1f, 0.1f, &rng);
    for (int i = 0; i < N; i++)
        labels[i] = (int32_t)nt_rng_below(&rng, K);
    fd_ctx ctx = {x, labels, N, K};
    tu_numeric_grad(want, x, N * K, 1e-4, fd_loss, &ctx);
    for (int i = 0; i < N * K; i++)
        want[i] += g0[i];

    nt_softmax_xent_forward(p, NULL, x, labels, N, K, 0.0f);
    memcpy(g, g0, sizeof g);
    nt_softmax_xent_backward(g, p, labels, N, K, 0.0f);
    /* gradients are at most 1/N; float probabilities (a few ulps) and the
     * finite differences (eps^2 f''' / 6 ~ 1e-9) are far below 1e-7 */
    TU_ASSERT_CLOSE_D("xent dlogits", g, want, N * K, 1e-7, 1e-5);
}
END_TEST

/* ---- PyTorch --------------------------------------------------------------- */

START_TEST(test_torch)
{
    float p[XENT_N * XENT_K], g[XENT_N * XENT_K] = {0};
    int ok = -1;
    float loss = nt_softmax_xent_forward(p, &ok, xent_logits, xent_labels,
                                         XENT_N, XENT_K, 0.0f);
    /* two float implementations: a few ulps */
    ck_assert_float_eq_tol(loss, xent_loss, 1e-6f);
    ck_assert_int_eq(ok, XENT_NCORRECT);
    TU_ASSERT_CLOSE("torch softmax", p, xent_probs, XENT_N * XENT_K, 1e-8,
                    2e-7);
    nt_softmax_xent_backward(g, p, xent_labels, XENT_N, XENT_K, 0.0f);
    /* p - 1 cancels for a confident right row: PyTorch's probability 0.987
     * there is 2 ulps (1.2e-7) off the exact value (ours is within half an
     * ulp), which divided by N = 6 leaves 2e-8 absolute */
    TU_ASSERT_CLOSE("torch dlogits", g, xent_dlogits, XENT_N * XENT_K, 5e-8,
                    1e-6);
}
END_TEST

static Suite *loss_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, test_forward, 0, sizeof shapes / sizeof shapes[0]);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_huge);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_test(tc, test_torch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_isa_paths("loss", loss_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
