/* allreduce.c - time of MPI_Allreduce (float sum, in place, as the
 * data-parallel trainers reduce their gradients) for buffers of the given
 * sizes. Built and run by bench/mpi.sh under mpirun; rank 0 prints one line
 * per size: floats, bytes, the fastest and the median of the timed
 * repetitions (after warm-up), and the bus bandwidth a ring allreduce
 * would need for that time, 2 (P-1)/P * bytes / time.
 *
 *   mpirun -np P allreduce [--reps N] FLOATS...
 */
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, reps = 20, first = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc > 2 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]);
        first = 3;
    }
    if (reps < 1 || first >= argc) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np P allreduce [--reps N] FLOATS...\n");
        MPI_Finalize();
        return 2;
    }
    double *t = malloc((size_t)reps * sizeof *t);
    if (rank == 0)
        printf("%12s %12s %12s %12s %12s\n", "floats", "MiB", "best ms", "median ms",
               "busbw GB/s");
    for (int a = first; a < argc; a++) {
        const long n = atol(argv[a]);
        float *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
        if (!x || !t || n < 1 || n > 2000000000L) {
            fprintf(stderr, "allreduce: cannot time %s floats\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (long i = 0; i < n; i++)
            x[i] = (float)(i % 7) * 0.25f;
        for (int k = 0; k < 3; k++) /* warm-up */
            MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int k = 0; k < reps; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double dt = MPI_Wtime() - t0, slowest;
            MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            t[k] = slowest;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        const double bytes = 4.0 * (double)n;
        if (rank == 0)
            printf("%12ld %12.2f %12.3f %12.3f %12.2f\n", n, bytes / 1048576.0, t[0] * 1e3,
                   t[reps / 2] * 1e3, 2.0 * (size - 1) / size * bytes / t[0] / 1e9);
        free(x);
    }
    free(t);
    MPI_Finalize();
    return 0;
}
