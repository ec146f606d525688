/* conv_pixel.h - inside the runtime only: the convolution of small images
 * by pixel GEMMs (conv_pixel.c), a block of nb images at a time, the images
 * in the GEMM's columns. conv.c uses it for late layers (ResNet's 6x6 and
 * 3x3, AlexNet's 13x13, GoogLeNet's late 1x1) when the runtime's own SGEMM
 * runs (pixel_fits).
 *
 * For output pixel q and kernel tap t whose input pixel p = p(q, t) lies
 * inside the image (padding taps are skipped, not multiplied by zero):
 *   forward         Y_q   += W_t   X_p     [OC, nb] += [OC, C] [C, nb]
 *   input gradient  dX_p  += W_t^T dY_q    [C, nb]  += [C, OC] [OC, nb]
 *   weight gradient dW_t  += X_p dY_q^T    (as dW_t^T, [C, OC])
 * where X_p is input pixel p of the block's images, one column per image.
 * Each product runs the SGEMM's micro-kernel (sgemm.h) on operands laid out
 * as its slivers: the block is copied once into those layouts and the
 * results copied back. A 3x3 image with padding 1 has 49 of its 81 taps
 * inside; im2col + GEMM multiplies all 81. */
#ifndef NT_CONV_PIXEL_H
#define NT_CONV_PIXEL_H

#include "nt_kernels.h"
#include "sgemm.h"

typedef struct nt_pixel_conv {
    const nt_conv2d_dims *d;
    int nb;                  /* images per block, a multiple of the kernels' nr */
    const nt_ukernel *fk;    /* forward (M = OC) */
    const nt_ukernel *bk;    /* input and weight gradient (M = C, dW transposed) */
    const float *af;         /* W_t packed for fk, per tap (nt_pixel_pack) */
    const float *ab;         /* W_t^T packed for bk, per tap */
    /* the input (and its gradient), the output (and its gradient) in the
     * block layout (conv_pixel.c) of whole blocks, linked to the conv before
     * or after; 0 from nt_pixel_setup */
    int in_block, out_block;
} nt_pixel_conv;

/* The kernels for a layer on ISA isa's micro-kernel (M picks the row tile
 * as nt_ukernel_for does) and the block size; af and ab NULL. */
nt_pixel_conv nt_pixel_setup(const nt_conv2d_dims *d, nt_isa isa);

/* Whether a tensor of ch channels between two convs on isa's micro-kernels
 * can be in the block layout for a batch of N: the batch is whole blocks
 * and the channels fill the row tiles of the kernel both convs use for
 * them (nt_ukernel_for(isa, ch): the producer's forward and the consumer's
 * backward), so the block holds no padding. */
int nt_pixel_links(int N, int ch, nt_isa isa);

/* Floats of the packed weights of one direction (trans 0: W_t for the
 * forward, 1: W_t^T for the input gradient), and the packing. */
size_t nt_pixel_packed_floats(const nt_pixel_conv *pc, int trans);
void nt_pixel_pack(float *dst, const float *w, int trans, const nt_pixel_conv *pc);

/* Floats of a thread's buffers for the forward of a block, for the
 * backward, and of the weight gradient's sums dWT[t][c][oc] (rows of C
 * rounded up to bk's mr, columns of OC rounded up to nr). */
size_t nt_pixel_fwd_floats(const nt_pixel_conv *pc);
size_t nt_pixel_bwd_floats(const nt_pixel_conv *pc);
size_t nt_pixel_dwt_floats(const nt_pixel_conv *pc);

/* dWT's rows and columns: weight w[oc, c, t] is summed in dWT[(t*rows +
 * c)*cols + oc]. */
void nt_pixel_dwt_dims(const nt_pixel_conv *pc, int *rows, int *cols);

/* Images [0, n) (n <= nb; n == nb for a linked block) of in/out, already
 * offset to the block: out = bias + the convolution, max(., 0) with relu
 * (NaN kept). */
void nt_pixel_forward(float *out, const float *in, int n, const float *bias, int relu,
                      const nt_pixel_conv *pc, float *buf);

/* dWT += the block's weight gradient; din (NULL: none) = or += its input
 * gradient (overwrite or not). */
void nt_pixel_backward(float *din, int overwrite, float *dwt, const float *dout,
                       const float *in, int n, const nt_pixel_conv *pc, float *buf);

#endif
