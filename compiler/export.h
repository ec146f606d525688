/* export.h - the `--inference` and `--pytorch` variants of `netc emit` and
 * `netc build`: which files they write and, for build, the compiler run.
 * The code itself comes from emit_infer.c and emit_pytorch.c. */
#ifndef EXPORT_H
#define EXPORT_H

#include "compile.h"

typedef struct export_opts {
    const char *command;     /* for the generated files' header comment */
    const char *out;         /* -o, or NULL */
    const char *weights;     /* --weights FILE, or NULL */
    int inference, pytorch, no_fold;
    int build, verbose;
} export_opts;

/* Writes the files (and builds the classifier); returns the exit status. */
int export_run(compilation *c, const export_opts *o);

#endif
