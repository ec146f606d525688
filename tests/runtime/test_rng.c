/* test_rng.c - rng.c: the sequential generator against the published
 * splitmix64 / xoshiro256** algorithms, the range and rough uniformity of
 * nt_rng_uniform and nt_rng_below, and the counter-based hash. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "nt_base.h"

/* ---- xoshiro256** ---------------------------------------------------------- */

/* The state after seeding is four splitmix64 outputs (0xe220a8397b1dcdaf is
 * splitmix64's well-known first output for seed 0); the outputs that follow
 * were computed by an independent Python transcription of Vigna's reference
 * xoshiro256**. A change here changes every seeded run's weights. */
START_TEST(test_known_values)
{
    static const uint64_t state0[4] = {
        0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
        0xf88bb8a8724c81ecULL};
    static const uint64_t out0[4] = {
        0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL,
        0x6aa594f1262d2d2cULL};
    static const uint64_t out42[4] = {
        0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL,
        0xecb8ad4703b360a1ULL};
    nt_rng r;
    nt_rng_seed(&r, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(r.s[i], state0[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(nt_rng_u64(&r), out0[i]);
    nt_rng_seed(&r, 42);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(nt_rng_u64(&r), out42[i]);
}
END_TEST

START_TEST(test_seeds)
{
    nt_rng a, b, c;
    nt_rng_seed(&a, 7);
    nt_rng_seed(&b, 7);
    nt_rng_seed(&c, 8);
    int same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = nt_rng_u64(&a);
        ck_assert_uint_eq(x, nt_rng_u64(&b));
        same_ac += x == nt_rng_u64(&c);
    }
    /* two independent 64-bit streams never meet in 1000 draws */
    ck_assert_int_eq(same_ac, 0);
}
END_TEST

/* ---- nt_rng_uniform -------------------------------------------------------- */

START_TEST(test_uniform)
{
    enum { N = 100000 };
    nt_rng r;
    nt_rng_seed(&r, 1);
    double sum = 0;
    float lo = 1, hi = 0;
    int off_grid = 0;
    for (int i = 0; i < N; i++) {
        float u = nt_rng_uniform(&r);
        /* 24 random bits: an exact multiple of 2^-24 */
        float scaled = u * 16777216.0f;
        off_grid += scaled != floorf(scaled);
        sum += u;
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
    }
    ck_assert_float_ge(lo, 0);
    ck_assert_float_lt(hi, 1);
    ck_assert_int_eq(off_grid, 0);
    /* the mean of N uniforms has sd sqrt(1/12/N) = 9.1e-4; 6 sd */
    ck_assert_double_le(fabs(sum / N - 0.5), 6 * sqrt(1.0 / 12 / N));
    /* both ends reached: P(min > 1e-3) = (1 - 1e-3)^N = e^-100 */
    ck_assert_float_lt(lo, 1e-3f);
    ck_assert_float_gt(hi, 1 - 1e-3f);
}
END_TEST

/* ---- nt_rng_below ---------------------------------------------------------- */

START_TEST(test_below_range)
{
    static const uint64_t ns[] = {1, 2, 3, 1000, (uint64_t)1 << 40,
                                  UINT64_MAX};
    nt_rng r;
    nt_rng_seed(&r, 2);
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        uint64_t hi = 0;
        for (int i = 0; i < 2000; i++) {
            uint64_t x = nt_rng_below(&r, ns[k]);
            hi = x > hi ? x : hi;
        }
        ck_assert_uint_lt(hi, ns[k]);
        /* and not stuck low: the top half is reached (P = 1 - 2^-2000) */
        if (ns[k] > 1)
            ck_assert_uint_ge(hi, ns[k] / 2);
    }
}
END_TEST

START_TEST(test_below_uniform)
{
    enum { N = 70000, K = 7 };
    nt_rng r;
    nt_rng_seed(&r, 3);
    int count[K] = {0};
    for (int i = 0; i < N; i++)
        count[nt_rng_below(&r, K)]++;
    /* each count is Binomial(N, 1/7): 10000 +- 92.6; 6 sd */
    const double sd = sqrt(N * (1.0 / K) * (1 - 1.0 / K));
    for (int k = 0; k < K; k++)
        ck_assert_msg(fabs(count[k] - (double)N / K) <= 6 * sd,
                      "value %d drawn %d times of %d", k, count[k], N);
}
END_TEST

/* n = 3 * 2^62 does not divide 2^64: a plain x % n would return values below
 * 2^62 half of the time instead of a third. */
START_TEST(test_below_unbiased)
{
    enum { N = 30000 };
    const uint64_t n = (uint64_t)3 << 62;
    nt_rng r;
    nt_rng_seed(&r, 4);
    int low = 0;
    for (int i = 0; i < N; i++)
        low += nt_rng_below(&r, n) < ((uint64_t)1 << 62);
    /* Binomial(N, 1/3): sd = sqrt(N * 2/9) = 82; 6 sd, while the biased
     * result would be 5000 (61 sd) away */
    const double sd = sqrt(N * 2.0 / 9);
    ck_assert_msg(fabs(low - N / 3.0) <= 6 * sd, "%d of %d below 2^62", low, N);
}
END_TEST

/* ---- counter-based hash ---------------------------------------------------- */

START_TEST(test_hash)
{
    /* pinned: changing the hash changes every seeded run's dropout masks */
    ck_assert_uint_eq(nt_hash64(0, 0), 0x48218226ff3cd4bfULL);
    ck_assert_uint_eq(nt_hash64(1, 0), 0xdce423fc82c0d5b8ULL);
    ck_assert_uint_eq(nt_hash64(0, 1), 0x927a7c57dc016e42ULL);
    ck_assert_uint_eq(nt_hash64(12345, 678), 0x7130adca831fd82fULL);

    enum { N = 100000 };
    double sum = 0;
    int same = 0, bad = 0;
    float lo = 1, hi = 0;
    for (uint64_t i = 0; i < N; i++) {
        float u = nt_hash_uniform(99, i);
        /* deterministic, and the top 24 bits of nt_hash64 */
        bad += u != nt_hash_uniform(99, i);
        bad += u != (float)(nt_hash64(99, i) >> 40) / 16777216.0f;
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
        sum += u;
        same += u == nt_hash_uniform(100, i);
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_float_ge(lo, 0);
    ck_assert_float_lt(hi, 1);
    /* consecutive counters look uniform: 6 sd of the mean */
    ck_assert_double_le(fabs(sum / N - 0.5), 6 * sqrt(1.0 / 12 / N));
    /* neighbouring keys are unrelated: equal 24-bit values happen with
     * probability 2^-24 each, 0.006 expected in N */
    ck_assert_int_le(same, 3);
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("xoshiro");
    tcase_add_test(tc, test_known_values);
    tcase_add_test(tc, test_seeds);
    suite_add_tcase(s, tc);

    tc = tcase_create("uniform");
    tcase_add_test(tc, test_uniform);
    suite_add_tcase(s, tc);

    tc = tcase_create("below");
    tcase_add_test(tc, test_below_range);
    tcase_add_test(tc, test_below_uniform);
    tcase_add_test(tc, test_below_unbiased);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash");
    tcase_add_test(tc, test_hash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rng_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
