/* vmath_bench.c - milliseconds of the transcendental activations (vmath.c
 * through activation.c) on each ISA this CPU has, one thread, next to plain
 * scalar loops over libm (expf, tanhf, expm1f, erfcf, log1pf: what the
 * runtime ran before vmath.c), best of a few runs by the thread's CPU time
 * (robust on a shared machine). Not a test.
 *
 *   build/bench/vmath_bench [--n N] [--reps R]
 *
 * N defaults to LeNet's first activation (256 x 6 x 28 x 28). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nt_kernels.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the scalar libm loops ---------------------------------------------------------- */

static float sigmoid1(float x)
{
    const float e = expf(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

static void libm_sigmoid(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = sigmoid1(x[i]);
}

static void libm_tanh(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

static void libm_elu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : expm1f(x[i]);
}

static void libm_elu_grad(float *y, const float *x, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i] > 0.0f ? g[i] : g[i] * expf(x[i]);
}

static void libm_silu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * sigmoid1(x[i]);
}

static void libm_gelu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * erfcf(-x[i] * 0.70710678f);
}

static void libm_gelu_grad(float *y, const float *x, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += g[i] * (0.5f * erfcf(-x[i] * 0.70710678f) +
                        x[i] * 0.39894228f * expf(-0.5f * x[i] * x[i]));
}

static void libm_softplus(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 20.0f ? x[i] : fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
}

/* ---- the runtime's kernels in the same shape ---------------------------------------- */

static void rt_sigmoid(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_sigmoid_forward(y, x, n);
}

static void rt_tanh(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_tanh_forward(y, x, n);
}

static void rt_elu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_elu_forward(y, x, n, 1.0f);
}

static void rt_elu_grad(float *y, const float *x, const float *g, size_t n)
{
    nt_elu_backward(y, g, x, n, 1.0f);
}

static void rt_silu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_silu_forward(y, x, n);
}

static void rt_gelu(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_gelu_forward(y, x, n);
}

static void rt_gelu_grad(float *y, const float *x, const float *g, size_t n)
{
    nt_gelu_backward(y, g, x, n);
}

static void rt_softplus(float *y, const float *x, const float *g, size_t n)
{
    (void)g;
    nt_softplus_forward(y, x, n, 1.0f, 20.0f);
}

typedef void kernel_fn(float *y, const float *x, const float *g, size_t n);

static const struct {
    const char *name;
    kernel_fn *libm, *rt;
} kernels[] = {
    {"sigmoid", libm_sigmoid, rt_sigmoid},
    {"tanh", libm_tanh, rt_tanh},
    {"elu", libm_elu, rt_elu},
    {"elu backward", libm_elu_grad, rt_elu_grad},
    {"silu", libm_silu, rt_silu},
    {"gelu", libm_gelu, rt_gelu},
    {"gelu backward", libm_gelu_grad, rt_gelu_grad},
    {"softplus", libm_softplus, rt_softplus},
};

static double best_ms(kernel_fn *f, float *y, const float *x, const float *g, size_t n,
                      int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = cpu_now();
        f(y, x, g, n);
        const double t = cpu_now() - t0;
        best = t < best ? t : best;
    }
    return best * 1e3;
}

int main(int argc, char **argv)
{
    size_t n = (size_t)256 * 6 * 28 * 28;
    int reps = 30;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--n N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0 || reps <= 0) {
        fprintf(stderr, "vmath_bench: --n and --reps must be positive\n");
        return 2;
    }
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    float *g = malloc(n * sizeof(float));
    if (!x || !y || !g) {
        fprintf(stderr, "vmath_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((i * 7919) % 2000) / 200.0f - 5.0f; /* [-5, 5) */
        g[i] = 0.5f;
    }
    nt_set_num_threads(1);
    printf("%zu elements, 1 thread, best of %d, ms (speed-up over libm)\n", n, reps);
    printf("%-14s %9s", "kernel", "libm");
    for (int isa = NT_ISA_GENERIC; isa <= NT_ISA_AVX512; isa++)
        if (nt_cpu_has((nt_isa)isa))
            printf(" %15s", nt_isa_name((nt_isa)isa));
    printf("\n");
    for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
        const double base = best_ms(kernels[k].libm, y, x, g, n, reps);
        printf("%-14s %9.3f", kernels[k].name, base);
        for (int isa = NT_ISA_GENERIC; isa <= NT_ISA_AVX512; isa++) {
            if (nt_cpu_force((nt_isa)isa) != 0)
                continue;
            const double t = best_ms(kernels[k].rt, y, x, g, n, reps);
            printf(" %8.3f (%4.1fx)", t, base / t);
        }
        printf("\n");
    }
    free(x);
    free(y);
    free(g);
    return 0;
}
