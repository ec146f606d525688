/* test_robustness.c - suite "robustness": truncated and mutated versions of
 * every file in nets/ go through the whole front end (and the reports when
 * they compile). Whatever the input, netc must finish with a result or a
 * diagnostic: no crash, no hang, no runaway memory. Run it under the ASan /
 * UBSan build or `meson test --setup=valgrind` to catch memory errors that
 * do not crash.
 *
 * The mutations are seeded, so a failure reproduces; the failing input is
 * written to robustness_failure.net in the working directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest.h"
#include "report.h"

static uint64_t rng_state;

static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t below(size_t n) { return n ? (size_t)(next() % n) : 0; }

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    char *s = malloc(*len + 1);
    memcpy(s, buf, *len);
    s[*len] = 0;
    return s;
}

/* Compiles text; on success also runs every report into /dev/null. */
static void run_one(const char *text)
{
    FILE *keep = fopen("robustness_failure.net", "w");
    if (keep) {
        fputs(text, keep);
        fclose(keep);
    }
    ctest t;
    ctest_text(&t, text, NULL);
    if (t.rc == 0) {
        FILE *null = fopen("/dev/null", "w");
        report_table(&t.c.graph, 2, null);
        report_json(&t.c.graph, null);
        report_dot(&t.c.graph, null);
        fclose(null);
    } else {
        ck_assert_msg(t.c.diag.nerrors > 0, "failed without a diagnostic:\n%s", text);
    }
    ctest_free(&t);
}

static const char *const files[] = {
    "nets/lenet.net", "nets/lenet_bn.net", "nets/alexnet.net", "nets/vgg.net",
    "nets/nin.net", "nets/googlenet.net", "nets/resnet18.net", "nets/lib/resnet.net",
    "nets/mobilenet.net", "nets/resnext.net", "tests/e2e/nets/kinds.net",
};
#define NFILES (sizeof files / sizeof *files)

START_TEST(truncations)
{
    size_t len;
    char *src = read_file(ctest_src(files[_i]), &len);
    /* every cut in the first and last 64 bytes, and every 5th in between */
    for (size_t cut = 0; cut <= len; cut += (cut < 64 || cut + 64 > len) ? 1 : 5) {
        char *t = malloc(cut + 1);
        memcpy(t, src, cut);
        t[cut] = 0;
        run_one(t);
        free(t);
    }
    free(src);
}
END_TEST

static const char specials[] = "(){}[],=+-*/%<>#\"0123456789 \n\t._abcz!@\x01\x7f\xff";
static const char *const numbers[] = {"0", "-1", "99999", "100000", "1000000000",
                                      "9223372036854775807", "2.5", "1e308", "(1, 2)"};

static char *mutate(const char *src, size_t len)
{
    size_t cap = len * 2 + 64;
    char *t = malloc(cap + 1);
    memcpy(t, src, len + 1);
    size_t n = len;
    int edits = 1 + (int)below(3);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t at = below(n);
        switch (below(5)) {
        case 0: /* replace a byte */
            t[at] = specials[below(sizeof specials - 1)];
            break;
        case 1: { /* delete a span */
            size_t k = 1 + below(12);
            if (at + k > n)
                k = n - at;
            memmove(t + at, t + at + k, n - at - k + 1);
            n -= k;
            break;
        }
        case 2: { /* duplicate a span */
            size_t k = 1 + below(24);
            if (at + k > n)
                k = n - at;
            if (n + k > cap)
                break;
            memmove(t + at + k, t + at, n - at + 1);
            n += k;
            break;
        }
        case 3: { /* replace a number */
            while (at < n && (t[at] < '0' || t[at] > '9'))
                at++;
            size_t end = at;
            while (end < n && t[end] >= '0' && t[end] <= '9')
                end++;
            const char *num = numbers[below(sizeof numbers / sizeof *numbers)];
            size_t k = strlen(num);
            if (at >= n || n - (end - at) + k > cap)
                break;
            memmove(t + at + k, t + end, n - end + 1);
            memcpy(t + at, num, k);
            n = n - (end - at) + k;
            break;
        }
        default: { /* swap two bytes far apart */
            size_t b = below(n);
            char c = t[at];
            t[at] = t[b];
            t[b] = c;
        }
        }
    }
    t[n] = 0;
    return t;
}

START_TEST(mutations)
{
    size_t len;
    char *src = read_file(ctest_src(files[_i]), &len);
    rng_state = 0x9e3779b97f4a7c15ULL * (uint64_t)(_i + 1);
    for (int k = 0; k < 400; k++) {
        char *t = mutate(src, len);
        run_one(t);
        free(t);
    }
    free(src);
}
END_TEST

START_TEST(pathological_inputs)
{
    static const char *const cases[] = {
        "",
        "net",
        "net n { input(1, 8, 8) repeat 100000 { repeat 100000 { relu } } }",
        "net n { input(1, 8, 8) conv(1, 1) let t = range(100000) for a in t { for b in t { } } }",
        "block b(n) { if n > 0 { relu b(n - 1) } }\nnet n { input(1, 8, 8) b(100) }",
        "let a = ((((((((((((((((((((1))))))))))))))))))))\nnet n { input(1) relu }",
        "net n { input(1, 8, 8) conv(1, 3, padding = 1000) }",
        "net n { input(100000, 100000, 100000) relu }",
        "net n { input(1, 4096, 4096) repeat 64 { conv(64, 3, padding = 1) } flatten linear(100000000) }",
        "import \"test.net\"\nnet n { input(1) relu }",
        "net n { input(1) repeat 100000 { let t = range(100000) } relu }",
        "net n { input(1, 8, 8) concat { branch { } branch { } } add { branch { } branch { } } }",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_one(cases[i]);
    /* a long chain: 1 + 1 + ... deeper than the evaluator allows */
    size_t n = 200000;
    char *chain = malloc(n * 2 + 64);
    strcpy(chain, "let a = 1");
    for (size_t i = 0; i < n; i++)
        strcat(chain + 8 + 2 * i, "+1");
    strcat(chain, "\nnet n { input(1) relu }");
    run_one(chain);
    /* deep unary nesting */
    memset(chain, '-', n);
    strcpy(chain + n, "1");
    char *text = malloc(n + 64);
    snprintf(text, n + 64, "let a = %s\nnet n { input(1) relu }", chain);
    run_one(text);
    free(text);
    free(chain);
}
END_TEST

static Suite *robustness_suite(void)
{
    Suite *s = suite_create("robustness");
    TCase *tc = tcase_create("mutated seed networks");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, truncations, 0, NFILES);
    tcase_add_loop_test(tc, mutations, 0, NFILES);
    tcase_add_test(tc, pathological_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(robustness_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!failed)
        remove("robustness_failure.net");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
