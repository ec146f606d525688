/* slice.c - a range of channels (or features) of each example, x[:, start:end]
 * in PyTorch, forward (a copy) and backward (an accumulation into those
 * channels; its _overwrite twin writes din, 0 outside the range). Not a
 * view: the range is strided across the batch. */
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

/* acc: din's channels [start, end) += dout; else din = 0 + dout there and
 * 0 in the others (din is never read) */
static void slice_backward(float *din, const float *dout, int N, int C, int HW, int start,
                           int end, int acc)
{
    assert(N >= 0 && 0 <= start && start < end && end <= C && HW > 0);
    const size_t len = (size_t)(end - start) * HW;
    for (int n = 0; n < N; n++) {
        float *dx = din + ((size_t)n * C + start) * HW;
        const float *g = dout + (size_t)n * len;
        if (!acc) {
            memset(dx - (size_t)start * HW, 0, sizeof(float) * (size_t)start * HW);
            memset(dx + len, 0, sizeof(float) * (size_t)(C - end) * HW);
        }
        for (size_t i = 0; i < len; i++)
            dx[i] = (acc ? dx[i] : 0.0f) + g[i];
    }
}

void nt_slice_backward(float *din, const float *dout, int N, int C, int HW, int start,
                       int end)
{
    slice_backward(din, dout, N, C, HW, start, end, 1);
}

void nt_slice_backward_overwrite(float *din, const float *dout, int N, int C, int HW,
                                 int start, int end)
{
    slice_backward(din, dout, N, C, HW, start, end, 0);
}
