/* test_build.c - suite "build": every network in nets/ goes through netc
 * emit and netc build; the C it emits compiles without a warning under
 * -std=c11 -Wall -Wextra -pedantic -Werror, is the same bytes every time,
 * links against the runtime, and the trainer it makes starts (--help,
 * --shapes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

/* nets/NAME.net, and the test net with every newer layer kind */
static const char *const nets[] = {"lenet",     "lenet_bn", "alexnet",  "vgg",
                                   "nin",       "googlenet", "resnet18", "mobilenet",
                                   "resnext",   "../tests/e2e/nets/kinds", "cifar_resnet"};
#define NNETS (sizeof nets / sizeof *nets)

/* the net's name: its file name without folders */
static const char *base(const char *net)
{
    const char *slash = strrchr(net, '/');
    return slash ? slash + 1 : net;
}

START_TEST(emits_warning_free_c)
{
    const char *path = nets[_i], *net = base(path);
    e2e_run r = e2e_sh("'%s' emit -o build_%s.c '%s/nets/%s.net' && "
                       "cc -std=c11 -Wall -Wextra -pedantic -Werror -fopenmp "
                       "-D_XOPEN_SOURCE=700 -I'%s/runtime' -c build_%s.c -o build_%s.o",
                       NETC_EXE, net, NETC_SOURCE_DIR, path, NETC_SOURCE_DIR, net, net);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}
END_TEST

START_TEST(emit_is_deterministic)
{
    const char *path = nets[_i], *net = base(path);
    e2e_run r = e2e_sh("'%s' emit -o det1_%s.c '%s/nets/%s.net' && "
                       "'%s' emit -o det2_%s.c '%s/nets/%s.net' && cmp det1_%s.c det2_%s.c",
                       NETC_EXE, net, NETC_SOURCE_DIR, path, NETC_EXE, net, NETC_SOURCE_DIR, path,
                       net, net);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}
END_TEST

START_TEST(builds_and_starts)
{
    const char *net = base(nets[_i]);
    char file[64], bin[64];
    snprintf(file, sizeof file, "%s.net", nets[_i]);
    snprintf(bin, sizeof bin, "trainer_%s", net);
    const char *path = e2e_build(file, "", bin);
    e2e_run r = e2e_sh("'%s' --help", path);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.out, "--epochs");
    e2e_free(&r);
    r = e2e_sh("'%s' --shapes", path);
    E2E_ASSERT_STATUS(r, 0);
    char want[128];
    snprintf(want, sizeof want, "net %s (", net);
    E2E_ASSERT_HAS(r.out, want);
    E2E_ASSERT_HAS(r.out, "parameters");
    e2e_free(&r);
}
END_TEST

START_TEST(build_reports_compiler_failure)
{
    /* a C compiler that always fails: netc says so and exits 1 */
    e2e_run r = e2e_sh("CC=false '%s' build -o never '%s/nets/lenet.net'", NETC_EXE,
                       NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 1);
    E2E_ASSERT_HAS(r.err, "the C compiler failed");
    e2e_free(&r);
    r = e2e_sh("CC=/nonexistent/cc '%s' build -o never '%s/nets/lenet.net'", NETC_EXE,
               NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 1);
    E2E_ASSERT_HAS(r.err, "cannot run the C compiler '/nonexistent/cc'");
    e2e_free(&r);
}
END_TEST

static Suite *build_suite(void)
{
    Suite *s = suite_create("build");
    TCase *tc = tcase_create("nets");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, emits_warning_free_c, 0, NNETS);
    tcase_add_loop_test(tc, emit_is_deterministic, 0, NNETS);
    tcase_add_loop_test(tc, builds_and_starts, 0, NNETS);
    tcase_add_test(tc, build_reports_compiler_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(build_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
