/* test_cli.c - suite "cli": the netc command line as a user runs it: exit
 * statuses, --help and --version, the shapes table and JSON, dot, -D, -o,
 * and bad command-line values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctest.h"

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* Runs netc with args (a shell word list) from the source tree. */
static run_result run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >cli_out.txt 2>cli_err.txt", NETC_SOURCE_DIR,
             NETC_EXE, args);
    int st = system(cmd);
    run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char path[4096];
    snprintf(path, sizeof path, "%s/cli_out.txt", NETC_SOURCE_DIR);
    r.out = slurp(path);
    remove(path);
    snprintf(path, sizeof path, "%s/cli_err.txt", NETC_SOURCE_DIR);
    r.err = slurp(path);
    remove(path);
    return r;
}

static void done(run_result *r)
{
    free(r->out);
    free(r->err);
}

#define ASSERT_RUN(args, want_status, stream, want_text)                       \
    do {                                                                       \
        run_result r_ = run(args);                                             \
        ck_assert_msg(r_.status == (want_status),                              \
                      "netc %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s",   \
                      (args), r_.status, (want_status), r_.out, r_.err);       \
        ck_assert_msg(strstr(r_.stream, (want_text)) != NULL,                  \
                      "netc %s: " #stream " lacks \"%s\"; got:\n%.3000s", (args), \
                      (want_text), r_.stream);                                 \
        done(&r_);                                                             \
    } while (0)

START_TEST(help_and_version)
{
    ASSERT_RUN("--help", 0, out, "usage: netc COMMAND [options] FILE.net");
    ASSERT_RUN("-h", 0, out, "shapes");
    ASSERT_RUN("--version", 0, out, "netc " NETC_VERSION_STRING);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
    ASSERT_RUN("", 2, err, "usage:");
    ASSERT_RUN("frobnicate nets/lenet.net", 2, err, "unknown command 'frobnicate'");
    ASSERT_RUN("shapes --bogus nets/lenet.net", 2, err, "unknown option '--bogus'");
    ASSERT_RUN("shapes", 2, err, "shapes needs a .net FILE");
    ASSERT_RUN("shapes --batch 0 nets/lenet.net", 2, err, "--batch needs an integer from 1 to 65536, got '0'");
    ASSERT_RUN("shapes --batch x nets/lenet.net", 2, err, "--batch needs an integer");
    ASSERT_RUN("shapes nets/lenet.net -D", 2, err, "-D needs a value");
    ASSERT_RUN("shapes nets/lenet.net nets/nin.net", 2, err, "unexpected argument 'nets/nin.net'");
}
END_TEST

START_TEST(input_errors_exit_1)
{
    ASSERT_RUN("check nets/missing.net", 1, err, "cannot read 'nets/missing.net': No such file");
    ASSERT_RUN("check tests/compiler/bad/unknown_layer.net", 1, err,
               "tests/compiler/bad/unknown_layer.net:4:3: error: unknown layer or block");
    ASSERT_RUN("shapes -D ratio=0 nets/vgg.net", 1, err, "division by zero");
    ASSERT_RUN("shapes -D nosuch=1 nets/vgg.net", 1, err, "net 'vgg' has no parameter 'nosuch'");
    ASSERT_RUN("shapes --net other nets/vgg.net", 1, err, "has no net 'other'");
}
END_TEST

START_TEST(check_summary)
{
    ASSERT_RUN("check nets/alexnet.net", 0, out,
               "nets/alexnet.net: net alexnet is valid: 21 layers, 46,764,746 parameters");
    ASSERT_RUN("check -D ratio=1 nets/vgg.net", 0, out, "128,806,154 parameters");
    ASSERT_RUN("check -Dratio=1 nets/vgg.net", 0, out, "128,806,154 parameters");
    ASSERT_RUN("check nets/lib/resnet.net", 0, out,
               "nets/lib/resnet.net: a library of 2 blocks and no net");
    ASSERT_RUN("shapes nets/lib/resnet.net", 1, err, "has no net to expand");
}
END_TEST

START_TEST(shapes_table)
{
    run_result r = run("shapes --batch 128 nets/googlenet.net");
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "input 128 x 1x96x96"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "inception1  inception(192, 64, (96, 128), (16, 32), 32, 1)\n"),
                  "block call header missing:\n%.3000s", r.out);
    ck_assert_msg(strstr(r.out, "  inception1.branch2.conv2     conv2d              128 x 128x12x12"),
                  "grouped layer line missing:\n%.3000s", r.out);
    ck_assert_msg(strstr(r.out, "total  5,977,530 parameters"), "%s", r.out);
    ck_assert_msg(strstr(r.out, "of activations at batch 128"), "%s", r.out);
    done(&r);
}
END_TEST

START_TEST(shapes_json)
{
    run_result r = run("shapes --json nets/lenet.net");
    ck_assert_int_eq(r.status, 0);
    const char *head = "{\"net\": \"lenet\", \"input\": [1, 28, 28], \"params\": 61706, "
                       "\"flops\": 852370, \"layers\": [";
    ck_assert_msg(strncmp(r.out, head, strlen(head)) == 0, "%s", r.out);
    ck_assert_msg(strstr(r.out, "{\"path\": \"conv1\", \"op\": \"conv2d\", \"shape\": [6, 28, 28], "
                                "\"params\": 156, \"flops\": 239904}"),
                  "%s", r.out);
    ck_assert_msg(strstr(r.out, "{\"path\": \"flatten1\", \"op\": \"flatten\", \"shape\": [400], "
                                "\"params\": 0, \"flops\": 0}"),
                  "%s", r.out);
    /* one entry per primitive layer */
    int n = 0;
    for (const char *p = r.out; (p = strstr(p, "\"path\"")); p++)
        n++;
    ck_assert_int_eq(n, 12);
    done(&r);
}
END_TEST

START_TEST(dot_output)
{
    run_result r = run("dot nets/resnet18.net");
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strncmp(r.out, "digraph \"resnet18\" {", 20) == 0, "%s", r.out);
    ck_assert_msg(strstr(r.out, "subgraph cluster_0 {"), "no cluster:\n%.400s", r.out);
    ck_assert_msg(strstr(r.out, "label=\"resnet_block1.residual1: residual(64, 1, 0)\""),
                  "nested block label missing");
    done(&r);
}
END_TEST

START_TEST(output_file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cli_dot.txt", NETC_SOURCE_DIR);
    run_result r = run("dot -o cli_dot.txt nets/lenet.net");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "");
    char *s = slurp(path);
    ck_assert_msg(strncmp(s, "digraph", 7) == 0, "%s", s);
    free(s);
    remove(path);
    done(&r);
    ASSERT_RUN("dot -o /nonexistent/dir/x.dot nets/lenet.net", 1, err, "cannot write");
}
END_TEST

START_TEST(check_runs_the_checks_of_emit)
{
    /* the memory plan refuses a net that does not end flat: check too */
    const char *want = "not_a_classifier.net:4:3: error: the net's output is 10x26x26; a "
                       "classifier must end in a flat layer";
    ASSERT_RUN("check tests/compiler/cli/not_a_classifier.net", 1, err, want);
    ASSERT_RUN("emit tests/compiler/cli/not_a_classifier.net -o /dev/null", 1, err, want);
    ASSERT_RUN("shapes tests/compiler/cli/not_a_classifier.net", 0, out, "10x26x26");
}
END_TEST

START_TEST(huge_memory_warns)
{
    ASSERT_RUN("emit tests/compiler/cli/huge_memory.net -o /dev/null", 0, err,
               "huge_memory.net:2:5: warning: the trainer needs about 643.0 GiB at batch "
               "size 256 (parameters, gradients, momentum and activations), more than this "
               "machine's");
    ASSERT_RUN("check tests/compiler/cli/huge_memory.net", 0, out, "net big is valid");
}
END_TEST

/* Every exit path frees what it allocated: under AddressSanitizer (the
 * sanitizer build of scripts/test.sh) LeakSanitizer would report a leak
 * and change the exit status. */
START_TEST(no_leaks_on_error_exits)
{
    static const char *const cases[] = {
        "check tests/compiler/bad/unknown_layer.net",
        "check tests/compiler/bad/syntax_stray.net",
        "check tests/compiler/cli/not_a_classifier.net",
        "emit tests/compiler/bad/several_errors.net -D x=1",
        "check nets/lenet.net -D nothing=1",
        "shapes nets/lenet.net --batch 0",
        "check",
        "check nets/no_such_file.net",
        "shapes nets/lenet.net -o /no/such/dir/out.txt",
        "--help",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        setenv("ASAN_OPTIONS", "detect_leaks=1:exitcode=23:abort_on_error=0", 1);
        run_result r = run(cases[i]);
        unsetenv("ASAN_OPTIONS");
        ck_assert_msg(r.status <= 2 && !strstr(r.err, "LeakSanitizer"),
                      "netc %s: exit %d\n%s", cases[i], r.status, r.err);
        done(&r);
    }
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("netc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, usage_errors_exit_2);
    tcase_add_test(tc, input_errors_exit_1);
    tcase_add_test(tc, check_summary);
    tcase_add_test(tc, shapes_table);
    tcase_add_test(tc, shapes_json);
    tcase_add_test(tc, dot_output);
    tcase_add_test(tc, output_file);
    tcase_add_test(tc, check_runs_the_checks_of_emit);
    tcase_add_test(tc, huge_memory_warns);
    tcase_add_test(tc, no_leaks_on_error_exits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cli_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
