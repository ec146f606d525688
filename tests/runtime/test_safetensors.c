/* test_safetensors.c - the safetensors reader and writer (safetensors.c) and
 * the atomic files they are written through (atomic_file.c): round trips,
 * files written by Python, corrupt files each refused with a clear message,
 * truncations and random byte flips that must never crash, and the
 * guarantees of the atomic write. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nt_io.h"
#include "testutil.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

/* ---- helpers ------------------------------------------------------------- */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}


static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return buf;
}

/* Writes a safetensors file from a header text and data_len bytes of data. */
static void make_st(const char *path, const char *header, size_t data_len)
{
    size_t hlen = strlen(header);
    unsigned char *buf = calloc(8 + hlen + data_len + 1, 1);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    write_bytes(path, buf, 8 + hlen + data_len);
    free(buf);
}

/* Asserts that reading path fails with a message containing want. */
static void expect_refused(const char *path, const char *want,
                           const char *what)
{
    nt_safetensors st;
    nt_error err = {""};
    int rc = nt_st_read(&st, path, &err);
    ck_assert_msg(rc == -1, "%s: accepted", what);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-32s %s\n", what, err.msg);
    ck_assert_msg(strstr(err.msg, want) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", what, err.msg, want);
    ck_assert_ptr_null(st.tensors);
    ck_assert_ptr_null(st.data);
}

/* A small valid file with metadata, used by the corruption tests. */
static void write_sample(const char *path, float scale)
{
    static const int64_t s0[] = {2, 3}, s1[] = {4}, s2[] = {1, 1, 2};
    float a[6], b[4], c[2];
    for (int i = 0; i < 6; i++)
        a[i] = scale * (float)(i - 2);
    for (int i = 0; i < 4; i++)
        b[i] = scale * 0.5f * (float)i;
    c[0] = -scale;
    c[1] = scale;
    nt_st_entry e[] = {{"w", 2, s0, a}, {"b", 1, s1, b}, {"c", 3, s2, c}};
    const char *keys[] = {"epoch", "net"}, *values[] = {"7", "lenet"};
    nt_error err = {""};
    ck_assert_msg(nt_st_write(path, e, 3, keys, values, 2, &err) == 0, "%s",
                  err.msg);
}

/* ---- round trip ---------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    tu_tmpdir_make("st");
    const char *path = tu_tmp("model.safetensors");
    nt_rng rng;
    nt_rng_seed(&rng, 42);
    static const int64_t sw[] = {3, 2, 5}, sb[] = {3}, sz[] = {0, 4};
    float w[30], b[3];
    tu_fill(w, 30, -2.0f, 2.0f, &rng);
    w[0] = -0.0f;
    w[1] = INFINITY;
    w[2] = 1e-42f; /* subnormal */
    w[3] = -3.4028235e38f;
    b[0] = 1.0f;
    b[1] = -1.0f;
    b[2] = 0.1f;
    float scalar = 6.5f;
    /* names with characters JSON must escape, and non-ASCII */
    nt_st_entry e[] = {
        {"features.0.weight", 3, sw, w},
        {"q\"uote\\back\tslash", 1, sb, b},
        {"empty", 2, sz, NULL},
        {"step \xc3\xa9t\xc3\xa9", 0, NULL, &scalar},
    };
    const char *keys[] = {"format", "note"};
    const char *values[] = {"pt", "line\nbreak \"quoted\" \x01"};
    nt_error err = {""};
    ck_assert_msg(nt_st_write(path, e, 4, keys, values, 2, &err) == 0, "%s",
                  err.msg);

    /* the layout: header padded to 8 bytes, data in the given order */
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(size, 8 + hlen + 4 * (30 + 3 + 0 + 1));
    ck_assert_int_eq(raw[8], '{');
    ck_assert_int_eq(raw[8 + hlen - 1] == '}' || raw[8 + hlen - 1] == ' ', 1);
    /* little-endian F32: b[0] = 1.0f = 0x3f800000 right after w */
    const unsigned char *pb = raw + 8 + hlen + 4 * 30;
    ck_assert(pb[0] == 0 && pb[1] == 0 && pb[2] == 0x80 && pb[3] == 0x3f);
    free(raw);

    nt_safetensors st;
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(st.ntensors, 4);
    size_t expect_begin = 0;
    for (int i = 0; i < 4; i++) {
        const nt_st_tensor *t = &st.tensors[i];
        ck_assert_str_eq(t->name, e[i].name);
        ck_assert_str_eq(t->dtype, "F32");
        ck_assert_int_eq(t->ndim, e[i].ndim);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            ck_assert_int_eq(t->shape[d], e[i].shape[d]);
            count *= (size_t)e[i].shape[d];
        }
        ck_assert_uint_eq(t->begin, expect_begin);
        ck_assert_uint_eq(t->end, expect_begin + 4 * count);
        expect_begin = t->end;
        ck_assert_ptr_eq(nt_st_find(&st, e[i].name), t);
        if (count > 0) {
            float got[30];
            nt_st_copy_f32(&st, t, got);
            /* bit patterns, so that -0.0 and the subnormal count too */
            ck_assert_msg(memcmp(got, e[i].data, 4 * count) == 0,
                          "tensor %s changed in the round trip", t->name);
        }
    }
    ck_assert_ptr_null(nt_st_find(&st, "missing"));
    ck_assert_int_eq(st.nmeta, 2);
    ck_assert_str_eq(nt_st_meta(&st, "format"), "pt");
    ck_assert_str_eq(nt_st_meta(&st, "note"), values[1]);
    ck_assert_ptr_null(nt_st_meta(&st, "epoch"));
    nt_st_free(&st);

    /* no tensors and no metadata is a valid file too */
    ck_assert_msg(nt_st_write(path, NULL, 0, NULL, NULL, 0, &err) == 0, "%s",
                  err.msg);
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(st.ntensors, 0);
    ck_assert_int_eq(st.nmeta, 0);
    ck_assert_uint_eq(st.data_size, 0);
    nt_st_free(&st);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_write_refuses_bad_entries)
{
    tu_tmpdir_make("st");
    const char *path = tu_tmp("x.safetensors");
    static const int64_t s1[] = {1}, sneg[] = {-1};
    float v = 1.0f;
    nt_error err = {""};
    nt_st_entry dup[] = {{"a", 1, s1, &v}, {"a", 1, s1, &v}};
    ck_assert_int_eq(nt_st_write(path, dup, 2, NULL, NULL, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate tensor name \"a\""));
    nt_st_entry neg[] = {{"a", 1, sneg, &v}};
    ck_assert_int_eq(nt_st_write(path, neg, 1, NULL, NULL, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad shape"));
    nt_st_entry meta_name[] = {{"__metadata__", 1, s1, &v}};
    ck_assert_int_eq(nt_st_write(path, meta_name, 1, NULL, NULL, 0, &err), -1);
    const char *keys[] = {"k", "k"}, *values[] = {"1", "2"};
    ck_assert_int_eq(nt_st_write(path, NULL, 0, keys, values, 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate metadata key \"k\""));
    /* nothing was created */
    ck_assert_int_eq(count_entries(tu_tmpdir()), 0);
    tu_tmpdir_remove();
}
END_TEST

/* ---- files written by Python --------------------------------------------- */

/* The formula tools/fixtures/data_io.py used for the values. */
static float st_value(int i, int mul, int mod)
{
    return (float)((i * mul) % mod - mod / 2) / 16.0f;
}

static void check_f32(const nt_safetensors *st, const char *name, int n,
                      int mul, int mod)
{
    const nt_st_tensor *t = nt_st_find(st, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert_str_eq(t->dtype, "F32");
    float got[32], want[32];
    ck_assert_uint_eq(t->end - t->begin, 4 * (size_t)n);
    nt_st_copy_f32(st, t, got);
    for (int i = 0; i < n; i++)
        want[i] = st_value(i, mul, mod);
    /* exact: the values are multiples of 1/16 */
    TU_ASSERT_CLOSE(name, got, want, (size_t)n, 0.0, 0.0);
}

START_TEST(test_python_file)
{
    nt_safetensors st;
    nt_error err = {""};
    const char *path =
        tu_fixture("runtime/fixtures/safetensors/python.safetensors");
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    /* header order: json.dumps(sort_keys=True) */
    static const char *const names[] = {"conv1.bias", "conv1.weight",
                                        "fc.weight", "half", "step"};
    ck_assert_int_eq(st.ntensors, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(st.tensors[i].name, names[i]);
    const nt_st_tensor *w = nt_st_find(&st, "conv1.weight");
    ck_assert_int_eq(w->ndim, 4);
    ck_assert(w->shape[0] == 2 && w->shape[1] == 1 && w->shape[2] == 3 &&
              w->shape[3] == 3);
    check_f32(&st, "conv1.bias", 2, 5, 7);
    check_f32(&st, "conv1.weight", 18, 3, 17);
    check_f32(&st, "fc.weight", 12, 7, 19);

    const nt_st_tensor *step = nt_st_find(&st, "step");
    ck_assert_str_eq(step->dtype, "I64");
    ck_assert_int_eq(step->ndim, 0);
    ck_assert_uint_eq(step->begin, 0); /* data sorted by dtype size first */
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | st.data[step->begin + (size_t)i];
    ck_assert_uint_eq(v, 1234567890123u);
    const nt_st_tensor *half = nt_st_find(&st, "half");
    ck_assert_str_eq(half->dtype, "F16");
    ck_assert_uint_eq(half->end - half->begin, 8);
    /* 65504 is 0x7bff in binary16 */
    ck_assert(st.data[half->begin + 6] == 0xff &&
              st.data[half->begin + 7] == 0x7b);

    ck_assert_int_eq(st.nmeta, 3);
    ck_assert_str_eq(nt_st_meta(&st, "format"), "pt");
    ck_assert_str_eq(nt_st_meta(&st, "epoch"), "3");
    ck_assert_str_eq(nt_st_meta(&st, "note"),
                     "quote \" backslash \\ tab \t \xc3\xa9");
    nt_st_free(&st);

    path = tu_fixture("runtime/fixtures/safetensors/compact.safetensors");
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(st.ntensors, 2);
    const nt_st_tensor *empty = nt_st_find(&st, "empty");
    ck_assert(empty->ndim == 2 && empty->shape[0] == 0 &&
              empty->shape[1] == 3 && empty->begin == empty->end);
    const nt_st_tensor *scalar = nt_st_find(&st, "scalar");
    ck_assert_int_eq(scalar->ndim, 0);
    float s;
    nt_st_copy_f32(&st, scalar, &s);
    ck_assert(s == -1.5f);
    ck_assert_int_eq(st.nmeta, 0);
    nt_st_free(&st);
}
END_TEST

/* ---- corrupt files ------------------------------------------------------- */

#define T1(name, off0, off1) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" #off0 \
    "," #off1 "]}"

START_TEST(test_refuses_corrupt_headers)
{
    static const struct {
        const char *what, *header;
        size_t data;
        const char *want;
    } cases[] = {
        {"invalid JSON: unclosed object", "{" T1("a", 0, 4), 4,
         "invalid JSON header at byte"},
        {"invalid JSON: trailing comma", "{" T1("a", 0, 4) ",}", 4,
         "expected a string"},
        {"invalid JSON: single quotes", "{'a':1}", 0, "expected a string"},
        {"invalid JSON: not an object", "[1]", 0, "expected '{'"},
        {"invalid JSON: empty header", "", 0, "expected '{'"},
        {"text after the object", "{}x", 0, "unexpected text"},
        {"NUL padding", "{}\0\0\0\0\0\0", 0, "unexpected text"},
        {"unterminated string", "{\"a", 0, "unterminated string"},
        {"bad escape", "{\"a\\x\":1}", 0, "bad escape"},
        {"lone surrogate", "{\"\\ud800\":1}", 0, "surrogate"},
        {"NUL in a name", "{\"a\\u0000\":1}", 0, "NUL character"},
        {"invalid UTF-8", "{\"\xc3\x28\":1}", 0, "invalid UTF-8"},
        {"control character", "{\"a\nb\":1}", 0, "control character"},
        {"unknown dtype",
         "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "unknown dtype \"F33\""},
        {"shape/offset mismatch",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "shape [2] of F32 needs 8 bytes, data_offsets [0, 4] hold 4"},
        {"dtype size mismatch",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "shape [1] of F64 needs 8 bytes"},
        {"overlapping ranges",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," T1(
             "b", 4, 8) "}",
         8, "the data of tensors \"a\" and \"b\" overlap"},
        {"offsets beyond the data", "{" T1("a", 4, 8) "}", 4,
         "outside the data section of 4 bytes"},
        {"hole in the data", "{" T1("a", 4, 8) "}", 8,
         "bytes 0 to 4 of the data section belong to no tensor"},
        {"unused data at the end", "{" T1("a", 0, 4) "}", 8,
         "bytes 4 to 8 of the data section belong to no tensor"},
        {"reversed offsets", "{" T1("a", 4, 0) "}", 4, "reversed"},
        {"duplicate names", "{" T1("a", 0, 4) "," T1("a", 4, 8) "}", 8,
         "duplicate tensor name \"a\""},
        {"duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
         "duplicate key \"__metadata__\""},
        {"duplicate metadata key",
         "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
         "duplicate __metadata__ key \"k\""},
        {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0,
         "value of \"k\" is not a string"},
        {"unknown key",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
         "\"x\":1}}",
         4, "unknown key \"x\" in tensor \"a\""},
        {"duplicate key",
         "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
         "\"data_offsets\":[0,4]}}",
         4, "duplicate key \"dtype\""},
        {"missing key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0,
         "tensor \"a\" lacks \"data_offsets\""},
        {"negative dim",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
         4, "non-negative integer"},
        {"fractional dim",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
         4, "not a fraction"},
        {"huge integer",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
         "\"data_offsets\":[0,4]}}",
         4, "integer too large"},
        {"nine dims",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
         "\"data_offsets\":[0,4]}}",
         4, "shape has more than 8 elements"},
        {"three offsets",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}",
         4, "data_offsets has more than 2 elements"},
        {"one offset",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
         4, "data_offsets needs 2 elements"},
        {"element count overflow",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
         "4294967296],\"data_offsets\":[0,4]}}",
         4, "element count overflows"},
    };
    tu_tmpdir_make("st");
    const char *path = tu_tmp("bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].what, "NUL padding") == 0) {
            unsigned char buf[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
            write_bytes(path, buf, sizeof buf);
        } else {
            make_st(path, cases[i].header, cases[i].data);
        }
        expect_refused(path, cases[i].want, cases[i].what);
    }
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_refuses_bad_lengths)
{
    tu_tmpdir_make("st");
    const char *path = tu_tmp("m.safetensors");
    write_sample(path, 1.0f);
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    const char *bad = tu_tmp("bad.safetensors");

    write_bytes(bad, raw, 5);
    expect_refused(bad, "too short", "5-byte file");
    write_bytes(bad, raw, size - 1);
    expect_refused(bad, "outside the data section", "truncated data");
    write_bytes(bad, raw, 20);
    expect_refused(bad, "goes beyond the end of the file",
                   "truncated header");

    /* a header length beyond the file */
    unsigned char *copy = malloc(size);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, raw, size);
    copy[0] = (unsigned char)(size - 7);
    copy[1] = (unsigned char)((size - 7) >> 8);
    write_bytes(bad, copy, size);
    expect_refused(bad, "goes beyond the end of the file", "long header");
    copy[7] = 0xff;
    write_bytes(bad, copy, size);
    expect_refused(bad, "goes beyond the end of the file", "huge header");
    free(copy);

    /* a header length above the 100 MB cap in a (sparse) file that is longer */
    uint64_t big = 100000001;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(big >> (8 * i));
    write_bytes(bad, len8, 8);
    ck_assert_int_eq(truncate(bad, (off_t)(big + 64)), 0);
    expect_refused(bad, "larger than the limit", "header over the cap");

    expect_refused(tu_tmp("missing.safetensors"), "No such file",
                   "missing file");
    free(raw);
    tu_tmpdir_remove();
}
END_TEST

/* Every truncation of a valid file and random byte flips never crash: the
 * reader either accepts a consistent file or refuses it with a message. */
START_TEST(test_fuzz_never_crashes)
{
    tu_tmpdir_make("st");
    const char *path = tu_tmp("m.safetensors");
    write_sample(path, 1.0f);
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    unsigned char *copy = malloc(size);
    ck_assert_ptr_nonnull(copy);
    const char *bad = tu_tmp("fuzz.safetensors");
    nt_safetensors st;
    nt_error err;

    for (size_t len = 0; len < size; len++) {
        write_bytes(bad, raw, len);
        err.msg[0] = '\0';
        ck_assert_msg(nt_st_read(&st, bad, &err) == -1,
                      "truncation to %zu bytes accepted", len);
        ck_assert_msg(err.msg[0] != '\0', "no message at length %zu", len);
    }

    nt_rng rng;
    nt_rng_seed(&rng, 7);
    int accepted = 0;
    for (int trial = 0; trial < 400; trial++) {
        memcpy(copy, raw, size);
        int flips = 1 + (int)nt_rng_below(&rng, 3);
        for (int k = 0; k < flips; k++) {
            size_t pos = (size_t)nt_rng_below(&rng, size);
            copy[pos] ^= (unsigned char)(1 + nt_rng_below(&rng, 255));
        }
        write_bytes(bad, copy, size);
        err.msg[0] = '\0';
        if (nt_st_read(&st, bad, &err) == 0) {
            accepted++;
            for (int i = 0; i < st.ntensors; i++)
                ck_assert(st.tensors[i].begin <= st.tensors[i].end &&
                          st.tensors[i].end <= st.data_size &&
                          st.tensors[i].ndim <= NT_ST_MAX_DIMS);
            nt_st_free(&st);
        } else {
            ck_assert_msg(err.msg[0] != '\0', "no message in trial %d",
                          trial);
        }
    }
    /* flips in the data section keep the file valid: some trials load */
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_lt(accepted, 400);
    free(copy);
    free(raw);
    tu_tmpdir_remove();
}
END_TEST

/* ---- atomic writes ------------------------------------------------------- */

START_TEST(test_atomic_write)
{
    tu_tmpdir_make("st");
    const char *path = tu_tmp("m.safetensors");
    mode_t old_mask = umask(022);
    write_sample(path, 1.0f);
    umask(old_mask);
    /* no temporary file remains, and the mode is what fopen would give */
    ck_assert_int_eq(count_entries(tu_tmpdir()), 1);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0644);

    /* a missing directory fails cleanly and creates nothing */
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/dir/m.safetensors", tu_tmpdir());
    static const int64_t s1[] = {1};
    float v = 1.0f;
    nt_st_entry e[] = {{"a", 1, s1, &v}};
    nt_error err = {""};
    ck_assert_int_eq(nt_st_write(missing, e, 1, NULL, NULL, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "No such file or directory") != NULL, "%s",
                  err.msg);
    ck_assert_int_eq(count_entries(tu_tmpdir()), 1);

    /* an abort leaves the destination alone and removes the temporary */
    nt_atomic_file af;
    ck_assert_int_eq(nt_atomic_open(&af, path, &err), 0);
    fputs("garbage", (FILE *)af.fp);
    ck_assert_int_eq(count_entries(tu_tmpdir()), 2);
    nt_atomic_abort(&af);
    ck_assert_int_eq(count_entries(tu_tmpdir()), 1);
    nt_safetensors st;
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    nt_st_free(&st);

    /* a write that fails half-way (file size limit) keeps the old file */
    size_t before_size;
    unsigned char *before = read_bytes(path, &before_size);
    struct rlimit old_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    enum { BIG = 1 << 16 };
    float *big = calloc(BIG, sizeof *big);
    ck_assert_ptr_nonnull(big);
    static const int64_t sbig[] = {BIG};
    nt_st_entry eb[] = {{"big", 1, sbig, big}};
    int rc = nt_st_write(path, eb, 1, NULL, NULL, 0, &err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.msg, "File too large") != NULL, "%s", err.msg);
    ck_assert_int_eq(count_entries(tu_tmpdir()), 1);
    size_t after_size;
    unsigned char *after = read_bytes(path, &after_size);
    ck_assert(after_size == before_size &&
              memcmp(before, after, before_size) == 0);
    free(after);

    /* and a write that succeeds replaces it */
    ck_assert_msg(nt_st_write(path, eb, 1, NULL, NULL, 0, &err) == 0, "%s",
                  err.msg);
    ck_assert_msg(nt_st_read(&st, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(st.ntensors, 1);
    ck_assert_str_eq(st.tensors[0].name, "big");
    nt_st_free(&st);
    ck_assert_int_eq(count_entries(tu_tmpdir()), 1);
    free(big);
    free(before);
    tu_tmpdir_remove();
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_write_refuses_bad_entries);
    suite_add_tcase(s, tc);
    tc = tcase_create("python");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_python_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_refuses_corrupt_headers);
    tcase_add_test(tc, test_refuses_bad_lengths);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_fuzz_never_crashes);
    suite_add_tcase(s, tc);
    tc = tcase_create("atomic");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_atomic_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(safetensors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
