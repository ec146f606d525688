/* nt_dist.h - data-parallel training over processes: one model trained by
 * P processes (ranks) started by `mpirun -np P`, each computing its
 * contiguous share of every batch.
 *
 * Two builds of the same API: dist_mpi.c (libnetcrt_mpi.a, `netc build
 * --mpi`) talks to Open MPI; dist_none.c (libnetcrt.a) is one process of
 * rank 0 in a world of one, where every collective is the identity. The
 * trainer calls these functions unconditionally. dist.c holds what both
 * share (shares of a batch, the model broadcast, thread defaults).
 *
 * Failure policy: a collective that MPI reports as failed (MPI_ERRORS_RETURN
 * and a check on every call), or one that waits longer than the time limit
 * (NETC_MPI_TIMEOUT seconds, default 600; 0 turns the watchdog off), prints
 * what happened on stderr and ends every process of the job; none hangs.
 * A rank that dies is noticed by mpirun, which ends the others. */
#ifndef NT_DIST_H
#define NT_DIST_H

#include "nt_trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- transport (dist_mpi.c or dist_none.c) ------------------------------ */

/* Starts the process group (MPI_Init); prog names the program in messages.
 * Returns 0, or -1 with a message in err. */
int nt_dist_init(int *argc, char ***argv, const char *prog, nt_error *err);

/* Ends the process group and returns status. everywhere != 0: every rank
 * reached this call with the same status (a finished run, a usage error
 * seen by all), so MPI is finalised normally. Otherwise a failing rank
 * (status != 0) ends the whole job (MPI_Abort): the others may be waiting
 * for it in a collective. */
int nt_dist_end(int status, int everywhere);

int nt_dist_rank(void);       /* 0 .. size-1 */
int nt_dist_size(void);       /* processes in the job */
int nt_dist_local_size(void); /* processes on this node (MPI_COMM_TYPE_SHARED) */
const char *nt_dist_backend(void); /* "Open MPI 4.1.4", "none" */
/* Seconds this process has spent in collectives so far (waiting for the
 * others included); 0 in a single process. */
double nt_dist_comm_seconds(void);

/* In-place sums over every rank; `what` names the data in messages. */
void nt_dist_sum_floats(float *x, size_t n, const char *what);
void nt_dist_sum_doubles(double *x, size_t n, const char *what);
/* Rank 0's bytes to every rank. */
void nt_dist_broadcast(void *x, size_t bytes, const char *what);
/* x holds rows [first, first + count) of nt_dist_share(rows) in place; on
 * return every rank holds all rows. */
void nt_dist_gather_rows(float *x, int rows, size_t row_floats,
                         const char *what);
/* 0 if every rank passes the same value; else -1 (on every rank), and the
 * ranks whose value differs from rank 0's say so on stderr. */
int nt_dist_same(uint64_t value, const char *what);

/* ---- built on the transport (dist.c) ------------------------------------- */

/* This rank's contiguous share [*first, *first + *count) of n items. */
void nt_dist_share(int n, int *first, int *count);
/* The largest share of n items (ceil(n / size)). */
int nt_dist_share_max(int n);

/* Threads per process when --threads is not given: 0 (all cores) in a
 * single process; else this process's share of its node's cores (its CPU
 * set when mpirun bound it to fewer cores), at least 1. */
int nt_dist_default_threads(void);

/* Makes every rank's model equal rank 0's: every persistent arena of m
 * (nt_model_arenas), its seed and step, and *epoch (may be NULL). With
 * several ranks, also turns on synchronised batch norm for m's net.
 * Returns 0, or -1 (out of memory) with a message in err. */
int nt_dist_sync_model(nt_model *m, int *epoch, nt_error *err);

/* After the loss of a training step on this rank's n examples: returns the
 * examples of the whole batch and turns *loss (mean over this rank's n) and
 * *ncorrect into the whole batch's. The identity in a single process. */
int nt_dist_batch_totals(int n, float *loss, int *ncorrect);

/* A 64-bit FNV-1a hash of bytes, continuing from h (start: NT_DIST_HASH0). */
#define NT_DIST_HASH0 0xcbf29ce484222325ULL
uint64_t nt_dist_hash(uint64_t h, const void *bytes, size_t n);

#ifdef __cplusplus
}
#endif

#endif
