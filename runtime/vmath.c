/* vmath.c - exp, expm1, log1p, tanh and erfc over float arrays, a vector at
 * a time (GCC's vector extension, as wide as the ISA's registers), and the
 * activations built from them: sigmoid, ELU, SiLU, GELU, softplus, forward
 * and derivative. No threads and no dispatch here: activation.c and loss.c
 * split the arrays and call the copy of nt_cpu_isa() (vmath_generic.c).
 *
 * This one source is compiled once per ISA (vmath_ISA.c, with meson's -m
 * flags and -ffp-contract=fast where there are FMAs). Every lane computes
 * its element by the same operations wherever it sits in the array, so the
 * results depend on the ISA, not on n, alignment or threads.
 *
 * Methods: exp and expm1 reduce x = n ln2 + r (|r| <= ln2/2, Cody-Waite
 * with a two-part ln2), take expm1(r) from a polynomial and scale by 2^n
 * in two steps (subnormal results round once). log1p is fdlibm's: the
 * exponent of 1 + x, log(1 + f) through s = f / (2 + f), and a correction
 * for the rounding of 1 + x. tanh is an odd polynomial below 0.625 and
 * 1 - 2 / (exp(2|x|) + 1) above. erfc is 1 - erf (polynomial) below 0.75
 * and exp(-z^2) R(z) above (R: a polynomial in z up to 2.5, in 1/z^2 over
 * z beyond), with z^2 split exactly into two floats so that exp's argument
 * carries no rounding; erfc(-z) = 2 - erfc(z). The coefficients come from
 * tools/vmath_coeffs.py. Accuracy against double libm, in float ulps of the
 * correctly rounded result, over the whole float range (test_vmath.c
 * measures and bounds it on every ISA this CPU has): exp 0.96, expm1 1.42,
 * log1p 0.77, tanh 1.24, erfc 3.53, sigmoid 1.86.
 * Special values as libm: NaN propagates; exp(+inf) = +inf, exp(-inf) = 0;
 * tanh(+-inf) = +-1; erfc(+inf) = 0, erfc(-inf) = 2; log1p(-1) = -inf. */
#include "vmath.h"
#include "vecf.h"

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Lanes per vector: one zmm, ymm or xmm. Not wider: GCC splits the
 * comparisons of a vector wider than the hardware's into scalar ones. */
#if defined(__AVX512F__)
#define VLEN 16
#elif defined(__AVX2__)
#define VLEN 8
#else
#define VLEN 4
#endif
NT_VECF(vf, VLEN, loadv, storev)
typedef int32_t vi __attribute__((vector_size(VLEN * sizeof(int32_t))));
typedef uint32_t vu __attribute__((vector_size(VLEN * sizeof(uint32_t))));

static ALWAYS_INLINE vf splat(float c) { return (vf){0} + c; }
static ALWAYS_INLINE vi splati(int32_t c) { return (vi){0} + c; }
static ALWAYS_INLINE vi bits(vf v) { return (vi)v; }
static ALWAYS_INLINE vf from_bits(vi v) { return (vf)v; }

/* m ? a : b, lane by lane (m: all ones or all zeros, as comparisons give) */
static ALWAYS_INLINE vf select(vi m, vf a, vf b)
{
    return from_bits((m & bits(a)) | (~m & bits(b)));
}

static ALWAYS_INLINE vf vabs(vf x) { return from_bits(bits(x) & splati(INT32_MAX)); }

/* |y| with the sign of x */
static ALWAYS_INLINE vf with_sign_of(vf y, vf x)
{
    return from_bits(bits(y) | (bits(x) & splati(INT32_MIN)));
}

/* Clamps keep NaN (every comparison with NaN is false). */
static ALWAYS_INLINE vf at_least(vf x, float lo) { return select(x < lo, splat(lo), x); }
static ALWAYS_INLINE vf at_most(vf x, float hi) { return select(x > hi, splat(hi), x); }

/* 2^k for integer k in [-126, 127] */
static ALWAYS_INLINE vf pow2i(vi k) { return from_bits((k + 127) << 23); }

/* Horner's rule */
static ALWAYS_INLINE vf poly(vf x, const float *c, int n)
{
    vf p = splat(c[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        p = p * x + c[i];
    return p;
}

/* ---- coefficients (tools/vmath_coeffs.py) ------------------------------------ */

/* expm1(r) = r + r^2 Q(r) on |r| <= ln2/2: fitted relative error 4.74e-10 */
static const float EXPM1_Q[6] = {
    5.000000000e-01f, 1.666666567e-01f, 4.166647792e-02f,
    8.333567530e-03f, 1.393368817e-03f, 1.974242332e-04f,
};
/* tanh(x) = x + x s P(s), s = x^2, |x| < 0.625: fitted relative error 1.77e-10 */
static const float TANH_P[6] = {
    -3.333333135e-01f, 1.333322227e-01f,  -5.394845083e-02f,
    2.170863003e-02f,  -8.194678463e-03f, 2.157184295e-03f,
};
/* erf(z) = z + z Y(s), s = z^2, |z| < 0.75: fitted relative error 7.03e-11 */
static const float ERF_Y[7] = {
    1.283791661e-01f,  -3.761263490e-01f, 1.128373593e-01f,  -2.686244436e-02f,
    5.210426636e-03f, -8.271757979e-04f, 9.026108455e-05f,
};
#define ERFC_Z0 1.625f
/* erfc(z) = exp(-z^2) P(z - ERFC_Z0), 0.75 <= z < 2.5: fitted relative
 * error 2.03e-08 */
static const float ERFC_P[11] = {
    3.022612035e-01f,  -1.460302472e-01f, 6.496221572e-02f,  -2.697758377e-02f,
    1.056046877e-02f,  -3.928762395e-03f, 1.397093176e-03f,  -4.667414469e-04f,
    1.502328232e-04f,  -5.959250848e-05f, 1.947663623e-05f,
};
/* erfc(z) = exp(-z^2) S(1/z^2) / z, 2.5 <= z <= 11: fitted relative error
 * 3.08e-09 */
static const float ERFC_S[8] = {
    5.641895533e-01f,  -2.820882201e-01f, 4.226251841e-01f,  -1.037506342e+00f,
    3.237450361e+00f,  -9.864551544e+00f, 2.192681313e+01f,  -2.395363808e+01f,
};

#define LOG2E 1.44269504088896341f
/* ln2 = LN2_HI + LN2_LO, LN2_HI with 9 significant bits: n * LN2_HI is exact
 * for |n| < 2^15 */
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
/* adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to
 * an integer (to nearest even) */
#define ROUND_MAGIC 12582912.0f

/* x = n ln2 + r: n (as float and int) and r */
static ALWAYS_INLINE vf reduce(vf x, vf *nf)
{
    const vf k = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    *nf = k;
    return (x - k * LN2_HI) - k * LN2_LO;
}

/* a whole float n as an int (NaN: 0, never converted) */
static ALWAYS_INLINE vi to_int(vf nf)
{
    return __builtin_convertvector(select(nf == nf, nf, splat(0.0f)), vi);
}

/* expm1(r) for |r| <= ln2/2 */
static ALWAYS_INLINE vf expm1_small(vf r) { return r + r * r * poly(r, EXPM1_Q, 6); }

/* ---- the functions, one vector at a time --------------------------------------- */

/* p 2^n for p in [0.7, 1.5) and n in [-150, 128] (a whole float), rounded
 * once. AVX-512 has it as one instruction (vscalefps); elsewhere 2^n is
 * applied as 2^(n/2) * 2^(n - n/2), each factor a normal float, so the
 * product is exact until the last, subnormal or not: the same bits. */
static ALWAYS_INLINE vf scale2(vf p, vf nf)
{
#if defined(__AVX512F__)
    return (vf)_mm512_scalef_ps((__m512)p, (__m512)nf);
#else
    const vi n = to_int(nf), n1 = n >> 1;
    return p * pow2i(n1) * pow2i(n - n1);
#endif
}

/* exp(x) for x in [-104, 89] or NaN (exp(89) overflows, exp(-104) rounds
 * to 0: n stays in [-150, 128]) */
static ALWAYS_INLINE vf exp_clamped(vf x)
{
    vf nf;
    const vf r = reduce(x, &nf);
    return scale2(1.0f + expm1_small(r), nf);
}

static ALWAYS_INLINE vf vexp(vf x) { return exp_clamped(at_most(at_least(x, -104.0f), 89.0f)); }

static ALWAYS_INLINE vf vexpm1(vf x)
{
    /* expm1(x) rounds to -1 below -17.4 and overflows above 88.73 */
    x = at_most(at_least(x, -25.0f), 89.0f);
    vf nf;
    const vf r = reduce(x, &nf);
    const vi n = to_int(nf);
    const vf e = expm1_small(r);
    /* 2^n (1 + e) - 1 = t e + (t - 1), t = 2^n; t - 1 is exact for n in
     * [-24, 24], and outside it the result is -1 or 2^n (1 + e) to within
     * half an ulp. n = 128 (x > 88.38): 2^127 and one doubling. */
    const vi big = n > 127;
    const vf t = pow2i(n - (big & 1));
    const vf y = t * e + (t - 1.0f);
    return select(big, y * 2.0f, y);
}

static ALWAYS_INLINE vf vlog1p(vf x)
{
    /* ln2 in two parts for k ln2 (fdlibm's) */
    const float ln2_hi = 6.9313812256e-01f, ln2_lo = 9.0580006145e-06f;
    /* log(1 + f) - (f - f^2/2 + s (f^2/2)) = s R(s^2), s = f / (2 + f),
     * |s| <= 0.1716 (FreeBSD's logf: error below 2^-34) */
    static const float LG[4] = {0xaaaaaa.0p-24f, 0xccce13.0p-25f, 0x91e9ee.0p-25f,
                                0xf89e26.0p-26f};
    const vf m = 1.0f + x;
    /* m = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)) */
    /* unsigned: the bits of NaN and of negative m (given no meaning
     * below) must not overflow a signed add */
    const vu mb = (vu)bits(m) + (0x3f800000 - 0x3f3504f3);
    const vi k = (vi)(mb >> 23) - 127;
    const vf f = from_bits((vi)((mb & 0x007fffff) + 0x3f3504f3)) - 1.0f;
    const vf kf = __builtin_convertvector(k, vf);
    /* c: what the rounding of 1 + x lost (exact: Fast2Sum, the larger of 1
     * and x first), relative to m; none once k >= 25 */
    const vf c0 = select(x > 1.0f, 1.0f - (m - x), x - (m - 1.0f)) / m;
    const vf c = select(k < 25, c0, splat(0.0f));
    const vf hfsq = 0.5f * f * f;
    const vf s = f / (2.0f + f);
    const vf z = s * s;
    const vf R = z * poly(z, LG, 4);
    const vf y = kf * ln2_hi - ((hfsq - (s * (hfsq + R) + (kf * ln2_lo + c))) - f);
    /* outside (-1, +inf): -1 gives -inf, +inf itself, below -1 and NaN NaN */
    const vi inside = (x > -1.0f) & (x < __builtin_inff());
    const vf special = select(x == -1.0f, splat(-__builtin_inff()),
                               select(x == __builtin_inff(), x, splat(__builtin_nanf(""))));
    return select(inside, y, special);
}

static ALWAYS_INLINE vf vtanh(vf x)
{
    const vf a = vabs(x);
    const vf s = a * a;
    const vf small = a + a * (s * poly(s, TANH_P, 6));
    /* exp overflows to +inf past |x| = 44: 1 - 0 */
    const vf large = 1.0f - 2.0f / (vexp(a + a) + 1.0f);
    return with_sign_of(select(a < 0.625f, small, large), x);
}

static ALWAYS_INLINE vf verfc(vf z)
{
    /* |z| < 0.75: erfc = 1 - erf = (1 - z) - z Y(z^2) */
    const vf small = (1.0f - z) - z * poly(z * z, ERF_Y, 7);
    /* a >= 0.75: erfc(a) = exp(-a^2) R(t); erfc(11) is far below the
     * smallest float */
    const vf a = at_most(vabs(z), 11.0f);
    /* a^2 = hi + lo exactly: ah (12 bits) squared is exact */
    const vf ah = from_bits(bits(a) & splati((int32_t)0xfffff000));
    const vf al = a - ah;
    const vf hi = a * a;
    const vf lo = ((ah * ah - hi) + 2.0f * ah * al) + al * al;
    /* R = erfc(a) exp(a^2): a polynomial in a up to 2.5, the shape of the
     * asymptotic series beyond (no cancellation in either) */
    const vf R = select(a < 2.5f, poly(a - ERFC_Z0, ERFC_P, 11),
                         poly(1.0f / hi, ERFC_S, 8) / a);
    /* exp(-hi - lo) = exp(-hi) (1 - lo), |lo| < 2^-17 */
    const vf big = vexp(-hi) * (R - R * lo);
    const vf large = select(z < 0.0f, 2.0f - big, big);
    return select(vabs(z) < 0.75f, small, large);
}

/* With e = exp(-|x|): 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0:
 * nothing overflows, small results keep their relative precision, 0 and 1
 * exactly at -inf and +inf, NaN stays NaN. The rounding error of 1 + e
 * (err, exact) is taken back: q / (1 + err/d) = q (1 - err/d), where 1/d
 * is q or 1 - q. */
static ALWAYS_INLINE vf vsigmoid(vf x)
{
    const vi pos = x >= 0.0f;
    /* -|x| sets the sign bit; it is never above 0 */
    const vf e = exp_clamped(at_least(from_bits(bits(x) | splati(INT32_MIN)), -104.0f));
    const vf d = 1.0f + e;
    const vf err = e - (d - 1.0f);
    const vf q = select(pos, splat(1.0f), e) / d;
    const vf inv_d = select(pos, q, 1.0f - q);
    return q - q * (err * inv_d);
}

/* ---- activations (PyTorch's definitions and branches) --------------------------- */

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* alpha (exp(x) - 1) at x <= 0 */
static ALWAYS_INLINE vf elu(vf x, float alpha, float q)
{
    (void)q;
    return select(x > 0.0f, x, alpha * vexpm1(x));
}

static ALWAYS_INLINE vf elu_grad(vf x, float alpha, float q)
{
    (void)q;
    return select(x > 0.0f, splat(1.0f), alpha * vexp(x));
}

static ALWAYS_INLINE vf silu(vf x, float p, float q)
{
    (void)p, (void)q;
    return x * vsigmoid(x);
}

/* d/dx x s(x) = s (1 + x (1 - s)) */
static ALWAYS_INLINE vf silu_grad(vf x, float p, float q)
{
    (void)p, (void)q;
    const vf s = vsigmoid(x);
    return s * (1.0f + x * (1.0f - s));
}

/* x Phi(x), with 1 + erf(x/sqrt(2)) written as erfc(-x/sqrt(2)): no
 * cancellation for negative x */
static ALWAYS_INLINE vf gelu(vf x, float p, float q)
{
    (void)p, (void)q;
    return 0.5f * x * verfc(-x * SQRT1_2);
}

/* Phi(x) + x phi(x) */
static ALWAYS_INLINE vf gelu_grad(vf x, float p, float q)
{
    (void)p, (void)q;
    return 0.5f * verfc(-x * SQRT1_2) + x * INV_SQRT_2PI * vexp(-0.5f * x * x);
}

/* log(1 + exp(beta x)) / beta, x itself above the threshold; below it
 * written so that exp never overflows */
static ALWAYS_INLINE vf softplus(vf x, float beta, float threshold)
{
    const vf z = x * beta;
    const vf zpos = select(z > 0.0f, z, splat(0.0f));
    return select(z > threshold, x, (zpos + vlog1p(vexp(-vabs(z)))) / beta);
}

/* sigmoid(beta x), 1 above the threshold */
static ALWAYS_INLINE vf softplus_grad(vf x, float beta, float threshold)
{
    const vf z = x * beta;
    return select(z > threshold, splat(1.0f), vsigmoid(z));
}

/* ---- array loops ------------------------------------------------------------------ */

/* Whole vectors, then the last n % VLEN elements through a zero-padded one. */
#define MAP(name, lane)                                                                  \
    static void map_##name(float *y, const float *x, size_t n, float p, float q)         \
    {                                                                                    \
        (void)p, (void)q;                                                                \
        size_t i = 0;                                                                    \
        for (; i + VLEN <= n; i += VLEN)                                                     \
            storev(y + i, lane(loadv(x + i), p, q));                                   \
        if (i < n) {                                                                     \
            float buf[VLEN] = {0};                                                         \
            memcpy(buf, x + i, (n - i) * sizeof(float));                                 \
            storev(buf, lane(loadv(buf), p, q));                                       \
            memcpy(y + i, buf, (n - i) * sizeof(float));                                 \
        }                                                                                \
    }

#define GRAD(name, lane)                                                                 \
    static void grad_##name(float *din, const float *dout, const float *x, size_t n,     \
                            float p, float q)                                            \
    {                                                                                    \
        size_t i = 0;                                                                    \
        for (; i + VLEN <= n; i += VLEN)                                                     \
            storev(din + i, loadv(din + i) + loadv(dout + i) * lane(loadv(x + i), p, q)); \
        if (i < n) {                                                                     \
            float bx[VLEN] = {0}, bg[VLEN] = {0}, bd[VLEN] = {0};                              \
            const size_t m = (n - i) * sizeof(float);                                    \
            memcpy(bx, x + i, m);                                                        \
            memcpy(bg, dout + i, m);                                                     \
            memcpy(bd, din + i, m);                                                      \
            storev(bd, loadv(bd) + loadv(bg) * lane(loadv(bx), p, q));               \
            memcpy(din + i, bd, m);                                                      \
        }                                                                                \
    }

/* the functions of one argument, in the lane form the loops call */
#define UNARY(f)                                                                         \
    static ALWAYS_INLINE vf f##_pq(vf x, float p, float q)                             \
    {                                                                                    \
        (void)p, (void)q;                                                                \
        return f(x);                                                                     \
    }
UNARY(vexp)
UNARY(vexpm1)
UNARY(vlog1p)
UNARY(vtanh)
UNARY(verfc)
UNARY(vsigmoid)

MAP(exp, vexp_pq)
MAP(expm1, vexpm1_pq)
MAP(log1p, vlog1p_pq)
MAP(tanh, vtanh_pq)
MAP(erfc, verfc_pq)
MAP(sigmoid, vsigmoid_pq)
MAP(elu, elu)
MAP(silu, silu)
MAP(gelu, gelu)
MAP(softplus, softplus)
GRAD(elu, elu_grad)
GRAD(silu, silu_grad)
GRAD(gelu, gelu_grad)
GRAD(softplus, softplus_grad)

const nt_vmath FN(nt_vmath) = {
    .exp = map_exp,
    .expm1 = map_expm1,
    .log1p = map_log1p,
    .tanh = map_tanh,
    .erfc = map_erfc,
    .sigmoid = map_sigmoid,
    .elu = map_elu,
    .silu = map_silu,
    .gelu = map_gelu,
    .softplus = map_softplus,
    .elu_grad = grad_elu,
    .silu_grad = grad_silu,
    .gelu_grad = grad_gelu,
    .softplus_grad = grad_softplus,
};
