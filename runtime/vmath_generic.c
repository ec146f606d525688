/* vmath_generic.c - vmath.c compiled for generic (portable C; the flags are
 * in meson.build), and the choice of copy by ISA. */
#define NT_ISA_SUFFIX generic
#include "vmath.c"

const nt_vmath *nt_vmath_of(nt_isa isa)
{
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case NT_ISA_AVX512: return &nt_vmath_avx512;
    case NT_ISA_AVX2: return &nt_vmath_avx2;
#endif
    default: return &nt_vmath_generic;
    }
}

const nt_vmath *nt_vmath_get(void) { return nt_vmath_of(nt_cpu_isa()); }
