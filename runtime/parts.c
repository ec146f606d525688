/* parts.c - sample-parallel steps: a run of layers that treat the examples
 * of a batch independently goes to the threads as one share of the batch
 * each, in one parallel region, instead of one parallel region per layer.
 * On small nets (LeNet) a layer's work is a few microseconds per thread,
 * so the fork and join of each layer's region, not the arithmetic, would
 * decide the step time. The compiler decides which nets run this way
 * (nt_net_desc.sample_parallel) and where the runs of layers end (at
 * layers that couple the examples, such as batch norm); see nt_trainer.h. */
#include "nt_trainer.h"

#include <omp.h>
#include <string.h>

/* Below this many floats the gradient sums run on one thread. */
#define SUM_PAR_MIN ((size_t)1 << 17)

void nt_parts_run(nt_model *m, int n, nt_part_fn fn, const void *ctx)
{
    int np = m->parts < n ? m->parts : n;
    if (np <= 1) {
        nt_part whole = {0, n, m->grads, m->scratch, 0, 1, m->team};
        fn(m, &whole, ctx);
        return;
    }
    if (m->grads && np > m->parts_used)
        m->parts_used = np;
    const size_t pf = m->net->param_floats;
#pragma omp parallel num_threads(np)
    {
        /* a team smaller than asked for still covers the batch */
        const int k = omp_get_thread_num(), got = omp_get_num_threads();
        const int lo = (int)((long)n * k / got), hi = (int)((long)n * (k + 1) / got);
        nt_part p = {lo, hi - lo,
                     !m->grads ? NULL : k == 0 ? m->grads : m->part_grads + (size_t)(k - 1) * pf,
                     m->scratch + (size_t)k * m->part_scratch, k, got, m->team};
        /* every share has an example (got <= np <= n): each calls fn, so
         * the barriers of batch norm's _share kernels are met by all */
        fn(m, &p, ctx);
    }
}

void nt_parts_sum_grads(nt_model *m)
{
    const int used = m->parts_used;
    m->parts_used = 0;
    if (used <= 1 || !m->grads)
        return;
    const size_t pf = m->net->param_floats;
    float *g = m->grads;
    const float *part = m->part_grads;
    const int nth = pf * (size_t)used >= SUM_PAR_MIN ? m->parts : 1;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (size_t i = 0; i < pf; i++) {
        float s = g[i];
        for (int k = 1; k < used; k++)
            s += part[(size_t)(k - 1) * pf + i];
        g[i] = s;
    }
    memset(m->part_grads, 0, sizeof(float) * (size_t)(used - 1) * pf);
}
