/* gemm.c - nt_sgemm, the runtime's single GEMM entry point (row-major):
 * chooses the implementation and splits the work among the threads.
 *
 * Implementations: the runtime's own packed SGEMM (sgemm.c) with the
 * micro-kernel of nt_cpu_isa(), or OpenBLAS's cblas_sgemm (always on one
 * thread, see base.c). NETC_GEMM=own|openblas (or nt_gemm_force) forces
 * one; by default (auto) the own SGEMM runs when nt_cpu_isa() is AVX-512 and
 * OpenBLAS otherwise. Measured with bench/gemm_bench on the conv and linear
 * GEMMs of AlexNet, VGG and ResNet-18 (AMD EPYC Zen 5, one core, where
 * OpenBLAS is held to its Haswell AVX2 kernels by OPENBLAS_CORETYPE): the
 * AVX-512 kernel is faster on every shape (typically 1.4-1.9x); the own AVX2
 * kernel is within noise of OpenBLAS's and slower on some forward shapes, and
 * the portable C kernel is far slower, so those keep OpenBLAS.
 *
 * Threads: called outside an OpenMP parallel region with more than one
 * runtime thread and enough work, the wrapper cuts the larger of M and N
 * into one contiguous chunk per thread and gives each chunk its own
 * single-threaded product; inside a parallel region it runs on the calling
 * thread. It never splits K, so every element of C is one dot product
 * computed by one call. */
#include "nt_kernels.h"
#include "sgemm.h"

#include <assert.h>
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this many multiply-adds (about 3 microseconds on one core) the fork
 * and join of a parallel region costs more than it saves. */
#define SPLIT_MIN_MACS (1.0 * (1 << 18))

/* OpenBLAS chunks are multiples of this many rows or columns, so that no
 * thread gets a ragged sliver that its micro-kernel handles badly; the own
 * SGEMM's chunks are multiples of its register tile. */
#define SPLIT_ALIGN 16

static nt_gemm_impl forced = NT_GEMM_AUTO;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void read_env(void)
{
    const char *v = getenv("NETC_GEMM");
    if (!v || !*v || strcmp(v, "auto") == 0)
        return;
    if (strcmp(v, "own") == 0)
        forced = NT_GEMM_OWN;
    else if (strcmp(v, "openblas") == 0)
        forced = NT_GEMM_OPENBLAS;
    else
        fprintf(stderr,
                "netc: NETC_GEMM=%s is not one of auto, own, openblas; using "
                "auto\n", v);
}

void nt_gemm_force(nt_gemm_impl impl)
{
    pthread_once(&once, read_env);
    forced = impl;
}

/* The implementation for this product. */
static nt_gemm_impl choose(void)
{
    pthread_once(&once, read_env);
    if (forced != NT_GEMM_AUTO)
        return forced;
    return nt_cpu_isa() == NT_ISA_AVX512 ? NT_GEMM_OWN : NT_GEMM_OPENBLAS;
}

const nt_ukernel *nt_gemm_own_kernel(int M)
{
    return choose() == NT_GEMM_OWN ? nt_ukernel_for(nt_cpu_isa(), M) : NULL;
}

const char *nt_gemm_name(void)
{
    return choose() == NT_GEMM_OWN ? "own GEMM" : "OpenBLAS GEMM";
}

typedef struct gemm_call {
    nt_gemm_impl impl;
    const nt_ukernel *uk;
    int trans_a, trans_b, K;
    float alpha, beta;
    int lda, ldb, ldc;
} gemm_call;

/* One single-threaded product of M rows and N columns. */
static void sgemm1(const gemm_call *g, int M, int N, const float *A,
                   const float *B, float *C)
{
    if (g->impl == NT_GEMM_OPENBLAS)
        cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                    g->trans_b ? CblasTrans : CblasNoTrans, M, N, g->K,
                    g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
    else
        nt_sgemm_packed(g->uk, g->trans_a, g->trans_b, M, N, g->K, g->alpha,
                        A, g->lda, B, g->ldb, g->beta, C, g->ldc);
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
    gemm_call g = {choose(), NULL, trans_a, trans_b,
                   K, alpha, beta, lda, ldb, ldc};
    if (g.impl == NT_GEMM_OWN)
        g.uk = nt_ukernel_for(nt_cpu_isa(), M);
    if (nt <= 1 || omp_in_parallel() || (double)M * N * K < SPLIT_MIN_MACS) {
        sgemm1(&g, M, N, A, B, C);
        return;
    }

    int split_m = M >= N;
    int dim = split_m ? M : N;
    int align = g.uk ? (split_m ? g.uk->mr : g.uk->nr) : SPLIT_ALIGN;
    int chunk = (dim + nt - 1) / nt;
    chunk = (chunk + align - 1) / align * align;
    int nchunks = (dim + chunk - 1) / chunk;
    if (nchunks < 2) {
        sgemm1(&g, M, N, A, B, C);
        return;
    }

#pragma omp parallel for schedule(static, 1) num_threads(nchunks)
    for (int t = 0; t < nchunks; t++) {
        int lo = t * chunk;
        int len = dim - lo < chunk ? dim - lo : chunk;
        if (split_m) {
            /* rows lo.. of op(A) and of C */
            const float *a = trans_a ? A + lo : A + (size_t)lo * lda;
            sgemm1(&g, len, N, a, B, C + (size_t)lo * ldc);
        } else {
            /* columns lo.. of op(B) and of C */
            const float *b = trans_b ? B + (size_t)lo * ldb : B + lo;
            sgemm1(&g, M, len, A, b, C + lo);
        }
    }
}
