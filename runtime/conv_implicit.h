/* conv_implicit.h - inside the runtime only: the implicit-GEMM convolution
 * of conv_implicit.c, compiled once per ISA. conv.c uses it for stride-1
 * "same" convolutions on images wide enough (implicit_fits): VGG's, ResNet's
 * 3x3 layers, AlexNet's and GoogLeNet's 3x3 and 5x5.
 *
 * The input of one image is copied once into zero-padded planes [C, Hp, Wp]
 * (Wp = W + 2*PW). Output pixel (y, x) is then "wide" column j = y*Wp + x,
 * and tap k = (c, kh, kw) reads the plane at j + off[k], off[k] = c*Hp*Wp +
 * kh*Wp + kw: the column matrix of im2col is never built, each of its rows
 * is the padded input shifted. Columns x >= OW of a wide row are computed
 * and dropped (KW - 1 of every Wp). AVX2 and AVX-512 only: the portable path
 * keeps im2col + GEMM, which measured 3x faster than these loops in C. */
#ifndef NT_CONV_IMPLICIT_H
#define NT_CONV_IMPLICIT_H

#include <stddef.h>

/* nt_implicit_mr(): the row block of the packed weights (8 on AVX-512, 4
 * else). */

/* out[m, y, x] = bias[m] + sum over k < K of a(m, k) * src[off[k] + y*Wp + x]
 * for m < M, y < OH, x < OW, max(., 0) with relu; accumulate: added to out
 * instead (no bias, no relu). a is packed by blocks of mr rows:
 * a(m, k) = a[(m / mr * K + k) * mr + m % mr], zero past M. out is [M, OH,
 * OW]. src must be readable (its values are dropped) up to NT_IMPLICIT_SLACK
 * floats past off[K-1] + OH*Wp. */
typedef struct nt_implicit_fwd {
    int M, K;
    const int *off;
    const float *a;
    const float *bias;
    int OH, OW, Wp;
    int accumulate, relu;
} nt_implicit_fwd;

/* dwt[k * Mp + m] += sum over y < OH, x < OW of gt[(y*OW + x) * Mp + m] *
 * src[off[k] + y*Wp + x] for k < K, m < Mp: the weight gradient, transposed,
 * from the output gradient transposed (gt: a row of Mp channels per pixel,
 * Mp = M rounded up to 16, zero past M) and the padded input. */
typedef struct nt_implicit_dw {
    int Mp, K;
    const int *off;
    int OH, OW, Wp;
} nt_implicit_dw;

#define NT_IMPLICIT_DECLARE(isa)                                               \
    int nt_implicit_mr_##isa(void);                                            \
    void nt_implicit_forward_##isa(float *out, const float *src,               \
                                   const nt_implicit_fwd *p);                  \
    void nt_implicit_dweight_##isa(float *dwt, const float *gt,               \
                                   const float *src, const nt_implicit_dw *p); \
    void nt_implicit_transpose_##isa(float *gt, const float *g, int M, int P,  \
                                     int Mp);

/* nt_implicit_transpose(): gt[q * Mp + m] = g[m * P + q] for m < M, q < P
 * (the rows of gt past M untouched): the output gradient as dweight reads
 * it. */

/* Floats of slack a forward source needs past off[K-1] + OH*Wp (that is,
 * KW - 1 floats past its last padded plane): a tile's reach. */
#define NT_IMPLICIT_SLACK 128

#if defined(__x86_64__) || defined(__i386__)
NT_IMPLICIT_DECLARE(avx2)
NT_IMPLICIT_DECLARE(avx512)
#endif

#endif
