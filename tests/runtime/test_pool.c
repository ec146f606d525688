/* test_pool.c - pool.c: max and average pooling against their reference
 * loops (odd sizes, stride, padding, non-square windows, 1 and 2 threads),
 * backward against central finite differences, hand-built cases for argmax
 * ties, -inf padding and count_include_pad, ceil-mode max pooling, adaptive
 * average and max pooling of any output size (against PyTorch's window
 * definition and finite differences), global average pooling, the
 * overwriting backwards against the accumulating ones, and PyTorch's
 * numbers. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/pool_torch.h"
#include "isa_paths.h"
#include "nt_kernels.h"

/* N, C, H, W, KH, KW, SH, SW, PH, PW; OH and OW are derived. Tiled windows
 * (stride == window, no padding: pool.c's one-write backward) with rows and
 * columns no window covers: 2x2, 3x3, 3x1, 4x2; overlapping 3x3/2 windows
 * with and without padding (AlexNet's and ResNet's); rows wider and
 * narrower than a vector. The last three are large enough (over 32768
 * window reads) for the kernels to use threads, with N*C odd so that the
 * two threads get unequal shares. */
static const int shapes[][10] = {
    {1, 1, 5, 5, 2, 2, 2, 2, 0, 0},  {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},
    {1, 2, 6, 11, 2, 3, 1, 2, 1, 1}, {3, 1, 4, 4, 4, 4, 1, 1, 2, 2},
    {2, 2, 9, 5, 3, 1, 3, 1, 0, 0},  {1, 3, 3, 3, 3, 3, 1, 1, 1, 1},
    {2, 3, 10, 11, 3, 3, 3, 3, 0, 0}, {2, 1, 9, 7, 4, 2, 4, 2, 0, 0},
    {1, 2, 8, 13, 3, 3, 2, 2, 0, 0}, {1, 1, 19, 37, 2, 2, 2, 2, 0, 0},
    {2, 8, 40, 40, 3, 3, 1, 1, 1, 1}, {3, 7, 43, 41, 2, 2, 2, 2, 0, 0},
    {3, 7, 29, 29, 3, 3, 2, 2, 1, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static nt_pool2d_dims dims_of(const int *s)
{
    nt_pool2d_dims d = {s[0], s[1], s[2], s[3], s[4], s[5], s[6],
                        s[7], s[8], s[9], 0, 0, 0, NT_ACT_NONE, NULL};
    d.OH = (d.H + 2 * d.PH - d.KH) / d.SH + 1;
    d.OW = (d.W + 2 * d.PW - d.KW) / d.SW + 1;
    return d;
}

static size_t in_size(const nt_pool2d_dims *d)
{
    return (size_t)d->N * d->C * d->H * d->W;
}

static size_t out_size(const nt_pool2d_dims *d)
{
    return (size_t)d->N * d->C * d->OH * d->OW;
}

/* Distinct values 0.01 apart in random order, shifted negative so that a
 * padded zero would beat them: finite differences with eps 1e-3 never change
 * which element is the maximum. */
static void fill_distinct(float *x, size_t n, nt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)nt_rng_below(rng, i);
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = -0.01f * x[i] - 1.0f;
}

/* ---- max pooling ----------------------------------------------------------- */

START_TEST(test_max_forward)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 40 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *want = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    int32_t *wanta = malloc(sizeof(int32_t) * no), *arg = malloc(sizeof(int32_t) * no);
    /* values in [-1, 1] rounded to 1/8: many ties */
    for (size_t i = 0; i < ni; i++)
        in[i] = floorf(16.0f * nt_rng_uniform(&rng)) / 8.0f - 1.0f;
    nt_maxpool2d_forward_ref(want, wanta, in, &d);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        for (size_t i = 0; i < no; i++) {
            out[i] = NAN;
            arg[i] = -1;
        }
        nt_maxpool2d_forward(out, arg, in, &d);
        /* a maximum is one of the inputs: exact */
        TU_ASSERT_CLOSE("maxpool forward", out, want, no, 0.0, 0.0);
        for (size_t i = 0; i < no; i++)
            ck_assert_msg(arg[i] == wanta[i], "argmax[%zu] = %d, want %d", i,
                          arg[i], wanta[i]);
    }
    free(in);
    free(want);
    free(out);
    free(wanta);
    free(arg);
}
END_TEST

typedef struct max_loss {
    const nt_pool2d_dims *d;
    const float *in, *r;
    float *out;
    int32_t *arg;
} max_loss;

/* loss = sum(out * r) through the optimised forward: out holds input values
 * exactly, so the double sum is exact and piecewise linear in the input. */
static double max_loss_fn(void *ctx)
{
    max_loss *l = ctx;
    nt_maxpool2d_forward(l->out, l->arg, l->in, l->d);
    return tu_dot(l->out, l->r, out_size(l->d));
}

/* Numeric gradients for the small shapes; the big one (2 * 25600 forwards)
 * is checked against the reference forward's argmax instead. */
START_TEST(test_max_backward)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 50 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *r = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    int32_t *arg = malloc(sizeof(int32_t) * no);
    fill_distinct(in, ni, &rng);
    tu_fill(r, no, -1.0f, 1.0f, &rng);
    double *want = calloc(ni, sizeof(double));
    if (ni <= 2000) {
        max_loss l = {&d, in, r, out, arg};
        tu_numeric_grad(want, in, ni, 1e-3, max_loss_fn, &l);
    } else {
        nt_maxpool2d_forward_ref(out, arg, in, &d);
        size_t plane = (size_t)d.H * d.W, oplane = (size_t)d.OH * d.OW;
        for (size_t j = 0; j < no; j++)
            want[j / oplane * plane + (size_t)arg[j]] += r[j];
    }

    float *din = malloc(sizeof(float) * ni);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        nt_maxpool2d_forward(out, arg, in, &d);
        memset(din, 0, sizeof(float) * ni);
        nt_maxpool2d_backward(din, r, arg, &d);
        /* each din element sums at most 16 float values of r in [-1, 1]; the
         * numeric gradient is exact up to double rounding */
        TU_ASSERT_CLOSE_D("maxpool din", din, want, ni, 1e-5, 1e-5);

        /* accumulates: a second call doubles it */
        nt_maxpool2d_backward(din, r, arg, &d);
        for (size_t i = 0; i < ni; i++)
            want[i] *= 2.0;
        TU_ASSERT_CLOSE_D("maxpool din twice", din, want, ni, 2e-5, 1e-5);
        for (size_t i = 0; i < ni; i++)
            want[i] /= 2.0;
    }
    free(in);
    free(r);
    free(out);
    free(arg);
    free(want);
    free(din);
}
END_TEST

/* Equal values: every window picks its first element in row-major order; an
 * all-negative input with padding picks an input, never the padding. */
START_TEST(test_max_ties_and_padding)
{
    float in[16];
    float out[9];
    int32_t arg[9];
    for (int i = 0; i < 16; i++)
        in[i] = -3.0f;
    nt_pool2d_dims d = {1, 1, 4, 4, 3, 3, 2, 2, 1, 1, 2, 2, 0, NT_ACT_NONE, NULL};
    nt_maxpool2d_forward(out, arg, in, &d);
    /* windows start at rows/cols -1 and 1: first inputs (0,0) (0,1) (1,0)
     * (1,1) */
    int32_t want[4] = {0, 1, 4, 5};
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(out[i], -3.0f);
        ck_assert_int_eq(arg[i], want[i]);
    }
    nt_pool2d_dims e = {1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 2, 2, 0, NT_ACT_NONE, NULL};
    in[5] = 7.0f;  /* (1, 1): second row of the first window */
    in[10] = 7.0f; /* (2, 2) and (2, 3): a tie in the fourth window */
    in[11] = 7.0f;
    nt_maxpool2d_forward(out, arg, in, &e);
    int32_t want2[4] = {5, 2, 8, 10};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(arg[i], want2[i]);

    float dout[4] = {1, 2, 3, 4};
    float din[16] = {0};
    nt_maxpool2d_backward(din, dout, arg, &e);
    float want_din[16] = {0};
    want_din[5] = 1;
    want_din[2] = 2;
    want_din[8] = 3;
    want_din[10] = 4;
    TU_ASSERT_CLOSE("maxpool routes dout to argmax", din, want_din, 16, 0.0, 0.0);
}
END_TEST

/* ---- average pooling ------------------------------------------------------- */

START_TEST(test_avg_forward)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 60 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *want = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    tu_fill(in, ni, -1.0f, 1.0f, &rng);
    nt_avgpool2d_forward_ref(want, in, &d);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        for (size_t i = 0; i < no; i++)
            out[i] = NAN;
        nt_avgpool2d_forward(out, in, &d);
        /* the same sums in the same order as the reference: exact */
        TU_ASSERT_CLOSE("avgpool forward", out, want, no, 0.0, 0.0);
    }
    free(in);
    free(want);
    free(out);
}
END_TEST

typedef struct avg_loss {
    const nt_pool2d_dims *d;
    const float *in, *r;
} avg_loss;

/* loss = sum(out * r) with the forward in double (count_include_pad: every
 * window divided by KH*KW), exactly linear in the input. */
static double avg_loss_fn(void *ctx)
{
    avg_loss *l = ctx;
    const nt_pool2d_dims *d = l->d;
    double loss = 0.0;
    for (int q = 0; q < d->N * d->C; q++)
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                double s = 0.0;
                for (int kh = 0; kh < d->KH; kh++)
                    for (int kw = 0; kw < d->KW; kw++) {
                        int h = oh * d->SH - d->PH + kh, w = ow * d->SW - d->PW + kw;
                        if (h >= 0 && h < d->H && w >= 0 && w < d->W)
                            s += l->in[((size_t)q * d->H + h) * d->W + w];
                    }
                loss += s / (d->KH * d->KW) *
                        l->r[((size_t)q * d->OH + oh) * d->OW + ow];
            }
    return loss;
}

/* The exact input gradient written out: every output spreads r/(KH*KW) over
 * the inputs of its window. */
static void avg_grad(double *g, const float *r, const nt_pool2d_dims *d)
{
    for (int q = 0; q < d->N * d->C; q++)
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++)
                for (int kh = 0; kh < d->KH; kh++)
                    for (int kw = 0; kw < d->KW; kw++) {
                        int h = oh * d->SH - d->PH + kh, w = ow * d->SW - d->PW + kw;
                        if (h >= 0 && h < d->H && w >= 0 && w < d->W)
                            g[((size_t)q * d->H + h) * d->W + w] +=
                                (double)r[((size_t)q * d->OH + oh) * d->OW + ow] /
                                (d->KH * d->KW);
                    }
}

/* Numeric gradients for the small shapes, the written-out gradient for the
 * big one. */
START_TEST(test_avg_backward)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 70 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *r = tu_alloc_nan(no);
    tu_fill(in, ni, -1.0f, 1.0f, &rng);
    tu_fill(r, no, -1.0f, 1.0f, &rng);
    double *want = calloc(ni, sizeof(double));
    if (ni <= 2000) {
        avg_loss l = {&d, in, r};
        tu_numeric_grad(want, in, ni, 1e-2, avg_loss_fn, &l);
    } else {
        avg_grad(want, r, &d);
    }
    float *din = malloc(sizeof(float) * ni), *prior = tu_alloc_nan(ni);
    tu_fill(prior, ni, -1.0f, 1.0f, &rng);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        memcpy(din, prior, sizeof(float) * ni);
        nt_avgpool2d_backward(din, r, &d);
        for (size_t i = 0; i < ni; i++)
            din[i] -= prior[i]; /* accumulates onto the prior values */
        /* at most 16 terms r/(KH*KW) of magnitude <= 1, plus the rounding of
         * adding and removing a prior value in [-1, 1]: error ~2e-7 */
        TU_ASSERT_CLOSE_D("avgpool din", din, want, ni, 2e-6, 1e-5);
    }
    free(in);
    free(r);
    free(want);
    free(din);
    free(prior);
}
END_TEST

/* Ones in, 3x3 window, stride 1, padding 1: a corner window holds 4 inputs
 * and 5 padded zeros, so it averages to 4/9 (count_include_pad). */
START_TEST(test_avg_count_include_pad)
{
    float in[12], out[12];
    for (int i = 0; i < 12; i++)
        in[i] = 1.0f;
    nt_pool2d_dims d = {1, 1, 3, 4, 3, 3, 1, 1, 1, 1, 3, 4, 0, NT_ACT_NONE, NULL};
    nt_avgpool2d_forward(out, in, &d);
    float want[12] = {4, 6, 6, 4, 6, 9, 9, 6, 4, 6, 6, 4};
    for (int i = 0; i < 12; i++)
        want[i] /= 9.0f;
    /* at most 9 ones summed exactly, then one division: as the kernel */
    TU_ASSERT_CLOSE("avgpool count_include_pad", out, want, 12, 0.0, 0.0);
}
END_TEST

/* ---- overwriting backward -------------------------------------------------- */

/* The _overwrite backwards into a NaN-filled din give, bit for bit, what
 * the accumulating ones give into zeros (1 and 2 threads): every element
 * is written, none is read. */
static void check_overwrite(const char *what, const float *acc, const float *ovw, size_t n)
{
    if (memcmp(acc, ovw, n * sizeof(float)) == 0)
        return;
    size_t i = 0;
    while (memcmp(&acc[i], &ovw[i], sizeof(float)) == 0)
        i++;
    ck_abort_msg("%s: din[%zu] = %.9g overwriting, %.9g accumulating into zeros", what, i,
                 ovw[i], acc[i]);
}

START_TEST(test_backward_overwrite)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 90 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *r = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    float *acc = malloc(sizeof(float) * ni), *ovw = malloc(sizeof(float) * ni);
    int32_t *arg = malloc(sizeof(int32_t) * no);
    fill_distinct(in, ni, &rng);
    tu_fill(r, no, -1.0f, 1.0f, &rng);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        nt_maxpool2d_forward(out, arg, in, &d);
        memset(acc, 0, sizeof(float) * ni);
        nt_maxpool2d_backward(acc, r, arg, &d);
        for (size_t i = 0; i < ni; i++)
            ovw[i] = NAN;
        nt_maxpool2d_backward_overwrite(ovw, r, arg, &d);
        check_overwrite("maxpool", acc, ovw, ni);

        memset(acc, 0, sizeof(float) * ni);
        nt_avgpool2d_backward(acc, r, &d);
        for (size_t i = 0; i < ni; i++)
            ovw[i] = NAN;
        nt_avgpool2d_backward_overwrite(ovw, r, &d);
        check_overwrite("avgpool", acc, ovw, ni);
    }
    free(in);
    free(r);
    free(out);
    free(acc);
    free(ovw);
    free(arg);
}
END_TEST

/* An activation's backward fused into the overwriting backwards
 * (nt_pool2d_dims.act) gives, bit for bit, the pool's _overwrite backward
 * followed by the activation's (1 and 2 threads): relu with outputs 0 and
 * positive, sigmoid with outputs in (0, 1). */
START_TEST(test_backward_act)
{
    nt_pool2d_dims d = dims_of(shapes[_i]);
    nt_rng rng;
    nt_rng_seed(&rng, 190 + (uint64_t)_i);
    size_t ni = in_size(&d), no = out_size(&d);
    float *in = tu_alloc_nan(ni), *r = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    float *y = malloc(sizeof(float) * ni), *tmp = malloc(sizeof(float) * ni);
    float *want = malloc(sizeof(float) * ni), *got = malloc(sizeof(float) * ni);
    int32_t *arg = malloc(sizeof(int32_t) * no);
    ck_assert(y && tmp && want && got && arg);
    fill_distinct(in, ni, &rng);
    tu_fill(r, no, -1.0f, 1.0f, &rng);
    for (int act = NT_ACT_RELU; act <= NT_ACT_SIGMOID; act++) {
        for (size_t i = 0; i < ni; i++) {
            const float u = nt_rng_uniform(&rng);
            y[i] = act == NT_ACT_SIGMOID ? 0.01f + 0.98f * u : u < 0.5f ? 0.0f : u;
        }
        nt_pool2d_dims f = d;
        f.act = (nt_act)act;
        f.act_out = y;
        for (int nt = 1; nt <= 2; nt++) {
            nt_set_num_threads(nt);
            nt_maxpool2d_forward(out, arg, in, &d);
            for (int avg = 0; avg < 2; avg++) {
                if (avg)
                    nt_avgpool2d_backward_overwrite(tmp, r, &d);
                else
                    nt_maxpool2d_backward_overwrite(tmp, r, arg, &d);
                if (act == NT_ACT_RELU)
                    nt_relu_backward_overwrite(want, tmp, y, ni);
                else
                    nt_sigmoid_backward_overwrite(want, tmp, y, ni);
                for (size_t i = 0; i < ni; i++)
                    got[i] = NAN;
                if (avg)
                    nt_avgpool2d_backward_overwrite(got, r, &f);
                else
                    nt_maxpool2d_backward_overwrite(got, r, arg, &f);
                check_overwrite(act == NT_ACT_RELU ? (avg ? "avgpool + relu" : "maxpool + relu")
                                : avg ? "avgpool + sigmoid" : "maxpool + sigmoid",
                                want, got, ni);
            }
        }
    }
    nt_set_num_threads(1);
    free(in);
    free(r);
    free(out);
    free(y);
    free(tmp);
    free(want);
    free(got);
    free(arg);
}
END_TEST

/* ---- global average pooling ------------------------------------------------ */

typedef struct gap_loss {
    int N, C, HW;
    const float *in, *r;
} gap_loss;

static double gap_loss_fn(void *ctx)
{
    gap_loss *l = ctx;
    double loss = 0.0;
    for (int q = 0; q < l->N * l->C; q++) {
        double s = 0.0;
        for (int i = 0; i < l->HW; i++)
            s += l->in[(size_t)q * l->HW + i];
        loss += s / l->HW * l->r[q];
    }
    return loss;
}

/* A small shape and one big enough to be threaded (32*64*49 elements). */
static const int gap_shapes[][3] = {{3, 5, 7}, {32, 64, 49}};

START_TEST(test_gap)
{
    int N = gap_shapes[_i][0], C = gap_shapes[_i][1], HW = gap_shapes[_i][2];
    size_t ni = (size_t)N * C * HW, no = (size_t)N * C;
    nt_rng rng;
    nt_rng_seed(&rng, 80 + (uint64_t)_i);
    float *in = tu_alloc_nan(ni), *r = tu_alloc_nan(no), *out = tu_alloc_nan(no);
    tu_fill(in, ni, -1.0f, 1.0f, &rng);
    tu_fill(r, no, -1.0f, 1.0f, &rng);
    double *want = malloc(sizeof(double) * no);
    for (size_t q = 0; q < no; q++) {
        double s = 0.0;
        for (int i = 0; i < HW; i++)
            s += in[q * HW + i];
        want[q] = s / HW;
    }
    gap_loss l = {N, C, HW, in, r};
    double *num = NULL;
    if (ni <= 1000) { /* the big shape's numeric gradient is 2 * 100k sums */
        num = malloc(sizeof(double) * ni);
        tu_numeric_grad(num, in, ni, 1e-2, gap_loss_fn, &l);
    }
    float *din = malloc(sizeof(float) * ni);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        for (size_t i = 0; i < no; i++)
            out[i] = NAN;
        nt_global_avgpool_forward(out, in, N, C, HW);
        /* a float sum of 49 terms of magnitude <= 1: error ~1e-7 */
        TU_ASSERT_CLOSE_D("global avgpool forward", out, want, no, 1e-6, 1e-6);

        for (size_t i = 0; i < ni; i++)
            din[i] = 0.5f;
        nt_global_avgpool_backward(din, r, N, C, HW);
        for (size_t q = 0; q < no; q++)
            for (int i = 0; i < HW; i++) {
                /* 0.5 + r/HW, one rounding each */
                float g = din[q * HW + i];
                double exact = 0.5 + (double)r[q] / HW;
                ck_assert_msg(fabs(g - exact) < 1e-6, "din[%zu] = %.9g, want %.9g",
                              q * HW + i, g, exact);
            }
        float *ovw = tu_alloc_nan(ni), *acc = calloc(ni, sizeof(float));
        nt_global_avgpool_backward(acc, r, N, C, HW);
        nt_global_avgpool_backward_overwrite(ovw, r, N, C, HW);
        check_overwrite("global avgpool", acc, ovw, ni);
        free(ovw);
        free(acc);
        if (num) {
            for (size_t i = 0; i < ni; i++)
                din[i] -= 0.5f;
            /* one rounding of r/HW plus that of adding and removing 0.5 */
            TU_ASSERT_CLOSE_D("global avgpool din", din, num, ni, 1e-6, 1e-5);
        }
    }
    free(in);
    free(r);
    free(out);
    free(want);
    free(num);
    free(din);
}
END_TEST

/* ---- PyTorch --------------------------------------------------------------- */

#define POOL_DIMS(P)                                                        \
    {P##_N, P##_C, P##_H, P##_W, P##_KH, P##_KW, P##_SH, P##_SW, P##_PH,    \
     P##_PW, P##_OH, P##_OW, 0, NT_ACT_NONE, NULL}

static void torch_max(const nt_pool2d_dims *d, const float *in,
                      const float *want_out, const int32_t *want_arg,
                      const float *dout, const float *want_din)
{
    size_t ni = in_size(d), no = out_size(d);
    float *out = tu_alloc_nan(no), *din = calloc(ni, sizeof(float));
    int32_t *arg = malloc(sizeof(int32_t) * no);
    nt_maxpool2d_forward(out, arg, in, d);
    nt_maxpool2d_backward(din, dout, arg, d);
    /* max is exact; din sums at most a few dout values in the same order as
     * PyTorch's scatter, so it matches to rounding */
    TU_ASSERT_CLOSE("maxpool out vs torch", out, want_out, no, 0.0, 0.0);
    for (size_t i = 0; i < no; i++)
        ck_assert_msg(arg[i] == want_arg[i], "argmax[%zu] = %d, torch %d", i,
                      arg[i], want_arg[i]);
    TU_ASSERT_CLOSE("maxpool din vs torch", din, want_din, ni, 1e-6, 1e-6);
    free(out);
    free(din);
    free(arg);
}

static void torch_avg(const nt_pool2d_dims *d, const float *in,
                      const float *want_out, const float *dout,
                      const float *want_din)
{
    size_t ni = in_size(d), no = out_size(d);
    float *out = tu_alloc_nan(no), *din = calloc(ni, sizeof(float));
    nt_avgpool2d_forward(out, in, d);
    nt_avgpool2d_backward(din, dout, d);
    /* sums of at most 9 terms of magnitude < 4: rounding ~1e-6 */
    TU_ASSERT_CLOSE("avgpool out vs torch", out, want_out, no, 1e-6, 1e-6);
    TU_ASSERT_CLOSE("avgpool din vs torch", din, want_din, ni, 1e-6, 1e-6);
    free(out);
    free(din);
}

START_TEST(test_torch)
{
    nt_set_num_threads(_i + 1);
    nt_pool2d_dims ma = POOL_DIMS(MAXA), mb = POOL_DIMS(MAXB);
    torch_max(&ma, maxa_in, maxa_out, maxa_argmax, maxa_dout, maxa_din);
    torch_max(&mb, maxb_in, maxb_out, maxb_argmax, maxb_dout, maxb_din);
    nt_pool2d_dims aa = POOL_DIMS(AVGA), ab = POOL_DIMS(AVGB);
    torch_avg(&aa, avga_in, avga_out, avga_dout, avga_din);
    torch_avg(&ab, avgb_in, avgb_out, avgb_dout, avgb_din);

    float out[GAP_N * GAP_C], din[GAP_N * GAP_C * GAP_HW] = {0};
    nt_global_avgpool_forward(out, gap_in, GAP_N, GAP_C, GAP_HW);
    nt_global_avgpool_backward(din, gap_dout, GAP_N, GAP_C, GAP_HW);
    /* means of 12 values of magnitude < 4: rounding ~1e-7 */
    TU_ASSERT_CLOSE("global avgpool out vs torch", out, gap_out, GAP_N * GAP_C,
                    1e-6, 1e-6);
    TU_ASSERT_CLOSE("global avgpool din vs torch", din, gap_din,
                    GAP_N * GAP_C * GAP_HW, 1e-6, 1e-6);
}
END_TEST

/* ---- ceil mode ----------------------------------------------------------- */

/* Ceil-mode max pooling against the reference loops, and its backward
 * against central differences: the windows that hang over the bottom and
 * right edges read only what is inside. PyTorch's sizes: 5 -> 2 with kernel
 * 3, stride 3, padding 1 (the third window would start in the right
 * padding); 7 -> 4 with kernel 2, stride 2. */
START_TEST(test_max_ceil_mode)
{
    const nt_pool2d_dims cases[] = {
        {2, 3, 5, 7, 3, 3, 3, 3, 1, 1, 2, 3, 1, NT_ACT_NONE, NULL},
        {1, 2, 7, 6, 2, 2, 2, 2, 0, 0, 4, 3, 1, NT_ACT_NONE, NULL},
        {2, 2, 8, 8, 3, 3, 2, 2, 0, 0, 4, 4, 1, NT_ACT_NONE, NULL},
    };
    for (int k = 0; k < 3; k++) {
        const nt_pool2d_dims *d = &cases[k];
        nt_rng rng;
        nt_rng_seed(&rng, 60 + k);
        float *x = malloc(in_size(d) * sizeof(float)), *y = tu_alloc_nan(out_size(d));
        float *want = tu_alloc_nan(out_size(d)), *r = tu_alloc_rand(out_size(d), &rng);
        int32_t *arg = malloc(out_size(d) * sizeof(int32_t));
        int32_t *arg_ref = malloc(out_size(d) * sizeof(int32_t));
        fill_distinct(x, in_size(d), &rng);
        nt_maxpool2d_forward_ref(want, arg_ref, x, d);
        nt_maxpool2d_forward(y, arg, x, d);
        TU_ASSERT_CLOSE("ceil-mode maxpool", y, want, out_size(d), 0, 0);
        ck_assert_mem_eq(arg, arg_ref, out_size(d) * sizeof(int32_t));
        /* d(sum(y * r))/dx routes each r to its window's maximum */
        float *din = calloc(in_size(d), sizeof(float));
        nt_maxpool2d_backward(din, r, arg, d);
        double *fd = malloc(in_size(d) * sizeof(double));
        for (size_t i = 0; i < in_size(d); i++) {
            float saved = x[i];
            x[i] = saved + 1e-3f;
            nt_maxpool2d_forward_ref(want, arg_ref, x, d);
            double hi = tu_dot(want, r, out_size(d));
            x[i] = saved - 1e-3f;
            nt_maxpool2d_forward_ref(want, arg_ref, x, d);
            double lo = tu_dot(want, r, out_size(d));
            x[i] = saved;
            fd[i] = (hi - lo) / 2e-3;
        }
        TU_ASSERT_CLOSE_D("ceil-mode maxpool din", din, fd, in_size(d), 1e-3, 1e-3);
        float *ovw = tu_alloc_nan(in_size(d));
        nt_maxpool2d_backward_overwrite(ovw, r, arg, d);
        check_overwrite("ceil-mode maxpool", din, ovw, in_size(d));
        free(ovw);
        free(x);
        free(y);
        free(want);
        free(r);
        free(arg);
        free(arg_ref);
        free(din);
        free(fd);
    }
}
END_TEST

/* ---- adaptive pooling ------------------------------------------------------ */

/* N, C, H, W, OH, OW: shrinking, growing (overlapping windows), uneven, and
 * one above the parallel threshold */
static const nt_adaptive_pool2d_dims adaptive_shapes[] = {
    {2, 3, 7, 5, 3, 2}, {1, 2, 4, 4, 3, 3}, {2, 2, 3, 5, 5, 7},
    {3, 1, 6, 6, 6, 6}, {1, 4, 9, 10, 1, 4}, {8, 32, 20, 20, 3, 3},
};
#define NADAPTIVE (int)(sizeof adaptive_shapes / sizeof adaptive_shapes[0])

static size_t ad_in(const nt_adaptive_pool2d_dims *d) { return (size_t)d->N * d->C * d->H * d->W; }
static size_t ad_out(const nt_adaptive_pool2d_dims *d)
{
    return (size_t)d->N * d->C * d->OH * d->OW;
}

/* PyTorch's definition, plainly: window [floor(i*H/OH), ceil((i+1)*H/OH)) */
static void ref_adaptive(double *avg, float *max, const float *in,
                         const nt_adaptive_pool2d_dims *d)
{
    for (int q = 0; q < d->N * d->C; q++)
        for (int i = 0; i < d->OH; i++)
            for (int j = 0; j < d->OW; j++) {
                int h0 = (int)floor((double)i * d->H / d->OH);
                int h1 = (int)ceil((double)(i + 1) * d->H / d->OH);
                int w0 = (int)floor((double)j * d->W / d->OW);
                int w1 = (int)ceil((double)(j + 1) * d->W / d->OW);
                double s = 0;
                float m = -INFINITY;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        float v = in[((size_t)q * d->H + h) * d->W + w];
                        s += v;
                        m = v > m ? v : m;
                    }
                size_t o = ((size_t)q * d->OH + i) * d->OW + j;
                avg[o] = s / ((h1 - h0) * (w1 - w0));
                max[o] = m;
            }
}

typedef struct ad_ctx {
    const nt_adaptive_pool2d_dims *d;
    const float *x, *r;
    int max;
} ad_ctx;

static double ad_loss(void *p)
{
    const ad_ctx *c = p;
    size_t n = ad_out(c->d);
    double *avg = malloc(n * sizeof(double)), s = 0;
    float *max = malloc(n * sizeof(float));
    ref_adaptive(avg, max, c->x, c->d);
    for (size_t i = 0; i < n; i++)
        s += (c->max ? max[i] : avg[i]) * c->r[i];
    free(avg);
    free(max);
    return s;
}

START_TEST(test_adaptive)
{
    const nt_adaptive_pool2d_dims *d = &adaptive_shapes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 70 + _i);
    float *x = malloc(ad_in(d) * sizeof(float)), *r = tu_alloc_rand(ad_out(d), &rng);
    fill_distinct(x, ad_in(d), &rng);
    double *avg = malloc(ad_out(d) * sizeof(double));
    float *max = malloc(ad_out(d) * sizeof(float));
    ref_adaptive(avg, max, x, d);
    float *y[2], *ym[2], *din[2], *dinm[2];
    int32_t *arg = malloc(ad_out(d) * sizeof(int32_t));
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        y[th - 1] = tu_alloc_nan(ad_out(d));
        ym[th - 1] = tu_alloc_nan(ad_out(d));
        din[th - 1] = calloc(ad_in(d), sizeof(float));
        dinm[th - 1] = calloc(ad_in(d), sizeof(float));
        nt_adaptive_avgpool2d_forward(y[th - 1], x, d);
        TU_ASSERT_CLOSE_D("adaptive avgpool", y[th - 1], avg, ad_out(d), 1e-6, 1e-5);
        nt_adaptive_maxpool2d_forward(ym[th - 1], arg, x, d);
        TU_ASSERT_CLOSE("adaptive maxpool", ym[th - 1], max, ad_out(d), 0, 0);
        for (size_t o = 0; o < ad_out(d); o++) /* argmax points at the maximum */
            ck_assert_float_eq(x[o / (d->OH * d->OW) * d->H * d->W + arg[o]], max[o]);
        nt_adaptive_avgpool2d_backward(din[th - 1], r, d);
        nt_adaptive_maxpool2d_backward(dinm[th - 1], r, arg, d);
        float *ovw = tu_alloc_nan(ad_in(d));
        nt_adaptive_avgpool2d_backward_overwrite(ovw, r, d);
        check_overwrite("adaptive avgpool", din[th - 1], ovw, ad_in(d));
        for (size_t i = 0; i < ad_in(d); i++)
            ovw[i] = NAN;
        nt_adaptive_maxpool2d_backward_overwrite(ovw, r, arg, d);
        check_overwrite("adaptive maxpool", dinm[th - 1], ovw, ad_in(d));
        free(ovw);
    }
    ck_assert_mem_eq(y[0], y[1], ad_out(d) * sizeof(float));
    ck_assert_mem_eq(din[0], din[1], ad_in(d) * sizeof(float));
    ck_assert_mem_eq(dinm[0], dinm[1], ad_in(d) * sizeof(float));
    if (ad_in(d) <= 1000) {
        double *fd = malloc(ad_in(d) * sizeof(double));
        ad_ctx ctx = {d, x, r, 0};
        tu_numeric_grad(fd, x, ad_in(d), 1e-3, ad_loss, &ctx);
        TU_ASSERT_CLOSE_D("adaptive avgpool din", din[0], fd, ad_in(d), 1e-4, 1e-3);
        ctx.max = 1;
        tu_numeric_grad(fd, x, ad_in(d), 1e-3, ad_loss, &ctx);
        TU_ASSERT_CLOSE_D("adaptive maxpool din", dinm[0], fd, ad_in(d), 1e-3, 1e-3);
        free(fd);
    }
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(ym[k]);
        free(din[k]);
        free(dinm[k]);
    }
    free(x);
    free(r);
    free(avg);
    free(max);
    free(arg);
}
END_TEST

static Suite *pool_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("maxpool");
    tcase_add_loop_test(tc, test_max_forward, 0, NSHAPES);
    tcase_add_loop_test(tc, test_max_backward, 0, NSHAPES);
    tcase_add_test(tc, test_max_ties_and_padding);
    suite_add_tcase(s, tc);

    tc = tcase_create("avgpool");
    tcase_add_loop_test(tc, test_avg_forward, 0, NSHAPES);
    tcase_add_loop_test(tc, test_avg_backward, 0, NSHAPES);
    tcase_add_test(tc, test_avg_count_include_pad);
    tcase_add_loop_test(tc, test_backward_overwrite, 0, NSHAPES);
    tcase_add_loop_test(tc, test_backward_act, 0, NSHAPES);
    suite_add_tcase(s, tc);

    tc = tcase_create("ceil mode and adaptive");
    tcase_add_test(tc, test_max_ceil_mode);
    tcase_add_loop_test(tc, test_adaptive, 0, NADAPTIVE);
    suite_add_tcase(s, tc);

    tc = tcase_create("global_avgpool");
    tcase_add_loop_test(tc, test_gap, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_torch, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

/* Small stride-1 max pooling runs flattened on AVX2 and AVX-512 and by
 * rows on the portable path: the suite runs on each ISA, against the same
 * reference loops bit for bit. */
int main(void)
{
    return tu_run_isa_paths("pool", pool_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
