/* conv_direct.c - direct convolution of one image, forward and backward, for
 * layers with few channels and small images (LeNet's), where im2col costs
 * more than the arithmetic. conv.c decides when (nt_conv_direct_fits) and
 * does the threads; the plain reference loops are conv.c's.
 *
 * The loops run along output (or input) rows in vectors of 16 lanes (GCC's
 * vector extension: one zmm, two ymm or four xmm), over zero-padded copies
 * of the image so that rows need no remainder loops. This one source is
 * compiled once per ISA (conv_direct_ISA.c with meson's -m flags), and
 * conv.c calls the copy of nt_cpu_isa(). Each output or gradient element is
 * one chain of multiply-adds in a fixed order: results depend on the ISA,
 * not on the thread count. */
#include "conv_direct.h"

#include <string.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, NT_ISA_SUFFIX)

static int round16(int x) { return (x + 15) / 16 * 16; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* The padded planes of one image. */
typedef struct direct_geom {
    int Hp, Wp;  /* input plane with the conv's padding, wide enough for a
                    16-lane row of output: [C, Hp, Wp] */
    int OWv, Wv; /* output and input widths rounded up to 16 */
    int Hd, Wd;  /* output gradient with KH-1 / KW-1 rows and columns of
                    zeros before it, for the input gradient: [OC, Hd, Wd] */
} direct_geom;

static direct_geom geom(const nt_conv2d_dims *d)
{
    direct_geom g;
    g.OWv = round16(d->OW);
    g.Wv = round16(d->W);
    g.Hp = d->H + 2 * d->PH;
    g.Wp = max_int(d->W + 2 * d->PW, g.OWv + d->KW - 1);
    g.Hd = max_int(d->H + d->PH + d->KH - 1, d->H + 2 * d->PH);
    g.Wd = max_int(max_int(g.Wv + d->PW + d->KW - 1, d->W + 2 * d->PW),
                   d->KW - 1 + g.OWv);
    return g;
}

size_t FN(nt_conv_direct_buf_floats)(const nt_conv2d_dims *d)
{
    direct_geom g = geom(d);
    return (size_t)d->C * g.Hp * g.Wp + (size_t)d->OC * g.Hd * g.Wd;
}

/* pin[c, y, x] = in[c, y - PH, x - PW], zero outside. */
static void pad_input(float *pin, const float *in, const nt_conv2d_dims *d,
                      const direct_geom *g)
{
    memset(pin, 0, sizeof(float) * (size_t)d->C * g->Hp * g->Wp);
    for (int c = 0; c < d->C; c++)
        for (int h = 0; h < d->H; h++)
            memcpy(pin + ((size_t)c * g->Hp + h + d->PH) * g->Wp + d->PW,
                   in + ((size_t)c * d->H + h) * d->W, sizeof(float) * d->W);
}

/* Sixteen lanes: one zmm, two ymm or four xmm, as the ISA has. */
typedef float v16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void store16(float *p, v16 v)
{
    memcpy(p, &v, sizeof v);
}

/* The loops below are written for NV vectors of 16 lanes per row; NV is a
 * constant in each copy that nt_conv_direct_* selects, so the accumulators
 * stay in registers. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE void forward_nv(int NV, float *out, const float *pin,
                                     const float *w, const float *b,
                                     const nt_conv2d_dims *d,
                                     const direct_geom *g)
{
    for (int oc = 0; oc < d->OC; oc++)
        for (int oh = 0; oh < d->OH; oh++) {
            v16 acc[4];
            float bias = b ? b[oc] : 0.0f;
            for (int v = 0; v < NV; v++)
                acc[v] = (v16){0} + bias;
            for (int c = 0; c < d->C; c++)
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *row = pin + ((size_t)c * g->Hp + oh + kh) * g->Wp;
                    const float *wk = w + (((size_t)oc * d->C + c) * d->KH + kh) * d->KW;
                    for (int kw = 0; kw < d->KW; kw++) {
                        float wv = wk[kw];
                        for (int v = 0; v < NV; v++)
                            acc[v] += wv * load16(row + kw + 16 * v);
                    }
                }
            float tmp[64];
            for (int v = 0; v < NV; v++)
                store16(tmp + 16 * v, acc[v]);
            memcpy(out + ((size_t)oc * d->OH + oh) * d->OW, tmp,
                   sizeof(float) * d->OW);
        }
}

void FN(nt_conv_direct_forward)(float *out, const float *in, const float *w,
                                const float *b, const nt_conv2d_dims *d,
                                float *buf)
{
    direct_geom g = geom(d);
    float *pin = buf;
    pad_input(pin, in, d, &g);
    switch (g.OWv / 16) {
    case 1: forward_nv(1, out, pin, w, b, d, &g); break;
    case 2: forward_nv(2, out, pin, w, b, d, &g); break;
    case 3: forward_nv(3, out, pin, w, b, d, &g); break;
    default: forward_nv(4, out, pin, w, b, d, &g); break;
    }
}

/* dw[oc, c, kh, kw] += sum over oh, ow of dout[oc, oh, ow] *
 * pin[c, oh + kh, ow + kw]: 16-lane partial sums along the rows, then the
 * lanes added in order. dp: dout with its zero margins. */
static ALWAYS_INLINE void dweight_nv(int NV, float *dw, const float *dp,
                                     const float *pin,
                                     const nt_conv2d_dims *d,
                                     const direct_geom *g)
{
    int top = d->KH - 1, left = d->KW - 1;
    for (int oc = 0; oc < d->OC; oc++)
        for (int c = 0; c < d->C; c++)
            for (int kh = 0; kh < d->KH; kh++)
                for (int kw = 0; kw < d->KW; kw++) {
                    v16 acc[4];
                    for (int v = 0; v < NV; v++)
                        acc[v] = (v16){0};
                    for (int oh = 0; oh < d->OH; oh++) {
                        const float *gr = dp + ((size_t)oc * g->Hd + top + oh) * g->Wd + left;
                        const float *r = pin + ((size_t)c * g->Hp + oh + kh) * g->Wp + kw;
                        for (int v = 0; v < NV; v++)
                            acc[v] += load16(gr + 16 * v) * load16(r + 16 * v);
                    }
                    for (int v = 1; v < NV; v++)
                        acc[0] += acc[v];
                    float s = 0.0f;
                    for (int x = 0; x < 16; x++)
                        s += acc[0][x];
                    dw[(((size_t)oc * d->C + c) * d->KH + kh) * d->KW + kw] += s;
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
        for (int ih = 0; ih < d->H; ih++) {
            v16 acc[4];
            for (int v = 0; v < NV; v++)
                acc[v] = (v16){0};
            for (int oc = 0; oc < d->OC; oc++)
                for (int kh = 0; kh < d->KH; kh++) {
                    const float *row = dp + ((size_t)oc * g->Hd + ih + d->PH - kh + top) * g->Wd + d->PW + left;
                    const float *wk = w + (((size_t)oc * d->C + c) * d->KH + kh) * d->KW;
                    for (int kw = 0; kw < d->KW; kw++) {
                        float wv = wk[kw];
                        for (int v = 0; v < NV; v++)
                            acc[v] += wv * load16(row - kw + 16 * v);
                    }
                }
            float *o = din + ((size_t)c * d->H + ih) * d->W;
            for (int x = 0; x < d->W; x++)
                o[x] += acc[x / 16][x % 16];
        }
}

void FN(nt_conv_direct_backward)(float *din, float *dw, const float *dout,
                                 const float *in, const float *w,
                                 const nt_conv2d_dims *d, float *buf)
{
    direct_geom g = geom(d);
    float *pin = buf;
    float *dp = pin + (size_t)d->C * g.Hp * g.Wp;
    int top = d->KH - 1, left = d->KW - 1;
    pad_input(pin, in, d, &g);
    /* dp[oc, top + oh, left + ow] = dout[oc, oh, ow], zero elsewhere */
    memset(dp, 0, sizeof(float) * (size_t)d->OC * g.Hd * g.Wd);
    for (int oc = 0; oc < d->OC; oc++)
        for (int oh = 0; oh < d->OH; oh++)
            memcpy(dp + ((size_t)oc * g.Hd + top + oh) * g.Wd + left,
                   dout + ((size_t)oc * d->OH + oh) * d->OW,
                   sizeof(float) * d->OW);
    switch (g.OWv / 16) {
    case 1: dweight_nv(1, dw, dp, pin, d, &g); break;
    case 2: dweight_nv(2, dw, dp, pin, d, &g); break;
    case 3: dweight_nv(3, dw, dp, pin, d, &g); break;
    default: dweight_nv(4, dw, dp, pin, d, &g); break;
    }
    if (!din)
        return;
    switch (g.Wv / 16) {
    case 1: dinput_nv(1, din, dp, w, d, &g); break;
    case 2: dinput_nv(2, din, dp, w, d, &g); break;
    case 3: dinput_nv(3, din, dp, w, d, &g); break;
    default: dinput_nv(4, din, dp, w, d, &g); break;
    }
}
