/* test_batchnorm.c - batchnorm.c against a double-precision reference loop,
 * finite differences of that reference (input, gamma, beta, in training
 * mode), hand-computed running statistics and PyTorch numbers. */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "bn_rows.h"
#include "fixtures/bn_torch.h"
#include "isa_paths.h"
#include "nt_kernels.h"

#define EPS 1e-5f
#define MOMENTUM 0.1f
/* the momentum as the kernel uses it, in double */
static const double mom = MOMENTUM;

/* ---- reference ----------------------------------------------------------- */

/* Batch mean and biased variance per channel, two-pass, in double. */
static void ref_stats(double *mean, double *var, const float *x,
                      const nt_bn_dims *d)
{
    const int N = d->N, C = d->C, HW = d->HW;
    const double cnt = (double)N * HW;
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++)
                s += x[((size_t)n * C + c) * HW + i];
        mean[c] = s / cnt;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double dv = x[((size_t)n * C + c) * HW + i] - mean[c];
                ss += dv * dv;
            }
        var[c] = ss / cnt;
    }
}

/* out = (x - mean) / sqrt(var + eps) * gamma + beta, per channel. */
static void ref_normalise(double *out, const float *x, const double *mean,
                          const double *var, const float *gamma,
                          const float *beta, const nt_bn_dims *d)
{
    const int N = d->N, C = d->C, HW = d->HW;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                size_t j = ((size_t)n * C + c) * HW + i;
                out[j] = (x[j] - mean[c]) / sqrt(var[c] + d->eps) * gamma[c] +
                         beta[c];
            }
}

/* ---- test data ----------------------------------------------------------- */

typedef struct bn_buf {
    nt_bn_dims d;
    size_t n;
    float *x, *out, *gamma, *beta, *mean, *invstd, *rm, *rv;
} bn_buf;

/* Random data: each channel gets its own offset in [-off, off] and spread
 * in [0.5, 2], so means and variances differ across channels. */
static bn_buf bn_alloc(int N, int C, int HW, float off, nt_rng *rng)
{
    bn_buf b;
    b.d = (nt_bn_dims){N, C, HW, EPS, MOMENTUM, NT_ACT_NONE, NULL, 0};
    b.n = (size_t)N * C * HW;
    b.x = malloc(b.n * sizeof(float));
    b.out = malloc(b.n * sizeof(float));
    b.gamma = malloc(C * sizeof(float));
    b.beta = malloc(C * sizeof(float));
    b.mean = malloc(C * sizeof(float));
    b.invstd = malloc(C * sizeof(float));
    b.rm = malloc(C * sizeof(float));
    b.rv = malloc(C * sizeof(float));
    ck_assert(b.x && b.out && b.gamma && b.beta && b.mean && b.invstd &&
              b.rm && b.rv);
    tu_fill(b.x, b.n, -1, 1, rng);
    for (int c = 0; c < C; c++) {
        float o = off * (2 * nt_rng_uniform(rng) - 1);
        float s = 0.5f + 1.5f * nt_rng_uniform(rng);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                float *v = &b.x[((size_t)n * C + c) * HW + i];
                *v = o + s * *v;
            }
    }
    tu_fill(b.gamma, C, 0.5f, 1.5f, rng);
    tu_fill(b.beta, C, -1, 1, rng);
    tu_fill(b.rm, C, -1, 1, rng);
    tu_fill(b.rv, C, 0.5f, 2, rng);
    return b;
}

static void bn_free(bn_buf *b)
{
    free(b->x);
    free(b->out);
    free(b->gamma);
    free(b->beta);
    free(b->mean);
    free(b->invstd);
    free(b->rm);
    free(b->rv);
}

static float max_abs(const float *x, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* Tolerance for a normalised output computed in float as (x - m) * s + b:
 * rounding the mean to float and x - m cost half an ulp of max|x| each,
 * scaled by s = gamma * invstd; rounding s, the product and the sum cost
 * half an ulp of |out| each. 4 eps (max|x| max s + max|out|) bounds that. */
static double out_tol(const float *x, size_t n, double max_scale,
                      const double *out)
{
    double mo = 0;
    for (size_t i = 0; i < n; i++)
        mo = fmax(mo, fabs(out[i]));
    return 4 * FLT_EPSILON * (max_abs(x, n) * max_scale + mo);
}

/* ---- training forward ----------------------------------------------------- */

/* {N, C, HW}: batch 1 (2-d needs N > 1), odd sizes, BatchNorm1d (HW = 1),
 * and two above batchnorm.c's fork threshold (16384 elements): one channel
 * per block, and many channels per block with a partial last block. */
static const int train_shapes[][3] = {
    {1, 3, 7}, {3, 5, 9},   {2, 4, 13},  {4, 6, 1},
    {7, 2, 1}, {4, 7, 729}, {64, 300, 1},
};

START_TEST(test_train_forward)
{
    const int *s = train_shapes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 100 + _i);
    bn_buf b = bn_alloc(s[0], s[1], s[2], 3, &rng);
    const int C = s[1];
    double *mean = malloc(C * sizeof(double));
    double *var = malloc(C * sizeof(double));
    double *rm = malloc(C * sizeof(double)), *rv = malloc(C * sizeof(double));
    double *out = malloc(b.n * sizeof(double));
    float *rm0 = malloc(C * sizeof(float)), *rv0 = malloc(C * sizeof(float));
    float *out1 = malloc(b.n * sizeof(float));
    ck_assert(mean && var && rm && rv && out && rm0 && rv0 && out1);

    ref_stats(mean, var, b.x, &b.d);
    ref_normalise(out, b.x, mean, var, b.gamma, b.beta, &b.d);
    double cnt = (double)s[0] * s[2], max_scale = 0;
    double *invstd = malloc(C * sizeof(double));
    ck_assert(invstd);
    for (int c = 0; c < C; c++) {
        invstd[c] = 1 / sqrt(var[c] + EPS);
        rm[c] = (1 - mom) * b.rm[c] + mom * mean[c];
        rv[c] = (1 - mom) * b.rv[c] + mom * var[c] * cnt / (cnt - 1);
        max_scale = fmax(max_scale, invstd[c] * b.gamma[c]);
    }
    memcpy(rm0, b.rm, C * sizeof(float));
    memcpy(rv0, b.rv, C * sizeof(float));
    const double tol = out_tol(b.x, b.n, max_scale, out);

    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        memcpy(b.rm, rm0, C * sizeof(float));
        memcpy(b.rv, rv0, C * sizeof(float));
        nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                                   b.gamma, b.beta, &b.d);
        TU_ASSERT_CLOSE_D("train out", b.out, out, b.n, tol, 0);
        /* the saved statistics are double results rounded to float (half an
         * ulp, 6e-8 relative); atol covers double summation order */
        TU_ASSERT_CLOSE_D("saved mean", b.mean, mean, C, 1e-12, 2e-7);
        TU_ASSERT_CLOSE_D("saved invstd", b.invstd, invstd, C, 0, 2e-7);
        /* one float rounding of a double update */
        TU_ASSERT_CLOSE_D("running mean", b.rm, rm, C, 1e-12, 2e-7);
        TU_ASSERT_CLOSE_D("running var", b.rv, rv, C, 0, 2e-7);
        if (th == 1)
            memcpy(out1, b.out, b.n * sizeof(float));
        else /* one thread per channel: identical for any thread count */
            ck_assert_mem_eq(out1, b.out, b.n * sizeof(float));
    }
    /* a fused relu or sigmoid: exactly that activation of the output */
    for (int a = NT_ACT_RELU; a <= NT_ACT_SIGMOID; a++) {
        nt_bn_dims da = b.d;
        da.act = (nt_act)a;
        memcpy(b.rm, rm0, C * sizeof(float));
        memcpy(b.rv, rv0, C * sizeof(float));
        nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                                   b.gamma, b.beta, &da);
        float *want = malloc(b.n * sizeof(float));
        ck_assert(want);
        memcpy(want, out1, b.n * sizeof(float));
        nt_act_apply((nt_act)a, want, b.n);
        ck_assert_mem_eq(want, b.out, b.n * sizeof(float));
        free(want);
    }
    free(invstd);
    free(mean);
    free(var);
    free(rm);
    free(rv);
    free(out);
    free(rm0);
    free(rv0);
    free(out1);
    bn_free(&b);
}
END_TEST

/* A large common offset (every value near 100, spread 1): a one-pass float
 * E[x^2] - E[x]^2 loses about 1e-2 of the variance here; the two-pass double
 * statistics must stay at float rounding. */
START_TEST(test_train_offset)
{
    nt_rng rng;
    nt_rng_seed(&rng, 7);
    bn_buf b = bn_alloc(5, 3, 11, 0, &rng);
    for (size_t i = 0; i < b.n; i++)
        b.x[i] += 100;
    double mean[3], var[3], invstd[3], max_scale = 0;
    double *out = malloc(b.n * sizeof(double));
    ck_assert(out);
    ref_stats(mean, var, b.x, &b.d);
    ref_normalise(out, b.x, mean, var, b.gamma, b.beta, &b.d);
    for (int c = 0; c < 3; c++) {
        invstd[c] = 1 / sqrt(var[c] + EPS);
        max_scale = fmax(max_scale, invstd[c] * b.gamma[c]);
    }
    nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                               b.gamma, b.beta, &b.d);
    /* float rounding of a double result */
    TU_ASSERT_CLOSE_D("offset invstd", b.invstd, invstd, 3, 0, 2e-7);
    TU_ASSERT_CLOSE_D("offset mean", b.mean, mean, 3, 0, 2e-7);
    TU_ASSERT_CLOSE_D("offset out", b.out, out, b.n,
                      out_tol(b.x, b.n, max_scale, out), 0);
    free(out);
    bn_free(&b);
}
END_TEST

/* ---- running statistics ---------------------------------------------------- */

/* By hand: x = {1, 2, 3, 4} in one channel, mean 2.5, biased variance 1.25,
 * unbiased 5/3. From running (0, 1): mean 0.25, var 0.9 + 0.1 * 5/3. */
START_TEST(test_running_by_hand)
{
    const float x[4] = {1, 2, 3, 4};
    float out[4], mean, invstd, rm = 0, rv = 1, g = 1, bt = 0;
    nt_bn_dims d = {4, 1, 1, EPS, MOMENTUM, NT_ACT_NONE, NULL, 0};
    nt_batchnorm_forward_train(out, &mean, &invstd, &rm, &rv, x, &g, &bt, &d);
    /* a few float roundings of numbers near 1 */
    ck_assert_float_eq_tol(mean, 2.5f, 1e-6f);
    ck_assert_double_eq_tol(invstd, 1 / sqrt(1.25 + 1e-5), 1e-6);
    ck_assert_float_eq_tol(rm, 0.25f, 1e-6f);
    ck_assert_double_eq_tol(rv, 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
    /* the same data as [N=2, C=1, HW=2]: n = 4 still, same statistics */
    nt_bn_dims d2 = {2, 1, 2, EPS, MOMENTUM, NT_ACT_NONE, NULL, 0};
    rm = 0;
    rv = 1;
    nt_batchnorm_forward_train(out, &mean, &invstd, &rm, &rv, x, &g, &bt, &d2);
    ck_assert_double_eq_tol(rv, 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
}
END_TEST

/* Several updates in a row against a double reference, 4-d and 2-d. */
START_TEST(test_running_several)
{
    static const int shapes[2][3] = {{3, 4, 10}, {6, 5, 1}};
    const int *s = shapes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 300 + _i);
    bn_buf b = bn_alloc(s[0], s[1], s[2], 2, &rng);
    const int C = s[1];
    double rm[5], rv[5], mean[5], var[5], cnt = (double)s[0] * s[2];
    for (int c = 0; c < C; c++) {
        rm[c] = b.rm[c];
        rv[c] = b.rv[c];
    }
    for (int step = 0; step < 5; step++) {
        /* a new batch each step, drifting so the statistics change */
        tu_fill(b.x, b.n, -1 + 0.3f * step, 1 + 0.5f * step, &rng);
        ref_stats(mean, var, b.x, &b.d);
        for (int c = 0; c < C; c++) {
            rm[c] = (1 - mom) * rm[c] + mom * mean[c];
            rv[c] = (1 - mom) * rv[c] + mom * var[c] * cnt / (cnt - 1);
        }
        nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                                   b.gamma, b.beta, &b.d);
    }
    /* each of the 5 updates rounds to float once (6e-8 relative) and the
     * errors carry over, damped by 0.9 per step */
    TU_ASSERT_CLOSE_D("running mean, 5 steps", b.rm, rm, C, 1e-7, 1e-6);
    TU_ASSERT_CLOSE_D("running var, 5 steps", b.rv, rv, C, 1e-7, 1e-6);
    bn_free(&b);
}
END_TEST

/* ---- eval forward ---------------------------------------------------------- */

START_TEST(test_eval_forward)
{
    const int *s = train_shapes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 200 + _i);
    bn_buf b = bn_alloc(s[0], s[1], s[2], 3, &rng);
    const int C = s[1];
    double *mean = malloc(C * sizeof(double));
    double *var = malloc(C * sizeof(double));
    double *out = malloc(b.n * sizeof(double));
    float *out1 = malloc(b.n * sizeof(float));
    ck_assert(mean && var && out && out1);
    double max_scale = 0;
    for (int c = 0; c < C; c++) {
        mean[c] = b.rm[c];
        var[c] = b.rv[c];
        max_scale = fmax(max_scale, b.gamma[c] / sqrt(var[c] + EPS));
    }
    ref_normalise(out, b.x, mean, var, b.gamma, b.beta, &b.d);
    const double tol = out_tol(b.x, b.n, max_scale, out);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        nt_batchnorm_forward_eval(b.out, b.x, b.gamma, b.beta, b.rm, b.rv,
                                  &b.d);
        TU_ASSERT_CLOSE_D("eval out", b.out, out, b.n, tol, 0);
        if (th == 1)
            memcpy(out1, b.out, b.n * sizeof(float));
        else
            ck_assert_mem_eq(out1, b.out, b.n * sizeof(float));
    }
    /* a fused relu or sigmoid: exactly that activation of the output */
    for (int a = NT_ACT_RELU; a <= NT_ACT_SIGMOID; a++) {
        nt_bn_dims da = b.d;
        da.act = (nt_act)a;
        nt_batchnorm_forward_eval(b.out, b.x, b.gamma, b.beta, b.rm, b.rv, &da);
        nt_act_apply((nt_act)a, out1, b.n);
        ck_assert_mem_eq(out1, b.out, b.n * sizeof(float));
        nt_batchnorm_forward_eval(out1, b.x, b.gamma, b.beta, b.rm, b.rv, &b.d);
    }
    free(mean);
    free(var);
    free(out);
    free(out1);
    bn_free(&b);
}
END_TEST

/* ---- backward -------------------------------------------------------------- */

typedef struct fd_ctx {
    bn_buf *b;
    const float *r;
    double *out, *mean, *var;
} fd_ctx;

/* sum(out * R) of the double reference training forward */
static double fd_loss(void *p)
{
    fd_ctx *c = p;
    ref_stats(c->mean, c->var, c->b->x, &c->b->d);
    ref_normalise(c->out, c->b->x, c->mean, c->var, c->b->gamma, c->b->beta,
                  &c->b->d);
    double s = 0;
    for (size_t i = 0; i < c->b->n; i++)
        s += c->out[i] * c->r[i];
    return s;
}

static const int bwd_shapes[][3] = {{2, 3, 5}, {1, 2, 6}, {6, 4, 1}, {3, 2, 1}};

START_TEST(test_backward)
{
    const int *s = bwd_shapes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 400 + _i);
    bn_buf b = bn_alloc(s[0], s[1], s[2], 2, &rng);
    const int C = s[1];
    const size_t n = b.n;
    float *r = malloc(n * sizeof(float)), *din = malloc(n * sizeof(float));
    float *din0 = malloc(n * sizeof(float));
    float dgamma[4], dbeta[4], dgamma0[4], dbeta0[4], dg2[4], db2[4];
    double *gx = malloc(n * sizeof(double)), gg[4], gb[4];
    double *out = malloc(n * sizeof(double)), mean[4], var[4];
    ck_assert(r && din && din0 && gx && out);
    tu_fill(r, n, -1, 1, &rng);

    fd_ctx ctx = {&b, r, out, mean, var};
    /* eps 1e-4: central differences are exact to O(eps^2 f''') ~ 1e-8 here
     * and the double reference adds no visible rounding */
    tu_numeric_grad(gx, b.x, n, 1e-4, fd_loss, &ctx);
    tu_numeric_grad(gg, b.gamma, C, 1e-4, fd_loss, &ctx);
    tu_numeric_grad(gb, b.beta, C, 1e-4, fd_loss, &ctx);

    nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                               b.gamma, b.beta, &b.d);
    /* accumulate onto nonzero gradients */
    tu_fill(din0, n, -1, 1, &rng);
    tu_fill(dgamma0, C, -1, 1, &rng);
    tu_fill(dbeta0, C, -1, 1, &rng);
    memcpy(din, din0, n * sizeof(float));
    memcpy(dgamma, dgamma0, sizeof dgamma);
    memcpy(dbeta, dbeta0, sizeof dbeta);
    nt_batchnorm_backward(din, dgamma, dbeta, r, b.x, b.gamma, b.mean,
                          b.invstd, &b.d);
    for (size_t i = 0; i < n; i++)
        gx[i] += din0[i];
    for (int c = 0; c < C; c++) {
        gg[c] += dgamma0[c];
        gb[c] += dbeta0[c];
    }
    /* gradients (and the values accumulated onto) are O(1): the float
     * kernel's rounding, a few ulps with some cancellation in
     * dy - mean(dy) - xhat mean(dy xhat), stays below 2e-6 + 1e-5 relative */
    TU_ASSERT_CLOSE_D("bn dinput", din, gx, n, 2e-6, 1e-5);
    TU_ASSERT_CLOSE_D("bn dgamma", dgamma, gg, C, 2e-6, 1e-5);
    TU_ASSERT_CLOSE_D("bn dbeta", dbeta, gb, C, 2e-6, 1e-5);

    /* din == NULL: the parameter gradients are unchanged */
    memcpy(dg2, dgamma0, sizeof dg2);
    memcpy(db2, dbeta0, sizeof db2);
    nt_batchnorm_backward(NULL, dg2, db2, r, b.x, b.gamma, b.mean, b.invstd,
                          &b.d);
    ck_assert_mem_eq(dg2, dgamma, C * sizeof(float));
    ck_assert_mem_eq(db2, dbeta, C * sizeof(float));

    free(r);
    free(din);
    free(din0);
    free(gx);
    free(out);
    bn_free(&b);
}
END_TEST

/* Above the fork threshold: one and two threads give identical gradients. */
START_TEST(test_backward_threads)
{
    const int *s = train_shapes[_i == 0 ? 5 : 6];
    const int N = s[0], C = s[1], HW = s[2];
    nt_rng rng;
    nt_rng_seed(&rng, 500);
    bn_buf b = bn_alloc(N, C, HW, 2, &rng);
    const size_t n = b.n;
    float *r = malloc(n * sizeof(float));
    float *din[2] = {calloc(n, sizeof(float)), calloc(n, sizeof(float))};
    float *dg[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    float *db[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    ck_assert(r && din[0] && din[1] && dg[0] && dg[1] && db[0] && db[1]);
    tu_fill(r, n, -1, 1, &rng);
    nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x,
                               b.gamma, b.beta, &b.d);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        nt_batchnorm_backward(din[th - 1], dg[th - 1], db[th - 1], r, b.x,
                              b.gamma, b.mean, b.invstd, &b.d);
    }
    ck_assert_mem_eq(din[0], din[1], n * sizeof(float));
    ck_assert_mem_eq(dg[0], dg[1], C * sizeof(float));
    ck_assert_mem_eq(db[0], db[1], C * sizeof(float));
    /* and the input gradient of a BN layer sums to zero per channel (the
     * mean is subtracted): a cheap large-shape sanity check */
    for (int c = 0; c < C; c++) {
        double sum = 0, sum_abs = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < HW; j++) {
                sum += din[0][((size_t)i * C + c) * HW + j];
                sum_abs += fabs(din[0][((size_t)i * C + c) * HW + j]);
            }
        /* float rounding of each term, relative to their total size */
        ck_assert_double_le(fabs(sum), 1e-5 * sum_abs);
    }
    free(r);
    for (int t = 0; t < 2; t++) {
        free(din[t]);
        free(dg[t]);
        free(db[t]);
    }
    bn_free(&b);
}
END_TEST

/* ---- synchronised batch norm ------------------------------------------------ */

/* Stands for a second process holding a copy of this process's batch. */
static void reduce_twice(double *sums, int n)
{
    for (int i = 0; i < n; i++)
        sums[i] *= 2;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* With a reduction that adds a second, identical process, the synchronised
 * kernels on batch X compute what the plain kernels compute on [X; X]: the
 * same output, mean, invstd, running statistics (of 2N examples) and input
 * gradient for X's half; dgamma and dbeta are this process's half. The
 * whole-batch kernels on `threads` threads (shares 0), or the _share
 * kernels on that many shares of X (run_shares). */
static void run_shares(bn_buf *b, int size, const float *dout, float *din, float *dg, float *db,
                       int acc);

static void check_synced(const int *s, uint64_t seed, int threads, int shares)
{
    const int N = s[0], C = s[1], HW = s[2];
    nt_set_num_threads(threads);
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    bn_buf one = bn_alloc(N, C, HW, 2, &rng), two = bn_alloc(2 * N, C, HW, 2, &rng);
    const size_t n = one.n;
    memcpy(two.x, one.x, n * sizeof(float));
    memcpy(two.x + n, one.x, n * sizeof(float));
    memcpy(two.gamma, one.gamma, C * sizeof(float));
    memcpy(two.beta, one.beta, C * sizeof(float));
    memcpy(two.rm, one.rm, C * sizeof(float));
    memcpy(two.rv, one.rv, C * sizeof(float));
    float *dout = malloc(2 * n * sizeof(float));
    float *din1 = calloc(n, sizeof(float)), *din2 = calloc(2 * n, sizeof(float));
    float *g1 = calloc(C, sizeof(float)), *g2 = calloc(C, sizeof(float));
    float *b1 = calloc(C, sizeof(float)), *b2 = calloc(C, sizeof(float));
    ck_assert(dout && din1 && din2 && g1 && g2 && b1 && b2);
    tu_fill(dout, n, -1, 1, &rng);
    memcpy(dout + n, dout, n * sizeof(float));

    nt_batchnorm_forward_train(two.out, two.mean, two.invstd, two.rm, two.rv, two.x,
                               two.gamma, two.beta, &two.d);
    nt_batchnorm_backward(din2, g2, b2, dout, two.x, two.gamma, two.mean, two.invstd,
                          &two.d);
    ck_assert_int_eq(nt_batchnorm_set_reduce(reduce_twice, C), 0);
    if (shares) {
        run_shares(&one, shares, dout, din1, g1, b1, 1);
    } else {
        nt_batchnorm_forward_train(one.out, one.mean, one.invstd, one.rm, one.rv, one.x,
                                   one.gamma, one.beta, &one.d);
        nt_batchnorm_backward(din1, g1, b1, dout, one.x, one.gamma, one.mean, one.invstd,
                              &one.d);
    }
    ck_assert_int_eq(nt_batchnorm_set_reduce(NULL, 0), 0);
    for (int c = 0; c < C; c++) {
        g1[c] *= 2;
        b1[c] *= 2;
    }
    const struct { const char *what; const float *a, *b; size_t n; } cmp[] = {
        {"out", one.out, two.out, n},         {"mean", one.mean, two.mean, C},
        {"invstd", one.invstd, two.invstd, C}, {"running_mean", one.rm, two.rm, C},
        {"running_var", one.rv, two.rv, C},   {"din", din1, din2, n},
        {"2 dgamma", g1, g2, C},              {"2 dbeta", b1, b2, C},
    };
    for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
        const double err = max_diff(cmp[k].a, cmp[k].b, cmp[k].n);
        const double scale = max_abs(cmp[k].b, cmp[k].n);
        ck_assert_msg(err <= 1e-6 * scale,
                      "N %d C %d HW %d, %d shares: %s differs by %g (scale %g)", N, C, HW,
                      shares, cmp[k].what, err, scale);
    }
    nt_set_num_threads(1);
    free(dout);
    free(din1);
    free(din2);
    free(g1);
    free(g2);
    free(b1);
    free(b2);
    bn_free(&one);
    bn_free(&two);
}

/* Shapes 1, 3, 5 and 6 of train_shapes, with 1 and 2 threads. */
START_TEST(test_synced)
{
    static const int pick[4] = {1, 3, 5, 6};
    check_synced(train_shapes[pick[_i / 2]], 900 + (uint64_t)_i, 1 + _i % 2, 0);
}
END_TEST

/* ---- on shares of a batch ---------------------------------------------------- */

/* The _share kernels with `size` threads of one region, each on its share
 * of the examples (split as nt_parts_run splits them), optionally with
 * reduce_twice: each share's results go into the whole-batch buffers. The
 * team's sums are allocated here, NaN-filled so that a read before a write
 * shows. dgamma and dbeta are the shares' parts added in rank order. */
static void run_shares(bn_buf *b, int size, const float *dout, float *din, float *dg, float *db,
                       int acc)
{
    const int N = b->d.N, C = b->d.C, HW = b->d.HW;
    const size_t slots = (size_t)(size + 1) * NT_BN_SHARE_DOUBLES(C);
    double *sums = malloc(slots * sizeof(double));
    /* each share's rows, as the generated code passes them (block_sum keeps
     * its rows' statistics there) */
    double *rows = malloc((size_t)N * C * 2 * sizeof(double));
    float *pg = calloc((size_t)size * C, sizeof(float)), *pb = calloc((size_t)size * C, sizeof(float));
    ck_assert(sums && rows && pg && pb);
    for (size_t i = 0; i < slots; i++)
        sums[i] = NAN;
    for (size_t i = 0; i < (size_t)N * C * 2; i++)
        rows[i] = NAN;
    int got = 0;
#pragma omp parallel num_threads(size)
    {
        const int k = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
        got = nt;
        const int lo = (int)((long)N * k / nt), hi = (int)((long)N * (k + 1) / nt);
        const size_t off = (size_t)lo * C * HW;
        nt_bn_dims d = b->d;
        d.N = hi - lo;
        d.rows = rows + (size_t)lo * C * 2;
        const nt_bn_share sh = {k, nt, sums};
        nt_batchnorm_share_forward_train(b->out + off, b->mean, b->invstd, b->rm, b->rv,
                                         b->x + off, b->gamma, b->beta, &d, sh);
#pragma omp barrier
        (acc ? nt_batchnorm_share_backward : nt_batchnorm_share_backward_overwrite)(
            din + off, pg + (size_t)k * C, pb + (size_t)k * C, dout + off, b->x + off,
            b->gamma, b->mean, b->invstd, &d, sh);
    }
    ck_assert_int_eq(got, size);
    for (int c = 0; c < C; c++)
        for (int k = 0; k < size; k++) {
            dg[c] += pg[(size_t)k * C + c];
            db[c] += pb[(size_t)k * C + c];
        }
    free(sums);
    free(rows);
    free(pg);
    free(pb);
}

/* The kernels on 1, 2 and 3 shares of a batch against the whole-batch
 * kernels: one share gives the same bits; more shares the same results up
 * to the order of the sums, and the same bits run to run. Shapes 1, 4, 5,
 * 6 of train_shapes (BatchNorm1d with 300 channels: several blocks). */
START_TEST(test_shares)
{
    static const int pick[4] = {1, 4, 5, 6};
    const int *s = train_shapes[pick[_i % 4]];
    const int N = s[0], C = s[1], HW = s[2], acc = _i / 4;
    nt_rng rng;
    nt_rng_seed(&rng, 1000 + _i);
    bn_buf want = bn_alloc(N, C, HW, 2, &rng), got = bn_alloc(N, C, HW, 0, &rng);
    const size_t n = want.n;
    memcpy(got.x, want.x, n * sizeof(float));
    memcpy(got.gamma, want.gamma, C * sizeof(float));
    memcpy(got.beta, want.beta, C * sizeof(float));
    float *rm0 = malloc(C * sizeof(float)), *rv0 = malloc(C * sizeof(float));
    float *dout = tu_alloc_rand(n, &rng), *din0 = tu_alloc_rand(n, &rng);
    float *dw = malloc(n * sizeof(float)), *dgw = calloc(C, sizeof(float)), *dbw = calloc(C, sizeof(float));
    float *dgot = malloc(n * sizeof(float)), *dg = malloc(C * sizeof(float)), *db = malloc(C * sizeof(float));
    float *first = malloc(n * sizeof(float));
    ck_assert(rm0 && rv0 && dout && din0 && dw && dgw && dbw && dgot && dg && db && first);
    memcpy(rm0, want.rm, C * sizeof(float));
    memcpy(rv0, want.rv, C * sizeof(float));
    memcpy(dw, din0, n * sizeof(float));
    nt_batchnorm_forward_train(want.out, want.mean, want.invstd, want.rm, want.rv, want.x,
                               want.gamma, want.beta, &want.d);
    (acc ? nt_batchnorm_backward : nt_batchnorm_backward_overwrite)(
        dw, dgw, dbw, dout, want.x, want.gamma, want.mean, want.invstd, &want.d);
    for (int size = 1; size <= 3 && size <= N; size++)
        for (int rep = 0; rep < (size > 1 ? 2 : 1); rep++) {
            memcpy(got.rm, rm0, C * sizeof(float));
            memcpy(got.rv, rv0, C * sizeof(float));
            memcpy(dgot, din0, n * sizeof(float));
            memset(dg, 0, C * sizeof(float));
            memset(db, 0, C * sizeof(float));
            run_shares(&got, size, dout, dgot, dg, db, acc);
            const struct { const char *what; const float *a, *b; size_t n; } cmp[] = {
                {"out", got.out, want.out, n},         {"mean", got.mean, want.mean, C},
                {"invstd", got.invstd, want.invstd, C}, {"running_mean", got.rm, want.rm, C},
                {"running_var", got.rv, want.rv, C},   {"din", dgot, dw, n},
                {"dgamma", dg, dgw, C},                {"dbeta", db, dbw, C},
            };
            for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
                const double err = max_diff(cmp[k].a, cmp[k].b, cmp[k].n);
                const double scale = max_abs(cmp[k].b, cmp[k].n);
                if (size == 1)
                    ck_assert_msg(memcmp(cmp[k].a, cmp[k].b, cmp[k].n * sizeof(float)) == 0,
                                  "N %d C %d HW %d, one share: %s differs by %g", N, C, HW,
                                  cmp[k].what, err);
                else
                    ck_assert_msg(err <= 1e-6 * scale,
                                  "N %d C %d HW %d, %d shares: %s differs by %g (scale %g)", N,
                                  C, HW, size, cmp[k].what, err, scale);
            }
            if (rep == 0)
                memcpy(first, dgot, n * sizeof(float));
            else
                ck_assert_mem_eq(first, dgot, n * sizeof(float));
        }
    free(rm0);
    free(rv0);
    free(dout);
    free(din0);
    free(dw);
    free(dgw);
    free(dbw);
    free(dgot);
    free(dg);
    free(db);
    free(first);
    bn_free(&want);
    bn_free(&got);
}
END_TEST

/* Two shares with a reduction over processes: the same as test_synced
 * checks for the whole-batch synchronised kernels. */
START_TEST(test_shares_synced)
{
    static const int pick[2] = {5, 6};
    check_synced(train_shapes[pick[_i]], 1100 + (uint64_t)_i, 1, 2);
}
END_TEST

/* ---- PyTorch --------------------------------------------------------------- */

/* The overwriting backward into a NaN-filled din equals the accumulating
 * one into zeros (one and two threads); parameter gradients the same. */
START_TEST(test_backward_overwrite)
{
    const int *s = train_shapes[_i == 0 ? 0 : 6];
    const int N = s[0], C = s[1], HW = s[2];
    nt_rng rng;
    nt_rng_seed(&rng, 600 + _i);
    bn_buf b = bn_alloc(N, C, HW, 2, &rng);
    const size_t n = b.n;
    float *r = tu_alloc_rand(n, &rng), *want = calloc(n, sizeof(float)), *got = tu_alloc_nan(n);
    float *dg[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    float *db[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    ck_assert(r && want && got && dg[0] && dg[1] && db[0] && db[1]);
    nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x, b.gamma, b.beta, &b.d);
    nt_batchnorm_backward(want, dg[0], db[0], r, b.x, b.gamma, b.mean, b.invstd, &b.d);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        memset(dg[1], 0, C * sizeof(float));
        memset(db[1], 0, C * sizeof(float));
        nt_batchnorm_backward_overwrite(got, dg[1], db[1], r, b.x, b.gamma, b.mean, b.invstd,
                                        &b.d);
        TU_ASSERT_CLOSE("din", got, want, n, 0, 0);
        TU_ASSERT_CLOSE("dgamma", dg[1], dg[0], C, 0, 0);
        TU_ASSERT_CLOSE("dbeta", db[1], db[0], C, 0, 0);
    }
    free(r);
    free(want);
    free(got);
    for (int t = 0; t < 2; t++) {
        free(dg[t]);
        free(db[t]);
    }
    bn_free(&b);
}
END_TEST

typedef struct torch_case {
    const char *name;
    int N, C, HW;
    const float *gamma, *beta, *rmean0, *rvar0, *x1, *x2, *x3;
    const float *y1, *mean1, *invstd1, *rmean1, *rvar1;
    const float *dout, *dx, *dgamma, *dbeta;
    const float *rmean3, *rvar3, *yeval;
} torch_case;

static const torch_case torch_cases[2] = {
    {"BatchNorm2d", BN2D_N, BN2D_C, BN2D_HW, bn2d_gamma, bn2d_beta,
     bn2d_rmean0, bn2d_rvar0, bn2d_x1, bn2d_x2, bn2d_x3, bn2d_y1, bn2d_mean1,
     bn2d_invstd1, bn2d_rmean1, bn2d_rvar1, bn2d_dout, bn2d_dx, bn2d_dgamma,
     bn2d_dbeta, bn2d_rmean3, bn2d_rvar3, bn2d_yeval},
    {"BatchNorm1d", BN1D_N, BN1D_C, BN1D_HW, bn1d_gamma, bn1d_beta,
     bn1d_rmean0, bn1d_rvar0, bn1d_x1, bn1d_x2, bn1d_x3, bn1d_y1, bn1d_mean1,
     bn1d_invstd1, bn1d_rmean1, bn1d_rvar1, bn1d_dout, bn1d_dx, bn1d_dgamma,
     bn1d_dbeta, bn1d_rmean3, bn1d_rvar3, bn1d_yeval},
};

START_TEST(test_torch)
{
    const torch_case *t = &torch_cases[_i];
    const nt_bn_dims d = {t->N, t->C, t->HW, EPS, MOMENTUM, NT_ACT_NONE, NULL, 0};
    const size_t n = (size_t)t->N * t->C * t->HW;
    const int C = t->C;
    float out[64], mean[8], invstd[8], rm[8], rv[8];
    float din[64] = {0}, dgamma[8] = {0}, dbeta[8] = {0};
    ck_assert(n <= 64 && C <= 8);
    memcpy(rm, t->rmean0, C * sizeof(float));
    memcpy(rv, t->rvar0, C * sizeof(float));

    nt_batchnorm_forward_train(out, mean, invstd, rm, rv, t->x1, t->gamma,
                               t->beta, &d);
    /* two float implementations with different operation order (PyTorch
     * computes x * s + (beta - mean * s)): a few ulps of values below 8 */
    TU_ASSERT_CLOSE(t->name, out, t->y1, n, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("torch saved mean", mean, t->mean1, C, 1e-6, 1e-6);
    TU_ASSERT_CLOSE("torch saved invstd", invstd, t->invstd1, C, 0, 1e-6);
    TU_ASSERT_CLOSE("torch running mean 1", rm, t->rmean1, C, 1e-6, 1e-6);
    TU_ASSERT_CLOSE("torch running var 1", rv, t->rvar1, C, 0, 1e-6);

    nt_batchnorm_backward(din, dgamma, dbeta, t->dout, t->x1, t->gamma, mean,
                          invstd, &d);
    /* sums of at most 18 products of O(1) values, float rounding */
    TU_ASSERT_CLOSE("torch dinput", din, t->dx, n, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("torch dgamma", dgamma, t->dgamma, C, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("torch dbeta", dbeta, t->dbeta, C, 1e-5, 1e-5);

    nt_batchnorm_forward_train(out, mean, invstd, rm, rv, t->x2, t->gamma,
                               t->beta, &d);
    nt_batchnorm_forward_train(out, mean, invstd, rm, rv, t->x3, t->gamma,
                               t->beta, &d);
    /* three float-rounded updates on each side */
    TU_ASSERT_CLOSE("torch running mean 3", rm, t->rmean3, C, 1e-6, 2e-6);
    TU_ASSERT_CLOSE("torch running var 3", rv, t->rvar3, C, 0, 2e-6);

    nt_batchnorm_forward_eval(out, t->x1, t->gamma, t->beta, rm, rv, &d);
    /* as the training output, plus the running statistics' rounding */
    TU_ASSERT_CLOSE("torch eval out", out, t->yeval, n, 2e-5, 1e-5);
}
END_TEST

/* Every ISA's copy of bn_rows.c gives the generic copy's bits, for rows of
 * every length mod 16 (the tail loops) and a large offset (the two-pass
 * sums); and its sums are those of a double loop up to rounding. */
START_TEST(test_rows_same_bits)
{
    const nt_bn_rows *g = nt_bn_rows_of(NT_ISA_GENERIC), *r = nt_bn_rows_get();
    enum { MAXN = 203 };
    float x[MAXN], dy[MAXN], o1[MAXN], o2[MAXN];
    for (int i = 0; i < MAXN; i++) {
        x[i] = 1000.0f + (float)((i * 37) % 101) / 7.0f - 5.0f;
        dy[i] = (float)((i * 53) % 89) / 13.0f - 3.0f;
    }
    for (int n = 1; n <= MAXN; n += _i + 1) {
        double ref = 0;
        for (int i = 0; i < n; i++)
            ref += x[i];
        const double s = r->sum(x, n), m = s / n;
        ck_assert_msg(memcmp(&s, &(double){g->sum(x, n)}, sizeof s) == 0, "sum n=%d", n);
        ck_assert_msg(fabs(s - ref) <= 1e-12 * fabs(ref), "sum n=%d: %.17g vs %.17g", n, s, ref);
        const double ss = r->sumsq_dev(x, n, m);
        ck_assert_msg(memcmp(&ss, &(double){g->sumsq_dev(x, n, m)}, sizeof ss) == 0,
                      "sumsq n=%d", n);
        double a1 = 0.5, b1 = -0.25, a2 = 0.5, b2 = -0.25;
        r->sums_dy(&a1, &b1, dy, x, n, (float)m);
        g->sums_dy(&a2, &b2, dy, x, n, (float)m);
        ck_assert_msg(a1 == a2 && b1 == b2, "sums_dy n=%d", n);
        r->normalise(o1, x, n, (float)m, 1.5f, 0.25f);
        g->normalise(o2, x, n, (float)m, 1.5f, 0.25f);
        ck_assert_msg(memcmp(o1, o2, sizeof(float) * (size_t)n) == 0, "normalise n=%d", n);
        for (int acc = 0; acc < 2; acc++) {
            for (int i = 0; i < n; i++)
                o1[i] = o2[i] = (float)i;
            r->din(o1, dy, x, n, 0.75f, 0.125f, (float)m, 0.0625f, acc);
            g->din(o2, dy, x, n, 0.75f, 0.125f, (float)m, 0.0625f, acc);
            ck_assert_msg(memcmp(o1, o2, sizeof(float) * (size_t)n) == 0, "din n=%d", n);
        }
    }
}
END_TEST

/* With nt_bn_dims.rows the kernels stream through the examples, and with
 * rows_ready the forward takes the rows a producer wrote: the same bits as
 * the blocks, forward (with a fused relu) and backward (both writes), on one
 * and two threads. {N, C, HW}: rows long enough to stream, at and past the
 * vector width, one too short (the blocks, even with rows) and a large
 * shape above the fork threshold. */
static const int rows_shapes[][3] = {{3, 5, 16}, {5, 3, 37}, {2, 4, 13}, {33, 9, 144}};

START_TEST(test_rows_stream)
{
    const int *s = rows_shapes[_i];
    const int N = s[0], C = s[1], HW = s[2];
    nt_rng rng;
    nt_rng_seed(&rng, 900 + _i);
    bn_buf b = bn_alloc(N, C, HW, 50, &rng);
    b.d.act = NT_ACT_RELU;
    const size_t n = b.n;
    float *rm0 = malloc(C * sizeof(float)), *rv0 = malloc(C * sizeof(float));
    float *want = malloc(n * sizeof(float)), *wm = malloc(C * sizeof(float));
    float *wis = malloc(C * sizeof(float)), *wrm = malloc(C * sizeof(float));
    float *wrv = malloc(C * sizeof(float)), *r = tu_alloc_rand(n, &rng);
    float *din[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    float *dg[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    float *db[2] = {calloc(C, sizeof(float)), calloc(C, sizeof(float))};
    double *rows = malloc((size_t)N * C * 2 * sizeof(double));
    ck_assert(rm0 && rv0 && want && wm && wis && wrm && wrv && r && din[0] && din[1] &&
              dg[0] && dg[1] && db[0] && db[1] && rows);
    memcpy(rm0, b.rm, C * sizeof(float));
    memcpy(rv0, b.rv, C * sizeof(float));
    nt_batchnorm_forward_train(want, wm, wis, b.rm, b.rv, b.x, b.gamma, b.beta, &b.d);
    memcpy(wrm, b.rm, C * sizeof(float));
    memcpy(wrv, b.rv, C * sizeof(float));
    for (int th = 1; th <= 2; th++)
        for (int ready = 0; ready < 2; ready++) {
            nt_set_num_threads(th);
            nt_bn_dims d = b.d;
            d.rows = rows;
            d.rows_ready = ready;
            for (int k = 0; k < N * C * 2; k++)
                rows[k] = ready ? NAN : 0;
            if (ready)
                for (int e = 0; e < N; e++)
                    nt_batchnorm_row_stats(rows + (size_t)e * C * 2, b.x + (size_t)e * C * HW,
                                           C, HW);
            memcpy(b.rm, rm0, C * sizeof(float));
            memcpy(b.rv, rv0, C * sizeof(float));
            for (size_t i = 0; i < n; i++)
                b.out[i] = NAN;
            nt_batchnorm_forward_train(b.out, b.mean, b.invstd, b.rm, b.rv, b.x, b.gamma, b.beta,
                                       &d);
            ck_assert_mem_eq(b.out, want, n * sizeof(float));
            ck_assert_mem_eq(b.mean, wm, C * sizeof(float));
            ck_assert_mem_eq(b.invstd, wis, C * sizeof(float));
            ck_assert_mem_eq(b.rm, wrm, C * sizeof(float));
            ck_assert_mem_eq(b.rv, wrv, C * sizeof(float));
        }
    for (int acc = 0; acc < 2; acc++)
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            nt_bn_dims d = b.d;
            for (int k = 0; k < 2; k++) {
                d.rows = k ? rows : NULL;
                for (size_t i = 0; i < n; i++)
                    din[k][i] = acc ? (float)(i % 7) : NAN;
                memset(dg[k], 0, C * sizeof(float));
                memset(db[k], 0, C * sizeof(float));
                (acc ? nt_batchnorm_backward : nt_batchnorm_backward_overwrite)(
                    din[k], dg[k], db[k], r, b.x, b.gamma, b.mean, b.invstd, &d);
            }
            ck_assert_mem_eq(din[1], din[0], n * sizeof(float));
            ck_assert_mem_eq(dg[1], dg[0], C * sizeof(float));
            ck_assert_mem_eq(db[1], db[0], C * sizeof(float));
        }
    nt_set_num_threads(1);
    free(rm0), free(rv0), free(want), free(wm), free(wis), free(wrm), free(wrv), free(r);
    for (int k = 0; k < 2; k++)
        free(din[k]), free(dg[k]), free(db[k]);
    free(rows);
    bn_free(&b);
}
END_TEST

static Suite *batchnorm_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("train_forward");
    tcase_add_loop_test(tc, test_train_forward, 0,
                        sizeof train_shapes / sizeof train_shapes[0]);
    tcase_add_test(tc, test_train_offset);
    suite_add_tcase(s, tc);

    tc = tcase_create("running_stats");
    tcase_add_test(tc, test_running_by_hand);
    tcase_add_loop_test(tc, test_running_several, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("eval_forward");
    tcase_add_loop_test(tc, test_eval_forward, 0,
                        sizeof train_shapes / sizeof train_shapes[0]);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0,
                        sizeof bwd_shapes / sizeof bwd_shapes[0]);
    tcase_add_loop_test(tc, test_backward_threads, 0, 2);
    tcase_add_loop_test(tc, test_backward_overwrite, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("synchronised");
    tcase_add_loop_test(tc, test_synced, 0, 8);
    suite_add_tcase(s, tc);

    tc = tcase_create("shares");
    tcase_add_loop_test(tc, test_shares, 0, 8);
    tcase_add_loop_test(tc, test_shares_synced, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("rows");
    tcase_add_loop_test(tc, test_rows_same_bits, 0, 3);
    tcase_add_loop_test(tc, test_rows_stream, 0, sizeof rows_shapes / sizeof rows_shapes[0]);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_torch, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_isa_paths("batchnorm", batchnorm_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
