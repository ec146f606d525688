/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tu_fill(float *x, size_t n, float lo, float hi, nt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nt_rng_uniform(rng);
}

float *tu_alloc_nan(size_t n)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
    return x;
}

float *tu_alloc_rand(size_t n, nt_rng *rng)
{
    float *x = tu_alloc_nan(n);
    tu_fill(x, n, -1.0f, 1.0f, rng);
    return x;
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

static char tmpdir[512];

void tu_tmpdir_make(const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/netc-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

const char *tu_tmpdir(void) { return tmpdir; }

const char *tu_tmp(const char *name)
{
    static char path[64][1024];
    static int k;
    k = (k + 1) % 64;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[2048];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            remove(path);
    }
    closedir(d);
    rmdir(dir);
}

void tu_tmpdir_remove(void)
{
    if (tmpdir[0])
        remove_tree(tmpdir);
}

void tu_write_npy(const char *path, const char *descr, const int64_t *shape, int ndim,
                  const void *data, size_t bytes)
{
    char head[256];
    int n = snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int d = 0; d < ndim; d++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%lld, ", (long long)shape[d]);
    n += snprintf(head + n, sizeof head - (size_t)n, "), }");
    while ((10 + n + 1) % 64)
        head[n++] = ' ';
    head[n++] = '\n';
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 255),
                             (unsigned char)(n >> 8)};
    fwrite(pre, 1, 10, f);
    fwrite(head, 1, (size_t)n, f);
    fwrite(data, 1, bytes, f);
    fclose(f);
}
