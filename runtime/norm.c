/* norm.c - group normalisation (nn.GroupNorm), forward and backward, which
 * with one group of per-element channels is also layer normalisation
 * (nn.LayerNorm over C x H x W or over features). Statistics are per example
 * (and group), so training and evaluation compute the same thing and there
 * are no running statistics. Sums are taken in double.
 *
 * Parallel over the N*G groups (forward, input gradient) and over the C
 * channels (weight and bias gradients): each output element is written by
 * one thread in a fixed order, so results do not depend on the thread
 * count. */
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>

/* Below this many elements a parallel region costs more than it saves. */
#define PAR_MIN 32768

static int threads_for(const nt_norm_dims *d)
{
    return (size_t)d->N * d->C * d->HW >= PAR_MIN ? nt_num_threads() : 1;
}

static void check_dims(const nt_norm_dims *d)
{
    assert(d->N >= 0 && d->G > 0 && d->C > 0 && d->HW > 0 && d->C % d->G == 0);
    assert(d->eps >= 0);
    (void)d;
}

void nt_groupnorm_forward(float *out, float *mean, float *invstd, const float *in,
                          const float *gamma, const float *beta, const nt_norm_dims *d)
{
    check_dims(d);
    const int cg = d->C / d->G, groups = d->N * d->G;
    const size_t len = (size_t)cg * d->HW; /* elements of one group */
#pragma omp parallel for schedule(static) num_threads(threads_for(d))
    for (int q = 0; q < groups; q++) {
        const float *x = in + (size_t)q * len;
        float *y = out + (size_t)q * len;
        double s = 0, ss = 0;
        for (size_t i = 0; i < len; i++)
            s += x[i];
        const double mu = s / (double)len;
        for (size_t i = 0; i < len; i++)
            ss += (x[i] - mu) * (x[i] - mu);
        const double is = 1.0 / sqrt(ss / (double)len + d->eps);
        mean[q] = (float)mu;
        invstd[q] = (float)is;
        const int c0 = (q % d->G) * cg;
        for (int c = 0; c < cg; c++) {
            const double g = gamma[c0 + c], b = beta[c0 + c];
            for (int k = 0; k < d->HW; k++) {
                size_t i = (size_t)c * d->HW + k;
                y[i] = (float)((x[i] - mu) * is * g + b);
            }
        }
    }
}

/* acc: din += ..., else din = 0 + ... (din is never read) */
static void groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                               const float *in, const float *gamma, const float *mean,
                               const float *invstd, const nt_norm_dims *d, int acc)
{
    check_dims(d);
    const int cg = d->C / d->G, groups = d->N * d->G;
    const size_t len = (size_t)cg * d->HW;
    const int nth = threads_for(d);
    /* weight and bias: per channel, over the batch */
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int c = 0; c < d->C; c++) {
        double sg = 0, sb = 0;
        for (int n = 0; n < d->N; n++) {
            const int q = n * d->G + c / cg;
            const size_t at = ((size_t)n * d->C + c) * d->HW;
            for (int k = 0; k < d->HW; k++) {
                double xhat = (in[at + k] - (double)mean[q]) * invstd[q];
                sg += dout[at + k] * xhat;
                sb += dout[at + k];
            }
        }
        dgamma[c] += (float)sg;
        dbeta[c] += (float)sb;
    }
    if (!din)
        return;
    /* din = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
     * dxhat = dout * gamma, means over the group */
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int q = 0; q < groups; q++) {
        const size_t base = (size_t)q * len;
        const int c0 = (q % d->G) * cg;
        const double mu = mean[q], is = invstd[q];
        double s1 = 0, s2 = 0;
        for (int c = 0; c < cg; c++)
            for (int k = 0; k < d->HW; k++) {
                size_t i = base + (size_t)c * d->HW + k;
                double dxh = (double)dout[i] * gamma[c0 + c];
                s1 += dxh;
                s2 += dxh * (in[i] - mu) * is;
            }
        s1 /= (double)len;
        s2 /= (double)len;
        for (int c = 0; c < cg; c++)
            for (int k = 0; k < d->HW; k++) {
                size_t i = base + (size_t)c * d->HW + k;
                double dxh = (double)dout[i] * gamma[c0 + c];
                din[i] = (acc ? din[i] : 0.0f) +
                         (float)(is * (dxh - s1 - (in[i] - mu) * is * s2));
            }
    }
}

void nt_groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                           const float *in, const float *gamma, const float *mean,
                           const float *invstd, const nt_norm_dims *d)
{
    groupnorm_backward(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, 1);
}

void nt_groupnorm_backward_overwrite(float *din, float *dgamma, float *dbeta,
                                     const float *dout, const float *in, const float *gamma,
                                     const float *mean, const float *invstd,
                                     const nt_norm_dims *d)
{
    groupnorm_backward(din, dgamma, dbeta, dout, in, gamma, mean, invstd, d, 0);
}
