/* gemm_paths.h - runs a test program's Check suite once per GEMM path this
 * CPU can take: the runtime's own SGEMM forced (nt_gemm_force,
 * nt_cpu_force) onto each ISA the CPU has, then OpenBLAS. A path the CPU
 * lacks is reported as not run and counts for nothing; the program fails if
 * any path that ran has a failure. Used by the tests of gemm.c, conv.c,
 * conv_grouped.c and linear.c. */
#ifndef GEMM_PATHS_H
#define GEMM_PATHS_H

#include <check.h>
#include <stdio.h>

#include "nt_kernels.h"

typedef Suite *(*tu_suite_fn)(const char *name);

/* The path the suite runs on now: "generic", "avx2", "avx512" or
 * "openblas". */
static const char *tu_gemm_path = "default";

static int tu_run_gemm_paths(const char *prog, tu_suite_fn make)
{
    int failed = 0, ran = 0;
    char name[64];
    for (int p = 0; p <= NT_ISA_AVX512 + 1; p++) {
        const char *path = p <= NT_ISA_AVX512 ? nt_isa_name((nt_isa)p) : "openblas";
        if (p <= NT_ISA_AVX512) {
            if (nt_cpu_force((nt_isa)p) != 0) {
                printf("%s: path %s NOT RUN: this CPU (or its OS) lacks it\n",
                       prog, path);
                continue;
            }
            nt_gemm_force(NT_GEMM_OWN);
        } else {
            nt_gemm_force(NT_GEMM_OPENBLAS);
        }
        tu_gemm_path = path;
        snprintf(name, sizeof name, "%s[%s]", prog, path);
        SRunner *sr = srunner_create(make(name));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        ran++;
    }
    nt_gemm_force(NT_GEMM_AUTO);
    printf("%s: %d GEMM paths run, %d failure(s)\n", prog, ran, failed);
    return failed;
}

#endif
