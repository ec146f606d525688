/* activation.c - elementwise activations, forward and backward. ReLU,
 * sigmoid and tanh: backward takes the forward's output, not its input, so
 * forward may run in place (out == in); their backward accumulates into din
 * and its _overwrite twin writes din, for the first writer of a gradient
 * buffer (which then needs no zeroing). Leaky ReLU, ELU, SiLU, GELU,
 * hardswish and softplus: backward takes the input. No softmax here: it
 * lives with the loss. */
#include "nt_kernels.h"

#include <math.h>

/* Elementwise loops fork only above these sizes: cheap ReLU is memory bound
 * and gains little from a second thread on small tensors; expf and tanhf
 * cost enough that a smaller tensor already pays for the fork. */
#define CHEAP_PAR_MIN ((size_t)1 << 16)
#define TRANSC_PAR_MIN ((size_t)1 << 13)

static int threads_for(size_t n, size_t min)
{
    return n >= min ? nt_num_threads() : 1;
}

/* NaN propagates (x < 0 is false for NaN), as in PyTorch. */
void nt_relu_forward(float *out, const float *in, size_t n)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] < 0.0f ? 0.0f : in[i];
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
        din[i] = (acc ? din[i] : 0.0f) + (out[i] > 0.0f ? g : 0.0f);
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

/* With e = exp(-|x|): 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0.
 * The exponential never exceeds 1, so nothing overflows for large |x|, and
 * small results keep their relative precision (no 1 - s). Branch-free:
 * the sign of x is random in a network, a branch would mispredict. */
static float sigmoid1(float x)
{
    const float e = expf(-fabsf(x));
    const float num = x >= 0.0f ? 1.0f : e;
    return num / (1.0f + e);
}

void nt_sigmoid_forward(float *out, const float *in, size_t n)
{
    const int nth = threads_for(n, TRANSC_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = sigmoid1(in[i]);
}

static void sigmoid_backward(float *din, const float *dout, const float *out, size_t n,
                             int acc)
{
    const int nth = threads_for(n, CHEAP_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        din[i] = (acc ? din[i] : 0.0f) + dout[i] * out[i] * (1.0f - out[i]);
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
    const int nth = threads_for(n, TRANSC_PAR_MIN);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = tanhf(in[i]);
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
 * the x <= 0 branch at 0, hardswish the middle branch at -3 and 3. */

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
    ELEMENTWISE(TRANSC_PAR_MIN, out[i] = x > 0.0f ? x : alpha * expm1f(x));
}

void nt_elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha)
{
    ELEMENTWISE(TRANSC_PAR_MIN, din[i] += x > 0.0f ? dout[i] : dout[i] * alpha * expf(x));
}

void nt_silu_forward(float *out, const float *in, size_t n)
{
    ELEMENTWISE(TRANSC_PAR_MIN, out[i] = x * sigmoid1(x));
}

/* d/dx x*s(x) = s * (1 + x * (1 - s)) */
void nt_silu_backward(float *din, const float *dout, const float *in, size_t n)
{
    ELEMENTWISE(TRANSC_PAR_MIN, const float s = sigmoid1(x);
                din[i] += dout[i] * s * (1.0f + x * (1.0f - s)));
}

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* 1 + erf(x/sqrt(2)) written as erfc(-x/sqrt(2)): no cancellation for
 * negative x */
void nt_gelu_forward(float *out, const float *in, size_t n)
{
    ELEMENTWISE(TRANSC_PAR_MIN, out[i] = 0.5f * x * erfcf(-x * SQRT1_2));
}

/* Phi(x) + x * phi(x) */
void nt_gelu_backward(float *din, const float *dout, const float *in, size_t n)
{
    ELEMENTWISE(TRANSC_PAR_MIN,
                din[i] += dout[i] * (0.5f * erfcf(-x * SQRT1_2) +
                                     x * INV_SQRT_2PI * expf(-0.5f * x * x)));
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

/* log1p(exp(z)) / beta with z = beta * x, written so that exp never
 * overflows below the threshold (z <= 20 by default; any z > 88 would) */
void nt_softplus_forward(float *out, const float *in, size_t n, float beta, float threshold)
{
    ELEMENTWISE(TRANSC_PAR_MIN, const float z = x * beta;
                out[i] = z > threshold ? x
                                       : (fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z)))) / beta);
}

/* d/dx = sigmoid(beta * x), 1 above the threshold */
void nt_softplus_backward(float *din, const float *dout, const float *in, size_t n,
                          float beta, float threshold)
{
    ELEMENTWISE(TRANSC_PAR_MIN, const float z = x * beta;
                din[i] += z > threshold ? dout[i] : dout[i] * sigmoid1(z));
}
