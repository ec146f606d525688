/* test_gemm.c - nt_sgemm against a naive double-precision loop, on every
 * GEMM path (the own SGEMM forced onto each ISA the CPU has, then OpenBLAS;
 * see gemm_paths.h): all four transpose combinations, leading dimensions
 * wider than the matrices, shapes that split M and that split N, with 1 and
 * 2 threads, outside and inside an OpenMP parallel region, a grid of odd
 * sizes around the register tiles and cache blocks with several alpha and
 * beta, beta == 0 over a C of NaN, bit-identical repeated runs, and the
 * degenerate K = 0 and M = 0 cases. */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_paths.h"
#include "nt_kernels.h"
#include "sgemm.h"

typedef struct gemm_case {
    int ta, tb, M, N, K;
    int pad_a, pad_b, pad_c; /* leading dimension minus the logical width */
    float alpha, beta;
} gemm_case;

/* Operands with their padding filled with NaN: a read of padding would poison
 * the result and a write to C's padding is caught below. */
typedef struct gemm_data {
    gemm_case g;
    int lda, ldb, ldc;
    float *A, *B, *C0; /* C0: C before the call */
    double *want;      /* [M, N] */
} gemm_data;

static void fill_matrix(float *x, int rows, int cols, int ld, nt_rng *rng)
{
    for (int r = 0; r < rows; r++)
        tu_fill(x + (size_t)r * ld, (size_t)cols, -1.0f, 1.0f, rng);
}

static gemm_data gemm_make(gemm_case g, uint64_t seed)
{
    gemm_data t;
    nt_rng rng;
    nt_rng_seed(&rng, seed);
    t.g = g;
    int arows = g.ta ? g.K : g.M, acols = g.ta ? g.M : g.K;
    int brows = g.tb ? g.N : g.K, bcols = g.tb ? g.K : g.N;
    t.lda = acols + g.pad_a;
    t.ldb = bcols + g.pad_b;
    t.ldc = g.N + g.pad_c;
    if (t.lda < 1)
        t.lda = 1;
    t.A = tu_alloc_nan((size_t)arows * t.lda);
    t.B = tu_alloc_nan((size_t)brows * t.ldb);
    t.C0 = tu_alloc_nan((size_t)g.M * t.ldc);
    fill_matrix(t.A, arows, acols, t.lda, &rng);
    fill_matrix(t.B, brows, bcols, t.ldb, &rng);
    fill_matrix(t.C0, g.M, g.N, t.ldc, &rng);
    t.want = malloc(sizeof(double) * ((size_t)g.M * g.N + 1));
    for (int i = 0; i < g.M; i++)
        for (int j = 0; j < g.N; j++) {
            double s = 0.0;
            for (int k = 0; k < g.K; k++) {
                double a = g.ta ? t.A[(size_t)k * t.lda + i]
                                : t.A[(size_t)i * t.lda + k];
                double b = g.tb ? t.B[(size_t)j * t.ldb + k]
                                : t.B[(size_t)k * t.ldb + j];
                s += a * b;
            }
            t.want[(size_t)i * g.N + j] =
                g.alpha * s + g.beta * t.C0[(size_t)i * t.ldc + j];
        }
    return t;
}

static void gemm_free(gemm_data *t)
{
    free(t->A);
    free(t->B);
    free(t->C0);
    free(t->want);
}

/* Runs nt_sgemm on a copy of C0 and checks the logical part against want and
 * the padding for NaN (untouched). */
static void gemm_check(const gemm_data *t, float *C, const char *what)
{
    const gemm_case *g = &t->g;
    float *got = malloc(sizeof(float) * ((size_t)g->M * g->N + 1));
    for (int i = 0; i < g->M; i++) {
        memcpy(got + (size_t)i * g->N, C + (size_t)i * t->ldc,
               sizeof(float) * (size_t)g->N);
        for (int j = g->N; j < t->ldc; j++)
            ck_assert_msg(isnan(C[(size_t)i * t->ldc + j]),
                          "%s: padding of C written at [%d, %d]", what, i, j);
    }
    /* float sums of K <= 300 products of magnitude <= 1 with random signs:
     * the rounding error is below 1e-5 (~sqrt(K) * 2^-24 * |partial sums|),
     * while a wrong or missing term is off by ~0.1 */
    TU_ASSERT_CLOSE_D(what, got, t->want, (size_t)g->M * g->N, 1e-4, 1e-5);
    free(got);
}

static void gemm_run(const gemm_data *t, float *C)
{
    const gemm_case *g = &t->g;
    memcpy(C, t->C0, sizeof(float) * (size_t)g->M * t->ldc);
    nt_sgemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, t->A, t->lda, t->B,
             t->ldb, g->beta, C, t->ldc);
}

/* 67*45*97 and 45*70*97 multiply-adds are above nt_sgemm's split threshold
 * (2^18), so with 2 threads the first splits M and the second splits N;
 * 9*11*13 is below it and runs unsplit; 300*3*300 splits a skinny M. */
static const int shapes[][3] = {{67, 45, 97}, {45, 70, 97}, {9, 11, 13},
                                {300, 3, 300}};

static gemm_case case_of(int i)
{
    int s = i / 4, ta = (i >> 1) & 1, tb = i & 1;
    gemm_case g = {ta, tb, shapes[s][0], shapes[s][1], shapes[s][2],
                   3 + s, 5, 7, 0.75f, -0.5f};
    return g;
}

START_TEST(test_outside_parallel)
{
    gemm_case g = case_of(_i);
    gemm_data t = gemm_make(g, 100 + (uint64_t)_i);
    float *C = tu_alloc_nan((size_t)g.M * t.ldc);
    char what[96];
    for (int nt = 1; nt <= 2; nt++) {
        nt_set_num_threads(nt);
        gemm_run(&t, C);
        snprintf(what, sizeof what, "sgemm ta=%d tb=%d %dx%dx%d, %d thread(s)",
                 g.ta, g.tb, g.M, g.N, g.K, nt);
        gemm_check(&t, C, what);
    }
    free(C);
    gemm_free(&t);
}
END_TEST

/* Each of two threads of a parallel region runs its own product (another
 * transpose combination each) on the calling thread. */
START_TEST(test_inside_parallel)
{
    nt_set_num_threads(2);
    gemm_data t[2];
    float *C[2];
    for (int k = 0; k < 2; k++) {
        t[k] = gemm_make(case_of(2 * k + _i), 200 + (uint64_t)(2 * k + _i));
        C[k] = tu_alloc_nan((size_t)t[k].g.M * t[k].ldc);
    }
    int team = 0;
#pragma omp parallel num_threads(2)
    {
        int k = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        gemm_run(&t[k], C[k]);
    }
    ck_assert_int_eq(team, 2);
    gemm_check(&t[0], C[0], "sgemm in parallel region, thread 0");
    gemm_check(&t[1], C[1], "sgemm in parallel region, thread 1");
    for (int k = 0; k < 2; k++) {
        free(C[k]);
        gemm_free(&t[k]);
    }
}
END_TEST

/* K = 0 leaves beta * C; M = 0 or N = 0 touch nothing. */
START_TEST(test_degenerate)
{
    nt_set_num_threads(2);
    gemm_case g = {0, 0, 5, 4, 0, 0, 0, 2, 1.0f, 0.5f};
    gemm_data t = gemm_make(g, 300);
    float *C = tu_alloc_nan((size_t)g.M * t.ldc);
    gemm_run(&t, C);
    gemm_check(&t, C, "sgemm K=0");

    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, D[4] = {9, 9, 9, 9};
    nt_sgemm(0, 0, 0, 2, 2, 1.0f, A, 2, B, 2, 0.0f, D, 2);
    nt_sgemm(0, 0, 2, 0, 2, 1.0f, A, 2, B, 2, 0.0f, D, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(D[i], 9.0f);
    free(C);
    gemm_free(&t);
}
END_TEST

/* A tiny product worked by hand, so the naive loop above is not the only
 * witness: [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]. */
START_TEST(test_by_hand)
{
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, C[4] = {1, 1, 1, 1};
    nt_sgemm(0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 1.0f, C, 2);
    float want[4] = {20, 23, 44, 51};
    /* small integers: exact in float */
    TU_ASSERT_CLOSE("2x2 by hand", C, want, 4, 0.0, 0.0);
    /* A^T * B^T = (B A)^T: B A = [23 34; 31 46] */
    float D[4];
    nt_sgemm(1, 1, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, D, 2);
    float want_t[4] = {23, 31, 34, 46};
    TU_ASSERT_CLOSE("2x2 transposed by hand", D, want_t, 4, 0.0, 0.0);
}
END_TEST

/* Sizes around the register tiles (4x16 generic, 6x16 AVX2, 12x32 and
 * 8x32 AVX-512: M = 1, 3, 16 and 40 take the 8-row kernel) and the cache
 * blocks (kc = 256, mc = 120 or 240): a product of each transpose
 * combination for each of GRID index mixes of them. */
static const int grid_m[] = {1, 3, 16, 40, 131, 250};
static const int grid_n[] = {1, 3, 17, 33, 100, 47};
static const int grid_k[] = {1, 3, 17, 33, 300, 520};
static const float grid_ab[][2] = {{1.0f, 0.0f}, {0.75f, -0.5f},
                                   {1.0f, 1.0f}, {-2.0f, 0.25f}};
#define GRID 96

static gemm_case grid_case(int i)
{
    gemm_case g = {i & 1, (i >> 1) & 1, grid_m[(i >> 2) % 6],
                   grid_n[(i / 3) % 6], grid_k[(i / 5) % 6], i % 3,
                   (i / 2) % 4, i % 5, grid_ab[(i / 7) % 4][0],
                   grid_ab[(i / 7) % 4][1]};
    return g;
}

START_TEST(test_grid)
{
    double max_abs = 0.0, max_rel = 0.0;
    char what[128];
    for (int i = 0; i < GRID; i++) {
        gemm_case g = grid_case(i);
        gemm_data t = gemm_make(g, 400 + (uint64_t)i);
        float *C = tu_alloc_nan((size_t)g.M * t.ldc);
        for (int nt = 1; nt <= 2; nt++) {
            nt_set_num_threads(nt);
            gemm_run(&t, C);
            snprintf(what, sizeof what,
                     "%s grid ta=%d tb=%d %dx%dx%d alpha %g beta %g, %d "
                     "thread(s)",
                     tu_gemm_path, g.ta, g.tb, g.M, g.N, g.K, g.alpha, g.beta,
                     nt);
            gemm_check(&t, C, what);
            float *got = malloc(sizeof(float) * ((size_t)g.M * g.N + 1));
            for (int r = 0; r < g.M; r++)
                memcpy(got + (size_t)r * g.N, C + (size_t)r * t.ldc,
                       sizeof(float) * (size_t)g.N);
            tu_diff d = tu_compare_d(got, t.want, (size_t)g.M * g.N, 1e-4, 1e-5);
            max_abs = d.max_abs > max_abs ? d.max_abs : max_abs;
            max_rel = d.max_rel > max_rel ? d.max_rel : max_rel;
            free(got);
        }
        free(C);
        gemm_free(&t);
    }
    printf("gemm[%s]: %d products x 1 and 2 threads against the double loop: "
           "max abs err %.3g, max rel err %.3g\n",
           tu_gemm_path, GRID, max_abs, max_rel);
}
END_TEST

/* beta == 0: C is written, never read (a NaN in it must not leak). */
START_TEST(test_beta_zero_ignores_c)
{
    nt_set_num_threads(1 + _i);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case g = {ta, tb, 37, 70, 45, 1, 2, 3, 1.5f, 0.0f};
            gemm_data t = gemm_make(g, 500 + (uint64_t)(2 * ta + tb));
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++)
                    t.C0[(size_t)i * t.ldc + j] = NAN;
            float *C = tu_alloc_nan((size_t)g.M * t.ldc);
            gemm_run(&t, C);
            /* want was computed as alpha * s + 0 * NaN: recompute */
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++) {
                    double s = 0.0;
                    for (int k = 0; k < g.K; k++)
                        s += (double)(ta ? t.A[(size_t)k * t.lda + i]
                                         : t.A[(size_t)i * t.lda + k]) *
                             (tb ? t.B[(size_t)j * t.ldb + k]
                                 : t.B[(size_t)k * t.ldb + j]);
                    t.want[(size_t)i * g.N + j] = g.alpha * s;
                }
            char what[96];
            snprintf(what, sizeof what, "%s beta=0 over NaN ta=%d tb=%d",
                     tu_gemm_path, ta, tb);
            gemm_check(&t, C, what);
            free(C);
            gemm_free(&t);
        }
}
END_TEST

/* The same call twice gives the same bits; the own SGEMM also gives the same
 * bits on 1 and 2 threads (a split never changes an element's sum). */
START_TEST(test_bit_identical)
{
    gemm_case g = {_i & 1, (_i >> 1) & 1, 131, 270, 300, 0, 1, 2, 0.5f, 0.5f};
    gemm_data t = gemm_make(g, 600 + (uint64_t)_i);
    size_t n = (size_t)g.M * t.ldc;
    float *C[3];
    for (int r = 0; r < 3; r++) {
        nt_set_num_threads(r < 2 ? 2 : 1);
        C[r] = tu_alloc_nan(n);
        gemm_run(&t, C[r]);
    }
    ck_assert_msg(memcmp(C[0], C[1], sizeof(float) * n) == 0,
                  "%s: two runs with 2 threads differ", tu_gemm_path);
    if (strcmp(tu_gemm_path, "openblas") != 0)
        ck_assert_msg(memcmp(C[0], C[2], sizeof(float) * n) == 0,
                      "%s: 1 and 2 threads differ", tu_gemm_path);
    for (int r = 0; r < 3; r++)
        free(C[r]);
    gemm_free(&t);
}
END_TEST

/* op(A) packed once (nt_sgemm_pack_a, as conv.c packs its weights) gives
 * the same bits as packing it in the product, for each of this ISA's
 * micro-kernels, with several blocks of rows (M > mc) and of k (K > kc). */
START_TEST(test_prepacked_same_bits)
{
    const int M = _i < 2 ? 250 : 37, N = 70, K = 300, ta = _i & 1;
    const nt_ukernel *kernels[] = {nt_ukernel_of(nt_cpu_isa()), nt_ukernel_for(nt_cpu_isa(), 16)};
    nt_rng rng;
    nt_rng_seed(&rng, 700 + (uint64_t)_i);
    float *A = tu_alloc_rand((size_t)M * K, &rng), *B = tu_alloc_rand((size_t)K * N, &rng);
    float *C0 = tu_alloc_rand((size_t)M * N, &rng);
    float *C1 = malloc(sizeof(float) * (size_t)M * N), *C2 = malloc(sizeof(float) * (size_t)M * N);
    for (int k = 0; k < 2; k++) {
        const nt_ukernel *uk = kernels[k];
        float *Ap = malloc(sizeof(float) * nt_sgemm_pack_a_floats(uk, M, K));
        nt_sgemm_pack_a(uk, ta, M, K, A, ta ? M : K, Ap);
        memcpy(C1, C0, sizeof(float) * (size_t)M * N);
        memcpy(C2, C0, sizeof(float) * (size_t)M * N);
        nt_sgemm_packed(uk, ta, 0, M, N, K, 0.5f, A, ta ? M : K, B, N, 1.0f, C1, N);
        nt_sgemm_prepacked(uk, 0, M, N, K, 0.5f, Ap, B, N, 1.0f, C2, N);
        ck_assert_msg(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0,
                      "%s: %dx%d kernel, A%s packed once differs", tu_gemm_path, uk->mr, uk->nr,
                      ta ? "^T" : "");
        free(Ap);
    }
    free(A);
    free(B);
    free(C0);
    free(C1);
    free(C2);
}
END_TEST

static Suite *gemm_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("outside_parallel");
    tcase_add_loop_test(tc, test_outside_parallel, 0,
                        4 * (int)(sizeof shapes / sizeof shapes[0]));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("inside_parallel");
    tcase_add_loop_test(tc, test_inside_parallel, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("grid");
    tcase_add_test(tc, test_grid);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);

    tc = tcase_create("edge_cases");
    tcase_add_test(tc, test_degenerate);
    tcase_add_test(tc, test_by_hand);
    tcase_add_loop_test(tc, test_beta_zero_ignores_c, 0, 2);
    tcase_add_loop_test(tc, test_bit_identical, 0, 4);
    tcase_add_loop_test(tc, test_prepacked_same_bits, 0, 4);
    /* the portable kernel in a sanitizer build is slow */
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_gemm_paths("gemm", gemm_suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
