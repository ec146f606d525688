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

/* dst[k * ldd + i] = src[i * lds + k] by 8 x 8 blocks: 8 rows loaded,
 * transposed in registers (unpack, shuffle, permute), stored as 8 columns;
 * the ragged edges one by one. */
static void transpose8(float *dst, int ldd, const float *src, int lds)
{
    __m256 r0 = _mm256_loadu_ps(src + 0 * (size_t)lds);
    __m256 r1 = _mm256_loadu_ps(src + 1 * (size_t)lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * (size_t)lds);
    __m256 r3 = _mm256_loadu_ps(src + 3 * (size_t)lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * (size_t)lds);
    __m256 r5 = _mm256_loadu_ps(src + 5 * (size_t)lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * (size_t)lds);
    __m256 r7 = _mm256_loadu_ps(src + 7 * (size_t)lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_storeu_ps(dst + 0 * (size_t)ldd, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * (size_t)ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * (size_t)ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * (size_t)ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * (size_t)ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * (size_t)ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * (size_t)ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * (size_t)ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

void nt_transpose_avx(float *dst, int ldd, const float *src, int lds,
                      int rows, int cols)
{
    int r8 = rows / 8 * 8, c8 = cols / 8 * 8;
    for (int i = 0; i < r8; i += 8) {
        for (int k = 0; k < c8; k += 8)
            transpose8(dst + (size_t)k * ldd + i, ldd,
                       src + (size_t)i * lds + k, lds);
        for (int ii = i; ii < i + 8; ii++)
            for (int k = c8; k < cols; k++)
                dst[(size_t)k * ldd + ii] = src[(size_t)ii * lds + k];
    }
    for (int i = r8; i < rows; i++)
        for (int k = 0; k < cols; k++)
            dst[(size_t)k * ldd + i] = src[(size_t)i * lds + k];
}

const nt_ukernel nt_ukernel_avx2 = {MR, NR, 120, 256, 3072, ukernel,
                                    nt_transpose_avx};
