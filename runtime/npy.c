/* npy.c - NumPy .npy files of little-endian float32 ('<f4') C-order arrays
 * with 1 to 8 dims.
 *
 * The reader accepts format versions 1.0, 2.0 and 3.0 and parses the header,
 * a Python dict literal, strictly: exactly the keys 'descr', 'fortran_order'
 * and 'shape', quoted strings without escapes, True/False, a tuple of
 * non-negative integers; the data must fill the rest of the file exactly.
 * Any other dtype is refused with a message naming it; nothing is converted.
 * The writer produces the bytes numpy.save (1.24) would: version 1.0, the
 * same header text and padding to 64 bytes, and goes through nt_atomic_*. */
#include "nt_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_DIMS 8
#define NPY_MAX_HEADER 65536 /* numpy itself refuses over 10000 bytes */
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21 /* numpy's spare room after the dict */
#define NPY_DESCR_CAP 32

/* The dtypes read, and their element sizes. */
static const struct { const char *descr; int size; } npy_dtypes[] = {
    {"|u1", 1}, {"|i1", 1}, {"<i2", 2}, {"<u2", 2}, {"<i4", 4}, {"<u4", 4},
    {"<i8", 8}, {"<u8", 8}, {"<f4", 4},
};

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- header parsing ------------------------------------------------------ */

typedef struct pyparser {
    const char *p, *end;
    const char *path;
    nt_error *err;
} pyparser;

static void py_ws(pyparser *q)
{
    while (q->p < q->end && (*q->p == ' ' || *q->p == '\t' || *q->p == '\n' ||
                             *q->p == '\r'))
        q->p++;
}

static int py_eat(pyparser *q, char c)
{
    py_ws(q);
    if (q->p < q->end && *q->p == c) {
        q->p++;
        return 1;
    }
    return 0;
}

static int py_fail(pyparser *q, const char *what)
{
    return nt_fail(q->err, "%s: malformed .npy header: %s", q->path, what);
}

/* A quoted string without escapes, copied into out (truncated to cap). */
static int py_string(pyparser *q, char *out, size_t cap)
{
    py_ws(q);
    if (q->p >= q->end || (*q->p != '\'' && *q->p != '"'))
        return py_fail(q, "expected a quoted string");
    char quote = *q->p++;
    const char *s = q->p;
    while (q->p < q->end && *q->p != quote && *q->p != '\\' && *q->p != '\n')
        q->p++;
    if (q->p >= q->end || *q->p != quote)
        return py_fail(q, "bad string");
    size_t n = (size_t)(q->p - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    q->p++;
    return 0;
}

static int py_word(pyparser *q, const char *word)
{
    size_t n = strlen(word);
    py_ws(q);
    if ((size_t)(q->end - q->p) < n || memcmp(q->p, word, n) != 0)
        return 0;
    const char *after = q->p + n;
    if (after < q->end && ((*after >= 'a' && *after <= 'z') ||
                           (*after >= 'A' && *after <= 'Z') ||
                           (*after >= '0' && *after <= '9') || *after == '_'))
        return 0;
    q->p = after;
    return 1;
}

/* A tuple of non-negative integers: (), (n,), (a, b) or (a, b,). */
static int py_shape(pyparser *q, int64_t *shape, int *ndim)
{
    *ndim = 0;
    if (!py_eat(q, '('))
        return py_fail(q, "'shape' is not a tuple");
    if (py_eat(q, ')'))
        return 0;
    for (;;) {
        py_ws(q);
        if (q->p >= q->end || *q->p < '0' || *q->p > '9')
            return py_fail(q, "'shape' holds something other than "
                              "non-negative integers");
        int64_t v = 0;
        while (q->p < q->end && *q->p >= '0' && *q->p <= '9') {
            int d = *q->p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return py_fail(q, "a dimension in 'shape' is too large");
            v = v * 10 + d;
        }
        if (*ndim == NPY_MAX_DIMS)
            return nt_fail(q->err, "%s: the array has more than %d dims",
                           q->path, NPY_MAX_DIMS);
        shape[(*ndim)++] = v;
        int comma = py_eat(q, ',');
        if (py_eat(q, ')')) {
            if (*ndim == 1 && !comma)
                return py_fail(q, "'shape' is not a tuple");
            return 0;
        }
        if (!comma)
            return py_fail(q, "expected ',' or ')' in 'shape'");
    }
}

static int parse_npy_header(const char *text, size_t len, const char *path,
                            int64_t *shape, int *ndim, char *descr, nt_error *err)
{
    enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
    pyparser q = {text, text + len, path, err};
    int seen = 0, fortran = 0;
    const char *nul = memchr(text, 0, len);
    if (nul) /* NumPy writes printable text; a NUL would cut strings short */
        return nt_fail(err, "%s: malformed .npy header: a NUL byte at offset %zu", path,
                       (size_t)(nul - text));
    if (!py_eat(&q, '{'))
        return py_fail(&q, "not a dict");
    while (!py_eat(&q, '}')) {
        char key[32];
        if (py_string(&q, key, sizeof key) != 0)
            return -1;
        int which = strcmp(key, "descr") == 0           ? DESCR
                    : strcmp(key, "fortran_order") == 0 ? FORTRAN
                    : strcmp(key, "shape") == 0         ? SHAPE
                                                        : 0;
        if (!which || (seen & which))
            return nt_fail(err, "%s: malformed .npy header: %s key '%s'", path,
                           which ? "duplicate" : "unexpected", key);
        seen |= which;
        if (!py_eat(&q, ':'))
            return py_fail(&q, "expected ':'");
        if (which == DESCR) {
            py_ws(&q);
            if (q.p < q.end && *q.p != '\'' && *q.p != '"')
                return nt_fail(err, "%s: the array has a structured dtype, "
                               "expected a plain number type", path);
            if (py_string(&q, descr, NPY_DESCR_CAP) != 0)
                return -1;
        } else if (which == FORTRAN) {
            if (py_word(&q, "True"))
                fortran = 1;
            else if (!py_word(&q, "False"))
                return py_fail(&q, "'fortran_order' is not True or False");
        } else if (py_shape(&q, shape, ndim) != 0) {
            return -1;
        }
        if (!py_eat(&q, ',')) {
            if (!py_eat(&q, '}'))
                return py_fail(&q, "expected ',' or '}'");
            break;
        }
    }
    py_ws(&q);
    if (q.p != q.end)
        return py_fail(&q, "text after the dict");
    if (seen != (DESCR | FORTRAN | SHAPE))
        return py_fail(&q, !(seen & DESCR)     ? "no 'descr'"
                           : !(seen & FORTRAN) ? "no 'fortran_order'"
                                               : "no 'shape'");
    if (fortran)
        return nt_fail(err, "%s: the array is in Fortran order, expected C "
                       "order", path);
    if (*ndim < 1)
        return nt_fail(err, "%s: the array has 0 dims, expected 1 to %d",
                       path, NPY_MAX_DIMS);
    return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* Reads the whole file into a (raw little-endian data); `want` (or NULL for
 * any dtype of npy_dtypes) is the one dtype accepted. */
static int read_npy(FILE *f, const char *path, nt_npy_array *a, const char *want,
                    nt_error *err)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return nt_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return nt_fail(err, "%s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char pre[12];
    if (size < 10 || fread(pre, 1, 10, f) != 10 ||
        memcmp(pre, npy_magic, sizeof npy_magic) != 0)
        return nt_fail(err, "%s: not a .npy file", path);
    int major = pre[6], minor = pre[7];
    if ((major < 1 || major > 3) || minor != 0)
        return nt_fail(err, "%s: unsupported .npy format version %d.%d", path,
                       major, minor);
    uint64_t hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8, prefix = 10;
    if (major > 1) {
        if (size < 12 || fread(pre + 10, 1, 2, f) != 2)
            return nt_fail(err, "%s: truncated .npy header", path);
        hlen |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        prefix = 12;
    }
    if (hlen > size - prefix)
        return nt_fail(err, "%s: the header length %llu goes beyond the end "
                       "of the file", path, (unsigned long long)hlen);
    if (hlen > NPY_MAX_HEADER)
        return nt_fail(err, "%s: the header length %llu is over the limit of "
                       "%d bytes", path, (unsigned long long)hlen,
                       NPY_MAX_HEADER);
    char *text = malloc((size_t)hlen + 1);
    if (!text)
        return nt_fail(err, "%s: out of memory", path);
    char descr[NPY_DESCR_CAP];
    int rc = fread(text, 1, (size_t)hlen, f) != hlen
                 ? nt_fail(err, "%s: read error in the header", path)
                 : parse_npy_header(text, (size_t)hlen, path, a->shape, &a->ndim,
                                    descr, err);
    free(text);
    if (rc != 0)
        return -1;
    a->elem = 0;
    for (size_t k = 0; k < sizeof npy_dtypes / sizeof *npy_dtypes; k++)
        if (strcmp(descr, npy_dtypes[k].descr) == 0 && (!want || strcmp(want, descr) == 0)) {
            a->elem = npy_dtypes[k].size;
            memcpy(a->dtype, npy_dtypes[k].descr, 4);
        }
    if (!a->elem && want)
        return nt_fail(err, "%s: the array has dtype '%s', expected '%s'%s", path, descr,
                       want, strcmp(want, "<f4") == 0 ? " (little-endian float32)" : "");
    if (!a->elem)
        return nt_fail(err, "%s: the array has dtype '%s', expected uint8, float32 or "
                       "a little-endian integer type", path, descr);

    const uint64_t elem = (uint64_t)a->elem;
    uint64_t count = 1, data_size = size - prefix - hlen;
    for (int d = 0; d < a->ndim; d++) {
        uint64_t dim = (uint64_t)a->shape[d];
        if (dim != 0 && count > UINT64_MAX / 8 / dim)
            return nt_fail(err, "%s: the element count overflows", path);
        count *= dim;
    }
    if (elem * count != data_size)
        return nt_fail(err, "%s: %s: the shape needs %llu data bytes, the file "
                       "holds %llu", path, elem * count > data_size ? "truncated" : "too long",
                       (unsigned long long)(elem * count), (unsigned long long)data_size);
    unsigned char *raw = malloc(data_size ? (size_t)data_size : 1);
    if (!raw)
        return nt_fail(err, "%s: out of memory", path);
    if (fread(raw, 1, (size_t)data_size, f) != data_size) {
        free(raw);
        return nt_fail(err, "%s: read error in the data", path);
    }
    a->data = raw;
    a->count = (size_t)count;
    return 0;
}

static int read_npy_path(const char *path, nt_npy_array *a, const char *want,
                         nt_error *err)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nt_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_npy(f, path, a, want, err);
    fclose(f);
    if (rc != 0) {
        free(a->data);
        memset(a, 0, sizeof *a);
    }
    return rc;
}

int nt_npy_read(const char *path, nt_npy_array *a, nt_error *err)
{
    return read_npy_path(path, a, NULL, err);
}

int64_t nt_npy_int(const nt_npy_array *a, size_t i)
{
    const unsigned char *p = (const unsigned char *)a->data + i * (size_t)a->elem;
    uint64_t u = 0;
    for (int b = a->elem - 1; b >= 0; b--)
        u = u << 8 | p[b];
    const int is_signed = a->dtype[1] == 'i';
    if (is_signed && a->elem < 8 && (u >> (8 * a->elem - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * a->elem);
    return is_signed ? (int64_t)u : (u > INT64_MAX ? INT64_MAX : (int64_t)u);
}

int nt_npy_read_f32(const char *path, float **data, int64_t *shape, int *ndim,
                    nt_error *err)
{
    nt_npy_array a;
    *data = NULL;
    *ndim = 0;
    if (read_npy_path(path, &a, "<f4", err) != 0)
        return -1;
    /* Convert in place: element i's bytes are exactly where float i goes. */
    unsigned char *raw = a.data;
    float *x = (float *)(void *)raw;
    for (size_t i = 0; i < a.count; i++) {
        const unsigned char *p = raw + 4 * i;
        uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                        (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&x[i], &bits, 4);
    }
    *data = x;
    *ndim = a.ndim;
    memcpy(shape, a.shape, (size_t)a.ndim * sizeof *shape);
    return 0;
}

/* ---- writing ------------------------------------------------------------- */

int nt_npy_write_f32(const char *path, const float *data,
                     const int64_t *shape, int ndim, nt_error *err)
{
    if (ndim < 1 || ndim > NPY_MAX_DIMS)
        return nt_fail(err, "%s: %d dims, 1 to %d are supported", path, ndim,
                       NPY_MAX_DIMS);
    /* The header as numpy writes it: sorted keys, a Python tuple, spare room
     * for the first dim to grow, spaces and '\n' up to a multiple of 64. */
    char head[512];
    int n = snprintf(head, sizeof head,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] != 0 &&
                             count > UINT64_MAX / 4 / (uint64_t)shape[d]))
            return nt_fail(err, "%s: bad shape", path);
        count *= (uint64_t)shape[d];
        n += snprintf(head + n, sizeof head - (size_t)n, "%s%lld",
                      d ? ", " : "", (long long)shape[d]);
    }
    if (count > 0 && !data)
        return nt_fail(err, "%s: no data", path);
    n += snprintf(head + n, sizeof head - (size_t)n, "%s), }",
                  ndim == 1 ? "," : "");
    int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
    n += snprintf(head + n, sizeof head - (size_t)n, "%*s",
                  NPY_GROWTH_DIGITS - digits, "");
    int pad = NPY_ALIGN - (10 + n + 1) % NPY_ALIGN;
    n += snprintf(head + n, sizeof head - (size_t)n, "%*s\n", pad, "");

    unsigned char pre[10];
    memcpy(pre, npy_magic, sizeof npy_magic);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(n & 0xff);
    pre[9] = (unsigned char)(n >> 8);

    nt_atomic_file af;
    if (nt_atomic_open(&af, path, err) != 0)
        return -1;
    FILE *f = af.fp;
    int ok = fwrite(pre, 1, 10, f) == 10 &&
             fwrite(head, 1, (size_t)n, f) == (size_t)n;
    unsigned char buf[4096];
    for (uint64_t i = 0; ok && i < count;) {
        size_t k = 0;
        for (; k < sizeof buf / 4 && i < count; k++, i++) {
            uint32_t bits;
            memcpy(&bits, &data[i], 4);
            buf[4 * k] = (unsigned char)bits;
            buf[4 * k + 1] = (unsigned char)(bits >> 8);
            buf[4 * k + 2] = (unsigned char)(bits >> 16);
            buf[4 * k + 3] = (unsigned char)(bits >> 24);
        }
        ok = fwrite(buf, 4, k, f) == k;
    }
    if (!ok) {
        int e = errno;
        nt_atomic_abort(&af);
        return nt_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    return nt_atomic_commit(&af, err);
}
