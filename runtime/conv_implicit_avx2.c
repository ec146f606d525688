/* conv_implicit_avx2.c - conv_implicit.c compiled for avx2 (the flags are in
 * meson.build); a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX avx2
#include "conv_implicit.c"
