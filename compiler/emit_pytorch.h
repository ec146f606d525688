/* emit_pytorch.h - `netc emit --pytorch`: the network as a Python file
 * defining the equivalent torch.nn.Module.
 *
 * emit_pytorch.c writes one class per net whose submodules follow the
 * layer paths (block calls and branches become nested containers), so the
 * module's state_dict keys are exactly the checkpoint's tensor names; its
 * forward replays the IR in order. The file also defines
 * load_netc_checkpoint(module, path), which reads a netc checkpoint
 * (safetensors) with numpy only. It does not run Python.
 */
#ifndef EMIT_PYTORCH_H
#define EMIT_PYTORCH_H

#include <stdio.h>

#include "diag.h"
#include "ir.h"

typedef struct pytorch_opts {
    const char *netc_version;
    const char *command;     /* how it was produced, for the header comment */
} pytorch_opts;

/* Returns 0, or -1 with a diagnostic naming a layer kind it cannot write
 * (before writing anything). */
int emit_pytorch(const ir_graph *g, const pytorch_opts *o, diag *d, FILE *out);

#endif
