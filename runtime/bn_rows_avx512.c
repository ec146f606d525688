/* bn_rows_avx512.c - bn_rows.c compiled for avx512 (the flags are in meson.build);
 * a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX avx512
#include "bn_rows.c"
