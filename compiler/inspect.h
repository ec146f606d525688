/* inspect.h - `netc inspect FILE.safetensors [NAME ...]`: what a checkpoint
 * holds. */
#ifndef INSPECT_H
#define INSPECT_H

#include <stdio.h>

/* Lists the tensors of path (name, dtype, shape, min / mean / max, NaN
 * count) and its metadata, then prints the values of the tensors names
 * selects (a name, or a prefix up to a dot: "batchnorm1" selects
 * batchnorm1.weight, batchnorm1.bias, ...). Returns 0, 1 when the file is
 * unreadable or a name matches nothing (the message on err). */
int inspect_file(const char *path, const char *const *names, int nnames, FILE *out,
                 FILE *err);

#endif
