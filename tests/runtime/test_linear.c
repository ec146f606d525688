/* test_linear.c - linear.c: forward against a double-precision loop (with
 * and without bias, 1 and 2 threads), backward against central finite
 * differences of that loop, accumulation into pre-filled gradients, the
 * overwriting backward, NULL din / db, and PyTorch's numbers. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/linear_torch.h"
#include "gemm_paths.h"
#include "nt_kernels.h"

typedef struct lin_case {
    int N, IN, OUT, bias;
} lin_case;

/* The second shape has 33*300*70 multiply-adds, enough for nt_sgemm to split
 * the GEMMs over 2 threads. */
static const lin_case cases[] = {
    {1, 7, 5, 1}, {33, 300, 70, 1}, {4, 13, 1, 0}, {6, 1, 9, 1},
};

/* out = in * W^T + b in double. */
static void ref_forward(double *out, const float *in, const float *w,
                        const float *b, int N, int IN, int OUT)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < IN; i++)
                s += (double)in[(size_t)n * IN + i] * w[(size_t)o * IN + i];
            out[(size_t)n * OUT + o] = s;
        }
}

typedef struct lin_data {
    lin_case c;
    float *in, *w, *b, *r; /* r: upstream gradient */
} lin_data;

static lin_data lin_make(lin_case c, uint64_t seed)
{
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    lin_data t = {c, NULL, NULL, NULL, NULL};
    t.in = tu_alloc_rand((size_t)c.N * c.IN, &rng);
    t.w = tu_alloc_rand((size_t)c.OUT * c.IN, &rng);
    t.b = c.bias ? tu_alloc_rand((size_t)c.OUT, &rng) : NULL;
    t.r = tu_alloc_rand((size_t)c.N * c.OUT, &rng);
    return t;
}

static void lin_free(lin_data *t)
{
    free(t->in);
    free(t->w);
    free(t->b);
    free(t->r);
}

START_TEST(test_forward)
{
    lin_case c = cases[_i];
    lin_data t = lin_make(c, 10 + (uint64_t)_i);
    size_t no = (size_t)c.N * c.OUT;
    double *want = malloc(sizeof(double) * no);
    ref_forward(want, t.in, t.w, t.b, c.N, c.IN, c.OUT);
    float *out = tu_alloc_nan(no);
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        for (size_t i = 0; i < no; i++)
            out[i] = NAN; /* every output must be written */
        nt_linear_forward(out, t.in, t.w, t.b, c.N, c.IN, c.OUT);
        /* float dot products of IN <= 300 terms of magnitude <= 1 with random
         * signs: rounding error below 1e-5; a wrong term is off by ~0.1 */
        TU_ASSERT_CLOSE_D("linear forward", out, want, no, 1e-4, 1e-5);
        /* with the sigmoid epilogue: exactly nt_sigmoid_forward's bits */
        float *fused = tu_alloc_nan(no), *act = tu_alloc_nan(no);
        nt_linear_sigmoid_forward(fused, t.in, t.w, t.b, c.N, c.IN, c.OUT);
        nt_sigmoid_forward(act, out, no);
        TU_ASSERT_CLOSE("linear+sigmoid forward", fused, act, no, 0.0, 0.0);
        free(act);
        /* with the relu epilogue: exactly max(forward, 0) */
        nt_linear_relu_forward(fused, t.in, t.w, t.b, c.N, c.IN, c.OUT);
        for (size_t i = 0; i < no; i++)
            out[i] = out[i] < 0.0f ? 0.0f : out[i];
        TU_ASSERT_CLOSE("linear+relu forward", fused, out, no, 0.0, 0.0);
        free(fused);
    }
    free(out);
    free(want);
    lin_free(&t);
}
END_TEST

/* ---- backward ------------------------------------------------------------ */

typedef struct lin_loss {
    const lin_data *t;
    double *out;
} lin_loss;

/* loss = sum(out * r), forward in double: exactly linear in every input and
 * parameter, so central differences carry no truncation error. */
static double lin_loss_fn(void *ctx)
{
    lin_loss *l = ctx;
    const lin_case *c = &l->t->c;
    ref_forward(l->out, l->t->in, l->t->w, l->t->b, c->N, c->IN, c->OUT);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)c->N * c->OUT; i++)
        s += l->out[i] * l->t->r[i];
    return s;
}

/* The exact gradients of sum(out * r) in double, written out:
 * din = r * W, dW = r^T * in, db = column sums of r. */
static void ref_backward(double *gin, double *gw, double *gb,
                         const lin_data *t)
{
    const lin_case *c = &t->c;
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < c->IN; i++) {
            double s = 0.0;
            for (int o = 0; o < c->OUT; o++)
                s += (double)t->r[(size_t)n * c->OUT + o] * t->w[(size_t)o * c->IN + i];
            gin[(size_t)n * c->IN + i] = s;
        }
    for (int o = 0; o < c->OUT; o++) {
        for (int i = 0; i < c->IN; i++) {
            double s = 0.0;
            for (int n = 0; n < c->N; n++)
                s += (double)t->r[(size_t)n * c->OUT + o] * t->in[(size_t)n * c->IN + i];
            gw[(size_t)o * c->IN + i] = s;
        }
        double s = 0.0;
        for (int n = 0; n < c->N; n++)
            s += t->r[(size_t)n * c->OUT + o];
        gb[o] = s;
    }
}

/* Central differences for the small shapes (the numeric gradient of the big
 * one would take 2 * 30900 forwards); the big one, which is the one that
 * splits its GEMMs, is checked against the written-out gradients instead. */
START_TEST(test_backward)
{
    lin_case c = cases[_i];
    lin_data t = lin_make(c, 20 + (uint64_t)_i);
    size_t nin = (size_t)c.N * c.IN, nw = (size_t)c.OUT * c.IN;
    double *gin = malloc(sizeof(double) * nin), *gw = malloc(sizeof(double) * nw);
    double *gb = malloc(sizeof(double) * (size_t)c.OUT);
    if (nin + nw <= 200) {
        lin_loss l = {&t, malloc(sizeof(double) * (size_t)c.N * c.OUT)};
        tu_numeric_grad(gin, t.in, nin, 1e-2, lin_loss_fn, &l);
        tu_numeric_grad(gw, t.w, nw, 1e-2, lin_loss_fn, &l);
        if (t.b)
            tu_numeric_grad(gb, t.b, (size_t)c.OUT, 1e-2, lin_loss_fn, &l);
        free(l.out);
    } else {
        ref_backward(gin, gw, gb, &t);
    }

    float *din = calloc(nin, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = t.b ? calloc((size_t)c.OUT, sizeof(float)) : NULL;
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        memset(din, 0, sizeof(float) * nin);
        memset(dw, 0, sizeof(float) * nw);
        if (db)
            memset(db, 0, sizeof(float) * (size_t)c.OUT);
        nt_linear_backward(din, dw, db, t.r, t.in, t.w, c.N, c.IN, c.OUT);
        /* float sums of at most max(N, OUT) = 70 products of magnitude <= 1
         * (random signs): error ~1e-6 against an exact gradient; a wrong or
         * missing term is off by ~0.1 */
        TU_ASSERT_CLOSE_D("linear din", din, gin, nin, 1e-4, 1e-5);
        TU_ASSERT_CLOSE_D("linear dw", dw, gw, nw, 1e-4, 1e-5);
        if (db)
            TU_ASSERT_CLOSE_D("linear db", db, gb, (size_t)c.OUT, 1e-4, 1e-5);
    }
    free(din);
    free(dw);
    free(db);
    free(gin);
    free(gw);
    free(gb);
    lin_free(&t);
}
END_TEST

/* Gradients are added to what is there; din == NULL and db == NULL skip
 * those gradients and leave the others unchanged. */
START_TEST(test_backward_accumulates)
{
    nt_set_num_threads(2);
    lin_case c = cases[1];
    lin_data t = lin_make(c, 30);
    nt_rng rng;
    nt_rng_seed(&rng, 31);
    size_t nin = (size_t)c.N * c.IN, nw = (size_t)c.OUT * c.IN;
    float *din = calloc(nin, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)c.OUT, sizeof(float));
    nt_linear_backward(din, dw, db, t.r, t.in, t.w, c.N, c.IN, c.OUT);

    float *din2 = tu_alloc_rand(nin, &rng), *dw2 = tu_alloc_rand(nw, &rng);
    float *db2 = tu_alloc_rand((size_t)c.OUT, &rng);
    float *want_in = malloc(sizeof(float) * nin), *want_w = malloc(sizeof(float) * nw);
    float *want_b = malloc(sizeof(float) * (size_t)c.OUT);
    for (size_t i = 0; i < nin; i++)
        want_in[i] = din2[i] + din[i];
    for (size_t i = 0; i < nw; i++)
        want_w[i] = dw2[i] + dw[i];
    for (int i = 0; i < c.OUT; i++)
        want_b[i] = db2[i] + db[i];
    nt_linear_backward(din2, dw2, db2, t.r, t.in, t.w, c.N, c.IN, c.OUT);
    /* gradients ~1..10 plus prior values in [-1, 1]: only the rounding of
     * the sums differs */
    TU_ASSERT_CLOSE("linear din accumulates", din2, want_in, nin, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("linear dw accumulates", dw2, want_w, nw, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("linear db accumulates", db2, want_b, (size_t)c.OUT, 1e-5, 1e-5);

    memset(dw2, 0, sizeof(float) * nw);
    nt_linear_backward(NULL, dw2, NULL, t.r, t.in, t.w, c.N, c.IN, c.OUT);
    /* the same computation as the first call: identical */
    TU_ASSERT_CLOSE("linear dw with din = db = NULL", dw2, dw, nw, 0.0, 0.0);

    free(din);
    free(dw);
    free(db);
    free(din2);
    free(dw2);
    free(db2);
    free(want_in);
    free(want_w);
    free(want_b);
    lin_free(&t);
}
END_TEST

/* The overwriting backward into a NaN-filled din equals the accumulating one
 * into zeros (a GEMM with beta 0 never reads din); dw and db still
 * accumulate. */
START_TEST(test_backward_overwrite)
{
    lin_case c = cases[_i];
    lin_data t = lin_make(c, 40 + (uint64_t)_i);
    size_t nin = (size_t)c.N * c.IN, nw = (size_t)c.OUT * c.IN;
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        float *din = calloc(nin, sizeof(float)), *dw = calloc(nw, sizeof(float));
        float *db = calloc((size_t)c.OUT, sizeof(float));
        float *din2 = tu_alloc_nan(nin), *dw2 = calloc(nw, sizeof(float));
        float *db2 = calloc((size_t)c.OUT, sizeof(float));
        nt_linear_backward(din, dw, db, t.r, t.in, t.w, c.N, c.IN, c.OUT);
        nt_linear_backward_overwrite(din2, dw2, db2, t.r, t.in, t.w, c.N, c.IN, c.OUT);
        TU_ASSERT_CLOSE("linear din overwritten", din2, din, nin, 0.0, 0.0);
        TU_ASSERT_CLOSE("linear dw", dw2, dw, nw, 0.0, 0.0);
        TU_ASSERT_CLOSE("linear db", db2, db, (size_t)c.OUT, 0.0, 0.0);
        nt_linear_backward_overwrite(din2, dw2, db2, t.r, t.in, t.w, c.N, c.IN, c.OUT);
        for (size_t i = 0; i < nw; i++) /* accumulated twice: exactly doubled */
            dw[i] *= 2.0f;
        TU_ASSERT_CLOSE("linear din overwritten again", din2, din, nin, 0.0, 0.0);
        TU_ASSERT_CLOSE("linear dw accumulates", dw2, dw, nw, 0.0, 0.0);
        free(din);
        free(dw);
        free(db);
        free(din2);
        free(dw2);
        free(db2);
    }
    lin_free(&t);
}
END_TEST

START_TEST(test_torch)
{
    nt_set_num_threads(_i + 1);
    float out[LIN_N * LIN_OUT], din[LIN_N * LIN_IN] = {0};
    float dw[LIN_OUT * LIN_IN] = {0}, db[LIN_OUT] = {0};
    nt_linear_forward(out, lin_in, lin_w, lin_b, LIN_N, LIN_IN, LIN_OUT);
    nt_linear_backward(din, dw, db, lin_dout, lin_in, lin_w, LIN_N, LIN_IN,
                       LIN_OUT);
    /* sums of <= 5 float products of magnitude < 10: both sides round to
     * ~1e-6 */
    TU_ASSERT_CLOSE("linear out vs torch", out, lin_out, LIN_N * LIN_OUT, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("linear din vs torch", din, lin_din, LIN_N * LIN_IN, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("linear dw vs torch", dw, lin_dw, LIN_OUT * LIN_IN, 1e-5, 1e-5);
    TU_ASSERT_CLOSE("linear db vs torch", db, lin_db, LIN_OUT, 1e-5, 1e-5);
}
END_TEST

static Suite *linear_suite(const char *name)
{
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, test_forward, 0, ncases);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0, ncases);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_loop_test(tc, test_backward_overwrite, 0, ncases);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_torch, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_gemm_paths("linear", linear_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
