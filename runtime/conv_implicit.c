/* conv_implicit.c - the implicit-GEMM convolution (conv_implicit.h): a GEMM
 * of the weights by the column matrix of im2col, with that matrix's rows read
 * straight out of the zero-padded input at each tap's offset instead of
 * being copied. One image at a time; conv.c does the padding, the weight
 * packing and the threads, and uses the same forward loop for the input
 * gradient (a convolution of the padded output gradient by the transposed,
 * flipped weights).
 *
 * Forward: tiles of MR output channels by NV vectors of wide columns, their
 * MR*NV accumulators in registers, one multiply-add per channel, vector and
 * tap: NV loads of the input and MR broadcasts of the weights feed MR*NV
 * multiply-adds. The tile is staged and its columns copied to the output
 * rows they belong to (dropping the wide rows' extra columns). Weight
 * gradient: the same product the other way round, dW^T = col * dout^T, from
 * the output gradient transposed (a pixel's channels in a row): tiles of TB
 * taps by MV vectors of output channels, one broadcast of the input per tap
 * and pixel, over bands of rows.
 *
 * This one source is compiled once per ISA (conv_implicit_ISA.c, with
 * meson's -m flags; GCC's vector extension, contraction into FMAs allowed).
 * Each sum runs in a fixed order: results depend on the ISA, never on the
 * thread count. */
#include "conv_implicit.h"
#include "vecf.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Vector length, and the forward's register tile, MR x NV vectors (at most
 * 24 accumulators in 32 zmm, 12 in 16 ymm, leaving room for the
 * operands; the weight gradient's tiles likewise, in nt_implicit_dweight). */
#if defined(__AVX512F__)
#define VL 16
#define MR 8
#define NV 3
#else /* AVX2 */
#define VL 8
#define MR 4
#define NV 3
#endif
#define NR (NV * VL) /* wide columns of a forward tile */

NT_VECF(vf, VL, loadv, storev)

_Static_assert(NR <= NT_IMPLICIT_SLACK, "a tile reads past the slack");

static int min_int(int a, int b) { return a < b ? a : b; }

int FN(nt_implicit_mr)(void) { return MR; }

/* stage[m][0, NR) = bias0[m] + sum over k of a[k*MR + m] * s[off[k] + ...],
 * the NR wide columns from s on. */
static ALWAYS_INLINE void forward_tile(float stage[MR][NR], const float *a,
                                       const int *off, int K, const float *s,
                                       const float *bias0)
{
    vf acc[MR][NV];
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++)
            acc[m][v] = (vf){0} + bias0[m];
    for (int k = 0; k < K; k++) {
        const float *x = s + off[k];
        const float *ak = a + (size_t)k * MR;
        vf xv[NV];
        for (int v = 0; v < NV; v++)
            xv[v] = loadv(x + v * VL);
        for (int m = 0; m < MR; m++)
            for (int v = 0; v < NV; v++)
                acc[m][v] += ak[m] * xv[v];
    }
    for (int m = 0; m < MR; m++)
        for (int v = 0; v < NV; v++)
            storev(&stage[m][v * VL], acc[m][v]);
}

/* o[0, n) = st[0, n) (relu: max(., 0), NaN kept as nt_relu_forward keeps
 * it), or += (accumulate) */
static ALWAYS_INLINE void put(float *restrict o, const float *restrict st, int n,
                              int accumulate, int relu)
{
    if (accumulate)
        for (int i = 0; i < n; i++)
            o[i] += st[i];
    else if (relu)
        for (int i = 0; i < n; i++)
            o[i] = st[i] < 0.0f ? 0.0f : st[i];
    else
        for (int i = 0; i < n; i++)
            o[i] = st[i];
}

void FN(nt_implicit_forward)(float *out, const float *src, const nt_implicit_fwd *p)
{
    const int n = p->OH * p->Wp, K = p->K;
    const size_t plane = (size_t)p->OH * p->OW;
    float stage[MR][NR] __attribute__((aligned(64)));
    for (int j0 = 0; j0 < n; j0 += NR) {
        const int y0 = j0 / p->Wp, x0 = j0 - y0 * p->Wp;
        for (int m0 = 0; m0 < p->M; m0 += MR) {
            const int rows = min_int(MR, p->M - m0);
            float bias0[MR] = {0};
            if (p->bias && !p->accumulate)
                for (int m = 0; m < rows; m++)
                    bias0[m] = p->bias[m0 + m];
            forward_tile(stage, p->a + (size_t)m0 * K, p->off, K, src + j0, bias0);
            for (int m = 0; m < rows; m++) {
                float *o = out + (size_t)(m0 + m) * plane;
                /* the stage's columns row by row of the wide image */
                for (int i = 0, y = y0, x = x0; i < NR && y < p->OH; y++, x = 0) {
                    const int len = min_int(NR - i, p->Wp - x);
                    if (x < p->OW)
                        put(o + (size_t)y * p->OW + x, &stage[m][i], min_int(len, p->OW - x),
                            p->accumulate, p->relu);
                    i += len;
                }
            }
        }
    }
}

/* The weight gradient's tile: TB taps by MV vectors of output channels
 * from m0 on, summed over the pixels of rows [y0, y1) and added to dwt; XU
 * pixels a step, each with its own accumulators (added at the end), so that
 * each tap's pointer feeds XU broadcasts. */
static ALWAYS_INLINE void dweight_blk(int MV, int TB, int XU, float *dwt, const float *gt,
                                      const float *src, const nt_implicit_dw *p, int m0,
                                      int y0, int y1)
{
    const int K = p->K, Mp = p->Mp, OW = p->OW;
    for (int k0 = 0; k0 < K; k0 += TB) {
        /* a block past the last tap repeats it and drops it */
        const float *s[16];
        for (int t = 0; t < TB; t++)
            s[t] = src + p->off[min_int(k0 + t, K - 1)];
        vf acc[2][16][4];
        for (int u = 0; u < XU; u++)
            for (int t = 0; t < TB; t++)
                for (int v = 0; v < MV; v++)
                    acc[u][t][v] = (vf){0};
        for (int y = y0; y < y1; y++) {
            const float *g = gt + (size_t)y * OW * Mp + m0;
            const int row = y * p->Wp;
            int x = 0;
            for (; x + XU <= OW; x += XU, g += XU * Mp)
                for (int u = 0; u < XU; u++) {
                    vf gv[4];
                    for (int v = 0; v < MV; v++)
                        gv[v] = loadv(g + u * Mp + v * VL);
                    for (int t = 0; t < TB; t++) {
                        const float xs = s[t][row + x + u];
                        for (int v = 0; v < MV; v++)
                            acc[u][t][v] += xs * gv[v];
                    }
                }
            for (; x < OW; x++, g += Mp) /* an odd pixel at the row's end */
                for (int t = 0; t < TB; t++) {
                    const float xs = s[t][row + x];
                    for (int v = 0; v < MV; v++)
                        acc[0][t][v] += xs * loadv(g + v * VL);
                }
        }
        for (int t = 0; t < min_int(TB, K - k0); t++)
            for (int v = 0; v < MV; v++) {
                float *d = dwt + (size_t)(k0 + t) * Mp + m0 + v * VL;
                vf sum = acc[0][t][v];
                for (int u = 1; u < XU; u++)
                    sum += acc[u][t][v];
                storev(d, loadv(d) + sum);
            }
    }
}

void FN(nt_implicit_dweight)(float *dwt, const float *gt, const float *src,
                             const nt_implicit_dw *p)
{
    /* bands of rows whose gradient rows and input planes stay near the L2
     * cache while every tile runs over them */
    const int per_row = p->OW * (p->Mp > 64 ? p->Mp : 64);
    const int band = per_row >= 16384 ? 1 : 16384 / per_row;
    for (int y0 = 0; y0 < p->OH; y0 += band) {
        const int y1 = min_int(y0 + band, p->OH);
        int m0 = 0;
#if VL == 16
        for (; m0 + 4 * VL <= p->Mp; m0 += 4 * VL)
            dweight_blk(4, 6, 1, dwt, gt, src, p, m0, y0, y1);
        for (; m0 + 2 * VL <= p->Mp; m0 += 2 * VL)
            dweight_blk(2, 6, 2, dwt, gt, src, p, m0, y0, y1);
        for (; m0 < p->Mp; m0 += VL)
            dweight_blk(1, 6, 2, dwt, gt, src, p, m0, y0, y1);
#else
        for (; m0 + 2 * VL <= p->Mp; m0 += 2 * VL)
            dweight_blk(2, 6, 1, dwt, gt, src, p, m0, y0, y1);
        for (; m0 < p->Mp; m0 += VL)
            dweight_blk(1, 8, 1, dwt, gt, src, p, m0, y0, y1);
#endif
    }
}

/* gt[q * Mp + m] = g[m * P + q] for m < M, q < P (the channels past M are
 * left alone). AVX-512: 16x16 blocks transposed in registers. */
void FN(nt_implicit_transpose)(float *gt, const float *g, int M, int P, int Mp)
{
    int q0 = 0;
#ifdef __AVX512F__
    /* the column each register holds after the four steps */
    static const int lane_of[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
    for (; q0 + 16 <= P; q0 += 16) {
        int m0 = 0;
        for (; m0 + 16 <= M; m0 += 16) {
            __m512 r[16], t[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_loadu_ps(g + (size_t)(m0 + i) * P + q0);
            /* 2x2 blocks of lanes, then 4x4, 8x8 and 16x16 */
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4)
                for (int k = 0; k < 2; k++) {
                    r[i + k] = _mm512_castpd_ps(_mm512_unpacklo_pd(
                        _mm512_castps_pd(t[i + k]), _mm512_castps_pd(t[i + k + 2])));
                    r[i + k + 2] = _mm512_castpd_ps(_mm512_unpackhi_pd(
                        _mm512_castps_pd(t[i + k]), _mm512_castps_pd(t[i + k + 2])));
                }
            for (int i = 0; i < 16; i += 8)
                for (int k = 0; k < 4; k++) {
                    t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0x88);
                    t[i + k + 4] = _mm512_shuffle_f32x4(r[i + k], r[i + k + 4], 0xdd);
                }
            for (int k = 0; k < 8; k++) {
                r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
                r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
            }
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps(gt + (size_t)(q0 + lane_of[i]) * Mp + m0, r[i]);
        }
        for (int m = m0; m < M; m++)
            for (int q = q0; q < q0 + 16; q++)
                gt[(size_t)q * Mp + m] = g[(size_t)m * P + q];
    }
#endif
    for (int q1 = q0; q1 < P; q1 += 64)
        for (int m = 0; m < M; m++)
            for (int q = q1; q < min_int(q1 + 64, P); q++)
                gt[(size_t)q * Mp + m] = g[(size_t)m * P + q];
}
