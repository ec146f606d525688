/* emit.h - C code generation: one standalone, readable C file per network.
 *
 * emit.c writes the network's trainer from the shaped IR and its memory
 * plan: a struct of pointers into the runtime's arenas (one per buffer, named
 * after the layer paths), forward and backward functions that call the
 * runtime's kernels with every size a constant, the checkpoint tensor table,
 * the nt_net_desc and a main() that hands it to the runtime's trainer. The
 * output depends only on its inputs (same .net, same bytes). It does not
 * compile anything (build.c does).
 */
#ifndef EMIT_H
#define EMIT_H

#include <stdio.h>

#include "ir.h"
#include "plan.h"

typedef struct emit_opts {
    const char *netc_version;
    const char *command;     /* how it was produced, for the header comment */
} emit_opts;

void emit_c(const ir_graph *g, const plan *p, const emit_opts *o, FILE *out);

#endif
