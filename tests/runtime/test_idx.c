/* test_idx.c - IDX files and datasets (idx.c): the committed fixtures
 * (tests/runtime/fixtures/idx, from tools/fixtures/data_io.py) in gzip and
 * raw form, corrupt variants made here, nt_dataset_load's checks, the real
 * Fashion-MNIST test split (installed by the project's scripts, so its
 * absence is a failure) and nt_u8_to_float. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nt_data.h"
#include "testutil.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers ------------------------------------------------------------- */


static const char *fixture(const char *name)
{
    static char rel[128];
    snprintf(rel, sizeof rel, "runtime/fixtures/idx/%s", name);
    return tu_fixture(rel);
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes buf gzip-compressed with zlib. */
static void write_gz(const char *path, const void *buf, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, buf, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
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

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Asserts that nt_idx_read refuses path with a message containing want. */
static void expect_refused(const char *path, const char *want,
                           const char *what)
{
    uint8_t *data = (uint8_t *)1;
    int n, h, w;
    nt_error err = {""};
    int rc = nt_idx_read(path, &data, &n, &h, &w, &err);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-24s %s\n", what, err.msg);
    ck_assert_msg(rc == -1, "%s: accepted", what);
    ck_assert_msg(strstr(err.msg, want) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", what, err.msg, want);
    ck_assert_ptr_null(data);
}

/* ---- reading ------------------------------------------------------------- */

START_TEST(test_reads_raw_and_gzip)
{
    size_t size;
    unsigned char *raw = read_bytes(fixture("images-raw.bin"), &size);
    ck_assert_uint_eq(size, 16 + 5 * 4 * 3);
    nt_error err = {""};
    static const char *const files[] = {"images-raw.bin",
                                        "t10k-images-idx3-ubyte.gz"};
    for (int k = 0; k < 2; k++) {
        uint8_t *data;
        int n, h, w;
        ck_assert_msg(nt_idx_read(fixture(files[k]), &data, &n, &h, &w,
                                  &err) == 0, "%s", err.msg);
        ck_assert_int_eq(n, 5);
        ck_assert_int_eq(h, 4); /* not square: a transposed reader fails */
        ck_assert_int_eq(w, 3);
        ck_assert_msg(memcmp(data, raw + 16, 60) == 0, "%s: wrong pixels",
                      files[k]);
        free(data);
    }
    free(raw);

    uint8_t *labels;
    int n, h, w;
    ck_assert_msg(nt_idx_read(fixture("t10k-labels-idx1-ubyte.gz"), &labels,
                              &n, &h, &w, &err) == 0, "%s", err.msg);
    ck_assert(n == 5 && h == 1 && w == 1);
    static const uint8_t want[] = {3, 0, 9, 1, 7};
    ck_assert(memcmp(labels, want, 5) == 0);
    free(labels);
}
END_TEST

START_TEST(test_refuses_bad_files)
{
    tu_tmpdir_make("idx");
    size_t size;
    unsigned char *raw = read_bytes(fixture("images-raw.bin"), &size);
    unsigned char *buf = malloc(size + 1);
    ck_assert_ptr_nonnull(buf);
    const char *path = tu_tmp("bad");

    memcpy(buf, raw, size);
    buf[3] = 0x02;
    write_bytes(path, buf, size);
    expect_refused(path, "magic 0x00000802", "wrong magic");
    buf[3] = 0x03;
    buf[2] = 0x0d; /* IDX int32 data */
    write_bytes(path, buf, size);
    expect_refused(path, "magic 0x00000d03", "int32 IDX");

    write_bytes(path, raw, size - 1);
    expect_refused(path, "truncated: the header announces 60 data bytes, "
                         "the file holds 59", "truncated data");
    write_bytes(path, raw, 10);
    expect_refused(path, "truncated header", "truncated header");
    write_bytes(path, raw, 0);
    expect_refused(path, "truncated header (0 bytes)", "empty file");
    memcpy(buf, raw, size);
    buf[size] = 0;
    write_bytes(path, buf, size + 1);
    expect_refused(path, "trailing data after the 60 data bytes",
                   "trailing data");
    write_gz(path, buf, size + 1);
    expect_refused(path, "trailing data after the 60 data bytes",
                   "trailing data, gzip");
    write_gz(path, raw, size - 7);
    expect_refused(path, "the file holds 53", "truncated data, gzip");

    /* absurd dims, refused before any allocation */
    memcpy(buf, raw, size);
    put_be32(buf + 4, 0);
    write_bytes(path, buf, size);
    expect_refused(path, "item count = 0 is outside 1..10000000", "no items");
    put_be32(buf + 4, 0xffffffffu);
    write_bytes(path, buf, size);
    expect_refused(path, "item count = 4294967295 is outside", "huge count");
    put_be32(buf + 4, 5);
    put_be32(buf + 8, NT_IDX_MAX_SIDE + 1);
    write_bytes(path, buf, size);
    expect_refused(path, "image height = 4097 is outside 1..4096",
                   "huge height");
    put_be32(buf + 8, 4);
    put_be32(buf + 12, 0);
    write_bytes(path, buf, size);
    expect_refused(path, "image width = 0", "zero width");
    /* the largest header allowed, in a 76-byte file: memory follows data */
    put_be32(buf + 4, NT_IDX_MAX_ITEMS);
    put_be32(buf + 8, NT_IDX_MAX_SIDE);
    put_be32(buf + 12, NT_IDX_MAX_SIDE);
    write_bytes(path, buf, size);
    expect_refused(path, "the file holds 60", "lying header");

    expect_refused(tu_tmp("missing-idx3-ubyte"), "missing-idx3-ubyte: "
                   "cannot open: No such file or directory", "missing file");
    free(buf);
    free(raw);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_refuses_corrupt_gzip)
{
    tu_tmpdir_make("idx");
    size_t size;
    unsigned char *gz = read_bytes(fixture("t10k-images-idx3-ubyte.gz"),
                                   &size);
    const char *path = tu_tmp("bad.gz");
    /* a flip in the compressed data, in the CRC, in the length; a cut
     * trailer */
    static const struct {
        long at; /* from the end if negative */
        const char *what;
    } cases[] = {{20, "deflate data"}, {40, "deflate data"},
                 {-8, "CRC"},         {-2, "length"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = malloc(size);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, gz, size);
        size_t at = cases[i].at >= 0 ? (size_t)cases[i].at
                                     : size - (size_t)-cases[i].at;
        copy[at] ^= 0x55;
        write_bytes(path, copy, size);
        expect_refused(path, "corrupt", cases[i].what);
        free(copy);
    }
    write_bytes(path, gz, size - 4);
    expect_refused(path, "bad.gz: ", "cut trailer");
    write_bytes(path, gz, size / 2);
    expect_refused(path, "bad.gz: ", "cut in half");
    free(gz);
    tu_tmpdir_remove();
}
END_TEST

/* ---- datasets ------------------------------------------------------------ */

START_TEST(test_dataset_load)
{
    nt_dataset ds;
    nt_error err = {""};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", fixture(""));
    dir[strlen(dir) - 1] = '\0'; /* no trailing slash */

    ck_assert_msg(nt_dataset_load(&ds, dir, "t10k", 10, &err) == 0, "%s",
                  err.msg);
    ck_assert(ds.n == 5 && ds.h == 4 && ds.w == 3);
    static const int32_t t10k_labels[] = {3, 0, 9, 1, 7};
    ck_assert(ds.c == 1 && memcmp(ds.labels, t10k_labels, sizeof t10k_labels) == 0);
    size_t size;
    unsigned char *raw = read_bytes(fixture("images-raw.bin"), &size);
    ck_assert(memcmp(ds.images, raw + 16, 60) == 0);
    free(raw);
    nt_dataset_free(&ds);
    ck_assert_ptr_null(ds.images);

    /* raw files, and the <split>-images.idx3-ubyte spelling */
    ck_assert_msg(nt_dataset_load(&ds, dir, "train", 10, &err) == 0, "%s",
                  err.msg);
    ck_assert(ds.n == 6 && ds.h == 4 && ds.w == 3);
    ck_assert(ds.labels[0] == 9 && ds.labels[5] == 2);
    nt_dataset_free(&ds);

    ck_assert_int_eq(nt_dataset_load(&ds, dir, "t10k", 9, &err), -1);
    ck_assert_msg(strstr(err.msg, "label 9 of example 2 is not below the "
                                  "number of classes, 9") != NULL, "%s",
                  err.msg);
    ck_assert_ptr_null(ds.images);
    ck_assert_int_eq(nt_dataset_load(&ds, dir, "t10k", 0, &err), -1);

    ck_assert_int_eq(nt_dataset_load(&ds, dir, "val", 10, &err), -1);
    char want[1200];
    snprintf(want, sizeof want, "no images file for split 'val': tried "
             "%s/val-images-idx3-ubyte, %s/val-images-idx3-ubyte.gz", dir,
             dir);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "val-images.idx3-ubyte.gz"));
}
END_TEST

START_TEST(test_dataset_mismatches)
{
    tu_tmpdir_make("idx");
    nt_dataset ds;
    nt_error err = {""};
    size_t isize, lsize;
    unsigned char *images = read_bytes(fixture("images-raw.bin"), &isize);
    unsigned char *labels = read_bytes(fixture("train-labels-idx1-ubyte"),
                                       &lsize);
    /* 5 images, 6 labels */
    write_bytes(tu_tmp("a-images-idx3-ubyte"), images, isize);
    write_bytes(tu_tmp("a-labels-idx1-ubyte"), labels, lsize);
    ck_assert_int_eq(nt_dataset_load(&ds, tu_tmpdir(), "a", 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "a-images-idx3-ubyte holds 5 images but ") &&
                      strstr(err.msg, "a-labels-idx1-ubyte holds 6 labels"),
                  "%s", err.msg);
    /* labels where images belong, and the other way round */
    write_bytes(tu_tmp("b-images-idx3-ubyte"), labels, lsize);
    write_bytes(tu_tmp("b-labels-idx1-ubyte"), labels, lsize);
    ck_assert_int_eq(nt_dataset_load(&ds, tu_tmpdir(), "b", 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "holds 1-d labels, expected 3-d images"),
                  "%s", err.msg);
    write_bytes(tu_tmp("c-images-idx3-ubyte"), images, isize);
    write_bytes(tu_tmp("c-labels-idx1-ubyte"), images, isize);
    ck_assert_int_eq(nt_dataset_load(&ds, tu_tmpdir(), "c", 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "holds 3-d images, expected 1-d labels"),
                  "%s", err.msg);
    /* a missing labels file names the paths tried */
    write_bytes(tu_tmp("d-images-idx3-ubyte"), images, isize);
    ck_assert_int_eq(nt_dataset_load(&ds, tu_tmpdir(), "d", 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "no labels file for split 'd'") &&
                      strstr(err.msg, "d-labels.idx1-ubyte.gz"),
                  "%s", err.msg);
    /* a corrupt file inside a split */
    write_bytes(tu_tmp("e-images-idx3-ubyte"), images, isize - 1);
    write_bytes(tu_tmp("e-labels-idx1-ubyte"), labels, lsize);
    ck_assert_int_eq(nt_dataset_load(&ds, tu_tmpdir(), "e", 10, &err), -1);
    ck_assert_msg(strstr(err.msg, "e-images-idx3-ubyte: truncated"), "%s",
                  err.msg);
    ck_assert_ptr_null(ds.images);
    ck_assert_ptr_null(ds.labels);
    free(images);
    free(labels);
    tu_tmpdir_remove();
}
END_TEST

/* The real data: values obtained with Python's gzip and numpy. */
START_TEST(test_fashion_mnist_t10k)
{
    nt_dataset ds;
    nt_error err = {""};
    ck_assert_msg(nt_dataset_load(&ds, FMNIST_DIR, "t10k", 10, &err) == 0,
                  "Fashion-MNIST should be installed by the project's "
                  "scripts: %s", err.msg);
    ck_assert_int_eq(ds.n, 10000);
    ck_assert_int_eq(ds.h, 28);
    ck_assert_int_eq(ds.w, 28);
    static const int32_t first[] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5};
    ck_assert(memcmp(ds.labels, first, sizeof first) == 0);
    int counts[10] = {0};
    for (int i = 0; i < ds.n; i++)
        counts[ds.labels[i]]++;
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(counts[c], 1000);
    size_t npix = (size_t)ds.n * 28 * 28;
    uint64_t sum = 0;
    for (size_t i = 0; i < npix; i++)
        sum += ds.images[i];
    ck_assert_uint_eq(sum, 573469082u);
    ck_assert_uint_eq(crc32(0, ds.images, (uInt)npix), 309494841u);
    uint8_t *lab = malloc((size_t)ds.n);
    for (int i = 0; i < ds.n; i++)
        lab[i] = (uint8_t)ds.labels[i];
    ck_assert_uint_eq(crc32(0, lab, (uInt)ds.n), 606848831u);
    free(lab);
    /* image 0, row 14, columns 12..14 */
    ck_assert(ds.images[14 * 28 + 12] == 98 && ds.images[14 * 28 + 13] == 136 &&
              ds.images[14 * 28 + 14] == 110);
    nt_dataset_free(&ds);
}
END_TEST

/* ---- conversion ---------------------------------------------------------- */

/* Every byte value, in an order and at lengths that leave vectors and
 * tails, on every ISA this CPU has. */
START_TEST(test_u8_to_float)
{
    uint8_t in[300];
    float out[300], want[300];
    for (int i = 0; i < 300; i++) {
        in[i] = (uint8_t)(i * 7 + 3);
        want[i] = (float)in[i] / 255.0f; /* ToTensor: float32 division */
    }
    for (int isa = NT_ISA_GENERIC; isa <= NT_ISA_AVX512; isa++) {
        if (nt_cpu_force((nt_isa)isa) != 0)
            continue;
        for (size_t n = 295; n <= 300; n++) {
            memset(out, 0, sizeof out);
            nt_u8_to_float(out, in, n);
            /* exact: the same correctly rounded float division */
            TU_ASSERT_CLOSE(nt_isa_name((nt_isa)isa), out, want, n, 0.0, 0.0);
        }
    }
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    nt_u8_to_float(out, in, 256);
    ck_assert(out[0] == 0.0f && out[255] == 1.0f);
}
END_TEST

static Suite *idx_suite(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("read");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_reads_raw_and_gzip);
    tcase_add_test(tc, test_refuses_bad_files);
    tcase_add_test(tc, test_refuses_corrupt_gzip);
    suite_add_tcase(s, tc);
    tc = tcase_create("dataset");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_dataset_load);
    tcase_add_test(tc, test_dataset_mismatches);
    suite_add_tcase(s, tc);
    tc = tcase_create("fashion_mnist");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_fashion_mnist_t10k);
    suite_add_tcase(s, tc);
    tc = tcase_create("convert");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_u8_to_float);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idx_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
