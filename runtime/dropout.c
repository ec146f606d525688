/* dropout.c - inverted dropout for training: out = in * mask / (1 - p). The
 * mask bit for element i comes from nt_hash_uniform(key, i), so it is the
 * same whatever thread computes it and however the loop is split. Eval mode
 * is the identity and never reaches this file. */
#include "nt_kernels.h"

#include <assert.h>

/* The hash costs a few dozen cycles per element: fork above this size. */
#define DROPOUT_PAR_MIN ((size_t)1 << 14)

static int threads_for(size_t n)
{
    return n >= DROPOUT_PAR_MIN ? nt_num_threads() : 1;
}

void nt_dropout_forward(float *out, uint8_t *mask, const float *in, size_t n,
                        float p, uint64_t key)
{
    assert(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
        for (size_t i = 0; i < n; i++) {
            out[i] = in[i];
            mask[i] = 1;
        }
        return;
    }
    /* a single-precision factor, as PyTorch multiplies by */
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const uint8_t keep = nt_hash_uniform(key, i) >= p;
        const float v = in[i] * scale; /* unconditional: no branch */
        mask[i] = keep;
        out[i] = keep ? v : 0.0f;
    }
}

/* acc: din += ..., else din = 0 + ... (as memset then +=; din is never
 * read) */
static void dropout_backward(float *din, const float *dout, const uint8_t *mask, size_t n,
                             float p, int acc)
{
    assert(p >= 0.0f && p < 1.0f);
    const float scale = 1.0f / (1.0f - p);
    /* grad * mask * scale, as PyTorch's dropout backward */
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
    for (size_t i = 0; i < n; i++)
        din[i] = (acc ? din[i] : 0.0f) + dout[i] * (float)mask[i] * scale;
}

void nt_dropout_backward(float *din, const float *dout, const uint8_t *mask,
                         size_t n, float p)
{
    dropout_backward(din, dout, mask, n, p, 1);
}

void nt_dropout_backward_overwrite(float *din, const float *dout, const uint8_t *mask,
                                   size_t n, float p)
{
    dropout_backward(din, dout, mask, n, p, 0);
}
