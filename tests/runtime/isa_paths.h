/* isa_paths.h - runs a test program's Check suite once per ISA this CPU
 * has (nt_cpu_force), for the kernels that dispatch on nt_cpu_isa() without
 * a GEMM (gemm_paths.h covers those). An ISA the CPU lacks is reported as
 * not run and counts for nothing; the program fails if any run has a
 * failure. */
#ifndef ISA_PATHS_H
#define ISA_PATHS_H

#include <check.h>
#include <stdio.h>

#include "nt_base.h"

typedef Suite *(*tu_isa_suite_fn)(const char *name);

static int tu_run_isa_paths(const char *prog, tu_isa_suite_fn make)
{
    int failed = 0, ran = 0;
    char name[64];
    for (int isa = NT_ISA_GENERIC; isa <= NT_ISA_AVX512; isa++) {
        if (nt_cpu_force((nt_isa)isa) != 0) {
            printf("%s: ISA %s NOT RUN: this CPU (or its OS) lacks it\n", prog,
                   nt_isa_name((nt_isa)isa));
            continue;
        }
        snprintf(name, sizeof name, "%s[%s]", prog, nt_isa_name((nt_isa)isa));
        SRunner *sr = srunner_create(make(name));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        ran++;
    }
    printf("%s: %d ISAs run, %d failure(s)\n", prog, ran, failed);
    return failed;
}

#endif
