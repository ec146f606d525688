/* resize.c - bilinear resize of 8-bit grey images, bit-exact with
 * torchvision.transforms.Resize((oh, ow)) on a PIL 'L' image, i.e. Pillow's
 * bilinear resample (checked against Pillow 9.4 outputs in
 * tests/runtime/test_resize.c).
 *
 * The resample is separable and done in two passes, horizontal first; each
 * pass rounds to 8 bits. Along one axis, output index o covers the input
 * interval centred on c = (o + 0.5) * in / out; the tent filter is widened by
 * the scale when shrinking (antialiasing), the weights are normalised to sum
 * to one and then converted to fixed point with FRAC_BITS fractional bits,
 * and each output is the weighted sum plus one half, shifted down and clamped
 * to 0..255. Pillow skips the pass of an axis whose size does not change;
 * here that pass is computed anyway, and it is exactly the identity (weights
 * 1 and 0), so the results agree.
 *
 * No heap, so it can run inside the training loop and in parallel: the
 * weight tables live on the stack (O(ih + iw + oh + ow) words, sizes are
 * limited to NT_IDX_MAX_SIDE), and instead of a whole intermediate image a
 * small cache keeps the last input rows through the horizontal pass (a row
 * evicted and needed again is recomputed, with the same result). It does not
 * convert to float (nt_u8_to_float in idx.c does). */
#include "nt_data.h"

#include <assert.h>
#include <math.h>

/* 8 bits of pixel value and 2 of headroom in an int32, as in Pillow. */
#define FRAC_BITS 22
#define HALF (1 << (FRAC_BITS - 1))
/* Room for input rows after the horizontal pass. */
#define CACHE_BYTES 32768

/* Tables of one axis: output o reads count[o] inputs from first[o] on with
 * the fixed-point weights weights[o * stride + t]. */
typedef struct axis {
    int stride;
    int *first, *count;
    int32_t *weights;
} axis;

static double tent(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Largest number of taps an output can have: the filter's support radius is
 * 1 input pixel, times in/out when shrinking. */
static int max_taps(int in, int out)
{
    double scale = (double)in / out;
    return 2 * (int)ceil(scale > 1.0 ? scale : 1.0) + 1;
}

static void build_axis(const axis *a, int in, int out)
{
    double scale = (double)in / out;
    double widen = scale > 1.0 ? scale : 1.0;
    double support = widen; /* tent radius 1, widened when shrinking */
    double inv_widen = 1.0 / widen;
    for (int o = 0; o < out; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        double sum = 0.0;
        for (int i = lo; i < hi; i++)
            sum += tent((i - center + 0.5) * inv_widen);
        int32_t *w = a->weights + (size_t)o * a->stride;
        for (int i = lo; i < hi; i++) {
            double v = tent((i - center + 0.5) * inv_widen);
            if (sum != 0.0)
                v /= sum;
            /* the tent is never negative: round half up */
            w[i - lo] = (int32_t)(0.5 + v * (1 << FRAC_BITS));
        }
        a->first[o] = lo;
        a->count[o] = hi - lo;
    }
}

static uint8_t to_u8(int32_t acc)
{
    int32_t v = acc >> FRAC_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One row through the horizontal pass. */
static void resample_row(uint8_t *out, const axis *h, int ow,
                         const uint8_t *in)
{
    for (int o = 0; o < ow; o++) {
        const uint8_t *src = in + h->first[o];
        const int32_t *w = h->weights + (size_t)o * h->stride;
        int32_t acc = HALF;
        for (int t = 0; t < h->count[o]; t++)
            acc += src[t] * w[t];
        out[o] = to_u8(acc);
    }
}

void nt_resize_bilinear_u8(uint8_t *out, int oh, int ow, const uint8_t *in,
                           int ih, int iw)
{
    /* out: [oh, ow]; in: [ih, iw] */
    assert(oh >= 1 && ow >= 1 && ih >= 1 && iw >= 1);
    assert(oh <= NT_IDX_MAX_SIDE && ow <= NT_IDX_MAX_SIDE);
    assert(ih <= NT_IDX_MAX_SIDE && iw <= NT_IDX_MAX_SIDE);

    int kh = max_taps(iw, ow), kv = max_taps(ih, oh);
    int hfirst[ow], hcount[ow], vfirst[oh], vcount[oh];
    int32_t hweights[(size_t)ow * kh], vweights[(size_t)oh * kv];
    axis h = {kh, hfirst, hcount, hweights};
    axis v = {kv, vfirst, vcount, vweights};
    build_axis(&h, iw, ow);
    build_axis(&v, ih, oh);

    /* Input rows after the horizontal pass, kept in a small cache (row r in
     * slot r % slots) since consecutive output rows share most of them. */
    int slots = CACHE_BYTES / ow;
    slots = slots < 1 ? 1 : slots > kv ? kv : slots;
    uint8_t cache[(size_t)slots * ow];
    int cached[slots]; /* the input row in each slot, -1 if none */
    for (int i = 0; i < slots; i++)
        cached[i] = -1;

    int32_t acc[ow]; /* the vertical sums of one output row */
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++)
            acc[x] = HALF;
        const int32_t *w = v.weights + (size_t)y * v.stride;
        for (int t = 0; t < v.count[y]; t++) {
            if (w[t] == 0)
                continue;
            int r = v.first[y] + t, slot = r % slots;
            uint8_t *row = cache + (size_t)slot * ow;
            if (cached[slot] != r) {
                resample_row(row, &h, ow, in + (size_t)r * iw);
                cached[slot] = r;
            }
            for (int x = 0; x < ow; x++)
                acc[x] += row[x] * w[t];
        }
        for (int x = 0; x < ow; x++)
            out[(size_t)y * ow + x] = to_u8(acc[x]);
    }
}
