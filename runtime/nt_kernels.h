/* nt_kernels.h - forward and backward kernels of every layer kind, the loss,
 * the optimiser and the initialisers. PyTorch semantics throughout, float32,
 * NCHW, contiguous.
 *
 * Contract (llm.c style):
 *   - <op>_forward / <op>_backward pairs; arguments are outputs, then inputs,
 *     then weights, then sizes. Gradients carry a `d` prefix.
 *   - Backward ACCUMULATES (+=) into every gradient it writes (input and
 *     parameter gradients alike), unless noted. The caller zeroes gradients
 *     before a backward pass. A NULL input gradient means "not needed" (the
 *     first layer of a network) and is skipped.
 *   - Forward keeps what backward needs (pool argmax, batch-norm mean and
 *     inverse standard deviation, dropout mask) in caller-provided buffers.
 *   - No kernel allocates. Kernels that need temporary space take a `scratch`
 *     pointer sized by the matching *_scratch_floats() function.
 *   - The batch size N is a runtime value (the last batch of an epoch may be
 *     smaller); every other size is a compile-time constant of the network.
 *   - Preconditions are checked with assert() (debug builds).
 *   - Parallel (OpenMP) over the batch or channels, using nt_num_threads().
 */
#ifndef NT_KERNELS_H
#define NT_KERNELS_H

#include "nt_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM ---------------------------------------------------------------- */

/* The single wrapper over cblas_sgemm, row-major:
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]
 * trans_a / trans_b are 0 or 1. Called outside an OpenMP parallel region it
 * splits the work across nt_num_threads() threads (OpenBLAS itself stays at
 * one thread); called inside one it runs on the calling thread. */
void nt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* ---- conv2d ---------------------------------------------------------------- */

typedef struct nt_conv2d_dims {
    int N;            /* batch */
    int C, H, W;      /* input channels and size */
    int OC;           /* output channels */
    int KH, KW;       /* kernel */
    int SH, SW;       /* stride */
    int PH, PW;       /* zero padding */
    int OH, OW;       /* output size: (H + 2*PH - KH) / SH + 1, likewise W */
} nt_conv2d_dims;

/* Floats of scratch the conv kernels need for this shape and thread count
 * (forward and backward share the same scratch). Independent of d->N. */
size_t nt_conv2d_scratch_floats(const nt_conv2d_dims *d, int nthreads);

void nt_conv2d_forward(float *out,        /* [N, OC, OH, OW] */
                       const float *in,   /* [N, C, H, W] */
                       const float *w,    /* [OC, C, KH, KW] */
                       const float *b,    /* [OC] or NULL (no bias) */
                       const nt_conv2d_dims *d, float *scratch);

void nt_conv2d_backward(float *din,        /* [N, C, H, W] or NULL */
                        float *dw,         /* [OC, C, KH, KW] */
                        float *db,         /* [OC] or NULL (no bias) */
                        const float *dout, /* [N, OC, OH, OW] */
                        const float *in,   /* [N, C, H, W] */
                        const float *w,    /* [OC, C, KH, KW] */
                        const nt_conv2d_dims *d, float *scratch);

/* Plain, obviously-correct loops, kept next to the optimised kernels for the
 * tests (and for anyone reading the optimised version). Same contract. */
void nt_conv2d_forward_ref(float *out, const float *in, const float *w,
                           const float *b, const nt_conv2d_dims *d);
void nt_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w,
                            const nt_conv2d_dims *d);

/* ---- pooling --------------------------------------------------------------- */

typedef struct nt_pool2d_dims {
    int N, C, H, W;   /* input */
    int KH, KW;       /* window */
    int SH, SW;       /* stride */
    int PH, PW;       /* padding: -inf for max, zeros counted for avg */
    int OH, OW;       /* output, floor mode: (H + 2*PH - KH) / SH + 1 */
} nt_pool2d_dims;

/* argmax holds, per output element, the index (h * W + w) of the chosen input
 * element within its [H, W] plane; ties go to the first in row-major order
 * (as PyTorch). */
void nt_maxpool2d_forward(float *out,       /* [N, C, OH, OW] */
                          int32_t *argmax,  /* [N, C, OH, OW] */
                          const float *in,  /* [N, C, H, W] */
                          const nt_pool2d_dims *d);
void nt_maxpool2d_backward(float *din,           /* [N, C, H, W] */
                           const float *dout,    /* [N, C, OH, OW] */
                           const int32_t *argmax,/* [N, C, OH, OW] */
                           const nt_pool2d_dims *d);

/* count_include_pad = true (PyTorch's default): every window divides by
 * KH * KW. */
void nt_avgpool2d_forward(float *out, const float *in, const nt_pool2d_dims *d);
void nt_avgpool2d_backward(float *din, const float *dout,
                           const nt_pool2d_dims *d);

/* Adaptive average pooling to 1x1: the mean over each [H, W] plane. */
void nt_global_avgpool_forward(float *out,      /* [N, C] */
                               const float *in, /* [N, C, HW] */
                               int N, int C, int HW);
void nt_global_avgpool_backward(float *din,        /* [N, C, HW] */
                                const float *dout, /* [N, C] */
                                int N, int C, int HW);

void nt_maxpool2d_forward_ref(float *out, int32_t *argmax, const float *in,
                              const nt_pool2d_dims *d);
void nt_avgpool2d_forward_ref(float *out, const float *in,
                              const nt_pool2d_dims *d);

/* ---- linear ---------------------------------------------------------------- */

void nt_linear_forward(float *out,       /* [N, OUT] */
                       const float *in,  /* [N, IN] */
                       const float *w,   /* [OUT, IN] */
                       const float *b,   /* [OUT] or NULL */
                       int N, int IN, int OUT);
void nt_linear_backward(float *din,        /* [N, IN] or NULL */
                        float *dw,         /* [OUT, IN] */
                        float *db,         /* [OUT] or NULL */
                        const float *dout, /* [N, OUT] */
                        const float *in,   /* [N, IN] */
                        const float *w,    /* [OUT, IN] */
                        int N, int IN, int OUT);

/* ---- batch norm ------------------------------------------------------------ */

/* Per channel over [N, C, HW] (BatchNorm2d, HW = H*W) or per feature over
 * [N, C] (BatchNorm1d, HW = 1). */
typedef struct nt_bn_dims {
    int N, C, HW;
    float eps;       /* 1e-5 */
    float momentum;  /* 0.1, PyTorch's convention */
} nt_bn_dims;

/* Training mode: normalises with the batch mean and biased variance, saves
 * mean and 1/sqrt(var + eps) for backward, and updates the running
 * statistics: running = (1 - momentum) * running + momentum * batch, with the
 * unbiased variance (n / (n - 1), n = N * HW) for running_var. */
void nt_batchnorm_forward_train(float *out,          /* [N, C, HW] */
                                float *mean,         /* [C] saved */
                                float *invstd,       /* [C] saved */
                                float *running_mean, /* [C] updated */
                                float *running_var,  /* [C] updated */
                                const float *in,     /* [N, C, HW] */
                                const float *gamma,  /* [C] */
                                const float *beta,   /* [C] */
                                const nt_bn_dims *d);
/* Eval mode: normalises with the running statistics. */
void nt_batchnorm_forward_eval(float *out, const float *in, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, const nt_bn_dims *d);
/* Backward of the training-mode forward. */
void nt_batchnorm_backward(float *din,           /* [N, C, HW] or NULL */
                           float *dgamma,        /* [C] */
                           float *dbeta,         /* [C] */
                           const float *dout,    /* [N, C, HW] */
                           const float *in,      /* [N, C, HW] */
                           const float *gamma,   /* [C] */
                           const float *mean,    /* [C] saved by forward */
                           const float *invstd,  /* [C] saved by forward */
                           const nt_bn_dims *d);

/* ---- activations ----------------------------------------------------------- */

/* n = number of elements. Backward takes the forward's output. In-place
 * forward (out == in) is allowed. */
void nt_relu_forward(float *out, const float *in, size_t n);
void nt_relu_backward(float *din, const float *dout, const float *out, size_t n);
void nt_sigmoid_forward(float *out, const float *in, size_t n);
void nt_sigmoid_backward(float *din, const float *dout, const float *out, size_t n);
void nt_tanh_forward(float *out, const float *in, size_t n);
void nt_tanh_backward(float *din, const float *dout, const float *out, size_t n);

/* ---- dropout --------------------------------------------------------------- */

/* Training mode, inverted scaling: out = in * mask / (1 - p), mask[i] = 1
 * with probability 1 - p, drawn from nt_hash_uniform(key, i) so the mask does
 * not depend on the thread count (the trainer derives key from its seed, the
 * step and the layer). p in [0, 1); p == 0 copies. In eval mode the generated
 * code does not call dropout at all (identity). */
void nt_dropout_forward(float *out, uint8_t *mask, const float *in, size_t n,
                        float p, uint64_t key);
void nt_dropout_backward(float *din, const float *dout, const uint8_t *mask,
                         size_t n, float p);

/* ---- concat and add -------------------------------------------------------- */

/* Channel concatenation of nin tensors [N, channels[i], HW] into
 * [N, sum(channels), HW], in the given order. */
void nt_concat_forward(float *out, const float *const *ins, const int *channels,
                       int nin, int N, int HW);
/* dins[i] may be NULL (branch needs no gradient). Accumulates. */
void nt_concat_backward(float *const *dins, const float *dout,
                        const int *channels, int nin, int N, int HW);

/* out = a + b, n elements. */
void nt_add_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout. */
void nt_add_backward(float *da, float *db, const float *dout, size_t n);

/* ---- loss ------------------------------------------------------------------ */

/* Softmax cross-entropy averaged over the batch (PyTorch's
 * CrossEntropyLoss(reduction='mean', label_smoothing=smoothing)), numerically
 * stable (log-sum-exp with the row max subtracted). With smoothing s the
 * target is (1 - s) * onehot + s / K. Saves the softmax probabilities for
 * backward and counts correct predictions (argmax of the logits, first
 * maximum on ties). Returns the mean loss. */
float nt_softmax_xent_forward(float *probs,          /* [N, K] saved */
                              int *ncorrect,         /* out, may be NULL */
                              const float *logits,   /* [N, K] */
                              const int32_t *labels, /* [N], 0 <= label < K */
                              int N, int K, float smoothing);
/* dlogits += (probs - ((1 - s) * onehot(labels) + s / K)) / N. */
void nt_softmax_xent_backward(float *dlogits, const float *probs,
                              const int32_t *labels, int N, int K, float smoothing);

/* ---- optimiser ------------------------------------------------------------- */

/* torch.optim.SGD exactly (dampening 0):
 *   g = grad + weight_decay * param
 *   if momentum != 0: buf = first_step ? g : momentum * buf + g
 *                     g = nesterov ? g + momentum * buf : buf
 *   param -= lr * g
 * momentum_buf may be NULL when momentum == 0. */
typedef struct nt_sgd_config {
    float lr;
    float momentum;
    float weight_decay;
    int nesterov;
} nt_sgd_config;

void nt_sgd_step(float *param, const float *grad, float *momentum_buf, size_t n,
                 const nt_sgd_config *c, int first_step);

/* torch.optim.Adam (decoupled = 0) and AdamW (decoupled = 1), single-tensor
 * path, amsgrad off, operation for operation; step is the 1-based count of
 * this update:
 *   AdamW: param *= 1 - lr * weight_decay;  Adam: g = grad + weight_decay * param
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
 *   param += -(lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps) */
typedef struct nt_adam_config {
    float lr, weight_decay;
    double beta1, beta2;
    float eps;
    int decoupled;
} nt_adam_config;

void nt_adam_step(float *param, const float *grad, float *m, float *v, size_t n,
                  const nt_adam_config *c, uint64_t step);

/* ---- initialisers ---------------------------------------------------------- */

/* torch.nn.init.xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out)),
 * with fan_in = in * kh * kw and fan_out = out * kh * kw for a conv weight. */
void nt_init_xavier_uniform(float *w, size_t n, int fan_in, int fan_out,
                            nt_rng *rng);
/* U(-bound, bound); PyTorch's default bias init uses bound = 1/sqrt(fan_in). */
void nt_init_uniform(float *w, size_t n, float bound, nt_rng *rng);
void nt_init_const(float *w, size_t n, float value);

#ifdef __cplusplus
}
#endif

#endif
