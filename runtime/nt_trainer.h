/* nt_trainer.h - the contract between a generated trainer and the runtime's
 * trainer driver.
 *
 * netc emits, per network, one C file holding an nt_net_desc: every size a
 * constant, the parameter tensors (names, PyTorch shapes, offsets into the
 * parameter arena, initialisers), the sizes of the arenas it needs, and the
 * forward and backward functions. Its main() calls nt_trainer_main(), which
 * does everything else: command line, data, initialisation, the training
 * loop, evaluation, checkpoints, logs and plots.
 *
 * Memory: the driver makes a handful of allocations (parameters, gradients,
 * momentum, activations, saved state, scratch) and the generated code only
 * points into them; nothing is allocated inside a training step.
 *
 * The activation arena is planned by the compiler per example: a buffer that
 * holds `k` floats per example sits at offset `o` (floats, per example); for a
 * batch capacity B it occupies act[o*B, (o+k)*B). Offsets are multiples of 16
 * so every buffer is 64-byte aligned.
 *
 * A second, forward-only plan (infer_*) serves eval mode: an inference model
 * (nt_model_alloc_inference) holds parameters, that arena, the batch-norm
 * state and scratch; no gradients, momentum or saved activations.
 */
#ifndef NT_TRAINER_H
#define NT_TRAINER_H

#include "nt_base.h"
#include "nt_kernels.h"
#include "nt_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nt_init {
    NT_INIT_XAVIER,   /* conv and linear weights: xavier_uniform_ (d2l's train_ch6) */
    NT_INIT_BIAS,     /* biases: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    NT_INIT_ONES,     /* batch-norm weight (gamma), running_var */
    NT_INIT_ZEROS     /* batch-norm bias (beta), running_mean */
} nt_init;

/* One tensor of the checkpoint, in network order (PyTorch's state_dict
 * order for the equivalent module, without num_batches_tracked). */
typedef struct nt_tensor_desc {
    const char *name;      /* "inception1.branch2.conv1.weight" */
    int ndim;
    int64_t shape[4];      /* PyTorch layout: conv [out,in,kh,kw], linear [out,in] */
    size_t offset;         /* floats into params (same offset in grads, momentum) */
    size_t count;          /* elements */
    nt_init init;
    int fan_in, fan_out;   /* for NT_INIT_XAVIER (both) and NT_INIT_BIAS (fan_in) */
    int trainable;         /* 0: running statistics (checkpointed, not optimised) */
} nt_tensor_desc;

/* Training settings from the .net file's train(...); the command line
 * overrides them. 0 / negative means "not given" where noted. */
typedef struct nt_train_defaults {
    double lr;             /* 0: not given (the driver uses 0.1) */
    double momentum;
    double weight_decay;
    int epochs;            /* -1: not given (10) */
    int batch_size;        /* 0: not given (256) */
    int resize;            /* 0: not given (images are used at their size) */
    const char *settings;  /* the other settings of train(...) (recipe.def), as
                              "name=value ..."; NULL or "" if none */
} nt_train_defaults;

typedef struct nt_model nt_model;

/* One layer of the net: every IR node in execution order, index 0 the
 * input (a view such as flatten points at its input's storage). For
 * --profile (names, block calls, FLOPs) and for the diagnosis of a
 * diverging run (where each output lives). */
typedef struct nt_layer_desc {
    const char *path;          /* "inception1.branch2.conv1" */
    const char *op;            /* "conv2d" */
    int line;                  /* of its call in the .net file (0: the input) */
    int group;                 /* innermost block call (index into groups), -1 */
    size_t out_offset;         /* per-example offset into the activation arena */
    size_t out_floats;         /* per example */
    double flops_forward;      /* per example, multiply-add = 2 */
    double flops_backward;     /* per example: conv and linear 2x forward (1x
                                  when their input needs no gradient), other
                                  layers 1x forward (0 without a gradient) */
} nt_layer_desc;

/* One block call, as `netc shapes` heads its layers. */
typedef struct nt_group_desc {
    const char *name;          /* "inception1" */
    const char *label;         /* "inception(192, 64, (96, 128), (16, 32), 32, 1)" */
    int parent;                /* enclosing group, -1 */
} nt_group_desc;

typedef struct nt_net_desc {
    const char *name;           /* the net's name */
    const char *source;         /* the .net file */
    const char *netc_version;
    uint64_t hash;              /* of the expanded network (checkpoint metadata) */
    uint64_t arch_hash;         /* the same without heights and widths: one
                                   network at another input size (0: unknown) */
    int in_c, in_h, in_w;       /* per-example input; a flat input of F has in_c = F, in_h = in_w = 1 */
    int classes;                /* logits per example */

    const nt_tensor_desc *tensors;
    int ntensors;
    size_t param_floats;        /* size of the params, grads and momentum arenas */

    size_t act_floats;          /* activation arena, floats per example */
    size_t input_offset;        /* per-example offsets into the activation arena */
    size_t logits_offset;
    size_t dlogits_offset;
    size_t state_floats;        /* batch-independent saved state (batch-norm statistics) */
    size_t infer_floats;        /* the inference plan's arena, floats per example */
    size_t infer_input_offset;  /* its per-example offsets */
    size_t infer_logits_offset;

    /* Floats of kernel scratch for nthreads threads (independent of the batch). */
    size_t (*scratch_floats)(int nthreads);
    /* 1: the compiler found the net small enough to run sample-parallel
     * (parts.c): forward and backward run their layers on one share of the
     * batch per thread, in one parallel region per run of layers that treat
     * examples independently, each thread with its own gradient arena. */
    int sample_parallel;
    /* Doubles per share of the sums that the shares of a sample-parallel
     * step exchange (nt_part.team), the sum of NT_BN_SHARE_DOUBLES(C) over
     * its batch norms. */
    size_t team_doubles;
    /* Computes m->logits from m->input for n <= m->batch_max examples;
     * train != 0: batch statistics, dropout (unless disabled), keeps what
     * backward needs. An inference model (m->inference) takes train = 0
     * only. */
    void (*forward)(nt_model *m, int n, int train);
    /* After a training-mode forward of the same n: accumulates parameter
     * gradients into m->grads from m->dlogits (the caller zeroes m->grads). */
    void (*backward)(nt_model *m, int n);

    /* What `netc shapes` prints, for --shapes and the banner: its lines (each
     * ending in '\n'), NULL-terminated. (One string per line keeps every
     * literal under the 4095 characters ISO C promises.) */
    const char *const *layer_table;
    /* Every layer (IR node, 0 the input) and block call: names, block
     * calls, FLOPs and outputs, for --profile and divergence reports. */
    const nt_layer_desc *layers;
    int nlayers;
    const nt_group_desc *groups;
    int ngroups;
    nt_train_defaults defaults;

    /* The names of the net's parameters (NULL-terminated; NULL: unknown),
     * so that hints such as "rebuild with -D size=N" are given only when
     * the net has such a parameter. */
    const char *const *net_params;
} nt_net_desc;

/* Checks that a net description is consistent before anything points into
 * arenas sized by it: every tensor inside the parameter arena, the input,
 * logits, dlogits and every layer output inside the activation arena, at
 * least one trainable tensor, positive sizes. nt_model_alloc calls it. */
int nt_net_desc_check(const nt_net_desc *net, nt_error *err);

/* 1 if the net has a parameter of that name (net_params). */
int nt_net_has_param(const nt_net_desc *net, const char *name);

/* The state of one network instance; the driver owns the memory. */
struct nt_model {
    const nt_net_desc *net;
    int batch_max;              /* capacity of the activation arena, examples */
    float *params, *grads, *momentum;  /* param_floats each; momentum is
                                          SGD's buffer or Adam's m */
    float *moment2;             /* Adam's v (param_floats), NULL until
                                   nt_model_alloc_moment2 */
    float *act;                 /* act_floats * batch_max */
    float *state;               /* state_floats */
    float *scratch;             /* scratch_floats(threads), or parts x
                                   part_scratch if that is more */
    int parts;                  /* threads that take a share of a batch
                                   (nt_parts_run): 1 unless sample-parallel */
    size_t part_scratch;        /* floats of scratch per part */
    double *team;               /* (parts + 1) x net->team_doubles: nt_part.team */
    float *part_grads;          /* (parts - 1) x param_floats: the gradient
                                   arenas of parts 1.., zero between steps */
    int parts_used;             /* most parts a backward used since the last
                                   nt_parts_sum_grads */
    float *input;               /* [batch_max, in_c, in_h, in_w] inside act */
    float *logits;              /* [batch_max, classes] inside act */
    float *dlogits;             /* [batch_max, classes] inside act */
    uint64_t seed;              /* run seed: dropout keys derive from it */
    uint64_t step;              /* optimiser steps taken so far */
    int dropout_enabled;        /* 0: dropout is the identity in training too */
    int inference;              /* act holds the inference plan; grads, momentum
                                   and dlogits are NULL (eval-mode forward only) */
    struct nt_profile *prof;    /* per-layer timing (profile.h), NULL: off */
};

/* The dropout key of dropout layer `layer` (0, 1, ... in network order) for
 * the model's current step: distinct per layer and step, fixed by the seed. */
uint64_t nt_dropout_key(const nt_model *m, int layer);

/* ---- sample-parallel steps (parts.c) --------------------------------------
 * Generated forward and backward hand runs of layers to nt_parts_run, which
 * calls fn once per share of the batch: on the calling thread for the whole
 * batch, or, in a sample-parallel net with several threads, once per thread
 * in one parallel region, inside which every kernel runs on its calling
 * thread (nt_num_threads() is 1 there). Part 0's gradients accumulate into
 * m->grads, part k's into its own arena; nt_parts_sum_grads adds those into
 * m->grads in part order (deterministic for a fixed thread count) and
 * zeroes them for the next step. */
typedef struct nt_part {
    int first, n;               /* examples [first, first + n) of the batch */
    float *grads;               /* its parameter-gradient arena (NULL in an
                                   inference model) */
    float *scratch;             /* its kernel scratch */
    int rank, size;             /* this share, and the shares of the batch
                                   (the threads of the region) */
    double *team;               /* the sums the shares exchange (batch norm:
                                   nt_bn_share), shared by the region */
} nt_part;
typedef void (*nt_part_fn)(nt_model *m, const nt_part *p, const void *ctx);
void nt_parts_run(nt_model *m, int n, nt_part_fn fn, const void *ctx);
void nt_parts_sum_grads(nt_model *m);

/* The team sums of the batch norm whose own begin `off` doubles into each
 * share's slot (the compiler adds NT_BN_SHARE_DOUBLES(C) per batch norm;
 * net->team_doubles in all): for the _share kernels. */
static inline nt_bn_share nt_part_bn_share(const nt_part *p, size_t off)
{
    return (nt_bn_share){p->rank, p->size, p->team + (size_t)(p->size + 1) * off};
}

/* The whole trainer: parses argv, runs, returns the process exit status. */
int nt_trainer_main(const nt_net_desc *net, int argc, char **argv);

/* ---- model (model.c) -----------------------------------------------------
 * The pieces nt_trainer_main is built from, for programs and tests that
 * drive a network themselves. */

/* Allocates the arenas of m for up to batch_max examples: params, grads,
 * momentum, act, state and scratch (for nt_num_threads() threads: set the
 * thread count first and keep it), each 64-byte aligned and zeroed, and
 * points input, logits and dlogits into act. Sets seed = 0, step = 0,
 * dropout_enabled = 1. On failure m holds no memory. */
int nt_model_alloc(nt_model *m, const nt_net_desc *net, int batch_max,
                   nt_error *err);
void nt_model_free(nt_model *m);

/* The same for eval-mode forwards only: params, the inference plan's arena
 * for batch_max examples (not zeroed: a forward writes each buffer before
 * reading it), state and scratch (grads, momentum and dlogits stay NULL;
 * m->inference = 1). nt_model_init and nt_checkpoint_load
 * without momentum work on it; nt_model_train_step does not. */
int nt_model_alloc_inference(nt_model *m, const nt_net_desc *net,
                             int batch_max, nt_error *err);

/* The batch capacity of an inference model for batches of up to `want`
 * examples: fewer if their activations would pass NT_INFER_ACT_BYTES. */
#define NT_INFER_ACT_BYTES ((size_t)128 << 20)
int nt_inference_batch(const nt_net_desc *net, int want);

/* Initialises every tensor in network order from an nt_rng seeded with seed
 * (NT_INIT_XAVIER, NT_INIT_BIAS, NT_INIT_ONES, NT_INIT_ZEROS); zeroes grads,
 * momentum and state; sets m->seed = seed and m->step = 0. */
void nt_model_init(nt_model *m, uint64_t seed);

/* The arenas of m that carry a run from one step to the next: the
 * parameters (running statistics included) and the optimiser's state. Data-
 * parallel ranks must hold the same bytes in each (nt_dist_sync_model). An
 * arena added to nt_model for optimiser state belongs in this list. Returns
 * how many it wrote (at most max). */
typedef struct nt_arena {
    float *data;
    size_t floats;
    const char *name;
} nt_arena;
int nt_model_arenas(const nt_model *m, nt_arena *out, int max);

/* Number of trainable parameters. */
size_t nt_model_trainable_floats(const nt_net_desc *net);

/* What one optimizer step does (optim.c): the optimizer and its settings
 * at the current lr, label smoothing of the loss and gradient clipping. */
typedef struct nt_optim_config {
    int optimizer;               /* NT_OPTIM_SGD, NT_OPTIM_ADAM, NT_OPTIM_ADAMW (nt_recipe.h) */
    float lr, momentum, weight_decay;
    int nesterov;
    double beta1, beta2;
    float eps;
    float label_smoothing;
    float clip_grad_norm;        /* 0: no clipping */
} nt_optim_config;

/* Plain SGD with lr, momentum and weight decay (the other fields off). */
nt_optim_config nt_optim_sgd(float lr, float momentum, float weight_decay);

/* Allocates m->moment2 (zeroed) if it is not yet; Adam and AdamW need it. */
int nt_model_alloc_moment2(nt_model *m, nt_error *err);

/* torch.nn.utils.clip_grad_norm_(params, max_norm) over m's trainable
 * gradients: the total 2-norm, and if it exceeds max_norm every gradient is
 * scaled by max_norm / (norm + 1e-6). Returns the norm before clipping. */
float nt_clip_grad_norm(nt_model *m, float max_norm);

/* One optimizer step on every trainable tensor from m->grads (clipping
 * first), counted as step m->step + 1; does not change m->step. */
void nt_optim_step(nt_model *m, const nt_optim_config *c);

/* One training step on the n examples in m->input with the given labels:
 * zeroes the gradients, runs forward (training mode), the loss, backward,
 * and nt_optim_step, then increments m->step. probs is [n, classes] of
 * caller memory. *ncorrect (may be NULL) counts the correct predictions of
 * the forward pass. Returns the mean loss of the batch (before the step).
 * Allocates nothing (Adam needs nt_model_alloc_moment2 first).
 * In a data-parallel run (nt_dist.h) every process calls it on its share of
 * the batch; the loss, the correct count and the gradients are then the
 * whole batch's (reduced over the processes) and every process takes the
 * same step. */
float nt_model_train_step(nt_model *m, int n, const int32_t *labels,
                          float *probs, int *ncorrect,
                          const nt_optim_config *c);

/* Eval-mode forward of the n examples in m->input; returns how many of them
 * the argmax of the logits (first maximum on ties) gets right. */
int nt_model_eval_batch(nt_model *m, int n, const int32_t *labels);

/* ---- checkpoints (model.c) -----------------------------------------------
 * safetensors, F32, one tensor per nt_tensor_desc under its name, in network
 * order (PyTorch's state_dict order without num_batches_tracked), then, with
 * momentum, "momentum.<name>" for every trainable tensor. __metadata__:
 * net, netc_hash (16 hex digits), epoch, step, seed, netc_version and format
 * ("netc-checkpoint-1"). */

#define NT_CHECKPOINT_FORMAT "netc-checkpoint-1"

/* Which optimizer state a checkpoint holds besides the weights:
 * NT_STATE_MOMENTUM "momentum.NAME" (SGD with momentum), NT_STATE_ADAM
 * "adam.m.NAME" and "adam.v.NAME" (Adam, AdamW; the step is the metadata's
 * step). */
enum { NT_STATE_NONE, NT_STATE_MOMENTUM, NT_STATE_ADAM };

/* Writes m's tensors (and its optimizer state of kind `state`) to path,
 * atomically, recording epoch, m->step, m->seed and, unless NULL, a
 * description of the training settings ("lr 0.05 momentum 0 ...", metadata
 * "training") so that a resumed run can tell whether it continues the same
 * run. */
int nt_checkpoint_save(const nt_model *m, const char *path, int epoch,
                       int state, const char *training,
                       nt_error *err);

/* The same, with the run's training curves as metadata "history" (the
 * text of nt_history_format; NULL: none), for --resume --plot. */
int nt_checkpoint_save_history(const nt_model *m, const char *path, int epoch,
                               int state, const char *training,
                               const char *history, nt_error *err);

/* What a checkpoint's __metadata__ says (a file written by other tools may
 * have none; each has_ flag says whether its field was present). */
typedef struct nt_checkpoint_info {
    int has_meta;
    int has_epoch, has_step, has_seed;
    int epoch;
    uint64_t step, seed;
    char training[1200];     /* the "training" metadata, "" if absent */
    char note[400];          /* accepted with a remark (another input size), or "" */
    char *history;           /* the "history" metadata (malloc'ed: the caller
                                frees it), NULL if absent */
} nt_checkpoint_info;

/* Reads path into m->params (and the optimizer state of kind `state`: into
 * m->momentum, and m->moment2, which it allocates, for Adam), or refuses it
 * with a message naming the first mismatch with m->net: a tensor the file
 * lacks, a tensor the net lacks, a shape or a dtype other than F32, a
 * different netc_hash or format in the metadata, a metadata number that does
 * not parse. Optimizer-state tensors ("momentum.*", "adam.m.*", "adam.v.*")
 * are ignored unless of kind `state`, in which case one per trainable tensor
 * is required; "*.num_batches_tracked" (PyTorch's batch-norm counter) is
 * ignored. Values are checked too: a NaN or infinity in any tensor, or a
 * negative running_var, is refused, naming the tensor and the element. m is
 * changed only on success.
 * info may be NULL. */
int nt_checkpoint_load(nt_model *m, const char *path, int state,
                       nt_checkpoint_info *info, nt_error *err);

#ifdef __cplusplus
}
#endif

#endif
