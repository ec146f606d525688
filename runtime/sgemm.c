/* sgemm.c - the runtime's own SGEMM on one thread: GotoBLAS/BLIS blocking
 * (B in kc x nc panels, A in mc x kc blocks, both packed into contiguous
 * slivers), an MR x NR micro-kernel that keeps its tile of C in registers,
 * and the portable C micro-kernel. The vector micro-kernels live in
 * sgemm_avx2.c and sgemm_avx512.c; gemm.c chooses one and does the threads.
 *
 * Every element of C is one chain of multiply-adds over k in order, cut at
 * the same kc boundaries whatever the shape of the call: the result of an
 * element depends on the ISA, never on how M and N are split among threads
 * or on where the element sits in its tile (edge tiles run the same
 * micro-kernel on a copy). */
#include "sgemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the portable micro-kernel ---------------------------------------- */

#define G_MR 4
#define G_NR 16

static void ukernel_generic(int kc, const float *a, const float *b, int ldb,
                            float *c, int ldc, float alpha, float beta)
{
    float acc[G_MR][G_NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * ldb;
        for (int i = 0; i < G_MR; i++) {
            float ai = a[k * G_MR + i];
            for (int j = 0; j < G_NR; j++)
                acc[i][j] += ai * bk[j];
        }
    }
    for (int i = 0; i < G_MR; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < G_NR; j++) {
            float r = alpha * acc[i][j];
            if (beta == 0.0f)
                ci[j] = r;
            else if (beta == 1.0f)
                ci[j] = r + ci[j];
            else
                ci[j] = r + beta * ci[j];
        }
    }
}

void nt_transpose_generic(float *dst, int ldd, const float *src, int lds,
                          int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < cols; k++)
            dst[(size_t)k * ldd + i] = src[(size_t)i * lds + k];
}

const nt_ukernel nt_ukernel_generic = {G_MR, G_NR, 128, 256, 2048,
                                       ukernel_generic, nt_transpose_generic};

const nt_ukernel *nt_ukernel_of(nt_isa isa)
{
#ifdef NT_HAVE_X86_KERNELS
    if (isa == NT_ISA_AVX512)
        return &nt_ukernel_avx512;
    if (isa == NT_ISA_AVX2)
        return &nt_ukernel_avx2;
#endif
    (void)isa;
    return &nt_ukernel_generic;
}

const nt_ukernel *nt_ukernel_for(nt_isa isa, int M)
{
    const nt_ukernel *k = nt_ukernel_of(isa);
#ifdef NT_HAVE_X86_KERNELS
    if (k == &nt_ukernel_avx512) {
        int pad12 = (M + 11) / 12 * 12 - M, pad8 = (M + 7) / 8 * 8 - M;
        if (pad8 < pad12)
            return &nt_ukernel_avx512_m8;
    }
#endif
    (void)M;
    return k;
}

/* ---- packing ------------------------------------------------------------ */

/* Rows [0, mc) and columns [0, kc) of op(A) (already offset to the block)
 * into slivers of MR rows: sliver s holds a[k * MR + i] = op(A)[s*MR + i, k],
 * zero below row mc. */
static void pack_a(float *dst, const nt_ukernel *uk, int trans,
                   const float *A, int lda, int mc, int kc)
{
    int mr = uk->mr;
    for (int i0 = 0; i0 < mc; i0 += mr) {
        int m = mc - i0 < mr ? mc - i0 : mr;
        if (trans) {
            /* op(A)[i, k] = A[k, i]: rows of the sliver are contiguous */
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)k * lda + i0;
                float *d = dst + (size_t)k * mr;
                for (int i = 0; i < m; i++)
                    d[i] = src[i];
                for (int i = m; i < mr; i++)
                    d[i] = 0.0f;
            }
        } else {
            uk->transpose(dst, mr, A + (size_t)i0 * lda, lda, m, kc);
            for (int i = m; i < mr; i++)
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * mr + i] = 0.0f;
        }
        dst += (size_t)kc * mr;
    }
}

/* Rows [0, kc) and columns [0, nc) of op(B) into slivers of NR columns:
 * sliver s holds b[k * NR + j] = op(B)[k, s*NR + j], zero right of nc. */
static void pack_b(float *dst, const nt_ukernel *uk, int trans,
                   const float *B, int ldb, int kc, int nc)
{
    int nr = uk->nr;
    for (int j0 = 0; j0 < nc; j0 += nr) {
        int n = nc - j0 < nr ? nc - j0 : nr;
        if (!trans) {
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)k * ldb + j0;
                float *d = dst + (size_t)k * nr;
                memcpy(d, src, sizeof(float) * (size_t)n);
                for (int j = n; j < nr; j++)
                    d[j] = 0.0f;
            }
        } else {
            /* op(B)[k, j] = B[j, k]: read rows of B, write columns */
            uk->transpose(dst, nr, B + (size_t)j0 * ldb, ldb, n, kc);
            for (int j = n; j < nr; j++)
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * nr + j] = 0.0f;
        }
        dst += (size_t)kc * nr;
    }
}

/* ---- per-thread buffers ------------------------------------------------- */

/* Allocated on a thread's first call and kept for the life of the thread
 * (a training step allocates nothing); grown if a later kernel needs more. */
static _Thread_local float *tl_buf;
static _Thread_local size_t tl_floats;

static float *thread_buffer(size_t floats)
{
    if (floats > tl_floats) {
        free(tl_buf);
        size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
        tl_buf = aligned_alloc(64, bytes);
        if (!tl_buf) {
            fprintf(stderr, "netc: out of memory for the GEMM buffers\n");
            abort();
        }
        tl_floats = floats;
    }
    return tl_buf;
}

/* ---- the blocked product ------------------------------------------------ */

/* B is used in place (no packing) when op(B) is B itself and A is too short
 * for the packing to pay: each B sliver is then read by few micro-kernels. */
#define UNPACKED_B_MAX_M 32

/* One tile of C: rows m <= MR, columns n <= NR. Edge tiles go through a
 * full-size copy so they see exactly the arithmetic of inner tiles. */
static void tile(const nt_ukernel *uk, int kc, const float *a, const float *b,
                 int ldb, float *c, int ldc, int m, int n, float alpha,
                 float beta)
{
    if (m == uk->mr && n == uk->nr) {
        uk->run(kc, a, b, ldb, c, ldc, alpha, beta);
        return;
    }
    float t[32 * 64]; /* mr * nr of every kernel fits */
    int nr = uk->nr;
    memset(t, 0, sizeof(float) * (size_t)uk->mr * nr);
    if (beta != 0.0f)
        for (int i = 0; i < m; i++)
            memcpy(t + i * nr, c + (size_t)i * ldc, sizeof(float) * (size_t)n);
    uk->run(kc, a, b, ldb, t, nr, alpha, beta);
    for (int i = 0; i < m; i++)
        memcpy(c + (size_t)i * ldc, t + i * nr, sizeof(float) * (size_t)n);
}

/* ---- op(A) packed once ---------------------------------------------------
 * For a run of products with the same A (a convolution's weights, tile after
 * tile): its blocks in the order the product visits them, block (pc, ic) at
 * Mpad * pc + ic * kc, Mpad = M rounded up to the micro-kernel's rows (MC is
 * a multiple of MR, so only the last block of rows is padded). */

static int padded_rows(const nt_ukernel *uk, int M)
{
    return (M + uk->mr - 1) / uk->mr * uk->mr;
}

size_t nt_sgemm_pack_a_floats(const nt_ukernel *uk, int M, int K)
{
    return (size_t)padded_rows(uk, M) * (size_t)K;
}

void nt_sgemm_pack_a(const nt_ukernel *uk, int trans_a, int M, int K,
                     const float *A, int lda, float *dst)
{
    const int MC = uk->mc, KC = uk->kc, Mpad = padded_rows(uk, M);
    for (int pc = 0; pc < K; pc += KC) {
        int kc = K - pc < KC ? K - pc : KC;
        for (int ic = 0; ic < M; ic += MC) {
            int mc = M - ic < MC ? M - ic : MC;
            pack_a(dst + (size_t)Mpad * pc + (size_t)ic * kc, uk, trans_a,
                   trans_a ? A + (size_t)pc * lda + ic : A + (size_t)ic * lda + pc,
                   lda, mc, kc);
        }
    }
}

/* The blocked product; Ap: op(A) packed by nt_sgemm_pack_a, or NULL to
 * pack A here. */
static void sgemm_blocked(const nt_ukernel *uk, int trans_a, int trans_b, int M,
                          int N, int K, float alpha, const float *A, int lda,
                          const float *Ap, const float *B, int ldb, float beta,
                          float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = C + (size_t)i * ldc + j;
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return;
    }
    const int MR = uk->mr, NR = uk->nr;
    const int MC = uk->mc, KC = uk->kc, NC = uk->nc;
    int mc_max = M < MC ? M : MC, nc_max = N < NC ? N : NC;
    int kc_max = K < KC ? K : KC;
    /* A's slivers, then B's from the next 64-byte boundary */
    size_t a_floats = ((size_t)(mc_max + MR - 1) / MR * MR * kc_max + 15) / 16 * 16;
    size_t b_floats = (size_t)(nc_max + NR - 1) / NR * NR * kc_max;
    float *bufa = thread_buffer(a_floats + b_floats);
    float *bufb = bufa + a_floats;
    const int Mpad = (M + MR - 1) / MR * MR;
    int unpacked_b = !trans_b && M <= UNPACKED_B_MAX_M;

    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        int nfull = unpacked_b ? nc / NR * NR : 0; /* columns read in place */
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float bet = pc == 0 ? beta : 1.0f;
            const float *bsrc = trans_b ? B + (size_t)jc * ldb + pc
                                        : B + (size_t)pc * ldb + jc;
            if (nfull < nc) /* the rest of the panel, packed */
                pack_b(bufb, uk, trans_b,
                       trans_b ? bsrc + (size_t)nfull * ldb : bsrc + nfull,
                       ldb, kc, nc - nfull);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                const float *a = Ap ? Ap + (size_t)Mpad * pc + (size_t)ic * kc : bufa;
                if (!Ap)
                    pack_a(bufa, uk, trans_a,
                           trans_a ? A + (size_t)pc * lda + ic
                                   : A + (size_t)ic * lda + pc,
                           lda, mc, kc);
                for (int jr = 0; jr < nc; jr += NR) {
                    int n = nc - jr < NR ? nc - jr : NR;
                    const float *b;
                    int bld;
                    if (jr < nfull) {
                        b = bsrc + jr;
                        bld = ldb;
                    } else {
                        b = bufb + (size_t)(jr - nfull) / NR * NR * kc;
                        bld = NR;
                    }
                    for (int ir = 0; ir < mc; ir += MR) {
                        int m = mc - ir < MR ? mc - ir : MR;
                        tile(uk, kc, a + (size_t)ir * kc, b, bld,
                             C + (size_t)(ic + ir) * ldc + jc + jr, ldc, m, n,
                             alpha, bet);
                    }
                }
            }
        }
    }
}

void nt_sgemm_packed(const nt_ukernel *uk, int trans_a, int trans_b, int M,
                     int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc)
{
    sgemm_blocked(uk, trans_a, trans_b, M, N, K, alpha, A, lda, NULL, B, ldb,
                  beta, C, ldc);
}

void nt_sgemm_prepacked(const nt_ukernel *uk, int trans_b, int M, int N, int K,
                        float alpha, const float *Ap, const float *B, int ldb,
                        float beta, float *C, int ldc)
{
    sgemm_blocked(uk, 0, trans_b, M, N, K, alpha, NULL, 0, Ap, B, ldb, beta, C,
                  ldc);
}
