/* layers.h - the language side of the layer table: each kind's arguments
 * (names, defaults) and how evaluated arguments become IR attributes. */
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

typedef struct layer_info {
    const char *name, *op;
    int flags;
    const layer_arg *args;  /* ends with an entry whose name is NULL */
    /* Converts arguments to attributes of n; 0, or -1 after reporting. */
    int (*bind)(ir_node *n, const bound_args *a, evaluator *ev);
} layer_info;

extern const layer_info layer_table[L_COUNT];

int layer_nargs(layer_id k);

/* Names of every layer kind (for "did you mean"). */
int layer_names(const char **out, int max);

#endif
