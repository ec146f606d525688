/* vmath.h - inside the runtime only: elementwise transcendental functions
 * over float arrays in SIMD (vmath.c, compiled once per ISA), and the
 * activations built from them. activation.c and loss.c call the copy of
 * nt_cpu_isa() and split arrays between threads themselves; the tests call
 * each copy. */
#ifndef NT_VMATH_H
#define NT_VMATH_H

#include <stddef.h>

#include "nt_base.h"

/* y[i] = f(x[i]; p, q) for i < n; y may be x. p and q are the parameters of
 * the activations that have them (elu: alpha; softplus: beta, threshold),
 * ignored by the others. */
typedef void nt_vmap_fn(float *y, const float *x, size_t n, float p, float q);
/* din[i] += dout[i] * f'(x[i]; p, q) for i < n: the backward of an
 * activation from its input. */
typedef void nt_vgrad_fn(float *din, const float *dout, const float *x, size_t n, float p,
                         float q);

typedef struct nt_vmath {
    /* the functions of libm, with its special values: NaN in, NaN out;
     * exp: +inf past 88.72, 0 below -103.97 (subnormals between);
     * log1p: -inf at -1, NaN below */
    nt_vmap_fn *exp, *expm1, *log1p, *tanh, *erfc;
    /* activations, forward: PyTorch's definitions as in activation.c */
    nt_vmap_fn *sigmoid, *elu, *silu, *gelu, *softplus;
    /* and their derivatives from the input */
    nt_vgrad_fn *elu_grad, *silu_grad, *gelu_grad, *softplus_grad;
} nt_vmath;

/* The copy for isa (the generic one for an ISA this build lacks). */
const nt_vmath *nt_vmath_of(nt_isa isa);
/* The copy for nt_cpu_isa(). */
const nt_vmath *nt_vmath_get(void);

/* A multiple of every copy's vector (16, 8 or 4 floats): threads that split
 * an array at multiples of this leave only its last vector partial. */
#define NT_VMATH_LANES 16

#define NT_VMATH_DECLARE(isa) extern const nt_vmath nt_vmath_##isa;
NT_VMATH_DECLARE(generic)
#if defined(__x86_64__) || defined(__i386__)
NT_VMATH_DECLARE(avx2)
NT_VMATH_DECLARE(avx512)
#endif

#endif
