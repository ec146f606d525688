/* test_diagnostics.c - suite "diagnostics": the corpus of bad .net files in
 * tests/compiler/bad/. Each file states the diagnostics it must produce in
 * comments:
 *
 *   # expect: LINE:COL: error: MESSAGE      (or note:; FILE.net:LINE:COL: for
 *                                             a diagnostic in an imported file;
 *                                             no location for messages without one)
 *
 * Every expected line must appear (as "FILE:LINE:COL: error: MESSAGE"), the
 * compile must fail, and no other error may be reported. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

static int only_net_files(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 4 && strcmp(e->d_name + n - 4, ".net") == 0;
}

static int count_errors(const char *diags)
{
    int n = 0;
    for (const char *p = diags; (p = strstr(p, ": error: ")) != NULL; p++)
        n++;
    return n;
}

static void check_file(const char *dir, const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ctest t;
    ctest_file(&t, path, NULL);
    ck_assert_msg(t.rc != 0, "%s: compiled without error", name);

    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int expected_errors = 0, expects = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        const char *e = strstr(line, "# expect: ");
        if (!e)
            continue;
        e += strlen("# expect: ");
        expects++;
        char want[1200];
        if (e[0] >= '0' && e[0] <= '9')
            snprintf(want, sizeof want, "%s:%s", name, e); /* path ends with name */
        else if (strstr(e, ".net:")) /* in another file: "lib.net:7:3: error: ..." */
            snprintf(want, sizeof want, "%s", e);
        else /* no location: the message alone (it may name the file's path) */
            snprintf(want, sizeof want, "%s", strstr(e, ": ") ? strstr(e, ": ") + 2 : e);
        if (strstr(e, "error: "))
            expected_errors++;
        ck_assert_msg(strstr(t.diags, want) != NULL, "%s: missing diagnostic\n  %s\ngot:\n%s",
                      name, want, t.diags);
    }
    fclose(f);
    ck_assert_msg(expects > 0, "%s states no '# expect:' line", name);
    ck_assert_msg(count_errors(t.diags) == expected_errors,
                  "%s: %d errors reported, %d expected; got:\n%s", name,
                  count_errors(t.diags), expected_errors, t.diags);
    ctest_free(&t);
}

START_TEST(bad_corpus)
{
    const char *dir = ctest_src("tests/compiler/bad");
    char dirbuf[1024];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    struct dirent **list;
    int n = scandir(dirbuf, &list, only_net_files, alphasort);
    ck_assert_msg(n >= 20, "expected the bad-input corpus in %s, found %d files", dirbuf, n);
    for (int i = 0; i < n; i++) {
        check_file(dirbuf, list[i]->d_name);
        free(list[i]);
    }
    free(list);
}
END_TEST

START_TEST(caret_and_source_line)
{
    ctest t;
    ctest_file(&t, ctest_src("tests/compiler/bad/unknown_keyword.net"), NULL);
    CTEST_ASSERT_ERROR(&t, "    4 |   conv(6, 5, padd = 2)\n"
                           "      |              ^~~~\n");
    ctest_free(&t);
}
END_TEST

START_TEST(error_limit)
{
    /* 30 broken statements: at most 20 errors, then a note that it stopped */
    char text[4096] = "net n { input(1, 8, 8) ";
    for (int i = 0; i < 30; i++)
        strcat(text, "rleu ");
    strcat(text, "}");
    ctest t;
    ctest_text(&t, text, NULL);
    ck_assert_int_eq(count_errors(t.diags), 20);
    CTEST_ASSERT_ERROR(&t, "too many errors; stopping after 20");
    ctest_free(&t);
}
END_TEST

static Suite *diagnostics_suite(void)
{
    Suite *s = suite_create("diagnostics");
    TCase *tc = tcase_create("bad input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_corpus);
    tcase_add_test(tc, caret_and_source_line);
    tcase_add_test(tc, error_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(diagnostics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
