/* test_conv_grouped.c - conv_grouped.c: both paths (im2col + GEMM per group,
 * direct depthwise) against the plain reference loops, with 1 and 2
 * threads, and the reference backward against central finite differences
 * of the reference forward. Shapes cover grouped (ResNeXt), depthwise
 * (MobileNet, also with a channel multiplier), dilated, strided and padded
 * convolutions, without bias too; on every GEMM path the CPU can take. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "gemm_paths.h"
#include "nt_kernels.h"

typedef nt_conv2d_grouped_dims dims;

/* N, C, H, W, OC, KH, KW, SH, SW, PH, PW, DH, DW, G (OH, OW computed) */
static const int shapes[][14] = {
    {2, 4, 7, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},   /* grouped */
    {2, 8, 9, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 4},   /* grouped, strided */
    {3, 3, 8, 7, 5, 3, 2, 1, 1, 2, 1, 2, 3, 1},   /* dilated only */
    {2, 6, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6},   /* depthwise */
    {2, 4, 9, 7, 8, 3, 5, 2, 1, 1, 2, 1, 1, 4},   /* depthwise, multiplier 2 */
    {1, 4, 10, 10, 4, 3, 3, 1, 2, 2, 2, 2, 2, 4}, /* depthwise, dilated */
    {2, 6, 11, 9, 9, 2, 3, 1, 2, 1, 0, 3, 2, 3},  /* grouped, dilated */
    {8, 32, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 8}, /* above the parallel threshold */
    {8, 32, 20, 20, 32, 3, 3, 1, 1, 2, 2, 2, 2, 32},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static dims dims_of(const int *s)
{
    dims d = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
              s[11], s[12], s[13], 0, 0};
    d.OH = (d.H + 2 * d.PH - d.DH * (d.KH - 1) - 1) / d.SH + 1;
    d.OW = (d.W + 2 * d.PW - d.DW * (d.KW - 1) - 1) / d.SW + 1;
    return d;
}

static size_t in_n(const dims *d) { return (size_t)d->N * d->C * d->H * d->W; }
static size_t out_n(const dims *d) { return (size_t)d->N * d->OC * d->OH * d->OW; }
static size_t w_n(const dims *d) { return (size_t)d->OC * (d->C / d->G) * d->KH * d->KW; }

START_TEST(test_against_reference)
{
    dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 300 + _i);
    float *x = tu_alloc_rand(in_n(&d), &rng), *w = tu_alloc_rand(w_n(&d), &rng);
    float *b = tu_alloc_rand(d.OC, &rng), *g = tu_alloc_rand(out_n(&d), &rng);
    float *want = tu_alloc_nan(out_n(&d));
    float *din_ref = calloc(in_n(&d), sizeof(float)), *dw_ref = calloc(w_n(&d), sizeof(float));
    float *db_ref = calloc(d.OC, sizeof(float));
    for (int bias = 0; bias <= 1; bias++) {
        nt_conv2d_grouped_forward_ref(want, x, w, bias ? b : NULL, &d);
        memset(din_ref, 0, in_n(&d) * sizeof(float));
        memset(dw_ref, 0, w_n(&d) * sizeof(float));
        memset(db_ref, 0, d.OC * sizeof(float));
        nt_conv2d_grouped_backward_ref(din_ref, dw_ref, bias ? db_ref : NULL, g, x, w, &d);
        float *y[2], *din[2];
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            float *scratch = malloc((nt_conv2d_grouped_scratch_floats(&d, th) + 1) * sizeof(float));
            float *dw = calloc(w_n(&d), sizeof(float)), *db = calloc(d.OC, sizeof(float));
            y[th - 1] = tu_alloc_nan(out_n(&d));
            din[th - 1] = calloc(in_n(&d), sizeof(float));
            nt_conv2d_grouped_forward(y[th - 1], x, w, bias ? b : NULL, &d, scratch);
            TU_ASSERT_CLOSE("grouped forward", y[th - 1], want, out_n(&d), 1e-5, 1e-4);
            nt_conv2d_grouped_backward(din[th - 1], dw, bias ? db : NULL, g, x, w, &d, scratch);
            TU_ASSERT_CLOSE("grouped din", din[th - 1], din_ref, in_n(&d), 1e-5, 1e-4);
            TU_ASSERT_CLOSE("grouped dw", dw, dw_ref, w_n(&d), 1e-4, 1e-4);
            if (bias)
                TU_ASSERT_CLOSE("grouped db", db, db_ref, d.OC, 1e-4, 1e-4);
            /* without an input gradient the weights' gradient is the same */
            float *dw2 = calloc(w_n(&d), sizeof(float));
            nt_conv2d_grouped_backward(NULL, dw2, NULL, g, x, w, &d, scratch);
            ck_assert_mem_eq(dw, dw2, w_n(&d) * sizeof(float));
            free(dw2);
            free(dw);
            free(db);
            free(scratch);
        }
        /* the thread count changes no bit of the forward or the input gradient */
        ck_assert_mem_eq(y[0], y[1], out_n(&d) * sizeof(float));
        ck_assert_mem_eq(din[0], din[1], in_n(&d) * sizeof(float));
        for (int k = 0; k < 2; k++) {
            free(y[k]);
            free(din[k]);
        }
    }
    free(x);
    free(w);
    free(b);
    free(g);
    free(want);
    free(din_ref);
    free(dw_ref);
    free(db_ref);
}
END_TEST

typedef struct fd_ctx {
    const dims *d;
    const float *x, *w, *b, *r;
} fd_ctx;

/* sum(conv_ref(x, w, b) * r) */
static double fd_loss(void *p)
{
    const fd_ctx *c = p;
    size_t n = out_n(c->d);
    float *y = malloc(n * sizeof(float));
    nt_conv2d_grouped_forward_ref(y, c->x, c->w, c->b, c->d);
    double s = tu_dot(y, c->r, n);
    free(y);
    return s;
}

/* The reference backward is the gradient of the reference forward. */
START_TEST(test_finite_differences)
{
    dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 400 + _i);
    float *x = tu_alloc_rand(in_n(&d), &rng), *w = tu_alloc_rand(w_n(&d), &rng);
    float *b = tu_alloc_rand(d.OC, &rng), *r = tu_alloc_rand(out_n(&d), &rng);
    float *din = calloc(in_n(&d), sizeof(float)), *dw = calloc(w_n(&d), sizeof(float));
    float *db = calloc(d.OC, sizeof(float));
    nt_conv2d_grouped_backward_ref(din, dw, db, r, x, w, &d);
    fd_ctx ctx = {&d, x, w, b, r};
    size_t most = in_n(&d) > w_n(&d) ? in_n(&d) : w_n(&d);
    double *want = malloc(most * sizeof(double));
    tu_numeric_grad(want, x, in_n(&d), 1e-2, fd_loss, &ctx);
    TU_ASSERT_CLOSE_D("din vs finite differences", din, want, in_n(&d), 1e-3, 1e-3);
    tu_numeric_grad(want, w, w_n(&d), 1e-2, fd_loss, &ctx);
    TU_ASSERT_CLOSE_D("dw vs finite differences", dw, want, w_n(&d), 1e-3, 1e-3);
    tu_numeric_grad(want, b, d.OC, 1e-2, fd_loss, &ctx);
    TU_ASSERT_CLOSE_D("db vs finite differences", db, want, d.OC, 1e-3, 1e-3);
    free(want);
    free(x);
    free(w);
    free(b);
    free(r);
    free(din);
    free(dw);
    free(db);
}
END_TEST

static Suite *conv_grouped_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("grouped, depthwise, dilated");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_against_reference, 0, NSHAPES);
    tcase_add_loop_test(tc, test_finite_differences, 0, NSHAPES - 2); /* the small ones */
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_gemm_paths("conv_grouped", conv_grouped_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
