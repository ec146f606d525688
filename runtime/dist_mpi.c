/* dist_mpi.c - the transport of nt_dist.h over MPI (Open MPI): one
 * communicator (a duplicate of MPI_COMM_WORLD that returns errors instead of
 * aborting inside MPI), collectives that check every return code, and a
 * watchdog thread that ends the job when a collective waits longer than the
 * time limit: MPI itself has no timeout, and a rank that is stopped or stuck
 * outside MPI would otherwise leave the others waiting forever.
 *
 * It does not decide what is reduced or when: dist.c and the trainer do.
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED); the watchdog never
 * does: it prints and exits, and mpirun ends the other ranks when one exits
 * without finalising. */
#include "nt_dist.h"

#include <mpi.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 600
/* MPI counts are ints: larger buffers go in pieces of this many elements. */
#define CHUNK ((size_t)1 << 30)

static MPI_Comm world = MPI_COMM_NULL;
static int my_rank = 0, nranks = 1, nlocal = 1;
static char prog[64] = "netc";
static char host[MPI_MAX_PROCESSOR_NAME + 1] = "?";
static char backend[64] = "MPI";

/* ---- errors and the watchdog ----------------------------------------------- */

static _Atomic long long op_since;     /* CLOCK_MONOTONIC ns; 0: not in a collective */
static _Atomic(const char *) op_what;
static long long timeout_ns;           /* 0: no watchdog */

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(1);
        const long long since = atomic_load(&op_since);
        if (since && now_ns() - since > timeout_ns) {
            fprintf(stderr, "%s: rank %d of %d (%s): waited %lld s for the other ranks in "
                    "the collective of %s: one of them is stuck or gone; ending the job "
                    "(NETC_MPI_TIMEOUT=SECONDS sets the limit, 0 removes it)\n", prog,
                    my_rank, nranks, host, (now_ns() - since) / 1000000000LL,
                    atomic_load(&op_what));
            fflush(stderr);
            _exit(EXIT_FAILURE);
        }
    }
    return NULL;
}

static void op_begin(const char *what)
{
    atomic_store(&op_what, what);
    atomic_store(&op_since, now_ns());
}

static double comm_seconds; /* main thread only */

static void op_end(void)
{
    comm_seconds += (double)(now_ns() - atomic_load(&op_since)) * 1e-9;
    atomic_store(&op_since, 0);
}

/* A failed MPI call ends the job: the other ranks cannot go on without
 * this one. */
static void check(int rc, const char *call, const char *what)
{
    if (rc == MPI_SUCCESS)
        return;
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = snprintf(msg, sizeof msg, "error %d", rc);
    msg[len] = 0;
    fprintf(stderr, "%s: rank %d of %d (%s): %s of %s failed: %s; ending the job\n", prog,
            my_rank, nranks, host, call, what, msg);
    fflush(stderr);
    MPI_Abort(world != MPI_COMM_NULL ? world : MPI_COMM_WORLD, EXIT_FAILURE);
    _exit(EXIT_FAILURE);
}

/* ---- start and end ------------------------------------------------------------ */

static int read_timeout(nt_error *err)
{
    const char *v = getenv("NETC_MPI_TIMEOUT");
    long s = DEFAULT_TIMEOUT_S;
    if (v) {
        char *end;
        errno = 0;
        s = strtol(v, &end, 10);
        if (!*v || *end || errno || s < 0 || s > 100000000)
            return nt_fail(err, "NETC_MPI_TIMEOUT needs a number of seconds from 0 to "
                           "100000000, got '%s'", v);
    }
    timeout_ns = (long long)s * 1000000000LL;
    return 0;
}

int nt_dist_init(int *argc, char ***argv, const char *name, nt_error *err)
{
    snprintf(prog, sizeof prog, "%s", name);
    int provided, len = 0;
    if (read_timeout(err) != 0)
        return -1;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return nt_fail(err, "MPI_Init failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &my_rank), "MPI_Comm_rank", "the world");
    check(MPI_Comm_size(MPI_COMM_WORLD, &nranks), "MPI_Comm_size", "the world");
    if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS)
        snprintf(host, sizeof host, "?");
    if (nranks > 1 && timeout_ns > 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, watchdog, NULL) != 0)
            return nt_fail(err, "cannot start the watchdog thread");
        pthread_detach(t);
    }
    op_begin("the start (MPI_Comm_dup)");
    check(MPI_Comm_dup(MPI_COMM_WORLD, &world), "MPI_Comm_dup", "the world");
    MPI_Comm node;
    check(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, my_rank, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type", "the node's ranks");
    check(MPI_Comm_size(node, &nlocal), "MPI_Comm_size", "the node's ranks");
    MPI_Comm_free(&node);
    op_end();
#ifdef OMPI_MAJOR_VERSION
    snprintf(backend, sizeof backend, "Open MPI %d.%d.%d", OMPI_MAJOR_VERSION,
             OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION);
#else
    snprintf(backend, sizeof backend, "MPI %d.%d", MPI_VERSION, MPI_SUBVERSION);
#endif
    return 0;
}

int nt_dist_end(int status, int everywhere)
{
    fflush(stdout);
    fflush(stderr);
    if (status != 0 && !everywhere && nranks > 1)
        MPI_Abort(world, status);
    op_begin("MPI_Finalize");
    if (world != MPI_COMM_NULL)
        MPI_Comm_free(&world);
    MPI_Finalize();
    op_end();
    return status;
}

int nt_dist_rank(void) { return my_rank; }
int nt_dist_size(void) { return nranks; }
int nt_dist_local_size(void) { return nlocal; }
const char *nt_dist_backend(void) { return backend; }
double nt_dist_comm_seconds(void) { return comm_seconds; }

/* ---- collectives ------------------------------------------------------------- */

static void sum(void *x, size_t n, MPI_Datatype type, size_t size, const char *what)
{
    if (nranks == 1)
        return;
    op_begin(what);
    for (size_t i = 0; i < n; i += CHUNK) {
        const int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        check(MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * size, k, type, MPI_SUM, world),
              "MPI_Allreduce", what);
    }
    op_end();
}

void nt_dist_sum_floats(float *x, size_t n, const char *what)
{
    sum(x, n, MPI_FLOAT, sizeof *x, what);
}

void nt_dist_sum_doubles(double *x, size_t n, const char *what)
{
    sum(x, n, MPI_DOUBLE, sizeof *x, what);
}

void nt_dist_broadcast(void *x, size_t bytes, const char *what)
{
    if (nranks == 1)
        return;
    op_begin(what);
    for (size_t i = 0; i < bytes; i += CHUNK) {
        const int k = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        check(MPI_Bcast((char *)x + i, k, MPI_BYTE, 0, world), "MPI_Bcast", what);
    }
    op_end();
}

void nt_dist_gather_rows(float *x, int rows, size_t row_floats, const char *what)
{
    if (nranks == 1)
        return;
    int *counts = malloc(2 * sizeof(int) * (size_t)nranks);
    if (!counts) {
        fprintf(stderr, "%s: rank %d: out of memory gathering %s; ending the job\n", prog,
                my_rank, what);
        MPI_Abort(world, EXIT_FAILURE);
    }
    int *displs = counts + nranks;
    for (int r = 0; r < nranks; r++) {
        displs[r] = (int)((long long)r * rows / nranks);
        counts[r] = (int)((long long)(r + 1) * rows / nranks) - displs[r];
    }
    MPI_Datatype row;
    op_begin(what);
    check(MPI_Type_contiguous((int)row_floats, MPI_FLOAT, &row), "MPI_Type_contiguous", what);
    check(MPI_Type_commit(&row), "MPI_Type_commit", what);
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, row, world),
          "MPI_Allgatherv", what);
    MPI_Type_free(&row);
    op_end();
    free(counts);
}

int nt_dist_same(uint64_t value, const char *what)
{
    if (nranks == 1)
        return 0;
    uint64_t first = value;
    nt_dist_broadcast(&first, sizeof first, what);
    int differs = first != value;
    if (differs)
        fprintf(stderr, "%s: rank %d of %d (%s): %s differs from rank 0's\n", prog, my_rank,
                nranks, host, what);
    op_begin(what);
    check(MPI_Allreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MAX, world),
          "MPI_Allreduce", what);
    op_end();
    if (differs && my_rank == 0)
        fprintf(stderr, "%s: %s is not the same in every process of the job (%d "
                "processes)\n", prog, what, nranks);
    return differs ? -1 : 0;
}
