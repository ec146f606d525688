/* idx.c - MNIST-format IDX files of unsigned bytes (1-d labels, 3-d images,
 * 4-d images N x C x H x W),
 * gzip-compressed or raw, and the train/test splits made of them.
 *
 * zlib's gz* functions read both compressed and raw files. Everything read
 * is validated: the magic, the dimension limits of nt_data.h, the exact
 * number of data bytes (short and over-long files are refused), the gzip CRC
 * and length. Memory grows with the data actually read, up to what the
 * header announces, so a lying header in a small file costs nothing.
 * Trailing bytes after the end of a gzip stream are ignored by zlib (only
 * extra data inside the stream is detected). Resizing is in resize.c. */
#include "nt_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_IMAGES4 0x00000804u
#define IDX_FIRST_ALLOC ((size_t)1 << 20)
#define IDX_MAX_READ ((size_t)1 << 30) /* gzread takes an unsigned count */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* The reason of the last gzread failure (zlib's message starts with the
 * path, which the callers print already). */
static const char *gz_reason(gzFile gz, const char *path)
{
    int code = 0;
    const char *msg = gzerror(gz, &code);
    size_t len = strlen(path);
    if (code == Z_ERRNO)
        return strerror(errno);
    if (strncmp(msg, path, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
        return msg + len + 2;
    return msg;
}

/* Reads up to n bytes; *got is how many arrived before the end of the file.
 * Returns -1 on a read or decompression error. */
static int gz_read_upto(gzFile gz, unsigned char *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t chunk = n - *got < IDX_MAX_READ ? n - *got : IDX_MAX_READ;
        int r = gzread(gz, buf + *got, (unsigned)chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

typedef struct idx_file {
    int ndim;  /* 1, 3 or 4 */
    int n, c, h, w;
    uint8_t *data;
} idx_file;

static int check_dim(const char *path, const char *what, uint32_t v,
                     uint32_t max, nt_error *err)
{
    if (v == 0 || v > max)
        return nt_fail(err, "%s: %s = %lu is outside 1..%lu", path, what,
                       (unsigned long)v, (unsigned long)max);
    return 0;
}

/* Reads the header and the data of an opened file into *f. */
static int read_body(gzFile gz, const char *path, idx_file *f, nt_error *err)
{
    unsigned char head[20];
    size_t got;
    if (gz_read_upto(gz, head, 4, &got) != 0)
        return nt_fail(err, "%s: corrupt gzip data: %s", path,
                       gz_reason(gz, path));
    if (got < 4)
        return nt_fail(err, "%s: truncated header (%zu bytes)", path, got);
    uint32_t magic = be32(head);
    if (magic != IDX_MAGIC_LABELS && magic != IDX_MAGIC_IMAGES && magic != IDX_MAGIC_IMAGES4)
        return nt_fail(err,
                       "%s: not an IDX file of unsigned bytes: magic 0x%08lx, "
                       "expected 0x00000801 (labels), 0x00000803 (images) or "
                       "0x00000804 (images N x C x H x W)",
                       path, (unsigned long)magic);
    f->ndim = magic == IDX_MAGIC_LABELS ? 1 : magic == IDX_MAGIC_IMAGES ? 3 : 4;
    size_t dims_bytes = 4 * (size_t)f->ndim;
    if (gz_read_upto(gz, head + 4, dims_bytes, &got) != 0)
        return nt_fail(err, "%s: corrupt gzip data: %s", path,
                       gz_reason(gz, path));
    if (got < dims_bytes)
        return nt_fail(err, "%s: truncated header (%zu bytes)", path, 4 + got);

    uint32_t n = be32(head + 4), c = 1, h = 1, w = 1;
    if (check_dim(path, "item count", n, NT_IDX_MAX_ITEMS, err) != 0)
        return -1;
    if (f->ndim == 4) {
        c = be32(head + 8);
        if (check_dim(path, "channel count", c, NT_DATA_MAX_CHANNELS, err) != 0)
            return -1;
    }
    if (f->ndim >= 3) {
        h = be32(head + 4 * (size_t)f->ndim - 4);
        w = be32(head + 4 * (size_t)f->ndim);
        if (check_dim(path, "image height", h, NT_IDX_MAX_SIDE, err) != 0 ||
            check_dim(path, "image width", w, NT_IDX_MAX_SIDE, err) != 0)
            return -1;
    }
    f->n = (int)n;
    f->c = (int)c;
    f->h = (int)h;
    f->w = (int)w;

    /* Grow the buffer as data arrives, never beyond the announced size. */
    size_t total = (size_t)n * c * h * w, size = 0, cap = 0;
    while (size < total) {
        if (size == cap) {
            size_t ncap = cap ? 2 * cap : IDX_FIRST_ALLOC;
            if (ncap > total)
                ncap = total;
            uint8_t *p = realloc(f->data, ncap);
            if (!p)
                return nt_fail(err, "%s: out of memory for %zu bytes", path,
                               ncap);
            f->data = p;
            cap = ncap;
        }
        if (gz_read_upto(gz, f->data + size, cap - size, &got) != 0)
            return nt_fail(err, "%s: corrupt gzip data: %s", path,
                           gz_reason(gz, path));
        size += got;
        if (size < cap)
            return nt_fail(err,
                           "%s: truncated: the header announces %zu data "
                           "bytes, the file holds %zu",
                           path, total, size);
    }
    /* One more byte: over-long files, and the gzip CRC check at the end. */
    unsigned char extra;
    if (gz_read_upto(gz, &extra, 1, &got) != 0)
        return nt_fail(err, "%s: corrupt gzip data: %s", path,
                       gz_reason(gz, path));
    if (got != 0)
        return nt_fail(err,
                       "%s: trailing data after the %zu data bytes the "
                       "header announces",
                       path, total);
    return 0;
}

static int read_idx(const char *path, idx_file *f, nt_error *err)
{
    memset(f, 0, sizeof *f);
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return nt_fail(err, "%s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1 << 16);
    int rc = read_body(gz, path, f, err);
    int closed = gzclose(gz);
    if (rc == 0 && closed != Z_OK)
        rc = nt_fail(err, "%s: corrupt or truncated gzip data", path);
    if (rc != 0) {
        free(f->data);
        memset(f, 0, sizeof *f);
    }
    return rc;
}

int nt_idx_read(const char *path, uint8_t **data, int *n, int *h, int *w,
                nt_error *err)
{
    idx_file f;
    *data = NULL;
    if (read_idx(path, &f, err) != 0)
        return -1;
    *data = f.data;
    *n = f.n;
    *h = f.h;
    *w = f.w;
    return 0;
}

/* ---- datasets ------------------------------------------------------------ */

/* Finds the first existing <dir>/<split><suffix>; *path is malloc'ed. */
static int find_split_file(char **path, const char *dir, const char *split,
                           const char *const suffixes[4], const char *what,
                           nt_error *err)
{
    size_t cap = strlen(dir) + strlen(split) + 32;
    for (int i = 0; i < 4; i++) {
        char *p = malloc(cap);
        if (!p)
            return nt_fail(err, "out of memory");
        snprintf(p, cap, "%s/%s%s", dir, split, suffixes[i]);
        struct stat st;
        if (stat(p, &st) == 0) {
            *path = p;
            return 0;
        }
        free(p);
    }
    return nt_fail(err,
                   "no %s file for split '%s': tried %s/%s%s, %s/%s%s, "
                   "%s/%s%s and %s/%s%s",
                   what, split, dir, split, suffixes[0], dir, split,
                   suffixes[1], dir, split, suffixes[2], dir, split,
                   suffixes[3]);
}

static int load_split(nt_dataset *ds, const char *dir, const char *split,
                      int num_classes, char **ipath, char **lpath,
                      idx_file *images, idx_file *labels, nt_error *err)
{
    static const char *const image_suffixes[4] = {
        "-images-idx3-ubyte", "-images-idx3-ubyte.gz",
        "-images.idx3-ubyte", "-images.idx3-ubyte.gz"};
    static const char *const label_suffixes[4] = {
        "-labels-idx1-ubyte", "-labels-idx1-ubyte.gz",
        "-labels.idx1-ubyte", "-labels.idx1-ubyte.gz"};

    if (num_classes < 1)
        return nt_fail(err, "num_classes = %d: must be at least 1",
                       num_classes);
    if (find_split_file(ipath, dir, split, image_suffixes, "images", err) ||
        find_split_file(lpath, dir, split, label_suffixes, "labels", err) ||
        read_idx(*ipath, images, err) || read_idx(*lpath, labels, err))
        return -1;
    if (images->ndim == 1)
        return nt_fail(err, "%s: holds 1-d labels, expected 3-d images",
                       *ipath);
    if (labels->ndim != 1)
        return nt_fail(err, "%s: holds %d-d images, expected 1-d labels",
                       *lpath, labels->ndim);
    if (images->n != labels->n)
        return nt_fail(err, "%s holds %d images but %s holds %d labels",
                       *ipath, images->n, *lpath, labels->n);
    for (int i = 0; i < labels->n; i++)
        if (labels->data[i] >= num_classes)
            return nt_fail(err,
                           "%s: label %d of example %d is not below the "
                           "number of classes, %d",
                           *lpath, labels->data[i], i, num_classes);
    if (!(ds->labels = malloc((size_t)labels->n * sizeof *ds->labels)))
        return nt_fail(err, "%s: out of memory", *lpath);
    for (int i = 0; i < labels->n; i++)
        ds->labels[i] = labels->data[i];
    ds->n = images->n;
    ds->c = images->c;
    ds->h = images->h;
    ds->w = images->w;
    ds->images = images->data;
    images->data = NULL;
    return 0;
}

int nt_dataset_load(nt_dataset *ds, const char *dir, const char *split,
                    int num_classes, nt_error *err)
{
    char *ipath = NULL, *lpath = NULL;
    idx_file images = {0, 0, 0, 0, 0, NULL}, labels = {0, 0, 0, 0, 0, NULL};
    memset(ds, 0, sizeof *ds);
    int rc = load_split(ds, dir, split, num_classes, &ipath, &lpath, &images,
                        &labels, err);
    free(images.data);
    free(labels.data);
    free(ipath);
    free(lpath);
    return rc;
}

void nt_dataset_free(nt_dataset *ds)
{
    free(ds->images);
    free(ds->fimages);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* x / 255 for the 256 byte values, folded by the compiler (the same bits
 * as the division at run time): a load per pixel instead of a division. */
#define U8_1(i) (float)(i) / 255.0f,
#define U8_4(i) U8_1(i) U8_1(i + 1) U8_1(i + 2) U8_1(i + 3)
#define U8_16(i) U8_4(i) U8_4(i + 4) U8_4(i + 8) U8_4(i + 12)
#define U8_64(i) U8_16(i) U8_16(i + 16) U8_16(i + 32) U8_16(i + 48)
static const float u8_scale[256] = {U8_64(0) U8_64(64) U8_64(128) U8_64(192)};

static void u8_to_float_table(float *out, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = u8_scale[in[i]];
}

#if defined(__x86_64__) || defined(__i386__)
/* Widened, converted and divided by 255 a vector at a time: the division
 * rounds as the table's did, the same bits. */
__attribute__((target("avx512f"))) static void u8_to_float_avx512(float *out,
                                                                  const uint8_t *in, size_t n)
{
    const __m512 d = _mm512_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i b = _mm_loadu_si128((const __m128i *)(in + i));
        _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)), d));
    }
    u8_to_float_table(out + i, in + i, n - i);
}

__attribute__((target("avx2"))) static void u8_to_float_avx2(float *out, const uint8_t *in,
                                                             size_t n)
{
    const __m256 d = _mm256_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i b = _mm_loadl_epi64((const __m128i *)(in + i));
        _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), d));
    }
    u8_to_float_table(out + i, in + i, n - i);
}
#endif

void nt_u8_to_float(float *out, const uint8_t *in, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
    const nt_isa isa = nt_cpu_isa();
    if (isa == NT_ISA_AVX512) {
        u8_to_float_avx512(out, in, n);
        return;
    }
    if (isa == NT_ISA_AVX2) {
        u8_to_float_avx2(out, in, n);
        return;
    }
#endif
    u8_to_float_table(out, in, n);
}
