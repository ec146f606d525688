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

/* The single GEMM entry point, row-major:
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]
 * trans_a / trans_b are 0 or 1. Called outside an OpenMP parallel region it
 * splits M or N (never K) across nt_num_threads() threads; called inside one
 * it runs on the calling thread. beta == 0 means C is not read. The same
 * ISA and implementation give bit-identical results run to run. The one
 * exception to "no kernel allocates": the own SGEMM packs its operands into a
 * per-thread buffer (up to about 3.3 MiB) allocated on the thread's first
 * call and kept, so nothing is allocated after a trainer's first step. */
void nt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* Which implementation nt_sgemm uses: the runtime's own packed SGEMM with
 * the micro-kernel of nt_cpu_isa() (sgemm.c), or OpenBLAS's cblas_sgemm.
 * AUTO lets nt_sgemm choose by shape (see gemm.c); the environment variable
 * NETC_GEMM=auto|own|openblas sets the starting value. nt_gemm_force() is for
 * tests and benchmarks (call it outside parallel regions). */
typedef enum nt_gemm_impl {
    NT_GEMM_AUTO = 0,
    NT_GEMM_OWN = 1,
    NT_GEMM_OPENBLAS = 2,
} nt_gemm_impl;
void nt_gemm_force(nt_gemm_impl impl);
/* "own GEMM" or "OpenBLAS GEMM": what nt_sgemm runs on now (the banner). */
const char *nt_gemm_name(void);

/* ---- conv2d ---------------------------------------------------------------- */

/* An activation a kernel applies to its output as it writes it, in cache:
 * the relu or sigmoid the compiler fused into the layer before it (the same
 * bits as nt_relu_forward and nt_sigmoid_forward; nt_act_apply). An
 * overwriting pooling or convolution backward applies one's backward to the
 * gradient it writes (nt_pool2d_dims.act, nt_conv2d_dims.act;
 * nt_act_grad_apply). */
typedef enum nt_act { NT_ACT_NONE, NT_ACT_RELU, NT_ACT_SIGMOID } nt_act;

typedef struct nt_conv2d_dims {
    int N;            /* batch */
    int C, H, W;      /* input channels and size */
    int OC;           /* output channels */
    int KH, KW;       /* kernel */
    int SH, SW;       /* stride */
    int PH, PW;       /* zero padding */
    int OH, OW;       /* output size: (H + 2*PH - KH) / SH + 1, likewise W */
    /* _overwrite backward only: the relu or sigmoid whose output act_out
     * [N, C, H, W] is the conv's input. din becomes the gradient of that
     * activation's input, each image as it is written (the same bits as
     * its _overwrite backward after this one). NT_ACT_NONE: din is the
     * conv's input gradient. */
    nt_act act;
    const float *act_out;
    /* forward only, optional: the rows of the batch norm that is the
     * output's only reader (nt_bn_dims.rows, [N][OC][2]). Each image's row
     * statistics are written as soon as the image is complete, while it is
     * still in cache (nt_batchnorm_row_stats), when that batch norm takes
     * rows for this shape (nt_batchnorm_takes_rows); the batch norm is then
     * called with rows_ready. */
    double *bn_rows;
    /* Linked convs (the compiler's choice): out_block on a conv whose output
     * is read only by the next conv (through a relu fused into this one and
     * folded into that one's backward), in_block on that next conv. When
     * the batch allows (whole blocks of 32 images, the own SGEMM running,
     * channels filling its row tiles, at most NT_PIXEL_MAX_P pixels: the
     * same test at both ends), both run
     * the pixel GEMMs and keep the tensor between them, and its gradient, in
     * their block layout (conv_pixel.c) instead of [N, C, H, W]: each block
     * of images a permutation of its own memory. Elementwise kernels on
     * that tensor (the folded relu) see no difference; nothing else may
     * read it, and the next conv's overwriting backward is its gradient's
     * only writer. Otherwise the flags change nothing. The same bits as
     * the pixel GEMMs unlinked. */
    int in_block, out_block;
} nt_conv2d_dims;

/* The pixel GEMMs' regime (conv.c): at most NT_PIXEL_MAX_P output pixels
 * and NT_PIXEL_MIN_C input channels or more. The compiler links convs
 * (in_block, out_block) only inside it. */
#define NT_PIXEL_MAX_P 256
#define NT_PIXEL_MIN_C 64

/* Floats of scratch the conv kernels need for this shape and thread count
 * (forward and backward share the same scratch). Independent of d->N. */
size_t nt_conv2d_scratch_floats(const nt_conv2d_dims *d, int nthreads);

void nt_conv2d_forward(float *out,        /* [N, OC, OH, OW] */
                       const float *in,   /* [N, C, H, W] */
                       const float *w,    /* [OC, C, KH, KW] */
                       const float *b,    /* [OC] or NULL (no bias) */
                       const nt_conv2d_dims *d, float *scratch);

/* The same followed by ReLU, applied as each tile of the output is written
 * (out = max(conv(in), 0)): a conv and the relu after it in one kernel. */
void nt_conv2d_relu_forward(float *out, const float *in, const float *w,
                            const float *b, const nt_conv2d_dims *d,
                            float *scratch);
/* The same with the sigmoid (nt_sigmoid_forward's bits). */
void nt_conv2d_sigmoid_forward(float *out, const float *in, const float *w,
                               const float *b, const nt_conv2d_dims *d,
                               float *scratch);

void nt_conv2d_backward(float *din,        /* [N, C, H, W] or NULL */
                        float *dw,         /* [OC, C, KH, KW] */
                        float *db,         /* [OC] or NULL (no bias) */
                        const float *dout, /* [N, OC, OH, OW] */
                        const float *in,   /* [N, C, H, W] */
                        const float *w,    /* [OC, C, KH, KW] */
                        const nt_conv2d_dims *d, float *scratch);
/* The same, writing din instead of adding to it: for the first writer of
 * its input's gradient buffer, which then needs no zeroing. */
void nt_conv2d_backward_overwrite(float *din, float *dw, float *db,
                                  const float *dout, const float *in,
                                  const float *w, const nt_conv2d_dims *d,
                                  float *scratch);

/* Plain, obviously-correct loops, kept next to the optimised kernels for the
 * tests (and for anyone reading the optimised version). Same contract. */
void nt_conv2d_forward_ref(float *out, const float *in, const float *w,
                           const float *b, const nt_conv2d_dims *d);
void nt_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w,
                            const nt_conv2d_dims *d);

/* ---- pooling --------------------------------------------------------------- */

/* Every pooling backward has an _overwrite twin that writes din instead of
 * accumulating into it (its old contents are never read; elements no window
 * covers get 0): for the first writer of a gradient buffer, which then
 * needs no memset. */

typedef struct nt_pool2d_dims {
    int N, C, H, W;   /* input */
    int KH, KW;       /* window */
    int SH, SW;       /* stride */
    int PH, PW;       /* padding: -inf for max, zeros counted for avg */
    int OH, OW;       /* output, floor mode: (H + 2*PH - KH) / SH + 1 */
    int ceil_mode;    /* max only: OH rounds up, but the last window starts
                         inside the input or its left padding (PyTorch) */
    /* _overwrite backwards only: the relu or sigmoid whose output act_out
     * [N, C, H, W] is the pool's input. din becomes the gradient of that
     * activation's input, each plane as it is written (the same bits as
     * its _overwrite backward after this one). NT_ACT_NONE: din is the
     * pool's input gradient. */
    nt_act act;
    const float *act_out;
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
void nt_maxpool2d_backward_overwrite(float *din, const float *dout, const int32_t *argmax,
                                     const nt_pool2d_dims *d);

/* count_include_pad = true (PyTorch's default): every window divides by
 * KH * KW. */
void nt_avgpool2d_forward(float *out, const float *in, const nt_pool2d_dims *d);
void nt_avgpool2d_backward(float *din, const float *dout,
                           const nt_pool2d_dims *d);
void nt_avgpool2d_backward_overwrite(float *din, const float *dout, const nt_pool2d_dims *d);

/* Adaptive average pooling to 1x1: the mean over each [H, W] plane. */
void nt_global_avgpool_forward(float *out,      /* [N, C] */
                               const float *in, /* [N, C, HW] */
                               int N, int C, int HW);
void nt_global_avgpool_backward(float *din,        /* [N, C, HW] */
                                const float *dout, /* [N, C] */
                                int N, int C, int HW);
void nt_global_avgpool_backward_overwrite(float *din, const float *dout, int N, int C, int HW);

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
/* The same followed by ReLU: a linear layer and the relu after it. */
void nt_linear_relu_forward(float *out, const float *in, const float *w,
                            const float *b, int N, int IN, int OUT);
/* And with the sigmoid. */
void nt_linear_sigmoid_forward(float *out, const float *in, const float *w,
                               const float *b, int N, int IN, int OUT);
void nt_linear_backward(float *din,        /* [N, IN] or NULL */
                        float *dw,         /* [OUT, IN] */
                        float *db,         /* [OUT] or NULL */
                        const float *dout, /* [N, OUT] */
                        const float *in,   /* [N, IN] */
                        const float *w,    /* [OUT, IN] */
                        int N, int IN, int OUT);
/* The same, writing din instead of accumulating into it (its old contents
 * are never read; dw and db still accumulate): for the first writer of din,
 * which then needs no memset. */
void nt_linear_backward_overwrite(float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w, int N, int IN, int OUT);

/* ---- batch norm ------------------------------------------------------------ */

/* Per channel over [N, C, HW] (BatchNorm2d, HW = H*W) or per feature over
 * [N, C] (BatchNorm1d, HW = 1). act: the forward's activation (fused). */
typedef struct nt_bn_dims {
    int N, C, HW;
    float eps;       /* 1e-5 */
    float momentum;  /* 0.1, PyTorch's convention */
    nt_act act;      /* NT_ACT_NONE unless a relu or sigmoid is fused */
    /* Training only, optional: [N][C][2] doubles for the sums of each row
     * (one example's values of one channel). With it and rows long enough
     * (nt_batchnorm_takes_rows), forward and backward stream through the
     * examples in memory order, one pass for the sums and one to normalise
     * (or for din); otherwise they take the channels a block at a time
     * (keeping the rows' sums here when given, else computing them twice).
     * The same bits either way. rows_ready: the forward's producer has
     * already written the rows (nt_batchnorm_row_stats), so the forward
     * only normalises. */
    double *rows;
    int rows_ready;
} nt_bn_dims;

/* The statistics of one example's C rows of HW values (in: [C][HW]):
 * rows[c][0] = the row's sum, rows[c][1] = the sum of its squared
 * deviations from its own mean, in double. The forward combines them per
 * channel, in example order: mean = sum of s / (N * HW), and the sum of
 * squared deviations = sum of q + HW * (s / HW - mean)^2 (Chan, Golub and
 * LeVeque's pairwise update), which large offsets do not cancel. A conv
 * whose only reader is a batch norm calls it on each image it has just
 * written (nt_conv2d_dims.bn_rows), while the image is in cache. */
void nt_batchnorm_row_stats(double *rows, const float *in, int C, int HW);
/* Whether the training kernels stream with rows of HW values and take
 * rows_ready (else they take blocks of channels, using nt_bn_dims.rows
 * only to keep the rows' sums between their passes). */
int nt_batchnorm_takes_rows(int HW);

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
/* The same, writing din instead of accumulating into it (its old contents
 * are never read; dgamma and dbeta still accumulate): for the first writer
 * of din, which then needs no memset. */
void nt_batchnorm_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                     const float *dout, const float *in,
                                     const float *gamma, const float *mean,
                                     const float *invstd, const nt_bn_dims *d);

/* Synchronised batch norm (PyTorch's SyncBatchNorm), for data-parallel
 * training where each process holds part of the batch: reduce(sums, n) adds
 * n doubles over every process, in place. With it, the training forward
 * reduces the per-channel sums, then the sums of squared deviations from the
 * mean (and the example count), so mean and variance are the whole batch's;
 * backward reduces the per-channel sums of dy and dy * (x - mean) that din
 * needs, while dgamma and dbeta stay this process's part (the gradient sum
 * over processes adds them). Every process must call the kernels in the
 * same order. NULL (the default): the batch is this process's alone.
 * max_channels bounds C of later calls. Returns -1 if out of memory. */
typedef void (*nt_bn_reduce_fn)(double *sums, int n);
int nt_batchnorm_set_reduce(nt_bn_reduce_fn reduce, int max_channels);

/* Batch norm on shares of a batch: `size` threads of one parallel region
 * (a sample-parallel step, nt_parts_run) each hold examples of the batch
 * and call the same kernel with their own share (d->N its examples). Each
 * share sums its examples per channel, the team waits at a barrier
 * (#pragma omp barrier), and every share adds the team's sums in rank
 * order, so the statistics are the whole batch's and the same bits on every
 * share; then each normalises (or back-propagates) its own examples. The
 * forward waits twice (mean, then squared deviations), the backward once;
 * with a reduction set (nt_batchnorm_set_reduce) rank 0 also reduces the
 * team's sums over the processes, one more wait each. Results depend on the
 * number of shares (the order of the sums), not on timing. Only rank 0
 * writes mean, invstd and the running statistics. dgamma and dbeta receive
 * this share's part (each share has its own gradient arena). Shares take
 * blocks of channels (d->rows, this share's, only keeps the rows' sums
 * between the passes; rows_ready is ignored). */
typedef struct nt_bn_share {
    int rank, size;   /* this share, and the shares of the batch */
    double *sums;     /* (size + 1) x (2C + 1) doubles that the team shares,
                         this layer's own for the region (NT_BN_SHARE_DOUBLES) */
} nt_bn_share;
#define NT_BN_SHARE_DOUBLES(C) (2 * (size_t)(C) + 1) /* per share, and one more */
void nt_batchnorm_share_forward_train(float *out, float *mean, float *invstd,
                                      float *running_mean, float *running_var,
                                      const float *in, const float *gamma,
                                      const float *beta, const nt_bn_dims *d,
                                      nt_bn_share sh);
void nt_batchnorm_share_backward(float *din, float *dgamma, float *dbeta,
                                 const float *dout, const float *in, const float *gamma,
                                 const float *mean, const float *invstd,
                                 const nt_bn_dims *d, nt_bn_share sh);
void nt_batchnorm_share_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                           const float *dout, const float *in,
                                           const float *gamma, const float *mean,
                                           const float *invstd, const nt_bn_dims *d,
                                           nt_bn_share sh);

/* ---- activations ----------------------------------------------------------- */

/* n = number of elements. Backward takes the forward's output. In-place
 * forward (out == in) is allowed. The _overwrite backwards write din
 * instead of accumulating (its old contents are never read): the compiler
 * uses them for the first writer of a gradient buffer, which then needs no
 * memset. */
void nt_relu_forward(float *out, const float *in, size_t n);
/* x[0, n) = act(x) in place, on the calling thread: the epilogue of the
 * kernels an activation is fused into. */
void nt_act_apply(nt_act act, float *x, size_t n);
/* g[0, n) = the gradient of act's input from g, the gradient of its output
 * y, in place, on the calling thread (the same bits as act's _overwrite
 * backward): the backward epilogue of the kernels it is fused into. */
void nt_act_grad_apply(nt_act act, float *g, const float *y, size_t n);
void nt_relu_backward(float *din, const float *dout, const float *out, size_t n);
void nt_relu_backward_overwrite(float *din, const float *dout, const float *out, size_t n);
void nt_sigmoid_forward(float *out, const float *in, size_t n);
void nt_sigmoid_backward(float *din, const float *dout, const float *out, size_t n);
void nt_sigmoid_backward_overwrite(float *din, const float *dout, const float *out, size_t n);
void nt_tanh_forward(float *out, const float *in, size_t n);
void nt_tanh_backward(float *din, const float *dout, const float *out, size_t n);
void nt_tanh_backward_overwrite(float *din, const float *dout, const float *out, size_t n);

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
/* din written, not accumulated into (the first writer: no memset) */
void nt_dropout_backward_overwrite(float *din, const float *dout, const uint8_t *mask,
                                   size_t n, float p);

/* ---- concat and add -------------------------------------------------------- */

/* Channel concatenation of nin tensors [N, channels[i], HW] into
 * [N, sum(channels), HW], in the given order. */
void nt_concat_forward(float *out, const float *const *ins, const int *channels,
                       int nin, int N, int HW);
/* dins[i] may be NULL (branch needs no gradient). Accumulates; the
 * _overwrite twin writes (copies), for the first writer of every non-NULL
 * dins[i], which then need no memset. */
void nt_concat_backward(float *const *dins, const float *dout,
                        const int *channels, int nin, int N, int HW);
void nt_concat_backward_overwrite(float *const *dins, const float *dout, const int *channels,
                                  int nin, int N, int HW);

/* out = a + b, n elements. */
void nt_add_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout. */
void nt_add_backward(float *da, float *db, const float *dout, size_t n);
/* da = dout, db = dout (either may be NULL; not the same buffer): for the
 * first writer of both, which then need no memset. */
void nt_add_backward_overwrite(float *da, float *db, const float *dout, size_t n);

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
/* The same for N rows of a batch of `total` examples spread over processes:
 * the gradient of the mean loss over all of them. */
void nt_softmax_xent_backward_part(float *dlogits, const float *probs, const int32_t *labels,
                                   int N, int total, int K, float smoothing);

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

/* ==== kinds for modern CNNs: grouped and dilated convolution, adaptive
 * pooling, activations that read their input, group and layer norm ======== */

/* ---- grouped / dilated conv2d (conv_grouped.c) ------------------------------ */

/* nn.Conv2d(C, OC, (KH, KW), stride, padding, dilation, groups): input
 * channels [g*C/G, (g+1)*C/G) feed output channels [g*OC/G, (g+1)*OC/G).
 * The generated code calls these only when G > 1 or a dilation > 1. */
typedef struct nt_conv2d_grouped_dims {
    int N, C, H, W, OC;
    int KH, KW, SH, SW, PH, PW;
    int DH, DW;       /* dilation */
    int G;            /* groups; C and OC are multiples of G */
    int OH, OW;       /* (H + 2*PH - DH*(KH-1) - 1) / SH + 1, likewise W */
} nt_conv2d_grouped_dims;

size_t nt_conv2d_grouped_scratch_floats(const nt_conv2d_grouped_dims *d, int nthreads);
void nt_conv2d_grouped_forward(float *out,        /* [N, OC, OH, OW] */
                               const float *in,   /* [N, C, H, W] */
                               const float *w,    /* [OC, C/G, KH, KW] */
                               const float *b,    /* [OC] or NULL */
                               const nt_conv2d_grouped_dims *d, float *scratch);
void nt_conv2d_grouped_backward(float *din,        /* [N, C, H, W] or NULL */
                                float *dw,         /* [OC, C/G, KH, KW] */
                                float *db,         /* [OC] or NULL */
                                const float *dout, /* [N, OC, OH, OW] */
                                const float *in, const float *w,
                                const nt_conv2d_grouped_dims *d, float *scratch);
/* The same, writing din instead of adding to it (its first writer). */
void nt_conv2d_grouped_backward_overwrite(float *din, float *dw, float *db, const float *dout,
                                          const float *in, const float *w,
                                          const nt_conv2d_grouped_dims *d, float *scratch);
void nt_conv2d_grouped_forward_ref(float *out, const float *in, const float *w,
                                   const float *b, const nt_conv2d_grouped_dims *d);
void nt_conv2d_grouped_backward_ref(float *din, float *dw, float *db, const float *dout,
                                    const float *in, const float *w,
                                    const nt_conv2d_grouped_dims *d);

/* ---- adaptive pooling (pool.c) ---------------------------------------------- */

/* nn.AdaptiveAvgPool2d / AdaptiveMaxPool2d((OH, OW)): output row i reads
 * input rows [floor(i*H/OH), ceil((i+1)*H/OH)), likewise columns. */
typedef struct nt_adaptive_pool2d_dims {
    int N, C, H, W, OH, OW;
} nt_adaptive_pool2d_dims;

void nt_adaptive_avgpool2d_forward(float *out, const float *in,
                                   const nt_adaptive_pool2d_dims *d);
void nt_adaptive_avgpool2d_backward(float *din, const float *dout,
                                    const nt_adaptive_pool2d_dims *d);
void nt_adaptive_avgpool2d_backward_overwrite(float *din, const float *dout,
                                              const nt_adaptive_pool2d_dims *d);
/* argmax as nt_maxpool2d_forward's (first maximum in row-major order) */
void nt_adaptive_maxpool2d_forward(float *out, int32_t *argmax, const float *in,
                                   const nt_adaptive_pool2d_dims *d);
void nt_adaptive_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                                    const nt_adaptive_pool2d_dims *d);
/* din written, as nt_maxpool2d_backward_overwrite's */
void nt_adaptive_maxpool2d_backward_overwrite(float *din, const float *dout,
                                              const int32_t *argmax,
                                              const nt_adaptive_pool2d_dims *d);

/* ---- activations that read their input (activation.c) ----------------------- */

/* PyTorch's definitions: leaky_relu x > 0 ? x : slope*x; elu x > 0 ? x :
 * alpha*(exp(x) - 1); silu x*sigmoid(x); gelu the exact 0.5*x*(1 +
 * erf(x/sqrt(2))); hardswish x*relu6(x + 3)/6; softplus log(1 + exp(beta*x))
 * / beta, or x where beta*x > threshold. Backward takes the forward's input
 * and accumulates; forward may run in place. */
void nt_leaky_relu_forward(float *out, const float *in, size_t n, float slope);
void nt_leaky_relu_backward(float *din, const float *dout, const float *in, size_t n,
                            float slope);
void nt_elu_forward(float *out, const float *in, size_t n, float alpha);
void nt_elu_backward(float *din, const float *dout, const float *in, size_t n, float alpha);
void nt_silu_forward(float *out, const float *in, size_t n);
void nt_silu_backward(float *din, const float *dout, const float *in, size_t n);
void nt_gelu_forward(float *out, const float *in, size_t n);
void nt_gelu_backward(float *din, const float *dout, const float *in, size_t n);
void nt_hardswish_forward(float *out, const float *in, size_t n);
void nt_hardswish_backward(float *din, const float *dout, const float *in, size_t n);
void nt_softplus_forward(float *out, const float *in, size_t n, float beta, float threshold);
void nt_softplus_backward(float *din, const float *dout, const float *in, size_t n,
                          float beta, float threshold);

/* ---- group norm and layer norm (norm.c) ------------------------------------- */

/* nn.GroupNorm(G, C) on [N, C, HW]: each example's channels fall into G
 * groups of C/G; each group is normalised with its own mean and biased
 * variance, then scaled and shifted per channel. The same in training and
 * evaluation. nn.LayerNorm over D elements (weight [D]) is the case G = 1,
 * C = D, HW = 1. */
typedef struct nt_norm_dims {
    int N, G, C, HW;
    float eps;
} nt_norm_dims;

void nt_groupnorm_forward(float *out,         /* [N, C, HW] */
                          float *mean,        /* [N, G] saved */
                          float *invstd,      /* [N, G] saved: 1/sqrt(var + eps) */
                          const float *in,    /* [N, C, HW] */
                          const float *gamma, /* [C] */
                          const float *beta,  /* [C] */
                          const nt_norm_dims *d);
void nt_groupnorm_backward(float *din,          /* [N, C, HW] or NULL */
                           float *dgamma,       /* [C] */
                           float *dbeta,        /* [C] */
                           const float *dout, const float *in, const float *gamma,
                           const float *mean, const float *invstd,
                           const nt_norm_dims *d);
/* din written, not accumulated into (the first writer: no memset) */
void nt_groupnorm_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                     const float *dout, const float *in, const float *gamma,
                                     const float *mean, const float *invstd,
                                     const nt_norm_dims *d);

/* ---- channel slice (slice.c) ------------------------------------------------ */

/* x[:, start:end] of [N, C, HW]: out is [N, end - start, HW]. Backward adds
 * dout into those channels of din; its _overwrite twin writes them and
 * zeros the other channels (the first writer of din: no memset). */
void nt_slice_forward(float *out, const float *in, int N, int C, int HW, int start, int end);
void nt_slice_backward(float *din, const float *dout, int N, int C, int HW, int start,
                       int end);
void nt_slice_backward_overwrite(float *din, const float *dout, int N, int C, int HW,
                                 int start, int end);

#ifdef __cplusplus
}
#endif

#endif
