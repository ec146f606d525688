/* conv_pixel.c - the convolution of small images by pixel GEMMs
 * (conv_pixel.h): for each kernel tap, the products of its weights with the
 * input pixels it sees, over a block of nb images.
 *
 * Layouts of a block (nbs = nb / nr slivers of images, mr the row tile of
 * the micro-kernel that reads the operand: fk's in the forward, bk's in the
 * backward):
 *   xs[p][js][c][j]   input pixel p, image js*nr + j    (forward's B)
 *   y[q][js][m][j]    output pixel q, channel m < Mf    (forward's C)
 *   gs[q][js][oc][j]  output gradient                   (input gradient's B)
 *   dx[p][js][m][j]   input gradient, channel m < Mb    (input gradient's C)
 *   xa[s][p][img][i]  input, channel s*mr + i           (weight gradient's A)
 *   gb[jo][q][img][j] output gradient, channel jo*nr + j (weight gradient's B)
 * so that every operand of a micro-kernel call is a contiguous sliver, and a
 * run of output pixels along a row with stride 1 is one call of the weight
 * gradient (its pixels follow each other in xa and gb). Rows and images
 * past the layer's are zero, so every tile is whole. Each element is summed
 * over the taps in order and, within a tap, over k in order: the same bits
 * for the same ISA, whatever the threads.
 *
 * xs, y, gs and dx are one layout, the block layout [pixel][js][channel][j]:
 * the output of one layer is in the form the next one's forward reads, and
 * the input gradient of the next in the form this one's backward reads. Two
 * convs linked by the compiler (nt_conv2d_dims.out_block, in_block) keep the
 * tensor between them, and its gradient, in it: a block of nb images then
 * occupies the memory of those images in [img][C][H][W], and the copies in
 * and out of the block are skipped (pc->in_block, pc->out_block). */
#include "conv_pixel.h"

#include <assert.h>
#include <string.h>

/* Images per block: a product's B sliver is nr images wide; blocks of 32
 * keep a block of ResNet's 3x3 layers' buffers near the L2 cache. */
#define PIXEL_NB 32

/* The copies between the layers' [img][K][npix] and a block's layouts go
 * through a tile of XB pixels on the stack, so that both sides are read or
 * written in runs (a pixel's channels lie npix apart in one, its images
 * next to each other in the other). */
#define XB 8
#define TILE_MAX 1024 /* nb * w: 32 images of at most 32 floats */

static int round_up(int x, int m) { return (x + m - 1) / m * m; }
static int min_int(int a, int b) { return a < b ? a : b; }

/* Output indices [*lo, *hi) whose input index o*S - pad + k is in [0, size). */
static void tap_range(int *lo, int *hi, int k, int S, int pad, int size, int osize)
{
    int a = 0;
    while (a < osize && a * S - pad + k < 0)
        a++;
    int b = a;
    while (b < osize && b * S - pad + k < size)
        b++;
    *lo = a;
    *hi = b;
}

/* Kernel tap t = kh*KW + kw and the output pixels (oy, ox) in [ylo, yhi) x
 * [xlo, xhi) for which it reads inside the image. */
typedef struct tap_rect {
    int kh, kw, ylo, yhi, xlo, xhi;
} tap_rect;

static tap_rect rect_of(const nt_conv2d_dims *d, int t)
{
    tap_rect r;
    r.kh = t / d->KW;
    r.kw = t % d->KW;
    tap_range(&r.ylo, &r.yhi, r.kh, d->SH, d->PH, d->H, d->OH);
    tap_range(&r.xlo, &r.xhi, r.kw, d->SW, d->PW, d->W, d->OW);
    return r;
}

/* the input pixel tap r reads for output pixel (oy, ox) */
static int in_pixel(const nt_conv2d_dims *d, const tap_rect *r, int oy, int ox)
{
    return (oy * d->SH - d->PH + r->kh) * d->W + ox * d->SW - d->PW + r->kw;
}

nt_pixel_conv nt_pixel_setup(const nt_conv2d_dims *d, nt_isa isa)
{
    nt_pixel_conv pc;
    pc.d = d;
    pc.fk = nt_ukernel_for(isa, d->OC);
    pc.bk = nt_ukernel_for(isa, d->C);
    pc.nb = round_up(PIXEL_NB, pc.fk->nr);
    /* one block layout for the forward's and the backward's operands */
    assert(pc.fk->nr == pc.bk->nr);
    assert(pc.nb * pc.fk->nr <= TILE_MAX && pc.nb * pc.bk->mr <= TILE_MAX);
    pc.af = pc.ab = NULL;
    pc.in_block = pc.out_block = 0;
    return pc;
}

int nt_pixel_links(int N, int ch, nt_isa isa)
{
    const nt_ukernel *uk = nt_ukernel_for(isa, ch);
    return N > 0 && N % round_up(PIXEL_NB, uk->nr) == 0 && ch % uk->mr == 0;
}

/* rows of the forward's C; of the input gradient's C and the weight
 * gradient's A; columns of the weight gradient's B and C */
static int rows_f(const nt_pixel_conv *pc) { return round_up(pc->d->OC, pc->fk->mr); }
static int rows_b(const nt_pixel_conv *pc) { return round_up(pc->d->C, pc->bk->mr); }
static int cols_w(const nt_pixel_conv *pc) { return round_up(pc->d->OC, pc->bk->nr); }

size_t nt_pixel_packed_floats(const nt_pixel_conv *pc, int trans)
{
    const nt_conv2d_dims *d = pc->d;
    const size_t kk = (size_t)d->KH * d->KW;
    return trans ? kk * rows_b(pc) * d->OC : kk * rows_f(pc) * d->C;
}

/* trans 0: dst[t][s][c][i] = w[s*mr + i, c, t]; trans 1: dst[t][s][oc][i] =
 * w[oc, s*mr + i, t]; zero past the rows. */
void nt_pixel_pack(float *dst, const float *w, int trans, const nt_pixel_conv *pc)
{
    const nt_conv2d_dims *d = pc->d;
    const int kk = d->KH * d->KW, mr = trans ? pc->bk->mr : pc->fk->mr;
    const int M = trans ? rows_b(pc) : rows_f(pc), K = trans ? d->OC : d->C;
    const int Mreal = trans ? d->C : d->OC;
#pragma omp parallel for schedule(static) collapse(2) num_threads(nt_num_threads())
    for (int t = 0; t < kk; t++)
        for (int m0 = 0; m0 < M; m0 += mr) {
            float *o = dst + ((size_t)t * M + m0) * K;
            /* the loop along w's rows inside (its rows lie C*KH*KW apart) */
            if (!trans)
                for (int i = 0; i < mr; i++)
                    for (int k = 0; k < K; k++)
                        o[(size_t)k * mr + i] =
                            m0 + i < Mreal ? w[((size_t)(m0 + i) * d->C + k) * kk + t] : 0.0f;
            else
                for (int k = 0; k < K; k++)
                    for (int i = 0; i < mr; i++)
                        o[(size_t)k * mr + i] =
                            m0 + i < Mreal ? w[((size_t)k * d->C + m0 + i) * kk + t] : 0.0f;
        }
}

size_t nt_pixel_fwd_floats(const nt_pixel_conv *pc)
{
    const nt_conv2d_dims *d = pc->d;
    return (size_t)pc->nb * ((size_t)d->H * d->W * d->C + (size_t)d->OH * d->OW * rows_f(pc));
}

size_t nt_pixel_bwd_floats(const nt_pixel_conv *pc)
{
    const nt_conv2d_dims *d = pc->d;
    const size_t hw = (size_t)d->H * d->W, P = (size_t)d->OH * d->OW;
    return (size_t)pc->nb * (hw * rows_b(pc) + P * d->OC + P * cols_w(pc) + hw * rows_b(pc));
}

size_t nt_pixel_dwt_floats(const nt_pixel_conv *pc)
{
    return (size_t)pc->d->KH * pc->d->KW * rows_b(pc) * cols_w(pc);
}

void nt_pixel_dwt_dims(const nt_pixel_conv *pc, int *rows, int *cols)
{
    *rows = rows_b(pc);
    *cols = cols_w(pc);
}

/* dst[((x*nbs + js)*K + k)*nr + j] = src[(img*K + k)*npix + x] for image
 * img = js*nr + j < n, 0 for the block's other images: a block of images
 * [img][K][npix] as B slivers per pixel (xs, gs). */
static void to_slivers(float *dst, const float *src, int n, int K, int npix, int nb, int nr)
{
    const int nbs = nb / nr;
    float t[XB * TILE_MAX];
    for (int k = 0; k < K; k++)
        for (int x0 = 0; x0 < npix; x0 += XB) {
            const int xn = min_int(XB, npix - x0);
            for (int img = 0; img < nb; img++) {
                const float *s = src + ((size_t)img * K + k) * npix + x0;
                for (int x = 0; x < xn; x++)
                    t[x * nb + img] = img < n ? s[x] : 0.0f;
            }
            for (int x = 0; x < xn; x++)
                for (int js = 0; js < nbs; js++)
                    memcpy(dst + ((size_t)((x0 + x) * nbs + js) * K + k) * nr,
                           t + x * nb + js * nr, sizeof(float) * (size_t)nr);
        }
}

/* dst[((r*npix + x)*nb + img)*w + i] = src[(img*K + k)*npix + x], k = r*w +
 * i, zero for k >= K or img >= n: rows of K in tiles of w, each pixel's
 * images in a run (xa: w = mr; gb: w = nr). */
static void to_runs(float *dst, const float *src, int n, int K, int Kpad, int w, int npix,
                    int nb)
{
    float t[XB * TILE_MAX];
    for (int r = 0; r < Kpad / w; r++)
        for (int x0 = 0; x0 < npix; x0 += XB) {
            const int xn = min_int(XB, npix - x0);
            for (int img = 0; img < nb; img++)
                for (int i = 0; i < w; i++) {
                    const int k = r * w + i;
                    const float *s = src + ((size_t)img * K + k) * npix + x0;
                    for (int x = 0; x < xn; x++)
                        t[(x * nb + img) * w + i] = img < n && k < K ? s[x] : 0.0f;
                }
            memcpy(dst + ((size_t)r * npix + x0) * nb * w, t,
                   sizeof(float) * (size_t)xn * nb * w);
        }
}

/* dst[(img*K + k)*npix + x] (add: +=) = src[((x*nbs + js)*M + k)*nr + j]
 * + bias[k] (bias NULL: 0; img = js*nr + j), max(., 0) with relu (NaN kept),
 * for images img < n: a block's results back into the layer's layout (y,
 * dx). */
static void from_rows(float *dst, const float *src, int n, int K, int M, int npix, int nb,
                      int nr, const float *bias, int relu, int add)
{
    const int nbs = nb / nr;
    float t[XB * TILE_MAX];
    for (int k = 0; k < K; k++) {
        const float b = bias ? bias[k] : 0.0f;
        for (int x0 = 0; x0 < npix; x0 += XB) {
            const int xn = min_int(XB, npix - x0);
            for (int x = 0; x < xn; x++)
                for (int js = 0; js < nbs; js++)
                    memcpy(t + x * nb + js * nr,
                           src + ((size_t)((x0 + x) * nbs + js) * M + k) * nr,
                           sizeof(float) * (size_t)nr);
            for (int img = 0; img < n; img++) {
                float *o = dst + ((size_t)img * K + k) * npix + x0;
                for (int x = 0; x < xn; x++) {
                    const float v = t[x * nb + img] + b;
                    o[x] = add ? o[x] + v : relu && v < 0.0f ? 0.0f : v; /* NaN kept */
                }
            }
        }
    }
}

/* The forward (backward 0: C_q += A_t B_p) or the input gradient (backward
 * 1: C_p += A_t B_q) summed over the taps of every output pixel q and input
 * pixel p = p(q, t) inside the image. A_t: packed [M/mr][K][mr] per tap; B
 * and C in the block layout, B's pixels ldk >= K channels apart (its rows
 * past K not read), C's M. The blocking of sgemm.c: K in blocks of kc, M in
 * blocks of mc. */
static void tap_products(const nt_ukernel *uk, int M, int K, const float *a, const float *b,
                         int ldk, float *c, int backward, const nt_pixel_conv *pc)
{
    const nt_conv2d_dims *d = pc->d;
    const int mr = uk->mr, nr = uk->nr, nb = pc->nb, nbs = nb / nr;
    const int ns = M / mr, sb = uk->mc / mr > 0 ? uk->mc / mr : 1;
    for (int t = 0; t < d->KH * d->KW; t++) {
        const tap_rect r = rect_of(d, t);
        const float *at = a + (size_t)t * M * K;
        for (int k0 = 0; k0 < K; k0 += uk->kc) {
            const int kc = min_int(uk->kc, K - k0);
            for (int s0 = 0; s0 < ns; s0 += sb)
                for (int oy = r.ylo; oy < r.yhi; oy++)
                    for (int ox = r.xlo; ox < r.xhi; ox++) {
                        const int q = oy * d->OW + ox, p = in_pixel(d, &r, oy, ox);
                        const int from = backward ? q : p, to = backward ? p : q;
                        for (int js = 0; js < nbs; js++) {
                            const float *bs = b + ((size_t)(from * nbs + js) * ldk + k0) * nr;
                            float *cs = c + (size_t)(to * nbs + js) * M * nr;
                            for (int s = s0; s < min_int(ns, s0 + sb); s++)
                                uk->run(kc, at + ((size_t)s * K + k0) * mr, bs, nr,
                                        cs + (size_t)s * mr * nr, nr, 1.0f, 1.0f);
                        }
                    }
        }
    }
}

/* The forward's epilogue in the block layout, in place: y[q][js][m][j] +=
 * bias[m] (NULL: 0), max(., 0) with relu (NaN kept), for m < M (from_rows'
 * bits). */
static void block_epilogue(float *y, int M, int npix, int nb, int nr, const float *bias,
                           int relu)
{
    for (int x = 0; x < npix * (nb / nr); x++)
        for (int m = 0; m < M; m++) {
            const float b = bias ? bias[m] : 0.0f;
            float *o = y + ((size_t)x * M + m) * nr;
            for (int j = 0; j < nr; j++) {
                const float v = o[j] + b;
                o[j] = relu && v < 0.0f ? 0.0f : v; /* NaN kept */
            }
        }
}

void nt_pixel_forward(float *out, const float *in, int n, const float *bias, int relu,
                      const nt_pixel_conv *pc, float *buf)
{
    const nt_conv2d_dims *d = pc->d;
    const int nb = pc->nb, nr = pc->fk->nr, Mf = rows_f(pc), P = d->OH * d->OW;
    const int hw = d->H * d->W;
    assert(!(pc->in_block || pc->out_block) || n == nb);
    assert(!pc->out_block || Mf == d->OC);
    const float *xs = in;
    float *y = pc->out_block ? out : buf + (size_t)nb * hw * d->C;
    if (!pc->in_block) {
        to_slivers(buf, in, n, d->C, hw, nb, nr);
        xs = buf;
    }
    memset(y, 0, sizeof(float) * (size_t)P * Mf * nb);
    tap_products(pc->fk, Mf, d->C, pc->af, xs, d->C, y, 0, pc);
    if (pc->out_block)
        block_epilogue(y, d->OC, P, nb, nr, bias, relu);
    else
        from_rows(out, y, n, d->OC, Mf, P, nb, nr, bias, relu, 0);
}

/* dst[((r*npix + x)*nb + img)*w + i] = src[((x*nbs + js)*K + k)*nr + j] for
 * img = js*nr + j, k = r*w + i, zero for k >= K: to_runs from the block
 * layout (xa, gb of a linked tensor), each [w][nr] piece transposed by the
 * micro-kernel's transpose (tr). */
static void runs_of_block(float *dst, const float *src, int K, int Kpad, int w, int npix,
                          int nb, int nr, nt_transpose_fn tr)
{
    const int nbs = nb / nr;
    for (int r = 0; r < Kpad / w; r++) {
        const int rows = min_int(w, K - r * w);
        for (int x = 0; x < npix; x++)
            for (int js = 0; js < nbs; js++) {
                float *o = dst + (((size_t)r * npix + x) * nb + js * nr) * w;
                if (rows < w) /* the rows past K */
                    memset(o, 0, sizeof(float) * (size_t)nr * w);
                tr(o, w, src + ((size_t)(x * nbs + js) * K + r * w) * nr, nr, rows, nr);
            }
    }
}

/* dwt[t][c][oc] += sum over q, img of xa(p(q, t), c, img) gb(q, oc, img):
 * for each tap, each tile of (mr channels, nr output channels) and each row
 * of output pixels, one micro-kernel call over the row's pixels and images
 * when the stride is 1 (they follow each other in xa and gb), else one per
 * pixel. Channels in blocks of mc so that their slivers of xa stay in L2
 * while a sliver of gb is read from L1. */
static void weight_products(float *dwt, const float *xa, const float *gb,
                            const nt_pixel_conv *pc)
{
    const nt_conv2d_dims *d = pc->d;
    const nt_ukernel *uk = pc->bk;
    const int mr = uk->mr, nr = uk->nr, nb = pc->nb, Mw = rows_b(pc), Nw = cols_w(pc);
    const int ns = Mw / mr, sb = uk->mc / mr > 0 ? uk->mc / mr : 1;
    const int hw = d->H * d->W, P = d->OH * d->OW;
    for (int t = 0; t < d->KH * d->KW; t++) {
        const tap_rect r = rect_of(d, t);
        if (r.xlo >= r.xhi)
            continue;
        const int run = d->SW == 1 ? r.xhi - r.xlo : 1;
        float *ct = dwt + (size_t)t * Mw * Nw;
        for (int s0 = 0; s0 < ns; s0 += sb)
            for (int jo = 0; jo < Nw / nr; jo++)
                for (int s = s0; s < min_int(ns, s0 + sb); s++) {
                    /* the next tile of dW^T, while this one runs */
                    const float *next = ct + (size_t)(s + 1) * mr * Nw + jo * nr;
                    for (int i = 0; i < mr && s + 1 < ns; i++) {
                        __builtin_prefetch(next + (size_t)i * Nw, 1);
                        __builtin_prefetch(next + (size_t)i * Nw + 16, 1);
                    }
                    for (int oy = r.ylo; oy < r.yhi; oy++)
                        for (int ox = r.xlo; ox < r.xhi; ox += run) {
                            const int q = oy * d->OW + ox, p = in_pixel(d, &r, oy, ox);
                            uk->run(run * nb, xa + ((size_t)s * hw + p) * nb * mr,
                                    gb + ((size_t)jo * P + q) * nb * nr, nr,
                                    ct + (size_t)s * mr * Nw + jo * nr, Nw, 1.0f, 1.0f);
                        }
                }
    }
}

void nt_pixel_backward(float *din, int overwrite, float *dwt, const float *dout,
                       const float *in, int n, const nt_pixel_conv *pc, float *buf)
{
    const nt_conv2d_dims *d = pc->d;
    const int nb = pc->nb, P = d->OH * d->OW, hw = d->H * d->W;
    const int Mb = rows_b(pc), Nw = cols_w(pc);
    const int nr = pc->bk->nr;
    float *xa = buf, *gs = xa + (size_t)nb * hw * Mb;
    float *gb = gs + (size_t)nb * P * d->OC, *dx = gb + (size_t)nb * P * Nw;
    assert(!(pc->in_block || pc->out_block) || n == nb);
    assert(!pc->in_block || Mb == d->C);
    if (pc->in_block)
        runs_of_block(xa, in, d->C, Mb, pc->bk->mr, hw, nb, nr, pc->bk->transpose);
    else
        to_runs(xa, in, n, d->C, Mb, pc->bk->mr, hw, nb);
    if (pc->out_block)
        runs_of_block(gb, dout, d->OC, Nw, nr, P, nb, nr, pc->bk->transpose);
    else
        to_runs(gb, dout, n, d->OC, Nw, nr, P, nb);
    weight_products(dwt, xa, gb, pc);
    if (!din)
        return;
    const float *g = dout;
    if (!pc->out_block) {
        to_slivers(gs, dout, n, d->OC, P, nb, nr);
        g = gs;
    }
    /* a linked input gradient (overwritten: its only writer) is summed in
     * place */
    assert(!pc->in_block || overwrite);
    float *dxo = pc->in_block ? din : dx;
    memset(dxo, 0, sizeof(float) * (size_t)hw * Mb * nb);
    tap_products(pc->bk, Mb, d->OC, pc->ab, g, d->OC, dxo, 1, pc);
    if (!pc->in_block)
        from_rows(din, dx, n, d->C, Mb, hw, nb, nr, NULL, 0, !overwrite);
}
