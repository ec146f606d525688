/* vec16.h - inside the runtime only: sixteen float lanes as a GCC vector
 * (one zmm, two ymm or four xmm, as the ISA the including file is compiled
 * for has), and its unaligned load and store, for the kernels compiled once
 * per ISA (conv_direct.c, bn_rows.c). */
#ifndef NT_VEC16_H
#define NT_VEC16_H

#include <string.h>

typedef float v16 __attribute__((vector_size(64)));

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE v16 load16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static ALWAYS_INLINE void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

#endif
