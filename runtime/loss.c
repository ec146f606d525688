/* loss.c - softmax cross-entropy averaged over the batch (PyTorch's
 * CrossEntropyLoss with reduction='mean', no label smoothing, no class
 * weights, optional label smoothing), plus the count of correct predictions for accuracy. The softmax
 * is not a separate layer: it exists only inside this loss. */
#include "nt_kernels.h"

#include <assert.h>
#include <math.h>
#include <omp.h>

#include "vmath.h"

/* Fork only when there are enough exponentials to pay for it. */
#define XENT_PAR_MIN 32768
/* Per-thread partial sums live on the stack; more threads than this are
 * not useful for a loss. */
#define XENT_MAX_THREADS 64

/* The first maximum of a row. */
static int row_argmax(const float *x, int K)
{
    int arg = 0;
    for (int k = 1; k < K; k++)
        if (x[k] > x[arg])
            arg = k;
    return arg;
}

/* One row, with p holding exp(x - x[arg]): normalises p into the
 * probabilities and returns -log softmax(x)[label] in double (smoothed:
 * (1 - s) times that plus s times the mean of -log softmax(x) over the
 * classes). */
static double xent_row(float *p, const float *x, int arg, int label, int K, float smoothing)
{
    const float mx = x[arg];
    double s = 0;
    for (int k = 0; k < K; k++)
        s += p[k];
    const float inv = (float)(1.0 / s);
    for (int k = 0; k < K; k++)
        p[k] *= inv;
    /* log-sum-exp = mx + log(s), s >= 1 */
    const double lse = (double)mx + log(s);
    if (smoothing == 0.0f)
        return lse - (double)x[label];
    double sum = 0;
    for (int k = 0; k < K; k++)
        sum += lse - (double)x[k];
    return (1.0 - smoothing) * (lse - (double)x[label]) + smoothing * sum / K;
}

float nt_softmax_xent_forward(float *probs, int *ncorrect, const float *logits,
                              const int32_t *labels, int N, int K, float smoothing)
{
    assert(N > 0 && K > 0);
    int nth = (size_t)N * K >= XENT_PAR_MIN ? nt_num_threads() : 1;
    if (nth > XENT_MAX_THREADS)
        nth = XENT_MAX_THREADS;
    /* Partial sums per thread, added in thread order afterwards: each
     * thread sums a fixed block of rows, so the result is deterministic for
     * a fixed thread count. */
    double part_loss[XENT_MAX_THREADS] = {0};
    int part_ok[XENT_MAX_THREADS] = {0};
    const nt_vmath *vm = nt_vmath_get();

#pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int n0 = (int)((long long)N * t / nt), n1 = (int)((long long)N * (t + 1) / nt);
        float *p = probs + (size_t)n0 * K;
        const float *x = logits + (size_t)n0 * K;
        /* x - max of its row, then the exponentials of the whole block in
         * one call (vmath.c: SIMD, whole vectors across rows) */
        for (int n = 0; n < n1 - n0; n++) {
            const float mx = x[(size_t)n * K + row_argmax(x + (size_t)n * K, K)];
            for (int k = 0; k < K; k++)
                p[(size_t)n * K + k] = x[(size_t)n * K + k] - mx;
        }
        vm->exp(p, p, (size_t)(n1 - n0) * K, 0, 0);
        double loss = 0;
        int ok = 0;
        for (int n = 0; n < n1 - n0; n++) {
            const int label = labels[n0 + n];
            assert(label >= 0 && label < K);
            const int arg = row_argmax(x + (size_t)n * K, K);
            loss += xent_row(p + (size_t)n * K, x + (size_t)n * K, arg, label, K, smoothing);
            ok += arg == label;
        }
        part_loss[t] = loss;
        part_ok[t] = ok;
    }

    double loss = 0;
    int ok = 0;
    for (int t = 0; t < XENT_MAX_THREADS; t++) {
        loss += part_loss[t];
        ok += part_ok[t];
    }
    if (ncorrect)
        *ncorrect = ok;
    return (float)(loss / N);
}

void nt_softmax_xent_backward(float *dlogits, const float *probs,
                              const int32_t *labels, int N, int K, float smoothing)
{
    nt_softmax_xent_backward_part(dlogits, probs, labels, N, N, K, smoothing);
}

void nt_softmax_xent_backward_part(float *dlogits, const float *probs, const int32_t *labels,
                                   int N, int total, int K, float smoothing)
{
    assert(N > 0 && K > 0 && total >= N);
    const float inv_n = 1.0f / (float)total;
    const float off = smoothing / (float)K, on = 1.0f - smoothing + off;
    const int nth = (size_t)N * K >= XENT_PAR_MIN ? nt_num_threads() : 1;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int n = 0; n < N; n++) {
        const int label = labels[n];
        assert(label >= 0 && label < K);
        const float *p = probs + (size_t)n * K;
        float *g = dlogits + (size_t)n * K;
        for (int k = 0; k < K; k++)
            g[k] += (p[k] - (k == label ? on : off)) * inv_n;
    }
}
