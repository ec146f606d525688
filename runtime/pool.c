/* pool.c - max pooling (with argmax for backward; floor or ceil mode),
 * average pooling (count_include_pad = true, floor mode), global and
 * adaptive average pooling and adaptive max pooling, forward and backward,
 * PyTorch semantics; plus the plain reference loops of the windowed
 * forwards. No dilation.
 *
 * Every kernel is parallel over the N*C planes, which are independent, so
 * results do not depend on the thread count. */
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>

/* Below this many window reads a parallel region costs more than it saves. */
#define PAR_MIN_WORK 32768.0

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* PyTorch's output size; in ceil mode the last window must start inside
 * the input or its left padding */
static int out_size(int in, int k, int s, int p, int ceil_mode)
{
    int span = in + 2 * p - k;
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p)
        o--;
    return o;
}

static void check_dims(const nt_pool2d_dims *d)
{
    assert(d->N >= 0 && d->C > 0 && d->H > 0 && d->W > 0);
    assert(d->KH > 0 && d->KW > 0 && d->SH > 0 && d->SW > 0);
    /* PyTorch's limit; it also keeps every window partly inside the input */
    assert(d->PH >= 0 && 2 * d->PH <= d->KH && d->PW >= 0 && 2 * d->PW <= d->KW);
    assert(d->H + 2 * d->PH >= d->KH && d->W + 2 * d->PW >= d->KW);
    assert(d->OH == out_size(d->H, d->KH, d->SH, d->PH, d->ceil_mode));
    assert(d->OW == out_size(d->W, d->KW, d->SW, d->PW, d->ceil_mode));
    (void)d;
    (void)out_size;
}

static int use_team(const nt_pool2d_dims *d)
{
    double work = (double)d->N * d->C * d->OH * d->OW * d->KH * d->KW;
    return work >= PAR_MIN_WORK && nt_num_threads() > 1;
}

/* ---- one window ----------------------------------------------------------- */

/* The maximum of rows [ha, hb) x columns [wa, wb) of a plane W wide and its
 * index h * W + w: strict > keeps the first maximum; NaN wins, as in
 * PyTorch. */
static float window_max(const float *x, int W, int ha, int hb, int wa, int wb, int32_t *at)
{
    int best_i = ha * W + wa;
    float best = x[best_i];
    for (int h = ha; h < hb; h++)
        for (int w = wa; w < wb; w++) {
            float v = x[h * W + w];
            if (v > best || isnan(v)) {
                best = v;
                best_i = h * W + w;
            }
        }
    *at = best_i;
    return best;
}

static float window_sum(const float *x, int W, int ha, int hb, int wa, int wb)
{
    float sum = 0.0f;
    for (int h = ha; h < hb; h++)
        for (int w = wa; w < wb; w++)
            sum += x[h * W + w];
    return sum;
}

static void window_add(float *dx, int W, int ha, int hb, int wa, int wb, float v)
{
    for (int h = ha; h < hb; h++)
        for (int w = wa; w < wb; w++)
            dx[h * W + w] += v;
}

/* ---- max pooling ------------------------------------------------------- */

void nt_maxpool2d_forward(float *out, int32_t *argmax, const float *in,
                          const nt_pool2d_dims *d)
{
    check_dims(d);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        float *o = out + q * osz;
        int32_t *a = argmax + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int h0 = oh * d->SH - d->PH;
            int ha = max_int(h0, 0), hb = min_int(h0 + d->KH, d->H);
            for (int ow = 0; ow < d->OW; ow++) {
                int w0 = ow * d->SW - d->PW;
                int wa = max_int(w0, 0), wb = min_int(w0 + d->KW, d->W);
                o[oh * d->OW + ow] = window_max(x, d->W, ha, hb, wa, wb, &a[oh * d->OW + ow]);
            }
        }
    }
}

/* din[argmax] += dout, plane by plane */
static void scatter_argmax(float *din, const float *dout, const int32_t *argmax, int planes,
                           size_t isz, size_t osz, int team)
{
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (team)
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        const int32_t *a = argmax + q * osz;
        for (size_t j = 0; j < osz; j++) {
            assert(a[j] >= 0 && (size_t)a[j] < isz);
            dx[a[j]] += g[j];
        }
    }
}

void nt_maxpool2d_backward(float *din, const float *dout,
                           const int32_t *argmax, const nt_pool2d_dims *d)
{
    check_dims(d);
    scatter_argmax(din, dout, argmax, d->N * d->C, (size_t)d->H * d->W, (size_t)d->OH * d->OW,
                   use_team(d));
}

void nt_maxpool2d_forward_ref(float *out, int32_t *argmax, const float *in,
                              const nt_pool2d_dims *d)
{
    check_dims(d);
    for (int n = 0; n < d->N; n++)
        for (int c = 0; c < d->C; c++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    const float *x = in + ((size_t)n * d->C + c) * d->H * d->W;
                    float best = -INFINITY;
                    int best_i = -1;
                    for (int kh = 0; kh < d->KH; kh++)
                        for (int kw = 0; kw < d->KW; kw++) {
                            int h = oh * d->SH - d->PH + kh;
                            int w = ow * d->SW - d->PW + kw;
                            if (h < 0 || h >= d->H || w < 0 || w >= d->W)
                                continue; /* padding is -inf: never chosen */
                            float v = x[h * d->W + w];
                            if (best_i < 0 || v > best || isnan(v)) {
                                best = v;
                                best_i = h * d->W + w;
                            }
                        }
                    size_t o = (((size_t)n * d->C + c) * d->OH + oh) * d->OW + ow;
                    out[o] = best;
                    argmax[o] = best_i;
                }
}

/* ---- average pooling --------------------------------------------------- */

void nt_avgpool2d_forward(float *out, const float *in, const nt_pool2d_dims *d)
{
    check_dims(d);
    assert(!d->ceil_mode);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
    float area = (float)(d->KH * d->KW); /* divided by, as PyTorch does */
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        float *o = out + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int h0 = oh * d->SH - d->PH;
            int ha = max_int(h0, 0), hb = min_int(h0 + d->KH, d->H);
            for (int ow = 0; ow < d->OW; ow++) {
                int w0 = ow * d->SW - d->PW;
                int wa = max_int(w0, 0), wb = min_int(w0 + d->KW, d->W);
                o[oh * d->OW + ow] = window_sum(x, d->W, ha, hb, wa, wb) / area;
            }
        }
    }
}

void nt_avgpool2d_backward(float *din, const float *dout,
                           const nt_pool2d_dims *d)
{
    check_dims(d);
    assert(!d->ceil_mode);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
    float area = (float)(d->KH * d->KW); /* divided by, as PyTorch does */
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int h0 = oh * d->SH - d->PH;
            int ha = max_int(h0, 0), hb = min_int(h0 + d->KH, d->H);
            for (int ow = 0; ow < d->OW; ow++) {
                int w0 = ow * d->SW - d->PW;
                int wa = max_int(w0, 0), wb = min_int(w0 + d->KW, d->W);
                window_add(dx, d->W, ha, hb, wa, wb, g[oh * d->OW + ow] / area);
            }
        }
    }
}

void nt_avgpool2d_forward_ref(float *out, const float *in,
                              const nt_pool2d_dims *d)
{
    check_dims(d);
    for (int n = 0; n < d->N; n++)
        for (int c = 0; c < d->C; c++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    const float *x = in + ((size_t)n * d->C + c) * d->H * d->W;
                    float sum = 0.0f;
                    for (int kh = 0; kh < d->KH; kh++)
                        for (int kw = 0; kw < d->KW; kw++) {
                            int h = oh * d->SH - d->PH + kh;
                            int w = ow * d->SW - d->PW + kw;
                            if (h >= 0 && h < d->H && w >= 0 && w < d->W)
                                sum += x[h * d->W + w];
                        }
                    size_t o = (((size_t)n * d->C + c) * d->OH + oh) * d->OW + ow;
                    out[o] = sum / (float)(d->KH * d->KW);
                }
}

/* ---- global average pooling -------------------------------------------- */

void nt_global_avgpool_forward(float *out, const float *in, int N, int C,
                               int HW)
{
    assert(N >= 0 && C > 0 && HW > 0);
    int planes = N * C;
    int team = (double)planes * HW >= PAR_MIN_WORK && nt_num_threads() > 1;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (team)
    for (int q = 0; q < planes; q++) {
        const float *x = in + (size_t)q * HW;
        float sum = 0.0f;
        for (int i = 0; i < HW; i++)
            sum += x[i];
        out[q] = sum / (float)HW;
    }
}

void nt_global_avgpool_backward(float *din, const float *dout, int N, int C,
                                int HW)
{
    assert(N >= 0 && C > 0 && HW > 0);
    int planes = N * C;
    int team = (double)planes * HW >= PAR_MIN_WORK && nt_num_threads() > 1;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (team)
    for (int q = 0; q < planes; q++) {
        float *dx = din + (size_t)q * HW;
        float v = dout[q] / (float)HW;
        for (int i = 0; i < HW; i++)
            dx[i] += v;
    }
}

/* ---- adaptive pooling ---------------------------------------------------- */

/* PyTorch's windows: [floor(i*in/out), ceil((i+1)*in/out)) */
static int win_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
static int win_end(int i, int in, int out)
{
    return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

static int adaptive_team(const nt_adaptive_pool2d_dims *d)
{
    double work = (double)d->N * d->C * d->H * d->W;
    return work >= PAR_MIN_WORK && nt_num_threads() > 1;
}

static void check_adaptive(const nt_adaptive_pool2d_dims *d)
{
    assert(d->N >= 0 && d->C > 0 && d->H > 0 && d->W > 0 && d->OH > 0 && d->OW > 0);
    (void)d;
}

void nt_adaptive_avgpool2d_forward(float *out, const float *in,
                                   const nt_adaptive_pool2d_dims *d)
{
    check_adaptive(d);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (adaptive_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        float *o = out + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int ha = win_start(oh, d->H, d->OH), hb = win_end(oh, d->H, d->OH);
            for (int ow = 0; ow < d->OW; ow++) {
                int wa = win_start(ow, d->W, d->OW), wb = win_end(ow, d->W, d->OW);
                o[oh * d->OW + ow] =
                    window_sum(x, d->W, ha, hb, wa, wb) / (float)((hb - ha) * (wb - wa));
            }
        }
    }
}

void nt_adaptive_avgpool2d_backward(float *din, const float *dout,
                                    const nt_adaptive_pool2d_dims *d)
{
    check_adaptive(d);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (adaptive_team(d))
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int ha = win_start(oh, d->H, d->OH), hb = win_end(oh, d->H, d->OH);
            for (int ow = 0; ow < d->OW; ow++) {
                int wa = win_start(ow, d->W, d->OW), wb = win_end(ow, d->W, d->OW);
                window_add(dx, d->W, ha, hb, wa, wb,
                           g[oh * d->OW + ow] / (float)((hb - ha) * (wb - wa)));
            }
        }
    }
}

void nt_adaptive_maxpool2d_forward(float *out, int32_t *argmax, const float *in,
                                   const nt_adaptive_pool2d_dims *d)
{
    check_adaptive(d);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (adaptive_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        float *o = out + q * osz;
        int32_t *a = argmax + q * osz;
        for (int oh = 0; oh < d->OH; oh++) {
            int ha = win_start(oh, d->H, d->OH), hb = win_end(oh, d->H, d->OH);
            for (int ow = 0; ow < d->OW; ow++) {
                int wa = win_start(ow, d->W, d->OW), wb = win_end(ow, d->W, d->OW);
                o[oh * d->OW + ow] = window_max(x, d->W, ha, hb, wa, wb, &a[oh * d->OW + ow]);
            }
        }
    }
}

void nt_adaptive_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                                    const nt_adaptive_pool2d_dims *d)
{
    check_adaptive(d);
    scatter_argmax(din, dout, argmax, d->N * d->C, (size_t)d->H * d->W, (size_t)d->OH * d->OW,
                   adaptive_team(d));
}
