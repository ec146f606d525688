/* activation.c - elementwise activations, forward and backward. ReLU,
 * sigmoid and tanh: backward takes the forward's output, not its input, so
 * forward may run in place (out == in); their backward accumulates into din
 * and its _overwrite twin writes din, for the first writer of a gradient
 * buffer (which then needs no zeroing). Leaky ReLU, ELU, SiLU, GELU,
 * hardswish and softplus: backward takes the input. No softmax here: it
 * lives with the loss. Whatever needs exp, tanh or erfc runs through
 * vmath.c's copy for nt_cpu_isa() (SIMD, a couple of ulps); this file splits
 * the arrays between threads. */
#include "nt_kernels.h"

#include <omp.h>

#include "vmath.h"

/* Elementwise loops fork only above these sizes: cheap ReLU is memory bound
 * and gains little from a second thread on small tensors; exp, tanh and
 * erfc cost enough that a smaller tensor already pays for the fork (the
 * SIMD sigmoid, 0.5 ns an element on one AVX-512 core, gains from a second
 * thread from about 16K elements on, not at 8K). */
#define CHEAP_PAR_MIN ((size_t)1 << 16)
#define TRANSC_PAR_MIN ((size_t)1 << 14)

static int threads_for(size_t n, size_t min)
{
    return n >= min ? nt_num_threads() : 1;
}

/* This thread's share [*lo, *hi) of n elements, in whole vectors: only the
 * array's last vector is partial, whatever the thread count. */
static void share(size_t n, size_t *lo, size_t *hi)
{
    const size_t nv = (n + NT_VMATH_LANES - 1) / NT_VMATH_LANES;
    const size_t t = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
    const size_t v0 = t * (nv / nth) + (t < nv % nth ? t : nv % nth);
    const size_t v1 = v0 + nv / nth + (t < nv % nth);
    *lo = v0 * NT_VMATH_LANES < n ? v0 * NT_VMATH_LANES : n;
    *hi = v1 * NT_VMATH_LANES < n ? v1 * NT_VMATH_LANES : n;
}

/* y = f(x; p, q), forking above TRANSC_PAR_MIN */
static void vmap(nt_vmap_fn *f, float *y, const float *x, size_t n, float p, float q)
{
    const int nth = threads_for(n, TRANSC_PAR_MIN);
    if (nth == 1) {
        f(y, x, n, p, q);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        share(n, &lo, &hi);
        if (lo < hi)
            f(y + lo, x + lo, hi - lo, p, q);
    }
}

/* din += dout * f'(x; p, q), forking above TRANSC_PAR_MIN */
static void vgrad(nt_vgrad_fn *g, float *din, const float *dout, const float *x, size_t n,
                  float p, float q)
{
    const int nth = threads_for(n, TRANSC_PAR_MIN);
    if (nth == 1) {
        g(din, dout, x, n, p, q);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        share(n, &lo, &hi);
        if (lo < hi)
            g(din + lo, dout + lo, x + lo, hi - lo, p, q);
    }
}

/* out[0, n) = max(in, 0); NaN propagates (x < 0 is false for NaN), as in
 * PyTorch. */
static void relu_range(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

/* Without a fork, no parallel region at all: even a region of one thread
 * costs a few microseconds when nested, more than a small array's work. */
void nt_relu_forward(float *out, const float *in, size_t n)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
    if (nth == 1) {
        relu_range(out, in, n);
        return;
    }
#pragma omp parallel num_threads(nth)
    {
        size_t lo, hi;
        share(n, &lo, &hi);
        if (lo < hi)
            relu_range(out + lo, in + lo, hi - lo);
    }
}

/* The gradients of one element: relu's and sigmoid's input from the output
 * gradient g and the output y. */
static inline float relu_grad(float g, float y) { return y > 0.0f ? g : 0.0f; }
static inline float sigmoid_grad(float g, float y) { return g * y * (1.0f - y); }

void nt_act_apply(nt_act act, float *x, size_t n)
{
    if (act == NT_ACT_RELU)
        relu_range(x, x, n);
    else if (act == NT_ACT_SIGMOID)
        nt_vmath_get()->sigmoid(x, x, n, 0.0f, 0.0f);
}

/* written as the _overwrite backwards below: 0 + the element's gradient */
void nt_act_grad_apply(nt_act act, float *g, const float *y, size_t n)
{
    if (act == NT_ACT_RELU)
        for (size_t i = 0; i < n; i++)
            g[i] = 0.0f + relu_grad(g[i], y[i]);
    else if (act == NT_ACT_SIGMOID)
        for (size_t i = 0; i < n; i++)
            g[i] = 0.0f + sigmoid_grad(g[i], y[i]);
}

/* acc: din += ..., else din = ... (din's old value is never used: NaN is
 * fine) */
static void relu_backward(float *din, const float *dout, const float *out, size_t n, int acc)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++) {
        /* load unconditionally so the select compiles without a branch */
        const float g = dout[i];
        din[i] = (acc ? din[i] : 0.0f) + relu_grad(g, out[i]);
    }
}

void nt_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    relu_backward(din, dout, out, n, 1);
}

void nt_relu_backward_overwrite(float *din, const float *dout, const float *out, size_t n)
{
    relu_backward(din, dout, out, n, 0);
}

/* exp(-|x|) based, so nothing overflows and small results keep their
 * relative precision; exactly 0 and 1 at -inf and +inf; NaN stays NaN
 * (vmath.c's vsigmoid). */
void nt_sigmoid_forward(float *out, const float *in, size_t n)
{
    vmap(nt_vmath_get()->sigmoid, out, in, n, 0, 0);
}

static void sigmoid_backward(float *din, const float *dout, const float *out, size_t n,
                             int acc)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        din[i] = (acc ? din[i] : 0.0f) + sigmoid_grad(dout[i], out[i]);
}

void nt_sigmoid_backward(float *din, const float *dout, const float *out,
                         size_t n)
{
    sigmoid_backward(din, dout, out, n, 1);
}

void nt_sigmoid_backward_overwrite(float *din, const float *dout, const float *out, size_t n)
{
    sigmoid_backward(din, dout, out, n, 0);
}

void nt_tanh_forward(float *out, const float *in, size_t n)
{
    vmap(nt_vmath_get()->tanh, out, in, n, 0, 0);
}

static void tanh_backward(float *din, const float *dout, const float *out, size_t n, int acc)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        din[i] = (acc ? din[i] : 0.0f) + dout[i] * (1.0f - out[i] * out[i]);
}

void nt_tanh_backward(float *din, const float *dout, const float *out, size_t n)
{
    tanh_backward(din, dout, out, n, 1);
}

void nt_tanh_backward_overwrite(float *din, const float *dout, const float *out, size_t n)
{
    tanh_backward(din, dout, out, n, 0);
}

/* ---- activations whose backward reads the input ------------------------------
 * PyTorch's formulas and its choices at the kinks: leaky_relu and elu take
 * the x <= 0 branch at 0, hardswish the middle branch at -3 and 3. ELU,
 * SiLU, GELU and softplus are vmath.c's, with their formulas. */

#define ELEMENTWISE(min, body)                                                   \
    do {                                                                         \
        const int nth_ = threads_for(n, (min));                                  \
        _Pragma("omp parallel for num_threads(nth_) schedule(static)")           \
        for (size_t i = 0; i < n; i++) {                                         \
            const float x = in[i];                                               \
            body;                                                                \
        }                                                                        \
    } while (0)

void nt_leaky_relu_forward(float *out, const float *in, size_t n, float slope)
{
    ELEMENTWISE(CHEAP_PAR_MIN, out[i] = x > 0.0f ? x : x * slope);
}

void nt_leaky_relu_backward(float *din, const float *dout, const float *in, size_t n,
                            float slope)
{
    ELEMENTWISE(CHEAP_PAR_MIN, din[i] += x > 0.0f ? dout[i] : dout[i] * slope);
}

void nt_elu_forward(float *out, const float *in, size_t n, float alpha)
{
    vmap(nt_vmath_get()->elu, out, in, n, alpha, 0);
}

void nt_elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha)
{
    vgrad(nt_vmath_get()->elu_grad, din, dout, in, n, alpha, 0);
}

void nt_silu_forward(float *out, const float *in, size_t n)
{
    vmap(nt_vmath_get()->silu, out, in, n, 0, 0);
}

void nt_silu_backward(float *din, const float *dout, const float *in, size_t n)
{
    vgrad(nt_vmath_get()->silu_grad, din, dout, in, n, 0, 0);
}

/* the exact GELU, x Phi(x), with Phi from erfc (PyTorch's default) */
void nt_gelu_forward(float *out, const float *in, size_t n)
{
    vmap(nt_vmath_get()->gelu, out, in, n, 0, 0);
}

void nt_gelu_backward(float *din, const float *dout, const float *in, size_t n)
{
    vgrad(nt_vmath_get()->gelu_grad, din, dout, in, n, 0, 0);
}

void nt_hardswish_forward(float *out, const float *in, size_t n)
{
    ELEMENTWISE(CHEAP_PAR_MIN,
                out[i] = x <= -3.0f ? 0.0f : x >= 3.0f ? x : x * (x + 3.0f) / 6.0f);
}

void nt_hardswish_backward(float *din, const float *dout, const float *in, size_t n)
{
    ELEMENTWISE(CHEAP_PAR_MIN,
                din[i] += x < -3.0f ? 0.0f : x <= 3.0f ? dout[i] * (x / 3.0f + 0.5f) : dout[i]);
}

/* log1p(exp(beta x)) / beta, and x above the threshold (beta x > threshold) */
void nt_softplus_forward(float *out, const float *in, size_t n, float beta, float threshold)
{
    vmap(nt_vmath_get()->softplus, out, in, n, beta, threshold);
}

/* d/dx = sigmoid(beta * x), 1 above the threshold */
void nt_softplus_backward(float *din, const float *dout, const float *in, size_t n,
                          float beta, float threshold)
{
    vgrad(nt_vmath_get()->softplus_grad, din, dout, in, n, beta, threshold);
}
