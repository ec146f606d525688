/* conv_lanes_generic.c - conv_lanes.c compiled for generic (the flags are in
 * meson.build); a file of its own so that each copy has its own object. */
#define NT_ISA_SUFFIX generic
#include "conv_lanes.c"
