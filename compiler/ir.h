/* ir.h - the network after expansion: a plain array of primitive layers in
 * execution (topological) order, each naming its inputs by index, with
 * static per-example shapes (the batch dimension is left out everywhere in
 * the compiler).
 *
 * expand.c builds it; shapes.c fills in shapes, parameter counts and FLOPs
 * (node by node as expand.c appends them, then the rest and the totals);
 * report.c, dot.c and emit.c read it.
 */
#ifndef IR_H
#define IR_H

#include <stdint.h>

#include "diag.h"

/* Layer flags (layers.def): what the passes need to know about a kind
 * beyond its functions. */
#define LF_BRANCHES 1   /* joins branches: `name { branch {...} ... }` */
#define LF_VIEW 2       /* its output is its input's memory, reshaped */
#define LF_TRAIN 4      /* behaves differently in training (forward's `train`) */
#define LF_SCRATCH 8    /* its kernels need scratch (emit's SCRATCH pass sizes it) */
#define LF_OVERWRITE 16 /* as the first writer of an input's gradient, its backward
                           overwrites it (an _overwrite kernel): no memset */
#define LF_BATCH 32     /* couples the examples of a batch (one random stream over the
                           batch): a sample-parallel net runs it on the whole batch,
                           between its shares' runs of other layers. (Batch norm couples
                           them too, but its _share kernels exchange the sums inside
                           the run.) */

typedef enum {
    L_INPUT,    /* the network's input; node 0 */
    L_ERROR,    /* stands for a layer that failed to expand (no shape) */
#define LAYER(id, name, op, flags) L_##id,
#include "layers.def"
#undef LAYER
    L_COUNT
} layer_id;

/* A per-example shape: rank 3 (C, H, W) or rank 1 (F). */
typedef struct shape {
    int rank;
    int64_t d[3];
} shape;

typedef struct conv_attrs { int out, kh, kw, sh, sw, ph, pw, bias, groups, dh, dw; } conv_attrs;
typedef struct pool_attrs { int kh, kw, sh, sw, ph, pw, ceil_mode; } pool_attrs;
typedef struct adaptive_attrs { int oh, ow; } adaptive_attrs;
typedef struct linear_attrs { int out, bias; } linear_attrs;
typedef struct bn_attrs { double eps, momentum; } bn_attrs;
typedef struct dropout_attrs { double p; } dropout_attrs;
typedef struct act_attrs { double a, b; } act_attrs;   /* slope, alpha, beta/threshold */
typedef struct norm_attrs { double eps; int groups; } norm_attrs;
typedef struct slice_attrs { int start, end; } slice_attrs;  /* channels [start, end) */

typedef struct ir_node {
    layer_id kind;
    nc_loc loc;             /* the call in the .net file */
    const char *path;       /* e.g. "b3.inception1.branch2.conv1" */
    int group;              /* innermost block call (index into groups), -1 */
    int *inputs;
    int ninputs;
    int branch_from;        /* joins: the node every branch starts from */
    union {
        conv_attrs conv;
        pool_attrs pool;    /* maxpool, avgpool */
        adaptive_attrs adaptive;
        act_attrs act;      /* activations with parameters */
        norm_attrs norm;    /* layernorm, groupnorm */
        slice_attrs slice;
        linear_attrs linear;
        bn_attrs bn;
        dropout_attrs dropout;
    } a;
    /* filled by shapes.c */
    int ok;                 /* shape known */
    shape out;
    int64_t params;         /* learnable parameters */
    int64_t flops;          /* forward FLOPs per example, multiply-add = 2 */
} ir_node;

/* One block call: the table groups layers under it, dot draws a cluster. */
typedef struct ir_group {
    const char *path;       /* e.g. "b3.inception1" */
    const char *block;      /* the block's name */
    const char *label;      /* the call with its evaluated arguments */
    nc_loc loc;             /* the call */
    int parent;             /* enclosing group or -1 */
} ir_group;

/* A block's `input(C)` / `input(C, H, W)` statement: the stated shape of
 * the tensor the block receives, checked by shapes.c. */
typedef struct ir_check {
    int node;               /* whose output the block receives */
    int group;              /* the block call */
    int n;                  /* 1: channels only, 3: C, H, W */
    int64_t want[3];
    nc_loc loc;             /* the input statement */
} ir_check;

/* Training settings written in the net (train(...)); has_* says which. */
typedef struct ir_train {
    double lr, momentum, weight_decay;
    int64_t epochs, batch_size, resize;
    int has_lr, has_momentum, has_weight_decay;
    int has_epochs, has_batch_size, has_resize;
    const char *settings;   /* the others (runtime/recipe.def): "name=value ...", or NULL */
    nc_loc loc;
} ir_train;

/* A net parameter with the value it got (default or -D). */
typedef struct ir_param {
    const char *name;
    const char *value;      /* printed */
    int overridden;
} ir_param;

typedef struct ir_graph {
    const char *name;       /* the net */
    nc_loc loc;
    const char *file;       /* the root .net file */
    ir_node *nodes;
    int n, cap;
    ir_group *groups;
    int ngroups, gcap;
    ir_check *checks;
    int nchecks, ccap;
    ir_param *params;
    int nparams, pcap;
    ir_train train;
    /* filled by shapes.c */
    int nshaped;            /* nodes [0, nshaped) are inferred */
    int64_t total_params, total_flops, total_activations;
} ir_graph;

/* The kind's .net name and primitive op name ("input" for L_INPUT). */
const char *layer_name(layer_id k);
const char *layer_op(layer_id k);
int layer_flags(layer_id k);
/* The node whose memory n's output is: n itself, or for a view (LF_VIEW)
 * the storage of its input. */
int ir_storage(const ir_graph *g, int n);
/* L_COUNT if name is not a layer. */
layer_id layer_lookup(const char *name);

/* Elements of a per-example shape. */
int64_t shape_size(const shape *s);
/* "96x54x54" or "4096" into buf. */
const char *shape_str(const shape *s, char *buf, size_t n);

/* A 64-bit hash of everything that determines the network's computation and
 * checkpoint layout (kinds, attributes, shapes, paths, wiring). Attributes
 * come from each kind's field table (layers.c), none left out. */
uint64_t ir_hash(const ir_graph *g);
/* The same without heights and widths: equal for one network built at two
 * input sizes (whose tensors can then be the same). */
uint64_t ir_arch_hash(const ir_graph *g);

#endif
