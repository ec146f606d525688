/* test_hardening.c - suite "hardening" (issue 13): a trainer built by netc,
 * run as a user runs it, against the bad-input campaign: a net with nothing
 * to train, outputs that would destroy other files, a diverging run,
 * SIGINT and SIGTERM, kills during a save (a bounded loop), a resumed run's
 * log and plot, and the warnings about options that waste a run. The data is
 * a 300-example slice of the real Fashion-MNIST (hardening/small_data.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

#define MLP "../tests/e2e/hardening/mlp.net"
#define DATA "--data small --limit-test 50"

static const char *mlp(void)
{
    static const char *bin;
    if (!bin) {
        bin = e2e_build(MLP, "", "hardening_mlp");
        e2e_run r = e2e_sh("rm -rf small && '%s' small",
                           e2e_src("tests/e2e/hardening/small_data.sh"));
        E2E_ASSERT_STATUS(r, 0);
        e2e_free(&r);
    }
    return bin;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

START_TEST(nothing_to_train)
{
    for (int k = 0; k < 2; k++) {
        e2e_run r = e2e_sh("'%s' %s '%s' -o nothing%s", NETC_EXE, k ? "emit" : "build",
                           e2e_src("tests/e2e/hardening/nothing.net"), k ? ".c" : "");
        E2E_ASSERT_STATUS(r, 1);
        E2E_ASSERT_HAS(r.err, "nothing.net:3:5: error: net z has no learnable parameters: there "
                              "is nothing to train (add a layer with weights, such as conv "
                              "or linear)");
        e2e_free(&r);
    }
}
END_TEST

/* Each hostile output is refused with exit status 2 and leaves its victim as
 * it was. */
START_TEST(outputs_that_destroy_files)
{
    const char *bin = mlp();
    e2e_run r = e2e_sh("rm -rf out && mkdir out && cd out && mkfifo fifo && mkdir dir && "
                       "echo keep > victim && ln -s missing dangling && ln -s fifo fifolink && "
                       "echo keep > a.npy && cp -r ../small data");
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    static const char *const cases[][2] = {
        {"--save fifo", "--save fifo is a FIFO; outputs are regular files"},
        {"--save fifolink", "--save fifolink: a symbolic link to a FIFO"},
        {"--plot dir", "--plot dir is a directory"},
        {"--log /dev/null", "--log /dev/null is a character device"},
        {"--save dangling", "--save dangling: a symbolic link to a missing file"},
        {"--save victim --log victim", "--save victim and --log victim are the same file"},
        {"--save victim --plot ./victim", "--save victim and --plot ./victim are the same"},
        {"--save ../out/x.st --log x.st", "are the same file"},
        {"--save data/train-images-idx3-ubyte --data data",
         "would overwrite the training data (data/train-images-idx3-ubyte)"},
        {"--load victim --log victim", "--log victim would overwrite --load (victim)"},
        {"--infer a.npy --out a.npy", "--out a.npy would overwrite --infer (a.npy)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        r = e2e_sh("cd out && '%s' --data ../small --epochs 1 --quiet %s", bin, cases[k][0]);
        E2E_ASSERT_STATUS(r, 2);
        E2E_ASSERT_HAS(r.err, cases[k][1]);
        e2e_free(&r);
    }
    /* nothing changed: the FIFO is a FIFO, the files keep their bytes */
    r = e2e_sh("cd out && test -p fifo && test -d dir && test -L dangling && ! test -e x.st && "
               "test \"$(cat victim a.npy)\" = \"$(printf 'keep\\nkeep')\" && "
               "cmp data/train-images-idx3-ubyte ../small/train-images-idx3-ubyte");
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    /* a symbolic link to a regular file is written through, as cp does */
    r = e2e_sh("cd out && echo old > real.st && ln -s real.st link.st && "
               "'%s' --data ../small --epochs 1 --quiet --save link.st && test -L link.st && "
               "'%s' --data ../small --eval --load real.st", bin, bin);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.out, "test acc");
    e2e_free(&r);
    /* --resume and --save of the same checkpoint is how a run continues */
    r = e2e_sh("cd out && '%s' --data ../small --epochs 2 --quiet --resume real.st --save "
               "real.st", bin);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}
END_TEST

START_TEST(divergence_is_caught)
{
    const char *bin = mlp();
    e2e_run r = e2e_sh("rm -f div.st div.jsonl && '%s' " DATA " --epochs 1 --quiet --save div.st "
                       "--log div.jsonl && cp div.st div_good.st", bin);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    r = e2e_sh("'%s' " DATA " --epochs 3 --lr 1e30 --resume div.st --save div.st --log div.jsonl "
               "--plot div.svg", bin);
    E2E_ASSERT_STATUS(r, 3);
    E2E_ASSERT_HAS(r.err, "training diverged in epoch 2, step 5 (batch 2 of 3, loss ");
    E2E_ASSERT_HAS(r.err, "the output of layer linear2 (linear, ");
    E2E_ASSERT_HAS(r.err, "mlp.net:8) went non-finite first");
    E2E_ASSERT_HAS(r.err, "nothing was saved; div.st still holds epoch 1");
    E2E_ASSERT_HAS(r.err, "Try a smaller --lr (now 1e+30)");
    ck_assert_ptr_null(strstr(r.out, "epoch 2/3"));
    e2e_free(&r);
    /* the last good checkpoint is kept, the log holds only good epochs */
    r = e2e_sh("cmp div.st div_good.st && test $(wc -l < div.jsonl) = 1 && ! grep -q null "
               "div.jsonl");
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    /* a first run that diverges saves nothing */
    r = e2e_sh("rm -f div2.st && '%s' " DATA " --epochs 2 --lr 1e30 --save div2.st; "
               "st=$?; test ! -e div2.st && exit $st", bin);
    E2E_ASSERT_STATUS(r, 3);
    E2E_ASSERT_HAS(r.err, "nothing was saved yet");
    e2e_free(&r);
}
END_TEST

START_TEST(interrupt_then_resume)
{
    const char *bin = mlp();
    /* SIGINT once the first epoch is logged: the run stops between steps */
    e2e_run r = e2e_sh("rm -f int.st int.jsonl int.svg && bash -c 'set -m; "
                       "\"$0\" " DATA " --epochs 1000000 --save int.st --log int.jsonl & "
                       "pid=$!; for i in $(seq 1000); do test -s int.jsonl && break; sleep 0.01; "
                       "done; kill -INT $pid; for i in $(seq 100); do kill -0 $pid 2>/dev/null "
                       "|| break; sleep 0.1; done; kill -KILL $pid 2>/dev/null; wait $pid' '%s'",
                       bin);
    E2E_ASSERT_STATUS(r, 130);
    E2E_ASSERT_HAS(r.err, "stopped by SIGINT in epoch ");
    E2E_ASSERT_HAS(r.err, "int.st holds epoch ");
    E2E_ASSERT_HAS(r.err, "continue with --resume int.st and the same options");
    e2e_free(&r);
    r = e2e_sh("ls int.st.tmp-* 2>/dev/null | wc -l");
    ck_assert_str_eq(r.out, "0\n");
    e2e_free(&r);
    /* resume to the checkpoint's epoch + 2: every epoch logged exactly once */
    r = e2e_sh("e=$(grep -ao '\"epoch\":\"[0-9]*\"' int.st | grep -o '[0-9]*') && "
               "'%s' " DATA " --epochs $((e + 2)) --resume int.st --save int.st --log int.jsonl "
               "--quiet >/dev/null && echo $((e + 2))", bin);
    E2E_ASSERT_STATUS(r, 0);
    int epochs = atoi(r.out);
    e2e_free(&r);
    char *log = e2e_slurp(e2e_work("int.jsonl"), NULL);
    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(count(log, "\n"), epochs);
    for (int e = 1; e <= epochs; e++) {
        char want[40];
        snprintf(want, sizeof want, "{\"epoch\": %d,", e);
        ck_assert_msg(count(log, want) == 1, "epoch %d logged %d times:\n%s", e,
                      count(log, want), log);
    }
    free(log);
}
END_TEST

/* A run resumed with --plot draws the same curves as the uninterrupted run
 * (the history travels in the checkpoint). */
START_TEST(resumed_plot_is_the_whole_run)
{
    const char *bin = mlp();
    e2e_run r = e2e_sh("rm -f pa.* pb.* && '%s' " DATA " --epochs 3 --quiet --save pa.st "
                       "--plot pa.svg && '%s' " DATA " --epochs 1 --quiet --save pb.st && "
                       "'%s' " DATA " --epochs 3 --quiet --resume pb.st --save pb.st --plot pb.svg "
                       "&& cmp pa.svg pb.svg && cmp pa.st pb.st", bin, bin, bin);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
}
END_TEST

START_TEST(warnings)
{
    const char *bin = mlp();
    e2e_run r = e2e_sh("'%s' " DATA " --epochs 1 --quiet --batch-size 1000 --save w.st", bin);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.err, "warning: --batch-size 1000 is larger than the 300 training "
                          "examples: every epoch is one batch of 300");
    e2e_free(&r);
    r = e2e_sh("'%s' " DATA " --epochs 2 --quiet --resume w.st", bin);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.err, "warning: --resume without --save: the epochs trained now will not "
                          "be kept");
    e2e_free(&r);
    r = e2e_sh("'%s' " DATA " --epochs 1 --quiet --threads 1000", bin);
    E2E_ASSERT_STATUS(r, 0);
    E2E_ASSERT_HAS(r.err, "warning: --threads 1000 is more than the ");
    e2e_free(&r);
    r = e2e_sh("'%s' " DATA " --lr 0x10", bin);
    E2E_ASSERT_STATUS(r, 2);
    E2E_ASSERT_HAS(r.err, "--lr needs a positive number, got '0x10'");
    e2e_free(&r);
}
END_TEST

/* A bounded loop of kills at random moments during one-batch epochs that
 * each end in a save (hardening/kill_during_save.sh). */
START_TEST(kill_during_save)
{
    const char *bin = mlp();
    e2e_run r = e2e_sh("rm -rf kill && mkdir kill && cd kill && '%s' '%s' ../small 6 2>&1",
                       e2e_src("tests/e2e/hardening/kill_during_save.sh"), bin);
    E2E_ASSERT_STATUS(r, 0);
    const char *runs = strstr(r.out, "runs ");
    ck_assert_ptr_nonnull(runs);
    ck_assert_msg(atoi(runs + 5) >= 3, "only %d runs in 6 s", atoi(runs + 5));
    e2e_free(&r);
}
END_TEST

static Suite *hardening_suite(void)
{
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("hardening");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, nothing_to_train);
    tcase_add_test(tc, outputs_that_destroy_files);
    tcase_add_test(tc, divergence_is_caught);
    tcase_add_test(tc, interrupt_then_resume);
    tcase_add_test(tc, resumed_plot_is_the_whole_run);
    tcase_add_test(tc, warnings);
    tcase_add_test(tc, kill_during_save);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hardening_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
