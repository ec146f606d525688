/* bn_rows.c - batch norm's loops along one channel's row of values: the
 * sums of the statistics and of the backward, in double, and the two
 * elementwise passes. This one source is compiled once per ISA
 * (bn_rows_ISA.c, with meson's -m flags and -ffp-contract=off), as GCC
 * vectors of 16 lanes (one zmm, two ymm or four xmm).
 *
 * A sum runs in 16 double lanes, lane j taking the elements i = j (mod 16)
 * of the whole vectors in order, then the tail in order in one more double,
 * then the lanes added pairwise (a fixed tree) and the tail last. Nothing is
 * contracted into an FMA, so every ISA gives the same bits; the order
 * differs from a plain loop's, by rounding only. */
#include "bn_rows.h"
#include "vecf.h"

#include <string.h>

NT_VECF(v16, 16, load16, store16)

typedef float v8f __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));

static ALWAYS_INLINE v8d load8d(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, v8d);
}

/* lanes 0..7 of lo, then 0..7 of hi, added pairwise, then the tail */
static ALWAYS_INLINE double reduce(v8d lo, v8d hi, double tail)
{
    v8d s = lo + hi;
    double a = (s[0] + s[4]) + (s[2] + s[6]);
    double b = (s[1] + s[5]) + (s[3] + s[7]);
    return (a + b) + tail;
}

static double FN(sum)(const float *x, int n)
{
    v8d lo = {0}, hi = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        lo += load8d(x + i);
        hi += load8d(x + i + 8);
    }
    double t = 0;
    for (; i < n; i++)
        t += x[i];
    return reduce(lo, hi, t);
}

static double FN(sumsq_dev)(const float *x, int n, double m)
{
    v8d lo = {0}, hi = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        v8d a = load8d(x + i) - m, b = load8d(x + i + 8) - m;
        lo += a * a;
        hi += b * b;
    }
    double t = 0;
    for (; i < n; i++) {
        double d = x[i] - m;
        t += d * d;
    }
    return reduce(lo, hi, t);
}

static void FN(sums_dy)(double *sdy, double *sdyx, const float *dy, const float *x, int n,
                        float m)
{
    v8d slo = {0}, shi = {0}, xlo = {0}, xhi = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        /* x - m in float, as the backward's formula has it */
        v16 xm = load16(x + i) - m;
        v8f xm0 = __builtin_shufflevector(xm, xm, 0, 1, 2, 3, 4, 5, 6, 7);
        v8f xm1 = __builtin_shufflevector(xm, xm, 8, 9, 10, 11, 12, 13, 14, 15);
        v8d a = load8d(dy + i), b = load8d(dy + i + 8);
        slo += a;
        shi += b;
        xlo += a * __builtin_convertvector(xm0, v8d);
        xhi += b * __builtin_convertvector(xm1, v8d);
    }
    double t = 0, u = 0;
    for (; i < n; i++) {
        t += dy[i];
        u += (double)dy[i] * (x[i] - m);
    }
    *sdy += reduce(slo, shi, t);
    *sdyx += reduce(xlo, xhi, u);
}

static void FN(normalise)(float *out, const float *x, int n, float m, float s, float b)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        store16(out + i, (load16(x + i) - m) * s + b);
    for (; i < n; i++)
        out[i] = (x[i] - m) * s + b;
}

static void FN(din)(float *din, const float *dy, const float *x, int n, float k, float a,
                    float m, float b, int acc)
{
    int i = 0;
    if (acc) {
        for (; i + 16 <= n; i += 16)
            store16(din + i, load16(din + i) +
                                 k * (load16(dy + i) - a - (load16(x + i) - m) * b));
        for (; i < n; i++)
            din[i] += k * (dy[i] - a - (x[i] - m) * b);
    } else {
        for (; i + 16 <= n; i += 16)
            store16(din + i, k * (load16(dy + i) - a - (load16(x + i) - m) * b));
        for (; i < n; i++)
            din[i] = k * (dy[i] - a - (x[i] - m) * b);
    }
}

const nt_bn_rows FN(nt_bn_rows) = {
    FN(sum), FN(sumsq_dev), FN(sums_dy), FN(normalise), FN(din),
};
