/* test_progress.c - the trainer's reporting (progress.c): durations, the
 * progress bar and its plain-line form, the epoch line, the JSON log line,
 * and the d2l schedule and look of the training curves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "testutil.h"

#define TIMEOUT 60

START_TEST(test_duration)
{
    char b[32];
    nt_format_duration(b, sizeof b, 0.4);
    ck_assert_str_eq(b, "0 s");
    nt_format_duration(b, sizeof b, 59.4);
    ck_assert_str_eq(b, "59 s");
    nt_format_duration(b, sizeof b, 205);
    ck_assert_str_eq(b, "3:25");
    nt_format_duration(b, sizeof b, 3723);
    ck_assert_str_eq(b, "1:02:03");
    nt_format_duration(b, sizeof b, NAN);
    ck_assert_str_eq(b, "0 s");
}
END_TEST

START_TEST(test_bar_text)
{
    nt_progress p;
    char b[256];
    nt_progress_begin(&p, stderr, NT_PROGRESS_BAR, 2, 10, 200, 100.0);
    /* 50 of 200 batches in 10 s: 30 s to go */
    nt_progress_format(b, sizeof b, &p, 50, 0.54321, 0.8034, 110.0);
    ck_assert_str_eq(b, "epoch 2/10 [######..................] 50/200  "
                        "loss 0.5432  acc 0.803  ETA 30 s");
    nt_progress_format(b, sizeof b, &p, 0, 0, 0, 100.0);
    ck_assert_ptr_nonnull(strstr(b, "[........................] 0/200"));
    ck_assert_ptr_nonnull(strstr(b, "ETA ?"));
    p.mode = NT_PROGRESS_LINES;
    nt_progress_format(b, sizeof b, &p, 50, 0.54321, 0.8034, 110.0);
    ck_assert_str_eq(b, "epoch 2/10  batch 50/200  loss 0.5432  train acc "
                        "0.803  ETA 30 s");
}
END_TEST

/* Output of a sequence of updates in a mode, at times t[i] for batch i+1. */
static char *updates(nt_progress_mode mode, int total, const double *t,
                     int n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    nt_progress p;
    nt_progress_begin(&p, f, mode, 1, 3, total, 0.0);
    for (int i = 0; i < n; i++)
        nt_progress_update(&p, i + 1, 1.0, 0.5, t[i]);
    nt_progress_testing(&p);
    nt_progress_end(&p);
    fclose(f);
    return buf;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

START_TEST(test_bar_updates)
{
    /* a terminal: redrawn at most every 0.2 s, always at the end, erased */
    const double t[5] = {0.01, 0.02, 0.5, 0.55, 0.6};
    char *s = updates(NT_PROGRESS_BAR, 5, t, 5);
    ck_assert_int_eq(count(s, "epoch 1/3 ["), 2);
    ck_assert_ptr_nonnull(strstr(s, "3/5"));
    ck_assert_ptr_nonnull(strstr(s, "5/5"));
    ck_assert_int_eq(count(s, "\n"), 0);
    ck_assert_int_eq(count(s, "\repoch 1/3  testing ...\033[K"), 1);
    ck_assert_msg(strcmp(s + strlen(s) - 4, "\r\033[K") == 0,
                  "the bar is not erased: %s", s);
    free(s);

    /* a log: no \r and no escape, a line only after a minute */
    const double slow[4] = {10, 70, 80, 200};
    s = updates(NT_PROGRESS_LINES, 4, slow, 4);
    ck_assert_str_eq(s, "epoch 1/3  batch 2/4  loss 1.0000  train acc 0.500  "
                        "ETA 1:10\n");
    free(s);
    const double fast[3] = {1, 2, 3};
    s = updates(NT_PROGRESS_LINES, 3, fast, 3);
    ck_assert_str_eq(s, "");
    free(s);
    s = updates(NT_PROGRESS_OFF, 4, slow, 4);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(test_epoch_line)
{
    nt_epoch_stats s = {1, 10, 0.54321, 0.8034, 0.8261, 18512.4, 3.21, 0.1};
    char b[256];
    nt_format_epoch(b, sizeof b, &s);
    ck_assert_str_eq(b, "epoch  1/10  loss 0.5432  train acc 0.803  test acc "
                        "0.826  18512 examples/s  3.2 s");
    s.epoch = 10;
    nt_format_epoch(b, sizeof b, &s);
    ck_assert_ptr_eq(strstr(b, "epoch 10/10  loss"), b);
    s.epochs = 3;
    s.epoch = 2;
    nt_format_epoch(b, sizeof b, &s);
    ck_assert_ptr_eq(strstr(b, "epoch 2/3  loss"), b);
}
END_TEST

START_TEST(test_log_line)
{
    nt_epoch_stats s = {2, 10, 0.5, 0.75, 0.8125, 1000.5, 2.25, 0.1};
    char b[512];
    nt_format_log(b, sizeof b, &s);
    ck_assert_str_eq(b, "{\"epoch\": 2, \"loss\": 0.5, \"train_acc\": 0.75, "
                        "\"test_acc\": 0.8125, \"examples_per_sec\": 1000.5, "
                        "\"seconds\": 2.25, \"lr\": 0.1}\n");
    s.loss = NAN;
    s.test_acc = INFINITY;
    nt_format_log(b, sizeof b, &s);
    ck_assert_ptr_nonnull(strstr(b, "\"loss\": null, "));
    ck_assert_ptr_nonnull(strstr(b, "\"test_acc\": null, "));
}
END_TEST

START_TEST(test_curve_schedule)
{
    /* Fashion-MNIST at batch 256: 235 batches, every 47th */
    int due[8], n = 0;
    for (int i = 0; i < 235; i++)
        if (nt_curve_point_due(i, 235))
            due[n < 8 ? n++ : n] = i;
    ck_assert_int_eq(n, 5);
    const int want[5] = {46, 93, 140, 187, 234};
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(due[k], want[k]);
    /* 12 batches: every 2nd (12 / 5 = 2); 7 batches: every one, plus the
     * last; fewer than 5 batches (d2l would divide by zero): every one */
    n = 0;
    for (int i = 0; i < 12; i++)
        n += nt_curve_point_due(i, 12);
    ck_assert_int_eq(n, 6);
    n = 0;
    for (int i = 0; i < 3; i++)
        n += nt_curve_point_due(i, 3);
    ck_assert_int_eq(n, 3);
    n = 0;
    for (int i = 0; i < 11; i++)
        n += nt_curve_point_due(i, 11);
    ck_assert_int_eq(n, 6); /* 2, 4, 6, 8, 10 and the last */
}
END_TEST

START_TEST(test_curves_plot)
{
    nt_curves c;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_curves_alloc(&c, 2, 11, &err), 0);
    ck_assert_int_eq(c.cap, 12);
    ck_assert_int_eq(c.test_cap, 2);
    for (int e = 0; e < 2; e++) {
        for (int i = 0; i < 11; i++)
            if (nt_curve_point_due(i, 11))
                nt_curves_add_train(&c, e + (i + 1) / 11.0, 2.0 - e - i / 11.0,
                                    0.5 + 0.01 * i);
        nt_curves_add_test(&c, e + 1, 0.6 + 0.1 * e);
    }
    nt_curves_add_test(&c, 3, 0.9); /* beyond the capacity: dropped */
    ck_assert_int_eq(c.n, 12);
    ck_assert_int_eq(c.ntest, 2);

    char path[256];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/netc-progress-%d.svg",
             base && *base ? base : "/tmp", (int)getpid());
    ck_assert_msg(nt_curves_plot(&c, path, "tiny", &err) == 0, "%s", err.msg);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char svg[65536];
    size_t n = fread(svg, 1, sizeof svg - 1, f);
    svg[n] = 0;
    fclose(f);
    remove(path);
    const char *want[] = {"<svg", "train loss", "train acc", "test acc",
                          ">epoch<", "#1f77b4", "#bf00bf", "#008000",
                          "stroke-dasharray=\"5.55 2.4\"",
                          "stroke-dasharray=\"9.6 2.4 1.5 2.4\""};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        ck_assert_msg(strstr(svg, want[k]) != NULL, "no %s in the SVG",
                      want[k]);
    nt_curves_free(&c);
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("bar");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_bar_text);
    tcase_add_test(tc, test_bar_updates);
    suite_add_tcase(s, tc);
    tc = tcase_create("epoch");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_epoch_line);
    tcase_add_test(tc, test_log_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("curves");
    tcase_set_timeout(tc, TIMEOUT);
    tcase_add_test(tc, test_curve_schedule);
    tcase_add_test(tc, test_curves_plot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(progress_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
