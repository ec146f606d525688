/* nt_io.h - files the trainer reads and writes besides the dataset:
 * safetensors checkpoints, NumPy .npy arrays and SVG training curves.
 *
 * Every writer is atomic: it writes a temporary file in the same directory,
 * flushes it, and renames it over the destination, so an interrupted write
 * never leaves a half-written file under the real name. Every reader
 * validates the whole file and returns -1 with a message on anything
 * malformed (never crashes, never trusts a size it has not checked).
 */
#ifndef NT_IO_H
#define NT_IO_H

#include "nt_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors ----------------------------------------------------------
 * Hugging Face format: 8-byte little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the raw little-endian data. */

#define NT_ST_MAX_DIMS 8

typedef struct nt_st_tensor {
    char *name;
    char dtype[8];                  /* "F32", "F64", "I64", ... as in the file */
    int ndim;
    int64_t shape[NT_ST_MAX_DIMS];
    size_t begin, end;              /* byte offsets into data */
} nt_st_tensor;

typedef struct nt_safetensors {
    nt_st_tensor *tensors;          /* in the order of the JSON header */
    int ntensors;
    char **meta_keys, **meta_values;/* __metadata__ (string values only) */
    int nmeta;
    unsigned char *data;            /* the data section */
    size_t data_size;
} nt_safetensors;

/* Reads and validates a whole file: header length within the file, valid
 * JSON, known dtypes, shapes whose element count matches data_offsets,
 * offsets inside the data section, no overlaps, no duplicate names. */
int nt_st_read(nt_safetensors *st, const char *path, nt_error *err);
/* NULL if absent. */
const nt_st_tensor *nt_st_find(const nt_safetensors *st, const char *name);
const char *nt_st_meta(const nt_safetensors *st, const char *key);
/* Copies an F32 tensor's data (little-endian in the file) to dst. */
void nt_st_copy_f32(const nt_safetensors *st, const nt_st_tensor *t, float *dst);
void nt_st_free(nt_safetensors *st);

typedef struct nt_st_entry {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;              /* F32, count = product of shape */
} nt_st_entry;

/* Writes F32 tensors in the given order (header keys and data offsets both in
 * that order) plus __metadata__ from nmeta key/value string pairs; atomic. */
int nt_st_write(const char *path, const nt_st_entry *tensors, int ntensors,
                const char *const *meta_keys, const char *const *meta_values,
                int nmeta, nt_error *err);

/* ---- NumPy .npy ------------------------------------------------------------- */

/* Reads a little-endian float32 ('<f4') C-order array of 1 to 8 dims (format
 * versions 1.0, 2.0, 3.0). Other dtypes or Fortran order are refused with a
 * message saying what was found. *data is malloc'ed. */
int nt_npy_read_f32(const char *path, float **data, int64_t *shape, int *ndim,
                    nt_error *err);
/* Any array of uint8 ('|u1'), float32 ('<f4') or a little-endian integer
 * type ('|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8'), C order, 0 to 8
 * dims: the raw little-endian bytes. A file shorter or longer than its
 * shape says is refused ("truncated" / "too long"). */
typedef struct nt_npy_array {
    char dtype[8];           /* as in the file: "|u1", "<f4", "<i8", ... */
    int elem;                /* bytes per element */
    int ndim;
    int64_t shape[8];
    size_t count;            /* elements */
    void *data;              /* malloc'ed, count * elem bytes */
} nt_npy_array;

int nt_npy_read(const char *path, nt_npy_array *a, nt_error *err);
/* Element i of an integer array (saturated to INT64_MAX for huge uint64). */
int64_t nt_npy_int(const nt_npy_array *a, size_t i);

/* Writes '<f4' C-order, format 1.0; atomic. */
int nt_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                     int ndim, nt_error *err);

/* ---- SVG plot ---------------------------------------------------------------- */

/* One line of the plot: n points (x[i], y[i]). */
typedef struct nt_curve {
    const char *label;
    const double *x, *y;
    int n;
    const char *color;   /* SVG colour, e.g. "#1f77b4" */
    int dashed;          /* 0 solid, 1 dashed, 2 dash-dot */
} nt_curve;

/* Draws curves as d2l's Animator does for train_ch6: x axis from xmin to
 * xmax labelled xlabel, y axis fitted to the data (or [ymin, ymax] if
 * ymin < ymax), grid, ticks, a legend; atomic write. */
int nt_plot_svg(const char *path, const char *title, const char *xlabel,
                double xmin, double xmax, double ymin, double ymax,
                const nt_curve *curves, int ncurves, nt_error *err);

/* ---- atomic files ------------------------------------------------------------ */

/* Opens a temporary file next to path for writing; nt_atomic_commit flushes,
 * fsyncs, closes and renames it to path; nt_atomic_abort removes it. */
typedef struct nt_atomic_file {
    void *fp;            /* FILE * */
    char *tmp_path;
    char *path;
} nt_atomic_file;

int nt_atomic_open(nt_atomic_file *f, const char *path, nt_error *err);
int nt_atomic_commit(nt_atomic_file *f, nt_error *err);
void nt_atomic_abort(nt_atomic_file *f);

#ifdef __cplusplus
}
#endif

#endif
