/* bn_rows_generic.c - bn_rows.c compiled for generic (portable C; the flags
 * are in meson.build), and the choice of copy by ISA. */
#define NT_ISA_SUFFIX generic
#include "bn_rows.c"

const nt_bn_rows *nt_bn_rows_of(nt_isa isa)
{
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case NT_ISA_AVX512: return &nt_bn_rows_avx512;
    case NT_ISA_AVX2: return &nt_bn_rows_avx2;
#endif
    default: return &nt_bn_rows_generic;
    }
}

const nt_bn_rows *nt_bn_rows_get(void) { return nt_bn_rows_of(nt_cpu_isa()); }
