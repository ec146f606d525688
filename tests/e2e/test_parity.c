/* test_parity.c - suite "parity": netc's generated trainers compute what
 * PyTorch computes. For every network of nets/ and tests/e2e/nets/kinds.net
 * (every layer kind the seed networks lack; shrunk with their own -D
 * parameters where the full size would make the fixtures too large; every
 * layer kind and branch stays), the fixtures in tests/e2e/parity/ (made by
 * tools/parity.py from the seed's PyTorch modules) hold random weights, a
 * batch, and what PyTorch 1.13 computes from them: eval-mode logits, and one
 * SGD step with momentum and weight decay and dropout disabled: logits,
 * loss, every gradient, and every tensor after the step (batch-norm running
 * statistics included). The trainer runs the same with --infer and
 * --train-step --no-dropout.
 *
 * Tolerances (max abs error over the tensor, relative to a scale):
 *  - logits, loss, tensors after the step: 1e-4 of the tensor's largest
 *    |PyTorch value|;
 *  - gradients: 1e-4 of the largest gradient of the same layer (weight and
 *    bias together). The gradient of a bias that feeds a batch norm is
 *    exactly 0 (batch norm subtracts the mean), so both frameworks return
 *    rounding noise there (~1e-6); measured against the layer, the noise
 *    passes and any real difference does not.
 * Two more fixtures train 20 (BN-LeNet, real images) and 10 (ResNet-18 of
 * width 16 at 32x32) steps and compare the loss curves: each step must be
 * within 1e-4 relative plus 4 times the step's envelope, how far PyTorch's
 * own curve moves when its initial weights change by a relative 1e-7
 * (training with batch norm and max pooling on small batches is chaotic:
 * after a few steps PyTorch does not reproduce itself either). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "nt_io.h"

static float *tensor(const nt_safetensors *st, const char *name, size_t *count)
{
    const nt_st_tensor *t = nt_st_find(st, name);
    if (!t)
        return NULL;
    *count = (t->end - t->begin) / 4;
    float *v = malloc(*count * sizeof(float) + 1);
    nt_st_copy_f32(st, t, v);
    return v;
}

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(v[i]) > m)
            m = fabs(v[i]);
    return m;
}

/* The layer of "grad.a.b.conv1.weight": "a.b.conv1". */
static void layer_of(const char *grad_name, char *out, size_t cap)
{
    snprintf(out, cap, "%s", grad_name + 5);
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = 0;
}

static double layer_grad_scale(const nt_safetensors *want, const char *grad_name)
{
    char layer[512], other[600];
    layer_of(grad_name, layer, sizeof layer);
    double scale = 0;
    for (int i = 0; i < want->ntensors; i++) {
        const char *n = want->tensors[i].name;
        if (strncmp(n, "grad.", 5) != 0)
            continue;
        layer_of(n, other, sizeof other);
        if (strcmp(other, layer) == 0) {
            size_t c = 0;
            float *v = tensor(want, n, &c);
            double m = max_abs(v, c);
            free(v);
            if (m > scale)
                scale = m;
        }
    }
    return scale;
}

/* Compares one tensor; returns its error relative to its scale. */
static double check(const char *what, const float *got, size_t ngot, const float *want,
                    size_t nwant, double scale)
{
    ck_assert_msg(got != NULL, "%s: missing from the trainer's output", what);
    ck_assert_msg(ngot == nwant, "%s: %zu elements, PyTorch has %zu", what, ngot, nwant);
    double err = 0;
    size_t worst = 0;
    for (size_t i = 0; i < nwant; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= err)) {
            err = e;
            worst = i;
        }
    }
    double rel = err / (scale > 0 ? scale : 1e-30);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-52s max abs err %10.3g  relative %10.3g\n", what, err, rel);
    ck_assert_msg(rel <= 1e-4,
                  "%s: max abs error %.3g at [%zu] (netc %.9g, PyTorch %.9g) is %.3g of the "
                  "scale %.3g; the tolerance is 1e-4",
                  what, err, worst, (double)got[worst], (double)want[worst], rel, scale);
    return rel;
}

/* The step runs on 3 threads: a sample-parallel net (the LeNets, kinds)
 * then splits its batch into 3 uneven shares whatever the machine's cores. */
static void run_single(const parity_case *c, const char *bin, const char *dir)
{
    e2e_run r = e2e_sh("'%s' --load '%s/weights.safetensors' --train-step '%s/x.npy' "
                       "--threads 3 "
                       "--labels '%s/y.npy' --dump parity_%s.st --no-dropout --lr %.17g "
                       "--momentum %.17g --weight-decay %.17g --quiet && "
                       "'%s' --load '%s/weights.safetensors' --infer '%s/x.npy' "
                       "--out parity_%s.npy --quiet",
                       bin, dir, dir, dir, c->name, c->lr, c->momentum, c->wd, bin, dir, dir,
                       c->name);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);

    nt_safetensors want, got;
    nt_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ck_assert_msg(nt_st_read(&want, path, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "parity_%s.st", c->name);
    ck_assert_msg(nt_st_read(&got, e2e_work(path), &err) == 0, "%s", err.msg);

    int checked = 0;
    for (int i = 0; i < want.ntensors; i++) {
        const char *name = want.tensors[i].name;
        size_t nw = 0, ng = 0;
        float *w = tensor(&want, name, &nw);
        float *g;
        if (strcmp(name, "eval_logits") == 0) {
            int64_t shape[8];
            int ndim;
            snprintf(path, sizeof path, "parity_%s.npy", c->name);
            ck_assert_msg(nt_npy_read_f32(e2e_work(path), &g, shape, &ndim, &err) == 0, "%s",
                          err.msg);
            ng = (size_t)(shape[0] * shape[1]);
        } else {
            g = tensor(&got, name, &ng);
        }
        double scale = strncmp(name, "grad.", 5) == 0 ? layer_grad_scale(&want, name)
                                                      : max_abs(w, nw);
        char what[600];
        snprintf(what, sizeof what, "%s: %s", c->name, name);
        check(what, g, ng, w, nw, scale);
        checked++;
        free(w);
        free(g);
    }
    ck_assert_msg(checked >= 5, "%s: only %d tensors compared", c->name, checked);
    nt_st_free(&want);
    nt_st_free(&got);
}

static void run_curve(const parity_case *c, const char *bin, const char *dir)
{
    e2e_run r = e2e_sh("'%s' --load '%s/weights.safetensors' --train-step '%s/x.npy' "
                       "--labels '%s/y.npy' --dump parity_%s.st --no-dropout --lr %.17g "
                       "--quiet",
                       bin, dir, dir, dir, c->name, c->lr);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    nt_safetensors want, got;
    nt_error err;
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ck_assert_msg(nt_st_read(&want, path, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "parity_%s.st", c->name);
    ck_assert_msg(nt_st_read(&got, e2e_work(path), &err) == 0, "%s", err.msg);
    size_t n = 0, ne = 0, ng = 0;
    float *ref = tensor(&want, "losses", &n), *env = tensor(&want, "envelope", &ne);
    float *ours = tensor(&got, "losses", &ng);
    ck_assert_msg(ref && env && ours && n == ne && n == ng && n >= 10, "%s: curves missing",
                  c->name);
    for (size_t s = 0; s < n; s++) {
        double diff = fabs((double)ours[s] - ref[s]);
        double tol = 1e-4 * fabs(ref[s]) + 4.0 * env[s];
        if (getenv("NETC_TEST_VERBOSE"))
            fprintf(stderr, "  %s step %2zu: PyTorch %.7f netc %.7f diff %.3g tolerance %.3g\n",
                    c->name, s + 1, ref[s], ours[s], diff, tol);
        ck_assert_msg(diff <= tol,
                      "%s: step %zu loss %.7f, PyTorch %.7f: difference %.3g > tolerance %.3g "
                      "(1e-4 relative + 4 x PyTorch's own envelope %.3g)",
                      c->name, s + 1, ours[s], ref[s], diff, tol, env[s]);
    }
    free(ref);
    free(env);
    free(ours);
    nt_st_free(&want);
    nt_st_free(&got);
}

START_TEST(against_pytorch)
{
    parity_case cases[32];
    int n = e2e_parity_cases(cases, 32);
    ck_assert_msg(_i < n, "cases.txt lists %d cases, want at least %d", n, _i + 1);
    const parity_case *c = &cases[_i];
    char defines[512], file[128], bin[128], dir[4096];
    e2e_netc_defines(c->defines, defines, sizeof defines);
    snprintf(file, sizeof file, "%s.net", c->net); /* nets/NET.net, else tests/e2e/nets/ */
    snprintf(dir, sizeof dir, "%s/%s", e2e_src("nets"), file);
    if (access(dir, F_OK) != 0)
        snprintf(file, sizeof file, "../tests/e2e/nets/%s.net", c->net);
    snprintf(bin, sizeof bin, "parity_%s", c->name);
    const char *path = e2e_build(file, defines, bin);
    snprintf(dir, sizeof dir, "%s", e2e_src("tests/e2e/parity"));
    strncat(dir, "/", sizeof dir - strlen(dir) - 1);
    strncat(dir, c->name, sizeof dir - strlen(dir) - 1);
    if (strncmp(c->name, "curve_", 6) == 0)
        run_curve(c, path, dir);
    else
        run_single(c, path, dir);
}
END_TEST

static Suite *parity_suite(void)
{
    Suite *s = suite_create("parity");
    TCase *tc = tcase_create("nets against PyTorch");
    tcase_set_timeout(tc, 300);
    /* the seven seed networks, two loss curves, mobilenet, resnext and
     * every newer layer kind (cases.txt) */
    tcase_add_loop_test(tc, against_pytorch, 0, 12);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parity_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
