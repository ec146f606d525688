/* vecf.h - inside the runtime only: float vectors for the kernels compiled
 * once per ISA (conv_direct.c, conv_lanes.c, bn_rows.c, vmath.c).
 * NT_VECF(type, lanes, load, store) declares `type`, `lanes` floats as a GCC
 * vector (as many registers of the ISA the including file is compiled for
 * as it takes), and its unaligned load and store. */
#ifndef NT_VECF_H
#define NT_VECF_H

#include <string.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* FN(name): name_ISA, this copy's name for a function compiled once per ISA
 * (NT_ISA_SUFFIX: set by the file of each copy, e.g. conv_direct_avx2.c) */
#define NT_CAT2(a, b) a##_##b
#define NT_CAT(a, b) NT_CAT2(a, b)
#define FN(name) NT_CAT(name, NT_ISA_SUFFIX)

#define NT_VECF(type, lanes, load, store)                                   \
    typedef float type __attribute__((vector_size((lanes) * sizeof(float)))); \
    static ALWAYS_INLINE type load(const float *p)                          \
    {                                                                       \
        type v;                                                             \
        memcpy(&v, p, sizeof v);                                            \
        return v;                                                           \
    }                                                                       \
    static ALWAYS_INLINE void store(float *p, type v) { memcpy(p, &v, sizeof v); }

#endif
