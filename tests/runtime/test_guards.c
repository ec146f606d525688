/* test_guards.c - the trainer's guards (issue 13), one TCase per file:
 * outputs.c (outputs that are devices, directories, FIFOs, dangling links,
 * or the same file as another output or an input; writing through symbolic
 * links), desc_check.c (inconsistent net descriptions), finite.c (NaN and
 * infinity in tensors and checkpoints, divergence reports, plain decimal
 * numbers), history.c (the curves in checkpoint metadata, log trimming),
 * signals.c (the first signal only sets a flag) and the .npy reader's
 * refusal of NUL bytes in the header. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hardening.h"
#include "nt_io.h"
#include "nt_trainer.h"
#include "testutil.h"
#include "tiny_net.h"

#define TIMEOUT 120

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* nt_outputs_check on the given (option, path, output, group) rows. */
static int check(nt_error *err, int n, const nt_path_arg *args)
{
    memset(err, 0, sizeof *err);
    return nt_outputs_check(args, n, NULL, err);
}

/* ---- outputs.c ------------------------------------------------------------------ */

START_TEST(test_outputs_not_regular)
{
    tu_tmpdir_make("guards");
    nt_error err;
    const char *fifo = tu_tmp("fifo"), *dir = tu_tmp("dir"), *dang = tu_tmp("dangling");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(symlink("nowhere", dang), 0);
    nt_path_arg a = {"--save", fifo, 1, 1};
    ck_assert_int_eq(check(&err, 1, &a), -1);
    ck_assert_msg(strstr(err.msg, "--save ") && strstr(err.msg, "is a FIFO; outputs are "
                  "regular files"), "%s", err.msg);
    a = (nt_path_arg){"--plot", dir, 1, 0};
    ck_assert_int_eq(check(&err, 1, &a), -1);
    ck_assert_msg(strstr(err.msg, "is a directory"), "%s", err.msg);
    a = (nt_path_arg){"--log", dang, 1, 0};
    ck_assert_int_eq(check(&err, 1, &a), -1);
    ck_assert_msg(strstr(err.msg, "a symbolic link to a missing file"), "%s", err.msg);
    a = (nt_path_arg){"--log", "/dev/null", 1, 0};
    ck_assert_int_eq(check(&err, 1, &a), -1);
    ck_assert_msg(strstr(err.msg, "--log /dev/null is a character device"), "%s", err.msg);
    /* inputs may be anything; a new file and an existing regular file are fine */
    nt_path_arg ok[] = {{"--infer", fifo, 0, 0}, {"--save", tu_tmp("new.st"), 1, 1}};
    ck_assert_msg(check(&err, 2, ok) == 0, "%s", err.msg);
    /* the atomic writer refuses them too, leaving the FIFO a FIFO */
    nt_atomic_file af;
    ck_assert_int_eq(nt_atomic_open(&af, fifo, &err), -1);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_outputs_same_file)
{
    tu_tmpdir_make("guards");
    nt_error err;
    const char *x = tu_tmp("x.st"), *data = tu_tmp("a.npy"), *lnk = tu_tmp("link.npy");
    write_text(data, "data");
    ck_assert_int_eq(symlink("a.npy", lnk), 0);
    char dotted[700];
    snprintf(dotted, sizeof dotted, "%s/./x.st", tu_tmpdir());
    /* two outputs, one not existing yet, spelled differently */
    nt_path_arg two[] = {{"--save", x, 1, 1}, {"--log", dotted, 1, 0}};
    ck_assert_int_eq(check(&err, 2, two), -1);
    ck_assert_msg(strstr(err.msg, "are the same file; each output needs its own"), "%s",
                  err.msg);
    /* an output over an input, through a symbolic link */
    nt_path_arg inout[] = {{"--infer", data, 0, 0}, {"--out", lnk, 1, 0}};
    ck_assert_int_eq(check(&err, 2, inout), -1);
    ck_assert_msg(strstr(err.msg, "would overwrite --infer"), "%s", err.msg);
    ck_assert_str_eq(read_text(data), "data");
    /* a hard link is the same file too */
    const char *hard = tu_tmp("hard.npy");
    ck_assert_int_eq(link(data, hard), 0);
    nt_path_arg hardl[] = {{"--train-step", data, 0, 0}, {"--dump", hard, 1, 0}};
    ck_assert_int_eq(check(&err, 2, hardl), -1);
    /* --save may rewrite the checkpoint --resume read (same group) */
    nt_path_arg resume[] = {{"--resume", data, 0, 1}, {"--save", data, 1, 1}};
    ck_assert_msg(check(&err, 2, resume) == 0, "%s", err.msg);
    /* the training data in --data */
    const char *dir = tu_tmp("data");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    char img[700];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", dir);
    write_text(img, "images");
    nt_path_arg save = {"--save", img, 1, 1};
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(nt_outputs_check(&save, 1, dir, &err), -1);
    ck_assert_msg(strstr(err.msg, "would overwrite the training data"), "%s", err.msg);
    ck_assert_str_eq(read_text(img), "images");
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_atomic_write_through_link)
{
    tu_tmpdir_make("guards");
    nt_error err = {{0}};
    const char *target = tu_tmp("target.txt"), *link = tu_tmp("link.txt");
    write_text(target, "old");
    ck_assert_int_eq(symlink("target.txt", link), 0);
    nt_atomic_file af;
    ck_assert_msg(nt_atomic_open(&af, link, &err) == 0, "%s", err.msg);
    fputs("new", af.fp);
    ck_assert_msg(nt_atomic_commit(&af, &err) == 0, "%s", err.msg);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the symbolic link was replaced");
    ck_assert_str_eq(read_text(target), "new");
    tu_tmpdir_remove();
}
END_TEST

/* ---- desc_check.c -------------------------------------------------------------- */

START_TEST(test_desc_check)
{
    nt_model m;
    nt_error err = {{0}};
    ck_assert_msg(nt_net_desc_check(&tiny_net, &err) == 0, "%s", err.msg);
    /* issue 13: a net without learnable tensors had dlogits at offset -1 */
    nt_net_desc bad = tiny_net;
    bad.dlogits_offset = (size_t)-1;
    ck_assert_int_eq(nt_model_alloc(&m, &bad, 4, &err), -1);
    ck_assert_msg(strstr(err.msg, "the gradient of the logits at 18446744073709551615 is "
                  "outside the 1968 floats of activations"), "%s", err.msg);
    ck_assert_ptr_null(m.act);
    bad = tiny_net;
    bad.logits_offset = bad.act_floats - 5;
    ck_assert_int_eq(nt_net_desc_check(&bad, &err), -1);
    ck_assert_msg(strstr(err.msg, "the logits at"), "%s", err.msg);
    bad = tiny_net;
    nt_tensor_desc t[8];
    memcpy(t, tiny_net.tensors, sizeof t);
    t[6].offset = tiny_net.param_floats - 10; /* linear1.weight [10, 64] */
    bad.tensors = t;
    ck_assert_int_eq(nt_net_desc_check(&bad, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'linear1.weight' does not fit"), "%s", err.msg);
    /* only running statistics: nothing to train */
    bad = tiny_net;
    bad.tensors = tiny_net.tensors + 4;
    bad.ntensors = 2;
    ck_assert_int_eq(nt_net_desc_check(&bad, &err), -1);
    ck_assert_str_eq(err.msg, "net tiny has no learnable parameters: there is nothing to "
                              "train");
    bad.ntensors = 0;
    ck_assert_int_eq(nt_net_desc_check(&bad, &err), -1);
    nt_layer_desc layer = {.path = "conv1", .op = "conv2d", .line = 3, .out_offset = 1960,
                           .out_floats = 256};
    bad = tiny_net;
    bad.layers = &layer;
    bad.nlayers = 1;
    ck_assert_int_eq(nt_net_desc_check(&bad, &err), -1);
    ck_assert_msg(strstr(err.msg, "layer 0's output is outside"), "%s", err.msg);
}
END_TEST

/* ---- finite.c --------------------------------------------------------------------- */

START_TEST(test_nonfinite_scan)
{
    float x[100];
    for (int i = 0; i < 100; i++)
        x[i] = (float)i - 50.0f;
    ck_assert_uint_eq(nt_first_nonfinite(x, 100), 100);
    ck_assert(nt_all_finite(x, 100));
    x[70] = INFINITY;
    x[90] = NAN;
    ck_assert_uint_eq(nt_first_nonfinite(x, 100), 70);
    ck_assert(!nt_all_finite(x, 100));
    ck_assert(nt_all_finite(x, 70));
    x[70] = -INFINITY;
    ck_assert(!nt_all_finite(x, 71));
    x[70] = 3.4e38f; /* large but finite */
    ck_assert(nt_all_finite(x, 71));
}
END_TEST

START_TEST(test_plain_decimal)
{
    static const char *const yes[] = {"1", "0.5", ".5", "5.", "-2", "+3e-4", "1E10", "007"};
    static const char *const no[] = {"", "0x10", "0X1p3", "inf", "-inf", "nan", "NAN(1)",
                                     " 1", "1 ", "1e", "1e+", ".", "+", "1..2", "1,5",
                                     "infinity"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(nt_is_plain_decimal(yes[i]), "'%s' refused", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!nt_is_plain_decimal(no[i]), "'%s' accepted", no[i]);
}
END_TEST

/* The tiny model's checkpoint with one value changed. */
static void save_with(const char *path, const char *tensor, size_t k, float v)
{
    nt_model m;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&m, &tiny_net, 2, &err), 0);
    nt_model_init(&m, 5);
    for (int i = 0; i < tiny_net.ntensors; i++)
        if (strcmp(tiny_net.tensors[i].name, tensor) == 0)
            m.params[tiny_net.tensors[i].offset + k] = v;
    ck_assert_msg(nt_checkpoint_save(&m, path, 1, 1, NULL, &err) == 0, "%s", err.msg);
    nt_model_free(&m);
}

START_TEST(test_load_refuses_nonfinite)
{
    tu_tmpdir_make("guards");
    const char *path = tu_tmp("c.safetensors");
    static const struct { const char *tensor; size_t k; float v; const char *want; } cases[] = {
        {"conv1.weight", 7, NAN, "tensor 'conv1.weight' holds nan (element 7): not a usable"},
        {"linear1.bias", 9, INFINITY, "tensor 'linear1.bias' holds inf (element 9)"},
        {"batchnorm1.running_mean", 0, -INFINITY, "'batchnorm1.running_mean' holds -inf"},
        {"batchnorm1.running_var", 2, -0.5f, "tensor 'batchnorm1.running_var' holds -0.5 "
                                             "(element 2): a variance cannot be negative"},
    };
    nt_model m;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&m, &tiny_net, 2, &err), 0);
    nt_model_init(&m, 1);
    const float before = m.params[0];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        save_with(path, cases[c].tensor, cases[c].k, cases[c].v);
        ck_assert_int_eq(nt_checkpoint_load(&m, path, 0, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, cases[c].want) && strstr(err.msg, path), "%s",
                      err.msg);
        ck_assert(m.params[0] == before); /* the model is left as it was */
    }
    /* momentum buffers too, when loaded */
    save_with(path, "conv1.weight", 0, 0.5f);
    nt_safetensors st;
    ck_assert_int_eq(nt_st_read(&st, path, &err), 0);
    nt_st_free(&st);
    ck_assert_msg(nt_checkpoint_load(&m, path, 1, NULL, &err) == 0, "%s", err.msg);
    m.momentum[tiny_net.tensors[1].offset] = NAN;
    ck_assert_int_eq(nt_checkpoint_save(&m, path, 1, 1, NULL, &err), 0);
    ck_assert_int_eq(nt_checkpoint_load(&m, path, 1, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "tensor 'momentum.conv1.bias' holds nan"), "%s", err.msg);
    /* and the model check used before saving */
    m.params[tiny_net.tensors[7].offset + 3] = NAN;
    ck_assert_int_eq(nt_model_check_finite(&m, "x: ", &err), -1);
    ck_assert_msg(strstr(err.msg, "x: tensor 'linear1.bias' holds nan (element 3)"), "%s",
                  err.msg);
    nt_model_free(&m);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_diagnose_divergence)
{
    /* a layer table over the tiny net's arena (see tiny_net.c) */
    static const nt_layer_desc layers[] = {
        {.path = "conv1", .op = "conv2d", .line = 3, .out_offset = 64, .out_floats = 256},
        {.path = "batchnorm1", .op = "batchnorm", .line = 3, .out_offset = 320,
         .out_floats = 256},
        {.path = "relu1", .op = "relu", .line = 3, .out_offset = 576, .out_floats = 256},
        {.path = "linear1", .op = "linear", .line = 4, .out_offset = 1040, .out_floats = 10},
    };
    nt_net_desc net = tiny_net;
    net.layers = layers;
    net.nlayers = 4;
    nt_model m;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&m, &net, 2, &err), 0);
    nt_model_init(&m, 1);
    char buf[400];
    nt_diagnose_divergence(&m, 2, buf, sizeof buf);
    ck_assert_str_eq(buf, "the loss itself overflowed (every output, gradient and parameter "
                          "is finite)");
    m.params[tiny_net.tensors[0].offset] = INFINITY;
    nt_diagnose_divergence(&m, 2, buf, sizeof buf);
    ck_assert_str_eq(buf, "the update made conv1.weight (conv2d, tests/runtime/tiny_net.c:3) "
                          "non-finite (inf; its gradient was finite)");
    m.grads[tiny_net.tensors[6].offset + 1] = NAN;  /* linear1.weight */
    m.grads[tiny_net.tensors[0].offset] = NAN;      /* conv1.weight: later in backward */
    nt_diagnose_divergence(&m, 2, buf, sizeof buf);
    ck_assert_str_eq(buf, "the gradient of linear1.weight (linear, tests/runtime/tiny_net.c:4) "
                          "went non-finite first (nan, in the backward pass)");
    m.act[576 * 2 + 300] = -INFINITY;   /* relu1, second example */
    m.act[1040 * 2 + 3] = NAN;          /* linear1 */
    nt_diagnose_divergence(&m, 2, buf, sizeof buf);
    ck_assert_str_eq(buf, "the output of layer relu1 (relu, tests/runtime/tiny_net.c:3) went "
                          "non-finite first (-inf, in the forward pass)");
    /* only the first n examples count */
    nt_diagnose_divergence(&m, 1, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "layer linear1 "), "%s", buf);
    nt_model_free(&m);
}
END_TEST

/* ---- history.c ----------------------------------------------------------------- */

START_TEST(test_history_roundtrip)
{
    nt_curves a, b;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_curves_alloc(&a, 3, 10, &err), 0);
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < 10; i++)
            if (nt_curve_point_due(i, 10)) {
                nt_curves_add_train(&a, e + (i + 1) / 10.0, 1.0 / (e + i + 1.3), 0.1 * i);
                nt_curves_add_lr(&a, 0.1 / (e * 10 + i + 1));
            }
        nt_curves_add_test(&a, e + 1, e == 1 ? NAN : 0.3 + e / 7.0);
    }
    char *text = nt_history_format(&a);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(strncmp(text, "train 0.2000", 12), 0);
    /* all of it */
    ck_assert_int_eq(nt_curves_alloc(&b, 3, 10, &err), 0);
    ck_assert_int_eq(nt_history_parse(&b, text, 3), 0);
    ck_assert_int_eq(b.n, a.n);
    ck_assert_int_eq(b.ntest, 3);
    for (int i = 0; i < a.n; i++)
        ck_assert(a.x[i] == b.x[i] && a.loss[i] == b.loss[i] && a.acc[i] == b.acc[i] &&
                  a.lr[i] == b.lr[i]);
    ck_assert(isnan(b.test_acc[1]) && b.test_acc[2] == a.test_acc[2]);
    /* room is kept for the planned epochs after a resume */
    ck_assert_int_ge(b.cap - b.n, 3 * 5);
    nt_curves_free(&b);
    /* up to epoch 1: later points dropped */
    ck_assert_int_eq(nt_curves_alloc(&b, 3, 10, &err), 0);
    ck_assert_int_eq(nt_history_parse(&b, text, 1), 0);
    ck_assert_int_eq(b.n, 5);
    ck_assert_int_eq(b.ntest, 1);
    ck_assert_int_eq(nt_history_parse(&b, "train 1,2; test 1", 1), -1);
    ck_assert_int_eq(nt_history_parse(&b, "train 1,2,3; test 1,0.5", 1), -1); /* no lr */
    ck_assert_int_eq(nt_history_parse(&b, "nonsense", 1), -1);
    nt_curves_free(&b);
    nt_curves_free(&a);
    free(text);
}
END_TEST

START_TEST(test_log_keep_epochs)
{
    tu_tmpdir_make("guards");
    nt_error err = {{0}};
    const char *log = tu_tmp("log.jsonl");
    ck_assert_int_eq(nt_log_keep_epochs(log, 2, &err), 0); /* no log yet */
    write_text(log, "{\"epoch\": 1, \"loss\": 1}\n{\"epoch\": 2, \"loss\": 2}\n"
                    "{\"epoch\": 3, \"loss\": 3}\n{\"epoch\": 12, \"loss\": 4}\n");
    ck_assert_int_eq(nt_log_keep_epochs(log, 2, &err), 2);
    ck_assert_str_eq(read_text(log), "{\"epoch\": 1, \"loss\": 1}\n{\"epoch\": 2, \"loss\": 2}\n");
    ck_assert_int_eq(nt_log_keep_epochs(log, 2, &err), 0);
    tu_tmpdir_remove();
}
END_TEST

/* ---- signals.c ------------------------------------------------------------------- */

START_TEST(test_first_signal_sets_a_flag)
{
    /* stderr gets the "stopping after the current step" note */
    nt_signals_catch();
    ck_assert_int_eq(nt_signals_pending(), 0);
    raise(SIGTERM);
    ck_assert_int_eq(nt_signals_pending(), SIGTERM);
    ck_assert_str_eq(nt_signal_name(SIGTERM), "SIGTERM");
    nt_signals_release();
    ck_assert_int_eq(nt_signals_pending(), 0);
    /* a signal ignored by the parent (a shell's background job) stays ignored */
    signal(SIGINT, SIG_IGN);
    nt_signals_catch();
    raise(SIGINT);
    ck_assert_int_eq(nt_signals_pending(), 0);
    nt_signals_release();
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    ck_assert(sa.sa_handler == SIG_IGN);
    signal(SIGINT, SIG_DFL);
}
END_TEST

START_TEST(test_second_signal_removes_the_temporary_file)
{
    tu_tmpdir_make("guards");
    const char *path = tu_tmp("ck.safetensors");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        nt_error err;
        nt_atomic_file af;
        nt_signals_catch();
        if (nt_atomic_open(&af, path, &err) != 0)
            _exit(3);
        fputs("half", af.fp);
        raise(SIGINT);
        raise(SIGINT); /* ends the process here */
        _exit(4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "status %d", status);
    /* neither the file nor its temporary remains */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", tu_tmpdir());
    ck_assert_int_eq(system(cmd), 0);
    tu_tmpdir_remove();
}
END_TEST

/* ---- npy.c: NUL bytes ------------------------------------------------------------- */

START_TEST(test_npy_nul_in_header)
{
    tu_tmpdir_make("guards");
    const char *path = tu_tmp("x.npy");
    /* descr '<f4' followed by a NUL and garbage inside the quotes */
    const char header[] = "{'descr': '<f4\0xx', 'fortran_order': False, 'shape': (1,), }";
    unsigned char buf[128];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    const size_t hlen = 128 - 10 - 4;
    buf[8] = (unsigned char)hlen;
    buf[9] = 0;
    memcpy(buf + 10, header, sizeof header - 1);
    buf[10 + hlen - 1] = '\n';
    memset(buf + 124, 0, 4);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    float *x = NULL;
    int64_t shape[8];
    int ndim;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_npy_read_f32(path, &x, shape, &ndim, &err), -1);
    ck_assert_msg(strstr(err.msg, "malformed .npy header: a NUL byte at offset 14"), "%s",
                  err.msg);
    ck_assert_ptr_null(x);
    tu_tmpdir_remove();
}
END_TEST

static Suite *guards_suite(void)
{
    Suite *s = suite_create("guards");
    struct { const char *name; const TTest *tests[4]; } cases[] = {
        {"outputs", {test_outputs_not_regular, test_outputs_same_file,
                     test_atomic_write_through_link}},
        {"desc", {test_desc_check}},
        {"finite", {test_nonfinite_scan, test_plain_decimal, test_load_refuses_nonfinite,
                    test_diagnose_divergence}},
        {"history", {test_history_roundtrip, test_log_keep_epochs}},
        {"signals", {test_first_signal_sets_a_flag,
                     test_second_signal_removes_the_temporary_file}},
        {"npy", {test_npy_nul_in_header}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        TCase *tc = tcase_create(cases[c].name);
        tcase_set_timeout(tc, TIMEOUT);
        for (int t = 0; t < 4 && cases[c].tests[t]; t++)
            tcase_add_test(tc, cases[c].tests[t]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(guards_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
