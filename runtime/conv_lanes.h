/* conv_lanes.h - inside the runtime only: the convolution of small images
 * with the batch in the vector lanes (conv_lanes.c), compiled once per ISA.
 * conv.c uses it for stride-1 layers with few channels and small planes
 * (lanes_fits), where im2col + GEMM spends as long packing as multiplying
 * and the direct loops along rows leave lanes idle (LeNet's second conv:
 * rows of 10 outputs). AVX2 and AVX-512 only: the portable path keeps
 * im2col + GEMM and the direct loops. */
#ifndef NT_CONV_LANES_H
#define NT_CONV_LANES_H

#include "nt_kernels.h"

/* A block is up to nt_conv_lanes_width() images (16 on AVX-512, 8 on AVX2):
 * forward writes their out[n, OC, OH, OW] = conv(in[n, C, H, W]) + b;
 * backward adds their weight gradient to dwl, one partial
 * sum per weight and lane ([OC*C*KH*KW, width], which the caller adds up in
 * a fixed order once every block is done), with bias their bias gradient
 * after it the same way ([OC, width] more), and, unless din is NULL, writes
 * (overwrite) or adds their input gradient to din. buf holds
 * nt_conv_lanes_buf_floats() floats; fresh: the first block a call runs on
 * this buf (which may hold another layer's data), later blocks find the
 * padding the first one zeroed and the weights it laid out. Stride 1 only. */
#define NT_LANES_DECLARE(isa)                                                  \
    int nt_conv_lanes_width_##isa(void);                                       \
    size_t nt_conv_lanes_buf_floats_##isa(const nt_conv2d_dims *d);            \
    void nt_conv_lanes_forward_##isa(float *out, const float *in,              \
                                     const float *w, const float *b,           \
                                     const nt_conv2d_dims *d, int n,           \
                                     int fresh, float *buf);                   \
    void nt_conv_lanes_backward_##isa(float *din, int overwrite, float *dwl,   \
                                      int bias, const float *dout,             \
                                      const float *in,                         \
                                      const float *w,                          \
                                      const nt_conv2d_dims *d, int n,          \
                                      int fresh, float *buf);

#if defined(__x86_64__) || defined(__i386__)
NT_LANES_DECLARE(avx2)
NT_LANES_DECLARE(avx512)
#endif

#endif
