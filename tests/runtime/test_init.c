/* test_init.c - init.c: the Xavier bound, the empirical mean and variance of
 * the uniform initialisers within statistical bounds, and reproducibility
 * from the seed. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

enum { N = 100000 };

/* Checks that w looks like N draws of U(-a, a). */
static void check_uniform(const float *w, float a)
{
    double sum = 0, sumsq = 0;
    float lo = a, hi = -a;
    for (int i = 0; i < N; i++) {
        sum += w[i];
        sumsq += (double)w[i] * w[i];
        lo = fminf(lo, w[i]);
        hi = fmaxf(hi, w[i]);
    }
    ck_assert_msg(lo >= -a && hi <= a, "values in [%g, %g], bound %g", lo, hi,
                  a);
    const double a2 = (double)a * a;
    /* mean: sd a / sqrt(3N); 6 sd */
    const double mean = sum / N;
    ck_assert_msg(fabs(mean) <= 6 * a / sqrt(3.0 * N), "mean %g, a %g", mean,
                  a);
    /* variance a^2/3; the sample second moment has sd
     * a^2 sqrt((1/5 - 1/9) / N) (E x^4 = a^4/5); 6 sd, 1.7% of a^2/3 */
    const double var = sumsq / N;
    ck_assert_msg(fabs(var - a2 / 3) <= 6 * a2 * sqrt((1.0 / 5 - 1.0 / 9) / N),
                  "variance %g, want %g", var, a2 / 3);
    /* the whole range is used: P(max < 0.999 a) = (1 - 5e-4)^N = e^-50 */
    ck_assert_float_gt(hi, 0.999f * a);
    ck_assert_float_lt(lo, -0.999f * a);
}

/* {fan_in, fan_out}: a 5x5 conv 3 -> 16, a linear 784 -> 10 */
static const int fans[][2] = {{3 * 25, 16 * 25}, {784, 10}};

START_TEST(test_xavier)
{
    const int fan_in = fans[_i][0], fan_out = fans[_i][1];
    float *w = malloc(N * sizeof(float));
    ck_assert(w);
    nt_rng rng;
    nt_rng_seed(&rng, 1 + _i);
    nt_init_xavier_uniform(w, N, fan_in, fan_out, &rng);
    check_uniform(w, (float)sqrt(6.0 / (fan_in + fan_out)));
    free(w);
}
END_TEST

START_TEST(test_uniform)
{
    /* PyTorch's default bias bound for fan_in 400 */
    const float bound = 1 / sqrtf(400);
    float *w = malloc(N * sizeof(float));
    ck_assert(w);
    nt_rng rng;
    nt_rng_seed(&rng, 3);
    nt_init_uniform(w, N, bound, &rng);
    check_uniform(w, bound);
    /* bound 0 gives zeros */
    nt_init_uniform(w, 10, 0, &rng);
    for (int i = 0; i < 10; i++)
        ck_assert_float_eq(w[i], 0);
    free(w);
}
END_TEST

START_TEST(test_seed)
{
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    ck_assert(a && b);
    nt_rng ra, rb;
    nt_rng_seed(&ra, 11);
    nt_rng_seed(&rb, 11);
    nt_init_xavier_uniform(a, N, 100, 50, &ra);
    nt_init_xavier_uniform(b, N, 100, 50, &rb);
    ck_assert_mem_eq(a, b, N * sizeof(float));

    /* sequential: one call of N equals two calls of N/2 in a row */
    nt_rng_seed(&rb, 11);
    nt_init_xavier_uniform(b, N / 2, 100, 50, &rb);
    nt_init_xavier_uniform(b + N / 2, N - N / 2, 100, 50, &rb);
    ck_assert_mem_eq(a, b, N * sizeof(float));

    /* another seed: independent 24-bit draws coincide with probability
     * 2^-24 each, 0.006 expected in N */
    nt_rng_seed(&rb, 12);
    nt_init_xavier_uniform(b, N, 100, 50, &rb);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += a[i] == b[i];
    ck_assert_int_le(same, 3);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_const)
{
    float w[37];
    nt_init_const(w, 37, 0.25f);
    for (int i = 0; i < 37; i++)
        ck_assert_float_eq(w[i], 0.25f);
    nt_init_const(w, 37, 0);
    for (int i = 0; i < 37; i++)
        ck_assert_float_eq(w[i], 0);
    w[0] = 5;
    nt_init_const(w, 0, 1); /* n = 0 touches nothing */
    ck_assert_float_eq(w[0], 5);
}
END_TEST

static Suite *init_suite(void)
{
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("xavier");
    tcase_add_loop_test(tc, test_xavier, 0, sizeof fans / sizeof fans[0]);
    suite_add_tcase(s, tc);

    tc = tcase_create("uniform");
    tcase_add_test(tc, test_uniform);
    suite_add_tcase(s, tc);

    tc = tcase_create("seed");
    tcase_add_test(tc, test_seed);
    suite_add_tcase(s, tc);

    tc = tcase_create("const");
    tcase_add_test(tc, test_const);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(init_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
