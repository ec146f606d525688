/* test_dataset.c - datasets and batches (dataset.c): the crop, flip,
 * resize, ToTensor and Normalize of an example against torchvision on PIL
 * images (tools/fixtures/augment.py) at the same decisions; the decisions
 * themselves; NumPy datasets in every accepted form; and each kind of bad
 * data refused with its message. */
#include "nt_data.h"
#include "nt_io.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/augment_torch.h"

/* ---- against torchvision ------------------------------------------------------- */

static nt_dataset u8_dataset(const int32_t *pix, int n, int c, int h, int w)
{
    nt_dataset ds = {n, c, h, w, NULL, NULL, NULL};
    const size_t total = (size_t)n * c * h * w;
    ds.images = malloc(total);
    ds.labels = calloc((size_t)n, sizeof *ds.labels);
    for (size_t i = 0; i < total; i++)
        ds.images[i] = (uint8_t)pix[i];
    return ds;
}

START_TEST(test_crop_flip_normalize_match_torchvision)
{
    nt_error err = {{0}};
    nt_dataset ds = u8_dataset(aug_images, AUG_IMAGES, AUG_C, AUG_H, AUG_W);
    const size_t per = (size_t)AUG_C * AUG_H * AUG_W;
    float out[AUG_C * AUG_H * AUG_W];
    for (int c = 0; c < AUG_CASES; c++) {
        nt_feeder f;
        ck_assert_msg(nt_feeder_init(&f, &ds, AUG_C, AUG_H, AUG_W, aug_mean, aug_std,
                                     aug_cases[c][0], 1, "net", "data", &err) == 0,
                      "%s", err.msg);
        const nt_augment_choice ch = {aug_cases[c][1], aug_cases[c][2], aug_cases[c][3]};
        for (int k = 0; k < AUG_IMAGES; k++) {
            nt_feed_example(&f, out, &ds, k, &ch, 0);
            char what[96];
            snprintf(what, sizeof what, "image %d, padding %d, crop (%d, %d), flip %d", k,
                     aug_cases[c][0], ch.top, ch.left, ch.flip);
            /* the same float operations in the same order: bit-exact */
            TU_ASSERT_CLOSE(what, out, aug_out + ((size_t)k * AUG_CASES + c) * per, per,
                            0.0, 0.0);
        }
        nt_feeder_free(&f);
    }
    nt_dataset_free(&ds);
}
END_TEST

START_TEST(test_colour_resize_matches_torchvision)
{
    nt_error err = {{0}};
    nt_dataset ds = u8_dataset(aug_big, AUG_IMAGES, AUG_C, AUG_BIG_H, AUG_BIG_W);
    const size_t per = (size_t)AUG_C * AUG_H * AUG_W;
    float out[AUG_C * AUG_H * AUG_W];
    nt_feeder f;
    ck_assert_msg(nt_feeder_init(&f, &ds, AUG_C, AUG_H, AUG_W, aug_mean, aug_std, 0, 0,
                                 "net", "data", &err) == 0, "%s", err.msg);
    ck_assert(f.resize);
    for (int k = 0; k < AUG_IMAGES; k++) {
        nt_feed_example(&f, out, &ds, k, NULL, 0);
        TU_ASSERT_CLOSE("resized colour image", out, aug_resized + k * per, per, 0.0, 0.0);
    }
    nt_feeder_free(&f);
    nt_dataset_free(&ds);
}
END_TEST

START_TEST(test_choices_are_deterministic_and_in_range)
{
    nt_error err = {{0}};
    nt_dataset ds = u8_dataset(aug_images, AUG_IMAGES, AUG_C, AUG_H, AUG_W);
    nt_feeder f;
    ck_assert(nt_feeder_init(&f, &ds, AUG_C, AUG_H, AUG_W, NULL, NULL, 4, 1, "net", "d",
                             &err) == 0);
    int flips = 0, seen_top[9] = {0};
    for (int i = 0; i < 2000; i++) {
        nt_augment_choice a = nt_augment_choose(&f, 12345, i), b = nt_augment_choose(&f, 12345, i);
        ck_assert(a.top == b.top && a.left == b.left && a.flip == b.flip);
        ck_assert(a.top >= 0 && a.top <= 8 && a.left >= 0 && a.left <= 8);
        flips += a.flip;
        seen_top[a.top] = 1;
    }
    ck_assert_msg(flips > 850 && flips < 1150, "%d flips in 2000", flips);
    for (int t = 0; t <= 8; t++)
        ck_assert(seen_top[t]);
    /* another key, other decisions */
    int same = 0;
    for (int i = 0; i < 100; i++) {
        nt_augment_choice a = nt_augment_choose(&f, 1, i), b = nt_augment_choose(&f, 2, i);
        same += a.top == b.top && a.left == b.left && a.flip == b.flip;
    }
    ck_assert_int_lt(same, 20);
    /* a batch fed twice with the same key is the same */
    const size_t per = (size_t)AUG_C * AUG_H * AUG_W;
    float x1[2 * AUG_C * AUG_H * AUG_W], x2[2 * AUG_C * AUG_H * AUG_W];
    int32_t l[2];
    nt_feed_batch(&f, x1, l, &ds, NULL, 0, 2, 77);
    nt_feed_batch(&f, x2, l, &ds, NULL, 0, 2, 77);
    ck_assert(memcmp(x1, x2, 2 * per * sizeof(float)) == 0);
    nt_feeder_free(&f);
    nt_dataset_free(&ds);
}
END_TEST

/* ---- NumPy datasets ------------------------------------------------------------------- */

enum { NI = 4, NC = 3, NH = 5, NW = 6 };

/* A valid colour dataset in dir: uint8 NCHW (or NHWC) images, int64 labels. */
static void write_set(const char *dir, int nhwc, const char *labels_descr)
{
    uint8_t img[NI * NC * NH * NW], hwc[NI * NC * NH * NW];
    for (int i = 0; i < NI * NC * NH * NW; i++)
        img[i] = (uint8_t)(i * 7 % 256);
    for (int n = 0; n < NI; n++)
        for (int c = 0; c < NC; c++)
            for (int p = 0; p < NH * NW; p++)
                hwc[(n * NH * NW + p) * NC + c] = img[(n * NC + c) * NH * NW + p];
    const int64_t nchw[4] = {NI, NC, NH, NW}, nhwc_shape[4] = {NI, NH, NW, NC}, ln[1] = {NI};
    const int64_t lab64[NI] = {0, 9, 3, 1};
    const uint8_t lab8[NI] = {0, 9, 3, 1};
    char path[600];
    for (int s = 0; s < 2; s++) {
        const char *split = s ? "test" : "train";
        snprintf(path, sizeof path, "%s/%s_images.npy", dir, split);
        tu_write_npy(path, "|u1", nhwc ? nhwc_shape : nchw, 4, nhwc ? hwc : img, sizeof img);
        snprintf(path, sizeof path, "%s/%s_labels.npy", dir, split);
        if (strcmp(labels_descr, "<i8") == 0)
            tu_write_npy(path, "<i8", ln, 1, lab64, sizeof lab64);
        else
            tu_write_npy(path, "|u1", ln, 1, lab8, sizeof lab8);
    }
}

START_TEST(test_npy_layouts_and_label_types)
{
    tu_tmpdir_make("dataset");
    nt_error err = {{0}};
    nt_dataset a, b;
    write_set(tu_tmpdir(), 0, "<i8");
    ck_assert_msg(nt_data_load(&a, tu_tmpdir(), 1, 10, NC, NT_LAYOUT_AUTO, &err) == 0, "%s",
                  err.msg);
    ck_assert(a.n == NI && a.c == NC && a.h == NH && a.w == NW && a.images && !a.fimages);
    ck_assert(a.labels[1] == 9 && a.labels[2] == 3);
    write_set(tu_tmpdir(), 1, "|u1");
    ck_assert_msg(nt_data_load(&b, tu_tmpdir(), 0, 10, NC, NT_LAYOUT_AUTO, &err) == 0, "%s",
                  err.msg);
    ck_assert(b.c == NC && b.h == NH && b.w == NW);
    /* NHWC is transposed to NCHW: the same pixels */
    ck_assert(memcmp(a.images, b.images, (size_t)NI * NC * NH * NW) == 0);
    ck_assert(memcmp(a.labels, b.labels, NI * sizeof(int32_t)) == 0);
    nt_dataset_free(&a);
    nt_dataset_free(&b);

    /* float32 images are used as given */
    float fx[2 * 1 * 2 * 2] = {0.5f, -1.0f, 2.0f, 3.0f, 0.0f, 0.25f, 7.0f, -0.5f};
    const int64_t fs[3] = {2, 2, 2}, ls[1] = {2};
    const int32_t l32[2] = {1, 0};
    char p[600];
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s_images.npy", tu_tmpdir(), s ? "test" : "train");
        tu_write_npy(p, "<f4", fs, 3, fx, sizeof fx);
        snprintf(p, sizeof p, "%s/%s_labels.npy", tu_tmpdir(), s ? "test" : "train");
        tu_write_npy(p, "<i4", ls, 1, l32, sizeof l32);
    }
    ck_assert_msg(nt_data_load(&a, tu_tmpdir(), 1, 2, 1, NT_LAYOUT_AUTO, &err) == 0, "%s",
                  err.msg);
    ck_assert(a.fimages && a.c == 1 && a.fimages[2] == 2.0f && a.labels[0] == 1);
    nt_feeder f;
    ck_assert(nt_feeder_init(&f, &a, 1, 2, 2, NULL, NULL, 0, 0, "n", "d", &err) == 0);
    float x[4];
    nt_feed_example(&f, x, &a, 1, NULL, 0);
    ck_assert(memcmp(x, fx + 4, sizeof x) == 0);
    nt_feeder_free(&f);
    ck_assert_int_eq(nt_feeder_init(&f, &a, 1, 4, 4, NULL, NULL, 0, 0, "n", "d", &err), -1);
    ck_assert_str_eq(err.msg, "the images in d are 2x2 float32, but net n takes 4x4: float "
                              "images are used as given (uint8 images would be resized)");
    nt_dataset_free(&a);
    tu_tmpdir_remove();
}
END_TEST

/* Loading the train split of dir must fail with a message containing want. */
static void assert_refused(const char *dir, int in_c, const char *want)
{
    nt_dataset ds;
    nt_error err = {{0}};
    int rc = nt_data_load(&ds, dir, 1, 10, in_c, NT_LAYOUT_AUTO, &err);
    if (rc == 0) {
        nt_feeder f;
        rc = nt_feeder_init(&f, &ds, in_c, NH, NW, NULL, NULL, 0, 0, "cifar", dir, &err);
        if (rc == 0)
            nt_feeder_free(&f);
        nt_dataset_free(&ds);
    }
    ck_assert_msg(rc == -1, "accepted; wanted \"%s\"", want);
    ck_assert_msg(strstr(err.msg, want) != NULL, "\"%s\" lacks \"%s\"", err.msg, want);
}

START_TEST(test_bad_data_refused)
{
    tu_tmpdir_make("dataset");
    const char *dir = tu_tmpdir();
    char img[600], lab[600];
    snprintf(img, sizeof img, "%s/train_images.npy", dir);
    snprintf(lab, sizeof lab, "%s/train_labels.npy", dir);
    uint8_t px[NI * NC * NH * NW] = {0};
    const int64_t shape[4] = {NI, NC, NH, NW}, l3[1] = {3}, l4[1] = {NI};
    const int64_t labels[NI] = {0, 1, 12, 2};

    write_set(dir, 0, "<i8");
    tu_write_npy(lab, "<i8", l3, 1, labels, 3 * sizeof(int64_t));
    assert_refused(dir, NC, "train_labels.npy holds 3 labels but");
    tu_write_npy(lab, "<i8", l4, 1, labels, sizeof labels);
    assert_refused(dir, NC, "train_labels.npy: label 12 of example 2 is not a class number "
                            "from 0 to 9");
    write_set(dir, 0, "<i8");
    assert_refused(dir, 1, "net cifar takes 1 input channel, but the images in");
    const int64_t grey[3] = {NI, NH, NW};
    tu_write_npy(img, "|u1", grey, 3, px, (size_t)NI * NH * NW);
    assert_refused(dir, NC, "have 1 (grey)");
    tu_write_npy(img, "|u1", shape, 4, px, sizeof px - 5);
    assert_refused(dir, NC, "train_images.npy: truncated: the shape needs 360 data bytes, "
                            "the file holds 355");
    float fpx[NI * NC * NH * NW] = {0};
    fpx[2 * NC * NH * NW + 7] = NAN;
    tu_write_npy(img, "<f4", shape, 4, fpx, sizeof fpx);
    assert_refused(dir, NC, "train_images.npy: image 2 holds NaN (float images must be finite)");
    tu_write_npy(img, "<i4", l4, 1, labels, sizeof labels / 2);
    assert_refused(dir, NC, "images must be uint8 or float32, the array is '<i4'");
    write_set(dir, 0, "<i8");
    const float flab[NI] = {0, 1, 2, 3};
    tu_write_npy(lab, "<f4", l4, 1, flab, sizeof flab);
    assert_refused(dir, NC, "labels must be integers (uint8, int32, int64, ...), the array is "
                            "float32");
    tu_tmpdir_remove();
}
END_TEST

/* 4-d IDX images: N x C x H x W. */
START_TEST(test_idx_4d)
{
    tu_tmpdir_make("dataset");
    const char *dir = tu_tmpdir();
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    for (int s = 0; s < 2; s++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, names[s][0]);
        FILE *f = fopen(p, "wb");
        const unsigned char head[20] = {0, 0, 8, 4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
        fwrite(head, 1, 20, f);
        for (int i = 0; i < 2 * 3 * 2 * 2; i++)
            fputc(i, f);
        fclose(f);
        snprintf(p, sizeof p, "%s/%s", dir, names[s][1]);
        f = fopen(p, "wb");
        const unsigned char lh[10] = {0, 0, 8, 1, 0, 0, 0, 2, 4, 5};
        fwrite(lh, 1, 10, f);
        fclose(f);
    }
    nt_dataset ds;
    nt_error err = {{0}};
    ck_assert_msg(nt_data_load(&ds, dir, 1, 10, 3, NT_LAYOUT_AUTO, &err) == 0, "%s", err.msg);
    ck_assert(ds.n == 2 && ds.c == 3 && ds.h == 2 && ds.w == 2);
    ck_assert(ds.images[13] == 13 && ds.labels[1] == 5);
    nt_dataset_free(&ds);
    tu_tmpdir_remove();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("torchvision");
    tcase_add_test(tc, test_crop_flip_normalize_match_torchvision);
    tcase_add_test(tc, test_colour_resize_matches_torchvision);
    tcase_add_test(tc, test_choices_are_deterministic_and_in_range);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_npy_layouts_and_label_types);
    tcase_add_test(tc, test_bad_data_refused);
    tcase_add_test(tc, test_idx_4d);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
