/* shapes.h - shape inference with PyTorch's semantics.
 *
 * shapes.c walks the IR in order and computes each layer's per-example
 * output shape, learnable parameter count and forward FLOPs, checks the
 * shapes the .net file states (block input(...) statements, train(resize)),
 * and reports impossible shapes with the arithmetic that produced them. A
 * layer whose input is unknown (after an earlier error) is skipped silently,
 * so one mistake gives one message. It does not change the graph's wiring.
 */
#ifndef SHAPES_H
#define SHAPES_H

#include "ir.h"

/* Largest per-example tensor, and largest parameter tensor, in elements. */
#define SHAPE_MAX_ELEMS 2000000000LL

/* Infers node i (its inputs already inferred): shape, parameters, FLOPs and
 * n->ok; reports an impossible shape with d's current context. The expander
 * calls it as it appends each node, so a shape query (in.channels) sees the
 * running output's shape; this is the one place shape rules run. */
void shape_node(ir_graph *g, diag *d, int i);

/* Infers the nodes not yet inferred, then the totals and the checks of
 * stated shapes; 0, or -1 if any error was reported (by this call). */
int infer_shapes(ir_graph *g, diag *d);

#endif
