/* build.h - compiling a generated trainer with the system C compiler
 * against the netc runtime and OpenBLAS, from the build tree or from an
 * installed netc. */
#ifndef BUILD_H
#define BUILD_H

/* Compiles c_path into the executable out_path. verbose: print the command.
 * mpi: link the MPI runtime (data-parallel training under mpirun) instead of
 * the single-process one. Returns 0, or -1 after printing what went wrong to
 * stderr. */
int build_trainer(const char *c_path, const char *out_path, int verbose, int mpi);

/* Compiles an inference library and its command-line main (c_files) into
 * out_path: -O3, zlib and libm only (no runtime, no OpenBLAS). */
int build_inference(const char *const *c_files, int nfiles, const char *out_path, int verbose);

#endif
