/* slice.c - a range of channels (or features) of each example, x[:, start:end]
 * in PyTorch, forward (a copy) and backward (an accumulation into those
 * channels). Not a view: the range is strided across the batch. */
#include "nt_kernels.h"

#include <assert.h>
#include <string.h>

void nt_slice_forward(float *out, const float *in, int N, int C, int HW, int start, int end)
{
    assert(N >= 0 && 0 <= start && start < end && end <= C && HW > 0);
    const size_t len = (size_t)(end - start) * HW;
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * len, in + ((size_t)n * C + start) * HW, len * sizeof(float));
}

void nt_slice_backward(float *din, const float *dout, int N, int C, int HW, int start,
                       int end)
{
    assert(N >= 0 && 0 <= start && start < end && end <= C && HW > 0);
    const size_t len = (size_t)(end - start) * HW;
    for (int n = 0; n < N; n++) {
        float *dx = din + ((size_t)n * C + start) * HW;
        const float *g = dout + (size_t)n * len;
        for (size_t i = 0; i < len; i++)
            dx[i] += g[i];
    }
}
