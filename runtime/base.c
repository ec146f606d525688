/* base.c - error messages, the runtime's thread count and large
 * allocations. OpenBLAS is pinned to one thread here; all parallelism is
 * OpenMP. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#include "nt_base.h"

#include <cblas.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
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

#define HUGE_PAGE ((size_t)2 << 20)

void *nt_alloc_big(size_t bytes)
{
    void *p = NULL;
    if (bytes < HUGE_PAGE)
        return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
    if (bytes > SIZE_MAX - HUGE_PAGE)
        return NULL;
    const size_t whole = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (posix_memalign(&p, HUGE_PAGE, whole) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, whole, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
#endif
    return p;
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
