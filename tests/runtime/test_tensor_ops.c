/* test_tensor_ops.c - tensor_ops.c: channel concatenation and elementwise
 * addition against plain loops, and their backward against finite
 * differences, including NULL and aliased gradients. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

#define MAXIN 3

typedef struct concat_case {
    int N, HW, nin, channels[MAXIN];
} concat_case;

/* one input, batch 1, odd sizes, and one of 65536 elements, at the fork
 * threshold of tensor_ops.c */
static const concat_case concat_cases[] = {
    {1, 1, 1, {3}},
    {3, 5, 3, {1, 3, 2}},
    {2, 7, 2, {4, 1}},
    {8, 1024, 2, {5, 3}},
};

typedef struct concat_buf {
    const concat_case *k;
    int ctot;
    size_t nout;
    float *in[MAXIN], *out;
} concat_buf;

static concat_buf concat_alloc(const concat_case *k, nt_rng *rng)
{
    concat_buf b = {k, 0, 0, {NULL}, NULL};
    for (int i = 0; i < k->nin; i++) {
        size_t n = (size_t)k->N * k->channels[i] * k->HW;
        b.in[i] = malloc(n * sizeof(float));
        ck_assert(b.in[i]);
        tu_fill(b.in[i], n, -1, 1, rng);
        b.ctot += k->channels[i];
    }
    b.nout = (size_t)k->N * b.ctot * k->HW;
    b.out = malloc(b.nout * sizeof(float));
    ck_assert(b.out);
    return b;
}

static void concat_free(concat_buf *b)
{
    for (int i = 0; i < b->k->nin; i++)
        free(b->in[i]);
    free(b->out);
}

static void concat_run(concat_buf *b)
{
    const float *ins[MAXIN] = {b->in[0], b->in[1], b->in[2]};
    nt_concat_forward(b->out, ins, b->k->channels, b->k->nin, b->k->N,
                      b->k->HW);
}

/* out[n, off_i + c, p] = in_i[n, c, p] */
static void ref_concat(float *out, const concat_buf *b)
{
    const concat_case *k = b->k;
    int off = 0;
    for (int i = 0; i < k->nin; i++) {
        for (int n = 0; n < k->N; n++)
            for (int c = 0; c < k->channels[i]; c++)
                for (int p = 0; p < k->HW; p++)
                    out[((size_t)n * b->ctot + off + c) * k->HW + p] =
                        b->in[i][((size_t)n * k->channels[i] + c) * k->HW + p];
        off += k->channels[i];
    }
}

START_TEST(test_concat_forward)
{
    nt_rng rng;
    nt_rng_seed(&rng, 1 + _i);
    concat_buf b = concat_alloc(&concat_cases[_i], &rng);
    float *want = malloc(b.nout * sizeof(float));
    ck_assert(want);
    ref_concat(want, &b);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        memset(b.out, 0xff, b.nout * sizeof(float));
        concat_run(&b);
        /* a copy: exact */
        ck_assert_mem_eq(b.out, want, b.nout * sizeof(float));
    }
    free(want);
    concat_free(&b);
}
END_TEST

typedef struct concat_fd {
    concat_buf *b;
    const float *r;
} concat_fd;

static double concat_loss(void *p)
{
    concat_fd *c = p;
    concat_run(c->b);
    return tu_dot(c->b->out, c->r, c->b->nout);
}

START_TEST(test_concat_backward)
{
    /* the small cases; the gradient of input 1 (when there is one) is not
     * wanted and passed as NULL */
    nt_rng rng;
    nt_rng_seed(&rng, 10 + _i);
    concat_buf b = concat_alloc(&concat_cases[_i], &rng);
    const concat_case *k = b.k;
    float *r = malloc(b.nout * sizeof(float));
    ck_assert(r);
    tu_fill(r, b.nout, -1, 1, &rng);
    float *din[MAXIN] = {NULL}, *din0[MAXIN] = {NULL};
    double *want[MAXIN] = {NULL};
    concat_fd ctx = {&b, r};
    for (int i = 0; i < k->nin; i++) {
        size_t n = (size_t)k->N * k->channels[i] * k->HW;
        want[i] = malloc(n * sizeof(double));
        din0[i] = malloc(n * sizeof(float));
        ck_assert(want[i] && din0[i]);
        tu_fill(din0[i], n, -1, 1, &rng);
        tu_numeric_grad(want[i], b.in[i], n, 1e-2, concat_loss, &ctx);
        for (size_t j = 0; j < n; j++)
            want[i][j] += din0[i][j];
        if (i != 1) {
            din[i] = malloc(n * sizeof(float));
            ck_assert(din[i]);
            memcpy(din[i], din0[i], n * sizeof(float));
        }
    }
    nt_concat_backward(din, r, k->channels, k->nin, k->N, k->HW);
    for (int i = 0; i < k->nin; i++) {
        if (!din[i])
            continue;
        size_t n = (size_t)k->N * k->channels[i] * k->HW;
        /* a copy is linear and exact; the only error is the float rounding
         * of out +- eps (half an ulp of 1 over the step 2e-2) and of the
         * accumulation: 1e-5 */
        TU_ASSERT_CLOSE_D("concat dinput", din[i], want[i], n, 1e-5, 1e-5);
    }
    for (int i = 0; i < k->nin; i++) {
        free(din[i]);
        free(din0[i]);
        free(want[i]);
    }
    free(r);
    concat_free(&b);
}
END_TEST

START_TEST(test_concat_backward_threads)
{
    nt_rng rng;
    nt_rng_seed(&rng, 20);
    const concat_case *k = &concat_cases[3];
    const size_t n0 = (size_t)k->N * k->channels[0] * k->HW;
    const size_t n1 = (size_t)k->N * k->channels[1] * k->HW;
    float *dout = malloc((n0 + n1) * sizeof(float));
    float *d[2][2] = {{calloc(n0, sizeof(float)), calloc(n1, sizeof(float))},
                      {calloc(n0, sizeof(float)), calloc(n1, sizeof(float))}};
    ck_assert(dout && d[0][0] && d[0][1] && d[1][0] && d[1][1]);
    tu_fill(dout, n0 + n1, -1, 1, &rng);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        nt_concat_backward(d[th - 1], dout, k->channels, k->nin, k->N, k->HW);
    }
    ck_assert_mem_eq(d[0][0], d[1][0], n0 * sizeof(float));
    ck_assert_mem_eq(d[0][1], d[1][1], n1 * sizeof(float));
    /* and by hand: element [n=5, c=4, p=100] of the output went to input 0
     * channel 4, [n=5, c=6, p=100] to input 1 channel 1 */
    ck_assert_float_eq(d[0][0][(5 * 5 + 4) * 1024 + 100],
                       dout[(5 * 8 + 4) * 1024 + 100]);
    ck_assert_float_eq(d[0][1][(5 * 3 + 1) * 1024 + 100],
                       dout[(5 * 8 + 6) * 1024 + 100]);
    free(dout);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            free(d[i][j]);
}
END_TEST

/* The overwriting backward into NaN-filled gradients (one NULL) equals the
 * accumulating one into zeros, bit for bit, with 1 and 2 threads. */
START_TEST(test_concat_backward_overwrite)
{
    nt_rng rng;
    nt_rng_seed(&rng, 25);
    const concat_case *k = &concat_cases[3];
    const size_t n0 = (size_t)k->N * k->channels[0] * k->HW;
    const size_t n1 = (size_t)k->N * k->channels[1] * k->HW;
    float *dout = malloc((n0 + n1) * sizeof(float));
    tu_fill(dout, n0 + n1, -1, 1, &rng);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        float *acc[2] = {calloc(n0, sizeof(float)), calloc(n1, sizeof(float))};
        float *ovw[2] = {tu_alloc_nan(n0), NULL};
        nt_concat_backward(acc, dout, k->channels, k->nin, k->N, k->HW);
        nt_concat_backward_overwrite(ovw, dout, k->channels, k->nin, k->N, k->HW);
        ck_assert_mem_eq(ovw[0], acc[0], n0 * sizeof(float));
        free(acc[0]);
        free(acc[1]);
        free(ovw[0]);
    }
    free(dout);
}
END_TEST

/* ---- add ------------------------------------------------------------------- */

static const size_t add_sizes[] = {1, 33, 70001};

START_TEST(test_add_forward)
{
    const size_t n = add_sizes[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 30 + _i);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *out = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    ck_assert(a && b && out && want);
    tu_fill(a, n, -1, 1, &rng);
    tu_fill(b, n, -1, 1, &rng);
    for (size_t i = 0; i < n; i++)
        want[i] = a[i] + b[i];
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        nt_add_forward(out, a, b, n);
        /* one float addition, as in the reference: exact */
        ck_assert_mem_eq(out, want, n * sizeof(float));
    }
    nt_add_forward(a, a, b, n); /* in place */
    ck_assert_mem_eq(a, want, n * sizeof(float));
    free(a);
    free(b);
    free(out);
    free(want);
}
END_TEST

typedef struct add_fd {
    float *a, *b, *out;
    const float *r;
    size_t n;
} add_fd;

static double add_loss(void *p)
{
    add_fd *c = p;
    nt_add_forward(c->out, c->a, c->b, c->n);
    return tu_dot(c->out, c->r, c->n);
}

START_TEST(test_add_backward)
{
    enum { N = 29 };
    float a[N], b[N], out[N], r[N], da[N], db[N], da0[N], db0[N];
    double ga[N], gb[N];
    nt_rng rng;
    nt_rng_seed(&rng, 40);
    tu_fill(a, N, -1, 1, &rng);
    tu_fill(b, N, -1, 1, &rng);
    tu_fill(r, N, -1, 1, &rng);
    tu_fill(da0, N, -1, 1, &rng);
    tu_fill(db0, N, -1, 1, &rng);
    add_fd ctx = {a, b, out, r, N};
    tu_numeric_grad(ga, a, N, 1e-2, add_loss, &ctx);
    tu_numeric_grad(gb, b, N, 1e-2, add_loss, &ctx);
    for (int i = 0; i < N; i++) {
        ga[i] += da0[i];
        gb[i] += db0[i];
    }
    memcpy(da, da0, sizeof da);
    memcpy(db, db0, sizeof db);
    nt_add_backward(da, db, r, N);
    /* linear: only the float rounding of a + b +- eps (half an ulp of 2 over
     * the step 2e-2) and of the accumulation: 1e-5 */
    TU_ASSERT_CLOSE_D("add da", da, ga, N, 1e-5, 1e-5);
    TU_ASSERT_CLOSE_D("add db", db, gb, N, 1e-5, 1e-5);

    /* NULL gradients are skipped, the other one still accumulates */
    memcpy(db, db0, sizeof db);
    nt_add_backward(NULL, db, r, N);
    TU_ASSERT_CLOSE_D("add db, da NULL", db, gb, N, 1e-5, 1e-5);
    memcpy(da, da0, sizeof da);
    nt_add_backward(da, NULL, r, N);
    TU_ASSERT_CLOSE_D("add da, db NULL", da, ga, N, 1e-5, 1e-5);

    /* x + x: both gradients are the same buffer and it gets dout twice */
    memcpy(da, da0, sizeof da);
    nt_add_backward(da, da, r, N);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(da[i], (da0[i] + r[i]) + r[i]);

    /* overwriting: NaN-filled gradients get 0 + dout, both, either */
    for (int i = 0; i < N; i++)
        da[i] = db[i] = NAN;
    nt_add_backward_overwrite(da, db, r, N);
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq(da[i], 0.0f + r[i]);
        ck_assert_float_eq(db[i], 0.0f + r[i]);
    }
    for (int i = 0; i < N; i++)
        da[i] = db[i] = NAN;
    nt_add_backward_overwrite(NULL, db, r, N);
    nt_add_backward_overwrite(da, NULL, r, N);
    ck_assert_mem_eq(da, db, sizeof da);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(da[i], 0.0f + r[i]);
}
END_TEST

static Suite *tensor_ops_suite(void)
{
    const int nconcat = sizeof concat_cases / sizeof concat_cases[0];
    Suite *s = suite_create("tensor_ops");
    TCase *tc = tcase_create("concat");
    tcase_add_loop_test(tc, test_concat_forward, 0, nconcat);
    /* finite differences on the small cases only */
    tcase_add_loop_test(tc, test_concat_backward, 0, nconcat - 1);
    tcase_add_test(tc, test_concat_backward_threads);
    tcase_add_test(tc, test_concat_backward_overwrite);
    suite_add_tcase(s, tc);

    tc = tcase_create("add");
    tcase_add_loop_test(tc, test_add_forward, 0,
                        sizeof add_sizes / sizeof add_sizes[0]);
    tcase_add_test(tc, test_add_backward);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tensor_ops_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
