/* sgemm_avx512.c - the AVX-512F micro-kernels of sgemm.c: a 12 x 32 tile of
 * C in 24 zmm accumulators; per k, two vectors of B and 12 broadcasts of A
 * feed 24 FMAs (two pipes of latency 4 need at least 8 chains in flight).
 * An 8 x 32 twin (16 chains) serves products whose M wastes fewer rows in
 * tiles of 8 (M = 16: 12 + 12 rows computed for 16 kept, against 8 + 8).
 * Both sum each element over k in the same order and kc blocks, so they
 * give the same bits. Compiled with -mavx512f -mfma; only called when
 * nt_cpu_isa() says the CPU has AVX-512F. */
#include "sgemm.h"

#include <immintrin.h>

#define NR 32

static inline __attribute__((always_inline)) void
ukernel_mr(const int MR, int kc, const float *a, const float *b, int ldb,
           float *c, int ldc, float alpha, float beta)
{
    __m512 acc[12][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += ldb;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]);
        __m512 r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta == 1.0f) {
            r0 = _mm512_add_ps(r0, _mm512_loadu_ps(ci));
            r1 = _mm512_add_ps(r1, _mm512_loadu_ps(ci + 16));
        } else if (beta != 0.0f) {
            r0 = _mm512_add_ps(r0, _mm512_mul_ps(vb, _mm512_loadu_ps(ci)));
            r1 = _mm512_add_ps(r1, _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16)));
        }
        _mm512_storeu_ps(ci, r0);
        _mm512_storeu_ps(ci + 16, r1);
    }
}

static void ukernel12(int kc, const float *a, const float *b, int ldb,
                      float *c, int ldc, float alpha, float beta)
{
    ukernel_mr(12, kc, a, b, ldb, c, ldc, alpha, beta);
}

static void ukernel8(int kc, const float *a, const float *b, int ldb,
                     float *c, int ldc, float alpha, float beta)
{
    ukernel_mr(8, kc, a, b, ldb, c, ldc, alpha, beta);
}

const nt_ukernel nt_ukernel_avx512 = {12, NR, 240, 256, 3072, ukernel12,
                                      nt_transpose_avx};
const nt_ukernel nt_ukernel_avx512_m8 = {8, NR, 240, 256, 3072, ukernel8,
                                         nt_transpose_avx};
