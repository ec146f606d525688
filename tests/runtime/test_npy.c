/* test_npy.c - the .npy reader and writer (npy.c): round trips, files
 * written by numpy (tests/runtime/fixtures/npy, from
 * tools/fixtures/data_io.py), and the refusal of other dtypes, Fortran order,
 * wrong data sizes and malformed headers. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nt_io.h"
#include "testutil.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

/* ---- helpers ------------------------------------------------------------- */


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

static const char *fixture(const char *name)
{
    static char rel[128];
    snprintf(rel, sizeof rel, "runtime/fixtures/npy/%s", name);
    return tu_fixture(rel);
}

/* Asserts that reading path fails with a message containing want. */
static void expect_refused(const char *path, const char *want,
                           const char *what)
{
    float *data = (float *)1;
    int64_t shape[8];
    int ndim = -1;
    nt_error err = {""};
    int rc = nt_npy_read_f32(path, &data, shape, &ndim, &err);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-28s %s\n", what, err.msg);
    ck_assert_msg(rc == -1, "%s: accepted", what);
    ck_assert_msg(strstr(err.msg, want) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", what, err.msg, want);
    ck_assert_ptr_null(data);
}

/* A version 1.0 file with the given header text (padded as numpy pads). */
static void make_npy(const char *path, const char *dict, size_t data_bytes)
{
    char head[512];
    int n = snprintf(head, sizeof head, "%s", dict);
    while ((10 + n + 1) % 64 != 0)
        head[n++] = ' ';
    head[n++] = '\n';
    unsigned char *buf = calloc(10 + (size_t)n + data_bytes, 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)n;
    buf[9] = (unsigned char)(n >> 8);
    memcpy(buf + 10, head, (size_t)n);
    write_bytes(path, buf, 10 + (size_t)n + data_bytes);
    free(buf);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    tu_tmpdir_make("npy");
    nt_rng rng;
    nt_rng_seed(&rng, 3);
    static const int64_t shapes[][8] = {
        {7}, {2, 3, 4}, {1, 2, 1, 2, 1, 2, 1, 3}, {0, 5}, {100000, 2}};
    static const int ndims[] = {1, 3, 8, 2, 2};
    const char *path = tu_tmp("a.npy");
    for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; s++) {
        size_t count = 1;
        for (int d = 0; d < ndims[s]; d++)
            count *= (size_t)shapes[s][d];
        float *x = malloc((count ? count : 1) * sizeof *x);
        ck_assert_ptr_nonnull(x);
        tu_fill(x, count, -1e3f, 1e3f, &rng);
        nt_error err = {""};
        ck_assert_msg(nt_npy_write_f32(path, x, shapes[s], ndims[s], &err) ==
                          0,
                      "%s", err.msg);
        float *y;
        int64_t shape[8];
        int ndim;
        ck_assert_msg(nt_npy_read_f32(path, &y, shape, &ndim, &err) == 0,
                      "%s", err.msg);
        ck_assert_int_eq(ndim, ndims[s]);
        for (int d = 0; d < ndim; d++)
            ck_assert_int_eq(shape[d], shapes[s][d]);
        ck_assert_msg(count == 0 || memcmp(x, y, count * sizeof *x) == 0,
                      "values changed in the round trip of case %zu", s);
        free(x);
        free(y);
    }
    /* a bad dim count is refused before anything is created */
    nt_error err = {""};
    float v = 0;
    ck_assert_int_eq(nt_npy_write_f32(tu_tmp("b.npy"), &v, shapes[2], 9,
                                      &err), -1);
    ck_assert_int_eq(nt_npy_write_f32(tu_tmp("b.npy"), &v, shapes[2], 0,
                                      &err), -1);
    ck_assert_int_eq(access(tu_tmp("b.npy"), F_OK), -1);
    tu_tmpdir_remove();
}
END_TEST

/* The writer produces exactly the bytes numpy.save does. */
START_TEST(test_same_bytes_as_numpy)
{
    tu_tmpdir_make("npy");
    float a[24];
    for (int i = 0; i < 24; i++)
        a[i] = (float)i / 8 - 1;
    static const int64_t shape[] = {2, 3, 4};
    nt_error err = {""};
    const char *path = tu_tmp("a.npy");
    ck_assert_msg(nt_npy_write_f32(path, a, shape, 3, &err) == 0, "%s",
                  err.msg);
    size_t got_size, want_size;
    unsigned char *got = read_bytes(path, &got_size);
    unsigned char *want = read_bytes(fixture("f32_2x3x4.npy"), &want_size);
    ck_assert_uint_eq(got_size, want_size);
    ck_assert_msg(memcmp(got, want, got_size) == 0,
                  "the file differs from numpy's: %.*s", (int)got_size - 96,
                  got + 10);
    free(got);
    free(want);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_reads_numpy_files)
{
    float *x;
    int64_t shape[8];
    int ndim;
    nt_error err = {""};
    ck_assert_msg(nt_npy_read_f32(fixture("f32_2x3x4.npy"), &x, shape, &ndim,
                                  &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ndim, 3);
    ck_assert(shape[0] == 2 && shape[1] == 3 && shape[2] == 4);
    float want[24];
    for (int i = 0; i < 24; i++)
        want[i] = (float)i / 8 - 1;
    /* exact: multiples of 1/8 */
    TU_ASSERT_CLOSE("f32_2x3x4", x, want, 24, 0.0, 0.0);
    free(x);

    static const float v[] = {0.1f, -2.5f, 3e-5f, 7.0f, 1e20f};
    static const char *const versions[] = {"f32_v2.npy", "f32_v3.npy"};
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(nt_npy_read_f32(fixture(versions[k]), &x, shape, &ndim,
                                      &err) == 0, "%s", err.msg);
        ck_assert_int_eq(ndim, 1);
        ck_assert_int_eq(shape[0], 5);
        /* exact: the same float32 values numpy stored */
        TU_ASSERT_CLOSE(versions[k], x, v, 5, 0.0, 0.0);
        free(x);
    }
}
END_TEST

START_TEST(test_refuses_other_arrays)
{
    expect_refused(fixture("f64.npy"), "dtype '<f8', expected '<f4'",
                   "float64");
    expect_refused(fixture("i4.npy"), "dtype '<i4'", "int32");
    expect_refused(fixture("f32_be.npy"), "dtype '>f4'", "big-endian");
    expect_refused(fixture("f32_fortran.npy"), "Fortran order", "Fortran");
    expect_refused(fixture("f32_scalar.npy"), "0 dims", "0-d array");
    expect_refused(fixture("missing.npy"), "No such file", "missing file");
}
END_TEST

START_TEST(test_refuses_bad_sizes)
{
    tu_tmpdir_make("npy");
    size_t size;
    unsigned char *raw = read_bytes(fixture("f32_2x3x4.npy"), &size);
    unsigned char *longer = calloc(size + 1, 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, raw, size);
    const char *path = tu_tmp("bad.npy");
    write_bytes(path, raw, size - 1);
    expect_refused(path, "the shape needs 96 data bytes, the file holds 95",
                   "truncated data");
    write_bytes(path, longer, size + 1);
    expect_refused(path, "the file holds 97", "trailing data");
    write_bytes(path, raw, 100);
    expect_refused(path, "goes beyond the end of the file",
                   "truncated header");
    write_bytes(path, raw, 9);
    expect_refused(path, "not a .npy file", "truncated prefix");
    memcpy(longer, raw, size);
    longer[6] = 4;
    write_bytes(path, longer, size);
    expect_refused(path, "unsupported .npy format version 4.0", "version");
    longer[6] = 1;
    longer[1] = 'n';
    write_bytes(path, longer, size);
    expect_refused(path, "not a .npy file", "bad magic");
    free(longer);
    free(raw);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_refuses_malformed_headers)
{
    static const struct {
        const char *what, *dict, *want;
    } cases[] = {
        {"no shape", "{'descr': '<f4', 'fortran_order': False, }",
         "no 'shape'"},
        {"unknown key",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }",
         "unexpected key 'x'"},
        {"duplicate key",
         "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
         "'shape': (1,), }",
         "duplicate key 'descr'"},
        {"shape not a tuple",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (1), }",
         "'shape' is not a tuple"},
        {"shape a list",
         "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }",
         "'shape' is not a tuple"},
        {"negative dim",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
         "non-negative integers"},
        {"nine dims",
         "{'descr': '<f4', 'fortran_order': False, "
         "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
         "more than 8 dims"},
        {"fortran_order not a bool",
         "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
         "not True or False"},
        {"fortran_order prefix",
         "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,), }",
         "not True or False"},
        {"structured dtype",
         "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
         "structured dtype"},
        {"unterminated string",
         "{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }",
         "expected ',' or '}'"},
        {"not a dict", "('<f4', False, (1,))", "not a dict"},
        {"text after the dict",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x",
         "text after the dict"},
        {"missing comma",
         "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }",
         "expected ',' or '}'"},
    };
    tu_tmpdir_make("npy");
    const char *path = tu_tmp("bad.npy");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_npy(path, cases[i].dict, 4);
        expect_refused(path, cases[i].want, cases[i].what);
    }
    /* and the helper itself makes valid files */
    make_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
             4);
    float *x;
    int64_t shape[8];
    int ndim;
    nt_error err = {""};
    ck_assert_msg(nt_npy_read_f32(path, &x, shape, &ndim, &err) == 0, "%s",
                  err.msg);
    free(x);
    tu_tmpdir_remove();
}
END_TEST

/* Truncations and byte flips of a valid file never crash the reader. */
START_TEST(test_fuzz_never_crashes)
{
    tu_tmpdir_make("npy");
    size_t size;
    unsigned char *raw = read_bytes(fixture("f32_2x3x4.npy"), &size);
    unsigned char *copy = malloc(size);
    ck_assert_ptr_nonnull(copy);
    const char *path = tu_tmp("fuzz.npy");
    float *x;
    int64_t shape[8];
    int ndim;
    nt_error err;
    for (size_t len = 0; len < size; len++) {
        write_bytes(path, raw, len);
        ck_assert_int_eq(nt_npy_read_f32(path, &x, shape, &ndim, &err), -1);
    }
    nt_rng rng;
    nt_rng_seed(&rng, 11);
    for (int trial = 0; trial < 300; trial++) {
        memcpy(copy, raw, size);
        size_t pos = (size_t)nt_rng_below(&rng, 128); /* prefix and header */
        copy[pos] ^= (unsigned char)(1 + nt_rng_below(&rng, 255));
        write_bytes(path, copy, size);
        err.msg[0] = '\0';
        if (nt_npy_read_f32(path, &x, shape, &ndim, &err) == 0) {
            ck_assert(ndim >= 1 && ndim <= 8);
            free(x);
        } else {
            ck_assert(err.msg[0] != '\0');
        }
    }
    free(copy);
    free(raw);
    tu_tmpdir_remove();
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_same_bytes_as_numpy);
    suite_add_tcase(s, tc);
    tc = tcase_create("numpy");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_reads_numpy_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_refuses_other_arrays);
    tcase_add_test(tc, test_refuses_bad_sizes);
    tcase_add_test(tc, test_refuses_malformed_headers);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_fuzz_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(npy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
