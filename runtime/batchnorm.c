/* batchnorm.c - batch normalisation (BatchNorm2d over [N, C, HW], BatchNorm1d
 * with HW = 1): training forward with batch statistics and running-statistics
 * update, eval forward with running statistics, and the training-mode
 * backward. It does not hold parameters or decide the mode: the generated
 * code passes gamma, beta and the running buffers and calls the right one.
 *
 * Statistics are computed per channel in double from the statistics of its
 * rows (one example's values of the channel): each row's sum and squared
 * deviations from its own mean, combined in example order
 * (nt_batchnorm_row_stats), so large offsets do not cancel. Every sum over a
 * channel runs in example order whatever the threads, so results are
 * bitwise identical for any thread count, and for both orders of work:
 *   - with nt_bn_dims.rows, the examples are streamed in memory order: one
 *     pass writes the rows' sums, then each channel combines its rows, then
 *     a pass normalises (the backward likewise). A conv can write the rows
 *     of its output as it goes, and then the forward only normalises;
 *   - without it, the channels are taken a block at a time, each block read
 *     from memory once and then from cache.
 * The loops along a row are bn_rows.c's (vectors of the CPU's ISA; the same
 * bits on every ISA).
 *
 * n = N * HW values per channel. PyTorch rejects training with n == 1; here
 * that is an assertion (debug builds). In a release build n == 1 gives
 * out = beta, and running_var is updated with the biased variance (0) since
 * the unbiased one is undefined. The trainer never calls it with n == 1.
 *
 * Synchronised batch norm (nt_batchnorm_set_reduce, used by data-parallel
 * trainers) runs the same per-channel arithmetic in three passes over all
 * channels instead of one per block, with the sums reduced over the
 * processes in between; without a reduction the one-pass path is used, so
 * single-process results do not change. */
#include "bn_rows.h"
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

/* Below this many elements the fork/join costs more than it saves. */
#define BN_PAR_MIN 16384

/* Channels are processed in blocks, one block per work item. A block holds
 * N * cb * HW floats with cb chosen so that it stays in cache for the two or
 * three passes over it (about 128 KB), and at most BN_CB_MAX channels (the
 * per-channel temporaries live on the stack). With large HW a block is one
 * channel; with small HW (BatchNorm1d, 1x1 maps) it is many neighbouring
 * channels, so each row read is contiguous instead of one float per cache
 * line. The arithmetic of each channel is the same whatever the block size
 * (which depends on the thread count), so results do not. */
#define BN_BLOCK_FLOATS 32768
#define BN_CB_MAX 64

static int bn_threads(const nt_bn_dims *d)
{
    size_t n = (size_t)d->N * (size_t)d->C * (size_t)d->HW;
    return n >= BN_PAR_MIN ? nt_num_threads() : 1;
}

/* Channels per block for nth threads: small enough that there are about
 * four blocks per thread to balance the load. */
static int bn_block(const nt_bn_dims *d, int nth)
{
    size_t cb = BN_BLOCK_FLOATS / ((size_t)d->N * (size_t)d->HW);
    size_t balanced = (size_t)d->C / (4 * (size_t)nth);
    if (nth > 1 && cb > balanced)
        cb = balanced;
    if (cb < 1)
        cb = 1;
    if (cb > BN_CB_MAX)
        cb = BN_CB_MAX;
    return (int)cb;
}

/* ---- synchronised batch norm (nt_batchnorm_set_reduce) ------------------------ */

static nt_bn_reduce_fn bn_reduce;   /* NULL: the batch is this process's */
static double *sync_sums;           /* [2 * sync_channels + 1] */
static int sync_channels;

int nt_batchnorm_set_reduce(nt_bn_reduce_fn reduce, int max_channels)
{
    double *p = NULL;
    if (reduce && !(p = malloc(((size_t)2 * (size_t)max_channels + 1) * sizeof *p)))
        return -1;
    free(sync_sums);
    sync_sums = p;
    sync_channels = reduce ? max_channels : 0;
    bn_reduce = reduce;
    return 0;
}

/* ---- the pieces of one block of channels [c0, c0 + nc) ------------------------- */

/* One value per channel and example (batch norm after a linear layer,
 * HW == 1): the block functions below then run along the channels of an
 * example, which are contiguous, instead of calling a loop of length one per
 * value. Each channel's sum still runs over the examples in order, in
 * double: the same bits. */

/* A row's part of its channel's sum of squared deviations from the channel's
 * mean m: its own (q, about its mean s / HW) plus HW times the square of
 * the distance between the two means. With HW == 1 (q = 0) this is
 * (x - m)^2, bit for bit. */
static double row_m2(double s, double q, int HW, double m)
{
    const double dm = s / HW - m;
    return q + HW * dm * dm;
}

void nt_batchnorm_row_stats(double *rows, const float *in, int C, int HW)
{
    const nt_bn_rows *r = nt_bn_rows_get();
    for (int c = 0; c < C; c++) {
        const float *x = in + (size_t)c * HW;
        const double s = r->sum(x, HW);
        rows[2 * c] = s;
        rows[2 * c + 1] = r->sumsq_dev(x, HW, s / HW);
    }
}

/* The channels' sums; with d->rows, each row's statistics are kept there
 * for block_sumsq (nt_batchnorm_row_stats, whose sums are rows->sum's). */
static void block_sum(double *s, const float *in, const nt_bn_dims *d, int c0, int nc)
{
    if (d->HW == 1) {
        for (int n = 0; n < d->N; n++) {
            const float *x = in + (size_t)n * d->C + c0;
            for (int j = 0; j < nc; j++)
                s[j] += x[j];
        }
        return;
    }
    const nt_bn_rows *rows = nt_bn_rows_get();
    for (int n = 0; n < d->N; n++) {
        const float *x = in + ((size_t)n * d->C + c0) * d->HW;
        if (d->rows) {
            double *st = d->rows + ((size_t)n * d->C + c0) * 2;
            nt_batchnorm_row_stats(st, x, nc, d->HW);
            for (int j = 0; j < nc; j++)
                s[j] += st[2 * j];
        } else {
            for (int j = 0; j < nc; j++)
                s[j] += rows->sum(x + (size_t)j * d->HW, d->HW);
        }
    }
}

/* the sums of squared deviations from the channels' means m, from the rows'
 * statistics block_sum kept in d->rows, or recomputed (the same bits) */
static void block_sumsq(double *ss, const double *m, const float *in, const nt_bn_dims *d,
                        int c0, int nc)
{
    if (d->HW == 1) {
        for (int n = 0; n < d->N; n++) {
            const float *x = in + (size_t)n * d->C + c0;
            for (int j = 0; j < nc; j++)
                ss[j] += row_m2(x[j], 0.0, 1, m[j]);
        }
        return;
    }
    for (int n = 0; n < d->N; n++) {
        double buf[2 * BN_CB_MAX], *st = buf;
        if (d->rows)
            st = d->rows + ((size_t)n * d->C + c0) * 2;
        else
            nt_batchnorm_row_stats(st, in + ((size_t)n * d->C + c0) * d->HW, nc, d->HW);
        for (int j = 0; j < nc; j++)
            ss[j] += row_m2(st[2 * j], st[2 * j + 1], d->HW, m[j]);
    }
}

/* Channel c's batch statistics from its mean m and sum of squared deviations
 * ss over cnt values: the mean as a float in *mf, returns gamma * invstd;
 * store: also saves mean and invstd and updates the running statistics. */
static float channel_stats(int c, double m, double ss, double cnt, float *mf, int store,
                           float *mean, float *invstd, float *running_mean,
                           float *running_var, const float *gamma, const nt_bn_dims *d)
{
    const double mom = d->momentum;
    const double var = ss / cnt;
    const double is = 1.0 / sqrt(var + d->eps);
    const double unbiased = cnt > 1 ? ss / (cnt - 1) : var;
    *mf = (float)m;
    if (store) {
        mean[c] = (float)m;
        invstd[c] = (float)is;
        running_mean[c] = (float)(mom * m + (1 - mom) * running_mean[c]);
        running_var[c] = (float)(mom * unbiased + (1 - mom) * running_var[c]);
    }
    return (float)(gamma[c] * is);
}

/* mean and scale: the block's own [nc] */
static void block_normalise(float *out, const float *in, const float *mean,
                            const float *scale, const float *beta, const nt_bn_dims *d,
                            int c0, int nc)
{
    if (d->HW == 1) {
        for (int n = 0; n < d->N; n++) {
            const size_t off = (size_t)n * d->C + c0;
            for (int j = 0; j < nc; j++)
                out[off + j] = (in[off + j] - mean[j]) * scale[j] + beta[c0 + j];
            nt_act_apply(d->act, out + off, (size_t)nc);
        }
        return;
    }
    const nt_bn_rows *rows = nt_bn_rows_get();
    for (int n = 0; n < d->N; n++)
        for (int j = 0; j < nc; j++) {
            const size_t off = ((size_t)n * d->C + c0 + j) * d->HW;
            rows->normalise(out + off, in + off, d->HW, mean[j], scale[j], beta[c0 + j]);
            nt_act_apply(d->act, out + off, (size_t)d->HW);
        }
}

/* Training forward with statistics over every process's part of the batch:
 * the same arithmetic per channel, with two reductions in between. */
static void forward_train_synced(float *out, float *mean, float *invstd,
                                 float *running_mean, float *running_var, const float *in,
                                 const float *gamma, const float *beta,
                                 const nt_bn_dims *d, int nth, int cb)
{
    const int C = d->C, nblocks = (C + cb - 1) / cb;
    assert(C <= sync_channels);
    double *s = sync_sums, *ss = sync_sums + C + 1;
    for (int c = 0; c < 2 * C + 1; c++)
        s[c] = 0;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb;
        block_sum(s + c0, in, d, c0, C - c0 < cb ? C - c0 : cb);
    }
    s[C] = (double)d->N * d->HW;
    bn_reduce(s, C + 1);
    const double cnt = s[C];
    assert(cnt > 1); /* PyTorch: "Expected more than 1 value per channel" */
    for (int c = 0; c < C; c++)
        s[c] /= cnt;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb;
        block_sumsq(ss + c0, s + c0, in, d, c0, C - c0 < cb ? C - c0 : cb);
    }
    bn_reduce(ss, C);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        float mf[BN_CB_MAX], scale[BN_CB_MAX];
        for (int j = 0; j < nc; j++)
            scale[j] = channel_stats(c0 + j, s[c0 + j], ss[c0 + j], cnt, &mf[j], 1, mean,
                                     invstd, running_mean, running_var, gamma, d);
        block_normalise(out, in, mf, scale, beta, d, c0, nc);
    }
}

/* ---- streaming through the examples (nt_bn_dims.rows) ------------------------------ */

/* Rows shorter than this go faster a block of channels at a time. */
#define BN_STREAM_MIN_HW 16

int nt_batchnorm_takes_rows(int HW)
{
    return HW >= BN_STREAM_MIN_HW && !bn_reduce;
}

static int streams(const nt_bn_dims *d)
{
    return d->rows && nt_batchnorm_takes_rows(d->HW);
}

/* the rows' [N][C][2] channel c, entry k */
static double row_at(const nt_bn_dims *d, int n, int c, int k)
{
    return d->rows[((size_t)n * d->C + c) * 2 + k];
}

/* Returns 0 when the per-channel temporaries cannot be had (the caller then
 * takes the blocks: the same bits). */
static int forward_train_rows(float *out, float *mean, float *invstd, float *running_mean,
                              float *running_var, const float *in, const float *gamma,
                              const float *beta, const nt_bn_dims *d, int nth)
{
    const int N = d->N, C = d->C, HW = d->HW;
    const double cnt = (double)N * HW;
    const size_t img = (size_t)C * HW;
    float *mf = malloc(2 * (size_t)C * sizeof *mf), *scale = mf + C;
    if (!mf)
        return 0;
    const nt_bn_rows *rows = nt_bn_rows_get();
#pragma omp parallel num_threads(nth)
    {
        if (!d->rows_ready) {
#pragma omp for schedule(static)
            for (int n = 0; n < N; n++)
                nt_batchnorm_row_stats(d->rows + (size_t)n * 2 * C, in + n * img, C, HW);
        }
#pragma omp for schedule(static)
        for (int c = 0; c < C; c++) {
            double s = 0, ss = 0;
            for (int n = 0; n < N; n++)
                s += row_at(d, n, c, 0);
            const double m = s / cnt;
            for (int n = 0; n < N; n++)
                ss += row_m2(row_at(d, n, c, 0), row_at(d, n, c, 1), HW, m);
            scale[c] = channel_stats(c, m, ss, cnt, &mf[c], 1, mean, invstd, running_mean,
                                     running_var, gamma, d);
        }
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                const size_t off = n * img + (size_t)c * HW;
                rows->normalise(out + off, in + off, HW, mf[c], scale[c], beta[c]);
                nt_act_apply(d->act, out + off, (size_t)HW);
            }
    }
    free(mf);
    return 1;
}

void nt_batchnorm_forward_train(float *out, float *mean, float *invstd,
                                float *running_mean, float *running_var,
                                const float *in, const float *gamma,
                                const float *beta, const nt_bn_dims *d)
{
    const int N = d->N, C = d->C, HW = d->HW;
    const double cnt = (double)N * HW;
    assert(N > 0 && C > 0 && HW > 0);
    assert(d->eps > 0);
    const int nth = bn_threads(d), cb = bn_block(d, nth);
    const int nblocks = (C + cb - 1) / cb;
    if (bn_reduce) {
        forward_train_synced(out, mean, invstd, running_mean, running_var, in, gamma, beta,
                             d, nth, cb);
        return;
    }
    assert(cnt > 1); /* PyTorch: "Expected more than 1 value per channel" */
    if (streams(d) && forward_train_rows(out, mean, invstd, running_mean, running_var, in,
                                         gamma, beta, d, nth))
        return;

#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        double s[BN_CB_MAX] = {0}, ss[BN_CB_MAX] = {0}, m[BN_CB_MAX];
        float mf[BN_CB_MAX], scale[BN_CB_MAX];
        block_sum(s, in, d, c0, nc);
        for (int j = 0; j < nc; j++)
            m[j] = s[j] / cnt;
        block_sumsq(ss, m, in, d, c0, nc);
        for (int j = 0; j < nc; j++)
            scale[j] = channel_stats(c0 + j, m[j], ss[j], cnt, &mf[j], 1, mean, invstd,
                                     running_mean, running_var, gamma, d);
        block_normalise(out, in, mf, scale, beta, d, c0, nc);
    }
}

void nt_batchnorm_forward_eval(float *out, const float *in, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, const nt_bn_dims *d)
{
    const int N = d->N, C = d->C, HW = d->HW;
    assert(N > 0 && C > 0 && HW > 0);
    const int nth = bn_threads(d), cb = bn_block(d, nth);
    const int nblocks = (C + cb - 1) / cb;
    const nt_bn_rows *rows = nt_bn_rows_get();

#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        float scale[BN_CB_MAX];
        for (int j = 0; j < nc; j++)
            scale[j] = (float)(gamma[c0 + j] /
                               sqrt((double)running_var[c0 + j] + d->eps));
        for (int n = 0; n < N; n++)
            for (int j = 0; j < nc; j++) {
                const size_t off = ((size_t)n * C + c0 + j) * HW;
                rows->normalise(out + off, in + off, HW, running_mean[c0 + j], scale[j],
                                beta[c0 + j]);
                nt_act_apply(d->act, out + off, (size_t)HW);
            }
    }
}

/* With xhat = (x - mean) * invstd and y = gamma * xhat + beta:
 *   dbeta  = sum dy
 *   dgamma = sum dy * xhat
 *   dx     = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
 * The last two terms are the gradient through the batch mean and variance.
 * sdy and sdyx below are sum dy and sum dy * (x - mean). */

static void block_sums_dy(double *sdy, double *sdyx, const float *dout, const float *in,
                          const float *mean, const nt_bn_dims *d, int c0, int nc)
{
    if (d->HW == 1) {
        for (int n = 0; n < d->N; n++) {
            const float *dy = dout + (size_t)n * d->C + c0, *x = in + (size_t)n * d->C + c0;
            for (int j = 0; j < nc; j++) {
                sdy[j] += dy[j];
                sdyx[j] += (double)dy[j] * (x[j] - mean[c0 + j]);
            }
        }
        return;
    }
    const nt_bn_rows *rows = nt_bn_rows_get();
    for (int n = 0; n < d->N; n++)
        for (int j = 0; j < nc; j++) {
            const size_t off = ((size_t)n * d->C + c0 + j) * d->HW;
            rows->sums_dy(&sdy[j], &sdyx[j], dout + off, in + off, d->HW, mean[c0 + j]);
        }
}

static void block_dparams(float *dgamma, float *dbeta, const double *sdy,
                          const double *sdyx, const float *invstd, int c0, int nc)
{
    for (int j = 0; j < nc; j++) {
        dbeta[c0 + j] += (float)sdy[j];
        dgamma[c0 + j] += (float)(sdyx[j] * invstd[c0 + j]);
    }
}

/* channel c's din = k * (dy - a - (x - mean) * b) */
static void din_coefs(float *k, float *a, float *b, int c, const float *gamma,
                      const float *invstd, double sdy, double sdyx, double cnt)
{
    const double is = invstd[c];
    *k = gamma[c] * invstd[c];
    *a = (float)(sdy / cnt);
    *b = (float)(sdyx * is * is / cnt);
}

/* din (+)= gamma * invstd * (dy - sdy / cnt - (x - mean) * sdyx * invstd^2 / cnt);
 * acc: din += ..., else din = ... (its old contents are never read) */
static void block_din(float *din, const float *dout, const float *in, const float *gamma,
                      const float *mean, const float *invstd, const double *sdy,
                      const double *sdyx, double cnt, const nt_bn_dims *d, int c0, int nc,
                      int acc)
{
    float k[BN_CB_MAX], a[BN_CB_MAX], b[BN_CB_MAX];
    for (int j = 0; j < nc; j++)
        din_coefs(&k[j], &a[j], &b[j], c0 + j, gamma, invstd, sdy[j], sdyx[j], cnt);
    if (d->HW == 1) {
        for (int n = 0; n < d->N; n++) {
            const size_t off = (size_t)n * d->C + c0;
            for (int j = 0; j < nc; j++) {
                const float v = k[j] * (dout[off + j] - a[j] - (in[off + j] - mean[c0 + j]) * b[j]);
                din[off + j] = acc ? din[off + j] + v : v;
            }
        }
        return;
    }
    const nt_bn_rows *rows = nt_bn_rows_get();
    for (int n = 0; n < d->N; n++)
        for (int j = 0; j < nc; j++) {
            const size_t off = ((size_t)n * d->C + c0 + j) * d->HW;
            rows->din(din + off, dout + off, in + off, d->HW, k[j], a[j], mean[c0 + j], b[j],
                      acc);
        }
}

/* Backward with the sums din needs reduced over every process. */
static void backward_synced(float *din, float *dgamma, float *dbeta, const float *dout,
                            const float *in, const float *gamma, const float *mean,
                            const float *invstd, const nt_bn_dims *d, int nth, int cb, int acc)
{
    const int C = d->C, nblocks = (C + cb - 1) / cb;
    assert(C <= sync_channels);
    double *sdy = sync_sums, *sdyx = sync_sums + C;
    for (int c = 0; c < 2 * C + 1; c++)
        sdy[c] = 0;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        block_sums_dy(sdy + c0, sdyx + c0, dout, in, mean, d, c0, nc);
        block_dparams(dgamma, dbeta, sdy + c0, sdyx + c0, invstd, c0, nc);
    }
    if (!din)
        return;
    sdy[2 * C] = (double)d->N * d->HW;
    bn_reduce(sdy, 2 * C + 1);
    const double cnt = sdy[2 * C];
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        block_din(din, dout, in, gamma, mean, invstd, sdy + c0, sdyx + c0, cnt, d, c0, nc,
                  acc);
    }
}

/* The backward streaming through the examples, the rows holding each row's
 * sum dy and sum dy * (x - mean); 0 as forward_train_rows. */
static int backward_rows(float *din, float *dgamma, float *dbeta, const float *dout,
                         const float *in, const float *gamma, const float *mean,
                         const float *invstd, const nt_bn_dims *d, int nth, int acc)
{
    const int N = d->N, C = d->C, HW = d->HW;
    const double cnt = (double)N * HW;
    const size_t img = (size_t)C * HW;
    float *k = malloc(3 * (size_t)C * sizeof *k), *a = k + C, *b = a + C;
    if (!k)
        return 0;
    const nt_bn_rows *rows = nt_bn_rows_get();
#pragma omp parallel num_threads(nth)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                const size_t off = n * img + (size_t)c * HW;
                double *r = d->rows + ((size_t)n * C + c) * 2;
                r[0] = r[1] = 0;
                rows->sums_dy(&r[0], &r[1], dout + off, in + off, HW, mean[c]);
            }
#pragma omp for schedule(static)
        for (int c = 0; c < C; c++) {
            double sdy = 0, sdyx = 0;
            for (int n = 0; n < N; n++) {
                sdy += row_at(d, n, c, 0);
                sdyx += row_at(d, n, c, 1);
            }
            block_dparams(dgamma, dbeta, &sdy, &sdyx, invstd, c, 1);
            din_coefs(&k[c], &a[c], &b[c], c, gamma, invstd, sdy, sdyx, cnt);
        }
        if (din) {
#pragma omp for schedule(static)
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++) {
                    const size_t off = n * img + (size_t)c * HW;
                    rows->din(din + off, dout + off, in + off, HW, k[c], a[c], mean[c], b[c],
                              acc);
                }
        }
    }
    free(k);
    return 1;
}

static void batchnorm_backward(float *din, float *dgamma, float *dbeta,
                               const float *dout, const float *in,
                               const float *gamma, const float *mean,
                               const float *invstd, const nt_bn_dims *d, int acc)
{
    const int N = d->N, C = d->C, HW = d->HW;
    const double cnt = (double)N * HW;
    assert(N > 0 && C > 0 && HW > 0);
    const int nth = bn_threads(d), cb = bn_block(d, nth);
    const int nblocks = (C + cb - 1) / cb;
    if (bn_reduce) {
        backward_synced(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, nth, cb, acc);
        return;
    }
    if (streams(d) &&
        backward_rows(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, nth, acc))
        return;

#pragma omp parallel for num_threads(nth) schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        const int c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        double sdy[BN_CB_MAX] = {0}, sdyx[BN_CB_MAX] = {0};
        block_sums_dy(sdy, sdyx, dout, in, mean, d, c0, nc);
        block_dparams(dgamma, dbeta, sdy, sdyx, invstd, c0, nc);
        if (din)
            block_din(din, dout, in, gamma, mean, invstd, sdy, sdyx, cnt, d, c0, nc, acc);
    }
}

void nt_batchnorm_backward(float *din, float *dgamma, float *dbeta,
                           const float *dout, const float *in,
                           const float *gamma, const float *mean,
                           const float *invstd, const nt_bn_dims *d)
{
    batchnorm_backward(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, 1);
}

void nt_batchnorm_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                     const float *dout, const float *in,
                                     const float *gamma, const float *mean,
                                     const float *invstd, const nt_bn_dims *d)
{
    batchnorm_backward(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, 0);
}

/* ---- on shares of a batch (nt_bn_share) ------------------------------------------ *
 * A share's slot of sh.sums holds [0, C) its sums per channel, [C] its count
 * of values and [C + 1, 2C + 1) its second sums; slot `size` is the team's
 * total when the sums are also reduced over processes. */

static double *share_slot(const nt_bn_share *sh, int C, int k)
{
    return sh->sums + (size_t)k * NT_BN_SHARE_DOUBLES(C);
}

/* t[0, n) = the shares' entries [j0, j0 + n) added in rank order */
static void add_slots(double *t, const nt_bn_share *sh, int C, int j0, int n)
{
    for (int j = 0; j < n; j++)
        t[j] = 0;
    for (int k = 0; k < sh->size; k++) {
        const double *v = share_slot(sh, C, k) + j0;
        for (int j = 0; j < n; j++)
            t[j] += v[j];
    }
}

/* Every share has written its slot's [j0, j0 + n): wait for the team. With
 * a reduction over processes, rank 0 then adds the team's entries into slot
 * `size` and reduces them there, and the team waits for that. */
static void share_sync(const nt_bn_share *sh, int C, int j0, int n)
{
    if (sh->size > 1) {
#pragma omp barrier
    }
    if (!bn_reduce)
        return;
    if (sh->rank == 0) {
        double *all = share_slot(sh, C, sh->size) + j0;
        add_slots(all, sh, C, j0, n);
        bn_reduce(all, n);
    }
    if (sh->size > 1) {
#pragma omp barrier
    }
}

/* The totals of entries [j0, j0 + n) after share_sync: the shares' in rank
 * order (or the reduced ones) */
static void share_totals(double *t, const nt_bn_share *sh, int C, int j0, int n)
{
    if (bn_reduce) {
        const double *all = share_slot(sh, C, sh->size);
        for (int j = 0; j < n; j++)
            t[j] = all[j0 + j];
        return;
    }
    add_slots(t, sh, C, j0, n);
}

void nt_batchnorm_share_forward_train(float *out, float *mean, float *invstd,
                                      float *running_mean, float *running_var,
                                      const float *in, const float *gamma,
                                      const float *beta, const nt_bn_dims *d,
                                      nt_bn_share sh)
{
    const int C = d->C;
    assert(d->N > 0 && C > 0 && d->HW > 0 && d->eps > 0);
    assert(sh.size >= 1 && sh.rank >= 0 && sh.rank < sh.size);
    double *mine = share_slot(&sh, C, sh.rank);
    for (int c0 = 0; c0 < C; c0 += BN_CB_MAX) {
        const int nc = C - c0 < BN_CB_MAX ? C - c0 : BN_CB_MAX;
        double s[BN_CB_MAX] = {0};
        block_sum(s, in, d, c0, nc);
        for (int j = 0; j < nc; j++)
            mine[c0 + j] = s[j];
    }
    mine[C] = (double)d->N * d->HW;
    share_sync(&sh, C, 0, C + 1);
    double cnt;
    share_totals(&cnt, &sh, C, C, 1);
    assert(cnt > 1); /* PyTorch: "Expected more than 1 value per channel" */
    for (int c0 = 0; c0 < C; c0 += BN_CB_MAX) {
        const int nc = C - c0 < BN_CB_MAX ? C - c0 : BN_CB_MAX;
        double m[BN_CB_MAX], ss[BN_CB_MAX] = {0};
        share_totals(m, &sh, C, c0, nc);
        for (int j = 0; j < nc; j++)
            m[j] /= cnt;
        block_sumsq(ss, m, in, d, c0, nc);
        for (int j = 0; j < nc; j++)
            mine[C + 1 + c0 + j] = ss[j];
    }
    share_sync(&sh, C, C + 1, C);
    for (int c0 = 0; c0 < C; c0 += BN_CB_MAX) {
        const int nc = C - c0 < BN_CB_MAX ? C - c0 : BN_CB_MAX;
        double m[BN_CB_MAX], ss[BN_CB_MAX];
        float mf[BN_CB_MAX], scale[BN_CB_MAX];
        share_totals(m, &sh, C, c0, nc);
        share_totals(ss, &sh, C, C + 1 + c0, nc);
        for (int j = 0; j < nc; j++)
            scale[j] = channel_stats(c0 + j, m[j] / cnt, ss[j], cnt, &mf[j], sh.rank == 0,
                                     mean, invstd, running_mean, running_var, gamma, d);
        block_normalise(out, in, mf, scale, beta, d, c0, nc);
    }
}

static void backward_share(float *din, float *dgamma, float *dbeta, const float *dout,
                           const float *in, const float *gamma, const float *mean,
                           const float *invstd, const nt_bn_dims *d, nt_bn_share sh, int acc)
{
    const int C = d->C;
    assert(d->N > 0 && C > 0 && d->HW > 0);
    assert(sh.size >= 1 && sh.rank >= 0 && sh.rank < sh.size);
    double *mine = share_slot(&sh, C, sh.rank);
    for (int c0 = 0; c0 < C; c0 += BN_CB_MAX) {
        const int nc = C - c0 < BN_CB_MAX ? C - c0 : BN_CB_MAX;
        double sdy[BN_CB_MAX] = {0}, sdyx[BN_CB_MAX] = {0};
        block_sums_dy(sdy, sdyx, dout, in, mean, d, c0, nc);
        block_dparams(dgamma, dbeta, sdy, sdyx, invstd, c0, nc);
        for (int j = 0; j < nc; j++) {
            mine[c0 + j] = sdy[j];
            mine[C + 1 + c0 + j] = sdyx[j];
        }
    }
    mine[C] = (double)d->N * d->HW;
    /* every share waits, with din or without: the team's calls must match */
    share_sync(&sh, C, 0, 2 * C + 1);
    if (!din)
        return;
    double cnt;
    share_totals(&cnt, &sh, C, C, 1);
    for (int c0 = 0; c0 < C; c0 += BN_CB_MAX) {
        const int nc = C - c0 < BN_CB_MAX ? C - c0 : BN_CB_MAX;
        double sdy[BN_CB_MAX], sdyx[BN_CB_MAX];
        share_totals(sdy, &sh, C, c0, nc);
        share_totals(sdyx, &sh, C, C + 1 + c0, nc);
        block_din(din, dout, in, gamma, mean, invstd, sdy, sdyx, cnt, d, c0, nc, acc);
    }
}

void nt_batchnorm_share_backward(float *din, float *dgamma, float *dbeta,
                                 const float *dout, const float *in, const float *gamma,
                                 const float *mean, const float *invstd,
                                 const nt_bn_dims *d, nt_bn_share sh)
{
    backward_share(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, sh, 1);
}

void nt_batchnorm_share_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                           const float *dout, const float *in,
                                           const float *gamma, const float *mean,
                                           const float *invstd, const nt_bn_dims *d,
                                           nt_bn_share sh)
{
    backward_share(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, sh, 0);
}
