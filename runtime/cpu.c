/* cpu.c - which instruction set the kernels use: detected once from cpuid
 * and xgetbv, or forced by NETC_ISA or nt_cpu_force(). Does not pick
 * kernels itself: the kernels ask nt_cpu_isa(). */
#include "nt_base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0, the register state the OS saves on a context switch. Only called
 * when cpuid says OSXSAVE. */
static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static nt_isa detect(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return NT_ISA_GENERIC;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma)
        return NT_ISA_GENERIC;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
        return NT_ISA_GENERIC;
    if (__get_cpuid_max(0, NULL) < 7)
        return NT_ISA_GENERIC;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (!avx2)
        return NT_ISA_GENERIC;
    /* opmask, upper halves of zmm0-15, and zmm16-31 */
    if (avx512f && (xcr0 & 0xe0) == 0xe0)
        return NT_ISA_AVX512;
    return NT_ISA_AVX2;
}
#else
static nt_isa detect(void) { return NT_ISA_GENERIC; }
#endif

static const char *const names[] = {"generic", "avx2", "avx512"};

static nt_isa best;   /* what the CPU supports */
static nt_isa chosen; /* what the kernels use */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    best = detect();
    chosen = best;
    const char *want = getenv("NETC_ISA");
    if (!want || !*want)
        return;
    for (int i = 0; i <= NT_ISA_AVX512; i++)
        if (strcmp(want, names[i]) == 0) {
            if ((nt_isa)i <= best)
                chosen = (nt_isa)i;
            else
                fprintf(stderr,
                        "netc: NETC_ISA=%s, but this CPU (or its OS) does not "
                        "support %s; using %s\n",
                        want, names[i], names[best]);
            return;
        }
    fprintf(stderr,
            "netc: NETC_ISA=%s is not one of generic, avx2, avx512; using %s\n",
            want, names[best]);
}

nt_isa nt_cpu_isa(void)
{
    pthread_once(&once, init);
    return chosen;
}

int nt_cpu_has(nt_isa isa)
{
    pthread_once(&once, init);
    return isa >= NT_ISA_GENERIC && isa <= best;
}

int nt_cpu_force(nt_isa isa)
{
    if (!nt_cpu_has(isa))
        return -1;
    chosen = isa;
    return 0;
}

const char *nt_isa_name(nt_isa isa)
{
    return isa >= NT_ISA_GENERIC && isa <= NT_ISA_AVX512 ? names[isa] : "?";
}
