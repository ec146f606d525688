/* conv_lanes.c - convolution of small images with the batch in the vector
 * lanes: a block of up to L images (16 on AVX-512, 8 on AVX2) is reordered into arrays of L-lane vectors, [C, H, W, L],
 * so that lane k holds image k. Every pixel is then one vector, whatever
 * the width of the rows, and the convolution is a register-blocked loop of
 * vector multiply-adds with broadcast weights: no im2col, no idle lanes on
 * rows of 10 outputs, no packing. conv.c decides when (lanes_fits) and does
 * the threads; the plain reference loops are conv.c's.
 *
 * Both the forward pass and the input gradient are one correlation (corr):
 * the input gradient is the correlation of the output gradient, padded by
 * KH-1 rows and KW-1 columns of zeros, with the weights flipped and
 * transposed. The weight gradient (dw_blk) keeps one partial sum per lane,
 * which the caller adds up in a fixed order.
 *
 * This one source is compiled for AVX2 and for AVX-512 (conv_lanes_ISA.c with
 * meson's -m flags, FMA contraction allowed); there is no portable copy. Each output is one chain of multiply-adds
 * in a fixed order: results depend on the ISA, never on the thread count or
 * on which lane an image lands in. */
#include "conv_lanes.h"
#include "vecf.h"

#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define L 16
#elif defined(__AVX2__)
#define L 8
#else
#error "conv_lanes.c is compiled for AVX2 or AVX-512"
#endif
NT_VECF(vl, L, loadl, storel)

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* Register blocks: a correlation computes OCB output channels times OWB
 * pixels of a row at once, the weight gradient OCB output channels times
 * KWB taps of a kernel row. Each list fits the ISA's registers (32 zmm;
 * 16 ymm) with the operands. */
#ifdef __AVX512F__
#define CORR_BLOCKS(X) X(8, 3) X(6, 4) X(4, 6) X(4, 5) X(3, 8) X(3, 7) X(2, 8) X(1, 8)
#define DW_BLOCKS(X) X(4, 5) X(4, 4) X(4, 3) X(3, 5) X(3, 4) X(3, 3) X(2, 5) X(2, 4) X(2, 3)
#else
#define CORR_BLOCKS(X) X(4, 3) X(3, 4) X(2, 5) X(2, 4) X(1, 6)
#define DW_BLOCKS(X) X(2, 5) X(2, 4) X(2, 3) X(1, 5) X(1, 4) X(1, 3)
#endif

typedef struct blk {
    int a, b;
} blk;

#define PAIR(p, q) {p, q},
static const blk corr_blocks[] = {CORR_BLOCKS(PAIR)};
static const blk dw_blocks[] = {DW_BLOCKS(PAIR)};
#define NBLOCKS(t) ((int)(sizeof(t) / sizeof((t)[0])))

/* The block of the list that does the least work, counting the padded
 * channels and columns it computes and a cost of 4 multiply-adds per block
 * step for its loads; ties go to the earlier (larger) block. */
static blk choose(const blk *list, int n, int rows, int cols)
{
    blk best = list[0];
    double best_cost = 0;
    for (int i = 0; i < n; i++) {
        double prod = list[i].a * list[i].b;
        double cost = (double)round_up(rows, list[i].a) * round_up(cols, list[i].b) *
                      (prod + 4.0) / prod;
        if (i == 0 || cost < best_cost) {
            best = list[i];
            best_cost = cost;
        }
    }
    return best;
}

/* ---- the correlation --------------------------------------------------- */

/* out[o, y, x] = bias[o] + sum over i, a, b of W(o, i, a, b) *
 * in[i, y + y0 + a, x + x0 + b] for o < Cop, y < Ho, x < Wop, on arrays of
 * L-lane vectors in [Ci, Hi, Wi] and out [Cop, Ho, Wop]. The weights are
 * blocked, wb[Cop / OCB, Ci*KH*KW, OCB], so that a tap's OCB weights are
 * adjacent; bias has Cop entries. Rows of in outside [r0, r1) are zero
 * padding, whose taps are skipped: the input gradient's padded output
 * gradient has KH-1 of them at each end, which would otherwise double its
 * work on LeNet's 10-row outputs. */
typedef struct corr {
    float *out;
    const float *in, *wb, *bias;
    int Cop, Ho, Wop;
    int Ci, Hi, Wi, y0, x0, r0, r1;
    int KH, KW;
} corr;

static ALWAYS_INLINE void corr_blk(int OCB, int OWB, const corr *c)
{
    const size_t taps = (size_t)c->Ci * c->KH * c->KW;
    const size_t out_plane = (size_t)c->Ho * c->Wop * L;
    for (int ob = 0; ob < c->Cop; ob += OCB)
        for (int y = 0; y < c->Ho; y++)
            for (int x0 = 0; x0 < c->Wop; x0 += OWB) {
                vl acc[8][8];
                for (int o = 0; o < OCB; o++)
                    for (int j = 0; j < OWB; j++)
                        acc[o][j] = (vl){0} + c->bias[ob + o];
                const int a0 = max_int(0, c->r0 - y - c->y0);
                const int a1 = min_int(c->KH, c->r1 - y - c->y0);
                for (int i = 0; i < c->Ci; i++)
                    for (int a = a0; a < a1; a++) {
                        const float *row = c->in + (((size_t)i * c->Hi + y + c->y0 + a) *
                                                        c->Wi + x0 + c->x0) * L;
                        const float *wt = c->wb + (size_t)ob * taps +
                                          ((size_t)i * c->KH + a) * c->KW * OCB;
                        for (int b = 0; b < c->KW; b++, wt += OCB) {
                            vl x[8];
                            for (int j = 0; j < OWB; j++)
                                x[j] = loadl(row + (size_t)(b + j) * L);
                            for (int o = 0; o < OCB; o++)
                                for (int j = 0; j < OWB; j++)
                                    acc[o][j] += wt[o] * x[j];
                        }
                    }
                float *dst = c->out + (size_t)ob * out_plane + ((size_t)y * c->Wop + x0) * L;
                for (int o = 0; o < OCB; o++)
                    for (int j = 0; j < OWB; j++)
                        storel(dst + o * out_plane + (size_t)j * L, acc[o][j]);
            }
}

/* The copy of fn for register block k, from the list X's instantiations. */
#define BLOCK_CASE(fn, p, q)         \
    if (k.a == (p) && k.b == (q)) { \
        fn(p, q, c);                 \
        return;                      \
    }
#define CORR_CASE(p, q) BLOCK_CASE(corr_blk, p, q)
#define DW_CASE(p, q) BLOCK_CASE(dw_blk, p, q)

static void run_corr(blk k, const corr *c) { CORR_BLOCKS(CORR_CASE) }

/* ---- the weight gradient ----------------------------------------------- */

/* dwl[oc, i, a, b] (L lanes) += sum over y < OH, x < OW of
 * g[oc, y + gy0, x + gx0] * in[i, y + a, x + b]: g in [OC, Hg, Wg], in in
 * [C, Hp, Wp]. A block past the last channel recomputes the last one and
 * drops it; taps past KW read the padding and are dropped. */
typedef struct dwc {
    float *dwl;
    const float *g, *in;
    int OC, C, KH, KW, OH, OW;
    int Hg, Wg, gy0, gx0;
    int Hp, Wp;
} dwc;

static ALWAYS_INLINE void dw_blk(int OCB, int KWB, const dwc *c)
{
    for (int o0 = 0; o0 < c->OC; o0 += OCB) {
        const float *gp[8];
        for (int o = 0; o < OCB; o++)
            gp[o] = c->g + (((size_t)min_int(o0 + o, c->OC - 1) * c->Hg + c->gy0) * c->Wg +
                            c->gx0) * L;
        for (int i = 0; i < c->C; i++)
            for (int a = 0; a < c->KH; a++)
                for (int b0 = 0; b0 < c->KW; b0 += KWB) {
                    vl acc[8][8];
                    for (int o = 0; o < OCB; o++)
                        for (int b = 0; b < KWB; b++)
                            acc[o][b] = (vl){0};
                    for (int y = 0; y < c->OH; y++) {
                        const float *xr = c->in + (((size_t)i * c->Hp + y + a) * c->Wp + b0) * L;
                        const size_t gy = (size_t)y * c->Wg * L;
                        for (int x = 0; x < c->OW; x++) {
                            vl gv[8], xv[8];
                            for (int o = 0; o < OCB; o++)
                                gv[o] = loadl(gp[o] + gy + (size_t)x * L);
                            for (int b = 0; b < KWB; b++)
                                xv[b] = loadl(xr + (size_t)(x + b) * L);
                            for (int o = 0; o < OCB; o++)
                                for (int b = 0; b < KWB; b++)
                                    acc[o][b] += gv[o] * xv[b];
                        }
                    }
                    for (int o = 0; o < min_int(OCB, c->OC - o0); o++)
                        for (int b = 0; b < min_int(KWB, c->KW - b0); b++) {
                            float *dst = c->dwl + ((((size_t)(o0 + o) * c->C + i) * c->KH + a) *
                                                       c->KW + b0 + b) * L;
                            storel(dst, loadl(dst) + acc[o][b]);
                        }
                }
    }
}

static void run_dw(blk k, const dwc *c) { DW_BLOCKS(DW_CASE) }

/* ---- geometry and reorders --------------------------------------------- */

typedef struct geom {
    blk fwd, bwd, dw;  /* register blocks: forward, input gradient, weights */
    int OCp, OWp;      /* forward output: channels and row padded to its block */
    int Cp, Wq;        /* input gradient: the same */
    int Hp, Wp;        /* padded input [C, Hp, Wp] */
    int Hd, Wd;        /* padded output gradient [OC, Hd, Wd] */
    size_t inp, dp, outt, wb, bias; /* offsets of the buffers in buf */
    size_t total;
} geom;

static geom geometry(const nt_conv2d_dims *d)
{
    geom g;
    g.fwd = choose(corr_blocks, NBLOCKS(corr_blocks), d->OC, d->OW);
    g.bwd = choose(corr_blocks, NBLOCKS(corr_blocks), d->C, d->W);
    g.dw = choose(dw_blocks, NBLOCKS(dw_blocks), d->OC, d->KW);
    g.OCp = round_up(d->OC, g.fwd.a);
    g.OWp = round_up(d->OW, g.fwd.b);
    g.Cp = round_up(d->C, g.bwd.a);
    g.Wq = round_up(d->W, g.bwd.b);
    g.Hp = d->H + 2 * d->PH;
    g.Wp = max_int(max_int(d->W + 2 * d->PW, g.OWp + d->KW - 1),
                   d->OW - 1 + round_up(d->KW, g.dw.b));
    g.Hd = max_int(d->OH + 2 * (d->KH - 1), d->H + d->PH + d->KH - 1);
    g.Wd = max_int(d->OW + 2 * (d->KW - 1), g.Wq + d->PW + d->KW - 1);
    size_t kk = (size_t)d->KH * d->KW;
    g.inp = 0;
    g.dp = g.inp + (size_t)d->C * g.Hp * g.Wp * L;
    g.outt = g.dp + (size_t)d->OC * g.Hd * g.Wd * L;
    size_t outt = (size_t)max_int(g.OCp * d->OH * g.OWp, g.Cp * d->H * g.Wq) * L;
    g.wb = g.outt + outt;
    size_t wb = (size_t)max_int(g.OCp * d->C, g.Cp * d->OC) * kk;
    g.bias = g.wb + wb;
    g.total = g.bias + (size_t)max_int(g.OCp, g.Cp);
    return g;
}

int FN(nt_conv_lanes_width)(void) { return L; }

size_t FN(nt_conv_lanes_buf_floats)(const nt_conv2d_dims *d)
{
    return geometry(d).total;
}

#ifdef __AVX512F__
/* r[0..15] transposed in place: r[i][j] <-> r[j][i]. Pairs of rows
 * interleaved, then pairs of pairs, then 128-bit quarters: 64 shuffles. */
static ALWAYS_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + m], quarter j: rows 4i .. 4i+3 of column 4j + m */
    __m512 u[16];
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
    }
    for (int m = 0; m < 4; m++) {
        __m512 va = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 vb = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
        __m512 wa = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 wb = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
        r[m] = _mm512_shuffle_f32x4(va, wa, _MM_SHUFFLE(2, 0, 2, 0));
        r[8 + m] = _mm512_shuffle_f32x4(va, wa, _MM_SHUFFLE(3, 1, 3, 1));
        r[4 + m] = _mm512_shuffle_f32x4(vb, wb, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + m] = _mm512_shuffle_f32x4(vb, wb, _MM_SHUFFLE(3, 1, 3, 1));
    }
}
#endif

/* dst[c, y0 + h, x0 + w, k] = src[k, c, h, w] for images k < n, zero
 * elsewhere: dst is [C, Hp, Wp] of L-lane vectors. On AVX-512 16 columns
 * of 16 images at a time, through a transpose in registers, which writes
 * the lanes past n too; the padding around is zeroed only when fresh (the
 * buffer's first block in a call: no other block writes there). */
static void to_lanes(float *dst, const float *src, int n, int C, int H, int W,
                     int Hp, int Wp, int y0, int x0, int fresh)
{
#ifdef __AVX512F__
    if (fresh)
#else
    if (fresh || n < L)
#endif
        memset(dst, 0, sizeof(float) * (size_t)C * Hp * Wp * L);
    const size_t img = (size_t)C * H * W;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) {
            float *row = dst + (((size_t)c * Hp + h + y0) * Wp + x0) * L;
            const float *s = src + ((size_t)c * H + h) * W;
#ifdef __AVX512F__
            /* 16 images' rows at once are more streams than the hardware
             * prefetchers follow: ask for each image's row 2 ahead */
            for (int k = 0; k < n; k++)
                for (int x = 0; x < W; x += 16)
                    _mm_prefetch((const char *)(s + k * img + 2 * W + x), _MM_HINT_T0);
            for (int x = 0; x < W; x += 16) {
                const int m = min_int(16, W - x);
                const __mmask16 mask = (__mmask16)((1u << m) - 1);
                __m512 r[16];
                for (int k = 0; k < 16; k++)
                    r[k] = k < n ? _mm512_maskz_loadu_ps(mask, s + k * img + x)
                                 : _mm512_setzero_ps();
                transpose16(r);
                for (int j = 0; j < m; j++)
                    _mm512_storeu_ps(row + (size_t)(x + j) * L, r[j]);
            }
#else
            for (int k = 0; k < n; k++)
                for (int x = 0; x < W; x++)
                    row[(size_t)x * L + k] = s[k * img + x];
#endif
        }
}

/* dst[k, c, h, w] = (or +=, add) src[c, h, w, k] for images k < n; src is
 * [C, H, Wp] of L-lane vectors. */
static void from_lanes(float *dst, const float *src, int n, int C, int H, int W,
                       int Wp, int add)
{
    const size_t img = (size_t)C * H * W;
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) {
            const float *row = src + ((size_t)c * H + h) * Wp * L;
            float *o = dst + ((size_t)c * H + h) * W;
#ifdef __AVX512F__
            for (int x = 0; x < W; x += 16) {
                const int m = min_int(16, W - x);
                const __mmask16 mask = (__mmask16)((1u << m) - 1);
                __m512 r[16];
                for (int j = 0; j < 16; j++)
                    r[j] = j < m ? _mm512_loadu_ps(row + (size_t)(x + j) * L)
                                 : _mm512_setzero_ps();
                transpose16(r);
                for (int k = 0; k < n; k++) {
                    __m512 v = r[k];
                    if (add)
                        v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, o + k * img + x), v);
                    _mm512_mask_storeu_ps(o + k * img + x, mask, v);
                }
            }
#else
            for (int k = 0; k < n; k++) {
                float *ok = o + k * img;
                for (int x = 0; x < W; x++) {
                    const float v = row[(size_t)x * L + k];
                    ok[x] = add ? ok[x] + v : v;
                }
            }
#endif
        }
}

/* wb[o / B, t, o % B] = W(o, t) for o < Cop (zero past Co), t < Ci*KH*KW,
 * t = (i*KH + a)*KW + b: W = w[o, i, a, b] (forward), or with flip the
 * weights of the input gradient, W(c, oc, a, b) = w[oc, c, KH-1-a, KW-1-b]
 * (w is [Ci, Co, KH, KW] then). */
static void block_weights(float *wb, const float *w, int Co, int Cop, int B, int Ci,
                          int KH, int KW, int flip)
{
    const size_t kk = (size_t)KH * KW, taps = (size_t)Ci * kk;
    for (int o = 0; o < Cop; o++) {
        float *dst = wb + (size_t)(o / B) * taps * B + o % B;
        for (size_t i = 0; i < (size_t)Ci; i++)
            for (size_t r = 0; r < kk; r++) {
                float v = 0.0f;
                if (o < Co)
                    v = flip ? w[(i * Co + o) * kk + (kk - 1 - r)]
                             : w[(size_t)o * taps + i * kk + r];
                dst[(i * kk + r) * B] = v;
            }
    }
}

void FN(nt_conv_lanes_forward)(float *out, const float *in, const float *w,
                               const float *b, const nt_conv2d_dims *d, int n,
                               int fresh, float *buf)
{
    const geom g = geometry(d);
    float *bias = buf + g.bias;
    to_lanes(buf + g.inp, in, n, d->C, d->H, d->W, g.Hp, g.Wp, d->PH, d->PW, fresh);
    if (fresh) { /* the call's weights: the same for all its blocks */
        block_weights(buf + g.wb, w, d->OC, g.OCp, g.fwd.a, d->C, d->KH, d->KW, 0);
        for (int o = 0; o < g.OCp; o++)
            bias[o] = b && o < d->OC ? b[o] : 0.0f;
    }
    const corr c = {buf + g.outt, buf + g.inp, buf + g.wb, bias,
                    g.OCp, d->OH, g.OWp, d->C, g.Hp, g.Wp, 0, 0, d->PH, d->PH + d->H,
                    d->KH, d->KW};
    run_corr(g.fwd, &c);
    from_lanes(out, buf + g.outt, n, d->OC, d->OH, d->OW, g.OWp, 0);
}

/* dbl[oc] (L lanes) += the sum of g[oc]'s OH x OW values at (y0, x0) of its
 * [Hg, Wg] plane: four chains along each row, added (0 + 1) + (2 + 3) at the
 * end, every block the same way */
static void bias_sums(float *dbl, const float *g, int OC, int OH, int OW, int Hg, int Wg,
                      int y0, int x0)
{
    for (int oc = 0; oc < OC; oc++) {
        vl s[4] = {{0}, {0}, {0}, {0}};
        for (int y = 0; y < OH; y++) {
            const float *r = g + (((size_t)oc * Hg + y0 + y) * Wg + x0) * L;
            int x = 0;
            for (; x + 4 <= OW; x += 4)
                for (int k = 0; k < 4; k++)
                    s[k] += loadl(r + (size_t)(x + k) * L);
            for (; x < OW; x++)
                s[x % 4] += loadl(r + (size_t)x * L);
        }
        float *dst = dbl + (size_t)oc * L;
        storel(dst, loadl(dst) + ((s[0] + s[1]) + (s[2] + s[3])));
    }
}

void FN(nt_conv_lanes_backward)(float *din, int overwrite, float *dwl, int bias,
                                const float *dout, const float *in,
                                const float *w, const nt_conv2d_dims *d, int n,
                                int fresh, float *buf)
{
    const geom g = geometry(d);
    to_lanes(buf + g.inp, in, n, d->C, d->H, d->W, g.Hp, g.Wp, d->PH, d->PW, fresh);
    to_lanes(buf + g.dp, dout, n, d->OC, d->OH, d->OW, g.Hd, g.Wd, d->KH - 1, d->KW - 1,
             fresh);
    if (bias)
        bias_sums(dwl + (size_t)d->OC * d->C * d->KH * d->KW * L, buf + g.dp, d->OC, d->OH,
                  d->OW, g.Hd, g.Wd, d->KH - 1, d->KW - 1);
    const dwc c = {dwl, buf + g.dp, buf + g.inp, d->OC, d->C, d->KH, d->KW, d->OH, d->OW,
                   g.Hd, g.Wd, d->KH - 1, d->KW - 1, g.Hp, g.Wp};
    run_dw(g.dw, &c);
    if (!din)
        return;
    float *zero = buf + g.bias;
    if (fresh) { /* the call's flipped weights: the same for all its blocks */
        block_weights(buf + g.wb, w, d->C, g.Cp, g.bwd.a, d->OC, d->KH, d->KW, 1);
        for (int o = 0; o < g.Cp; o++)
            zero[o] = 0.0f;
    }
    const corr t = {buf + g.outt, buf + g.dp, buf + g.wb, zero,
                    g.Cp, d->H, g.Wq, d->OC, g.Hd, g.Wd, d->PH, d->PW,
                    d->KH - 1, d->KH - 1 + d->OH, d->KH, d->KW};
    run_corr(g.bwd, &t);
    from_lanes(din, buf + g.outt, n, d->C, d->H, d->W, g.Wq, !overwrite);
}
