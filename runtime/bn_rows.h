/* bn_rows.h - inside the runtime only: the loops of batch norm along one
 * channel's row of values (bn_rows.c, compiled once per ISA). batchnorm.c
 * does the blocks, the threads and the statistics; it calls the copy of
 * nt_cpu_isa(), and the tests call each copy. */
#ifndef NT_BN_ROWS_H
#define NT_BN_ROWS_H

#include "nt_base.h"

typedef struct nt_bn_rows {
    /* sum of x[0..n), and of (x[i] - m)^2, in double */
    double (*sum)(const float *x, int n);
    double (*sumsq_dev)(const float *x, int n, double m);
    /* *sdy += sum dy[i]; *sdyx += sum dy[i] * (x[i] - m), in double */
    void (*sums_dy)(double *sdy, double *sdyx, const float *dy, const float *x, int n,
                    float m);
    /* out[i] = (x[i] - m) * s + b */
    void (*normalise)(float *out, const float *x, int n, float m, float s, float b);
    /* din[i] (+)= k * (dy[i] - a - (x[i] - m) * b): added when acc */
    void (*din)(float *din, const float *dy, const float *x, int n, float k, float a,
                float m, float b, int acc);
} nt_bn_rows;

/* The copy for isa (the generic one for an ISA this build lacks), and the
 * copy for nt_cpu_isa(). All copies give the same bits: the sums run in the
 * same 16 lanes on every ISA, and nothing is contracted into an FMA. */
const nt_bn_rows *nt_bn_rows_of(nt_isa isa);
const nt_bn_rows *nt_bn_rows_get(void);

#define NT_BN_ROWS_DECLARE(isa) extern const nt_bn_rows nt_bn_rows_##isa;
NT_BN_ROWS_DECLARE(generic)
#if defined(__x86_64__) || defined(__i386__)
NT_BN_ROWS_DECLARE(avx2)
NT_BN_ROWS_DECLARE(avx512)
#endif

#endif
