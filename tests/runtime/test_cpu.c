/* test_cpu.c - cpu.c: the detected ISA agrees with the compiler's own cpuid
 * reading, NETC_ISA forces a supported ISA, a forced ISA the CPU lacks or an
 * unknown name is reported on stderr and the best supported ISA is used,
 * and nt_cpu_force refuses what the CPU lacks. Each test runs in its own
 * process (Check's fork mode), where cpu.c reads NETC_ISA for the first
 * time. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nt_base.h"

/* The best ISA by GCC's __builtin_cpu_supports, which reads cpuid and XCR0
 * on its own: a second witness for detect(). */
static nt_isa witness(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return NT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NT_ISA_AVX2;
#endif
    return NT_ISA_GENERIC;
}

/* Sets NETC_ISA, makes cpu.c choose with stderr going to a file, and
 * returns the choice and what was printed (msg, up to size - 1 bytes). */
static nt_isa choose_with_env(const char *value, char *msg, size_t size)
{
    setenv("NETC_ISA", value, 1);
    tu_tmpdir_make("cpu");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(tu_tmp("stderr.txt"), O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    nt_isa isa = nt_cpu_isa();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, msg, size - 1);
    msg[n > 0 ? n : 0] = 0;
    close(fd);
    tu_tmpdir_remove();
    return isa;
}

START_TEST(test_detect)
{
    unsetenv("NETC_ISA");
    nt_isa best = witness();
    ck_assert_msg(nt_cpu_isa() == best, "detected %s, the compiler says %s",
                  nt_isa_name(nt_cpu_isa()), nt_isa_name(best));
    printf("cpu: this CPU runs %s kernels\n", nt_isa_name(best));
    for (int i = 0; i <= NT_ISA_AVX512; i++)
        ck_assert_int_eq(nt_cpu_has((nt_isa)i), i <= (int)best);
    ck_assert_int_eq(nt_cpu_has((nt_isa)7), 0);
    ck_assert_int_eq(nt_cpu_force((nt_isa)7), -1);
    ck_assert_int_eq(nt_cpu_isa(), best);
    ck_assert_str_eq(nt_isa_name(NT_ISA_AVX2), "avx2");
}
END_TEST

/* NETC_ISA=<each name>: used if the CPU has it, else reported. */
START_TEST(test_env_force)
{
    static const char *const names[] = {"generic", "avx2", "avx512"};
    nt_isa best = witness();
    char msg[512];
    nt_isa got = choose_with_env(names[_i], msg, sizeof msg);
    if ((nt_isa)_i <= best) {
        ck_assert_int_eq(got, _i);
        ck_assert_str_eq(msg, "");
    } else {
        char want[256];
        snprintf(want, sizeof want,
                 "netc: NETC_ISA=%s, but this CPU (or its OS) does not support "
                 "%s; using %s\n",
                 names[_i], names[_i], nt_isa_name(best));
        ck_assert_int_eq(got, best);
        ck_assert_str_eq(msg, want);
    }
}
END_TEST

START_TEST(test_env_unknown)
{
    char msg[512], want[256];
    nt_isa got = choose_with_env("sse9", msg, sizeof msg);
    snprintf(want, sizeof want,
             "netc: NETC_ISA=sse9 is not one of generic, avx2, avx512; using "
             "%s\n",
             nt_isa_name(witness()));
    ck_assert_int_eq(got, witness());
    ck_assert_str_eq(msg, want);
}
END_TEST

START_TEST(test_force)
{
    unsetenv("NETC_ISA");
    nt_isa best = witness();
    ck_assert_int_eq(nt_cpu_force(NT_ISA_GENERIC), 0);
    ck_assert_int_eq(nt_cpu_isa(), NT_ISA_GENERIC);
    for (int i = 0; i <= NT_ISA_AVX512; i++) {
        int r = nt_cpu_force((nt_isa)i);
        if (i <= (int)best) {
            ck_assert_int_eq(r, 0);
            ck_assert_int_eq(nt_cpu_isa(), i);
        } else {
            /* refused: the previous choice stays */
            ck_assert_int_eq(r, -1);
            ck_assert_int_eq(nt_cpu_isa(), best);
        }
    }
}
END_TEST

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("detect");
    tcase_add_test(tc, test_detect);
    tcase_add_test(tc, test_force);
    suite_add_tcase(s, tc);

    tc = tcase_create("env");
    tcase_add_loop_test(tc, test_env_force, 0, 3);
    tcase_add_test(tc, test_env_unknown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cpu_suite());
    srunner_set_fork_status(sr, CK_FORK); /* one process per test, see above */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
