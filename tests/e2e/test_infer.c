/* test_infer.c - suite "infer": the inference libraries of `netc emit
 * --inference` and the classifiers of `netc build --inference` compute what
 * the trainer's --infer computes.
 *
 *  - every seed network (shrunk as in tests/e2e/parity/cases.txt, with the
 *    parity fixtures' random weights, batch-norm running statistics
 *    included): the classifier's logits within 1e-5 of the largest |logit|
 *    of the trainer's, with batch norm folded and (two nets) without;
 *  - compiled-in weights (--weights) give the same bits as loaded ones;
 *  - tests/e2e/infer_api.c, compiled with only the emitted files under
 *    AddressSanitizer and UBSan, checks the API's promises (no allocation
 *    in predict, none at all with compiled-in weights, concurrent calls on
 *    separate workspaces) for nets with folds, concat and add;
 *  - the classifier reads gzip IDX images; bad input and a bad command
 *    line are refused with a message; emitted files are deterministic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "nt_io.h"

#define TOLERANCE 1e-5

static float *npy(const char *path, size_t *count)
{
    float *v;
    int64_t shape[8];
    int ndim;
    nt_error err;
    ck_assert_msg(nt_npy_read_f32(path, &v, shape, &ndim, &err) == 0, "%s", err.msg);
    *count = 1;
    for (int d = 0; d < ndim; d++)
        *count *= (size_t)shape[d];
    return v;
}

/* max |got - want| / max |want|, asserted within TOLERANCE */
static double compare(const char *what, const float *got, size_t ngot, const float *want,
                      size_t nwant)
{
    ck_assert_msg(ngot == nwant, "%s: %zu logits, the trainer gives %zu", what, ngot, nwant);
    double err = 0, scale = 0;
    for (size_t i = 0; i < nwant; i++) {
        double e = fabs((double)got[i] - want[i]);
        err = e > err || isnan(e) ? e : err;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    double rel = err / (scale > 0 ? scale : 1e-30);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "  %-28s max abs err %10.3g  relative to max |logit| %10.3g\n", what, err,
                rel);
    ck_assert_msg(rel <= TOLERANCE, "%s: max abs error %.3g is %.3g of the largest logit %.3g",
                  what, err, rel, scale);
    return rel;
}

static void case_paths(const parity_case *c, char *defines, size_t dcap, char *dir, size_t cap)
{
    e2e_netc_defines(c->defines, defines, dcap);
    snprintf(dir, cap, "%s", e2e_src("tests/e2e/parity"));
    strncat(dir, "/", cap - strlen(dir) - 1);
    strncat(dir, c->name, cap - strlen(dir) - 1);
}

/* The trainer's --infer logits of the case's fixture batch, in ref_NAME.npy. */
static void trainer_logits(const parity_case *c)
{
    char defines[512], dir[4096], file[128], bin[128];
    case_paths(c, defines, sizeof defines, dir, sizeof dir);
    snprintf(file, sizeof file, "%s.net", c->net);
    snprintf(bin, sizeof bin, "infer_trainer_%s", c->name);
    const char *trainer = e2e_build(file, defines, bin);
    e2e_run r = e2e_sh("'%s' --load '%s/weights.safetensors' --infer '%s/x.npy' --out "
                       "ref_%s.npy --quiet",
                       trainer, dir, dir, c->name);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}

static void classifier_logits(const parity_case *c, const char *options, const char *tag)
{
    char defines[512], dir[4096];
    case_paths(c, defines, sizeof defines, dir, sizeof dir);
    e2e_run r = e2e_sh("'%s' build --inference %s %s -o cls_%s%s '%s/nets/%s.net' && "
                       "./cls_%s%s --weights '%s/weights.safetensors' --logits out_%s%s.npy "
                       "'%s/x.npy'",
                       NETC_EXE, options, defines, c->name, tag, NETC_SOURCE_DIR, c->net, c->name,
                       tag, dir, c->name, tag, dir);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}

static void check_case(const parity_case *c, const char *tag)
{
    char got[128], want[128], what[128];
    snprintf(got, sizeof got, "out_%s%s.npy", c->name, tag);
    snprintf(want, sizeof want, "ref_%s.npy", c->name);
    snprintf(what, sizeof what, "%s%s", c->name, tag);
    size_t ng, nw;
    float *g = npy(e2e_work(got), &ng), *w = npy(e2e_work(want), &nw);
    compare(what, g, ng, w, nw);
    free(g);
    free(w);
}

static float *api_run(const parity_case *c, int builtin, size_t *count);

/* Per seed net: the classifier; without folding for two nets; the API
 * program (ASan) for nets with folds, concat and add. */
START_TEST(logits_equal_the_trainers)
{
    parity_case cases[32];
    int n = e2e_parity_cases(cases, 32);
    ck_assert_msg(_i < n, "cases.txt lists %d cases, want at least %d", n, _i + 1);
    const parity_case *c = &cases[_i];
    trainer_logits(c);
    classifier_logits(c, "", "");
    check_case(c, "");
    if (strcmp(c->name, "lenet_bn") == 0 || strcmp(c->name, "resnet18") == 0) {
        classifier_logits(c, "--no-fold", "_nofold");
        check_case(c, "_nofold");
    }
    if (strcmp(c->name, "lenet_bn") == 0 || strcmp(c->name, "googlenet") == 0 ||
        strcmp(c->name, "resnet18") == 0) {
        size_t count;
        free(api_run(c, 0, &count));
    }
}
END_TEST

static const parity_case *find_case(parity_case *cases, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    ck_abort_msg("no case %s in cases.txt", name);
    return NULL;
}

/* infer_api.c on the library of case c; weights compiled in or not.
 * Returns its logits (malloc'ed) and compares them with the trainer's
 * (trainer_logits must have run). */
static float *api_run(const parity_case *c, int builtin, size_t *count)
{
    char defines[512], dir[4096], upper[64], x[4200];
    case_paths(c, defines, sizeof defines, dir, sizeof dir);
    snprintf(upper, sizeof upper, "%s", c->net);
    for (char *p = upper; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    /* the fixture's batch as raw floats */
    size_t nx;
    snprintf(x, sizeof x, "%s/x.npy", dir);
    float *xs = npy(x, &nx);
    FILE *f = fopen(e2e_work("api_x.f32"), "wb");
    ck_assert(f && fwrite(xs, sizeof(float), nx, f) == nx && fclose(f) == 0);
    free(xs);
    size_t nref;
    snprintf(x, sizeof x, "ref_%s.npy", c->name);
    float *ref = npy(e2e_work(x), &nref);
    const char *tag = builtin ? "_builtin" : "";
    e2e_run r = e2e_sh(
        "mkdir -p api && '%s' emit --inference %s%s%s %s -o api/%s%s.c '%s/nets/%s.net' && "
        "${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror -g -O0 -fsanitize=address,undefined "
        "-fno-sanitize-recover=all -fno-omit-frame-pointer -pthread -DNET=%s -DNET_UPPER=%s "
        "'-DNET_HEADER=\"%s%s.h\"' -Iapi api/%s%s.c '%s/tests/e2e/infer_api.c' -lm "
        "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o api/%s%s && "
        "ASAN_OPTIONS=detect_leaks=1 ./api/%s%s api_x.f32 %zu api_%s%s.f32 %s%s%s",
        NETC_EXE, builtin ? "--weights '" : "", builtin ? dir : "",
        builtin ? "/weights.safetensors'" : "", defines, c->net, tag, NETC_SOURCE_DIR, c->net,
        c->net, upper, c->net, tag, c->net, tag, NETC_SOURCE_DIR, c->net, tag, c->net, tag,
        nref / 10 /* every seed net has 10 classes */, c->name, tag, builtin ? "" : "'", builtin ? "" : dir,
        builtin ? "" : "/weights.safetensors'");
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.out, builtin ? "0 allocations in init, none in predict"
                                  : "allocations in init, none in predict");
    e2e_free(&r);
    snprintf(x, sizeof x, "api_%s%s.f32", c->name, tag);
    size_t len;
    float *got = (float *)e2e_slurp(e2e_work(x), &len);
    ck_assert_msg(got != NULL, "no logits from infer_api");
    *count = len / sizeof(float);
    char what[128];
    snprintf(what, sizeof what, "%s (infer_api%s)", c->name, tag);
    compare(what, got, *count, ref, nref);
    free(ref);
    return got;
}

START_TEST(api_with_compiled_in_weights)
{
    parity_case cases[32];
    int n = e2e_parity_cases(cases, 32);
    const parity_case *c = find_case(cases, n, "lenet_bn");
    trainer_logits(c);
    size_t nl, nb;
    float *loaded = api_run(c, 0, &nl), *builtin = api_run(c, 1, &nb);
    ck_assert_msg(nl == nb && memcmp(loaded, builtin, nl * sizeof(float)) == 0,
                  "compiled-in weights do not give the bits loaded weights give");
    free(loaded);
    free(builtin);
}
END_TEST

START_TEST(classifier_reads_idx_and_refuses_bad_input)
{
    parity_case cases[32];
    int n = e2e_parity_cases(cases, 32);
    const parity_case *c = find_case(cases, n, "lenet_bn");
    char dir[4096], defines[512];
    case_paths(c, defines, sizeof defines, dir, sizeof dir);
    classifier_logits(c, "", "");
    e2e_run r = e2e_sh("./cls_lenet_bn --weights '%s/weights.safetensors' "
                       "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | wc -l",
                       dir);
    E2E_ASSERT_STATUS(r, 0);
    ck_assert_msg(atoi(r.out) == 10000, "want 10000 classes, got: %s", r.out);
    e2e_free(&r);
    /* another net's input */
    r = e2e_sh("./cls_lenet_bn --weights '%s/weights.safetensors' '%s/tests/e2e/parity/"
               "resnet18/x.npy'", dir, NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 1);
    E2E_ASSERT_HAS(r.err, "not a C-order array float32 [N, 1, 28, 28]");
    e2e_free(&r);
    /* another net's weights */
    r = e2e_sh("./cls_lenet_bn --weights '%s/tests/e2e/parity/lenet/weights.safetensors' "
               "'%s/x.npy'", NETC_SOURCE_DIR, dir);
    E2E_ASSERT_STATUS(r, 1);
    E2E_ASSERT_HAS(r.err, "no tensor 'batchnorm1.weight'");
    e2e_free(&r);
    /* not an image file; no weights */
    r = e2e_sh("./cls_lenet_bn --weights '%s/weights.safetensors' '%s/cases.txt'", dir,
               e2e_src("tests/e2e/parity"));
    E2E_ASSERT_STATUS(r, 1);
    E2E_ASSERT_HAS(r.err, "neither a .npy array nor an IDX image file");
    e2e_free(&r);
    r = e2e_sh("./cls_lenet_bn '%s/x.npy'", dir);
    E2E_ASSERT_STATUS(r, 2);
    E2E_ASSERT_HAS(r.err, "no weights compiled in");
    e2e_free(&r);
}
END_TEST

START_TEST(emitted_files_are_deterministic_and_flags_checked)
{
    e2e_run r = e2e_sh("for k in 1 2; do '%s' emit --inference '%s/nets/googlenet.net' "
                       "-o det$k.c >/dev/null && sed -i 's/det[12]/detN/g' det$k.c det$k.h; done "
                       "&& cmp det1.c det2.c && cmp det1.h det2.h",
                       NETC_EXE, NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    r = e2e_sh("'%s' build --pytorch '%s/nets/lenet.net'", NETC_EXE, NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 2);
    E2E_ASSERT_HAS(r.err, "--pytorch goes with emit");
    e2e_free(&r);
    r = e2e_sh("'%s' emit --weights w.safetensors '%s/nets/lenet.net'", NETC_EXE,
               NETC_SOURCE_DIR);
    E2E_ASSERT_STATUS(r, 2);
    E2E_ASSERT_HAS(r.err, "--weights needs --inference");
    e2e_free(&r);
    r = e2e_sh("'%s' emit --inference --weights '%s/tests/e2e/parity/lenet/weights.safetensors' "
               "-o wrongw.c '%s/nets/lenet_bn.net'; test ! -e wrongw.c",
               NETC_EXE, NETC_SOURCE_DIR, NETC_SOURCE_DIR);
    E2E_ASSERT_HAS(r.err, "error: --weights: ");
    E2E_ASSERT_HAS(r.err, "no tensor 'batchnorm1.weight'");
    E2E_ASSERT_STATUS(r, 0); /* and no half-written file */
    e2e_free(&r);
}
END_TEST

static Suite *infer_suite(void)
{
    Suite *s = suite_create("infer");
    TCase *tc = tcase_create("logits");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, logits_equal_the_trainers, 0, 7); /* the seven seed nets */
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, api_with_compiled_in_weights);
    suite_add_tcase(s, tc);
    tc = tcase_create("classifier");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, classifier_reads_idx_and_refuses_bad_input);
    tcase_add_test(tc, emitted_files_are_deterministic_and_flags_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(infer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
