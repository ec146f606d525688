/* conv_implicit_generic.c - conv_implicit.c compiled for generic (the flags are in
 * meson.build); a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX generic
#include "conv_implicit.c"
