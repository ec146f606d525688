/* conv_direct.h - inside the runtime only: the direct convolution of one
 * image (conv_direct.c), compiled once per ISA. conv.c uses it for stride-1
 * layers with few channels and narrow images, or one channel (direct_fits). */
#ifndef NT_CONV_DIRECT_H
#define NT_CONV_DIRECT_H

#include "nt_kernels.h"

/* Widest row (input or output) for which conv.c takes the direct path with
 * more than one input channel; the loops themselves take rows of any width,
 * in strips. */
#define NT_DIRECT_MAX_W 64

/* The small-image im2col handles stride-1 layers with OW <= 16 and a
 * padded plane of at most NT_LOWER_MAX_PLANE floats. */
#define NT_LOWER_MAX_PLANE 2048

/* One image: out[OC, OH, OW] = conv(in[C, H, W]) + b (relu: then max(., 0),
 * as each row is stored); backward adds its
 * weight gradient to lanes (16 partial sums per weight, [OC*C*KH*KW, 16],
 * which the caller adds up in a fixed order once the images are done) and,
 * unless din is NULL, its input gradient to din. buf holds
 * nt_conv_direct_buf_floats() floats. */
#define NT_DIRECT_DECLARE(isa)                                                 \
    size_t nt_conv_direct_buf_floats_##isa(const nt_conv2d_dims *d);           \
    void nt_conv_direct_forward_##isa(float *out, const float *in,             \
                                      const float *w, const float *b,          \
                                      const nt_conv2d_dims *d, int relu,       \
                                      float *buf);                             \
    void nt_conv_direct_backward_##isa(float *din, float *lanes,                \
                                       const float *dout, const float *in,     \
                                       const float *w,                         \
                                       const nt_conv2d_dims *d, float *buf);   \
    void nt_conv_im2col_small_##isa(float *col, int ldc, const float *in,      \
                                    int oh0, int nrows, int c0, int c1,        \
                                    const nt_conv2d_dims *d);

NT_DIRECT_DECLARE(generic)
#if defined(__x86_64__) || defined(__i386__)
NT_DIRECT_DECLARE(avx2)
NT_DIRECT_DECLARE(avx512)
/* Its adjoint, on AVX-512 only (masked loads); rows of the padded plane
 * at most 32 floats wide. */
void nt_conv_col2im_small_avx512(float *din, const float *dcol, int ldc,
                                 int oh0, int nrows, int c0, int c1,
                                 const nt_conv2d_dims *d);
/* conv.c's row lowering for stride-2 columns, on AVX-512 only. */
void nt_conv_im2col_rows_s2_avx512(float *col, int ldc, const float *in,
                                   int oh0, int nrows, int c0, int c1,
                                   const nt_conv2d_dims *d);
#endif

#endif
