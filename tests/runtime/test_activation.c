/* test_activation.c - activation.c against double-precision reference
 * functions, finite differences of those, and extreme inputs: the
 * activations of the output (relu, sigmoid, tanh) and of the input
 * (leaky_relu, elu, silu, gelu, hardswish, softplus); the overwriting
 * backwards against the accumulating ones. Run once per ISA this CPU has
 * (vmath.c computes the transcendental ones). */
#include "testutil.h"
#include "isa_paths.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

static double ref_relu(double x) { return x > 0 ? x : 0; }
static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }

typedef struct act {
    const char *name;
    void (*fwd)(float *, const float *, size_t);
    void (*bwd)(float *, const float *, const float *, size_t);
    double (*ref)(double);
    double rtol; /* forward against the double reference */
    /* relu, sigmoid, tanh: the backward that writes din (no accumulation) */
    void (*bwd_overwrite)(float *, const float *, const float *, size_t);
} act;

/* ReLU is exact. vmath's sigmoid and tanh are within 2 float ulps (ulp/2 =
 * 6e-8 relative; test_vmath.c): 1e-6 relative. */
static const act acts[3] = {
    {"relu", nt_relu_forward, nt_relu_backward, ref_relu, 0, nt_relu_backward_overwrite},
    {"sigmoid", nt_sigmoid_forward, nt_sigmoid_backward, ref_sigmoid, 1e-6,
     nt_sigmoid_backward_overwrite},
    {"tanh", nt_tanh_forward, nt_tanh_backward, ref_tanh, 1e-6, nt_tanh_backward_overwrite},
};

/* 70001 is above every fork threshold in activation.c. */
static const size_t sizes[] = {1, 17, 1000, 70001};

/* ---- forward --------------------------------------------------------------- */

START_TEST(test_forward)
{
    const act *a = &acts[_i];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        nt_rng rng;
        nt_rng_seed(&rng, 10 + k);
        float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
        float *y1 = malloc(n * sizeof(float));
        double *want = malloc(n * sizeof(double));
        ck_assert(x && y && y1 && want);
        tu_fill(x, n, -6, 6, &rng);
        for (size_t i = 0; i < n; i++)
            want[i] = a->ref(x[i]);
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            a->fwd(y, x, n);
            TU_ASSERT_CLOSE_D(a->name, y, want, n, 0, a->rtol);
            if (th == 1)
                memcpy(y1, y, n * sizeof(float));
            else /* elementwise: the thread count cannot matter */
                ck_assert_mem_eq(y1, y, n * sizeof(float));
        }
        /* in place gives the same bits */
        a->fwd(x, x, n);
        ck_assert_mem_eq(x, y1, n * sizeof(float));
        free(x);
        free(y);
        free(y1);
        free(want);
    }
}
END_TEST

/* ---- backward -------------------------------------------------------------- */

typedef struct fd_ctx {
    const act *a;
    const float *x, *r;
    size_t n;
} fd_ctx;

/* sum(ref(x) * R) in double */
static double fd_loss(void *p)
{
    const fd_ctx *c = p;
    double s = 0;
    for (size_t i = 0; i < c->n; i++)
        s += c->a->ref(c->x[i]) * c->r[i];
    return s;
}

START_TEST(test_backward)
{
    const act *a = &acts[_i];
    const size_t n = 37;
    float x[37], y[37], r[37], din[37], din0[37];
    double want[37];
    nt_rng rng;
    nt_rng_seed(&rng, 20 + _i);
    /* |x| in [0.05, 4]: away from ReLU's kink, which the finite-difference
     * step must not straddle */
    for (size_t i = 0; i < n; i++) {
        float u = nt_rng_uniform(&rng);
        x[i] = (i % 2 ? 1 : -1) * (0.05f + 3.95f * u);
    }
    tu_fill(r, n, -1, 1, &rng);
    tu_fill(din0, n, -1, 1, &rng);
    fd_ctx ctx = {a, x, r, n};
    tu_numeric_grad(want, x, n, 1e-4, fd_loss, &ctx);
    for (size_t i = 0; i < n; i++)
        want[i] += din0[i];

    a->fwd(y, x, n);
    memcpy(din, din0, sizeof din);
    a->bwd(din, r, y, n);
    /* the backward uses the float output: 1 - out and 1 - out^2 carry an
     * absolute error of about one ulp of 1 (1.2e-7) times |dout| <= 1; the
     * finite differences are exact to eps^2/6 max|f'''| < 1e-8 */
    TU_ASSERT_CLOSE_D(a->name, din, want, n, 3e-7, 1e-5);
}
END_TEST

/* Above the fork threshold, one and two threads agree bit for bit. */
START_TEST(test_backward_threads)
{
    const act *a = &acts[_i];
    const size_t n = 70001;
    nt_rng rng;
    nt_rng_seed(&rng, 30 + _i);
    float *x = malloc(n * sizeof(float)), *r = malloc(n * sizeof(float));
    float *din[2] = {calloc(n, sizeof(float)), calloc(n, sizeof(float))};
    ck_assert(x && r && din[0] && din[1]);
    tu_fill(x, n, -4, 4, &rng);
    tu_fill(r, n, -1, 1, &rng);
    a->fwd(x, x, n);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        a->bwd(din[th - 1], r, x, n);
    }
    ck_assert_mem_eq(din[0], din[1], n * sizeof(float));
    /* and spot-check one element by hand: dout * f'(out) */
    const size_t i = 12345;
    double y = x[i];
    double d = a->ref == ref_relu      ? (y > 0)
               : a->ref == ref_sigmoid ? y * (1 - y)
                                       : 1 - y * y;
    /* float products of O(1) values */
    ck_assert_double_eq_tol(din[0][i], r[i] * d, 1e-6);
    free(x);
    free(r);
    free(din[0]);
    free(din[1]);
}
END_TEST

/* The overwriting backward into a NaN-filled din equals the accumulating
 * one into zeros, at every size (one and two threads). */
START_TEST(test_backward_overwrite)
{
    const act *a = &acts[_i];
    nt_rng rng;
    nt_rng_seed(&rng, 40 + _i);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        float *y = tu_alloc_rand(n, &rng), *r = tu_alloc_rand(n, &rng);
        float *want = calloc(n, sizeof(float)), *got = tu_alloc_nan(n);
        ck_assert(want && got);
        a->fwd(y, y, n);
        a->bwd(want, r, y, n);
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            a->bwd_overwrite(got, r, y, n);
            TU_ASSERT_CLOSE(a->name, got, want, n, 0, 0);
        }
        free(y);
        free(r);
        free(want);
        free(got);
    }
}
END_TEST

/* ---- extreme inputs -------------------------------------------------------- */

START_TEST(test_extremes)
{
    static const float xs[] = {
        -INFINITY, -FLT_MAX, -1e4f, -1000, -104, -88.8f, -50, -20, -0.0f,
        0,          1e-30f,  20,    50,    88.8f, 89,    104, 1000, 1e4f,
        FLT_MAX,    INFINITY,
    };
    const size_t n = sizeof xs / sizeof xs[0];
    float y[sizeof xs / sizeof xs[0]], din[sizeof xs / sizeof xs[0]];
    float ones[sizeof xs / sizeof xs[0]];
    for (size_t i = 0; i < n; i++)
        ones[i] = 1;

    nt_sigmoid_forward(y, xs, n);
    memset(din, 0, sizeof din);
    nt_sigmoid_backward(din, ones, y, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(y[i] >= 0 && y[i] <= 1, "sigmoid(%g) = %g", xs[i], y[i]);
        ck_assert_msg(isfinite(din[i]), "sigmoid'(%g) = %g", xs[i], din[i]);
        if (i > 0)
            ck_assert_msg(y[i] >= y[i - 1], "sigmoid not monotone at %g",
                          xs[i]);
        /* where the result is a normal float it is accurate to a few ulps;
         * below FLT_MIN only the denormal spacing (1.4e-45) is left */
        double want = 1 / (1 + exp(-(double)xs[i]));
        ck_assert_msg(fabs(y[i] - want) <= 1e-6 * want + 3e-45,
                      "sigmoid(%g) = %.9g want %.9g", xs[i], y[i], want);
    }
    ck_assert_float_eq(y[0], 0);
    ck_assert_float_eq(y[n - 1], 1);

    nt_tanh_forward(y, xs, n);
    memset(din, 0, sizeof din);
    nt_tanh_backward(din, ones, y, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(y[i] >= -1 && y[i] <= 1, "tanh(%g) = %g", xs[i], y[i]);
        ck_assert_msg(isfinite(din[i]) && din[i] >= 0, "tanh'(%g) = %g", xs[i],
                      din[i]);
    }
    ck_assert_float_eq(y[0], -1);
    ck_assert_float_eq(y[n - 1], 1);

    nt_relu_forward(y, xs, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(y[i], xs[i] > 0 ? xs[i] : 0);
    /* NaN is passed through, not hidden as 0 */
    const float nan_in = NAN;
    nt_relu_forward(y, &nan_in, 1);
    ck_assert(isnan(y[0]));
}
END_TEST

/* ---- activations that read their input ------------------------------------- */

/* the double-precision definitions, with parameters where PyTorch has them
 * (set away from the defaults) */
#define SLOPE 0.2
#define ALPHA 0.7
#define BETA 1.5
#define THRESHOLD 6.0

static double ref_leaky(double x) { return x > 0 ? x : SLOPE * x; }
static double ref_elu(double x) { return x > 0 ? x : ALPHA * expm1(x); }
static double ref_silu(double x) { return x / (1 + exp(-x)); }
static double ref_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double ref_hardswish(double x) { return x <= -3 ? 0 : x >= 3 ? x : x * (x + 3) / 6; }
static double ref_softplus(double x)
{
    return BETA * x > THRESHOLD ? x : log1p(exp(BETA * x)) / BETA;
}

static void leaky_f(float *o, const float *i, size_t n) { nt_leaky_relu_forward(o, i, n, SLOPE); }
static void leaky_b(float *d, const float *g, const float *i, size_t n)
{
    nt_leaky_relu_backward(d, g, i, n, SLOPE);
}
static void elu_f(float *o, const float *i, size_t n) { nt_elu_forward(o, i, n, ALPHA); }
static void elu_b(float *d, const float *g, const float *i, size_t n)
{
    nt_elu_backward(d, g, i, n, ALPHA);
}
static void softplus_f(float *o, const float *i, size_t n)
{
    nt_softplus_forward(o, i, n, BETA, THRESHOLD);
}
static void softplus_b(float *d, const float *g, const float *i, size_t n)
{
    nt_softplus_backward(d, g, i, n, BETA, THRESHOLD);
}

/* vmath's exp, erfc, expm1, log1p: a few float ulps; the silu, gelu and
 * softplus compositions a few more */
static const act in_acts[6] = {
    {"leaky_relu", leaky_f, leaky_b, ref_leaky, 1e-7, NULL},
    {"elu", elu_f, elu_b, ref_elu, 1e-6, NULL},
    {"silu", nt_silu_forward, nt_silu_backward, ref_silu, 2e-6, NULL},
    {"gelu", nt_gelu_forward, nt_gelu_backward, ref_gelu, 2e-6, NULL},
    {"hardswish", nt_hardswish_forward, nt_hardswish_backward, ref_hardswish, 1e-6, NULL},
    {"softplus", softplus_f, softplus_b, ref_softplus, 2e-6, NULL},
};

START_TEST(test_in_forward)
{
    const act *a = &in_acts[_i];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        nt_rng rng;
        nt_rng_seed(&rng, 40 + k);
        float *x = malloc(n * sizeof(float)), *y[2] = {malloc(n * sizeof(float)),
                                                      malloc(n * sizeof(float))};
        double *want = malloc(n * sizeof(double));
        ck_assert(x && y[0] && y[1] && want);
        tu_fill(x, n, -8, 8, &rng);
        for (size_t i = 0; i < n; i++)
            want[i] = a->ref(x[i]);
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            a->fwd(y[th - 1], x, n);
            /* near a zero of the function the relative error is meaningless */
            TU_ASSERT_CLOSE_D(a->name, y[th - 1], want, n, 1e-7, a->rtol);
        }
        ck_assert_mem_eq(y[0], y[1], n * sizeof(float));
        a->fwd(x, x, n); /* in place */
        ck_assert_mem_eq(x, y[0], n * sizeof(float));
        free(x);
        free(y[0]);
        free(y[1]);
        free(want);
    }
}
END_TEST

/* Backward (from the input) against central differences of the double
 * reference, accumulating into what din held; 1 and 2 threads agree. */
START_TEST(test_in_backward)
{
    const act *a = &in_acts[_i];
    enum { n = 61 };
    float x[n], r[n], din[n], din0[n], din2[n];
    double want[n];
    nt_rng rng;
    nt_rng_seed(&rng, 50 + _i);
    /* |x| in [0.05, 5], away from the kinks at 0 and +-3 and from softplus's
     * threshold (x = 4), which the step must not straddle */
    for (size_t i = 0; i < n; i++) {
        float u = 0.05f + 4.95f * nt_rng_uniform(&rng);
        if (fabsf(u - 3.0f) < 0.05f || fabsf(u - 4.0f) < 0.05f)
            u += 0.1f;
        x[i] = (i % 2 ? 1 : -1) * u;
    }
    tu_fill(r, n, -1, 1, &rng);
    tu_fill(din0, n, -1, 1, &rng);
    fd_ctx ctx = {a, x, r, n};
    tu_numeric_grad(want, x, n, 1e-4, fd_loss, &ctx);
    for (size_t i = 0; i < n; i++)
        want[i] += din0[i];
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        float *d = th == 1 ? din : din2;
        memcpy(d, din0, sizeof din0);
        a->bwd(d, r, x, n);
        TU_ASSERT_CLOSE_D(a->name, d, want, n, 1e-6, 1e-5);
    }
    ck_assert_mem_eq(din, din2, sizeof din);
}
END_TEST

/* Large inputs stay finite and take PyTorch's branch: softplus is x above
 * the threshold, silu and gelu approach x and 0. */
START_TEST(test_in_extremes)
{
    static const float xs[] = {-1e4f, -100, -20, -3, 0, 3, 20, 100, 1e4f};
    const size_t n = sizeof xs / sizeof xs[0];
    float y[sizeof xs / sizeof xs[0]], d[sizeof xs / sizeof xs[0]];
    float ones[sizeof xs / sizeof xs[0]];
    for (size_t i = 0; i < n; i++)
        ones[i] = 1;
    for (int k = 0; k < 6; k++) {
        const act *a = &in_acts[k];
        a->fwd(y, xs, n);
        memset(d, 0, sizeof d);
        a->bwd(d, ones, xs, n);
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(isfinite(y[i]) && isfinite(d[i]), "%s(%g) = %g, grad %g", a->name,
                          xs[i], y[i], d[i]);
            double want = a->ref(xs[i]);
            ck_assert_msg(fabs(y[i] - want) <= 1e-6 * fabs(want) + 1e-30, "%s(%g) = %.9g want %.9g",
                          a->name, xs[i], y[i], want);
        }
    }
    /* PyTorch at the kinks: leaky_relu and elu use the x <= 0 branch at 0,
     * hardswish has slope x/3 + 1/2 on [-3, 3] */
    const float at[] = {0.0f, -3.0f, 3.0f};
    float g[3] = {0, 0, 0};
    const float one3[3] = {1, 1, 1};
    nt_leaky_relu_backward(g, one3, at, 1, 0.2f);
    nt_elu_backward(g + 1, one3, at, 1, 0.5f);
    ck_assert_float_eq(g[0], 0.2f);
    ck_assert_float_eq(g[1], 0.5f);
    memset(g, 0, sizeof g);
    nt_hardswish_backward(g, one3, at, 3);
    ck_assert_float_eq(g[0], 0.5f);
    ck_assert_float_eq(g[1], -0.5f);
    ck_assert_float_eq(g[2], 1.5f);
}
END_TEST

static Suite *activation_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, test_forward, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0, 3);
    tcase_add_loop_test(tc, test_backward_threads, 0, 3);
    tcase_add_loop_test(tc, test_backward_overwrite, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("extremes");
    tcase_add_test(tc, test_extremes);
    suite_add_tcase(s, tc);

    tc = tcase_create("activations of the input");
    tcase_add_loop_test(tc, test_in_forward, 0, 6);
    tcase_add_loop_test(tc, test_in_backward, 0, 6);
    tcase_add_test(tc, test_in_extremes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_isa_paths("activation", activation_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
