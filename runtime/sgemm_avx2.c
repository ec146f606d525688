/* sgemm_avx2.c - the AVX2 + FMA micro-kernel of sgemm.c: a 6 x 16 tile of C
 * in 12 ymm accumulators; per k, two vectors of B and 6 broadcasts of A feed
 * 12 FMAs. Compiled with -mavx2 -mfma; only called when nt_cpu_isa() says the
 * CPU has both. */
#include "sgemm.h"

#include <immintrin.h>

#define MR 6
#define NR 16

static void ukernel(int kc, const float *a, const float *b, int ldb, float *c,
                    int ldc, float alpha, float beta)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += ldb;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        float *ci = c + (size_t)i * ldc;
        __m256 r0 = _mm256_mul_ps(va, acc[i][0]);
        __m256 r1 = _mm256_mul_ps(va, acc[i][1]);
        if (beta == 1.0f) {
            r0 = _mm256_add_ps(r0, _mm256_loadu_ps(ci));
            r1 = _mm256_add_ps(r1, _mm256_loadu_ps(ci + 8));
        } else if (beta != 0.0f) {
            r0 = _mm256_add_ps(r0, _mm256_mul_ps(vb, _mm256_loadu_ps(ci)));
            r1 = _mm256_add_ps(r1, _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8)));
        }
        _mm256_storeu_ps(ci, r0);
        _mm256_storeu_ps(ci + 8, r1);
    }
}

const nt_ukernel nt_ukernel_avx2 = {MR, NR, 120, 256, 3072, ukernel};
