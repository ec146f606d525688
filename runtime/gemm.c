/* gemm.c - nt_sgemm, the runtime's single wrapper over cblas_sgemm
 * (row-major).
 *
 * OpenBLAS always runs on one thread (see base.c). Called outside an OpenMP
 * parallel region with more than one runtime thread and enough work, the
 * wrapper cuts the larger of M and N into one contiguous chunk per thread and
 * gives each chunk its own cblas_sgemm call; inside a parallel region it calls
 * cblas_sgemm directly on the calling thread. It never splits K, so every
 * element of C is one dot product computed by one call. */
#include "nt_kernels.h"

#include <assert.h>
#include <cblas.h>
#include <omp.h>

/* Below this many multiply-adds (about 3 microseconds on one core) the fork
 * and join of a parallel region costs more than it saves. */
#define SPLIT_MIN_MACS (1.0 * (1 << 18))

/* Chunks are multiples of this many rows or columns, so that no thread gets
 * a ragged sliver that the BLAS micro-kernel handles badly. */
#define SPLIT_ALIGN 16

static void sgemm1(int trans_a, int trans_b, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

void nt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    assert(M >= 0 && N >= 0 && K >= 0);
    assert(lda >= (trans_a ? M : K) && lda >= 1);
    assert(ldb >= (trans_b ? K : N) && ldb >= 1);
    assert(ldc >= N && ldc >= 1);
    if (M == 0 || N == 0)
        return;

    int nt = nt_num_threads(); /* first use also pins OpenBLAS to 1 thread */
    if (nt <= 1 || omp_in_parallel() || (double)M * N * K < SPLIT_MIN_MACS) {
        sgemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }

    int split_m = M >= N;
    int dim = split_m ? M : N;
    int chunk = (dim + nt - 1) / nt;
    chunk = (chunk + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
    int nchunks = (dim + chunk - 1) / chunk;
    if (nchunks < 2) {
        sgemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }

#pragma omp parallel for schedule(static, 1) num_threads(nchunks)
    for (int t = 0; t < nchunks; t++) {
        int lo = t * chunk;
        int len = dim - lo < chunk ? dim - lo : chunk;
        if (split_m) {
            /* rows lo.. of op(A) and of C */
            const float *a = trans_a ? A + lo : A + (size_t)lo * lda;
            sgemm1(trans_a, trans_b, len, N, K, alpha, a, lda, B, ldb, beta,
                   C + (size_t)lo * ldc, ldc);
        } else {
            /* columns lo.. of op(B) and of C */
            const float *b = trans_b ? B + (size_t)lo * ldb : B + lo;
            sgemm1(trans_a, trans_b, M, len, K, alpha, A, lda, b, ldb, beta,
                   C + lo, ldc);
        }
    }
}
