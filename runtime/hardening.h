/* hardening.h - the trainer driver's guards against doing damage: outputs
 * that would destroy other files (outputs.c), clean stops on SIGINT and
 * SIGTERM (signals.c), and non-finite numbers in training and checkpoints
 * (finite.c), with the training history a checkpoint carries for --resume
 * --plot (history.c). Internal to the runtime (trainer.c, model.c,
 * atomic_file.c and their tests); generated code never includes it. */
#ifndef NT_HARDENING_H
#define NT_HARDENING_H

#include <stddef.h>

#include "nt_trainer.h"
#include "progress.h"

/* ---- outputs (outputs.c) ---------------------------------------------------- */

/* A file named on the command line. Outputs are written (through
 * nt_atomic_*, or appended for --log --resume); inputs are read. */
typedef struct nt_path_arg {
    const char *option;   /* "--save", or a description such as "the training data" */
    const char *path;
    int output;
    int group;            /* an output may be the same file as an input of the same
                             nonzero group: --save of the checkpoint --resume read */
} nt_path_arg;

/* Refuses, naming the options: an output that exists and is not a regular
 * file (a device, a directory, a FIFO) or is a symbolic link to a missing
 * file; two outputs that are the same file; an output that is the same file
 * as an input (other than its group's), the training data in data_dir
 * (unless NULL) or the trainer's own executable. Entries with a NULL path
 * are skipped. Files are compared by device and
 * inode; paths that do not exist yet by their resolved directory and name.
 * A symbolic link to a regular file is written through (its target gets the
 * new content, as cp does). */
int nt_outputs_check(const nt_path_arg *args, int n, const char *data_dir, nt_error *err);

/* Where an output named path is written: path itself, or, if it is a
 * symbolic link, the file it resolves to (malloc'ed). Refuses an existing
 * path that is not (or does not lead to) a regular file. */
char *nt_output_target(const char *path, nt_error *err);

/* ---- signals (signals.c) ---------------------------------------------------- */

/* From nt_signals_catch on, a first SIGINT or SIGTERM only sets a flag the
 * training loop polls (nt_signals_pending): the current step, or the
 * checkpoint being written, completes; a second one removes the temporary
 * file being written (nt_signals_tmp) and ends the process at once. */
void nt_signals_catch(void);
void nt_signals_release(void);
/* 0, or the number of the first signal caught. */
int nt_signals_pending(void);
/* "SIGINT", "SIGTERM". */
const char *nt_signal_name(int sig);
/* The temporary file being written now (NULL: none); used by atomic_file.c. */
void nt_signals_tmp(const char *path);

/* ---- non-finite numbers (finite.c) ------------------------------------------ */

/* Index of the first NaN or infinity of x[0..n), or n. */
size_t nt_first_nonfinite(const float *x, size_t n);
/* 1 if every element is finite. */
int nt_all_finite(const float *x, size_t n);

/* Checks tensor t's values x (named name: "conv1.weight" or
 * "momentum.conv1.weight"): finite, and >= 0 for a running_var; on failure
 * names the tensor, the element and the value, prefixed by what. */
int nt_tensor_check_finite(const nt_tensor_desc *t, const char *name, const float *x,
                           const char *what, nt_error *err);
/* Checks every tensor of m: finite values, running_var >= 0; on failure
 * names the tensor, the element and the value, prefixed by what
 * ("ck.safetensors: "). */
int nt_model_check_finite(const nt_model *m, const char *what, nt_error *err);

/* After a training step of n examples that gave a non-finite loss or left a
 * non-finite parameter: which layer went non-finite first. Looks at the
 * step's forward outputs in layer order, then at the parameter gradients in
 * backward order, then at the parameters; writes a phrase such as
 * "the output of relu1 (mlp.net:4) has inf in the forward pass". */
void nt_diagnose_divergence(const nt_model *m, int n, char *buf, size_t cap);

/* 1 if s is a number as a person writes one: [+-]digits[.digits][e[+-]digits]
 * (or .digits); not hex, inf, nan or with spaces, which strtod also takes. */
int nt_is_plain_decimal(const char *s);

/* ---- training history (history.c) ------------------------------------------- */

/* The curves as checkpoint metadata text and back ("train X LOSS ACC ...;
 * test X ACC ..."): a resumed run redraws the whole run. Returns a malloc'ed
 * string. */
char *nt_history_format(const nt_curves *c);
/* Adds the points of text with x <= upto to c (dropping later ones). */
int nt_history_parse(nt_curves *c, const char *text, double upto);

/* --resume appends to the JSON log: first drops the lines of epochs after
 * upto (the checkpoint's epoch), which a resume would log again; rewrites
 * the file atomically if any. Returns the number of lines dropped, or -1. */
int nt_log_keep_epochs(const char *path, int upto, nt_error *err);

#endif
