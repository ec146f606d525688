/* dist_none.c - the transport of nt_dist.h for the runtime without MPI: one
 * process, rank 0 of 1, and every collective is the identity. */
#include "nt_dist.h"

int nt_dist_init(int *argc, char ***argv, const char *prog, nt_error *err)
{
    (void)argc, (void)argv, (void)prog, (void)err;
    return 0;
}

int nt_dist_end(int status, int everywhere)
{
    (void)everywhere;
    return status;
}

int nt_dist_rank(void) { return 0; }
int nt_dist_size(void) { return 1; }
int nt_dist_local_size(void) { return 1; }
const char *nt_dist_backend(void) { return "none"; }
double nt_dist_comm_seconds(void) { return 0; }

void nt_dist_sum_floats(float *x, size_t n, const char *what)
{
    (void)x, (void)n, (void)what;
}

void nt_dist_sum_doubles(double *x, size_t n, const char *what)
{
    (void)x, (void)n, (void)what;
}

void nt_dist_broadcast(void *x, size_t bytes, const char *what)
{
    (void)x, (void)bytes, (void)what;
}

void nt_dist_gather_rows(float *x, int rows, size_t row_floats, const char *what)
{
    (void)x, (void)rows, (void)row_floats, (void)what;
}

int nt_dist_same(uint64_t value, const char *what)
{
    (void)value, (void)what;
    return 0;
}
