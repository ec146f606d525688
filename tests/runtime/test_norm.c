/* test_norm.c - norm.c (group norm, and layer norm as its one-group case)
 * against a double-precision reference of PyTorch's definition and central
 * finite differences of it, with 1 and 2 threads. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

/* shapes: N, G, C, HW; the last ones are layer norm (G = 1, HW = 1) and a
 * size above the parallel threshold */
static const nt_norm_dims shapes[] = {
    {2, 2, 4, 9, 1e-5f},   {3, 4, 8, 5, 1e-3f},   {2, 1, 6, 7, 1e-5f},
    {1, 3, 3, 1, 1e-5f},   {3, 1, 40, 1, 1e-5f},  {4, 8, 32, 300, 1e-5f},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static size_t count(const nt_norm_dims *d) { return (size_t)d->N * d->C * d->HW; }

/* PyTorch's GroupNorm in double: biased variance over each group */
static void ref_forward(double *out, const float *in, const float *gamma, const float *beta,
                        const nt_norm_dims *d)
{
    const int cg = d->C / d->G;
    const size_t len = (size_t)cg * d->HW;
    for (int q = 0; q < d->N * d->G; q++) {
        const float *x = in + q * len;
        double mu = 0, var = 0;
        for (size_t i = 0; i < len; i++)
            mu += x[i];
        mu /= (double)len;
        for (size_t i = 0; i < len; i++)
            var += (x[i] - mu) * (x[i] - mu);
        var /= (double)len;
        for (size_t i = 0; i < len; i++) {
            int c = (q % d->G) * cg + (int)(i / d->HW);
            out[q * len + i] = (x[i] - mu) / sqrt(var + d->eps) * gamma[c] + beta[c];
        }
    }
}

typedef struct fd_ctx {
    const nt_norm_dims *d;
    const float *in, *gamma, *beta, *r;
} fd_ctx;

/* sum(ref(in) * r) */
static double fd_loss(void *p)
{
    const fd_ctx *c = p;
    size_t n = count(c->d);
    double *y = malloc(n * sizeof(double)), s = 0;
    ref_forward(y, c->in, c->gamma, c->beta, c->d);
    for (size_t i = 0; i < n; i++)
        s += y[i] * c->r[i];
    free(y);
    return s;
}

START_TEST(test_forward)
{
    const nt_norm_dims *d = &shapes[_i];
    const size_t n = count(d);
    nt_rng rng;
    nt_rng_seed(&rng, 100 + _i);
    float *x = tu_alloc_rand(n, &rng), *g = tu_alloc_rand(d->C, &rng);
    float *b = tu_alloc_rand(d->C, &rng);
    for (size_t i = 0; i < n; i++)
        x[i] = 3 * x[i] + 1; /* an offset and a scale to remove */
    double *want = malloc(n * sizeof(double));
    ref_forward(want, x, g, b, d);
    float *y[2], *mean[2], *invstd[2];
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        y[th - 1] = tu_alloc_nan(n);
        mean[th - 1] = tu_alloc_nan((size_t)d->N * d->G);
        invstd[th - 1] = tu_alloc_nan((size_t)d->N * d->G);
        nt_groupnorm_forward(y[th - 1], mean[th - 1], invstd[th - 1], x, g, b, d);
        TU_ASSERT_CLOSE_D("groupnorm forward", y[th - 1], want, n, 1e-6, 1e-5);
    }
    ck_assert_mem_eq(y[0], y[1], n * sizeof(float));
    ck_assert_mem_eq(invstd[0], invstd[1], (size_t)d->N * d->G * sizeof(float));
    /* the saved statistics are the group's mean and 1/sqrt(var + eps) */
    for (int q = 0; q < d->N * d->G; q++)
        ck_assert(isfinite(mean[0][q]) && invstd[0][q] > 0);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(mean[k]);
        free(invstd[k]);
    }
    free(x);
    free(g);
    free(b);
    free(want);
}
END_TEST

/* din, dgamma and dbeta against central differences, accumulated into what
 * they held; 1 and 2 threads give the same bits. */
START_TEST(test_backward)
{
    const nt_norm_dims *d = &shapes[_i];
    const size_t n = count(d);
    nt_rng rng;
    nt_rng_seed(&rng, 200 + _i);
    float *x = tu_alloc_rand(n, &rng), *g = tu_alloc_rand(d->C, &rng);
    float *b = tu_alloc_rand(d->C, &rng), *r = tu_alloc_rand(n, &rng);
    float *y = tu_alloc_nan(n), *mean = tu_alloc_nan((size_t)d->N * d->G);
    float *invstd = tu_alloc_nan((size_t)d->N * d->G);
    float *din0 = tu_alloc_rand(n, &rng), *dg0 = tu_alloc_rand(d->C, &rng);
    float *db0 = tu_alloc_rand(d->C, &rng);
    nt_groupnorm_forward(y, mean, invstd, x, g, b, d);
    float *din[2], *dg[2], *db[2];
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        din[th - 1] = malloc(n * sizeof(float));
        dg[th - 1] = malloc(d->C * sizeof(float));
        db[th - 1] = malloc(d->C * sizeof(float));
        memcpy(din[th - 1], din0, n * sizeof(float));
        memcpy(dg[th - 1], dg0, d->C * sizeof(float));
        memcpy(db[th - 1], db0, d->C * sizeof(float));
        nt_groupnorm_backward(din[th - 1], dg[th - 1], db[th - 1], r, x, g, mean, invstd, d);
    }
    ck_assert_mem_eq(din[0], din[1], n * sizeof(float));
    ck_assert_mem_eq(dg[0], dg[1], d->C * sizeof(float));
    ck_assert_mem_eq(db[0], db[1], d->C * sizeof(float));
    if (n <= 4096) { /* finite differences of the small shapes */
        fd_ctx ctx = {d, x, g, b, r};
        double *want = malloc(n * sizeof(double));
        tu_numeric_grad(want, x, n, 1e-3, fd_loss, &ctx);
        for (size_t i = 0; i < n; i++)
            want[i] += din0[i];
        TU_ASSERT_CLOSE_D("groupnorm din", din[0], want, n, 2e-4, 1e-3);
        tu_numeric_grad(want, g, d->C, 1e-3, fd_loss, &ctx);
        for (int c = 0; c < d->C; c++)
            want[c] += dg0[c];
        TU_ASSERT_CLOSE_D("groupnorm dgamma", dg[0], want, d->C, 2e-4, 1e-3);
        tu_numeric_grad(want, b, d->C, 1e-3, fd_loss, &ctx);
        for (int c = 0; c < d->C; c++)
            want[c] += db0[c];
        TU_ASSERT_CLOSE_D("groupnorm dbeta", db[0], want, d->C, 2e-4, 1e-3);
        free(want);
    }
    /* overwriting a NaN-filled din: as accumulating into zeros, while the
     * parameter gradients accumulate as before */
    for (size_t i = 0; i < n; i++) {
        din[0][i] = 0.0f;
        din[1][i] = NAN;
    }
    memcpy(dg[1], dg0, d->C * sizeof(float));
    memcpy(db[1], db0, d->C * sizeof(float));
    nt_groupnorm_backward(din[0], dg[1], db[1], r, x, g, mean, invstd, d);
    memcpy(dg[1], dg0, d->C * sizeof(float));
    memcpy(db[1], db0, d->C * sizeof(float));
    nt_groupnorm_backward_overwrite(din[1], dg[1], db[1], r, x, g, mean, invstd, d);
    ck_assert_mem_eq(din[0], din[1], n * sizeof(float));
    ck_assert_mem_eq(dg[0], dg[1], d->C * sizeof(float));
    ck_assert_mem_eq(db[0], db[1], d->C * sizeof(float));
    /* no input gradient wanted: the parameter gradients are the same */
    memcpy(dg[1], dg0, d->C * sizeof(float));
    memcpy(db[1], db0, d->C * sizeof(float));
    nt_groupnorm_backward(NULL, dg[1], db[1], r, x, g, mean, invstd, d);
    ck_assert_mem_eq(dg[0], dg[1], d->C * sizeof(float));
    ck_assert_mem_eq(db[0], db[1], d->C * sizeof(float));
    for (int k = 0; k < 2; k++) {
        free(din[k]);
        free(dg[k]);
        free(db[k]);
    }
    free(x);
    free(g);
    free(b);
    free(r);
    free(y);
    free(mean);
    free(invstd);
    free(din0);
    free(dg0);
    free(db0);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("group and layer norm");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_forward, 0, NSHAPES);
    tcase_add_loop_test(tc, test_backward, 0, NSHAPES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(norm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
