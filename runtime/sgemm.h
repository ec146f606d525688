/* sgemm.h - inside the runtime only: the packed, register-blocked SGEMM
 * (sgemm.c) and the micro-kernels it dispatches to, one file per ISA
 * (sgemm_avx2.c, sgemm_avx512.c, each compiled with its own -m flags). */
#ifndef NT_SGEMM_H
#define NT_SGEMM_H

#include "nt_base.h"

/* A micro-kernel: the MR x NR tile
 *   acc[i][j] = sum_{k < kc} a[k * MR + i] * b[k * ldb + j]
 * (a: a packed sliver of op(A), MR values per k; b: NR consecutive floats
 * per k, either a packed sliver, ldb == NR, or op(B) in place), then
 *   c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j]
 * as a multiply and an add (never fused), with beta == 0 meaning c is not
 * read and beta == 1 that it is not multiplied. kc >= 1. The sums run over k
 * in order, one chain per element, so a result depends only on the ISA. */
typedef void (*nt_ukernel_fn)(int kc, const float *a, const float *b, int ldb,
                              float *c, int ldc, float alpha, float beta);

/* dst[k * ldd + i] = src[i * lds + k] for i < rows, k < cols: the packing
 * of a sliver that lies across the rows of its source (op(A) = A, op(B) =
 * B^T). */
typedef void (*nt_transpose_fn)(float *dst, int ldd, const float *src,
                                int lds, int rows, int cols);

typedef struct nt_ukernel {
    int mr, nr;         /* register tile */
    int mc, kc, nc;     /* cache blocks: A block mc x kc (L2), B sliver
                           kc x nr (L1), B panel kc x nc */
    nt_ukernel_fn run;
    nt_transpose_fn transpose;
} nt_ukernel;

/* The portable transpose, and one by 8 x 8 blocks in AVX registers
 * (sgemm_avx2.c; the AVX-512 kernel uses it too). */
void nt_transpose_generic(float *dst, int ldd, const float *src, int lds,
                          int rows, int cols);


extern const nt_ukernel nt_ukernel_generic;
#if defined(__x86_64__) || defined(__i386__)
#define NT_HAVE_X86_KERNELS 1
extern const nt_ukernel nt_ukernel_avx2;
extern const nt_ukernel nt_ukernel_avx512;
extern const nt_ukernel nt_ukernel_avx512_m8;
void nt_transpose_avx(float *dst, int ldd, const float *src, int lds,
                      int rows, int cols);
#endif

/* The micro-kernel of an ISA; nt_ukernel_for: the one of that ISA that
 * computes the fewest padding rows for a product of M rows (same results). */
const nt_ukernel *nt_ukernel_of(nt_isa isa);
const nt_ukernel *nt_ukernel_for(nt_isa isa, int M);

/* C[M,N] = alpha * op(A) op(B) + beta * C on the calling thread with the
 * micro-kernel k (row-major, as nt_sgemm). Packing buffers are per thread,
 * allocated on first use and kept. */
void nt_sgemm_packed(const nt_ukernel *k, int trans_a, int trans_b, int M,
                     int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

/* The micro-kernel nt_sgemm would use for a product of M rows, or NULL when
 * it runs on OpenBLAS (gemm.c). */
const nt_ukernel *nt_gemm_own_kernel(int M);

/* op(A) packed once for a run of products with the same A: floats it
 * takes, the packing, and the product from it (on the calling thread; the
 * same results as nt_sgemm_packed). */
size_t nt_sgemm_pack_a_floats(const nt_ukernel *k, int M, int K);
void nt_sgemm_pack_a(const nt_ukernel *k, int trans_a, int M, int K,
                     const float *A, int lda, float *dst);
void nt_sgemm_prepacked(const nt_ukernel *k, int trans_b, int M, int N, int K,
                        float alpha, const float *Ap, const float *B, int ldb,
                        float beta, float *C, int ldc);

#endif
