/* layers.h - the layer table: everything about a kind that the passes read
 * as data. Per kind (a row of layers.def): its arguments (names, defaults)
 * and how evaluated arguments become IR attributes; its attribute fields
 * (all of them feed the network hash); the tensors it learns or keeps (as
 * PyTorch's module holds them); the buffers its forward saves for backward;
 * its flags (view, train mode, scratch). The shape rule (shapes.c) and the
 * code (emit.c) are one function per kind in those passes. */
#ifndef LAYERS_H
#define LAYERS_H

#include "eval.h"
#include "ir.h"

typedef enum { ARG_REQUIRED, ARG_DEFAULT, ARG_OPTIONAL } arg_kind;

/* One parameter of a layer: required, with a default, or optional (the
 * bind function decides, e.g. pooling stride defaults to the kernel). */
typedef struct layer_arg {
    const char *name;
    arg_kind kind;
    value def;
} layer_arg;

/* Evaluated arguments of one call, in signature order. */
typedef struct bound_args {
    value v[8];
    int given[8];           /* written at the call (not defaulted) */
    nc_loc loc[8];          /* of the value, or of the call if defaulted */
    nc_loc call;
} bound_args;

/* One attribute of a kind: a field of ir_node (n->a.<kind>...). A field
 * added to a kind after checkpoints exist gets a neutral value (its old
 * behaviour): it then feeds the hash only when it differs from it. */
typedef enum { ATTR_INT, ATTR_FLOAT } attr_type; /* int, double */
typedef struct attr_field {
    const char *name;
    attr_type type;
    size_t offset;          /* into ir_node */
    int has_neutral, neutral;
} attr_field;

/* Initialisers, as runtime/nt_trainer.h's nt_init. */
typedef enum { INIT_XAVIER, INIT_BIAS, INIT_ONES, INIT_ZEROS } tensor_init;

#define LAYER_MAX_TENSORS 4
#define LAYER_MAX_SAVED 3

/* A tensor of a layer in the checkpoint: its state_dict suffix, PyTorch
 * shape and initialiser; running statistics are not trainable. */
typedef struct tensor_decl {
    const char *role;       /* "weight", "bias", "running_mean", ... */
    int ndim;
    int64_t shape[4];
    tensor_init init;
    int64_t fan_in, fan_out;/* INIT_XAVIER (both), INIT_BIAS (fan_in) */
    int trainable;
} tensor_decl;

/* A buffer forward keeps for backward: b.<layer>_<name> in generated code.
 * Per example (activation arena, scales with the batch) or per layer (state
 * arena). */
typedef enum { SAVED_F32, SAVED_I32, SAVED_U8, SAVED_F64 } saved_type;
typedef struct saved_decl {
    const char *name;       /* "argmax", "mask", "mean" */
    saved_type type;
    int64_t count;          /* elements */
    int per_example;
} saved_decl;

/* Floats a saved buffer occupies (rounded up to whole floats). */
int64_t saved_floats(const saved_decl *s);
/* "float", "int32_t", "uint8_t", "double" */
const char *saved_ctype(saved_type t);

typedef struct layer_info {
    const char *name, *op;
    int flags;
    const layer_arg *args;  /* ends with an entry whose name is NULL */
    /* Converts arguments to attributes of n; 0, or -1 after reporting. */
    int (*bind)(ir_node *n, const bound_args *a, evaluator *ev);
    const attr_field *fields; /* every attribute bind sets; ends with name NULL */
    /* The kind's tensors, in state_dict order, for node n with input shape
     * in (shapes inferred); returns how many (at most LAYER_MAX_TENSORS). */
    int (*tensors)(const ir_node *n, const shape *in, tensor_decl *out);
    /* What its forward saves for backward (at most LAYER_MAX_SAVED). */
    int (*saved)(const ir_node *n, saved_decl *out);
} layer_info;

extern const layer_info layer_table[L_COUNT];

int layer_nargs(layer_id k);

/* Names of every layer kind (for "did you mean"). */
int layer_names(const char **out, int max);

#endif
