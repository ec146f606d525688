/* conv_implicit_avx512.c - conv_implicit.c compiled for avx512 (the flags are in
 * meson.build); a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX avx512
#include "conv_implicit.c"
