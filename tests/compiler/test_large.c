/* test_large.c - suite "large": inputs of a few MB are answered quickly or
 * refused, because every front-end pass is linear in the input (hashed
 * scopes, block and naming tables; tokens, nesting and expression work
 * bounded). No wall-clock assertion: the test case's timeout is the bound
 * (when scopes were lists, the larger inputs took minutes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"

/* A growing string. */
typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    memcpy(b->s + b->n, s, k + 1);
    b->n += k;
}

static void putf(buf *b, const char *fmt, long v)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, fmt, v);
    put(b, tmp);
}

/* Compiles b's text: it must succeed (want NULL) or report want. Frees b. */
static void expect(buf *b, const char *want)
{
    ctest t;
    ctest_text(&t, b->s, NULL);
    if (want)
        CTEST_ASSERT_ERROR(&t, want);
    else
        CTEST_ASSERT_OK(&t);
    ctest_free(&t);
    free(b->s);
}

START_TEST(many_lets_and_a_long_loop)
{
    /* 40,000 variables, then 400,000 assignments to the oldest in loops
     * (with scopes as lists, each assignment walked all 40,000) */
    buf b = {0};
    put(&b, "net n {\n  input(1, 8, 8)\n");
    for (long i = 0; i < 40000; i++)
        putf(&b, "  let v%ld = 1\n", i);
    put(&b, "  repeat 4 { for i in range(100000) { let v0 = i } }\n  relu\n}\n");
    expect(&b, NULL);
}
END_TEST

START_TEST(many_top_level_lets)
{
    /* 200,000 top-level lets (4.5 MB), each reading the one before */
    buf b = {0};
    put(&b, "let g0 = 0\n");
    for (long i = 1; i < 200000; i++) {
        putf(&b, "let g%ld = ", i);
        putf(&b, "g%ld + 1\n", i - 1);
    }
    put(&b, "net n { input(1, 8, 8) conv(g199999 / 10000, 1) }\n");
    ctest t;
    ctest_text(&t, b.s, NULL);
    CTEST_ASSERT_OK(&t);
    ck_assert_int_eq(t.c.graph.nodes[1].a.conv.out, 19);
    ctest_free(&t);
    free(b.s);
}
END_TEST

START_TEST(many_blocks)
{
    /* 50,000 blocks, each calling the one defined before it */
    buf b = {0};
    put(&b, "block b0() { relu }\n");
    for (long i = 1; i < 50000; i++) {
        putf(&b, "block b%ld() { ", i);
        putf(&b, "b%ld }\n", i - 1);
    }
    put(&b, "net n { input(1, 8, 8) b49999 }\n");
    expect(&b, "block calls nested more than 64 deep");
}
END_TEST

START_TEST(calls_with_many_parameters)
{
    /* each call binds 2,000 parameters: the step limit counts them (else
     * 100,000 calls would bind 200 million) */
    buf b = {0};
    put(&b, "block wide(");
    for (long i = 0; i < 2000; i++)
        putf(&b, "p%ld = 1, ", i);
    put(&b, ") { let x = p0 }\nnet n { input(1, 8, 8) repeat 100000 { wide } relu }\n");
    expect(&b, "expanding the net takes more than 1000000 steps");
}
END_TEST

START_TEST(long_tokens)
{
    static const char *const kinds[] = {"name", "number", "string"};
    for (int k = 0; k < 3; k++) {
        size_t n = 4u << 20;
        char *s = malloc(n + 64);
        size_t len = 0;
        if (k == 2)
            len += (size_t)sprintf(s, "import \"");
        else
            len += (size_t)sprintf(s, "net n { input(1, 8, 8) conv(");
        memset(s + len, k == 0 ? 'a' : '7', n);
        len += n;
        strcpy(s + len, k == 2 ? "\"\n" : ", 1) }\n");
        ctest t;
        ctest_text(&t, s, NULL);
        const char *want[] = {"name is 4194304 characters long; the limit is 200",
                              "integer literal 77777777777777777777... (4194304 characters) is too large",
                              "string is 4194304 characters long; the limit is 4096"};
        ck_assert_msg(strstr(t.diags, want[k]) != NULL, "%s: got %.300s", kinds[k], t.diags);
        ck_assert_msg(strlen(t.diags) < 2000, "%s: the message quotes the token", kinds[k]);
        ctest_free(&t);
        free(s);
    }
}
END_TEST

START_TEST(deep_nesting)
{
    buf b = {0};
    put(&b, "net n { input(1, 8, 8)\n");
    for (int i = 0; i < 10000; i++)
        put(&b, "repeat 1 { ");
    put(&b, "relu");
    for (int i = 0; i < 10000; i++)
        put(&b, " }");
    put(&b, "\n}\n");
    ctest t;
    ctest_text(&t, b.s, NULL);
    CTEST_ASSERT_ERROR(&t, "test.net:2:1407: error: brackets nested more than 128 deep");
    ck_assert_int_eq(t.c.diag.nerrors, 1);
    ctest_free(&t);

    b.n = 0;
    put(&b, "net n { input(1, 8, 8) conv(");
    for (int i = 0; i < 20000; i++)
        put(&b, "- ");
    put(&b, "1, 1) }\n");
    ctest_text(&t, b.s, NULL);
    CTEST_ASSERT_ERROR(&t, "error: nested more than 10000 deep (operators or statements)");
    ck_assert_int_eq(t.c.diag.nerrors, 1);
    ctest_free(&t);
    free(b.s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("large");
    TCase *tc = tcase_create("large inputs");
    tcase_set_timeout(tc, 30); /* with list scopes these took 1 to 10 minutes */
    tcase_add_test(tc, many_lets_and_a_long_loop);
    tcase_add_test(tc, many_top_level_lets);
    tcase_add_test(tc, many_blocks);
    tcase_add_test(tc, calls_with_many_parameters);
    tcase_add_test(tc, long_tokens);
    tcase_add_test(tc, deep_nesting);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
