/* emit_infer.h - the inference library: `netc emit --inference` and the
 * command-line classifier of `netc build --inference`.
 *
 * emit_infer.c writes NAME.c and NAME.h: eval-mode forward for one image
 * at a time (batch norm with running statistics, folded into the conv or
 * linear before it; dropout the identity), a forward-only memory plan over
 * one caller-provided workspace of constant size, the checkpoint's tensor
 * table and the steps that turn it into the weights predict reads. The
 * kernels come from infer_kernels.c, copied in, so the library needs only
 * libm. With `--weights FILE` the prepared weights are compiled in as a
 * static const array. It does not compile anything (build.c does).
 */
#ifndef EMIT_INFER_H
#define EMIT_INFER_H

#include <stdio.h>

#include "diag.h"
#include "ir.h"
#include "plan.h"

typedef struct infer_opts {
    const char *netc_version;
    const char *command;     /* how it was produced, for the header comment */
    const char *header;      /* the header's file name, as NAME.c includes it */
    const char *weights;     /* safetensors file to compile in, or NULL */
    int no_fold;             /* keep batch norms separate */
} infer_opts;

/* Writes the library's C file to c_out and its header to h_out. Returns 0,
 * or -1 with a diagnostic: a layer kind it does not support (then nothing
 * is written) or weights that cannot be read (c_out is incomplete). */
int emit_inference(const ir_graph *g, const plan *p, const infer_opts *o, diag *d,
                   FILE *c_out, FILE *h_out);

/* The forward-only memory plan emit_inference writes, for tests. Per node:
 * root, the node whose buffer holds its output (itself, an earlier node it
 * is a view of or overwrites, or 0: the caller's input); fold, the batch
 * norm folded into a conv or linear and back (-1: none); off, a buffer's
 * offset in the workspace (floats, for nodes that are their own root).
 * Kernel scratch is [scratch, floats). -1 for a kind without a row. */
typedef struct infer_layout {
    int *root, *fold;
    int64_t *off;
    int64_t scratch, floats;
} infer_layout;

int infer_layout_of(const ir_graph *g, const plan *p, int no_fold, arena *ar, infer_layout *l);

/* The classifier's main(): reads .npy or IDX images, prints one class per
 * image (and writes the logits with --logits); links the library and the
 * runtime's file readers (not its kernels, not OpenBLAS). */
void emit_inference_main(const ir_graph *g, const infer_opts *o, FILE *out);

#endif
