/* conv_grouped.c - grouped and dilated 2-D convolution (nn.Conv2d with
 * groups and dilation), forward and backward, plus the plain reference
 * loops. The generated code calls these only for groups > 1 or dilation
 * > 1; ordinary convolutions stay in conv.c.
 *
 * Two paths:
 *   - depthwise (one input channel per group, C == G, as MobileNet's):
 *     direct loops over the planes, parallel over (example, channel) for
 *     forward and the input gradient, over output channels for the weight
 *     and bias gradients;
 *   - otherwise, per example and group: im2col of the group's C/G input
 *     channels with dilation into col[C/G*KH*KW, OH*OW] (the scratch), then
 *     nt_sgemm with the group's weights. Forward and the input gradient run
 *     in parallel over examples (each thread its own slice of the scratch);
 *     the weight gradient runs over examples in order, each GEMM split
 *     across the threads by nt_sgemm.
 * Every output element is summed in an order that does not depend on the
 * thread count. Must be called from outside any OpenMP parallel region. */
#include "nt_kernels.h"

#include <assert.h>
#include <omp.h>
#include <string.h>

typedef nt_conv2d_grouped_dims dims;

static void check_dims(const dims *d)
{
    assert(d->N >= 0 && d->C > 0 && d->OC > 0 && d->G > 0);
    assert(d->C % d->G == 0 && d->OC % d->G == 0);
    assert(d->KH > 0 && d->KW > 0 && d->SH > 0 && d->SW > 0 && d->DH > 0 && d->DW > 0);
    assert(d->OH == (d->H + 2 * d->PH - d->DH * (d->KH - 1) - 1) / d->SH + 1);
    assert(d->OW == (d->W + 2 * d->PW - d->DW * (d->KW - 1) - 1) / d->SW + 1);
    assert(d->OH > 0 && d->OW > 0);
    (void)d;
}

static int depthwise(const dims *d) { return d->C == d->G; }

/* rows of col: (c, kh, kw) of one group */
static size_t col_rows(const dims *d) { return (size_t)d->C / d->G * d->KH * d->KW; }

size_t nt_conv2d_grouped_scratch_floats(const dims *d, int nthreads)
{
    if (depthwise(d))
        return 0;
    return (size_t)(nthreads > 0 ? nthreads : 1) * col_rows(d) * d->OH * d->OW;
}

static int threads_for(const dims *d)
{
    double work = (double)d->N * d->OC * d->OH * d->OW * (d->C / d->G) * d->KH * d->KW;
    return work >= 65536.0 ? nt_num_threads() : 1;
}

/* ---- im2col with dilation ------------------------------------------------ */

/* x: the group's [C/G, H, W]; col [C/G*KH*KW, OH*OW] */
static void im2col(float *col, const float *x, const dims *d)
{
    const int cg = d->C / d->G, ohw = d->OH * d->OW;
    for (int c = 0; c < cg; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                float *row = col + ((size_t)(c * d->KH + kh) * d->KW + kw) * ohw;
                const float *plane = x + (size_t)c * d->H * d->W;
                for (int oh = 0; oh < d->OH; oh++) {
                    int h = oh * d->SH - d->PH + kh * d->DH;
                    for (int ow = 0; ow < d->OW; ow++) {
                        int w = ow * d->SW - d->PW + kw * d->DW;
                        int inside = h >= 0 && h < d->H && w >= 0 && w < d->W;
                        row[oh * d->OW + ow] = inside ? plane[h * d->W + w] : 0.0f;
                    }
                }
            }
}

/* dx += col scattered back (the transpose of im2col) */
static void col2im(float *dx, const float *col, const dims *d)
{
    const int cg = d->C / d->G, ohw = d->OH * d->OW;
    for (int c = 0; c < cg; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *row = col + ((size_t)(c * d->KH + kh) * d->KW + kw) * ohw;
                float *plane = dx + (size_t)c * d->H * d->W;
                for (int oh = 0; oh < d->OH; oh++) {
                    int h = oh * d->SH - d->PH + kh * d->DH;
                    if (h < 0 || h >= d->H)
                        continue;
                    for (int ow = 0; ow < d->OW; ow++) {
                        int w = ow * d->SW - d->PW + kw * d->DW;
                        if (w >= 0 && w < d->W)
                            plane[h * d->W + w] += row[oh * d->OW + ow];
                    }
                }
            }
}

/* ---- depthwise: direct loops --------------------------------------------- */

/* output channel oc reads input channel oc / (OC / C) */
static void dw_forward(float *out, const float *in, const float *w, const float *b,
                       const dims *d)
{
    const int mult = d->OC / d->C, planes = d->N * d->OC;
#pragma omp parallel for schedule(static) num_threads(threads_for(d))
    for (int q = 0; q < planes; q++) {
        const int n = q / d->OC, oc = q % d->OC;
        const float *x = in + ((size_t)n * d->C + oc / mult) * d->H * d->W;
        const float *k = w + (size_t)oc * d->KH * d->KW;
        float *y = out + (size_t)q * d->OH * d->OW;
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                float s = b ? b[oc] : 0.0f;
                for (int kh = 0; kh < d->KH; kh++) {
                    int h = oh * d->SH - d->PH + kh * d->DH;
                    if (h < 0 || h >= d->H)
                        continue;
                    for (int kw = 0; kw < d->KW; kw++) {
                        int iw = ow * d->SW - d->PW + kw * d->DW;
                        if (iw >= 0 && iw < d->W)
                            s += k[kh * d->KW + kw] * x[h * d->W + iw];
                    }
                }
                y[oh * d->OW + ow] = s;
            }
    }
}

static void dw_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const dims *d)
{
    const int mult = d->OC / d->C, nth = threads_for(d);
    const size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int oc = 0; oc < d->OC; oc++) { /* weights and bias: over the batch */
        float *gk = dw + (size_t)oc * d->KH * d->KW;
        double sb = 0;
        for (int n = 0; n < d->N; n++) {
            const float *x = in + ((size_t)n * d->C + oc / mult) * isz;
            const float *g = dout + ((size_t)n * d->OC + oc) * osz;
            for (size_t j = 0; j < osz; j++)
                sb += g[j];
            for (int kh = 0; kh < d->KH; kh++)
                for (int kw = 0; kw < d->KW; kw++) {
                    float s = 0.0f;
                    for (int oh = 0; oh < d->OH; oh++) {
                        int h = oh * d->SH - d->PH + kh * d->DH;
                        if (h < 0 || h >= d->H)
                            continue;
                        for (int ow = 0; ow < d->OW; ow++) {
                            int iw = ow * d->SW - d->PW + kw * d->DW;
                            if (iw >= 0 && iw < d->W)
                                s += g[oh * d->OW + ow] * x[h * d->W + iw];
                        }
                    }
                    gk[kh * d->KW + kw] += s;
                }
        }
        if (db)
            db[oc] += (float)sb;
    }
    if (!din)
        return;
    const int planes = d->N * d->C;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int q = 0; q < planes; q++) { /* input gradient: each plane from its outputs */
        const int n = q / d->C, c = q % d->C;
        float *dx = din + (size_t)q * isz;
        for (int oc = c * mult; oc < (c + 1) * mult; oc++) {
            const float *k = w + (size_t)oc * d->KH * d->KW;
            const float *g = dout + ((size_t)n * d->OC + oc) * osz;
            for (int oh = 0; oh < d->OH; oh++)
                for (int kh = 0; kh < d->KH; kh++) {
                    int h = oh * d->SH - d->PH + kh * d->DH;
                    if (h < 0 || h >= d->H)
                        continue;
                    for (int ow = 0; ow < d->OW; ow++)
                        for (int kw = 0; kw < d->KW; kw++) {
                            int iw = ow * d->SW - d->PW + kw * d->DW;
                            if (iw >= 0 && iw < d->W)
                                dx[h * d->W + iw] += k[kh * d->KW + kw] * g[oh * d->OW + ow];
                        }
                }
        }
    }
}

/* ---- the entry points ------------------------------------------------------ */

void nt_conv2d_grouped_forward(float *out, const float *in, const float *w, const float *b,
                               const dims *d, float *scratch)
{
    check_dims(d);
    if (depthwise(d)) {
        dw_forward(out, in, w, b, d);
        return;
    }
    const int cg = d->C / d->G, ocg = d->OC / d->G, ohw = d->OH * d->OW;
    const int K = (int)col_rows(d);
    const size_t per_thread = (size_t)K * ohw;
#pragma omp parallel for schedule(static) num_threads(threads_for(d))
    for (int n = 0; n < d->N; n++) {
        float *col = scratch + (size_t)omp_get_thread_num() * per_thread;
        for (int g = 0; g < d->G; g++) {
            float *y = out + ((size_t)n * d->OC + (size_t)g * ocg) * ohw;
            im2col(col, in + ((size_t)n * d->C + (size_t)g * cg) * d->H * d->W, d);
            nt_sgemm(0, 0, ocg, ohw, K, 1.0f, w + (size_t)g * ocg * K, K, col, ohw, 0.0f, y,
                     ohw);
            if (b)
                for (int o = 0; o < ocg; o++)
                    for (int j = 0; j < ohw; j++)
                        y[(size_t)o * ohw + j] += b[g * ocg + o];
        }
    }
}

void nt_conv2d_grouped_backward(float *din, float *dw, float *db, const float *dout,
                                const float *in, const float *w, const dims *d, float *scratch)
{
    check_dims(d);
    if (depthwise(d)) {
        dw_backward(din, dw, db, dout, in, w, d);
        return;
    }
    const int cg = d->C / d->G, ocg = d->OC / d->G, ohw = d->OH * d->OW;
    const int K = (int)col_rows(d);
    const size_t per_thread = (size_t)K * ohw;
    if (db) {
#pragma omp parallel for schedule(static) num_threads(threads_for(d))
        for (int oc = 0; oc < d->OC; oc++) {
            double s = 0;
            for (int n = 0; n < d->N; n++)
                for (int j = 0; j < ohw; j++)
                    s += dout[((size_t)n * d->OC + oc) * ohw + j];
            db[oc] += (float)s;
        }
    }
    /* weights: examples in order, each GEMM split across the threads */
    for (int n = 0; n < d->N; n++)
        for (int g = 0; g < d->G; g++) {
            im2col(scratch, in + ((size_t)n * d->C + (size_t)g * cg) * d->H * d->W, d);
            nt_sgemm(0, 1, ocg, K, ohw, 1.0f, dout + ((size_t)n * d->OC + (size_t)g * ocg) * ohw,
                     ohw, scratch, ohw, 1.0f, dw + (size_t)g * ocg * K, K);
        }
    if (!din)
        return;
#pragma omp parallel for schedule(static) num_threads(threads_for(d))
    for (int n = 0; n < d->N; n++) {
        float *col = scratch + (size_t)omp_get_thread_num() * per_thread;
        for (int g = 0; g < d->G; g++) {
            nt_sgemm(1, 0, K, ohw, ocg, 1.0f, w + (size_t)g * ocg * K, K,
                     dout + ((size_t)n * d->OC + (size_t)g * ocg) * ohw, ohw, 0.0f, col, ohw);
            col2im(din + ((size_t)n * d->C + (size_t)g * cg) * d->H * d->W, col, d);
        }
    }
}

/* The first writer of din's buffer: zero it, then add. */
void nt_conv2d_grouped_backward_overwrite(float *din, float *dw, float *db, const float *dout,
                                          const float *in, const float *w, const dims *d,
                                          float *scratch)
{
    if (din)
        memset(din, 0, sizeof(float) * (size_t)d->N * d->C * d->H * d->W);
    nt_conv2d_grouped_backward(din, dw, db, dout, in, w, d, scratch);
}

/* ---- reference loops ---------------------------------------------------------- */

void nt_conv2d_grouped_forward_ref(float *out, const float *in, const float *w, const float *b,
                                   const dims *d)
{
    check_dims(d);
    const int cg = d->C / d->G, ocg = d->OC / d->G;
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    double s = b ? b[oc] : 0.0;
                    for (int c = 0; c < cg; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int h = oh * d->SH - d->PH + kh * d->DH;
                                int iw = ow * d->SW - d->PW + kw * d->DW;
                                if (h < 0 || h >= d->H || iw < 0 || iw >= d->W)
                                    continue;
                                int ic = oc / ocg * cg + c;
                                s += (double)w[((size_t)(oc * cg + c) * d->KH + kh) * d->KW + kw] *
                                     in[(((size_t)n * d->C + ic) * d->H + h) * d->W + iw];
                            }
                    out[(((size_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow] = (float)s;
                }
}

void nt_conv2d_grouped_backward_ref(float *din, float *dw, float *db, const float *dout,
                                    const float *in, const float *w, const dims *d)
{
    check_dims(d);
    const int cg = d->C / d->G, ocg = d->OC / d->G;
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    float g = dout[(((size_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow];
                    if (db)
                        db[oc] += g;
                    for (int c = 0; c < cg; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int h = oh * d->SH - d->PH + kh * d->DH;
                                int iw = ow * d->SW - d->PW + kw * d->DW;
                                if (h < 0 || h >= d->H || iw < 0 || iw >= d->W)
                                    continue;
                                int ic = oc / ocg * cg + c;
                                size_t wi = ((size_t)(oc * cg + c) * d->KH + kh) * d->KW + kw;
                                size_t xi = (((size_t)n * d->C + ic) * d->H + h) * d->W + iw;
                                dw[wi] += g * in[xi];
                                if (din)
                                    din[xi] += g * w[wi];
                            }
                }
}
