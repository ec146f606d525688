/* conv_direct.c - direct convolution of one image, forward and backward, for
 * layers with few channels and narrow images or one channel (VGG's
 * first), where im2col costs more than the arithmetic. conv.c decides when (nt_conv_direct_fits) and
 * does the threads; the plain reference loops are conv.c's.
 *
 * The loops run along output (or input) rows in strips of up to 4 vectors
 * of 16 lanes (GCC's vector extension: one zmm, two ymm or four xmm), over
 * zero-padded copies of the image so that rows need no remainder loops. This one source is
 * compiled once per ISA (conv_direct_ISA.c with meson's -m flags), and
 * conv.c calls the copy of nt_cpu_isa(). Each output or gradient element is
 * one chain of multiply-adds in a fixed order: results depend on the ISA,
 * not on the thread count. */
#include "conv_direct.h"
#include "vecf.h"

#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

NT_VECF(v16, 16, load16, store16)

static int round16(int x) { return (x + 15) / 16 * 16; }
static int round4(int x) { return (x + 3) / 4 * 4; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int min_int(int a, int b) { return a < b ? a : b; }

/* Rows of output (forward) or input (input gradient), and output channels
 * (weight gradient), go through the loops in blocks of this many: that many
 * independent chains of multiply-adds, to cover the FMA latency. The last
 * block computes rows past the end (on zero padding) and drops them. */
#define BLK 4

/* Vectors of 16 lanes per row strip for rows `width` wide: the whole row up
 * to 4 vectors; a wider row goes in strips of 4, 3 or 2 vectors, the one
 * that computes the fewest lanes past its end (VGG's 224: 7 strips of 2). */
static int strip_vectors(int width)
{
    int v = round16(width) / 16;
    if (v <= 4)
        return v;
    int best = 4;
    for (int nv = 3; nv >= 2; nv--) {
        int waste = (width + 16 * nv - 1) / (16 * nv) * (16 * nv) - width;
        int best_waste = (width + 16 * best - 1) / (16 * best) * (16 * best) - width;
        if (waste < best_waste)
            best = nv;
    }
    return best;
}

/* The padded planes of one image. */
typedef struct direct_geom {
    int NVo, NVi; /* vectors per strip of an output row, of an input row */
    int OWv, Wv;  /* output and input widths rounded up to whole strips */
    int Hp, Wp;   /* input plane with the conv's padding, wide enough for a
                     block of rows of output strips: [C, Hp, Wp] */
    int Hd, Wd;   /* output gradient with KH-1 / KW-1 rows and columns of
                     zeros before it, for the input gradient: [OC, Hd, Wd] */
} direct_geom;

static direct_geom geom(const nt_conv2d_dims *d)
{
    direct_geom g;
    g.NVo = strip_vectors(d->OW);
    g.NVi = strip_vectors(d->W);
    g.OWv = (d->OW + 16 * g.NVo - 1) / (16 * g.NVo) * (16 * g.NVo);
    g.Wv = (d->W + 16 * g.NVi - 1) / (16 * g.NVi) * (16 * g.NVi);
    g.Hp = max_int(d->H + 2 * d->PH, round4(d->OH) + d->KH - 1);
    g.Wp = max_int(d->W + 2 * d->PW, g.OWv + d->KW - 1);
    g.Hd = max_int(round4(d->H) + d->PH + d->KH - 1, d->H + 2 * d->PH);
    g.Wd = max_int(max_int(g.Wv + d->PW + d->KW - 1, d->W + 2 * d->PW),
                   d->KW - 1 + g.OWv);
    return g;
}

size_t FN(nt_conv_direct_buf_floats)(const nt_conv2d_dims *d)
{
    direct_geom g = geom(d);
    /* and a vector of slack: copy_row_pad may write zeros past a row */
    return (size_t)d->C * g.Hp * g.Wp + (size_t)d->OC * g.Hd * g.Wd + 16;
}

/* dst[0, n) = src[0, n), inline: rows here are a few dozen floats, where a
 * call of memcpy costs more than the copy. Whole vectors, then the tail
 * (one masked move on AVX-512). */
static ALWAYS_INLINE void copy_row(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        store16(dst + i, load16(src + i));
#ifdef __AVX512F__
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
    }
#else
    for (; i < n; i++)
        dst[i] = src[i];
#endif
}

/* The same into a padded buffer, where the tail may write zeros up to the
 * next multiple of 16 floats past dst + n: into padding that must be zero
 * anyway, or into rows written after this one, or into the buffer's slack.
 * (A masked load is cheap; a masked store is not, on this CPU.) */
static ALWAYS_INLINE void copy_row_pad(float *dst, const float *src, int n)
{
#ifdef __AVX512F__
    int i = 0;
    for (; i + 16 <= n; i += 16)
        store16(dst + i, load16(src + i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_storeu_ps(dst + i, _mm512_maskz_loadu_ps(m, src + i));
    }
#else
    copy_row(dst, src, n);
#endif
}

/* pin[c, y, x] = in[c, y - PH, x - PW], zero outside. */
static void pad_input(float *pin, const float *in, const nt_conv2d_dims *d,
                      const direct_geom *g)
{
    memset(pin, 0, sizeof(float) * (size_t)d->C * g->Hp * g->Wp);
    for (int c = 0; c < d->C; c++)
        for (int h = 0; h < d->H; h++)
            copy_row_pad(pin + ((size_t)c * g->Hp + h + d->PH) * g->Wp + d->PW,
                         in + ((size_t)c * d->H + h) * d->W, d->W);
}

/* The loops below are written for strips of NV vectors of 16 lanes per row
 * and blocks of R rows (forward) and OCB output channels; these are constants
 * in each copy that the switches select, so the accumulators stay in
 * registers (at most 24 of them, plus the operands, in 32 zmm). A block
 * past the last output channel recomputes the last one and drops it. */
static ALWAYS_INLINE void forward_blk(int NV, int R, int OCB, float *out,
                                      const float *pin, const float *w,
                                      const float *b, const nt_conv2d_dims *d,
                                      const direct_geom *g, int relu)
{
    size_t wstride = (size_t)d->C * d->KH * d->KW;
    for (int oc0 = 0; oc0 < d->OC; oc0 += OCB)
        for (int oh0 = 0; oh0 < d->OH; oh0 += R)
        for (int x0 = 0; x0 < d->OW; x0 += 16 * NV) {
            v16 acc[6][4][4];
            const float *wj[6];
            for (int j = 0; j < OCB; j++) {
                int oc = min_int(oc0 + j, d->OC - 1);
                float bias = b ? b[oc] : 0.0f;
                wj[j] = w + (size_t)oc * wstride;
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < NV; v++)
                        acc[j][r][v] = (v16){0} + bias;
            }
            for (int c = 0; c < d->C; c++)
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *row = pin + ((size_t)c * g->Hp + oh0 + kh) * g->Wp + x0;
                    size_t wo = ((size_t)c * d->KH + kh) * d->KW;
                    for (int kw = 0; kw < d->KW; kw++) {
                        v16 x[4][4];
                        for (int r = 0; r < R; r++)
                            for (int v = 0; v < NV; v++)
                                x[r][v] = load16(row + (size_t)r * g->Wp + kw + 16 * v);
                        for (int j = 0; j < OCB; j++) {
                            float wv = wj[j][wo + kw];
                            for (int r = 0; r < R; r++)
                                for (int v = 0; v < NV; v++)
                                    acc[j][r][v] += wv * x[r][v];
                        }
                    }
                }
            for (int j = 0; j < min_int(OCB, d->OC - oc0); j++)
                for (int r = 0; r < min_int(R, d->OH - oh0); r++) {
                    float tmp[64];
                    for (int v = 0; v < NV; v++)
                        store16(tmp + 16 * v, acc[j][r][v]);
                    if (relu) /* as nt_relu_forward: NaN kept */
                        for (int i = 0; i < 16 * NV; i++)
                            tmp[i] = tmp[i] < 0.0f ? 0.0f : tmp[i];
                    copy_row(out + ((size_t)(oc0 + j) * d->OH + oh0 + r) * d->OW + x0, tmp,
                             min_int(16 * NV, d->OW - x0));
                }
        }
}

void FN(nt_conv_direct_forward)(float *out, const float *in, const float *w,
                                const float *b, const nt_conv2d_dims *d, int relu,
                                float *buf)
{
    direct_geom g = geom(d);
    float *pin = buf;
    pad_input(pin, in, d, &g);
    switch (g.NVo) {
    case 1: forward_blk(1, 4, 6, out, pin, w, b, d, &g, relu); break;
    case 2: forward_blk(2, 2, 6, out, pin, w, b, d, &g, relu); break;
    case 3: forward_blk(3, 2, 4, out, pin, w, b, d, &g, relu); break;
    default: forward_blk(4, 1, 6, out, pin, w, b, d, &g, relu); break;
    }
}

/* The output gradient as dweight_blk reads it: dout[oc, oh, ow] at
 * base[oc * ch + oh * row + ow], for ow up to the strips' end (OWv), zero
 * past OW: either dp, dout copied with zero margins, or dout itself when
 * its rows end at a strip's end and no input gradient needs dp. */
typedef struct dout_view {
    const float *base;
    size_t ch, row;
} dout_view;

/* lanes[(weight) * 16 + x] += lane x of the sum over oh and ow = x (mod 16)
 * of dout[oc, oh, ow] * pin[c, oh + kh, ow + kw], for each weight (oc, c,
 * kh, kw), rows in strips of NV vectors. A block covers OCB output
 * channels and KB taps of a kernel row; blocks past the last channel or tap
 * recompute the last one and drop it. */
static ALWAYS_INLINE void dweight_blk(int NV, int KB, int FULL, float *lanes,
                                      const dout_view *gv_, const float *pin,
                                      const nt_conv2d_dims *d,
                                      const direct_geom *g)
{
    const int OCB = max_int(1, min_int(8, 20 / (KB * NV)));
    for (int oc0 = 0; oc0 < d->OC; oc0 += OCB)
        for (int c = 0; c < d->C; c++)
            for (int kh = 0; kh < d->KH; kh++)
                for (int kw0 = 0; kw0 < d->KW; kw0 += KB) {
                    const float *gr[8];
                    int kws[5];
                    for (int j = 0; j < OCB; j++)
                        gr[j] = gv_->base + (size_t)min_int(oc0 + j, d->OC - 1) * gv_->ch;
                    for (int k = 0; k < KB; k++)
                        kws[k] = min_int(kw0 + k, d->KW - 1);
                    v16 acc[8][5][4];
                    for (int j = 0; j < OCB; j++)
                        for (int k = 0; k < KB; k++)
                            for (int v = 0; v < NV; v++)
                                acc[j][k][v] = (v16){0};
                    /* strips outermost: the row loop inside keeps its
                     * counter and pointers in registers */
                    for (int x0 = 0; x0 < d->OW; x0 += 16 * NV)
                        for (int oh = 0; oh < d->OH; oh++) {
                            const float *r = pin + ((size_t)c * g->Hp + oh + kh) * g->Wp + x0;
                            size_t go = (size_t)oh * gv_->row + x0;
                            v16 gv[8][4];
                            for (int j = 0; j < OCB; j++)
                                for (int v = 0; v < NV; v++)
                                    gv[j][v] = load16(gr[j] + go + 16 * v);
                            for (int k = 0; k < KB; k++)
                                for (int v = 0; v < NV; v++) {
                                    /* a whole kernel row (FULL): tap k itself */
                                    v16 p = load16(r + (FULL ? k : kws[k]) + 16 * v);
                                    for (int j = 0; j < OCB; j++)
                                        acc[j][k][v] += gv[j][v] * p;
                                }
                        }
                    for (int j = 0; j < min_int(OCB, d->OC - oc0); j++)
                        for (int k = 0; k < min_int(KB, d->KW - kw0); k++) {
                            for (int v = 1; v < NV; v++)
                                acc[j][k][0] += acc[j][k][v];
                            float *l = lanes + ((((size_t)(oc0 + j) * d->C + c) * d->KH + kh) * d->KW + kw0 + k) * 16;
                            store16(l, load16(l) + acc[j][k][0]);
                        }
                }
}

/* The kernel-row block of dweight_blk for NV vectors: the whole row up to
 * 5 taps, else blocks of 4. */
static ALWAYS_INLINE void dweight_nv(int NV, float *lanes, const dout_view *dp,
                                     const float *pin, const nt_conv2d_dims *d,
                                     const direct_geom *g)
{
    switch (d->KW) {
    case 1: dweight_blk(NV, 1, 1, lanes, dp, pin, d, g); break;
    case 2: dweight_blk(NV, 2, 1, lanes, dp, pin, d, g); break;
    case 3: dweight_blk(NV, 3, 1, lanes, dp, pin, d, g); break;
    case 5: dweight_blk(NV, 5, 1, lanes, dp, pin, d, g); break;
    default: dweight_blk(NV, 4, 0, lanes, dp, pin, d, g); break;
    }
}

/* din[c, ih, iw] += sum over oc, kh, kw of w[oc, c, kh, kw] *
 * dout[oc, ih + PH - kh, iw + PW - kw] (zero outside dout). */
static ALWAYS_INLINE void dinput_nv(int NV, float *din, const float *dp,
                                    const float *w, const nt_conv2d_dims *d,
                                    const direct_geom *g)
{
    int top = d->KH - 1, left = d->KW - 1;
    for (int c = 0; c < d->C; c++)
        for (int ih0 = 0; ih0 < d->H; ih0 += BLK)
        for (int x0 = 0; x0 < d->W; x0 += 16 * NV) {
            v16 acc[BLK][4];
            for (int r = 0; r < BLK; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = (v16){0};
            for (int oc = 0; oc < d->OC; oc++)
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *row = dp + ((size_t)oc * g->Hd + ih0 + d->PH - kh + top) * g->Wd + d->PW + left + x0;
                    const float *wk = w + (((size_t)oc * d->C + c) * d->KH + kh) * d->KW;
                    for (int kw = 0; kw < d->KW; kw++) {
                        float wv = wk[kw];
                        for (int r = 0; r < BLK; r++)
                            for (int v = 0; v < NV; v++)
                                acc[r][v] += wv * load16(row + (size_t)r * g->Wd - kw + 16 * v);
                    }
                }
            for (int r = 0; r < min_int(BLK, d->H - ih0); r++) {
                float *o = din + ((size_t)c * d->H + ih0 + r) * d->W;
                for (int x = x0; x < min_int(x0 + 16 * NV, d->W); x++)
                    o[x] += acc[r][(x - x0) / 16][(x - x0) % 16];
            }
        }
}

void FN(nt_conv_direct_backward)(float *din, float *lanes, const float *dout,
                                 const float *in, const float *w,
                                 const nt_conv2d_dims *d, float *buf)
{
    direct_geom g = geom(d);
    float *pin = buf;
    float *dp = pin + (size_t)d->C * g.Hp * g.Wp;
    int top = d->KH - 1, left = d->KW - 1;
    pad_input(pin, in, d, &g);
    dout_view view = {dout, (size_t)d->OH * d->OW, (size_t)d->OW};
    if (din || g.OWv != d->OW) {
        /* dp[oc, top + oh, left + ow] = dout[oc, oh, ow], zero elsewhere */
        memset(dp, 0, sizeof(float) * (size_t)d->OC * g.Hd * g.Wd);
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                copy_row_pad(dp + ((size_t)oc * g.Hd + top + oh) * g.Wd + left,
                             dout + ((size_t)oc * d->OH + oh) * d->OW, d->OW);
        view = (dout_view){dp + (size_t)top * g.Wd + left, (size_t)g.Hd * g.Wd, (size_t)g.Wd};
    }
    /* one vector per strip: each tap's row load then feeds the most
     * output channels (a load per FMA would bound the loop, most of them
     * across two cache lines at the taps' shifts) */
    dweight_nv(1, lanes, &view, pin, d, &g);
    if (!din)
        return;
    switch (g.NVi) {
    case 1: dinput_nv(1, din, dp, w, d, &g); break;
    case 2: dinput_nv(2, din, dp, w, d, &g); break;
    case 3: dinput_nv(3, din, dp, w, d, &g); break;
    default: dinput_nv(4, din, dp, w, d, &g); break;
    }
}

/* ---- the lowering of small images (conv.c's im2col and col2im) --------- */

/* For stride-1 layers whose output rows fit one 16-lane vector (OW <= 16):
 * conv.c's im2col/col2im of images with short rows, one vector per output
 * row and tap instead of one gather per pixel. The plane goes through a
 * zero-padded copy on the stack, PLANE_SLACK floats longer than the
 * plane so that whole vectors can be read past its last row. */
#define PLANE_SLACK 16

/* col[(c*KH + kh)*KW + kw, r*OW + ow] = in[c, oh0 + r + kh - PH, ow + kw -
 * PW] (0 in the padding) for r < nrows. A row is stored as a whole vector,
 * spilling into the following rows of the same tap, which are written
 * later; the rows whose vector would reach past this image's columns are
 * stored exactly, so nothing outside them is touched. */
void FN(nt_conv_im2col_small)(float *col, int ldc, const float *in, int oh0,
                              int nrows, int c0, int c1,
                              const nt_conv2d_dims *d)
{
    int Wp = d->W + 2 * d->PW, Hp = d->H + 2 * d->PH, OW = d->OW;
    float pad[NT_LOWER_MAX_PLANE + PLANE_SLACK];
    /* rows stored as whole vectors: those whose 16 floats end inside this
     * image's columns of the tap */
    int vec_rows = nrows * OW >= 16 ? (nrows * OW - 16) / OW + 1 : 0;
    memset(pad, 0, sizeof(float) * (size_t)(Hp * Wp + PLANE_SLACK));
    for (int c = c0; c < c1; c++) {
        const float *plane = in + (size_t)c * d->H * d->W;
        for (int h = 0; h < d->H; h++)
            copy_row_pad(pad + (h + d->PH) * Wp + d->PW, plane + (size_t)h * d->W, d->W);
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                float *o = col + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                const float *src = pad + (oh0 + kh) * Wp + kw;
                int r = 0;
                for (; r < vec_rows; r++)
                    store16(o + r * OW, load16(src + r * Wp));
                for (; r < nrows; r++)
                    for (int x = 0; x < OW; x++)
                        o[r * OW + x] = src[r * Wp + x];
            }
    }
}

#ifdef __AVX512F__

/* conv.c's im2col_rows for stride-2 columns (ResNet's and GoogLeNet's first
 * convs, 7x7 stride 2), AVX-512 only: 16 outputs of a row from 32
 * consecutive inputs by one two-source permute, instead of a scalar gather
 * per pixel. Reads stay inside the row's valid inputs: whole vectors only
 * while the next 16 outputs are not the last, then scalars. */
void nt_conv_im2col_rows_s2_avx512(float *col, int ldc, const float *in, int oh0,
                                   int nrows, int c0, int c1, const nt_conv2d_dims *d)
{
    const int OW = d->OW, W = d->W;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                          4, 2, 0);
    for (int c = c0; c < c1; c++) {
        const float *plane = in + (size_t)c * d->H * W;
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                float *dst = col + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                /* output columns whose tap is inside the row: 0 <= 2x - PW + kw < W */
                const int last = W - 1 + d->PW - kw; /* 2x <= last */
                const int lo = min_int(max_int((d->PW - kw + 1) / 2, 0), OW);
                const int hi = max_int(min_int(last < 0 ? 0 : last / 2 + 1, OW), lo);
                for (int r = 0; r < nrows; r++) {
                    float *o = dst + (size_t)r * OW;
                    const int ih = (oh0 + r) * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) {
                        memset(o, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    const float *row = plane + (size_t)ih * W - d->PW + kw;
                    int x = 0;
                    for (; x < lo; x++)
                        o[x] = 0.0f;
                    for (; x + 16 < hi; x += 16)
                        _mm512_storeu_ps(o + x, _mm512_permutex2var_ps(
                                                    _mm512_loadu_ps(row + 2 * x), even,
                                                    _mm512_loadu_ps(row + 2 * x + 16)));
                    for (; x < hi; x++)
                        o[x] = row[2 * x];
                    for (; x < OW; x++)
                        o[x] = 0.0f;
                }
            }
    }
}
#endif

#ifdef __AVX512F__

/* The adjoint: din[c, ...] += the dcol entries of each input pixel (AVX-512
 * only; conv.c runs the scalar one on other ISAs). Row by row of the padded
 * plane, in registers: the taps' rows are read with masked loads shifted by
 * kw lanes, so nothing is stored and reloaded (an unaligned store followed
 * by an overlapping load stalls on store forwarding). Rows up to 32 wide
 * (two vectors); masked-out lanes never fault. */
void nt_conv_col2im_small_avx512(float *din, const float *dcol, int ldc,
                                 int oh0, int nrows, int c0, int c1,
                                 const nt_conv2d_dims *d)
{
    int OW = d->OW, W = d->W;
    __mmask32 row = (__mmask32)((1ull << OW) - 1);
    __mmask32 inrow = (__mmask32)(((1ull << W) - 1) << d->PW);
    for (int c = c0; c < c1; c++) {
        float *plane = din + (size_t)c * d->H * W;
        /* input rows that rows [oh0, oh0 + nrows) of output reach */
        int ylo = max_int(oh0, d->PH), yhi = min_int(oh0 + nrows - 1 + d->KH, d->H + d->PH);
        for (int y = ylo; y < yhi; y++) {
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            for (int kh = 0; kh < d->KH; kh++) {
                int r = y - oh0 - kh;
                if (r < 0 || r >= nrows)
                    continue;
                const float *s = dcol + (size_t)((c * d->KH + kh) * d->KW) * ldc + r * OW;
                for (int kw = 0; kw < d->KW; kw++, s += ldc) {
                    __mmask32 m = row << kw;
                    acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps((__mmask16)m, s - kw));
                    acc1 = _mm512_add_ps(acc1, _mm512_maskz_loadu_ps((__mmask16)(m >> 16), s - kw + 16));
                }
            }
            /* padded x = PW + input x */
            float *o = plane + (size_t)(y - d->PH) * W - d->PW;
            __mmask16 m0 = (__mmask16)inrow, m1 = (__mmask16)(inrow >> 16);
            _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(acc0, _mm512_maskz_loadu_ps(m0, o)));
            _mm512_mask_storeu_ps(o + 16, m1, _mm512_add_ps(acc1, _mm512_maskz_loadu_ps(m1, o + 16)));
        }
    }
}
#endif
