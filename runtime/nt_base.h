/* nt_base.h - what every part of the netc runtime shares: error reporting,
 * the thread count, and the seeded random generators.
 *
 * Conventions used across the runtime (see ../shared/STYLE.md):
 *   - tensors are float32, NCHW, contiguous; sizes are in elements unless a
 *     name ends in _bytes;
 *   - functions that take data from outside the process (files, command-line
 *     values) return 0 on success and -1 on failure with a message in an
 *     nt_error; they never exit() or abort();
 *   - kernels are called by generated code with compile-time shapes and check
 *     their preconditions with assert() only.
 */
#ifndef NT_BASE_H
#define NT_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NT_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------ */

typedef struct nt_error {
    char msg[512];
} nt_error;

/* Formats a message into err (if err is not NULL) and returns -1, so callers
 * can write `return nt_fail(err, "bad %s", what);`. */
int nt_fail(nt_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- threads ----------------------------------------------------------- */

/* All runtime parallelism is OpenMP over outer loops (batch, channels, rows
 * of a GEMM). OpenBLAS itself is always kept at one thread so that two thread
 * pools never compete for the two cores. nt_set_num_threads(n) with n <= 0
 * means "all cores". Results depend on the thread count only through float
 * rounding of reductions; for a fixed count they are deterministic.
 * Inside a parallel region nt_num_threads() is 1: a kernel called there (by
 * a thread's share of a sample-parallel step, parts.c) runs on its calling
 * thread. */
void nt_set_num_threads(int n);
int nt_num_threads(void);

/* bytes of memory for a large array (an arena, a dataset), 64-byte aligned;
 * from 2 MiB on, 2 MiB aligned and marked for transparent huge pages
 * (madvise), since the kernels stream through such arrays and every 4 KiB
 * page costs a TLB miss, a slow one in a virtual machine (LeNet's batch
 * preparation, shuffled examples from 47 MB of images: 0.51 -> 0.27 ms a
 * step). NULL when out of memory; release with free(). */
void *nt_alloc_big(size_t bytes);

/* OpenMP threads that spin while they wait make training 10x slower or worse
 * as soon as another process competes for the cores (measured: 800 instead
 * of 10,600 images/s for BN-LeNet). libgomp reads its wait policy before
 * main() runs, so a program that wants passive waiting must set it and
 * start again: unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is already set,
 * this sets OMP_WAIT_POLICY=passive and re-executes the program with argv
 * (once; on failure it returns and the program goes on as it is).
 * Generated trainers call it first thing in main(). */
void nt_prefer_passive_wait(char **argv);

/* ---- CPU dispatch ------------------------------------------------------ */

/* The instruction sets the runtime has kernels for, best last. */
typedef enum nt_isa {
    NT_ISA_GENERIC = 0, /* portable C */
    NT_ISA_AVX2 = 1,    /* AVX2 + FMA */
    NT_ISA_AVX512 = 2,  /* AVX-512F */
} nt_isa;

/* The ISA the kernels use. Chosen once, on first use: the best this CPU and
 * its OS support (cpuid, and xgetbv for the register state the OS saves),
 * unless the environment variable NETC_ISA=generic|avx2|avx512 asks for
 * another. A NETC_ISA the CPU lacks, or a value not in that list, is reported
 * on stderr once and the best supported ISA is used instead. */
nt_isa nt_cpu_isa(void);
/* 1 if this CPU and OS can run kernels for isa. */
int nt_cpu_has(nt_isa isa);
/* Forces the kernels onto isa from now on (tests and benchmarks; call it
 * outside parallel regions). Returns 0, or -1 and changes nothing if the CPU
 * lacks isa. */
int nt_cpu_force(nt_isa isa);
/* "generic", "avx2" or "avx512". */
const char *nt_isa_name(nt_isa isa);

/* ---- random numbers ---------------------------------------------------- */

/* A small sequential generator (xoshiro256** seeded through splitmix64) for
 * initialisation and shuffling. */
typedef struct nt_rng {
    uint64_t s[4];
} nt_rng;

void nt_rng_seed(nt_rng *r, uint64_t seed);
uint64_t nt_rng_u64(nt_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float nt_rng_uniform(nt_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t nt_rng_below(nt_rng *r, uint64_t n);

/* A stateless, counter-based generator: the same (key, counter) always gives
 * the same value, whatever thread computes it. Used by dropout so that masks
 * do not depend on the thread count. */
uint64_t nt_hash64(uint64_t key, uint64_t counter);
/* Uniform in [0, 1) from nt_hash64(key, counter), 24 random bits. */
float nt_hash_uniform(uint64_t key, uint64_t counter);

#ifdef __cplusplus
}
#endif

#endif
