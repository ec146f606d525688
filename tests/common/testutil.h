/* testutil.h - helpers shared by the Check test suites: random data,
 * tolerance comparisons that print the max abs and rel error, and central
 * finite differences. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "nt_base.h"

/* Fills x with uniform values in [lo, hi). */
void tu_fill(float *x, size_t n, float lo, float hi, nt_rng *rng);

/* malloc'ed arrays of n floats (at least one): all NaN (so a kernel that
 * fails to write an element is caught), or uniform in [-1, 1). */
float *tu_alloc_nan(size_t n);
float *tu_alloc_rand(size_t n, nt_rng *rng);

/* Result of comparing got against want elementwise. */
typedef struct tu_diff {
    double max_abs;   /* max |got - want| */
    double max_rel;   /* max |got - want| / max(|want|, 1e-30) over elements with |want| > atol */
    size_t worst;     /* index of the element furthest outside atol + rtol*|want| */
    size_t nbad;      /* elements with |got - want| > atol + rtol*|want| (NaN counts as bad) */
} tu_diff;

tu_diff tu_compare(const float *got, const float *want, size_t n, double atol,
                   double rtol);
tu_diff tu_compare_d(const float *got, const double *want, size_t n,
                     double atol, double rtol);

/* Asserts that got matches want within atol + rtol*|want| everywhere; on
 * failure the message names what, the max abs and rel error and the worst
 * element. Prints the errors on success too when NETC_TEST_VERBOSE is set. */
#define TU_ASSERT_CLOSE(what, got, want, n, atol, rtol)                       \
    do {                                                                      \
        tu_diff d_ = tu_compare((got), (want), (n), (atol), (rtol));          \
        tu_report((what), &d_, (got), (n));                                   \
        ck_assert_msg(d_.nbad == 0,                                           \
                      "%s: %zu of %zu elements off; max abs err %.3g, max "   \
                      "rel err %.3g; worst [%zu] got %.9g want %.9g",         \
                      (what), d_.nbad, (size_t)(n), d_.max_abs, d_.max_rel,   \
                      d_.worst, (double)(got)[d_.worst],                      \
                      (double)(want)[d_.worst]);                              \
    } while (0)

#define TU_ASSERT_CLOSE_D(what, got, want, n, atol, rtol)                     \
    do {                                                                      \
        tu_diff d_ = tu_compare_d((got), (want), (n), (atol), (rtol));        \
        tu_report((what), &d_, (got), (n));                                   \
        ck_assert_msg(d_.nbad == 0,                                           \
                      "%s: %zu of %zu elements off; max abs err %.3g, max "   \
                      "rel err %.3g; worst [%zu] got %.9g want %.9g",         \
                      (what), d_.nbad, (size_t)(n), d_.max_abs, d_.max_rel,   \
                      d_.worst, (double)(got)[d_.worst],                      \
                      (double)(want)[d_.worst]);                              \
    } while (0)

void tu_report(const char *what, const tu_diff *d, const float *got, size_t n);

/* Central finite differences of a scalar function of x:
 *   grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
 * for every i in [0, n) (x is restored afterwards). f evaluates in whatever
 * precision it likes and returns a double. */
typedef double (*tu_scalar_fn)(void *ctx);
void tu_numeric_grad(double *grad, float *x, size_t n, double eps,
                     tu_scalar_fn f, void *ctx);

/* sum_i a[i] * b[i] in double: the usual "loss" whose gradient with respect
 * to a is b, used to turn a kernel's output into a scalar. */
double tu_dot(const float *a, const float *b, size_t n);

/* Writes a .npy file (format 1.0) of dtype descr ("|u1", "<f4", "<i8", ...)
 * and the given shape holding `bytes` bytes of data (fewer than the shape
 * needs makes a truncated file, as some tests want). */
void tu_write_npy(const char *path, const char *descr, const int64_t *shape, int ndim,
                  const void *data, size_t bytes);

/* A temporary directory for a test program: tu_tmpdir_make("npy") creates
 * $TMPDIR/netc-npy-XXXXXX (/tmp without TMPDIR), tu_tmpdir() is its path,
 * tu_tmp("x.bin") the path of a file in it (64 rotating buffers, so a test
 * may hold on to several), and tu_tmpdir_remove() deletes it with
 * everything in it. */
void tu_tmpdir_make(const char *tag);
const char *tu_tmpdir(void);
const char *tu_tmp(const char *name);
void tu_tmpdir_remove(void);

/* Path of a committed fixture file: NETC_SOURCE_DIR/tests/<rel>. */
const char *tu_fixture(const char *rel);

#endif
