/* linear.c - fully connected layer (PyTorch's Linear: out = in * W^T + b),
 * forward and backward, through nt_sgemm, which does the threading. The
 * backward's _overwrite twin writes din (a GEMM with beta 0) instead of
 * accumulating into it. */
#include "nt_kernels.h"

#include <assert.h>

void nt_linear_forward(float *out, const float *in, const float *w,
                       const float *b, int N, int IN, int OUT)
{
    assert(out && in && w && N >= 0 && IN > 0 && OUT > 0);
    if (b) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++)
                out[(size_t)n * OUT + o] = b[o];
    }
    /* out[N, OUT] (+)= in[N, IN] * W[OUT, IN]^T */
    nt_sgemm(0, 1, N, OUT, IN, 1.0f, in, IN, w, IN, b ? 1.0f : 0.0f, out, OUT);
}

void nt_linear_relu_forward(float *out, const float *in, const float *w,
                            const float *b, int N, int IN, int OUT)
{
    nt_linear_forward(out, in, w, b, N, IN, OUT);
    nt_relu_forward(out, out, (size_t)N * OUT); /* on the output still in cache */
}

void nt_linear_sigmoid_forward(float *out, const float *in, const float *w,
                               const float *b, int N, int IN, int OUT)
{
    nt_linear_forward(out, in, w, b, N, IN, OUT);
    nt_sigmoid_forward(out, out, (size_t)N * OUT);
}

/* acc: din += dout * W, else din = dout * W (beta 0: din is never read) */
static void linear_backward(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int N, int IN, int OUT, int acc)
{
    assert(dw && dout && in && w && N >= 0 && IN > 0 && OUT > 0);
    if (N == 0)
        return;
    /* dW[OUT, IN] += dout[N, OUT]^T * in[N, IN] */
    nt_sgemm(1, 0, OUT, IN, N, 1.0f, dout, OUT, in, IN, 1.0f, dw, IN);
    /* din[N, IN] (+)= dout[N, OUT] * W[OUT, IN] */
    if (din)
        nt_sgemm(0, 0, N, IN, OUT, 1.0f, dout, OUT, w, IN, acc ? 1.0f : 0.0f, din, IN);
    /* db[OUT] += the rows of dout, in batch order (cheap next to the
     * GEMMs, so not threaded) */
    if (db) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++)
                db[o] += dout[(size_t)n * OUT + o];
    }
}

void nt_linear_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int N, int IN,
                        int OUT)
{
    linear_backward(din, dw, db, dout, in, w, N, IN, OUT, 1);
}

void nt_linear_backward_overwrite(float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w, int N, int IN, int OUT)
{
    linear_backward(din, dw, db, dout, in, w, N, IN, OUT, 0);
}
