/* test_conv.c - conv.c: the im2col + GEMM kernels against the plain
 * reference loops (odd sizes, stride, padding, 1x1 and 11x11 kernels,
 * non-square everything, batch 1 and more, bias or not, 1 and 2 threads),
 * both against central finite differences of a double-precision forward,
 * accumulation into pre-filled gradients, din == NULL, determinism, a scratch
 * size independent of N, and PyTorch's numbers. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/conv_torch.h"
#include "gemm_paths.h"
#include "nt_kernels.h"

typedef struct conv_case {
    int N, C, H, W, OC, KH, KW, SH, SW, PH, PW, bias;
} conv_case;

/* Shapes for optimised-against-reference checks. The comments name the path
 * each takes in conv.c with 2 threads (tiles are at most ~2^18 / (C*KH*KW)
 * columns, at least 256; output rows shorter than 16 take the gather path,
 * stride-1 ones as one vector per row and tap; on AVX2 and AVX-512,
 * stride-1 layers with C*KH*KW <= 256, OC <= 64 and planes of at most 1024
 * pixels take the lanes path, conv_lanes.c, and on the portable path the
 * path they would take without it). */
static const conv_case cases[] = {
    /* the lanes path: tiny, one block of images padded with empty lanes */
    {2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1},
    /* images split into 2 tiles; 2 images in parallel, the third by the
     * whole team */
    {3, 2, 65, 65, 4, 3, 3, 1, 1, 1, 1, 1},
    /* 1x1 stride 1: no im2col, images split into 2 tiles */
    {3, 3, 70, 70, 5, 1, 1, 1, 1, 0, 0, 0},
    /* AlexNet-like 11x11 stride 4, images split into 2 tiles */
    {2, 3, 115, 115, 4, 11, 11, 4, 4, 2, 2, 1},
    /* groups of 3 images: 2 in parallel, the third by the whole team */
    {9, 2, 33, 33, 3, 3, 3, 1, 1, 1, 1, 1},
    /* non-square kernel, stride and padding; groups of 3 and 2 images */
    {5, 8, 9, 12, 16, 2, 5, 2, 3, 1, 2, 0},
    /* batch 1: one tile run by the team, nt_sgemm splits the GEMMs */
    {1, 16, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1},
    /* small spatial size, many channels: one image per thread */
    {2, 8, 6, 6, 65, 3, 3, 1, 1, 1, 1, 0},
    /* 1x1, batch 1, tiny */
    {1, 3, 8, 8, 4, 1, 1, 1, 1, 0, 0, 1},
    /* 1x1 stride 2: not the direct path */
    {2, 6, 9, 9, 5, 1, 1, 2, 2, 0, 0, 1},
    /* 1x1, batch 1, team: the direct path split over threads */
    {1, 32, 30, 30, 16, 1, 1, 1, 1, 0, 0, 0},
    /* short output rows (the gather path) in images split into 2 tiles */
    {3, 32, 64, 15, 8, 3, 3, 1, 1, 1, 1, 1},
    /* the vector lowering of short stride-1 rows (GoogLeNet's, ResNet's
     * 7x7 layers), too many taps for the lanes path */
    {3, 32, 7, 7, 16, 3, 3, 1, 1, 1, 1, 1},
    /* the lanes path: LeNet's two convolutions (a batch of 20: a full block
     * of 16 and a part block on AVX-512, on AVX2 two full and a part), many
     * output channels, and padding wider than the kernel */
    {20, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1},
    {20, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1},
    {3, 4, 9, 11, 64, 3, 3, 1, 1, 1, 1, 1},
    {2, 2, 6, 7, 3, 3, 2, 1, 1, 4, 3, 0},
    /* the direct path (conv_direct.c; stride 1, C <= 16, OC <= 32, rows of
     * at most 64 that fill 3/4 of their vectors), with planes too big for
     * the lanes path: rows of 2, 3 and 4 vectors */
    {3, 1, 36, 36, 6, 5, 5, 1, 1, 2, 2, 1},
    {2, 3, 24, 48, 4, 3, 3, 1, 1, 1, 1, 1},
    {3, 2, 50, 62, 3, 3, 2, 1, 1, 1, 1, 0},
    /* the direct path on wide rows of one channel, in strips: 150 in 5
     * strips of 2 vectors, 224 (VGG's first conv) in 7 strips that end where
     * the rows end (dout read in place when din is NULL), 80 in strips of 3 */
    {3, 1, 9, 150, 4, 3, 3, 1, 1, 1, 1, 1},
    {2, 1, 6, 224, 5, 3, 3, 1, 1, 1, 1, 0},
    {2, 1, 7, 80, 3, 5, 3, 1, 1, 2, 1, 1},
    /* stride-2 columns (ResNet's first conv, 7x7 stride 2), rows of 20
     * and 37 outputs: one permute per 16 on AVX-512, then scalars */
    {2, 3, 40, 40, 4, 7, 7, 2, 2, 3, 3, 1},
    {1, 2, 9, 75, 3, 3, 4, 2, 2, 1, 0, 0},
    /* the implicit-GEMM path (conv_implicit.c, AVX2 and AVX-512; stride-1
     * "same" layers with padded rows of 16 or more, too big for the lanes
     * path, too many channels for the direct one; the backward from rows
     * of 20):
     * channel counts that fill no register block (20 and 17 rows of 8 or
     * 4; 20, 72 and 17 channels padded to 16), odd rows (the weight
     * gradient's pixel pairs), 5x5 and 3x5 kernels, batch 3 on 2 threads */
    {3, 17, 33, 35, 20, 3, 3, 1, 1, 1, 1, 1},
    {2, 5, 20, 21, 72, 5, 5, 1, 1, 2, 2, 0},
    {2, 20, 9, 30, 16, 3, 5, 1, 1, 1, 2, 1},
    /* ... and forward only (rows of 16) */
    {2, 30, 5, 14, 20, 3, 3, 1, 1, 1, 1, 1},
    /* the pixel path (conv_pixel.c: the own SGEMM, at most 256 output
     * pixels, 64 channels or more, a batch of at least a block of 32):
     * ResNet's 3x3 "same" layer with a block and a part block of 3 images
     * (on 2 threads, one each), its stride-2 entry, a 3x5 kernel with
     * padding as wide as the kernel (windows of padding only), channel
     * counts that fill no register block; strides 3 and 2 with a 1x3
     * kernel whose padding rows see only zeros; 1x1 kernels, stride 1 and
     * 2 */
    {35, 64, 3, 3, 40, 3, 3, 1, 1, 1, 1, 1},
    {33, 65, 6, 5, 20, 3, 3, 2, 2, 1, 1, 0},
    {32, 64, 4, 7, 13, 3, 5, 1, 1, 3, 5, 1},
    {33, 70, 8, 7, 24, 1, 3, 3, 2, 1, 0, 1},
    {33, 64, 5, 6, 24, 1, 1, 1, 1, 0, 0, 1},
    {32, 66, 7, 7, 20, 1, 1, 2, 2, 0, 0, 0},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])
#define NRANDOM 8

/* Small shapes for finite differences (two forwards per input and weight
 * element). The last one has padding as wide as the kernel: some windows
 * see only zeros. */
static const conv_case grad_cases[] = {
    {2, 3, 7, 8, 4, 3, 2, 2, 1, 1, 2, 1},
    {1, 2, 9, 10, 3, 5, 5, 3, 3, 2, 1, 0},
    {2, 4, 3, 5, 3, 1, 1, 1, 1, 0, 0, 1},
    {3, 2, 5, 6, 3, 3, 3, 2, 1, 3, 0, 1},
    /* the lanes path: LeNet-like, and padding wider than the kernel */
    {2, 2, 8, 9, 3, 5, 5, 1, 1, 2, 2, 1},
    {2, 2, 4, 5, 2, 2, 3, 1, 1, 3, 3, 0},
    /* the direct path on a wide row of one channel, in strips */
    {1, 1, 3, 350, 2, 3, 3, 1, 1, 1, 1, 1},
    /* the implicit-GEMM path (65 channels: not the lanes path), forward
     * only and both ways */
    {1, 2, 3, 14, 65, 3, 3, 1, 1, 1, 1, 1},
    {1, 2, 2, 20, 65, 3, 3, 1, 1, 1, 1, 0},
};
#define NGRAD (int)(sizeof grad_cases / sizeof grad_cases[0])

static nt_conv2d_dims dims_of(const conv_case *c)
{
    nt_conv2d_dims d = {c->N,  c->C,  c->H,  c->W,  c->OC, c->KH, c->KW, c->SH,
                        c->SW, c->PH, c->PW, 0,     0,     NT_ACT_NONE, NULL, NULL, 0, 0};
    d.OH = (d.H + 2 * d.PH - d.KH) / d.SH + 1;
    d.OW = (d.W + 2 * d.PW - d.KW) / d.SW + 1;
    return d;
}

/* Case i of cases[], then NRANDOM random shapes with odd sizes, strides up
 * to 3 and padding up to the kernel size. */
static conv_case case_of(int i)
{
    if (i < NCASES)
        return cases[i];
    nt_rng rng;
    nt_rng_seed(&rng, 1000 + (uint64_t)i);
#define RND(lo, hi) ((int)(lo) + (int)nt_rng_below(&rng, (uint64_t)((hi) - (lo) + 1)))
    conv_case c;
    c.N = RND(1, 3);
    c.C = RND(1, 4);
    c.OC = RND(1, 5);
    c.KH = RND(1, 5);
    c.KW = RND(1, 5);
    c.SH = RND(1, 3);
    c.SW = RND(1, 3);
    c.PH = RND(0, c.KH);
    c.PW = RND(0, c.KW);
    c.H = RND(c.KH - 2 * c.PH > 1 ? c.KH - 2 * c.PH : 1, c.KH + 9);
    c.W = RND(c.KW - 2 * c.PW > 1 ? c.KW - 2 * c.PW : 1, c.KW + 9);
    c.bias = RND(0, 1);
#undef RND
    return c;
}

static size_t in_size(const nt_conv2d_dims *d)
{
    return (size_t)d->N * d->C * d->H * d->W;
}

static size_t w_size(const nt_conv2d_dims *d)
{
    return (size_t)d->OC * d->C * d->KH * d->KW;
}

static size_t out_size(const nt_conv2d_dims *d)
{
    return (size_t)d->N * d->OC * d->OH * d->OW;
}

static float *copy_of(const float *x, size_t n)
{
    float *y = tu_alloc_nan(n);
    memcpy(y, x, sizeof(float) * n);
    return y;
}

/* Scratch of exactly the size asked for (so ASan and valgrind see overruns),
 * filled with NaN (so reads of unwritten scratch poison the result). */
static float *alloc_scratch(const nt_conv2d_dims *d, int nthreads)
{
    return tu_alloc_nan(nt_conv2d_scratch_floats(d, nthreads));
}

typedef struct conv_data {
    nt_conv2d_dims d;
    float *in, *w, *b, *r; /* r: upstream gradient of loss = sum(out * r) */
} conv_data;

static conv_data conv_make(const conv_case *c, uint64_t seed)
{
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    conv_data t;
    t.d = dims_of(c);
    t.in = tu_alloc_rand(in_size(&t.d), &rng);
    t.w = tu_alloc_rand(w_size(&t.d), &rng);
    t.b = c->bias ? tu_alloc_rand((size_t)t.d.OC, &rng) : NULL;
    t.r = tu_alloc_rand(out_size(&t.d), &rng);
    return t;
}

static void conv_free(conv_data *t)
{
    free(t->in);
    free(t->w);
    free(t->b);
    free(t->r);
}

static void describe(char *buf, size_t n, const char *what,
                     const nt_conv2d_dims *d, int nt)
{
    snprintf(buf, n,
             "%s N%d C%d %dx%d OC%d k%dx%d s%dx%d p%dx%d, %d thread(s)", what,
             d->N, d->C, d->H, d->W, d->OC, d->KH, d->KW, d->SH, d->SW, d->PH,
             d->PW, nt);
}

/* ---- forward ----------------------------------------------------------------- */

START_TEST(test_forward)
{
    conv_case c = case_of(_i);
    conv_data t = conv_make(&c, 10 + (uint64_t)_i);
    const nt_conv2d_dims *d = &t.d;
    size_t no = out_size(d);
    int ckk = d->C * d->KH * d->KW;
    float *want = tu_alloc_nan(no), *out[2];
    nt_conv2d_forward_ref(want, t.in, t.w, t.b, d);
    float *scratch = alloc_scratch(d, 2);
    char what[160];
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        out[nt - 1] = tu_alloc_nan(no); /* every output must be written */
        nt_conv2d_forward(out[nt - 1], t.in, t.w, t.b, d, scratch);
        describe(what, sizeof what, "conv forward vs ref", d, nt);
        /* the same ckk products (magnitude <= 1, random signs) summed in
         * another order: rounding ~sqrt(ckk) * 2^-24 * |partial sums|, far
         * below 1e-6 * ckk; a wrong or missing tap is off by ~0.1 */
        TU_ASSERT_CLOSE(what, out[nt - 1], want, no, 1e-6 * ckk, 1e-5);
    }
    describe(what, sizeof what, "conv forward 1 vs 2 threads", d, 2);
    TU_ASSERT_CLOSE(what, out[1], out[0], no, 1e-6 * ckk, 1e-5);
    /* with the sigmoid epilogue: exactly nt_sigmoid_forward's bits, and
     * with the relu epilogue exactly max(forward, 0), every path */
    float *fused = tu_alloc_nan(no), *act = tu_alloc_nan(no);
    nt_conv2d_sigmoid_forward(fused, t.in, t.w, t.b, d, scratch);
    nt_sigmoid_forward(act, out[1], no);
    describe(what, sizeof what, "conv+sigmoid forward vs forward then sigmoid", d, 2);
    TU_ASSERT_CLOSE(what, fused, act, no, 0.0, 0.0);
    nt_conv2d_relu_forward(fused, t.in, t.w, t.b, d, scratch);
    for (size_t i = 0; i < no; i++)
        out[1][i] = out[1][i] < 0.0f ? 0.0f : out[1][i];
    describe(what, sizeof what, "conv+relu forward vs forward then relu", d, 2);
    TU_ASSERT_CLOSE(what, fused, out[1], no, 0.0, 0.0);
    /* with the rows of a batch norm reading the output: the output's bits
     * unchanged, and each image's rows those of nt_batchnorm_row_stats (or
     * untouched when the batch norm takes none for this shape) */
    const int hw = d->OH * d->OW;
    const size_t nrows = (size_t)d->N * d->OC * 2;
    double *rows = malloc(sizeof(double) * nrows), *rows_want = malloc(sizeof(double) * nrows);
    ck_assert(rows && rows_want);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        nt_conv2d_dims ds = *d;
        ds.bn_rows = rows;
        for (size_t i = 0; i < nrows; i++)
            rows[i] = NAN;
        nt_conv2d_forward(act, t.in, t.w, t.b, d, scratch);
        nt_conv2d_forward(fused, t.in, t.w, t.b, &ds, scratch);
        describe(what, sizeof what, "conv forward with batch-norm rows", d, nt);
        TU_ASSERT_CLOSE(what, fused, act, no, 0.0, 0.0);
        for (size_t n = 0; n < (size_t)d->N; n++)
            nt_batchnorm_row_stats(rows_want + n * d->OC * 2, act + n * d->OC * hw, d->OC, hw);
        size_t bad = 0;
        for (size_t i = 0; i < nrows; i++)
            bad += nt_batchnorm_takes_rows(hw) ? memcmp(&rows[i], &rows_want[i], sizeof(double)) != 0
                                               : !isnan(rows[i]);
        ck_assert_msg(bad == 0, "%s: %zu of %zu row sums differ", what, bad, nrows);
    }
    free(rows);
    free(rows_want);
    /* a NaN in the input stays NaN through the fused relu, as through
     * nt_relu_forward (a diverging run must not be masked) */
    t.in[in_size(d) / 2] = NAN;
    nt_conv2d_forward(out[1], t.in, t.w, t.b, d, scratch);
    nt_conv2d_relu_forward(fused, t.in, t.w, t.b, d, scratch);
    size_t nans = 0, wrong = 0;
    for (size_t i = 0; i < no; i++) {
        const float want_i = out[1][i] < 0.0f ? 0.0f : out[1][i];
        nans += isnan(want_i) != 0;
        wrong += isnan(want_i) ? !isnan(fused[i]) : fused[i] != want_i;
    }
    describe(what, sizeof what, "conv+relu forward with a NaN input", d, 2);
    ck_assert_msg(wrong == 0, "%s: %zu of %zu outputs differ (%zu NaN)", what, wrong, no, nans);
    free(act);
    free(fused);
    free(out[0]);
    free(out[1]);
    free(want);
    free(scratch);
    conv_free(&t);
}
END_TEST

/* ---- backward against the reference ------------------------------------------ */

START_TEST(test_backward)
{
    conv_case c = case_of(_i);
    conv_data t = conv_make(&c, 20 + (uint64_t)_i);
    const nt_conv2d_dims *d = &t.d;
    size_t ni = in_size(d), nw = w_size(d), nb = (size_t)d->OC;
    nt_rng rng;
    nt_rng_seed(&rng, 30 + (uint64_t)_i);
    /* gradients start from random values: backward must add to them */
    float *din0 = tu_alloc_rand(ni, &rng), *dw0 = tu_alloc_rand(nw, &rng);
    float *db0 = tu_alloc_rand(nb, &rng);
    float *want_in = copy_of(din0, ni), *want_w = copy_of(dw0, nw);
    float *want_b = copy_of(db0, nb);
    nt_conv2d_backward_ref(want_in, want_w, t.b ? want_b : NULL, t.r, t.in, t.w,
                           d);
    /* dw and db sum N*OH*OW products and din up to OC*KH*KW of them (all of
     * magnitude <= 1, random signs) in float, the reference one by one: the
     * rounding error grows at most ~linearly with the count, ~2^-24 per
     * term times |partial sums| <= sqrt(count) */
    double tol_w = 2e-7 * d->N * d->OH * d->OW + 1e-6;
    double tol_in = 2e-7 * d->OC * d->KH * d->KW + 1e-6;

    float *scratch = alloc_scratch(d, 2);
    float *din = tu_alloc_nan(ni), *dw = tu_alloc_nan(nw), *db = tu_alloc_nan(nb);
    char what[160];
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        memcpy(din, din0, sizeof(float) * ni);
        memcpy(dw, dw0, sizeof(float) * nw);
        memcpy(db, db0, sizeof(float) * nb);
        nt_conv2d_backward(din, dw, t.b ? db : NULL, t.r, t.in, t.w, d, scratch);
        describe(what, sizeof what, "conv din vs ref", d, nt);
        TU_ASSERT_CLOSE(what, din, want_in, ni, tol_in, 1e-5);
        describe(what, sizeof what, "conv dw vs ref", d, nt);
        TU_ASSERT_CLOSE(what, dw, want_w, nw, tol_w, 1e-5);
        describe(what, sizeof what, "conv db vs ref", d, nt);
        TU_ASSERT_CLOSE(what, db, want_b, nb, tol_w, 1e-5);

        /* the same call again from the same start: bit for bit the same
         * (deterministic for a fixed thread count), and din == NULL changes
         * nothing else */
        float *dw2 = copy_of(dw0, nw), *db2 = copy_of(db0, nb);
        float *din2 = copy_of(din0, ni);
        nt_conv2d_backward(din2, dw2, t.b ? db2 : NULL, t.r, t.in, t.w, d,
                           scratch);
        ck_assert_msg(memcmp(din2, din, sizeof(float) * ni) == 0 &&
                          memcmp(dw2, dw, sizeof(float) * nw) == 0 &&
                          memcmp(db2, db, sizeof(float) * nb) == 0,
                      "conv backward not deterministic with %d thread(s)", nt);
        memcpy(dw2, dw0, sizeof(float) * nw);
        memcpy(db2, db0, sizeof(float) * nb);
        nt_conv2d_backward(NULL, dw2, t.b ? db2 : NULL, t.r, t.in, t.w, d,
                           scratch);
        ck_assert_msg(memcmp(dw2, dw, sizeof(float) * nw) == 0 &&
                          memcmp(db2, db, sizeof(float) * nb) == 0,
                      "conv backward with din == NULL differs, %d thread(s)", nt);
        /* _overwrite: din written from NaN, the same as adding to zeros;
         * dw and db still add */
        memcpy(dw2, dw0, sizeof(float) * nw);
        memcpy(db2, db0, sizeof(float) * nb);
        for (size_t i = 0; i < ni; i++)
            din2[i] = NAN;
        nt_conv2d_backward_overwrite(din2, dw2, t.b ? db2 : NULL, t.r, t.in, t.w, d, scratch);
        float *zero_in = calloc(ni, sizeof(float)), *dwz = copy_of(dw0, nw);
        nt_conv2d_backward(zero_in, dwz, NULL, t.r, t.in, t.w, d, scratch);
        free(dwz);
        describe(what, sizeof what, "conv din overwrite vs add to zeros", d, nt);
        TU_ASSERT_CLOSE(what, din2, zero_in, ni, 0.0, 0.0);
        ck_assert_msg(memcmp(dw2, dw, sizeof(float) * nw) == 0 &&
                          memcmp(db2, db, sizeof(float) * nb) == 0,
                      "conv backward_overwrite changes dw or db, %d thread(s)", nt);
        /* _overwrite with a relu's or a sigmoid's backward folded in (the
         * conv's input is their output y): the same bits as the plain
         * _overwrite followed by the activation's _overwrite backward */
        for (int a = NT_ACT_RELU; a <= NT_ACT_SIGMOID; a++) {
            float *y = tu_alloc_rand(ni, &rng), *want = malloc(sizeof(float) * ni);
            for (size_t i = 0; i < ni; i++) /* relu: half zeros; sigmoid: in (0, 1) */
                y[i] = a == NT_ACT_RELU ? (y[i] < 0.0f ? 0.0f : y[i]) : 0.5f + 0.45f * y[i];
            nt_conv2d_dims da = *d;
            da.act = (nt_act)a;
            da.act_out = y;
            for (size_t i = 0; i < ni; i++)
                din2[i] = NAN;
            memcpy(dw2, dw0, sizeof(float) * nw);
            nt_conv2d_backward_overwrite(din2, dw2, NULL, t.r, t.in, t.w, &da, scratch);
            if (a == NT_ACT_RELU)
                nt_relu_backward_overwrite(want, zero_in, y, ni);
            else
                nt_sigmoid_backward_overwrite(want, zero_in, y, ni);
            describe(what, sizeof what,
                     a == NT_ACT_RELU ? "conv din with relu folded" : "conv din with sigmoid folded",
                     d, nt);
            TU_ASSERT_CLOSE(what, din2, want, ni, 0.0, 0.0);
            free(y);
            free(want);
        }
        free(zero_in);
        free(dw2);
        free(db2);
        free(din2);
    }
    free(din0);
    free(dw0);
    free(db0);
    free(want_in);
    free(want_w);
    free(want_b);
    free(din);
    free(dw);
    free(db);
    free(scratch);
    conv_free(&t);
}
END_TEST

/* ---- finite differences ------------------------------------------------------ */

/* The forward in double, by the definition. */
static void forward_double(double *out, const conv_data *t)
{
    const nt_conv2d_dims *d = &t->d;
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    double s = t->b ? t->b[oc] : 0.0;
                    for (int c = 0; c < d->C; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->SH - d->PH + kh;
                                int iw = ow * d->SW - d->PW + kw;
                                if (ih >= 0 && ih < d->H && iw >= 0 && iw < d->W)
                                    s += (double)t->in[((n * d->C + c) * d->H + ih) * d->W + iw] *
                                         t->w[((oc * d->C + c) * d->KH + kh) * d->KW + kw];
                            }
                    out[((n * d->OC + oc) * d->OH + oh) * d->OW + ow] = s;
                }
}

typedef struct conv_loss {
    const conv_data *t;
    double *out;
} conv_loss;

/* loss = sum(out * r) in double: exactly linear in every input, weight and
 * bias, so central differences have no truncation error. */
static double conv_loss_fn(void *ctx)
{
    conv_loss *l = ctx;
    forward_double(l->out, l->t);
    double s = 0.0;
    for (size_t i = 0; i < out_size(&l->t->d); i++)
        s += l->out[i] * l->t->r[i];
    return s;
}

START_TEST(test_backward_numeric)
{
    conv_case c = grad_cases[_i];
    conv_data t = conv_make(&c, 40 + (uint64_t)_i);
    const nt_conv2d_dims *d = &t.d;
    size_t ni = in_size(d), nw = w_size(d), nb = (size_t)d->OC, no = out_size(d);
    conv_loss l = {&t, malloc(sizeof(double) * no)};
    double *gin = malloc(sizeof(double) * ni), *gw = malloc(sizeof(double) * nw);
    double *gb = malloc(sizeof(double) * nb);
    tu_numeric_grad(gin, t.in, ni, 1e-2, conv_loss_fn, &l);
    tu_numeric_grad(gw, t.w, nw, 1e-2, conv_loss_fn, &l);
    if (t.b)
        tu_numeric_grad(gb, t.b, nb, 1e-2, conv_loss_fn, &l);

    /* the float forwards against the double one, closing the loop between
     * the forward and the gradients below */
    double *want = malloc(sizeof(double) * no);
    forward_double(want, &t);
    float *out = tu_alloc_nan(no), *scratch = alloc_scratch(d, 2);
    nt_conv2d_forward_ref(out, t.in, t.w, t.b, d);
    /* sums of at most 3*2*4 + 1 products of magnitude <= 1: error ~1e-7 */
    TU_ASSERT_CLOSE_D("conv forward_ref vs double", out, want, no, 1e-5, 1e-5);
    nt_conv2d_forward(out, t.in, t.w, t.b, d, scratch);
    TU_ASSERT_CLOSE_D("conv forward vs double", out, want, no, 1e-5, 1e-5);

    float *din = malloc(sizeof(float) * ni), *dw = malloc(sizeof(float) * nw);
    float *db = malloc(sizeof(float) * nb);
    for (int k = 0; k < 3; k++) { /* reference, then 1 and 2 threads */
        memset(din, 0, sizeof(float) * ni);
        memset(dw, 0, sizeof(float) * nw);
        memset(db, 0, sizeof(float) * nb);
        if (k == 0) {
            nt_conv2d_backward_ref(din, dw, t.b ? db : NULL, t.r, t.in, t.w, d);
        } else {
            nt_set_num_threads(k);
            nt_conv2d_backward(din, dw, t.b ? db : NULL, t.r, t.in, t.w, d,
                               scratch);
        }
        char what[160];
        const char *who = k == 0 ? "ref" : "kernel";
        /* float sums of at most N*OH*OW = 88 products of magnitude <= 1
         * against an exact numeric gradient: error ~1e-6 */
        snprintf(what, sizeof what, "conv %s din vs numeric [%d], %d", who, _i, k);
        TU_ASSERT_CLOSE_D(what, din, gin, ni, 1e-4, 1e-5);
        snprintf(what, sizeof what, "conv %s dw vs numeric [%d], %d", who, _i, k);
        TU_ASSERT_CLOSE_D(what, dw, gw, nw, 1e-4, 1e-5);
        if (t.b) {
            snprintf(what, sizeof what, "conv %s db vs numeric [%d], %d", who, _i, k);
            TU_ASSERT_CLOSE_D(what, db, gb, nb, 1e-4, 1e-5);
        }
    }
    free(din);
    free(dw);
    free(db);
    free(out);
    free(want);
    free(scratch);
    free(gin);
    free(gw);
    free(gb);
    free(l.out);
    conv_free(&t);
}
END_TEST

/* ---- scratch ----------------------------------------------------------------- */

/* The scratch size depends on the shape and thread count, not on the batch:
 * a trainer sizes it once for the full batch and reuses it for the smaller
 * last batch, which must then compute the same as the reference. */
START_TEST(test_scratch_independent_of_batch)
{
    nt_set_num_threads(2);
    for (int i = 0; i < NCASES; i++) {
        conv_case c = cases[i];
        nt_conv2d_dims d = dims_of(&c), d1 = d;
        d.N = 64;
        d1.N = 1;
        for (int nt = 1; nt <= 2; nt++)
            ck_assert_uint_eq(nt_conv2d_scratch_floats(&d, nt),
                              nt_conv2d_scratch_floats(&d1, nt));
    }
    conv_case c = cases[4];
    c.N = 5; /* the full batch is 9; this is the last, smaller one */
    conv_data t = conv_make(&c, 50);
    nt_conv2d_dims full = t.d;
    full.N = 9;
    float *scratch = alloc_scratch(&full, 2);
    size_t no = out_size(&t.d);
    float *out = tu_alloc_nan(no), *want = tu_alloc_nan(no);
    nt_conv2d_forward_ref(want, t.in, t.w, t.b, &t.d);
    nt_conv2d_forward(out, t.in, t.w, t.b, &t.d, scratch);
    /* ckk = 18 products of magnitude <= 1 in another order */
    TU_ASSERT_CLOSE("conv last batch", out, want, no, 1e-5, 1e-5);
    free(out);
    free(want);
    free(scratch);
    conv_free(&t);
}
END_TEST

/* ---- PyTorch ----------------------------------------------------------------- */

#define CONV_DIMS(P)                                                        \
    {P##_N,  P##_C,  P##_H,  P##_W,  P##_OC, P##_KH,      P##_KW, P##_SH,  \
     P##_SW, P##_PH, P##_PW, P##_OH, P##_OW, NT_ACT_NONE, NULL, NULL, 0, 0}

typedef struct torch_case {
    nt_conv2d_dims d;
    const float *in, *w, *b, *out, *dout, *din, *dw, *db;
} torch_case;

static void check_torch(const torch_case *tc, int nt)
{
    const nt_conv2d_dims *d = &tc->d;
    nt_set_num_threads(nt);
    size_t ni = in_size(d), nw = w_size(d), no = out_size(d);
    float *out = tu_alloc_nan(no), *scratch = alloc_scratch(d, nt);
    float *din = calloc(ni, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)d->OC, sizeof(float));
    nt_conv2d_forward(out, tc->in, tc->w, tc->b, d, scratch);
    nt_conv2d_backward(din, dw, tc->b ? db : NULL, tc->dout, tc->in, tc->w, d,
                       scratch);
    char what[160];
    /* PyTorch sums the same float products in its own order; inputs are
     * standard normal, weights N(0, 0.25), so sums of <= 88 products stay
     * below ~30 and rounding below ~1e-5 */
    describe(what, sizeof what, "conv out vs torch", d, nt);
    TU_ASSERT_CLOSE(what, out, tc->out, no, 2e-5, 1e-5);
    describe(what, sizeof what, "conv din vs torch", d, nt);
    TU_ASSERT_CLOSE(what, din, tc->din, ni, 2e-5, 1e-5);
    describe(what, sizeof what, "conv dw vs torch", d, nt);
    TU_ASSERT_CLOSE(what, dw, tc->dw, nw, 2e-5, 1e-5);
    if (tc->b) {
        describe(what, sizeof what, "conv db vs torch", d, nt);
        TU_ASSERT_CLOSE(what, db, tc->db, (size_t)d->OC, 2e-5, 1e-5);
    }
    free(out);
    free(scratch);
    free(din);
    free(dw);
    free(db);
}

START_TEST(test_torch)
{
    const torch_case tcs[] = {
        {CONV_DIMS(CONVA), conva_in, conva_w, conva_b, conva_out, conva_dout,
         conva_din, conva_dw, conva_db},
        {CONV_DIMS(CONVB), convb_in, convb_w, NULL, convb_out, convb_dout,
         convb_din, convb_dw, NULL},
        {CONV_DIMS(CONVC), convc_in, convc_w, convc_b, convc_out, convc_dout,
         convc_din, convc_dw, convc_db},
    };
    for (int i = 0; i < 3; i++)
        check_torch(&tcs[i], _i + 1);
}
END_TEST

/* ---- linked convs (in_block, out_block) --------------------------------------- */

/* A chain x -> A -> act1 -> B -> act2 -> C: {N, C0, H, W, then for A, B and
 * C the output channels, kernel, stride and padding, then act1, act2, and
 * whether all three take the pixel GEMMs unlinked too}. */
typedef struct chain_case {
    int N, C0, H, W, c[3], k[3], s[3], p[3];
    nt_act act1, act2;
    int pixel;
} chain_case;

/* Linked when the own SGEMM runs, the batch is whole blocks of 32 and the
 * channels between fill the row tiles (72 and 96 fill every ISA's: 4, 6, 8
 * or 12 rows; 70 none); else the flags change nothing. With 64 channels or
 * more into each conv the unlinked chain takes the pixel GEMMs too, and the
 * linked one gives its bits; with 8 or 16 into A, A takes another path
 * unlinked (rounding apart). */
static const chain_case chain_cases[] = {
    {64, 64, 6, 6, {72, 96, 64}, {3, 1, 3}, {1, 1, 1}, {1, 0, 1}, NT_ACT_RELU, NT_ACT_RELU, 1},
    {32, 64, 3, 3, {96, 72, 64}, {3, 3, 1}, {1, 1, 1}, {1, 1, 0}, NT_ACT_NONE, NT_ACT_SIGMOID, 1},
    {64, 8, 6, 6, {72, 96, 24}, {3, 1, 3}, {1, 1, 1}, {1, 0, 1}, NT_ACT_RELU, NT_ACT_RELU, 0},
    {32, 16, 9, 9, {96, 72, 10}, {3, 3, 1}, {2, 1, 1}, {1, 1, 0}, NT_ACT_NONE, NT_ACT_SIGMOID, 0},
    {33, 16, 5, 5, {72, 96, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, NT_ACT_RELU, NT_ACT_RELU, 0},
    {32, 16, 5, 5, {70, 70, 8}, {3, 1, 3}, {1, 1, 1}, {1, 0, 1}, NT_ACT_RELU, NT_ACT_NONE, 0},
    {2, 16, 5, 5, {72, 96, 8}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, NT_ACT_RELU, NT_ACT_RELU, 0},
};

/* got against want: the same bits, or (exact 0) within rounding of the
 * largest |want| */
static void chain_close(const char *what, const float *got, const float *want, size_t n,
                        int exact)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    TU_ASSERT_CLOSE(what, got, want, n, exact ? 0.0 : 1e-5 * scale, exact ? 0.0 : 1e-5);
}

static void chain_forward(float *out, const float *in, const float *w, const float *b,
                          nt_act act, const nt_conv2d_dims *d, float *scratch)
{
    if (act == NT_ACT_RELU)
        nt_conv2d_relu_forward(out, in, w, b, d, scratch);
    else if (act == NT_ACT_SIGMOID)
        nt_conv2d_sigmoid_forward(out, in, w, b, d, scratch);
    else
        nt_conv2d_forward(out, in, w, b, d, scratch);
}

/* The chain's forward and backward, linked or not: y[3] outputs, g[3] the
 * input gradients of A, B and C (g[0] of x), dw, db the parameter
 * gradients (added to zeros). */
static void run_chain(float **y, float **g, float **dw, float **db, const float *x,
                      float *const *w, float *const *b, const float *r,
                      const nt_conv2d_dims *d, nt_act act1, nt_act act2, float *scratch)
{
    const nt_act act[3] = {act1, act2, NT_ACT_NONE};
    for (int l = 0; l < 3; l++)
        chain_forward(y[l], l ? y[l - 1] : x, w[l], b[l], act[l], &d[l], scratch);
    for (int l = 2; l >= 0; l--) {
        nt_conv2d_dims dl = d[l];
        if (l > 0) { /* the activation before this conv, folded into its backward */
            dl.act = act[l - 1];
            dl.act_out = y[l - 1];
        }
        nt_conv2d_backward_overwrite(g[l], dw[l], db[l], l < 2 ? g[l + 1] : r,
                                     l ? y[l - 1] : x, w[l], &dl, scratch);
    }
}

START_TEST(test_linked)
{
    const chain_case *cc = &chain_cases[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 700 + (uint64_t)_i);
    nt_conv2d_dims d[3], dl[3];
    int ch = cc->C0, h = cc->H, wd = cc->W;
    for (int l = 0; l < 3; l++) {
        const conv_case c = {cc->N, ch, h, wd, cc->c[l], cc->k[l], cc->k[l], cc->s[l],
                             cc->s[l], cc->p[l], cc->p[l], 1};
        d[l] = dl[l] = dims_of(&c);
        ch = d[l].OC, h = d[l].OH, wd = d[l].OW;
    }
    dl[0].out_block = dl[1].in_block = dl[1].out_block = dl[2].in_block = 1;
    const int own = strcmp(tu_gemm_path, "openblas") != 0;
    const int linked = own && cc->N % 32 == 0 && cc->c[0] % 24 == 0;
    float *x = tu_alloc_rand(in_size(&d[0]), &rng), *r = tu_alloc_rand(out_size(&d[2]), &rng);
    float *w[3], *b[3], *y[2][3], *g[2][3], *dw[2][3], *db[2][3];
    size_t sc = 0;
    for (int l = 0; l < 3; l++) {
        w[l] = tu_alloc_rand(w_size(&d[l]), &rng);
        b[l] = tu_alloc_rand((size_t)d[l].OC, &rng);
        for (int k = 0; k < 2; k++) {
            y[k][l] = tu_alloc_nan(out_size(&d[l]));
            g[k][l] = tu_alloc_nan(in_size(&d[l]));
            dw[k][l] = calloc(w_size(&d[l]), sizeof(float));
            db[k][l] = calloc((size_t)d[l].OC, sizeof(float));
        }
        const size_t need = nt_conv2d_scratch_floats(&dl[l], 2);
        sc = need > sc ? need : sc;
    }
    float *scratch = tu_alloc_nan(sc);
    char what[160];
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        for (int k = 0; k < 2; k++) {
            for (int l = 0; l < 3; l++) {
                memset(dw[k][l], 0, sizeof(float) * w_size(&d[l]));
                memset(db[k][l], 0, sizeof(float) * (size_t)d[l].OC);
            }
            run_chain(y[k], g[k], dw[k], db[k], x, w, b, r, k ? dl : d, cc->act1, cc->act2,
                      scratch);
        }
        /* the tensors between are in another order exactly when linked */
        for (int l = 0; l < 2; l++)
            ck_assert_msg((memcmp(y[0][l], y[1][l], sizeof(float) * out_size(&d[l])) != 0) ==
                              linked,
                          "chain %d, %d thread(s): output %d %s", _i, nt, l,
                          linked ? "not in the block layout" : "changed");
        const int exact = !linked || cc->pixel;
        describe(what, sizeof what, "linked chain's output", &d[2], nt);
        chain_close(what, y[1][2], y[0][2], out_size(&d[2]), exact);
        describe(what, sizeof what, "linked chain's input gradient", &d[0], nt);
        chain_close(what, g[1][0], g[0][0], in_size(&d[0]), exact);
        for (int l = 0; l < 3; l++) {
            describe(what, sizeof what, "linked chain's dw", &d[l], nt);
            chain_close(what, dw[1][l], dw[0][l], w_size(&d[l]), exact);
            describe(what, sizeof what, "linked chain's db", &d[l], nt);
            chain_close(what, db[1][l], db[0][l], (size_t)d[l].OC, exact);
        }
    }
    for (int l = 0; l < 3; l++) {
        free(w[l]);
        free(b[l]);
        for (int k = 0; k < 2; k++) {
            free(y[k][l]);
            free(g[k][l]);
            free(dw[k][l]);
            free(db[k][l]);
        }
    }
    free(x);
    free(r);
    free(scratch);
}
END_TEST

static Suite *conv_suite(const char *name)
{
    Suite *s = suite_create(name);
    /* the portable GEMM kernel in a sanitizer build is slow */
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, test_forward, 0, NCASES + NRANDOM);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0, NCASES + NRANDOM);
    tcase_add_loop_test(tc, test_backward_numeric, 0, NGRAD);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("linked");
    tcase_add_loop_test(tc, test_linked, 0, (int)(sizeof chain_cases / sizeof chain_cases[0]));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("scratch");
    tcase_add_test(tc, test_scratch_independent_of_batch);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_torch, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_gemm_paths("conv", conv_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
