/* pool.c - max pooling (with argmax for backward; floor or ceil mode),
 * average pooling (count_include_pad = true, floor mode), global and
 * adaptive average pooling and adaptive max pooling, forward and backward,
 * PyTorch semantics; plus the plain reference loops of the windowed
 * forwards. No dilation. Backward accumulates into din; each _overwrite
 * twin writes din instead (its old contents are never read), for the first
 * writer of a gradient buffer, which then needs no memset: tiled average
 * pooling (stride == window, no padding) writes each element once, the
 * others zero a plane while it is in cache and accumulate into it (a
 * vectorised one-write max pooling backward measured no faster than that
 * zeroing and scattering in cache).
 *
 * Every kernel is parallel over the N*C planes, which are independent, so
 * results do not depend on the thread count. */
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

/* ---- rows of windows ------------------------------------------------------ */

/* The windowed forwards go one output row at a time. Output columns
 * [*ja, *jb) have their whole window inside the input horizontally; the
 * vectorisable row loops below do those, visiting each window's elements
 * in the row-major order of window_max and window_sum, so that the results
 * are the same bit for bit. The columns at the edges (padding) go through
 * the one-window functions. */
static void inner_cols(const nt_pool2d_dims *d, int *ja, int *jb)
{
    int a = (d->PW + d->SW - 1) / d->SW;        /* the first ow with ow*SW - PW >= 0 */
    int b = (d->W + d->PW - d->KW) / d->SW + 1; /* past the last with ow*SW - PW + KW <= W */
    *ja = min_int(a, d->OW);
    *jb = max_int(*ja, min_int(b, d->OW));
}

/* The output columns outside [ja, jb), in order: from edge_next(-1, ...). */
static int edge_next(int ow, int ja, int jb)
{
    ow++;
    return ow == ja ? jb : ow;
}

/* GCC unrolls and vectorises the row loops when the window's rows in the
 * input (NR), its width (KW) and the stride (SW) are constants: ROW_CASES
 * calls f with the common triples as literals, else with the variables. */
#define ROW_CASES(f, NR, KW, SW, ...)                    \
    do {                                                 \
        if ((NR) == 2 && (KW) == 2 && (SW) == 2)         \
            f(__VA_ARGS__, 2, 2, 2);                     \
        else if ((NR) == 3 && (KW) == 3 && (SW) == 2)    \
            f(__VA_ARGS__, 3, 3, 2);                     \
        else if ((NR) == 3 && (KW) == 3 && (SW) == 1)    \
            f(__VA_ARGS__, 3, 3, 1);                     \
        else if ((NR) == 3 && (KW) == 3 && (SW) == 3)    \
            f(__VA_ARGS__, 3, 3, 3);                     \
        else                                             \
            f(__VA_ARGS__, NR, KW, SW);                  \
    } while (0)

#define INLINE static inline __attribute__((always_inline))

/* o[j] and at[j], j < n: the maximum of rows [ha, ha + NR) x columns
 * [w0 + j*SW, w0 + j*SW + KW) of a plane W wide, as window_max: from -inf
 * with the first element's index, a later element wins if greater or NaN
 * (nothing is greater than a NaN: it stays). */
INLINE void max_row(float *restrict o, int32_t *restrict at, const float *restrict x, int W,
                    int ha, int w0, int n, int NR, int KW, int SW)
{
    const float *r = x + ha * W + w0;
    const int base = ha * W + w0;
    for (int j = 0; j < n; j++) {
        float best = -INFINITY;
        int32_t bi = base + j * SW;
        for (int h = 0; h < NR; h++)
            for (int kw = 0; kw < KW; kw++) {
                float v = r[h * W + j * SW + kw];
                int take = v > best || v != v;
                best = take ? v : best;
                bi = take ? base + h * W + j * SW + kw : bi;
            }
        o[j] = best;
        at[j] = bi;
    }
}

/* o[j] = the sum of the same window / area, as window_sum: from 0, row by
 * row, left to right. */
INLINE void avg_row(float *restrict o, const float *restrict x, int W, int ha, int w0, int n,
                    float area, int NR, int KW, int SW)
{
    const float *r = x + ha * W + w0;
    for (int j = 0; j < n; j++) {
        float s = 0.0f;
        for (int h = 0; h < NR; h++)
            for (int kw = 0; kw < KW; kw++)
                s += r[h * W + j * SW + kw];
        o[j] = s / area;
    }
}

/* Tiled windows (stride == window, no padding): every input element is in
 * at most one window, so backward writes it once. */
static int tiled(const nt_pool2d_dims *d)
{
    return d->SH == d->KH && d->SW == d->KW && d->PH == 0 && d->PW == 0 &&
           d->OH * d->KH <= d->H && d->OW * d->KW <= d->W; /* no partial (ceil) window */
}

/* The columns and rows of a plane that no tiled window covers: zeroed by an
 * overwriting backward. */
static void zero_uncovered(float *dx, const nt_pool2d_dims *d)
{
    for (int h = 0; h < d->OH * d->KH; h++)
        for (int w = d->OW * d->KW; w < d->W; w++)
            dx[h * d->W + w] = 0.0f;
    memset(dx + (size_t)d->OH * d->KH * d->W, 0,
           sizeof(float) * (size_t)(d->H - d->OH * d->KH) * d->W);
}

/* Row kh of the tiled windows of output row g, avg pooling: r[j*KW + kw]
 * (+)= g[j] / area, as window_add (memset then += when overwriting). */
INLINE void spread_row(float *restrict r, const float *restrict g, int n, float area, int acc,
                       int KW)
{
    for (int j = 0; j < n; j++) {
        float v = g[j] / area;
        for (int kw = 0; kw < KW; kw++)
            r[j * KW + kw] = (acc ? r[j * KW + kw] : 0.0f) + v;
    }
}

/* ---- small stride-1 planes, flattened ----------------------------------- */

/* Stride-1 max pooling of small planes (GoogLeNet's 3x3 pools beside its
 * inception branches, 24 pixels wide and less): rows of a few windows leave
 * the row loops above no vector to fill, so the plane goes whole. Its
 * padded copy (-inf around it) is read as one flat array, Wp = W + 2*PW
 * wide: flat output i = oh * Wp + ow takes the window starting at flat
 * input i; the lanes with ow >= OW compute windows that wrap around a row
 * and are dropped. Each window is visited in row-major order from -inf
 * with its first in-plane element's index, as max_row does (padding, -inf,
 * never wins), so the results are the same bit for bit. */
#define FLAT_MAX 4096 /* flat outputs and padded plane, floats */

static int flat_fits(const nt_pool2d_dims *d)
{
    const int Wp = d->W + 2 * d->PW, Hp = d->H + 2 * d->PH;
    return d->SH == 1 && d->SW == 1 && !d->ceil_mode && d->OH * Wp + 16 <= FLAT_MAX &&
           Hp * Wp + d->KW + 16 <= FLAT_MAX;
}

/* Per flat output: the input index of its window's top-left tap (possibly
 * in the padding), and of its first tap inside the plane. */
static void flat_index(int32_t *base, int32_t *first, const nt_pool2d_dims *d)
{
    const int Wp = d->W + 2 * d->PW, n = (d->OH * Wp + 15) / 16 * 16;
    for (int i = 0; i < n; i++) {
        const int oh = i / Wp, ow = i % Wp;
        base[i] = (oh - d->PH) * d->W + (ow - d->PW);
        first[i] = max_int(oh - d->PH, 0) * d->W + min_int(max_int(ow - d->PW, 0), d->W - 1);
    }
}

/* The padded copy of a plane for the vector max pools: n floats of -inf,
 * then the plane's rows, Wpad apart, after PH rows and PW columns. */
INLINE void pad_plane(float *pad, int n, int Wpad, const float *x, const nt_pool2d_dims *d)
{
    for (int i = 0; i < n; i++)
        pad[i] = -INFINITY;
    for (int h = 0; h < d->H; h++)
        memcpy(pad + (h + d->PH) * Wpad + d->PW, x + h * d->W, sizeof(float) * (size_t)d->W);
}

/* The flat outputs' rows without their wrapped lanes. */
INLINE void flat_unpack(float *o, int32_t *a, const float *best_v, const int32_t *best_i,
                        const nt_pool2d_dims *d)
{
    const int Wp = d->W + 2 * d->PW;
    for (int oh = 0; oh < d->OH; oh++) {
        memcpy(o + oh * d->OW, best_v + oh * Wp, sizeof(float) * (size_t)d->OW);
        memcpy(a + oh * d->OW, best_i + oh * Wp, sizeof(int32_t) * (size_t)d->OW);
    }
}

/* In 8 lanes (GCC's vectors, one ymm): the comparisons give lane masks the
 * selects use directly. Compiled for AVX2 and for AVX-512 (a 16-lane
 * version with mask registers measured 5-7% faster there, not worth a
 * second loop); the portable path keeps the row loops, since on SSE2 GCC
 * splits these comparisons into scalar ones (measured 8x slower). */
typedef float pv8 __attribute__((vector_size(32)));
typedef int32_t pv8i __attribute__((vector_size(32)));

INLINE void max_flat(float *o, int32_t *a, const float *x, const nt_pool2d_dims *d,
                     const int32_t *base, const int32_t *first)
{
    const int W = d->W, Wp = W + 2 * d->PW, n = d->OH * Wp;
    float pad[FLAT_MAX], best_v[FLAT_MAX];
    int32_t best_i[FLAT_MAX];
    pad_plane(pad, (d->H + 2 * d->PH) * Wp + d->KW + 16, Wp, x, d);
    for (int i = 0; i < n; i += 8) {
        pv8 best = (pv8){0} - INFINITY;
        pv8i at, b0;
        memcpy(&at, first + i, sizeof at);
        memcpy(&b0, base + i, sizeof b0);
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                pv8 v;
                memcpy(&v, pad + i + kh * Wp + kw, sizeof v);
                const pv8i take = (v > best) | (v != v);
                best = (pv8)(((pv8i)v & take) | ((pv8i)best & ~take));
                at = ((b0 + (kh * W + kw)) & take) | (at & ~take);
            }
        memcpy(best_v + i, &best, sizeof best);
        memcpy(best_i + i, &at, sizeof at);
    }
    flat_unpack(o, a, best_v, best_i, d);
}

typedef void (*max_flat_fn)(float *, int32_t *, const float *, const nt_pool2d_dims *,
                            const int32_t *, const int32_t *);

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void
max_flat_avx2(float *o, int32_t *a, const float *x, const nt_pool2d_dims *d,
              const int32_t *base, const int32_t *first)
{
    max_flat(o, a, x, d, base, first);
}

__attribute__((target("avx512f"))) static void
max_flat_avx512(float *o, int32_t *a, const float *x, const nt_pool2d_dims *d,
                const int32_t *base, const int32_t *first)
{
    max_flat(o, a, x, d, base, first);
}
#endif

/* Stride-2 columns on AVX-512 (the 3x3 stride-2 pools of AlexNet, NiN,
 * GoogLeNet and ResNet-18): a -inf padded copy of the plane, wide and deep
 * enough for every window of whole 16-lane groups of outputs, and per group
 * and tap one two-source permute of 32 consecutive inputs; each window in
 * row-major order from its first in-plane element, as max_row (the same
 * bits). NULL elsewhere, for rows of fewer than 8 outputs, or when the copy
 * would not fit. */
static int s2_pad_dims(int *Hpad, int *Wpad, const nt_pool2d_dims *d)
{
    const int OWv = (d->OW + 15) / 16 * 16;
    *Wpad = max_int(d->W + 2 * d->PW, 2 * OWv + d->KW);
    *Hpad = max_int(d->H + 2 * d->PH, (d->OH - 1) * d->SH + d->KH);
    /* rows of fewer than 8 outputs leave most lanes idle: the row loops
     * measured faster there */
    return d->SW == 2 && d->OW >= 8 && *Hpad * *Wpad <= FLAT_MAX && d->OH * OWv <= FLAT_MAX;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) static void
max_s2_avx512(float *o, int32_t *a, const float *x, const nt_pool2d_dims *d)
{
    int Hpad, Wpad;
    s2_pad_dims(&Hpad, &Wpad, d);
    const int W = d->W, OWv = (d->OW + 15) / 16 * 16;
    float pad[FLAT_MAX], best_v[FLAT_MAX];
    int32_t best_i[FLAT_MAX];
    pad_plane(pad, Hpad * Wpad, Wpad, x, d);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i even = _mm512_add_epi32(iota, iota);
    for (int oh = 0; oh < d->OH; oh++) {
        const int h0 = oh * d->SH - d->PH;
        for (int x0 = 0; x0 < d->OW; x0 += 16) {
            /* input column of each lane's window: 2 ow - PW */
            const __m512i w0 = _mm512_sub_epi32(_mm512_add_epi32(even, _mm512_set1_epi32(2 * x0)),
                                                _mm512_set1_epi32(d->PW));
            const __m512i b0 = _mm512_add_epi32(w0, _mm512_set1_epi32(h0 * W));
            const __m512i wa = _mm512_min_epi32(_mm512_max_epi32(w0, _mm512_setzero_si512()),
                                                _mm512_set1_epi32(W - 1));
            __m512i at = _mm512_add_epi32(wa, _mm512_set1_epi32(max_int(h0, 0) * W));
            __m512 best = _mm512_set1_ps(-INFINITY);
            for (int kh = 0; kh < d->KH; kh++) {
                const float *row = pad + (oh * d->SH + kh) * Wpad + 2 * x0;
                for (int kw = 0; kw < d->KW; kw++) {
                    const __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(row + kw), even,
                                                            _mm512_loadu_ps(row + kw + 16));
                    const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                                           _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                    best = _mm512_mask_mov_ps(best, take, v);
                    at = _mm512_mask_add_epi32(at, take, b0, _mm512_set1_epi32(kh * W + kw));
                }
            }
            /* whole vectors into rows OWv wide, then copied (masked
             * stores are slow on this CPU) */
            _mm512_storeu_ps(best_v + oh * OWv + x0, best);
            _mm512_storeu_si512(best_i + oh * OWv + x0, at);
        }
        memcpy(o + oh * d->OW, best_v + oh * OWv, sizeof(float) * (size_t)d->OW);
        memcpy(a + oh * d->OW, best_i + oh * OWv, sizeof(int32_t) * (size_t)d->OW);
    }
}
#endif

typedef void (*max_s2_fn)(float *, int32_t *, const float *, const nt_pool2d_dims *);

static max_s2_fn max_s2_get(const nt_pool2d_dims *d)
{
    int Hpad, Wpad;
    if (!s2_pad_dims(&Hpad, &Wpad, d))
        return NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (nt_cpu_isa() == NT_ISA_AVX512)
        return max_s2_avx512;
#endif
    return NULL;
}

static max_flat_fn max_flat_get(void)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (nt_cpu_isa()) {
    case NT_ISA_AVX512: return max_flat_avx512;
    case NT_ISA_AVX2: return max_flat_avx2;
    default: break;
    }
#endif
    return NULL;
}

/* ---- max pooling ------------------------------------------------------- */

void nt_maxpool2d_forward(float *out, int32_t *argmax, const float *in,
                          const nt_pool2d_dims *d)
{
    check_dims(d);
    int planes = d->N * d->C, ja, jb;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
    const max_flat_fn f = max_flat_get();
    if (f && flat_fits(d)) {
        int32_t base[FLAT_MAX], first[FLAT_MAX];
        flat_index(base, first, d);
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
        for (int q = 0; q < planes; q++)
            f(out + q * osz, argmax + q * osz, in + q * isz, d, base, first);
        return;
    }
    const max_s2_fn f2 = max_s2_get(d);
    if (f2) {
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
        for (int q = 0; q < planes; q++)
            f2(out + q * osz, argmax + q * osz, in + q * isz, d);
        return;
    }
    inner_cols(d, &ja, &jb);
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        for (int oh = 0; oh < d->OH; oh++) {
            float *o = out + q * osz + oh * d->OW;
            int32_t *a = argmax + q * osz + oh * d->OW;
            int h0 = oh * d->SH - d->PH;
            int ha = max_int(h0, 0), hb = min_int(h0 + d->KH, d->H);
            if (ja < jb)
                ROW_CASES(max_row, hb - ha, d->KW, d->SW, o + ja, a + ja, x, d->W, ha,
                          ja * d->SW - d->PW, jb - ja);
            for (int ow = edge_next(-1, ja, jb); ow < d->OW; ow = edge_next(ow, ja, jb)) {
                int w0 = ow * d->SW - d->PW;
                int wa = max_int(w0, 0), wb = min_int(w0 + d->KW, d->W);
                o[ow] = window_max(x, d->W, ha, hb, wa, wb, &a[ow]);
            }
        }
    }
}

/* din[argmax] (+)= dout, plane by plane (overwriting: each plane zeroed
 * first, while it is in cache) */
static void scatter_argmax(float *din, const float *dout, const int32_t *argmax, int planes,
                           size_t isz, size_t osz, int team, int acc, nt_act act,
                           const float *act_out)
{
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (team)
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        const int32_t *a = argmax + q * osz;
        if (!acc)
            memset(dx, 0, sizeof(float) * isz);
        for (size_t j = 0; j < osz; j++) {
            assert(a[j] >= 0 && (size_t)a[j] < isz);
            dx[a[j]] += g[j];
        }
        if (act)
            nt_act_grad_apply(act, dx, act_out + q * isz, isz);
    }
}

/* The activation backward fused into an overwriting backward (act, act_out). */
static void check_act(const nt_pool2d_dims *d, int acc)
{
    assert(d->act == NT_ACT_NONE || (!acc && d->act_out));
    (void)d;
    (void)acc;
}

static void maxpool_backward(float *din, const float *dout, const int32_t *argmax,
                             const nt_pool2d_dims *d, int acc)
{
    check_dims(d);
    check_act(d, acc);
    scatter_argmax(din, dout, argmax, d->N * d->C, (size_t)d->H * d->W, (size_t)d->OH * d->OW,
                   use_team(d), acc, d->act, d->act_out);
}

void nt_maxpool2d_backward(float *din, const float *dout,
                           const int32_t *argmax, const nt_pool2d_dims *d)
{
    maxpool_backward(din, dout, argmax, d, 1);
}

void nt_maxpool2d_backward_overwrite(float *din, const float *dout,
                                     const int32_t *argmax, const nt_pool2d_dims *d)
{
    maxpool_backward(din, dout, argmax, d, 0);
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
    int planes = d->N * d->C, ja, jb;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
    float area = (float)(d->KH * d->KW); /* divided by, as PyTorch does */
    inner_cols(d, &ja, &jb);
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        const float *x = in + q * isz;
        for (int oh = 0; oh < d->OH; oh++) {
            float *o = out + q * osz + oh * d->OW;
            int h0 = oh * d->SH - d->PH;
            int ha = max_int(h0, 0), hb = min_int(h0 + d->KH, d->H);
            if (ja < jb)
                ROW_CASES(avg_row, hb - ha, d->KW, d->SW, o + ja, x, d->W, ha,
                          ja * d->SW - d->PW, jb - ja, area);
            for (int ow = edge_next(-1, ja, jb); ow < d->OW; ow = edge_next(ow, ja, jb)) {
                int w0 = ow * d->SW - d->PW;
                int wa = max_int(w0, 0), wb = min_int(w0 + d->KW, d->W);
                o[ow] = window_sum(x, d->W, ha, hb, wa, wb) / area;
            }
        }
    }
}

/* One plane of tiled windows. */
static void spread_tiled(float *dx, const float *g, const nt_pool2d_dims *d, float area, int acc)
{
    for (int oh = 0; oh < d->OH; oh++)
        for (int kh = 0; kh < d->KH; kh++) {
            float *r = dx + (oh * d->KH + kh) * d->W;
            const float *gr = g + oh * d->OW;
            if (acc && d->KW == 2)
                spread_row(r, gr, d->OW, area, 1, 2);
            else if (acc)
                spread_row(r, gr, d->OW, area, 1, d->KW);
            else if (d->KW == 2)
                spread_row(r, gr, d->OW, area, 0, 2);
            else
                spread_row(r, gr, d->OW, area, 0, d->KW);
        }
    if (!acc)
        zero_uncovered(dx, d);
}

static void avgpool_backward(float *din, const float *dout, const nt_pool2d_dims *d, int acc)
{
    check_dims(d);
    check_act(d, acc);
    assert(!d->ceil_mode);
    int planes = d->N * d->C, tile = tiled(d);
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
    float area = (float)(d->KH * d->KW); /* divided by, as PyTorch does */
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (use_team(d))
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        if (tile) {
            spread_tiled(dx, g, d, area, acc);
        } else {
            if (!acc)
                memset(dx, 0, sizeof(float) * isz); /* while the plane is in cache */
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
        if (d->act)
            nt_act_grad_apply(d->act, dx, d->act_out + q * isz, isz);
    }
}

void nt_avgpool2d_backward(float *din, const float *dout, const nt_pool2d_dims *d)
{
    avgpool_backward(din, dout, d, 1);
}

void nt_avgpool2d_backward_overwrite(float *din, const float *dout, const nt_pool2d_dims *d)
{
    avgpool_backward(din, dout, d, 0);
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

/* dx (+)= dout / HW; overwriting: 0 + dout / HW, as memset then += */
static void global_avgpool_backward(float *din, const float *dout, int N, int C, int HW,
                                    int acc)
{
    assert(N >= 0 && C > 0 && HW > 0);
    int planes = N * C;
    int team = (double)planes * HW >= PAR_MIN_WORK && nt_num_threads() > 1;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (team)
    for (int q = 0; q < planes; q++) {
        float *dx = din + (size_t)q * HW;
        float v = dout[q] / (float)HW;
        for (int i = 0; i < HW; i++)
            dx[i] = (acc ? dx[i] : 0.0f) + v;
    }
}

void nt_global_avgpool_backward(float *din, const float *dout, int N, int C, int HW)
{
    global_avgpool_backward(din, dout, N, C, HW, 1);
}

void nt_global_avgpool_backward_overwrite(float *din, const float *dout, int N, int C, int HW)
{
    global_avgpool_backward(din, dout, N, C, HW, 0);
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

static void adaptive_avgpool2d_backward(float *din, const float *dout,
                                        const nt_adaptive_pool2d_dims *d, int acc)
{
    check_adaptive(d);
    int planes = d->N * d->C;
    size_t isz = (size_t)d->H * d->W, osz = (size_t)d->OH * d->OW;
#pragma omp parallel for schedule(static) num_threads(nt_num_threads()) if (adaptive_team(d))
    for (int q = 0; q < planes; q++) {
        float *dx = din + q * isz;
        const float *g = dout + q * osz;
        if (!acc)
            memset(dx, 0, sizeof(float) * isz); /* while the plane is in cache */
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

void nt_adaptive_avgpool2d_backward(float *din, const float *dout,
                                    const nt_adaptive_pool2d_dims *d)
{
    adaptive_avgpool2d_backward(din, dout, d, 1);
}

void nt_adaptive_avgpool2d_backward_overwrite(float *din, const float *dout,
                                              const nt_adaptive_pool2d_dims *d)
{
    adaptive_avgpool2d_backward(din, dout, d, 0);
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
                   adaptive_team(d), 1, NT_ACT_NONE, NULL);
}

void nt_adaptive_maxpool2d_backward_overwrite(float *din, const float *dout,
                                              const int32_t *argmax,
                                              const nt_adaptive_pool2d_dims *d)
{
    check_adaptive(d);
    scatter_argmax(din, dout, argmax, d->N * d->C, (size_t)d->H * d->W, (size_t)d->OH * d->OW,
                   adaptive_team(d), 0, NT_ACT_NONE, NULL);
}
