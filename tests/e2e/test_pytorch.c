/* test_pytorch.c - suite "pytorch": the module `netc emit --pytorch` writes
 * reproduces the trainer. Needs /usr/bin/python3 with torch (Debian's
 * python3-torch); without it the program exits 77, which meson reports as
 * skipped (not passed).
 *
 * For BN-LeNet and a ResNet-18 of width 8 at 32x32 (batch norm, residual
 * adds, 1x1 shortcuts): train one short epoch on real data (so the batch
 * norms' running statistics are not their initial values), save the
 * checkpoint, compute the trainer's --infer logits on a fixture batch, and
 * let tests/e2e/pytorch_check.py load the checkpoint into the emitted
 * module and compare (state_dict keys, logits within 1e-4 of the largest,
 * TorchScript, ONNX export). And tests/e2e/nets/kinds.net, every layer kind
 * the seed nets lack, with its parity fixture's random weights (no ONNX:
 * PyTorch 1.13 cannot export its adaptive pooling to 3x2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static const char *const nets[][3] = {
    /* name, net, netc options */
    {"lenet_bn", "lenet_bn", ""},
    {"resnet18", "resnet18", "-D size=32 -D width=8"},
};

START_TEST(module_covers_every_kind)
{
    const char *dir = e2e_src("tests/e2e/parity/kinds");
    char d[4096];
    snprintf(d, sizeof d, "%s", dir);
    const char *trainer = e2e_build("../tests/e2e/nets/kinds.net", "", "pytorch_kinds");
    e2e_run r = e2e_sh("'%s' --load '%s/weights.safetensors' --infer '%s/x.npy' --out "
                       "pt_ref_kinds.npy --quiet && "
                       "'%s' emit --pytorch -o pt_kinds.py '%s/tests/e2e/nets/kinds.net' && "
                       "/usr/bin/python3 '%s/tests/e2e/pytorch_check.py' pt_kinds.py kinds "
                       "'%s/weights.safetensors' '%s/x.npy' pt_ref_kinds.npy --no-onnx",
                       trainer, d, d, NETC_EXE, NETC_SOURCE_DIR, NETC_SOURCE_DIR, d, d);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "%s", r.out);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.out, "of the largest |logit|");
    e2e_free(&r);
}
END_TEST

START_TEST(module_reproduces_the_trainer)
{
    const char *name = nets[_i][0], *net = nets[_i][1], *opts = nets[_i][2];
    char file[64], bin[64];
    snprintf(file, sizeof file, "%s.net", net);
    snprintf(bin, sizeof bin, "pytorch_%s", name);
    const char *trainer = e2e_build(file, opts, bin);
    e2e_run r = e2e_sh("'%s' --epochs 1 --limit-train 512 --limit-test 64 --batch-size 64 "
                       "--save pt_%s.safetensors --quiet && "
                       "'%s' --load pt_%s.safetensors --infer '%s/tests/e2e/parity/%s/x.npy' "
                       "--out pt_ref_%s.npy --quiet && "
                       "'%s' emit --pytorch %s -o pt_%s.py '%s/nets/%s' && "
                       "/usr/bin/python3 '%s/tests/e2e/pytorch_check.py' pt_%s.py %s "
                       "pt_%s.safetensors '%s/tests/e2e/parity/%s/x.npy' pt_ref_%s.npy",
                       trainer, name, trainer, name, NETC_SOURCE_DIR, name, name, NETC_EXE, opts,
                       name, NETC_SOURCE_DIR, file, NETC_SOURCE_DIR, name, net, name,
                       NETC_SOURCE_DIR, name, name);
    if (getenv("NETC_TEST_VERBOSE"))
        fprintf(stderr, "%s", r.out);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.out, "of the largest |logit|");
    e2e_free(&r);
}
END_TEST

int main(void)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("skipped: /usr/bin/python3 has no torch\n");
        return 77;
    }
    Suite *s = suite_create("pytorch");
    TCase *tc = tcase_create("emitted module");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, module_reproduces_the_trainer, 0, 2);
    tcase_add_test(tc, module_covers_every_kind);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
