/* test_sgd.c - sgd.c against a double-precision reference of
 * torch.optim.SGD's update, the first-step momentum buffer, and numbers from
 * PyTorch itself. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "fixtures/sgd_torch.h"
#include "nt_kernels.h"

/* One step of torch.optim.SGD in double (dampening 0, no Nesterov). */
static void ref_step(double *p, const float *grad, double *buf, size_t n,
                     const nt_sgd_config *c, int first)
{
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] + (double)c->weight_decay * p[i];
        if (c->momentum != 0) {
            buf[i] = first ? g : (double)c->momentum * buf[i] + g;
            g = buf[i];
        }
        p[i] -= (double)c->lr * g;
    }
}

typedef struct sgd_case {
    const char *name;
    nt_sgd_config c;
} sgd_case;

static const sgd_case cases[] = {
    {"plain", {0.1f, 0, 0, 0}},
    {"momentum", {0.05f, 0.9f, 0, 0}},
    {"weight decay", {0.1f, 0, 0.01f, 0}},
    {"momentum and weight decay", {0.02f, 0.8f, 5e-4f, 0}},
};

/* Five steps on 1000 parameters; the momentum buffer starts as garbage,
 * which first_step must ignore. */
START_TEST(test_steps)
{
    const sgd_case *k = &cases[_i];
    enum { N = 1000, STEPS = 5 };
    float *p = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));
    float *buf = k->c.momentum != 0 ? malloc(N * sizeof(float)) : NULL;
    double *rp = malloc(N * sizeof(double)), *rb = malloc(N * sizeof(double));
    ck_assert(p && g && rp && rb);
    nt_rng rng;
    nt_rng_seed(&rng, 1 + _i);
    tu_fill(p, N, -1, 1, &rng);
    for (int i = 0; i < N; i++)
        rp[i] = p[i];
    if (buf)
        nt_init_const(buf, N, 1e6f);
    for (int s = 0; s < STEPS; s++) {
        tu_fill(g, N, -1, 1, &rng);
        nt_sgd_step(p, g, buf, N, &k->c, s == 0);
        ref_step(rp, g, rb, N, &k->c, s == 0);
        /* the buffer is the first (decayed) gradient, whatever it held:
         * one float rounding of grad + wd * param, |.| < 1.001, half an
         * ulp is 1.2e-7 at most */
        if (s == 0 && buf)
            TU_ASSERT_CLOSE_D("first-step buffer", buf, rb, N, 1.2e-7, 0);
    }
    /* each step rounds the parameter (|p| < 2: 1.2e-7) and lr * buf
     * (|buf| < 1 / (1 - momentum) = 10); five steps stay below 1e-6 */
    TU_ASSERT_CLOSE_D(k->name, p, rp, N, 1e-6, 0);
    if (buf)
        TU_ASSERT_CLOSE_D("momentum buffer", buf, rb, N, 1e-6, 0);
    free(p);
    free(g);
    free(buf);
    free(rp);
    free(rb);
}
END_TEST

/* Above sgd.c's fork threshold (65536): one and two threads agree. */
START_TEST(test_threads)
{
    enum { N = 100000 };
    const nt_sgd_config c = {0.1f, 0.9f, 1e-3f, 0};
    float *p[2] = {malloc(N * sizeof(float)), malloc(N * sizeof(float))};
    float *b[2] = {malloc(N * sizeof(float)), malloc(N * sizeof(float))};
    float *g = malloc(N * sizeof(float));
    ck_assert(p[0] && p[1] && b[0] && b[1] && g);
    nt_rng rng;
    nt_rng_seed(&rng, 20);
    tu_fill(p[0], N, -1, 1, &rng);
    memcpy(p[1], p[0], N * sizeof(float));
    for (int s = 0; s < 2; s++) {
        tu_fill(g, N, -1, 1, &rng);
        for (int th = 1; th <= 2; th++) {
            nt_set_num_threads(th);
            nt_sgd_step(p[th - 1], g, b[th - 1], N, &c, s == 0);
        }
    }
    ck_assert_mem_eq(p[0], p[1], N * sizeof(float));
    ck_assert_mem_eq(b[0], b[1], N * sizeof(float));
    free(p[0]);
    free(p[1]);
    free(b[0]);
    free(b[1]);
    free(g);
}
END_TEST

/* ---- PyTorch --------------------------------------------------------------- */

START_TEST(test_torch)
{
    const struct {
        const char *name;
        const float *p0, *grads, *after;
        float lr, momentum, wd;
    } t[2] = {
        {"torch momentum + wd", sgd_mwd_p0, sgd_mwd_grads, sgd_mwd_p,
         sgd_mwd_lr, sgd_mwd_momentum, sgd_mwd_wd},
        {"torch wd", sgd_wd_p0, sgd_wd_grads, sgd_wd_p, sgd_wd_lr,
         sgd_wd_momentum, sgd_wd_wd},
    };
    const nt_sgd_config c = {t[_i].lr, t[_i].momentum, t[_i].wd, 0};
    float p[SGD_FIX_N], buf[SGD_FIX_N];
    memcpy(p, t[_i].p0, sizeof p);
    for (int s = 0; s < SGD_FIX_STEPS; s++) {
        nt_sgd_step(p, t[_i].grads + s * SGD_FIX_N,
                    c.momentum != 0 ? buf : NULL, SGD_FIX_N, &c, s == 0);
        /* the same float operations in the same order; PyTorch's vector
         * kernels may fuse a multiply-add: an ulp or two of |p| < 4 */
        TU_ASSERT_CLOSE(t[_i].name, p, t[_i].after + s * SGD_FIX_N, SGD_FIX_N,
                        1e-6, 0);
    }
}
END_TEST

static Suite *sgd_suite(void)
{
    Suite *s = suite_create("sgd");
    TCase *tc = tcase_create("step");
    tcase_add_loop_test(tc, test_steps, 0, sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_torch, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sgd_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
