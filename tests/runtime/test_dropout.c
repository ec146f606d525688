/* test_dropout.c - dropout.c: the keep rate, the 1/(1 - p) scaling, masks
 * that depend only on (key, index), and a backward that routes through the
 * mask (checked against finite differences of the forward). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

/* Above dropout.c's fork threshold (16384), so two threads really split it. */
#define NBIG 100000

typedef struct drop_buf {
    float *x, *y;
    uint8_t *mask;
} drop_buf;

static drop_buf drop_alloc(size_t n, uint64_t seed)
{
    drop_buf b = {malloc(n * sizeof(float)), malloc(n * sizeof(float)),
                  malloc(n)};
    ck_assert(b.x && b.y && b.mask);
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    tu_fill(b.x, n, -2, 2, &rng);
    return b;
}

static void drop_free(drop_buf *b)
{
    free(b->x);
    free(b->y);
    free(b->mask);
}

/* ---- forward --------------------------------------------------------------- */

static const float probs[] = {0.1f, 0.5f, 0.9f};

START_TEST(test_forward)
{
    const float p = probs[_i];
    const uint64_t key = 0x1234 + _i;
    drop_buf b = drop_alloc(NBIG, 1 + _i);
    nt_dropout_forward(b.y, b.mask, b.x, NBIG, p, key);

    /* counted, then asserted once: a Check assertion per element is slow */
    size_t kept = 0, bad_mask = 0, bad_kept = 0, bad_dropped = 0;
    for (size_t i = 0; i < NBIG; i++) {
        /* the documented rule, bit for bit */
        bad_mask += b.mask[i] != (nt_hash_uniform(key, i) >= p);
        kept += b.mask[i];
        if (b.mask[i]) {
            /* float rounding of 1 - p, of 1/(1 - p) and of the product */
            double want = b.x[i] / (1.0 - p);
            bad_kept += !(fabs(b.y[i] - want) <= 3e-7 * fabs(want));
        } else {
            bad_dropped += b.y[i] != 0.0f;
        }
    }
    ck_assert_msg(bad_mask == 0, "%zu mask bits break the rule", bad_mask);
    ck_assert_msg(bad_kept == 0, "%zu kept values not x / (1 - p)", bad_kept);
    ck_assert_msg(bad_dropped == 0, "%zu dropped values not 0", bad_dropped);
    /* kept ~ Binomial(n, 1 - p) for a good hash (24-bit uniforms shift the
     * rate by < 6e-8); six standard deviations fail with probability 2e-9 */
    double mean = NBIG * (1.0 - p), sd = sqrt(NBIG * p * (1.0 - p));
    ck_assert_msg(fabs(kept - mean) <= 6 * sd,
                  "p = %g: kept %zu of %d, expected %.0f +- %.0f", p, kept,
                  NBIG, mean, 6 * sd);
    drop_free(&b);
}
END_TEST

START_TEST(test_p_zero)
{
    drop_buf b = drop_alloc(1001, 5);
    memset(b.mask, 7, 1001);
    nt_dropout_forward(b.y, b.mask, b.x, 1001, 0, 99);
    ck_assert_mem_eq(b.y, b.x, 1001 * sizeof(float));
    size_t ones = 0;
    for (size_t i = 0; i < 1001; i++)
        ones += b.mask[i] == 1;
    ck_assert_uint_eq(ones, 1001);
    drop_free(&b);
}
END_TEST

/* ---- masks: thread count and key ----------------------------------------- */

START_TEST(test_mask_determinism)
{
    const float p = 0.5f;
    const uint64_t key = 0xdeadbeef;
    drop_buf b1 = drop_alloc(NBIG, 6), b2 = drop_alloc(NBIG, 6);
    nt_set_num_threads(1);
    nt_dropout_forward(b1.y, b1.mask, b1.x, NBIG, p, key);
    nt_set_num_threads(2);
    nt_dropout_forward(b2.y, b2.mask, b2.x, NBIG, p, key);
    ck_assert_mem_eq(b1.mask, b2.mask, NBIG);
    ck_assert_mem_eq(b1.y, b2.y, NBIG * sizeof(float));

    /* same key again: same mask */
    nt_dropout_forward(b2.y, b2.mask, b2.x, NBIG, p, key);
    ck_assert_mem_eq(b1.mask, b2.mask, NBIG);

    /* the neighbouring key (the trainer derives keys from step and layer):
     * independent masks differ at Binomial(n, 2p(1-p)) = 50000 +- 158
     * positions; n/4 is more than 150 standard deviations below that */
    nt_dropout_forward(b2.y, b2.mask, b2.x, NBIG, p, key + 1);
    size_t differ = 0;
    for (size_t i = 0; i < NBIG; i++)
        differ += b1.mask[i] != b2.mask[i];
    ck_assert_msg(differ > NBIG / 4, "only %zu of %d mask bits differ", differ,
                  NBIG);
    drop_free(&b1);
    drop_free(&b2);
}
END_TEST

/* ---- backward -------------------------------------------------------------- */

typedef struct fd_ctx {
    drop_buf *b;
    const float *r;
    size_t n;
    float p;
    uint64_t key;
} fd_ctx;

/* sum(out * R) of the kernel's own forward; the key fixes the mask */
static double fd_loss(void *p)
{
    fd_ctx *c = p;
    nt_dropout_forward(c->b->y, c->b->mask, c->b->x, c->n, c->p, c->key);
    return tu_dot(c->b->y, c->r, c->n);
}

START_TEST(test_backward)
{
    const float p = _i == 0 ? 0.0f : 0.4f;
    const size_t n = 53;
    const uint64_t key = 77;
    drop_buf b = drop_alloc(n, 8);
    float r[53], din[53], din0[53];
    double want[53];
    nt_rng rng;
    nt_rng_seed(&rng, 9);
    tu_fill(r, n, -1, 1, &rng);
    tu_fill(din0, n, -1, 1, &rng);

    fd_ctx ctx = {&b, r, n, p, key};
    /* the forward is linear in x, so central differences are exact up to
     * the float rounding of out (half an ulp of |x| / (1 - p) <= 3.4, i.e.
     * 1.2e-7, divided by the step 2e-2): 1e-5 */
    tu_numeric_grad(want, b.x, n, 1e-2, fd_loss, &ctx);
    for (size_t i = 0; i < n; i++)
        want[i] += din0[i];

    nt_dropout_forward(b.y, b.mask, b.x, n, p, key);
    memcpy(din, din0, sizeof din);
    nt_dropout_backward(din, r, b.mask, n, p);
    TU_ASSERT_CLOSE_D("dropout dinput", din, want, n, 1e-5, 1e-5);
    /* dropped elements receive nothing at all */
    size_t dropped = 0, touched = 0;
    for (size_t i = 0; i < n; i++)
        if (!b.mask[i]) {
            touched += din[i] != din0[i];
            dropped++;
        }
    ck_assert_uint_eq(touched, 0);
    ck_assert(p == 0 ? dropped == 0 : dropped > 0);
    drop_free(&b);
}
END_TEST

START_TEST(test_backward_threads)
{
    drop_buf b = drop_alloc(NBIG, 10);
    float *dout = malloc(NBIG * sizeof(float));
    float *din[2] = {calloc(NBIG, sizeof(float)), calloc(NBIG, sizeof(float))};
    ck_assert(dout && din[0] && din[1]);
    nt_rng rng;
    nt_rng_seed(&rng, 11);
    tu_fill(dout, NBIG, -1, 1, &rng);
    nt_dropout_forward(b.y, b.mask, b.x, NBIG, 0.3f, 5);
    float *ovw = tu_alloc_nan(NBIG);
    for (int th = 1; th <= 2; th++) {
        nt_set_num_threads(th);
        nt_dropout_backward(din[th - 1], dout, b.mask, NBIG, 0.3f);
        /* overwriting a NaN-filled din: as accumulating into zeros */
        for (size_t i = 0; i < NBIG; i++)
            ovw[i] = NAN;
        nt_dropout_backward_overwrite(ovw, dout, b.mask, NBIG, 0.3f);
        ck_assert_mem_eq(ovw, din[th - 1], NBIG * sizeof(float));
    }
    ck_assert_mem_eq(din[0], din[1], NBIG * sizeof(float));
    free(ovw);
    free(dout);
    free(din[0]);
    free(din[1]);
    drop_free(&b);
}
END_TEST

static Suite *dropout_suite(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, test_forward, 0, sizeof probs / sizeof probs[0]);
    tcase_add_test(tc, test_p_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("mask");
    tcase_add_test(tc, test_mask_determinism);
    suite_add_tcase(s, tc);

    tc = tcase_create("backward");
    tcase_add_loop_test(tc, test_backward, 0, 2);
    tcase_add_test(tc, test_backward_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dropout_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
