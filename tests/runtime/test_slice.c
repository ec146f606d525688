/* test_slice.c - slice.c against plain loops: forward copies channels
 * [start, end) of each example, backward adds into exactly those (and
 * leaves the others as they were); the overwriting backward writes them
 * and zeros the others. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_kernels.h"

/* N, C, HW, start, end */
static const int cases[][5] = {
    {2, 5, 3, 1, 4}, {3, 4, 1, 0, 4}, {1, 6, 7, 5, 6}, {4, 8, 9, 0, 2},
};

START_TEST(test_slice)
{
    const int N = cases[_i][0], C = cases[_i][1], HW = cases[_i][2];
    const int a = cases[_i][3], b = cases[_i][4];
    const size_t in_n = (size_t)N * C * HW, out_n = (size_t)N * (b - a) * HW;
    nt_rng rng;
    nt_rng_seed(&rng, 500 + _i);
    float *x = tu_alloc_rand(in_n, &rng), *g = tu_alloc_rand(out_n, &rng);
    float *din = tu_alloc_rand(in_n, &rng), *y = tu_alloc_nan(out_n);
    float *want_y = malloc(out_n * sizeof(float)), *want_din = malloc(in_n * sizeof(float));
    memcpy(want_din, din, in_n * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int c = a; c < b; c++)
            for (int k = 0; k < HW; k++) {
                size_t o = ((size_t)n * (b - a) + (c - a)) * HW + k;
                size_t i = ((size_t)n * C + c) * HW + k;
                want_y[o] = x[i];
                want_din[i] += g[o];
            }
    nt_slice_forward(y, x, N, C, HW, a, b);
    TU_ASSERT_CLOSE("slice forward", y, want_y, out_n, 0, 0);
    nt_slice_backward(din, g, N, C, HW, a, b);
    TU_ASSERT_CLOSE("slice backward", din, want_din, in_n, 0, 0);
    /* overwriting a NaN-filled din: as accumulating into zeros */
    memset(want_din, 0, in_n * sizeof(float));
    nt_slice_backward(want_din, g, N, C, HW, a, b);
    for (size_t i = 0; i < in_n; i++)
        din[i] = NAN;
    nt_slice_backward_overwrite(din, g, N, C, HW, a, b);
    ck_assert_mem_eq(din, want_din, in_n * sizeof(float));
    free(x);
    free(g);
    free(din);
    free(y);
    free(want_y);
    free(want_din);
}
END_TEST

static Suite *slice_suite(void)
{
    Suite *s = suite_create("slice");
    TCase *tc = tcase_create("channel slice");
    tcase_add_loop_test(tc, test_slice, 0, sizeof cases / sizeof cases[0]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(slice_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
