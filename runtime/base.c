/* base.c - error messages and the runtime's thread count.
 * OpenBLAS is pinned to one thread here; all parallelism is OpenMP. */
#include "nt_base.h"

#include <cblas.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int nt_fail(nt_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int num_threads = 0; /* 0: not set yet */

void nt_set_num_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    num_threads = n;
    openblas_set_num_threads(1);
    omp_set_num_threads(n);
}

int nt_num_threads(void)
{
    if (omp_in_parallel()) /* a share of a sample-parallel step (parts.c) */
        return 1;
    if (num_threads == 0)
        nt_set_num_threads(0);
    return num_threads;
}

void nt_prefer_passive_wait(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY"); /* could not restart: carry on as we are */
}
