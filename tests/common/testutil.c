/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void tu_fill(float *x, size_t n, float lo, float hi, nt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nt_rng_uniform(rng);
}

static void diff_add(tu_diff *d, size_t i, double g, double w, double atol,
                     double rtol, double *worst_excess)
{
    double e = fabs(g - w);
    if (isnan(g) != isnan(w) || isnan(e))
        e = INFINITY;
    if (e > d->max_abs)
        d->max_abs = e;
    if (fabs(w) > atol && e / fabs(w) > d->max_rel)
        d->max_rel = e / fabs(w);
    double excess = e - (atol + rtol * fabs(w));
    if (excess > 0) {
        d->nbad++;
        if (excess > *worst_excess) {
            *worst_excess = excess;
            d->worst = i;
        }
    }
}

tu_diff tu_compare(const float *got, const float *want, size_t n, double atol,
                   double rtol)
{
    tu_diff d = {0, 0, 0, 0};
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        diff_add(&d, i, got[i], want[i], atol, rtol, &worst);
    return d;
}

tu_diff tu_compare_d(const float *got, const double *want, size_t n,
                     double atol, double rtol)
{
    tu_diff d = {0, 0, 0, 0};
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        diff_add(&d, i, got[i], want[i], atol, rtol, &worst);
    return d;
}

void tu_report(const char *what, const tu_diff *d, const float *got, size_t n)
{
    (void)got;
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-40s n=%-8zu max abs err %.3g  max rel err %.3g\n",
                what, n, d->max_abs, d->max_rel);
}

void tu_numeric_grad(double *grad, float *x, size_t n, double eps,
                     tu_scalar_fn f, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = (float)(saved + eps);
        double hi = f(ctx);
        float up = x[i];
        x[i] = (float)(saved - eps);
        double lo = f(ctx);
        float down = x[i];
        x[i] = saved;
        /* divide by the step actually taken after rounding to float */
        grad[i] = (hi - lo) / ((double)up - (double)down);
    }
}

double tu_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

const char *tu_fixture(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/%s", NETC_SOURCE_DIR, rel);
    return buf;
}
