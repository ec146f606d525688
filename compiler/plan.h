/* plan.h - memory planning for the generated trainer.
 *
 * plan.c decides where every tensor of a training step lives: parameters
 * (and their gradients and momentum, at the same offsets) in the parameter
 * arena, in checkpoint order; layer outputs, their gradients, pooling argmax
 * and dropout masks in the activation arena, per example; batch-norm saved
 * statistics in the state arena. Forward outputs all stay alive until the
 * backward pass has used them; gradient buffers are reused once dead
 * (first-fit over their live ranges in the backward pass); a gradient
 * buffer is zeroed before its first writer unless that writer's kernel can
 * overwrite it (activations, batch norm). A flatten is a
 * view: it shares its input's buffers.
 *
 * A second, forward-only plan serves eval mode (--eval, --infer): layer
 * outputs live from their layer to their last consumer, maxpool argmax and
 * dropout masks only during their layer, no gradients; buffers are reused
 * once dead (the same first-fit). The plan does not emit code.
 */
#ifndef PLAN_H
#define PLAN_H

#include "ir.h"

#define PLAN_NONE ((int64_t)-1)

/* One tensor of the parameter arena, in checkpoint (network) order. */
typedef struct plan_tensor {
    int node;
    const char *name;        /* "conv1.weight" */
    const char *role;        /* "weight", "bias", "running_mean", "running_var" */
    int ndim;
    int64_t shape[4];        /* PyTorch layout */
    int64_t offset, count;   /* floats */
    int init;                /* nt_init value */
    int64_t fan_in, fan_out;
    int trainable;
} plan_tensor;

/* Where one node's buffers are. Offsets are floats; activation-arena
 * offsets are per example (they scale with the batch capacity). */
typedef struct plan_node {
    int64_t act;             /* output */
    int64_t grad;            /* gradient of the output, PLAN_NONE if not needed */
    int zero_grad_at;        /* zero `grad` just before this node's backward; -1: never */
    int overwritten_by;      /* the node whose backward writes `grad` first and
                                overwrites it (so no zeroing), -1 */
    int64_t aux;             /* argmax (int32) or dropout mask (uint8), PLAN_NONE */
    int64_t state;           /* batch-norm mean, then invstd (state arena), PLAN_NONE */
    int first_tensor;        /* index into tensors, -1 */
    int ntensors;
    int dropout_index;       /* 0, 1, ... for dropout layers, -1 */
    int64_t infer_act;       /* the inference plan: output, argmax or mask */
    int64_t infer_aux;       /* (PLAN_NONE) */
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
    int classes;
    int ndropout;
} plan;

/* Plans g (shapes inferred, no errors). Fails, with a diagnostic, if the net
 * cannot be trained as a classifier (its output is not flat). */
int plan_memory(const ir_graph *g, arena *ar, diag *d, plan *p);

#endif
