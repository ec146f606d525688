/* conv.c - 2-D convolution (PyTorch's Conv2d: any kernel, stride and zero
 * padding, optional bias), forward and backward, by im2col + GEMM, and the
 * plain reference loops the tests compare them with. No dilation, no groups.
 *
 * The output pixels of a batch are cut into tiles of at most plan.tile
 * columns: a large image is split into bands of whole output rows, and small
 * images are packed several to a tile ("groups" of images) so that each GEMM
 * is wide enough to run at full speed. A tile is lowered into a column matrix
 * col[C*KH*KW, cols] in the scratch and multiplied by the weights:
 *   forward   out[OC, cols]   = W[OC, CKK] * col
 *   backward  dW[OC, CKK]    += dout[OC, cols] * col^T
 *             dcol[CKK, cols] = W^T * dout,  then col2im adds dcol into din.
 * 1x1 convolutions with stride 1 and no padding use the input directly.
 * im2col/col2im go row by row, or for images with short output rows through
 * a padded copy of the plane and a gather (see is_small). Small stride-1
 * layers with few taps take conv_lanes.c instead (the batch in the vector
 * lanes, lanes_fits), layers with few channels and narrow rows or one
 * channel conv_direct.c (direct_fits), and the other stride-1 "same"
 * layers with padded rows of 16 or more conv_implicit.c (implicit_fits: the
 * GEMM reads the padded input at each tap's offset, no column matrix; the
 * backward from padded rows of 20 on). Other layers of at most 256 output
 * pixels and 64 channels or more take conv_pixel.c when the own SGEMM runs
 * and the batch fills a block of its images (pixel_fits): a product per
 * kernel tap and pixel with the images in the columns, padding taps
 * skipped.
 *
 * Threads: groups of whole images are dealt statically to the threads, each
 * with its own slice of the scratch; a thread always owns whole images, so
 * col2im never races. dW is summed per thread (thread 0 straight into dw, the
 * others into partial sums in the scratch; the implicit and pixel paths keep
 * theirs transposed in each thread's slice and add them all at the end) and
 * the partial sums are added in thread order, so results are deterministic
 * for a fixed thread count.
 * Groups that do not divide evenly among the threads (for instance a batch of
 * one) are run afterwards one at a time by the whole team: nt_sgemm splits
 * the GEMMs and the im2col/col2im loops split over channels.
 *
 * The scratch layout depends on the shape and the thread count, never on N.
 * The kernels use nt_num_threads() threads, which must not exceed the count
 * given to nt_conv2d_scratch_floats(), and must be called from outside any
 * OpenMP parallel region (their thread slices of the scratch are shared). */
#include "bn_rows.h"
#include "conv_direct.h"
#include "conv_implicit.h"
#include "conv_lanes.h"
#include "conv_pixel.h"
#include "nt_kernels.h"
#include "sgemm.h"

#include <assert.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* A tile's column matrix should stay near the 1 MiB L2 cache, but GEMMs
 * narrower than a couple of hundred columns lose speed; both bounds are in
 * floats and columns respectively. */
#define COL_BUDGET_FLOATS (1 << 18)
#define TILE_MIN_COLS 256
#define TILE_MAX_COLS 4096

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define PAR_MIN_MACS 100000.0

typedef struct conv_plan {
    int OH, OW;
    int P;        /* OH * OW: output pixels of one image */
    int ckk;      /* C * KH * KW: rows of the column matrix */
    int ipg;      /* most images in one tile (1 when images are split) */
    int rows;     /* output rows per tile when images are split */
    int tile;     /* most columns in one tile */
    int direct;   /* 1x1, stride 1, no padding: no im2col for 1-image tiles */
    size_t col;   /* floats of column matrix per thread */
    size_t tmp;   /* floats of [OC, tile] staging per thread (groups only) */
    int dconv;    /* the direct convolution of conv_direct.c, by image */
    int lanes;    /* conv_lanes.c, by blocks of lanes.width images */
    int implicit; /* conv_implicit.c, by image: the forward */
    int implicit_bwd; /* ... and the backward */
    int pixel;    /* conv_pixel.c, by blocks of images: the forward */
    int pixel_bwd; /* ... and the backward */
    size_t per_thread;
} conv_plan;

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static void check_dims(const nt_conv2d_dims *d)
{
    assert(d->N >= 0 && d->C > 0 && d->H > 0 && d->W > 0 && d->OC > 0);
    assert(d->KH > 0 && d->KW > 0 && d->SH > 0 && d->SW > 0);
    assert(d->PH >= 0 && d->PW >= 0);
    assert(d->H + 2 * d->PH >= d->KH && d->W + 2 * d->PW >= d->KW);
    assert(d->OH == (d->H + 2 * d->PH - d->KH) / d->SH + 1);
    assert(d->OW == (d->W + 2 * d->PW - d->KW) / d->SW + 1);
    (void)d;
}

/* Stride-1 layers with a few channels and narrow images, too big for the
 * lanes path below (LeNet's at 36x36), go through conv_direct.c: their
 * im2col matrices are as big as the arithmetic and their GEMMs too thin to
 * run fast. Its loops run along output rows in strips of 16-lane vectors,
 * so rows that would leave more than a quarter of the lanes idle (10 wide in
 * 16 lanes) take im2col + GEMM. Wider images go there only with one input channel (VGG's first
 * conv: a GEMM of K = KH*KW = 9 over a column matrix 9 times the image);
 * from 3 channels on, im2col + GEMM measured faster in backward. */
static int direct_fits(const nt_conv2d_dims *d)
{
    int narrow = d->W <= NT_DIRECT_MAX_W && d->OW <= NT_DIRECT_MAX_W;
    return d->SH == 1 && d->SW == 1 && d->KH * d->KW > 1 && d->C <= 16 &&
           d->OC <= 32 && (narrow || d->C == 1) &&
           4 * d->OW >= 3 * ((d->OW + 15) / 16 * 16);
}

typedef void (*direct_fwd_fn)(float *, const float *, const float *,
                              const float *, const nt_conv2d_dims *, int, float *);
typedef void (*direct_bwd_fn)(float *, float *, const float *, const float *,
                              const float *, const nt_conv2d_dims *, float *);

static direct_fwd_fn direct_forward(void)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (nt_cpu_isa()) {
    case NT_ISA_AVX512: return nt_conv_direct_forward_avx512;
    case NT_ISA_AVX2: return nt_conv_direct_forward_avx2;
    default: break;
    }
#endif
    return nt_conv_direct_forward_generic;
}

static direct_bwd_fn direct_backward(void)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (nt_cpu_isa()) {
    case NT_ISA_AVX512: return nt_conv_direct_backward_avx512;
    case NT_ISA_AVX2: return nt_conv_direct_backward_avx2;
    default: break;
    }
#endif
    return nt_conv_direct_backward_generic;
}

/* Stride-1 layers with few input taps and small planes (LeNet's two) take
 * conv_lanes.c, the batch in the vector lanes: their im2col + GEMM spends as
 * long lowering and packing as multiplying, and rows of 10 outputs leave
 * the direct loops' lanes idle. Measured on LeNet's second conv (1 thread,
 * 128 images): forward 0.64 -> 0.35 ms, backward 1.7 -> 1.1 ms; its first,
 * 0.26 -> 0.24 and 0.96 -> 0.78 ms. Larger planes would not keep a block's
 * buffers in L2; more taps run well enough as a GEMM. */
#define LANES_MAX_CKK 256
#define LANES_MAX_OC 64
#define LANES_MAX_PLANE 1024

static int lanes_fits(const nt_conv2d_dims *d)
{
    const nt_isa isa = nt_cpu_isa(); /* conv_lanes.c has no portable copy */
    return (isa == NT_ISA_AVX2 || isa == NT_ISA_AVX512) && d->SH == 1 && d->SW == 1 &&
           d->KH * d->KW > 1 && d->C * d->KH * d->KW <= LANES_MAX_CKK && d->OC <= LANES_MAX_OC &&
           d->H * d->W <= LANES_MAX_PLANE && d->OH * d->OW <= LANES_MAX_PLANE;
}

/* conv_lanes.c's copy for nt_cpu_isa() (AVX2 or AVX-512: lanes_fits) */
typedef struct lanes_isa {
    int width;
    size_t (*buf_floats)(const nt_conv2d_dims *);
    void (*forward)(float *, const float *, const float *, const float *,
                    const nt_conv2d_dims *, int, int, float *);
    void (*backward)(float *, int, float *, int, const float *, const float *,
                     const float *, const nt_conv2d_dims *, int, int, float *);
} lanes_isa;

static lanes_isa lanes_get(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (nt_cpu_isa() == NT_ISA_AVX512)
        return (lanes_isa){nt_conv_lanes_width_avx512(), nt_conv_lanes_buf_floats_avx512,
                           nt_conv_lanes_forward_avx512, nt_conv_lanes_backward_avx512};
    return (lanes_isa){nt_conv_lanes_width_avx2(), nt_conv_lanes_buf_floats_avx2,
                       nt_conv_lanes_forward_avx2, nt_conv_lanes_backward_avx2};
#else
    abort(); /* lanes_fits is false off x86 */
#endif
}

/* Stride-1 "same" convolutions (KH = 2*PH + 1, likewise W) on images wide
 * enough that the dropped columns of the wide rows stay a small share
 * (conv_implicit.h): im2col's column matrix is KH*KW times the input, and
 * writing it and packing it for the GEMM cost as much as the arithmetic on
 * layers of few channels (VGG's at 112x112 with 16 channels). The forward
 * measured faster from padded rows of 16 on (ResNet's 14x14 layers: 337
 * against 307 GFLOP/s on 2 threads), the backward, with its transposes and
 * two padded copies an image, from rows of 20 (at 14x14: 287 against 298;
 * ResNet-18's 24x24: 352 against 244; 28x28: 342 against 284; AlexNet's
 * 27x27 5x5: 318 against 328). On AVX2 it beat im2col + OpenBLAS too (VGG's
 * 112x112 layer: 178 against 128 forward, 148 against 115 backward). */
#define IMPLICIT_MIN_WP 16
#define IMPLICIT_BWD_MIN_WP 20

static int implicit_fits(const nt_conv2d_dims *d, int min_wp)
{
    const nt_isa isa = nt_cpu_isa(); /* conv_implicit.c has no portable copy */
    return (isa == NT_ISA_AVX2 || isa == NT_ISA_AVX512) && d->SH == 1 && d->SW == 1 &&
           d->KH * d->KW > 1 && d->KH == 2 * d->PH + 1 && d->KW == 2 * d->PW + 1 &&
           d->W + 2 * d->PW >= min_wp;
}

/* conv_implicit.c's copy for nt_cpu_isa() */
typedef struct implicit_isa {
    int mr;
    void (*forward)(float *, const float *, const nt_implicit_fwd *);
    void (*dweight)(float *, const float *, const float *, const nt_implicit_dw *);
    void (*transpose)(float *, const float *, int, int, int);
} implicit_isa;

static implicit_isa implicit_get(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (nt_cpu_isa() == NT_ISA_AVX512)
        return (implicit_isa){nt_implicit_mr_avx512(), nt_implicit_forward_avx512,
                              nt_implicit_dweight_avx512, nt_implicit_transpose_avx512};
    return (implicit_isa){nt_implicit_mr_avx2(), nt_implicit_forward_avx2,
                          nt_implicit_dweight_avx2, nt_implicit_transpose_avx2};
#else
    abort(); /* implicit_fits is false off x86 */
#endif
}

/* Late layers of small images with enough channels take conv_pixel.c when
 * the runtime's own SGEMM runs (its micro-kernels are what the pixel
 * products call): their im2col + GEMM spends a good share of its time
 * lowering and staging, and multiplies the padding taps (32 of the 81 taps
 * of a 3x3 image padded by 1). Measured on 2 threads, batch 256, 3x3
 * kernels, forward and backward in nominal GFLOP/s (padding taps counted),
 * pixel path against im2col + GEMM: ResNet-18's 3x3 layers 521/474 against
 * 260/251, its 6x6 491/439 against 333/316, its 12x12 408/392 against
 * 315/328; AlexNet's 13x13 (384 channels) 340/366 against 325/294. With 64
 * channels, at 24x24 the implicit GEMM is faster (338/346 against
 * 305/282), and where both apply it keeps the forward (about even at
 * 14x14). 1x1 layers have no padding taps, but skip the staging of groups
 * of small images: GoogLeNet's at 6x6 and 3x3 measured 10-25% faster
 * (832 to 256 channels at 3x3: 255/254 against 218/198), the whole net
 * 3-8%; at 12x12 about even. */
static int pixel_fits(const nt_conv2d_dims *d)
{
    return nt_gemm_own_kernel(d->OC) != NULL && d->OH * d->OW <= NT_PIXEL_MAX_P &&
           d->C >= NT_PIXEL_MIN_C;
}

/* A tensor of ch channels of npix pixels between linked convs
 * (nt_conv2d_dims.in_block, out_block) is in the pixel GEMMs' block layout
 * for this batch: the test both ends make. */
static int block_link(int N, int ch, int npix)
{
    return nt_gemm_own_kernel(ch) != NULL && npix <= NT_PIXEL_MAX_P &&
           nt_pixel_links(N, ch, nt_cpu_isa());
}

/* Whether this call runs the pixel GEMMs (planned: the plan's choice for
 * the direction), with *px set up for them: when planned and the batch
 * fills a block (a smaller one would fill few columns), or when either
 * tensor is linked (then both ends take them). */
static int pixel_call(nt_pixel_conv *px, const nt_conv2d_dims *d, int planned)
{
    const int in_link = d->in_block && block_link(d->N, d->C, d->H * d->W);
    const int out_link = d->out_block && block_link(d->N, d->OC, d->OH * d->OW);
    *px = planned || in_link || out_link ? nt_pixel_setup(d, nt_cpu_isa()) : (nt_pixel_conv){0};
    px->in_block = in_link;
    px->out_block = out_link;
    return (planned && d->N >= px->nb) || in_link || out_link;
}

static int round16(int x) { return (x + 15) / 16 * 16; }

/* Floats of the transposed output gradient of one image: a row of OC
 * channels (rounded up to 16) per pixel. */
static size_t implicit_gt(const nt_conv2d_dims *d)
{
    return (size_t)d->OH * d->OW * round16(d->OC);
}

/* Floats of the weights packed for conv_implicit.c: W (forward) or the
 * flipped W^T (input gradient), in blocks of up to 16 rows. */
static size_t implicit_packed(const nt_conv2d_dims *d, int ckk)
{
    size_t fwd = (size_t)(d->OC + 15) * ckk, bwd = (size_t)(d->C + 15) * d->OC * d->KH * d->KW;
    return fwd > bwd ? fwd : bwd;
}

/* Floats of one zero-padded plane set [ch, Hp, Wp] with its slack: the last
 * tap's row reaches KW - 1 floats past the planes, a tile NT_IMPLICIT_SLACK
 * more (conv_implicit.h). */
static size_t implicit_planes(const nt_conv2d_dims *d, int ch)
{
    return (size_t)ch * (d->H + 2 * d->PH) * (d->W + 2 * d->PW) + d->KW + NT_IMPLICIT_SLACK;
}

static conv_plan make_plan(const nt_conv2d_dims *d)
{
    conv_plan p;
    p.OH = d->OH;
    p.OW = d->OW;
    p.P = d->OH * d->OW;
    p.ckk = d->C * d->KH * d->KW;
    p.direct = d->KH == 1 && d->KW == 1 && d->SH == 1 && d->SW == 1 &&
               d->PH == 0 && d->PW == 0;
    int target = COL_BUDGET_FLOATS / p.ckk;
    target = min_int(max_int(target, TILE_MIN_COLS), TILE_MAX_COLS);
    if (p.P >= target) {
        /* split into whole output rows, as evenly as they go */
        p.ipg = 1;
        p.rows = ceil_div(d->OH, min_int(ceil_div(p.P, target), d->OH));
        p.tile = p.rows * d->OW;
    } else {
        p.ipg = target / p.P;
        p.rows = d->OH;
        p.tile = p.ipg * p.P;
    }
    p.col = p.direct && p.ipg == 1 ? 0 : (size_t)p.ckk * p.tile;
    p.tmp = p.ipg > 1 ? (size_t)d->OC * p.tile : 0;
    p.per_thread = p.col + p.tmp;
    p.lanes = lanes_fits(d);
    p.dconv = !p.lanes && direct_fits(d);
    p.implicit = !p.lanes && !p.dconv && implicit_fits(d, IMPLICIT_MIN_WP);
    p.implicit_bwd = p.implicit && implicit_fits(d, IMPLICIT_BWD_MIN_WP);
    p.pixel = !p.lanes && !p.dconv && !p.implicit && pixel_fits(d);
    p.pixel_bwd = !p.lanes && !p.dconv && !p.implicit_bwd && pixel_fits(d);
    const int linked = d->in_block || d->out_block; /* may take the pixel GEMMs */
    if (p.pixel || p.pixel_bwd || linked) {
        /* a block's buffers, then (backward) the weight gradient's sums */
        const nt_pixel_conv pc = nt_pixel_setup(d, nt_cpu_isa());
        size_t need = p.pixel || linked ? nt_pixel_fwd_floats(&pc) : 0;
        if (p.pixel_bwd || linked) {
            const size_t bwd = nt_pixel_bwd_floats(&pc) + nt_pixel_dwt_floats(&pc);
            need = bwd > need ? bwd : need;
        }
        p.per_thread = need > p.per_thread ? need : p.per_thread;
    }
    if (p.lanes) {
        /* the block's buffers, then a partial sum per weight and bias and lane */
        const lanes_isa li = lanes_get();
        p.per_thread = li.buf_floats(d) + (size_t)li.width * d->OC * (p.ckk + 1);
    }
    if (p.implicit) {
        /* the padded input of one image; for the backward, its padded
         * output gradient, that transposed, then the weight gradient's
         * sums (transposed); else the GEMM's tiles */
        size_t need = implicit_planes(d, d->C);
        if (p.implicit_bwd)
            need += implicit_planes(d, d->OC) + implicit_gt(d) + (size_t)p.ckk * round16(d->OC);
        p.per_thread = need > p.per_thread ? need : p.per_thread;
    }
    if (p.dconv) {
        /* the planes of one image, then 16 partial sums per weight */
        size_t need = nt_conv_direct_buf_floats_generic(d) +
                      (size_t)16 * d->OC * p.ckk;
        p.per_thread = need > p.per_thread ? need : p.per_thread;
    }
    return p;
}

/* A thread's partial sums of dW, then of db (where the lanes backward sums
 * it, but sized for all paths). */
static size_t partial_floats(const nt_conv2d_dims *d, const conv_plan *p)
{
    return (size_t)d->OC * (p->ckk + 1);
}

/* The weights packed once per call for the own GEMM's micro-kernel, as W
 * (forward: OC rows) or W^T (input gradient: C*KH*KW rows), instead of once
 * per tile: rows padded to the kernel's (at most 16). */
static size_t packed_floats(const nt_conv2d_dims *d, const conv_plan *p)
{
    const int linked = d->in_block || d->out_block; /* may take the pixel GEMMs */
    if ((p->dconv || p->lanes) && !linked)
        return 0;
    size_t a = (size_t)(d->OC + 16) * p->ckk, b = (size_t)(p->ckk + 16) * d->OC;
    size_t gemm = a > b ? a : b;
    if (p->implicit) {
        /* the packed weights, then the taps' offsets in the input and the
         * output gradient (implicit_tables) */
        size_t need = implicit_packed(d, p->ckk) + (size_t)p->ckk +
                      (size_t)d->OC * d->KH * d->KW;
        gemm = need > gemm ? need : gemm;
    }
    if (p->pixel || p->pixel_bwd || linked) {
        const nt_pixel_conv pc = nt_pixel_setup(d, nt_cpu_isa());
        size_t need = nt_pixel_packed_floats(&pc, 0), bwd = nt_pixel_packed_floats(&pc, 1);
        need = bwd > need ? bwd : need;
        gemm = need > gemm ? need : gemm;
    }
    return gemm;
}

/* Where the packed weights live: the scratch after its other parts. */
static float *packed_area(float *scratch, const nt_conv2d_dims *d, const conv_plan *p, int nt)
{
    return scratch + (size_t)nt * p->per_thread + (size_t)(nt - 1) * partial_floats(d, p);
}

/* W or W^T packed into the scratch after its other parts, with the kernel
 * that runs it; NULL (and *uk NULL) when the GEMMs run on OpenBLAS. */
static const float *pack_weights(const nt_ukernel **uk, float *scratch,
                                 const float *w, int trans,
                                 const nt_conv2d_dims *d, const conv_plan *p,
                                 int nt)
{
    int M = trans ? p->ckk : d->OC, K = trans ? d->OC : p->ckk;
    *uk = nt_gemm_own_kernel(M);
    if (!*uk)
        return NULL;
    float *dst = packed_area(scratch, d, p, nt);
    assert(nt_sgemm_pack_a_floats(*uk, M, K) <= packed_floats(d, p));
    nt_sgemm_pack_a(*uk, trans, M, K, w, p->ckk, dst);
    return dst;
}

/* C = alpha * op(W) B + beta C: from the packed weights wp when there are
 * any (a tile on one thread), else nt_sgemm. */
static void weights_gemm(const nt_ukernel *uk, const float *wp, int trans,
                         int M, int N, int K, const float *w, const float *B,
                         int ldb, float beta, float *C, int ldc)
{
    if (wp)
        nt_sgemm_prepacked(uk, 0, M, N, K, 1.0f, wp, B, ldb, beta, C, ldc);
    else
        nt_sgemm(trans, 0, M, N, K, 1.0f, w, trans ? M : K, B, ldb, beta, C, ldc);
}

/* The implicit path's tables, in the scratch where pack_weights puts the
 * GEMM's packed weights: the weights packed for conv_implicit.c (forward:
 * W; input gradient: W^T with each kernel flipped), then each tap's offset
 * in the padded input (off, C*KH*KW of them) and in the padded output
 * gradient (offg, OC*KH*KW). */
typedef struct implicit_tabs {
    float *a;
    int *off, *offg;
} implicit_tabs;

/* off[(c*KH + kh)*KW + kw] = c*Hp*Wp + kh*Wp + kw for ch planes */
static void tap_offsets(int *off, int ch, const nt_conv2d_dims *d)
{
    const int Wp = d->W + 2 * d->PW, plane = (d->H + 2 * d->PH) * Wp;
    for (int c = 0; c < ch; c++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++)
                off[(c * d->KH + kh) * d->KW + kw] = c * plane + kh * Wp + kw;
}

static implicit_tabs implicit_tables(float *scratch, const nt_conv2d_dims *d,
                                     const conv_plan *p, int nt)
{
    implicit_tabs t;
    t.a = packed_area(scratch, d, p, nt);
    t.off = (int *)(t.a + implicit_packed(d, p->ckk));
    t.offg = t.off + p->ckk;
    tap_offsets(t.off, d->C, d);
    tap_offsets(t.offg, d->OC, d);
    return t;
}

/* a(m, k) = w_mk(m, k) packed by blocks of mr rows (conv_implicit.h), M rows
 * of K: the forward's W (trans 0) or the input gradient's W^T with flipped
 * kernels (trans 1: a(c, (oc, kh, kw)) = w[oc, c, KH-1-kh, KW-1-kw]). */
static void implicit_pack(float *a, const float *w, int trans, int mr,
                          const nt_conv2d_dims *d)
{
    const int kk = d->KH * d->KW, ckk = d->C * kk;
    const int M = trans ? d->C : d->OC, K = trans ? d->OC * kk : ckk;
    for (int m0 = 0; m0 < M; m0 += mr)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < mr; i++) {
                const int m = m0 + i;
                float v = 0.0f;
                if (m < M && !trans)
                    v = w[(size_t)m * ckk + k];
                else if (m < M)
                    v = w[(size_t)(k / kk) * ckk + (size_t)m * kk + (kk - 1 - k % kk)];
                a[((size_t)m0 * K) + (size_t)k * mr + i] = v;
            }
}

/* dst[c, PH + h, PW + x] = src[c, h, x] for ch planes of the input's size,
 * zero elsewhere and in the slack; each float written once. The padding
 * between two rows (PW at the end of one, PW at the start of the next) and
 * between two planes (PH rows and PH rows) is one run of zeros. */
static void implicit_pad(float *dst, const float *src, int ch, const nt_conv2d_dims *d)
{
    const int Wp = d->W + 2 * d->PW, Hp = d->H + 2 * d->PH;
    const size_t top = (size_t)d->PH * Wp + d->PW; /* zeros before a plane's first pixel */
    float *o = dst;
    memset(o, 0, sizeof(float) * top);
    o += top;
    for (int c = 0; c < ch; c++)
        for (int h = 0; h < d->H; h++) {
            memcpy(o, src + ((size_t)c * d->H + h) * d->W, sizeof(float) * (size_t)d->W);
            o += d->W;
            /* to the next row's first pixel, the next plane's, or the end */
            const size_t gap = h + 1 < d->H ? (size_t)2 * d->PW : c + 1 < ch ? 2 * top : top;
            memset(o, 0, sizeof(float) * gap);
            o += gap;
        }
    assert(o == dst + (size_t)ch * Hp * Wp);
    (void)Hp;
    memset(o, 0, sizeof(float) * (size_t)(d->KW + NT_IMPLICIT_SLACK));
}

static int resolve_threads(int nthreads)
{
    return nthreads > 0 ? nthreads : omp_get_num_procs();
}

size_t nt_conv2d_scratch_floats(const nt_conv2d_dims *d, int nthreads)
{
    check_dims(d);
    int nt = resolve_threads(nthreads);
    conv_plan p = make_plan(d);
    /* per-thread tiles, nt - 1 partial sums of dW (and db), then the weights
     * packed for the GEMMs (packed_weights) */
    return (size_t)nt * p.per_thread + (size_t)(nt - 1) * partial_floats(d, &p) +
           packed_floats(d, &p);
}

/* How the batch is cut into groups of whole images and how many of those run
 * in the parallel phase. */
typedef struct conv_sched {
    int ipg;      /* images per group */
    int ngroups;
    int npar;     /* groups [0, npar) are dealt to threads; the rest are run
                     one at a time by the whole team */
} conv_sched;

static conv_sched make_sched(const conv_plan *p, int N, int nt)
{
    conv_sched s;
    int ng = ceil_div(max_int(N, 1), p->ipg);
    if (nt > 1 && ng < N) {
        /* images are packed: rebalance so the groups deal out evenly */
        ng = min_int(N, ceil_div(ng, nt) * nt);
    }
    s.ipg = ceil_div(max_int(N, 1), ng);
    s.ngroups = N > 0 ? ceil_div(N, s.ipg) : 0;
    s.npar = nt > 1 ? s.ngroups / nt * nt : s.ngroups;
    return s;
}

/* A tile: output rows [oh0, oh0 + nrows) of image n0 (nimg == 1), or all of
 * images n0 .. n0 + nimg - 1 (oh0 == 0, nrows == OH); cols output pixels in
 * all, the first of them p0 = oh0 * OW within its image. */
typedef struct conv_tile {
    int n0, nimg, oh0, nrows, p0, cols;
} conv_tile;

/* First and one-past-last output index o with 0 <= o*S - pad + k < size:
 * the outputs for which kernel tap k falls inside the input. */
static void valid_range(int *lo, int *hi, int k, int S, int pad, int size,
                        int osize)
{
    int a = pad - k <= 0 ? 0 : ceil_div(pad - k, S);
    int b = size - 1 + pad - k < 0 ? 0 : (size - 1 + pad - k) / S + 1;
    *lo = min_int(a, osize);
    *hi = min_int(max_int(b, *lo), osize);
}

/* col[r, j] for output rows [oh0, oh0 + nrows) of one image (j counts their
 * pixels) and taps r of channels [c0, c1): the input pixel the tap sees, 0 in
 * the padding. ldc is the row stride of col. Row by row, for images with
 * output rows long enough to amortise the bounds arithmetic. */
static void im2col_rows(float *col, int ldc, const float *in, int oh0,
                        int nrows, int c0, int c1, const nt_conv2d_dims *d)
{
    int OW = d->OW, W = d->W, SW = d->SW;
    for (int c = c0; c < c1; c++) {
        const float *plane = in + (size_t)c * d->H * W;
        for (int kh = 0; kh < d->KH; kh++) {
            int hlo, hhi;
            valid_range(&hlo, &hhi, kh, d->SH, d->PH, d->H, d->OH);
            for (int kw = 0; kw < d->KW; kw++) {
                float *dst = col + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                int lo, hi;
                valid_range(&lo, &hi, kw, SW, d->PW, W, OW);
                for (int oh = oh0; oh < oh0 + nrows; oh++) {
                    float *o = dst + (size_t)(oh - oh0) * OW;
                    if (oh < hlo || oh >= hhi) {
                        for (int x = 0; x < OW; x++)
                            o[x] = 0.0f;
                        continue;
                    }
                    const float *row =
                        plane + (size_t)(oh * d->SH - d->PH + kh) * W - d->PW + kw;
                    for (int x = 0; x < lo; x++)
                        o[x] = 0.0f;
                    if (SW == 1)
                        for (int x = lo; x < hi; x++)
                            o[x] = row[x];
                    else
                        for (int x = lo; x < hi; x++)
                            o[x] = row[x * SW];
                    for (int x = hi; x < OW; x++)
                        o[x] = 0.0f;
                }
            }
        }
    }
}

/* The adjoint of im2col_rows: adds dcol[r, j] into the input pixel it came
 * from (padding taps are dropped). */
static void col2im_rows(float *din, const float *dcol, int ldc, int oh0,
                        int nrows, int c0, int c1, const nt_conv2d_dims *d)
{
    int OW = d->OW, W = d->W, SW = d->SW;
    for (int c = c0; c < c1; c++) {
        float *plane = din + (size_t)c * d->H * W;
        for (int kh = 0; kh < d->KH; kh++) {
            int hlo, hhi;
            valid_range(&hlo, &hhi, kh, d->SH, d->PH, d->H, d->OH);
            int ra = max_int(oh0, hlo), rb = min_int(oh0 + nrows, hhi);
            for (int kw = 0; kw < d->KW; kw++) {
                const float *src =
                    dcol + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                int lo, hi;
                valid_range(&lo, &hi, kw, SW, d->PW, W, OW);
                for (int oh = ra; oh < rb; oh++) {
                    const float *s = src + (size_t)(oh - oh0) * OW;
                    float *row =
                        plane + (size_t)(oh * d->SH - d->PH + kh) * W - d->PW + kw;
                    if (SW == 1)
                        for (int x = lo; x < hi; x++)
                            row[x] += s[x];
                    else
                        for (int x = lo; x < hi; x++)
                            row[x * SW] += s[x];
                }
            }
        }
    }
}

/* Small images (late layers) have output rows of a few pixels, where the
 * row-wise loops spend their time on bounds arithmetic. They are lowered
 * instead through a zero-padded copy of each input plane, on the stack, and a
 * table of each output pixel's offset in it: one gather per tap. */
#define SMALL_OW 16       /* output rows shorter than this ... */
#define SMALL_P 1024      /* ... and at most this many output pixels ... */
#define SMALL_PLANE 2048  /* ... and a padded plane of at most this size */

static int is_small(const nt_conv2d_dims *d)
{
    return d->OW < SMALL_OW && d->OH * d->OW <= SMALL_P &&
           (d->H + 2 * d->PH) * (d->W + 2 * d->PW) <= SMALL_PLANE;
}

/* idx[j]: offset in the padded plane of the top-left tap of output pixel
 * oh0 * OW + j, for the nrows * OW pixels of rows [oh0, oh0 + nrows). */
static void small_offsets(int *idx, int oh0, int nrows, const nt_conv2d_dims *d)
{
    int Wp = d->W + 2 * d->PW;
    for (int r = 0; r < nrows; r++)
        for (int ow = 0; ow < d->OW; ow++)
            idx[r * d->OW + ow] = (oh0 + r) * d->SH * Wp + ow * d->SW;
}

static void im2col_small(float *col, int ldc, const float *in, int oh0,
                         int nrows, int c0, int c1, const nt_conv2d_dims *d)
{
    int Wp = d->W + 2 * d->PW, Hp = d->H + 2 * d->PH, cols = nrows * d->OW;
    float pad[SMALL_PLANE];
    int idx[SMALL_P];
    small_offsets(idx, oh0, nrows, d);
    for (int i = 0; i < Hp * Wp; i++)
        pad[i] = 0.0f;
    for (int c = c0; c < c1; c++) {
        const float *plane = in + (size_t)c * d->H * d->W;
        for (int h = 0; h < d->H; h++)
            for (int w = 0; w < d->W; w++)
                pad[(h + d->PH) * Wp + w + d->PW] = plane[h * d->W + w];
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                float *o = col + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                const float *src = pad + kh * Wp + kw;
                for (int j = 0; j < cols; j++)
                    o[j] = src[idx[j]];
            }
    }
}

static void col2im_small(float *din, const float *dcol, int ldc, int oh0,
                         int nrows, int c0, int c1, const nt_conv2d_dims *d)
{
    int Wp = d->W + 2 * d->PW, Hp = d->H + 2 * d->PH, cols = nrows * d->OW;
    float pad[SMALL_PLANE];
    int idx[SMALL_P];
    small_offsets(idx, oh0, nrows, d);
    for (int c = c0; c < c1; c++) {
        for (int i = 0; i < Hp * Wp; i++)
            pad[i] = 0.0f;
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *s = dcol + (size_t)((c * d->KH + kh) * d->KW + kw) * ldc;
                float *dst = pad + kh * Wp + kw;
                for (int j = 0; j < cols; j++)
                    dst[idx[j]] += s[j];
            }
        float *plane = din + (size_t)c * d->H * d->W;
        for (int h = 0; h < d->H; h++)
            for (int w = 0; w < d->W; w++)
                plane[h * d->W + w] += pad[(h + d->PH) * Wp + w + d->PW];
    }
}

typedef void (*lower_fn)(float *, int, const float *, int, int, int, int,
                         const nt_conv2d_dims *);
typedef void (*raise_fn)(float *, const float *, int, int, int, int, int,
                         const nt_conv2d_dims *);

/* Stride-1 layers with output rows of at most 16 pixels: the vector
 * lowering of conv_direct.c, one vector per row and tap. */
static int is_small_vec(const nt_conv2d_dims *d)
{
    return is_small(d) && d->SH == 1 && d->SW == 1 && d->OW <= 16 &&
           (d->H + 2 * d->PH) * (d->W + 2 * d->PW) <= NT_LOWER_MAX_PLANE;
}

static lower_fn im2col_vec(void)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (nt_cpu_isa()) {
    case NT_ISA_AVX512: return nt_conv_im2col_small_avx512;
    case NT_ISA_AVX2: return nt_conv_im2col_small_avx2;
    default: break;
    }
#endif
    return nt_conv_im2col_small_generic;
}

/* NULL: the scalar col2im_small */
static raise_fn col2im_vec(const nt_conv2d_dims *d)
{
#if defined(__x86_64__) || defined(__i386__)
    if (nt_cpu_isa() == NT_ISA_AVX512 && d->W + 2 * d->PW <= 32)
        return nt_conv_col2im_small_avx512;
#endif
    (void)d;
    return NULL;
}

static void im2col(float *col, int ldc, const float *in, int oh0, int nrows,
                   int c0, int c1, const nt_conv2d_dims *d)
{
    if (is_small_vec(d))
        im2col_vec()(col, ldc, in, oh0, nrows, c0, c1, d);
    else if (is_small(d))
        im2col_small(col, ldc, in, oh0, nrows, c0, c1, d);
#if defined(__x86_64__) || defined(__i386__)
    else if (d->SW == 2 && nt_cpu_isa() == NT_ISA_AVX512)
        nt_conv_im2col_rows_s2_avx512(col, ldc, in, oh0, nrows, c0, c1, d);
#endif
    else
        im2col_rows(col, ldc, in, oh0, nrows, c0, c1, d);
}

static void col2im(float *din, const float *dcol, int ldc, int oh0, int nrows,
                   int c0, int c1, const nt_conv2d_dims *d)
{
    raise_fn vec = is_small_vec(d) ? col2im_vec(d) : NULL;
    if (vec)
        vec(din, dcol, ldc, oh0, nrows, c0, c1, d);
    else if (is_small(d))
        col2im_small(din, dcol, ldc, oh0, nrows, c0, c1, d);
    else
        col2im_rows(din, dcol, ldc, oh0, nrows, c0, c1, d);
}

/* Per-thread buffers of a tile. */
typedef struct conv_bufs {
    float *col; /* [ckk, tile] */
    float *tmp; /* [OC, tile] */
} conv_bufs;

static conv_bufs thread_bufs(float *scratch, const conv_plan *p, int t)
{
    conv_bufs b = {NULL, NULL};
    if (p->per_thread > 0) {
        assert(scratch);
        b.col = scratch + (size_t)t * p->per_thread;
        b.tmp = b.col + p->col;
    }
    return b;
}

/* The k-th tile of group g; 0 when the group has no k-th tile. */
static int group_tile(conv_tile *t, int g, int k, const conv_sched *s,
                      const conv_plan *p, int N)
{
    t->n0 = g * s->ipg;
    t->nimg = min_int(s->ipg, N - t->n0);
    if (t->nimg > 1) {
        t->oh0 = 0;
        t->nrows = p->OH;
        t->p0 = 0;
        t->cols = t->nimg * p->P;
        return k == 0;
    }
    t->oh0 = k * p->rows;
    t->nrows = min_int(p->rows, p->OH - t->oh0);
    t->p0 = t->oh0 * p->OW;
    t->cols = t->nrows * p->OW;
    return t->oh0 < p->OH;
}

/* items [0, n) of a loop over a tile's rows or images: over the team when
 * team != 0 (the caller is outside any parallel region), else on this
 * thread without opening a region, since a tile in a thread's own share
 * would open a nested region of one thread per loop (measured 3.4 us, more
 * than a tile's row of work). */
typedef void (*tile_item_fn)(const void *ctx, int item);

static void tile_loop(int team, int nt, int n, tile_item_fn fn, const void *ctx)
{
    if (!team) {
        for (int i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int i = 0; i < n; i++)
        fn(ctx, i);
}

/* im2col of image item / nblk, channel block item % nblk */
typedef struct lower_ctx {
    float *col;
    const float *in;
    const conv_tile *t;
    const conv_plan *p;
    const nt_conv2d_dims *d;
    int nblk;
} lower_ctx;

static void lower_item(const void *ctx, int item)
{
    const lower_ctx *c = ctx;
    const nt_conv2d_dims *d = c->d;
    const int i = item / c->nblk, k = item % c->nblk;
    im2col(c->col + (size_t)i * c->p->P, c->t->cols,
           c->in + (size_t)(c->t->n0 + i) * d->C * d->H * d->W, c->t->oh0, c->t->nrows,
           k * d->C / c->nblk, (k + 1) * d->C / c->nblk, d);
}

/* The matrix B[ckk, cols] of a tile, with its row stride: the input itself
 * for direct 1x1 tiles, else the tile lowered into col. team != 0 spreads
 * the work over the threads (caller outside a parallel region). */
static const float *lower_tile(int *ldb, float *col, const float *in,
                               const conv_tile *t, const conv_plan *p,
                               const nt_conv2d_dims *d, int team, int nt)
{
    size_t in_img = (size_t)d->C * d->H * d->W;
    if (p->direct && t->nimg == 1) {
        *ldb = p->P;
        return in + t->n0 * in_img + t->p0;
    }
    *ldb = t->cols;
    const lower_ctx c = {col, in, t, p, d, team ? min_int(nt, d->C) : 1};
    tile_loop(team, nt, t->nimg * c.nblk, lower_item, &c);
    return col;
}

/* The rows of a forward tile after its GEMM: output channel item's
 * activation (one image's band, in place), or its bias and activation on
 * the way from the staging buffer to each image (groups). */
typedef struct epilogue_ctx {
    float *out;
    const float *b, *tmp;
    const conv_tile *t;
    int P, OC;
    nt_act epi;
} epilogue_ctx;

static void epilogue_item(const void *ctx, int oc)
{
    const epilogue_ctx *c = ctx;
    nt_act_apply(c->epi, c->out + (size_t)oc * c->P, (size_t)c->t->cols);
}

static void unstage_item(const void *ctx, int oc)
{
    const epilogue_ctx *c = ctx;
    const int P = c->P;
    const float bias = c->b ? c->b[oc] : 0.0f;
    for (int i = 0; i < c->t->nimg; i++) {
        const float *s = c->tmp + (size_t)oc * c->t->cols + (size_t)i * P;
        float *o = c->out + ((size_t)(c->t->n0 + i) * c->OC + oc) * P;
        for (int j = 0; j < P; j++)
            o[j] = s[j] + bias;
        nt_act_apply(c->epi, o, (size_t)P);
    }
}

/* uk, wp: the weights packed for the micro-kernel uk (pack_weights), NULL
 * to pack them here (team != 0: nt_sgemm spreads the GEMM over the team). */
static void forward_tile(float *out, const float *in, const float *w,
                         const float *b, const conv_tile *t,
                         const conv_plan *p, const nt_conv2d_dims *d,
                         conv_bufs bufs, int team, int nt, nt_act epi,
                         const nt_ukernel *uk, const float *wp)
{
    int OC = d->OC, P = p->P;
    int ldb;
    const float *B = lower_tile(&ldb, bufs.col, in, t, p, d, team, nt);
    if (t->nimg == 1) {
        float *o = out + (size_t)t->n0 * OC * P + t->p0;
        if (b) {
            for (int oc = 0; oc < OC; oc++)
                for (int j = 0; j < t->cols; j++)
                    o[(size_t)oc * P + j] = b[oc];
        }
        weights_gemm(uk, wp, 0, OC, t->cols, p->ckk, w, B, ldb, b ? 1.0f : 0.0f, o, P);
        if (epi != NT_ACT_NONE) { /* on the tile still in cache */
            const epilogue_ctx c = {o, b, NULL, t, P, OC, epi};
            tile_loop(team, nt, OC, epilogue_item, &c);
        }
        return;
    }
    weights_gemm(uk, wp, 0, OC, t->cols, p->ckk, w, B, ldb, 0.0f, bufs.tmp, t->cols);
    const epilogue_ctx c = {out, b, bufs.tmp, t, P, OC, epi};
    tile_loop(team, nt, OC, unstage_item, &c);
}

/* The loops of a backward tile: output channel item of dout staged for a
 * group of images; col2im of image item / nblk, channel block item % nblk
 * (overwrite: its planes zeroed first, by the tile of the image's first
 * rows). */
typedef struct raise_ctx {
    float *tmp, *din;
    const float *dout, *col;
    const conv_tile *t;
    const conv_plan *p;
    const nt_conv2d_dims *d;
    int nblk, overwrite;
} raise_ctx;

static void stage_item(const void *ctx, int oc)
{
    const raise_ctx *c = ctx;
    const int P = c->p->P;
    for (int i = 0; i < c->t->nimg; i++)
        memcpy(c->tmp + (size_t)oc * c->t->cols + (size_t)i * P,
               c->dout + ((size_t)(c->t->n0 + i) * c->d->OC + oc) * P,
               sizeof(float) * (size_t)P);
}

static void raise_item(const void *ctx, int item)
{
    const raise_ctx *c = ctx;
    const nt_conv2d_dims *d = c->d;
    const int i = item / c->nblk, k = item % c->nblk;
    const int c0 = k * d->C / c->nblk, c1 = (k + 1) * d->C / c->nblk;
    float *img = c->din + (size_t)(c->t->n0 + i) * d->C * d->H * d->W;
    if (c->overwrite && c->t->oh0 == 0)
        memset(img + (size_t)c0 * d->H * d->W, 0,
               sizeof(float) * (size_t)(c1 - c0) * d->H * d->W);
    col2im(img, c->col + (size_t)i * c->p->P, c->t->cols, c->t->oh0, c->t->nrows, c0, c1, d);
}

/* dw_acc[OC, ckk] = dout_tile * B^T + dw_beta * dw_acc, and din += the
 * tile's input gradient; overwrite: din's images are written, not added to
 * (the first tile of an image zeroes its planes, in cache, before the
 * col2im of its bands adds into them). */
static void backward_tile(float *din, float *dw_acc, float dw_beta,
                          const float *dout,
                          const float *in, const float *w, const conv_tile *t,
                          const conv_plan *p, const nt_conv2d_dims *d,
                          conv_bufs bufs, int team, int nt, int overwrite,
                          const nt_ukernel *uk, const float *wtp)
{
    int OC = d->OC, P = p->P;
    const float *G; /* dout of the tile, [OC, cols] with row stride ldg */
    int ldg;
    if (t->nimg == 1) {
        G = dout + (size_t)t->n0 * OC * P + t->p0;
        ldg = P;
    } else {
        const raise_ctx c = {bufs.tmp, NULL, dout, NULL, t, p, d, 1, 0};
        tile_loop(team, nt, OC, stage_item, &c);
        G = bufs.tmp;
        ldg = t->cols;
    }

    int ldb;
    const float *B = lower_tile(&ldb, bufs.col, in, t, p, d, team, nt);
    nt_sgemm(0, 1, OC, p->ckk, t->cols, 1.0f, G, ldg, B, ldb, dw_beta, dw_acc,
             p->ckk);
    if (!din)
        return;

    size_t in_img = (size_t)d->C * d->H * d->W;
    if (p->direct && t->nimg == 1) {
        weights_gemm(uk, wtp, 1, p->ckk, t->cols, OC, w, G, ldg,
                     overwrite ? 0.0f : 1.0f, din + t->n0 * in_img + t->p0, P);
        return;
    }
    /* dcol overwrites col, which the dW product above has finished with */
    weights_gemm(uk, wtp, 1, p->ckk, t->cols, OC, w, G, ldg, 0.0f, bufs.col, t->cols);
    const raise_ctx c = {NULL, din, NULL, bufs.col, t, p, d,
                         team ? min_int(nt, d->C) : 1, overwrite};
    tile_loop(team, nt, t->nimg * c.nblk, raise_item, &c);
}

/* The forwards that run item by item: conv_direct.c image by image,
 * conv_lanes.c block by block of width images, each thread with its slice
 * of the scratch; the fused activation on each item's output, in cache. */
typedef struct fwd_ctx {
    float *out;
    const float *in, *w, *b;
    const nt_conv2d_dims *d;
    size_t in_img, out_img;
    direct_fwd_fn direct;
    int relu; /* the direct (and implicit: ip.relu) loops apply it as they store */
    lanes_isa lanes;
    implicit_isa impl;
    nt_implicit_fwd ip;
    nt_pixel_conv px;
} fwd_ctx;

/* images [n0, n0 + n); fresh: the first item of the call on buf */
typedef void (*fwd_item_fn)(const fwd_ctx *c, size_t n0, int n, float *buf, int fresh);

static void direct_fwd_item(const fwd_ctx *c, size_t n0, int n, float *buf, int fresh)
{
    (void)n, (void)fresh; /* one image an item, no state kept between items */
    c->direct(c->out + n0 * c->out_img, c->in + n0 * c->in_img, c->w, c->b, c->d, c->relu,
              buf);
}

static void lanes_fwd_item(const fwd_ctx *c, size_t n0, int n, float *buf, int fresh)
{
    c->lanes.forward(c->out + n0 * c->out_img, c->in + n0 * c->in_img, c->w, c->b, c->d, n,
                     fresh, buf);
}

/* image n0 through conv_implicit.c, padded into buf */
static void implicit_fwd_item(const fwd_ctx *c, size_t n0, int n, float *buf, int fresh)
{
    (void)n, (void)fresh;
    implicit_pad(buf, c->in + n0 * c->in_img, c->d->C, c->d);
    c->impl.forward(c->out + n0 * c->out_img, buf, &c->ip);
}

/* images [n0, n0 + n) through conv_pixel.c */
static void pixel_fwd_item(const fwd_ctx *c, size_t n0, int n, float *buf, int fresh)
{
    (void)fresh;
    nt_pixel_forward(c->out + n0 * c->out_img, c->in + n0 * c->in_img, n, c->b, c->relu, &c->px,
                     buf);
}

/* The rows' statistics of images [n0, n0 + n) of out, just written, for the
 * batch norm that reads them (nt_conv2d_dims.bn_rows). */
static void bn_rows_of(const float *out, size_t n0, int n, const nt_conv2d_dims *d)
{
    if (!d->bn_rows || !nt_batchnorm_takes_rows(d->OH * d->OW))
        return;
    const size_t img = (size_t)d->OC * d->OH * d->OW;
    for (size_t i = n0; i < n0 + (size_t)n; i++)
        nt_batchnorm_row_stats(d->bn_rows + i * 2 * d->OC, out + i * img, d->OC, d->OH * d->OW);
}

static void forward_items(const fwd_ctx *c, fwd_item_fn fn, int per_item, nt_act epi,
                          const conv_plan *p, float *scratch, int team, int nt)
{
    const int N = c->d->N, nitems = ceil_div(N, per_item);
#pragma omp parallel num_threads(nt) if (team)
    {
        float *buf = scratch + (size_t)omp_get_thread_num() * p->per_thread;
        int fresh = 1;
#pragma omp for schedule(static)
        for (int k = 0; k < nitems; k++) {
            const size_t n0 = (size_t)k * per_item;
            const int n = min_int(per_item, N - (int)n0);
            fn(c, n0, n, buf, fresh);
            fresh = 0;
            nt_act_apply(epi, c->out + n0 * c->out_img, (size_t)n * c->out_img);
            bn_rows_of(c->out, n0, n, c->d);
        }
    }
}

static void conv_forward(float *out, const float *in, const float *w,
                         const float *b, const nt_conv2d_dims *d, float *scratch,
                         nt_act epi)
{
    check_dims(d);
    assert(out && in && w);
    int N = d->N;
    int nt = nt_num_threads();
    conv_plan p = make_plan(d);
    conv_sched s = make_sched(&p, N, nt);
    double macs = (double)N * p.P * p.ckk * d->OC;
    int team = nt > 1 && macs >= PAR_MIN_MACS; /* worth using threads */
    int npar = team ? s.npar : 0;
    conv_tile t;

    nt_pixel_conv px;
    const int pixel = pixel_call(&px, d, p.pixel);
    assert(!px.out_block || !d->bn_rows); /* a batch norm reads the output */
    if (p.lanes || p.dconv || p.implicit || pixel) {
        /* the implicit, pixel and direct loops apply a relu as they store */
        const int relu = epi == NT_ACT_RELU && !p.lanes;
        const nt_act after = relu ? NT_ACT_NONE : epi;
        fwd_ctx c = {out, in, w, b, d, (size_t)d->C * d->H * d->W, (size_t)d->OC * p.P, NULL,
                     relu, {0, NULL, NULL, NULL}, {0, NULL, NULL, NULL}, {0}, px};
        if (pixel) {
            float *a = packed_area(scratch, d, &p, nt);
            nt_pixel_pack(a, w, 0, &c.px);
            c.px.af = a;
            forward_items(&c, pixel_fwd_item, c.px.nb, after, &p, scratch, team, nt);
        } else if (p.implicit) {
            const implicit_tabs tabs = implicit_tables(scratch, d, &p, nt);
            c.impl = implicit_get();
            implicit_pack(tabs.a, w, 0, c.impl.mr, d);
            c.ip = (nt_implicit_fwd){d->OC, p.ckk, tabs.off, tabs.a, b, d->OH, d->OW,
                                     d->W + 2 * d->PW, 0, relu};
            forward_items(&c, implicit_fwd_item, 1, after, &p, scratch, team, nt);
        } else if (p.lanes) {
            c.lanes = lanes_get();
            forward_items(&c, lanes_fwd_item, c.lanes.width, after, &p, scratch, team, nt);
        } else {
            c.direct = direct_forward();
            forward_items(&c, direct_fwd_item, 1, after, &p, scratch, team, nt);
        }
        return;
    }

    const nt_ukernel *uk = NULL;
    const float *wp = npar > 0 || !team ? pack_weights(&uk, scratch, w, 0, d, &p, nt) : NULL;
#pragma omp parallel for schedule(static) num_threads(nt) private(t) if (npar > 0)
    for (int g = 0; g < npar; g++) {
        conv_bufs bufs = thread_bufs(scratch, &p, omp_get_thread_num());
        for (int k = 0; group_tile(&t, g, k, &s, &p, N); k++)
            forward_tile(out, in, w, b, &t, &p, d, bufs, 0, nt, epi, uk, wp);
        bn_rows_of(out, (size_t)t.n0, t.nimg, d);
    }
    conv_bufs bufs0 = thread_bufs(scratch, &p, 0);
    for (int g = npar; g < s.ngroups; g++) {
        for (int k = 0; group_tile(&t, g, k, &s, &p, N); k++)
            forward_tile(out, in, w, b, &t, &p, d, bufs0, team, nt, epi,
                         team ? NULL : uk, team ? NULL : wp);
        bn_rows_of(out, (size_t)t.n0, t.nimg, d);
    }
}

void nt_conv2d_forward(float *out, const float *in, const float *w,
                       const float *b, const nt_conv2d_dims *d, float *scratch)
{
    conv_forward(out, in, w, b, d, scratch, NT_ACT_NONE);
}

void nt_conv2d_relu_forward(float *out, const float *in, const float *w,
                            const float *b, const nt_conv2d_dims *d,
                            float *scratch)
{
    conv_forward(out, in, w, b, d, scratch, NT_ACT_RELU);
}

void nt_conv2d_sigmoid_forward(float *out, const float *in, const float *w,
                               const float *b, const nt_conv2d_dims *d,
                               float *scratch)
{
    conv_forward(out, in, w, b, d, scratch, NT_ACT_SIGMOID);
}

/* dw[0, n) += the partial sums of threads 1 .. used - 1 (partial[(k - 1) *
 * stride + i]), in thread order. */
static void add_partials(float *dw, const float *partial, size_t stride, int used, size_t n,
                         int nt)
{
    if (used <= 1)
        return;
/* a handful of sums (a bias) is not worth waking the team */
#pragma omp parallel for schedule(static) num_threads(nt) if (n >= 4096)
    for (size_t i = 0; i < n; i++) {
        float sum = dw[i];
        for (int k = 1; k < used; k++)
            sum += partial[(size_t)(k - 1) * stride + i];
        dw[i] = sum;
    }
}

/* The backwards that run item by item: conv_direct.c image by image,
 * conv_lanes.c block by block of images. Each thread gathers `width` partial
 * sums per weight (and, with bias, per bias: the lanes backward) over its
 * items (lanes), then adds each one's lanes pairwise in a fixed order,
 * thread 0 into dw (db), thread k > 0 into its partial sums; then the
 * partials are added in thread order: the same bits for a thread count. */
typedef struct bwd_ctx {
    float *din;
    const float *dout, *in, *w;
    const nt_conv2d_dims *d;
    size_t in_img, out_img;
    int overwrite;
    int bias;                   /* the items sum db's lanes too */
    direct_bwd_fn direct;
    lanes_isa lanes;
    implicit_isa impl;
    nt_implicit_fwd ip; /* the input gradient */
    nt_implicit_dw iw;  /* the weight gradient */
    const nt_pixel_conv *px;
} bwd_ctx;

typedef void (*bwd_item_fn)(const bwd_ctx *c, int item, float *lanes, float *buf,
                            int fresh);

/* image n through conv_direct.c (overwrite: din's image zeroed in cache
 * just before it adds into it) */
static void direct_bwd_item(const bwd_ctx *c, int n, float *lanes, float *buf, int fresh)
{
    (void)fresh;
    float *din = c->din ? c->din + n * c->in_img : NULL;
    if (din && c->overwrite)
        memset(din, 0, sizeof(float) * c->in_img);
    c->direct(din, lanes, c->dout + n * c->out_img, c->in + n * c->in_img, c->w, c->d, buf);
}

/* image n through conv_implicit.c: its input and output gradient padded
 * into buf, the weight gradient's sums into lanes, then the input gradient
 * as the forward loop over the padded output gradient */
static void implicit_bwd_item(const bwd_ctx *c, int n, float *lanes, float *buf, int fresh)
{
    const nt_conv2d_dims *d = c->d;
    float *pin = buf, *pg = buf + implicit_planes(d, d->C);
    float *gt = pg + implicit_planes(d, d->OC);
    const float *dout = c->dout + n * c->out_img;
    const int Mp = c->iw.Mp, P = d->OH * d->OW;
    implicit_pad(pin, c->in + n * c->in_img, d->C, d);
    if (fresh) /* the channels past OC stay zero */
        memset(gt, 0, sizeof(float) * implicit_gt(d));
    c->impl.transpose(gt, dout, d->OC, P, Mp);
    c->impl.dweight(lanes, gt, pin, &c->iw);
    if (c->din) {
        implicit_pad(pg, dout, d->OC, d);
        c->impl.forward(c->din + n * c->in_img, pg, &c->ip);
    }
}

/* block k of conv_pixel.c's nb images, the weight gradient's sums into lanes */
static void pixel_bwd_item(const bwd_ctx *c, int k, float *lanes, float *buf, int fresh)
{
    (void)fresh;
    const size_t n0 = (size_t)k * c->px->nb;
    nt_pixel_backward(c->din ? c->din + n0 * c->in_img : NULL, c->overwrite, lanes,
                      c->dout + n0 * c->out_img, c->in + n0 * c->in_img,
                      min_int(c->px->nb, c->d->N - (int)n0), c->px, buf);
}

/* block k of conv_lanes.c's width images */
static void lanes_bwd_item(const bwd_ctx *c, int k, float *lanes, float *buf, int fresh)
{
    const size_t n0 = (size_t)k * c->lanes.width;
    c->lanes.backward(c->din ? c->din + n0 * c->in_img : NULL, c->overwrite, lanes, c->bias,
                      c->dout + n0 * c->out_img, c->in + n0 * c->in_img, c->w, c->d,
                      min_int(c->lanes.width, c->d->N - (int)n0), fresh, buf);
}

/* l[0] + ... + l[width - 1], width a power of two up to 16: halves added */
static float sum_lanes(const float *l, int width)
{
    float s[16];
    memcpy(s, l, sizeof(float) * (size_t)width);
    for (int h = width / 2; h >= 1; h /= 2)
        for (int k = 0; k < h; k++)
            s[k] += s[k + h];
    return s[0];
}

/* The backward of d->act (nt_conv2d_dims) on images [n0, n0 + n) of din
 * (clipped to the batch) just written by an overwriting backward, in cache. */
static void fold_activation(float *din, const nt_conv2d_dims *d, int overwrite, int n0, int n)
{
    if (!din || !overwrite || d->act == NT_ACT_NONE)
        return;
    const size_t img = (size_t)d->C * d->H * d->W;
    n = min_int(n, d->N - n0);
    nt_act_grad_apply(d->act, din + (size_t)n0 * img, d->act_out + (size_t)n0 * img,
                      (size_t)n * img);
}

/* dst[o*ldo + k*sk] += src[k*lds + o] for o0 <= o < o1, k < K: the implicit
 * and pixel paths' transposed weight-gradient sums into dW, by 16 x 16
 * blocks (a weight at a time, each read would touch a new page). */
static void add_transposed(float *dst, size_t ldo, size_t sk, const float *src, size_t lds,
                           int o0, int o1, int K)
{
    for (int k0 = 0; k0 < K; k0 += 16)
        for (int o = o0; o < o1; o++)
            for (int k = k0; k < min_int(k0 + 16, K); k++)
                dst[(size_t)o * ldo + (size_t)k * sk] += src[(size_t)k * lds + o];
}

/* dW += the transposed sums of threads 0 .. used - 1 (each thread's at
 * lanes_at in its slice of the scratch), in thread order; called by every
 * thread of the team, which share the output channels in blocks of 16. */
static void add_transposed_sums(float *dw, const bwd_ctx *c, const conv_plan *p,
                                const float *scratch, size_t lanes_at, int used)
{
    const nt_conv2d_dims *d = c->d;
    const int kk = d->KH * d->KW, nblk = ceil_div(d->OC, 16);
    int rows = 0, cols = 0;
    if (c->px)
        nt_pixel_dwt_dims(c->px, &rows, &cols);
#pragma omp for schedule(static)
    for (int b = 0; b < nblk; b++) {
        const int o0 = 16 * b, o1 = min_int(d->OC, o0 + 16);
        for (int k = 0; k < used; k++) {
            const float *l = scratch + (size_t)k * p->per_thread + lanes_at;
            if (c->px) /* dWT[t][c][oc] */
                for (int t = 0; t < kk; t++)
                    add_transposed(dw + t, p->ckk, kk, l + (size_t)t * rows * cols, cols, o0, o1,
                                   d->C);
            else /* dW^T */
                add_transposed(dw, p->ckk, 1, l, c->iw.Mp, o0, o1, p->ckk);
        }
    }
}

/* the items of fn, per_item images each, with `width` lanes per weight
 * (then per bias, if c->bias: into db), which live in each thread's slice
 * of the scratch from float lanes_at on; a fused activation's backward on
 * each item's input gradient as it is written */
static void backward_items(float *dw, float *db, const bwd_ctx *c, bwd_item_fn fn,
                           int per_item, int width, size_t lanes_at, const conv_plan *p,
                           float *scratch, int team, int nt)
{
    const int nitems = ceil_div(c->d->N, per_item);
    const size_t wsize = (size_t)c->d->OC * p->ckk, nb = c->bias ? (size_t)c->d->OC : 0;
    const size_t stride = partial_floats(c->d, p);
    float *partial = scratch + (size_t)nt * p->per_thread;
    const int transposed = c->px || c->iw.Mp; /* the pixel and implicit paths */
    int used = 1;
#pragma omp parallel num_threads(nt) if (team)
    {
        int tid = omp_get_thread_num();
        /* thread 0 adds into dw and db, thread k > 0 writes its partials
         * (the transposed sums of the pixel and implicit paths instead stay
         * in each thread's lanes until add_transposed_sums) */
        float *wacc = tid == 0 ? dw : partial + (size_t)(tid - 1) * stride;
        float *bacc = tid == 0 ? db : wacc + wsize;
        float *buf = scratch + (size_t)tid * p->per_thread;
        float *lanes = buf + lanes_at;
#pragma omp single
        used = omp_get_num_threads();
        memset(lanes, 0, sizeof(float) * (c->px     ? nt_pixel_dwt_floats(c->px)
                                          : c->iw.Mp ? (size_t)p->ckk * c->iw.Mp
                                                     : (size_t)width * (wsize + nb)));
        int fresh = 1;
#pragma omp for schedule(static)
        for (int k = 0; k < nitems; k++) {
            fn(c, k, lanes, buf, fresh);
            fresh = 0;
            fold_activation(c->din, c->d, c->overwrite, k * per_item, per_item);
        }
        if (transposed) { /* every thread's sums at once, once all are done */
#pragma omp barrier
            add_transposed_sums(dw, c, p, scratch, lanes_at, used);
        } else {
            for (size_t i = 0; i < wsize + nb; i++) {
                const float sum = sum_lanes(lanes + (size_t)width * i, width);
                float *to = i < wsize ? wacc + i : bacc + (i - wsize);
                *to = tid == 0 ? *to + sum : sum;
            }
        }
    }
    if (transposed)
        return;
    add_partials(dw, partial, stride, used, wsize, nt);
    if (nb)
        add_partials(db, partial + wsize, stride, used, nb, nt);
}

/* db += the sums of dout's channels: each image's row summed in double
 * (bn_rows.c: 16 lanes, the same bits on every ISA), the images in order.
 * A linked dout (px) is in the block layout: each row is gathered first. */
static void bias_grad(float *db, const float *dout, const nt_conv2d_dims *d,
                      const nt_pixel_conv *px, int team, int nt)
{
    const nt_bn_rows *rows = nt_bn_rows_get();
    const int N = d->N, OC = d->OC, P = d->OH * d->OW;
    assert(!px || P <= NT_PIXEL_MAX_P); /* block_link */
#pragma omp parallel num_threads(nt) if (team)
    {
        float row[NT_PIXEL_MAX_P];
#pragma omp for schedule(static)
        for (int oc = 0; oc < OC; oc++) {
            double sum = 0.0;
            for (int n = 0; n < N; n++) {
                const float *r = dout + ((size_t)n * OC + oc) * P;
                if (px) {
                    const int nb = px->nb, nr = px->fk->nr, img = n % nb;
                    const float *blk = dout + (size_t)(n - img) * OC * P;
                    for (int x = 0; x < P; x++)
                        row[x] = blk[((size_t)(x * (nb / nr) + img / nr) * OC + oc) * nr +
                                     img % nr];
                    r = row;
                }
                sum += rows->sum(r, P);
            }
            db[oc] += (float)sum;
        }
    }
}

static void conv_backward(float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w,
                          const nt_conv2d_dims *d, float *scratch, int overwrite)
{
    check_dims(d);
    assert(dw && dout && in && w);
    int N = d->N, OC = d->OC;
    int nt = nt_num_threads();
    conv_plan p = make_plan(d);
    conv_sched s = make_sched(&p, N, nt);
    size_t wsize = (size_t)OC * p.ckk;
    double macs = (double)N * p.P * p.ckk * OC;
    int team = nt > 1 && macs >= PAR_MIN_MACS; /* worth using threads */
    int npar = team ? s.npar : 0;
    conv_tile t;

    nt_pixel_conv px;
    const int pixel = pixel_call(&px, d, p.pixel_bwd); /* as in the forward */
    /* a linked input's gradient has one writer */
    assert(!px.in_block || overwrite || !din);

    if (db && (!p.lanes || pixel)) /* the lanes backward sums db as it goes */
        bias_grad(db, dout, d, px.out_block ? &px : NULL, team, nt);

    if (p.lanes || p.dconv || p.implicit_bwd || pixel) {
        bwd_ctx c = {din, dout, in, w, d, (size_t)d->C * d->H * d->W, (size_t)OC * p.P,
                     overwrite, 0, NULL, {0, NULL, NULL, NULL}, {0, NULL, NULL, NULL}, {0}, {0},
                     NULL};
        if (pixel) {
            if (din) {
                float *a = packed_area(scratch, d, &p, nt);
                nt_pixel_pack(a, w, 1, &px);
                px.ab = a;
            }
            c.px = &px;
            backward_items(dw, NULL, &c, pixel_bwd_item, px.nb, 1,
                           nt_pixel_bwd_floats(&px), &p, scratch, team, nt);
        } else if (p.implicit_bwd) {
            const implicit_tabs tabs = implicit_tables(scratch, d, &p, nt);
            const int Wp = d->W + 2 * d->PW;
            c.impl = implicit_get();
            if (din)
                implicit_pack(tabs.a, w, 1, c.impl.mr, d);
            c.ip = (nt_implicit_fwd){d->C, OC * d->KH * d->KW, tabs.offg, tabs.a, NULL, d->H,
                                     d->W, Wp, !overwrite, 0};
            c.iw = (nt_implicit_dw){round16(OC), p.ckk, tabs.off, d->OH, d->OW, Wp};
            backward_items(dw, NULL, &c, implicit_bwd_item, 1, 1,
                           implicit_planes(d, d->C) + implicit_planes(d, OC) + implicit_gt(d),
                           &p, scratch, team, nt);
        } else if (p.lanes) {
            c.lanes = lanes_get();
            c.bias = db != NULL;
            backward_items(dw, db, &c, lanes_bwd_item, c.lanes.width, c.lanes.width,
                           c.lanes.buf_floats(d), &p, scratch, team, nt);
        } else {
            c.direct = direct_backward();
            backward_items(dw, NULL, &c, direct_bwd_item, 1, 16,
                           nt_conv_direct_buf_floats_generic(d), &p, scratch, team, nt);
        }
        return;
    }

    const nt_ukernel *uk = NULL;
    const float *wtp = din && (npar > 0 || !team)
                           ? pack_weights(&uk, scratch, w, 1, d, &p, nt) : NULL;
    if (npar > 0) {
        /* thread 0 adds into dw, thread k > 0 into partial[k - 1] */
        float *partial = scratch + (size_t)nt * p.per_thread;
        const size_t stride = partial_floats(d, &p);
        int used = 1;
#pragma omp parallel num_threads(nt) private(t)
        {
            int tid = omp_get_thread_num();
            float *acc = tid == 0 ? dw : partial + (size_t)(tid - 1) * stride;
            int fresh = tid > 0; /* acc holds nothing yet: overwrite it */
#pragma omp single
            used = omp_get_num_threads();
            conv_bufs bufs = thread_bufs(scratch, &p, tid);
#pragma omp for schedule(static)
            for (int g = 0; g < npar; g++) {
                for (int k = 0; group_tile(&t, g, k, &s, &p, N); k++) {
                    backward_tile(din, acc, fresh ? 0.0f : 1.0f, dout, in, w,
                                  &t, &p, d, bufs, 0, nt, overwrite, uk, wtp);
                    fresh = 0;
                }
                fold_activation(din, d, overwrite, g * s.ipg, s.ipg);
            }
            if (fresh)
                memset(acc, 0, sizeof(float) * wsize);
        }
        add_partials(dw, partial, stride, used, wsize, nt);
    }

    conv_bufs bufs0 = thread_bufs(scratch, &p, 0);
    for (int g = npar; g < s.ngroups; g++) {
        for (int k = 0; group_tile(&t, g, k, &s, &p, N); k++)
            backward_tile(din, dw, 1.0f, dout, in, w, &t, &p, d, bufs0, team,
                          nt, overwrite, team ? NULL : uk, team ? NULL : wtp);
        fold_activation(din, d, overwrite, g * s.ipg, s.ipg);
    }
}

void nt_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w,
                        const nt_conv2d_dims *d, float *scratch)
{
    conv_backward(din, dw, db, dout, in, w, d, scratch, 0);
}

void nt_conv2d_backward_overwrite(float *din, float *dw, float *db,
                                  const float *dout, const float *in,
                                  const float *w, const nt_conv2d_dims *d,
                                  float *scratch)
{
    conv_backward(din, dw, db, dout, in, w, d, scratch, 1);
}

/* ---- reference loops --------------------------------------------------- */

void nt_conv2d_forward_ref(float *out, const float *in, const float *w,
                           const float *b, const nt_conv2d_dims *d)
{
    check_dims(d);
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    float sum = b ? b[oc] : 0.0f;
                    for (int c = 0; c < d->C; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->SH - d->PH + kh;
                                int iw = ow * d->SW - d->PW + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
                                    continue;
                                sum += in[(((size_t)n * d->C + c) * d->H + ih) * d->W + iw] *
                                       w[(((size_t)oc * d->C + c) * d->KH + kh) * d->KW + kw];
                            }
                    out[(((size_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow] = sum;
                }
}

void nt_conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w,
                            const nt_conv2d_dims *d)
{
    check_dims(d);
    for (int n = 0; n < d->N; n++)
        for (int oc = 0; oc < d->OC; oc++)
            for (int oh = 0; oh < d->OH; oh++)
                for (int ow = 0; ow < d->OW; ow++) {
                    float g = dout[(((size_t)n * d->OC + oc) * d->OH + oh) * d->OW + ow];
                    if (db)
                        db[oc] += g;
                    for (int c = 0; c < d->C; c++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->SH - d->PH + kh;
                                int iw = ow * d->SW - d->PW + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
                                    continue;
                                size_t i = (((size_t)n * d->C + c) * d->H + ih) * d->W + iw;
                                size_t k = (((size_t)oc * d->C + c) * d->KH + kh) * d->KW + kw;
                                dw[k] += g * in[i];
                                if (din)
                                    din[i] += g * w[k];
                            }
                }
}
