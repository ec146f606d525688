/* inspect.c - `netc inspect`: reads a safetensors file with the runtime's
 * validating reader (runtime/safetensors.c) and prints a table of its
 * tensors with summary statistics, its metadata, and the values of chosen
 * tensors. It does not compile anything or change the file. */
#include "inspect.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nt_io.h"

/* "batchnorm1" selects "batchnorm1" and "batchnorm1.*". */
static int selects(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    return strncmp(pattern, name, n) == 0 && (name[n] == 0 || name[n] == '.' ||
                                              (n > 0 && pattern[n - 1] == '.'));
}

static void shape_text(char *buf, size_t cap, const nt_st_tensor *t)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

static size_t count_of(const nt_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static void print_values(FILE *out, const nt_safetensors *st, const nt_st_tensor *t)
{
    char shape[128];
    shape_text(shape, sizeof shape, t);
    fprintf(out, "\n%s %s %s:\n", t->name, t->dtype, shape);
    if (strcmp(t->dtype, "F32") != 0) {
        fprintf(out, "  (values of %s tensors are not printed)\n", t->dtype);
        return;
    }
    const size_t n = count_of(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        fprintf(out, "  (out of memory)\n");
        return;
    }
    nt_st_copy_f32(st, t, v);
    /* rows of the last dimension, 8 values a line */
    const size_t row = t->ndim > 0 && t->shape[t->ndim - 1] > 0 ? (size_t)t->shape[t->ndim - 1] : 1;
    for (size_t i = 0; i < n; i++) {
        if (i % row == 0 || (i % row) % 8 == 0)
            fprintf(out, "%s ", i ? "\n " : " ");
        fprintf(out, " %.7g", (double)v[i]);
    }
    fprintf(out, "\n");
    free(v);
}

int inspect_file(const char *path, const char *const *names, int nnames, FILE *out,
                 FILE *err)
{
    nt_safetensors st;
    nt_error e = {{0}};
    if (nt_st_read(&st, path, &e) != 0) {
        fprintf(err, "netc: %s\n", e.msg);
        return 1;
    }
    for (int k = 0; k < nnames; k++) {
        int found = 0;
        for (int i = 0; i < st.ntensors && !found; i++)
            found = selects(names[k], st.tensors[i].name);
        if (!found) {
            fprintf(err, "netc: %s: no tensor '%s' (nor any '%s.*'); run 'netc inspect %s' "
                    "for the list\n", path, names[k], names[k], path);
            nt_st_free(&st);
            return 1;
        }
    }
    size_t total = 0, width = 4;
    for (int i = 0; i < st.ntensors; i++) {
        total += count_of(&st.tensors[i]);
        if (strlen(st.tensors[i].name) > width)
            width = strlen(st.tensors[i].name);
    }
    fprintf(out, "%s: %d tensors, %zu values\n", path, st.ntensors, total);
    if (st.nmeta) {
        fprintf(out, "\nmetadata:\n");
        for (int i = 0; i < st.nmeta; i++)
            fprintf(out, "  %s = %s\n", st.meta_keys[i], st.meta_values[i]);
    }
    fprintf(out, "\n%-*s  %-5s %-18s %13s %13s %13s %6s\n", (int)width, "name", "dtype",
            "shape", "min", "mean", "max", "NaN");
    for (int i = 0; i < st.ntensors; i++) {
        const nt_st_tensor *t = &st.tensors[i];
        char shape[128];
        shape_text(shape, sizeof shape, t);
        fprintf(out, "%-*s  %-5s %-18s", (int)width, t->name, t->dtype, shape);
        const size_t n = count_of(t);
        float *v = strcmp(t->dtype, "F32") == 0 ? malloc((n ? n : 1) * sizeof *v) : NULL;
        if (!v) {
            fprintf(out, " %13s %13s %13s %6s\n", "-", "-", "-", "-");
            continue;
        }
        nt_st_copy_f32(&st, t, v);
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        size_t nan = 0, finite = 0;
        for (size_t k = 0; k < n; k++) {
            if (isnan(v[k])) {
                nan++;
                continue;
            }
            lo = v[k] < lo ? v[k] : lo;
            hi = v[k] > hi ? v[k] : hi;
            sum += v[k];
            finite++;
        }
        if (finite)
            fprintf(out, " %13.6g %13.6g %13.6g %6zu\n", lo, sum / (double)finite, hi, nan);
        else
            fprintf(out, " %13s %13s %13s %6zu\n", "-", "-", "-", nan);
        free(v);
    }
    for (int k = 0; k < nnames; k++)
        for (int i = 0; i < st.ntensors; i++)
            if (selects(names[k], st.tensors[i].name))
                print_values(out, &st, &st.tensors[i]);
    nt_st_free(&st);
    return 0;
}
