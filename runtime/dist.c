/* dist.c - the parts of data-parallel training that do not depend on the
 * transport (see nt_dist.h): shares of a batch, thread defaults, the model
 * broadcast, synchronised batch norm and the totals of a training step. It
 * is compiled into both runtime libraries and calls the transport of the one
 * it is in (dist_mpi.c or dist_none.c). */
#include "nt_dist.h"

#include <omp.h>
#include <unistd.h>

void nt_dist_share(int n, int *first, int *count)
{
    const long long r = nt_dist_rank(), p = nt_dist_size();
    const int a = (int)(r * n / p), b = (int)((r + 1) * n / p);
    *first = a;
    *count = b - a;
}

int nt_dist_share_max(int n)
{
    const int p = nt_dist_size();
    return (int)(((long long)n + p - 1) / p);
}

int nt_dist_default_threads(void)
{
    if (nt_dist_size() == 1)
        return 0;
    const int mine = omp_get_num_procs();           /* this process's CPU set */
    const long node = sysconf(_SC_NPROCESSORS_ONLN);
    int share = (int)((node > 0 ? node : mine) / nt_dist_local_size());
    if (share > mine)
        share = mine;
    return share > 0 ? share : 1;
}

static void bn_reduce(double *sums, int n)
{
    nt_dist_sum_doubles(sums, (size_t)n, "batch-norm statistics");
}

int nt_dist_sync_model(nt_model *m, int *epoch, nt_error *err)
{
    nt_arena a[8];
    const int n = nt_model_arenas(m, a, 8);
    for (int i = 0; i < n; i++)
        nt_dist_broadcast(a[i].data, a[i].floats * sizeof(float), a[i].name);
    uint64_t counters[3] = {m->seed, m->step, epoch ? (uint64_t)*epoch : 0};
    nt_dist_broadcast(counters, sizeof counters, "seed, step and epoch");
    m->seed = counters[0];
    m->step = counters[1];
    if (epoch)
        *epoch = (int)counters[2];
    if (nt_dist_size() == 1)
        return 0;
    /* the running statistics are the net's only untrained tensors: one per
     * batch-norm channel */
    int channels = 0;
    for (int i = 0; i < m->net->ntensors; i++)
        if (!m->net->tensors[i].trainable && (int)m->net->tensors[i].count > channels)
            channels = (int)m->net->tensors[i].count;
    if (channels && nt_batchnorm_set_reduce(bn_reduce, channels) != 0)
        return nt_fail(err, "out of memory: synchronised batch norm needs %d channels' sums",
                       channels);
    return 0;
}

int nt_dist_batch_totals(int n, float *loss, int *ncorrect)
{
    if (nt_dist_size() == 1)
        return n;
    double v[3] = {n, (double)*loss * n, *ncorrect};
    nt_dist_sum_doubles(v, 3, "the batch's loss");
    *loss = (float)(v[1] / v[0]);
    *ncorrect = (int)v[2];
    return (int)v[0];
}

uint64_t nt_dist_hash(uint64_t h, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
