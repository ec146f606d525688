/* tensor_ops.c - the two ways branches join: channel concatenation of
 * [N, c_i, HW] tensors and elementwise addition (residual connections).
 * Backward accumulates; the _overwrite twins write (copy) instead.
 * No broadcasting: the compiler has already checked that shapes agree. */
#include "nt_kernels.h"

#include <assert.h>
#include <string.h>

/* Copies and adds are memory bound: fork only for large tensors. */
#define OPS_PAR_MIN ((size_t)1 << 16)

static int threads_for(size_t n)
{
    return n >= OPS_PAR_MIN ? nt_num_threads() : 1;
}

static int total_channels(const int *channels, int nin)
{
    int ctot = 0;
    for (int i = 0; i < nin; i++) {
        assert(channels[i] > 0);
        ctot += channels[i];
    }
    return ctot;
}

void nt_concat_forward(float *out, const float *const *ins, const int *channels,
                       int nin, int N, int HW)
{
    assert(nin > 0 && N > 0 && HW > 0);
    const int ctot = total_channels(channels, nin);
    const size_t total = (size_t)N * ctot * HW;
#pragma omp parallel for num_threads(threads_for(total)) schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * ctot * HW;
        for (int i = 0; i < nin; i++) {
            size_t len = (size_t)channels[i] * HW;
            memcpy(o, ins[i] + n * len, len * sizeof *o);
            o += len;
        }
    }
}

/* acc: dins[i] += their part of dout, else dins[i] = 0 + it (as memset
 * then +=; dins are never read) */
static void concat_backward(float *const *dins, const float *dout, const int *channels, int nin,
                            int N, int HW, int acc)
{
    assert(nin > 0 && N > 0 && HW > 0);
    const int ctot = total_channels(channels, nin);
    const size_t total = (size_t)N * ctot * HW;
#pragma omp parallel for num_threads(threads_for(total)) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * ctot * HW;
        for (int i = 0; i < nin; i++) {
            size_t len = (size_t)channels[i] * HW;
            if (dins[i]) {
                float *d = dins[i] + n * len;
                for (size_t j = 0; j < len; j++)
                    d[j] = (acc ? d[j] : 0.0f) + g[j];
            }
            g += len;
        }
    }
}

void nt_concat_backward(float *const *dins, const float *dout, const int *channels, int nin,
                        int N, int HW)
{
    concat_backward(dins, dout, channels, nin, N, HW, 1);
}

void nt_concat_backward_overwrite(float *const *dins, const float *dout, const int *channels,
                                  int nin, int N, int HW)
{
    concat_backward(dins, dout, channels, nin, N, HW, 0);
}

/* out may alias a or b. */
void nt_add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

/* da or db may be NULL (not needed); da == db (out = x + x) is fine. */
void nt_add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da) {
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
        for (size_t i = 0; i < n; i++)
            da[i] += dout[i];
    }
    if (db) {
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
        for (size_t i = 0; i < n; i++)
            db[i] += dout[i];
    }
}

/* da = db = 0 + dout in one pass (as memset then +=); da != db. */
void nt_add_backward_overwrite(float *da, float *db, const float *dout, size_t n)
{
    assert(!da || da != db);
    if (da && db) {
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
        for (size_t i = 0; i < n; i++) {
            const float g = 0.0f + dout[i];
            da[i] = g;
            db[i] = g;
        }
        return;
    }
    float *d = da ? da : db;
    if (d) {
#pragma omp parallel for num_threads(threads_for(n)) schedule(static)
        for (size_t i = 0; i < n; i++)
            d[i] = 0.0f + dout[i];
    }
}
