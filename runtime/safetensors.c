/* safetensors.c - reading and writing safetensors files (Hugging Face's
 * format: an 8-byte little-endian header length, a JSON header, the raw
 * little-endian data).
 *
 * The reader parses the header with a small strict JSON reader of its own
 * that knows the one shape a header may have (an object of tensor entries
 * plus an optional "__metadata__" object of strings): no recursion, no
 * unknown keys, valid UTF-8, integers only where integers belong. It then
 * checks what the reference implementation checks: known dtypes, element
 * count times dtype size equal to the byte range, ranges inside the data
 * section that cover it exactly, without overlaps or holes, and unique names.
 * The writer emits F32 tensors only, in the caller's order, with the header
 * padded with spaces to a multiple of 8 bytes, through nt_atomic_*. Neither
 * converts dtypes other than F32 to float. */
#include "nt_io.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* as the reference */
#define ST_METADATA "__metadata__"

/* ---- dtypes -------------------------------------------------------------- */

static const struct dtype_info {
    const char *name;
    int size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8},
};

/* The element size of a dtype, 0 if unknown. */
static int dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].size;
    return 0;
}

/* ---- UTF-8 --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, cp = s[0] & 0x1fu, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, cp = s[0] & 0x0fu, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, cp = s[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* ---- the JSON reader ----------------------------------------------------- */

typedef struct json {
    const char *start, *p, *end;
    const char *path;
    nt_error *err;
} json;

static int json_fail(json *j, const char *what)
{
    return nt_fail(j->err, "%s: invalid JSON header at byte %zu: %s", j->path,
                   (size_t)(j->p - j->start), what);
}

static void json_ws(json *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skips whitespace, then consumes c if it is next. */
static int json_eat(json *j, char c)
{
    json_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

static int json_expect(json *j, char c)
{
    if (json_eat(j, c))
        return 0;
    char msg[16];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return json_fail(j, msg);
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reads the \u escape at j->p (just after the backslash and 'u'), with its
 * low surrogate if it is a high one; returns the code point or -1. */
static long json_unicode(json *j)
{
    uint32_t hi, lo;
    if (j->end - j->p < 4 || hex4(j->p, &hi) != 0)
        return json_fail(j, "bad \\u escape");
    j->p += 4;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return json_fail(j, "unpaired low surrogate in \\u escape");
    if (hi < 0xd800 || hi > 0xdbff)
        return hi;
    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
        hex4(j->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
        return json_fail(j, "unpaired high surrogate in \\u escape");
    j->p += 6;
    return 0x10000 + ((long)(hi - 0xd800) << 10) + (long)(lo - 0xdc00);
}

/* Reads a string into a malloc'ed, NUL-terminated UTF-8 buffer. Strings may
 * not contain NUL (a C name could not hold it). */
static int json_string(json *j, char **out)
{
    *out = NULL;
    if (!json_eat(j, '"'))
        return json_fail(j, "expected a string");
    const char *q = j->p;
    while (q < j->end && *q != '"') /* the decoded text is never longer */
        q += *q == '\\' && q + 1 < j->end ? 2 : 1;
    if (q >= j->end)
        return json_fail(j, "unterminated string");
    char *s = malloc((size_t)(q - j->p) + 1), *o = s;
    if (!s)
        return nt_fail(j->err, "%s: out of memory", j->path);
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) {
            free(s);
            return json_fail(j, "control character in a string");
        }
        if (c != '\\') {
            size_t len = utf8_seq((const unsigned char *)j->p,
                                  (size_t)(j->end - j->p));
            if (len == 0) {
                free(s);
                return json_fail(j, "invalid UTF-8 in a string");
            }
            memcpy(o, j->p, len);
            o += len;
            j->p += len;
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt";
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        j->p++;
        char e = *j->p++;
        const char *plain = e != '\0' ? strchr(escapes, e) : NULL;
        if (plain) {
            *o++ = decoded[plain - escapes];
        } else if (e == 'u') {
            long cp = json_unicode(j);
            if (cp < 0) {
                free(s);
                return -1;
            }
            if (cp == 0) {
                free(s);
                return json_fail(j, "NUL character in a string");
            }
            o += put_utf8(o, (uint32_t)cp);
        } else {
            j->p--;
            free(s);
            return json_fail(j, "bad escape in a string");
        }
    }
    j->p++;
    *o = '\0';
    *out = s;
    return 0;
}

/* A non-negative integer without fraction or exponent, at most INT64_MAX. */
static int json_uint(json *j, uint64_t *v)
{
    json_ws(j);
    const char *p = j->p;
    if (p >= j->end || *p < '0' || *p > '9')
        return json_fail(j, "expected a non-negative integer");
    if (*p == '0' && p + 1 < j->end && p[1] >= '0' && p[1] <= '9')
        return json_fail(j, "leading zero in a number");
    uint64_t x = 0;
    while (p < j->end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return json_fail(j, "integer too large");
        x = x * 10 + d;
        p++;
    }
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return json_fail(j, "expected an integer, not a fraction");
    j->p = p;
    *v = x;
    return 0;
}

/* An array of at most max integers. */
static int json_uint_array(json *j, uint64_t *v, int max, int *n,
                           const char *what)
{
    *n = 0;
    if (json_expect(j, '[') != 0)
        return -1;
    if (json_eat(j, ']'))
        return 0;
    do {
        if (*n == max) {
            char m[96];
            snprintf(m, sizeof m, "%s has more than %d elements", what, max);
            return json_fail(j, m);
        }
        if (json_uint(j, &v[(*n)++]) != 0)
            return -1;
    } while (json_eat(j, ','));
    return json_expect(j, ']');
}

/* ---- reading ------------------------------------------------------------- */

typedef struct parsed_tensor {
    nt_st_tensor t;
    uint64_t begin, end; /* unchecked until validate() */
} parsed_tensor;

typedef struct header {
    parsed_tensor *tensors;
    int ntensors, cap;
    char **keys, **values;
    int nmeta, meta_cap;
    int seen_meta;
} header;

static void header_free(header *h)
{
    for (int i = 0; i < h->ntensors; i++)
        free(h->tensors[i].t.name);
    for (int i = 0; i < h->nmeta; i++) {
        free(h->keys[i]);
        free(h->values[i]);
    }
    free(h->tensors);
    free(h->keys);
    free(h->values);
    memset(h, 0, sizeof *h);
}

/* Appends a zeroed tensor entry; NULL when out of memory. */
static parsed_tensor *add_tensor(header *h)
{
    if (h->ntensors == h->cap) {
        int ncap = h->cap ? 2 * h->cap : 16;
        parsed_tensor *p = h->cap > (1 << 28) ? NULL
                           : realloc(h->tensors, (size_t)ncap * sizeof *p);
        if (!p)
            return NULL;
        h->tensors = p;
        h->cap = ncap;
    }
    parsed_tensor *pt = &h->tensors[h->ntensors++];
    memset(pt, 0, sizeof *pt);
    return pt;
}

/* Appends a key/value pair to the metadata (taking ownership). */
static int add_meta(header *h, char *key, char *value)
{
    if (h->nmeta == h->meta_cap) {
        int ncap = h->meta_cap ? 2 * h->meta_cap : 8;
        char **k = realloc(h->keys, (size_t)ncap * sizeof *k);
        if (k)
            h->keys = k;
        char **v = k ? realloc(h->values, (size_t)ncap * sizeof *v) : NULL;
        if (v)
            h->values = v;
        if (!k || !v || h->meta_cap > (1 << 28)) {
            free(key);
            free(value);
            return -1;
        }
        h->meta_cap = ncap;
    }
    h->keys[h->nmeta] = key;
    h->values[h->nmeta++] = value;
    return 0;
}

static int parse_metadata(json *j, header *h)
{
    if (h->seen_meta)
        return json_fail(j, "duplicate key \"" ST_METADATA "\"");
    h->seen_meta = 1;
    if (json_expect(j, '{') != 0)
        return -1;
    if (json_eat(j, '}'))
        return 0;
    do {
        char *key, *value;
        if (json_string(j, &key) != 0)
            return -1;
        if (json_expect(j, ':') != 0) {
            free(key);
            return -1;
        }
        json_ws(j);
        if (j->p == j->end || *j->p != '"') {
            nt_fail(j->err, "%s: invalid header: the " ST_METADATA
                    " value of \"%s\" is not a string", j->path, key);
            free(key);
            return -1;
        }
        if (json_string(j, &value) != 0) {
            free(key);
            return -1;
        }
        if (add_meta(h, key, value) != 0)
            return nt_fail(j->err, "%s: out of memory", j->path);
    } while (json_eat(j, ','));
    return json_expect(j, '}');
}

/* Parses the entry of tensor name (already stored in *pt). */
static int parse_tensor(json *j, parsed_tensor *pt)
{
    enum { DTYPE = 1, SHAPE = 2, OFFSETS = 4 };
    int seen = 0;
    const char *name = pt->t.name;
    if (json_expect(j, '{') != 0)
        return -1;
    if (!json_eat(j, '}')) {
        do {
            char *key;
            if (json_string(j, &key) != 0)
                return -1;
            int which = strcmp(key, "dtype") == 0          ? DTYPE
                        : strcmp(key, "shape") == 0        ? SHAPE
                        : strcmp(key, "data_offsets") == 0 ? OFFSETS
                                                           : 0;
            if (!which || (seen & which)) {
                nt_fail(j->err, "%s: invalid header: %s key \"%s\" in tensor "
                        "\"%s\"", j->path, which ? "duplicate" : "unknown",
                        key, name);
                free(key);
                return -1;
            }
            free(key);
            seen |= which;
            if (json_expect(j, ':') != 0)
                return -1;
            if (which == DTYPE) {
                char *dt;
                if (json_string(j, &dt) != 0)
                    return -1;
                if (dtype_size(dt) == 0) {
                    nt_fail(j->err, "%s: tensor \"%s\" has unknown dtype "
                            "\"%.16s\"", j->path, name, dt);
                    free(dt);
                    return -1;
                }
                strcpy(pt->t.dtype, dt); /* known names fit in dtype[8] */
                free(dt);
            } else if (which == SHAPE) {
                uint64_t dims[NT_ST_MAX_DIMS];
                if (json_uint_array(j, dims, NT_ST_MAX_DIMS, &pt->t.ndim,
                                    "shape") != 0)
                    return -1;
                for (int d = 0; d < pt->t.ndim; d++)
                    pt->t.shape[d] = (int64_t)dims[d];
            } else {
                uint64_t off[2];
                int n;
                if (json_uint_array(j, off, 2, &n, "data_offsets") != 0)
                    return -1;
                if (n != 2)
                    return json_fail(j, "data_offsets needs 2 elements");
                pt->begin = off[0];
                pt->end = off[1];
            }
        } while (json_eat(j, ','));
        if (json_expect(j, '}') != 0)
            return -1;
    }
    if (seen != (DTYPE | SHAPE | OFFSETS))
        return nt_fail(j->err, "%s: invalid header: tensor \"%s\" lacks %s",
                       j->path, name,
                       !(seen & DTYPE)   ? "\"dtype\""
                       : !(seen & SHAPE) ? "\"shape\""
                                         : "\"data_offsets\"");
    return 0;
}

static int parse_header(header *h, const char *text, size_t len,
                        const char *path, nt_error *err)
{
    json j = {text, text, text + len, path, err};
    memset(h, 0, sizeof *h);
    if (json_expect(&j, '{') != 0)
        return -1;
    if (!json_eat(&j, '}')) {
        do {
            char *key;
            if (json_string(&j, &key) != 0)
                return -1;
            if (json_expect(&j, ':') != 0) {
                free(key);
                return -1;
            }
            if (strcmp(key, ST_METADATA) == 0) {
                free(key);
                if (parse_metadata(&j, h) != 0)
                    return -1;
                continue;
            }
            parsed_tensor *pt = add_tensor(h);
            if (!pt) {
                free(key);
                return nt_fail(err, "%s: out of memory", path);
            }
            pt->t.name = key;
            if (parse_tensor(&j, pt) != 0)
                return -1;
        } while (json_eat(&j, ','));
        if (json_expect(&j, '}') != 0)
            return -1;
    }
    json_ws(&j);
    if (j.p != j.end)
        return json_fail(&j, "unexpected text after the header object");
    return 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A name that appears twice among names[0..n) (which it sorts), or NULL. */
static const char *find_duplicate(char **names, int n)
{
    qsort(names, (size_t)n, sizeof *names, by_string);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

typedef struct span {
    uint64_t begin, end;
    const char *name;
} span;

static int by_offsets(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks one tensor's dtype, shape and offsets against the data size. */
static int check_tensor(parsed_tensor *pt, uint64_t data_size,
                        const char *path, nt_error *err)
{
    const char *name = pt->t.name;
    unsigned long long b = pt->begin, e = pt->end;
    if (b > e)
        return nt_fail(err, "%s: tensor \"%s\" has reversed data_offsets "
                       "[%llu, %llu]", path, name, b, e);
    if (e > data_size)
        return nt_fail(err, "%s: tensor \"%s\" has data_offsets [%llu, %llu] "
                       "outside the data section of %llu bytes", path, name,
                       b, e, (unsigned long long)data_size);
    uint64_t count = 1;
    for (int d = 0; d < pt->t.ndim; d++) {
        uint64_t dim = (uint64_t)pt->t.shape[d];
        if (dim != 0 && count > UINT64_MAX / dim)
            return nt_fail(err, "%s: tensor \"%s\": element count overflows",
                           path, name);
        count *= dim;
    }
    uint64_t size = (uint64_t)dtype_size(pt->t.dtype);
    if (count > UINT64_MAX / size)
        return nt_fail(err, "%s: tensor \"%s\": byte count overflows", path,
                       name);
    if (count * size != e - b) {
        char dims[NT_ST_MAX_DIMS * 21 + 1] = "";
        for (int d = 0, at = 0; d < pt->t.ndim; d++)
            at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%lld",
                           d ? ", " : "", (long long)pt->t.shape[d]);
        return nt_fail(err, "%s: tensor \"%s\": shape [%s] of %s needs "
                       "%llu bytes, data_offsets [%llu, %llu] hold %llu",
                       path, name, dims, pt->t.dtype,
                       (unsigned long long)(count * size), b, e, e - b);
    }
    pt->t.begin = (size_t)b;
    pt->t.end = (size_t)e;
    return 0;
}

/* Checks the ranges, which must tile the data section without overlap or
 * hole (as the reference reader requires). */
static int check_tiling(const header *h, uint64_t data_size, span *spans,
                        const char *path, nt_error *err)
{
    for (int i = 0; i < h->ntensors; i++) {
        spans[i].begin = h->tensors[i].begin;
        spans[i].end = h->tensors[i].end;
        spans[i].name = h->tensors[i].t.name;
    }
    qsort(spans, (size_t)h->ntensors, sizeof *spans, by_offsets);
    uint64_t next = 0;
    for (int i = 0; i < h->ntensors; i++) {
        if (spans[i].begin < next)
            return nt_fail(err, "%s: the data of tensors \"%s\" and \"%s\" "
                           "overlap", path, spans[i - 1].name, spans[i].name);
        if (spans[i].begin > next)
            return nt_fail(err, "%s: bytes %llu to %llu of the data section "
                           "belong to no tensor", path,
                           (unsigned long long)next,
                           (unsigned long long)spans[i].begin);
        next = spans[i].end;
    }
    if (next != data_size)
        return nt_fail(err, "%s: bytes %llu to %llu of the data section "
                       "belong to no tensor", path, (unsigned long long)next,
                       (unsigned long long)data_size);
    return 0;
}

static int validate(header *h, uint64_t data_size, const char *path,
                    nt_error *err)
{
    int n = h->ntensors > h->nmeta ? h->ntensors : h->nmeta;
    char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    span *spans = malloc((size_t)(n ? n : 1) * sizeof *spans);
    int rc = -1;
    const char *dup;
    if (!names || !spans) {
        nt_fail(err, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < h->ntensors; i++) {
        if (check_tensor(&h->tensors[i], data_size, path, err) != 0)
            goto out;
        names[i] = h->tensors[i].t.name;
    }
    if ((dup = find_duplicate(names, h->ntensors)) != NULL) {
        nt_fail(err, "%s: duplicate tensor name \"%s\"", path, dup);
        goto out;
    }
    for (int i = 0; i < h->nmeta; i++)
        names[i] = h->keys[i];
    if ((dup = find_duplicate(names, h->nmeta)) != NULL) {
        nt_fail(err, "%s: duplicate " ST_METADATA " key \"%s\"", path, dup);
        goto out;
    }
    rc = check_tiling(h, data_size, spans, path, err);
out:
    free(names);
    free(spans);
    return rc;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int read_file(nt_safetensors *st, FILE *f, const char *path,
                     char **text, nt_error *err)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0)
        return nt_fail(err, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return nt_fail(err, "%s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8)
        return nt_fail(err, "%s: too short for a safetensors file (%llu "
                       "bytes)", path, (unsigned long long)size);
    uint64_t hlen = le64(len8);
    if (hlen > size - 8)
        return nt_fail(err, "%s: the header length %llu goes beyond the end "
                       "of the file (%llu bytes)", path,
                       (unsigned long long)hlen, (unsigned long long)size);
    if (hlen > ST_MAX_HEADER)
        return nt_fail(err, "%s: the header length %llu is larger than the "
                       "limit of %llu bytes", path, (unsigned long long)hlen,
                       (unsigned long long)ST_MAX_HEADER);
    *text = malloc((size_t)hlen + 1);
    if (!*text)
        return nt_fail(err, "%s: out of memory", path);
    if (fread(*text, 1, (size_t)hlen, f) != hlen)
        return nt_fail(err, "%s: read error in the header", path);
    header h;
    if (parse_header(&h, *text, (size_t)hlen, path, err) != 0 ||
        validate(&h, size - 8 - hlen, path, err) != 0) {
        header_free(&h);
        return -1;
    }

    st->data_size = (size_t)(size - 8 - hlen);
    st->data = malloc(st->data_size ? st->data_size : 1);
    st->tensors = malloc((size_t)(h.ntensors ? h.ntensors : 1) *
                         sizeof *st->tensors);
    if (!st->data || !st->tensors) {
        header_free(&h);
        return nt_fail(err, "%s: out of memory", path);
    }
    if (fread(st->data, 1, st->data_size, f) != st->data_size) {
        header_free(&h);
        return nt_fail(err, "%s: read error in the data", path);
    }
    for (int i = 0; i < h.ntensors; i++) {
        st->tensors[i] = h.tensors[i].t;
        h.tensors[i].t.name = NULL;
    }
    st->ntensors = h.ntensors;
    st->meta_keys = h.keys;
    st->meta_values = h.values;
    st->nmeta = h.nmeta;
    h.keys = h.values = NULL;
    h.nmeta = 0;
    header_free(&h);
    return 0;
}

int nt_st_read(nt_safetensors *st, const char *path, nt_error *err)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nt_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    int rc = read_file(st, f, path, &text, err);
    free(text);
    fclose(f);
    if (rc != 0)
        nt_st_free(st);
    return rc;
}

const nt_st_tensor *nt_st_find(const nt_safetensors *st, const char *name)
{
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *nt_st_meta(const nt_safetensors *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

void nt_st_copy_f32(const nt_safetensors *st, const nt_st_tensor *t,
                    float *dst)
{
    /* dst: [(t->end - t->begin) / 4] */
    assert(strcmp(t->dtype, "F32") == 0 && t->end <= st->data_size);
    const unsigned char *p = st->data + t->begin;
    size_t n = (t->end - t->begin) / 4;
    for (size_t i = 0; i < n; i++, p += 4) {
        uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                        (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&dst[i], &bits, 4);
    }
}

void nt_st_free(nt_safetensors *st)
{
    for (int i = 0; i < st->ntensors; i++)
        free(st->tensors[i].name);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->data);
    memset(st, 0, sizeof *st);
}

/* ---- writing ------------------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *p = realloc(b->s, ncap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_u64(strbuf *b, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    sb_str(b, num);
}

/* A JSON string literal (s is valid UTF-8, which passes through). */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, s, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static int check_entries(const nt_st_entry *tensors, int ntensors,
                         const char *const *keys, const char *const *values,
                         int nmeta, const char *path, nt_error *err)
{
    int n = ntensors > nmeta ? ntensors : nmeta;
    char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    const char *dup;
    int rc = -1;
    if (!names)
        return nt_fail(err, "%s: out of memory", path);
    for (int i = 0; i < ntensors; i++) {
        const nt_st_entry *e = &tensors[i];
        if (!e->name || !utf8_valid(e->name) ||
            strcmp(e->name, ST_METADATA) == 0) {
            nt_fail(err, "%s: tensor %d has no valid name", path, i);
            goto out;
        }
        if (e->ndim < 0 || e->ndim > NT_ST_MAX_DIMS) {
            nt_fail(err, "%s: tensor \"%s\" has %d dims (0..%d allowed)", path,
                    e->name, e->ndim, NT_ST_MAX_DIMS);
            goto out;
        }
        uint64_t count = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 ||
                (e->shape[d] != 0 &&
                 count > (UINT64_MAX / 4) / (uint64_t)e->shape[d])) {
                nt_fail(err, "%s: tensor \"%s\" has a bad shape", path,
                        e->name);
                goto out;
            }
            count *= (uint64_t)e->shape[d];
        }
        if (count > 0 && !e->data) {
            nt_fail(err, "%s: tensor \"%s\" has no data", path, e->name);
            goto out;
        }
        names[i] = (char *)e->name;
    }
    if ((dup = find_duplicate(names, ntensors)) != NULL) {
        nt_fail(err, "%s: duplicate tensor name \"%s\"", path, dup);
        goto out;
    }
    for (int i = 0; i < nmeta; i++) {
        if (!keys[i] || !values[i] || !utf8_valid(keys[i]) ||
            !utf8_valid(values[i])) {
            nt_fail(err, "%s: metadata entry %d is not a pair of UTF-8 "
                    "strings", path, i);
            goto out;
        }
        names[i] = (char *)keys[i];
    }
    if ((dup = find_duplicate(names, nmeta)) != NULL) {
        nt_fail(err, "%s: duplicate metadata key \"%s\"", path, dup);
        goto out;
    }
    rc = 0;
out:
    free(names);
    return rc;
}

static uint64_t entry_bytes(const nt_st_entry *e)
{
    uint64_t count = 1;
    for (int d = 0; d < e->ndim; d++)
        count *= (uint64_t)e->shape[d];
    return 4 * count;
}

static void build_header(strbuf *b, const nt_st_entry *tensors, int ntensors,
                         const char *const *keys, const char *const *values,
                         int nmeta)
{
    sb_str(b, "{");
    if (nmeta > 0) {
        sb_str(b, "\"" ST_METADATA "\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_string(b, keys[i]);
            sb_str(b, ":");
            sb_json_string(b, values[i]);
        }
        sb_str(b, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const nt_st_entry *e = &tensors[i];
        if (i || nmeta > 0)
            sb_str(b, ",");
        sb_json_string(b, e->name);
        sb_str(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d)
                sb_str(b, ",");
            sb_u64(b, (uint64_t)e->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, offset);
        sb_str(b, ",");
        offset += entry_bytes(e);
        sb_u64(b, offset);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->len % 8 != 0)
        sb_str(b, " ");
}

/* Writes n floats little-endian. */
static int write_f32(FILE *f, const float *x, uint64_t n)
{
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? (size_t)n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t bits;
            memcpy(&bits, &x[i], 4);
            buf[4 * i] = (unsigned char)bits;
            buf[4 * i + 1] = (unsigned char)(bits >> 8);
            buf[4 * i + 2] = (unsigned char)(bits >> 16);
            buf[4 * i + 3] = (unsigned char)(bits >> 24);
        }
        if (fwrite(buf, 4, k, f) != k)
            return -1;
        x += k;
        n -= k;
    }
    return 0;
}

int nt_st_write(const char *path, const nt_st_entry *tensors, int ntensors,
                const char *const *meta_keys, const char *const *meta_values,
                int nmeta, nt_error *err)
{
    if (ntensors < 0 || nmeta < 0)
        return nt_fail(err, "%s: negative tensor or metadata count", path);
    if (check_entries(tensors, ntensors, meta_keys, meta_values, nmeta, path,
                      err) != 0)
        return -1;
    strbuf b = {NULL, 0, 0, 0};
    build_header(&b, tensors, ntensors, meta_keys, meta_values, nmeta);
    if (b.failed) {
        free(b.s);
        return nt_fail(err, "%s: out of memory", path);
    }

    nt_atomic_file af;
    if (nt_atomic_open(&af, path, err) != 0) {
        free(b.s);
        return -1;
    }
    FILE *f = af.fp;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(b.s, 1, b.len, f) == b.len;
    for (int i = 0; ok && i < ntensors; i++)
        ok = write_f32(f, tensors[i].data, entry_bytes(&tensors[i]) / 4) == 0;
    free(b.s);
    if (!ok) {
        int e = errno;
        nt_atomic_abort(&af);
        return nt_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    return nt_atomic_commit(&af, err);
}
