/* plan.h - memory planning for the generated trainer.
 *
 * plan.c decides where every tensor of a training step lives: parameters
 * (and their gradients and momentum, at the same offsets) in the parameter
 * arena, in checkpoint order; layer outputs, their gradients and what
 * forward saves per example (pooling argmax, dropout masks) in the
 * activation arena; what it saves per layer (batch-norm statistics) in the
 * state arena. Each kind declares its tensors and saved buffers in the layer
 * table (layers.c); this file only places them. Forward outputs all stay
 * alive until the backward pass has used them; gradient buffers are reused
 * once dead (first-fit over their live ranges in the backward pass) and
 * zeroed before their first writer, unless that writer's kind is
 * LF_OVERWRITE (its backward kernel writes the buffer). A view (flatten)
 * shares its input's buffers.
 *
 * Fusion: a relu or sigmoid whose input is a conv (not grouped or dilated),
 * linear or batch-norm layer with no other consumer is computed in that
 * layer's kernel (epilogue_of): the activation's output is the layer's
 * output buffer (the producers' backward never reads their output).
 *
 * A second, forward-only plan serves eval mode (--eval, --infer): layer
 * outputs live from their layer to their last consumer, per-example saved
 * buffers only during their layer, no gradients; buffers are reused once
 * dead (the same first-fit). The plan does not emit code.
 *
 * A small net (SAMPLE_PARALLEL_MAX_PARAMS, SAMPLE_PARALLEL_MAX_OUTPUTS) runs
 * sample-parallel (emit.c): its threads run runs of layers on their own
 * shares of the batch at the same time, one share's slice of a buffer at
 * [offset*B + first*size, ...). Two buffers of different sizes sharing
 * memory would overlap across shares, so in such a net no buffer shares
 * memory with another (views aside) in either plan.
 */
#ifndef PLAN_H
#define PLAN_H

#include "ir.h"
#include "layers.h"

#define PLAN_NONE ((int64_t)-1)

/* One tensor of the parameter arena, in checkpoint (network) order. */
typedef struct plan_tensor {
    int node;
    const char *name;        /* "conv1.weight" */
    const char *role;        /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int64_t shape[4];        /* PyTorch layout */
    int64_t offset, count;   /* floats */
    tensor_init init;
    int64_t fan_in, fan_out;
    int trainable;
} plan_tensor;

/* A buffer a layer's forward keeps for backward, and where it is: floats
 * per example into the activation arena, or into the state arena. */
typedef struct plan_saved {
    saved_decl d;
    int64_t offset;
    int64_t infer_offset;    /* per-example buffers, in the inference plan */
} plan_saved;

/* Where one node's buffers are. Offsets are floats; activation-arena
 * offsets are per example (they scale with the batch capacity). */
typedef struct plan_node {
    int64_t act;             /* output */
    int64_t grad;            /* gradient of the output, PLAN_NONE if not needed */
    int zero_grad_at;        /* zero `grad` just before this node's backward; -1: never */
    int overwritten_by;      /* the node whose backward writes `grad` first and
                                overwrites it (so no zeroing), -1 */
    int64_t infer_act;       /* output, in the inference plan */
    int epilogue_of;         /* an activation computed by the kernel of this conv,
                                linear or batch-norm node (its only consumer) as it writes
                                its output, in place: both share memory; -1 */
    int epilogue;            /* the reverse: the activation this node's kernel
                                computes, -1 */
    int grad_epilogue;       /* a pooling or conv node: the relu or sigmoid
                                before it (its only reader) whose backward its
                                overwriting backward applies to the gradient
                                it writes, -1 */
    int grad_epilogue_of;    /* the reverse, on the activation: its backward is
                                that pool's or conv's; its input's gradient is
                                its own gradient's memory (-1: none) */
    int rows_for;            /* a conv node: the batch norm (its only reader) whose
                                rows' statistics its forward writes as each image
                                is complete (nt_conv2d_dims.bn_rows), -1 */
    int rows_by;             /* the reverse, on the batch norm: its training
                                forward finds its rows written (rows_ready), -1 */
    int link_next;           /* a conv node: the conv that reads its output (through
                                a fused activation whose backward it folds) and
                                nothing else, the tensor between kept in the pixel
                                GEMMs' block layout (nt_conv2d_dims.out_block), -1 */
    int link_prev;           /* the reverse (in_block), -1 */
    plan_saved saved[LAYER_MAX_SAVED];
    int nsaved;
    int first_tensor;        /* index into tensors, -1 */
    int ntensors;
} plan_node;

typedef struct plan {
    plan_node *nodes;        /* one per IR node */
    plan_tensor *tensors;
    int ntensors, tcap;
    int64_t param_floats;
    int64_t act_floats;      /* per example */
    int64_t forward_floats;  /* of which forward outputs and saved aux */
    int64_t state_floats;
    int64_t infer_floats;    /* the inference plan's arena, per example */
    int sample_parallel;     /* small enough to run sample-parallel */
    int classes;
} plan;

/* Parameters up to this many floats (4 MiB) and layer outputs up to this
 * many per example (1 MiB) make a net sample-parallel: each thread but the
 * first keeps a gradient arena of the parameters' size, and their sum after
 * backward is cheap next to the step; no buffer sharing memory costs little
 * on small activations. Larger nets have kernels big enough to spread over
 * the threads layer by layer. */
#define SAMPLE_PARALLEL_MAX_PARAMS ((int64_t)1 << 20)
#define SAMPLE_PARALLEL_MAX_OUTPUTS ((int64_t)1 << 18)

/* Plans g (shapes inferred, no errors). Fails, with a diagnostic, if the net
 * cannot be trained as a classifier (its output is not flat, or it has no
 * learnable parameter: then its output would be a view of the input, which
 * has no gradient buffer). */
int plan_memory(const ir_graph *g, arena *ar, diag *d, plan *p);

#endif
