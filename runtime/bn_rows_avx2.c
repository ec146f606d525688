/* bn_rows_avx2.c - bn_rows.c compiled for avx2 (the flags are in meson.build);
 * a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX avx2
#include "bn_rows.c"
