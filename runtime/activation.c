/* activation.c - elementwise activations (ReLU, sigmoid, tanh), forward and
 * backward. Backward takes the forward's output, not its input, so forward
 * may run in place (out == in). Backward accumulates into din; its
 * _overwrite twin writes din, for the first writer of a gradient buffer
 * (which then needs no zeroing). No softmax here: it lives with the loss. */
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
