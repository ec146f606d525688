/* test_resize.c - nt_resize_bilinear_u8 against torchvision/Pillow outputs
 * (tests/runtime/fixtures/resize/cases.bin, from tools/fixtures/data_io.py).
 * Every comparison is exact: the resize must be bit-identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nt_data.h"
#include "testutil.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 120

static unsigned char *read_all(const char *path, size_t *size)
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

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* Checks one case of the fixture at *pos and advances *pos past it. */
static void check_case(const unsigned char *buf, size_t size, size_t *pos,
                       int index)
{
    ck_assert_msg(*pos + 28 <= size, "case %d: fixture truncated", index);
    const unsigned char *p = buf + *pos;
    int ih = (int)le32(p), iw = (int)le32(p + 4);
    int oh = (int)le32(p + 8), ow = (int)le32(p + 12);
    int step = (int)le32(p + 16);
    uint64_t want_hash = (uint64_t)le32(p + 20) | (uint64_t)le32(p + 24) << 32;
    size_t nrows = (size_t)(oh + step - 1) / step;
    size_t need = 28 + (size_t)ih * iw + nrows * ow;
    ck_assert_msg(*pos + need <= size, "case %d: fixture truncated", index);
    const uint8_t *in = p + 28;
    const uint8_t *rows = in + (size_t)ih * iw;

    uint8_t *out = malloc((size_t)oh * ow);
    ck_assert_ptr_nonnull(out);
    nt_resize_bilinear_u8(out, oh, ow, in, ih, iw);
    /* the first differing pixel of the rows kept (one assertion per case:
     * Check records every assertion) */
    size_t bad = nrows * ow;
    for (size_t i = 0; i < nrows * ow && bad == nrows * ow; i++)
        if (out[(i / ow) * step * ow + i % ow] != rows[i])
            bad = i;
    ck_assert_msg(bad == nrows * ow,
                  "case %d (%dx%d -> %dx%d): pixel (%zu, %zu) is %d, Pillow "
                  "gives %d",
                  index, ih, iw, oh, ow, bad / ow * step, bad % ow,
                  bad < nrows * ow ? out[(bad / ow) * step * ow + bad % ow] : 0,
                  bad < nrows * ow ? rows[bad] : 0);
    ck_assert_msg(fnv1a64(out, (size_t)oh * ow) == want_hash,
                  "case %d (%dx%d -> %dx%d): the rows checked match but the "
                  "hash of the whole output differs from Pillow's",
                  index, ih, iw, oh, ow);
    free(out);
    *pos += need;
}

START_TEST(test_matches_pillow)
{
    size_t size, pos = 8;
    const char *path = tu_fixture("runtime/fixtures/resize/cases.bin");
    unsigned char *buf = read_all(path, &size);
    ck_assert_msg(size >= 8 && memcmp(buf, "NTRZ", 4) == 0,
                  "bad resize fixture");
    int ncases = (int)le32(buf + 4);
    ck_assert_int_ge(ncases, 40);
    for (int i = 0; i < ncases; i++)
        check_case(buf, size, &pos, i);
    ck_assert_uint_eq(pos, size);
    free(buf);
}
END_TEST

/* The weights of every output sum to one within the fixed-point rounding, so
 * flat images stay flat: 0 stays 0 and 255 stays 255 (no overflow of the
 * clamp, no loss in the rounding) for up- and downscaling alike. */
START_TEST(test_flat_images_stay_flat)
{
    static const int sizes[][4] = {
        {28, 28, 224, 224}, {28, 28, 96, 96}, {28, 28, 20, 20},
        {28, 28, 3, 5},     {1, 1, 7, 9},     {300, 2, 7, 300},
    };
    static const uint8_t levels[] = {0, 1, 128, 254, 255};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int ih = sizes[s][0], iw = sizes[s][1], oh = sizes[s][2],
            ow = sizes[s][3];
        uint8_t *in = malloc((size_t)ih * iw), *out = malloc((size_t)oh * ow);
        ck_assert(in && out);
        for (size_t l = 0; l < sizeof levels; l++) {
            memset(in, levels[l], (size_t)ih * iw);
            nt_resize_bilinear_u8(out, oh, ow, in, ih, iw);
            int bad = -1;
            for (int i = 0; i < oh * ow && bad < 0; i++)
                if (out[i] != levels[l])
                    bad = i;
            ck_assert_msg(bad < 0,
                          "%dx%d -> %dx%d of a flat %d: pixel %d is %d", ih,
                          iw, oh, ow, levels[l], bad, bad < 0 ? 0 : out[bad]);
        }
        free(in);
        free(out);
    }
}
END_TEST

static Suite *resize_suite(void)
{
    Suite *s = suite_create("resize");
    TCase *tc = tcase_create("pillow");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_matches_pillow);
    suite_add_tcase(s, tc);
    tc = tcase_create("flat");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_flat_images_stay_flat);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resize_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
