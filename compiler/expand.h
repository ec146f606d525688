/* expand.h - from syntax trees to the IR graph.
 *
 * expand.c resolves names (blocks, layers, variables), evaluates arguments,
 * binds net parameters (with -D overrides), runs loops and conditionals,
 * expands block calls and branches, and appends primitive layers to the
 * graph in execution order, naming each by its path. It checks argument
 * values (via the layer table); shape rules live in shapes.c, whose
 * shape_node it calls on each node as it is appended, so shape queries
 * (in.channels) read the running output's shape and shape errors are
 * reported in the loop iteration and block call that made them.
 */
#ifndef EXPAND_H
#define EXPAND_H

#include "ir.h"
#include "parse.h"

#define EXPAND_MAX_NODES 100000

typedef struct expand_opts {
    const char *net;                /* which net of the root file; NULL: the only one */
    const char *const *defines;     /* "name=value" overrides of net parameters */
    int ndefines;
    int library_ok;                 /* a root file of blocks only is fine (g->n stays 0) */
} expand_opts;

/* Expands the selected net of p's root file into g. Returns 0, or -1 after
 * reporting errors (g may then be partial). */
int expand_program(const program *p, arena *ar, diag *d, const expand_opts *o,
                   ir_graph *g);

#endif
