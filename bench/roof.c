/* roof.c - this machine's single-precision FMA peak: independent chains of
 * vector FMAs (AVX-512 and AVX2) on one core and on all cores, best of a
 * few runs, as a plain table. The roof that bench/gemm_bench and the
 * trainers' GFLOP/s are measured against. Not a test. The first column
 * counts each thread's own CPU time (robust when other processes share the
 * cores), the second wall time (the same on an idle machine).
 *
 *   build/bench/roof [--reps N]
 *
 * An FMA counts 2 flops per lane. Each thread runs CHAINS independent
 * accumulators: enough to cover the FMA latency (4 cycles) times the pipes
 * (2 per core on Zen 4/5 and most Intel cores). */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nt_base.h"

#define CHAINS 12
#define ITERS 20000000L

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static volatile float sink;

/* CHAINS accumulators, each acc = acc * x + y, iters times; the sum is kept
 * so that nothing is optimised away. One body for both vector widths. */
#define RUN_CHAINS(vec, set1, fmadd, add, storeu, lanes)                     \
    do {                                                                     \
        vec acc[CHAINS];                                                     \
        vec x = set1(0.999999f), y = set1(1e-7f);                            \
        for (int i = 0; i < CHAINS; i++)                                     \
            acc[i] = set1((float)i);                                         \
        for (long n = 0; n < iters; n++) {                                   \
            _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; i++)        \
                acc[i] = fmadd(acc[i], x, y);                                \
        }                                                                    \
        vec s = acc[0];                                                      \
        for (int i = 1; i < CHAINS; i++)                                     \
            s = add(s, acc[i]);                                              \
        float out[lanes];                                                    \
        storeu(out, s);                                                      \
        sink = out[0];                                                       \
    } while (0)

__attribute__((target("avx512f,fma"))) static void chains512(long iters)
{
    RUN_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
               _mm512_storeu_ps, 16);
}

__attribute__((target("avx2,fma"))) static void chains256(long iters)
{
    RUN_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
               _mm256_storeu_ps, 8);
}

static double seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Best GFLOP/s over reps runs of nthreads threads, each running the chains:
 * by wall time, and as the sum over the threads of each one's flops per
 * second of its own CPU time (what the cores deliver while they run, which
 * other processes on a shared machine do not dilute). */
static void measure(double *wall, double *cpu, int lanes, int nthreads,
                    int reps)
{
    double flops = 2.0 * lanes * CHAINS * (double)ITERS;
    *wall = *cpu = 0.0;
    for (int r = 0; r < reps; r++) {
        double sum = 0.0, t0 = now();
#pragma omp parallel num_threads(nthreads) reduction(+ : sum)
        {
            double c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
            if (lanes == 16)
                chains512(ITERS);
            else
                chains256(ITERS);
            sum += flops / (seconds(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e-9;
        }
        double w = flops * nthreads / (now() - t0) * 1e-9;
        *wall = w > *wall ? w : *wall;
        *cpu = sum > *cpu ? sum : *cpu;
    }
}

int main(int argc, char **argv)
{
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--reps N]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    int cores = omp_get_num_procs();
    printf("FMA roof, float32, best of %d runs (%d chains per thread)\n", reps,
           CHAINS);
    printf("%-8s %8s %12s %12s\n", "isa", "threads", "GFLOP/s", "(wall time)");
    const nt_isa isas[] = {NT_ISA_AVX512, NT_ISA_AVX2};
    const int lanes[] = {16, 8};
    for (int k = 0; k < 2; k++) {
        if (!nt_cpu_has(isas[k])) {
            printf("%-8s %8s %12s\n", nt_isa_name(isas[k]), "-",
                   "not on this CPU");
            continue;
        }
        for (int t = 1; t <= cores; t = t < cores && 2 * t > cores ? cores : 2 * t) {
            double wall, cpu;
            measure(&wall, &cpu, lanes[k], t, reps);
            printf("%-8s %8d %12.1f %12.1f\n", nt_isa_name(isas[k]), t, cpu,
                   wall);
            fflush(stdout);
        }
    }
    return 0;
}
