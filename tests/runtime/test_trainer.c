/* test_trainer.c - nt_trainer_main (trainer.c) run in-process on the
 * hand-written networks of tiny_net.c and small IDX datasets generated here
 * (8x8 and 12x12 images of a learnable pattern, raw and gzip): the command
 * line, the data pipeline, training, determinism and --resume, checkpoints,
 * --eval, --infer and --train-step. One test reads the real Fashion-MNIST at
 * the default path and fails if it is not installed. */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nt_data.h"
#include "nt_io.h"
#include "nt_trainer.h"
#include "testutil.h"
#include "tiny_net.h"

/* Check's 4 s default is too short under valgrind. */
#define TIMEOUT 240

/* ---- temporary files ------------------------------------------------------- */


static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    buf[len] = 0;
    if (size)
        *size = len;
    return buf;
}

static int same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- datasets ------------------------------------------------------------------ */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_idx(const char *path, int gz, int images, int n, int side,
                      const uint8_t *data)
{
    unsigned char head[16];
    put_be32(head, images ? 0x803 : 0x801);
    put_be32(head + 4, (uint32_t)n);
    put_be32(head + 8, (uint32_t)side);
    put_be32(head + 12, (uint32_t)side);
    size_t hlen = images ? 16 : 8;
    size_t dlen = images ? (size_t)n * side * side : (size_t)n;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, head, (unsigned)hlen), (int)hlen);
        ck_assert_int_eq(gzwrite(f, data, (unsigned)dlen), (int)dlen);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(head, 1, hlen, f), hlen);
        ck_assert_uint_eq(fwrite(data, 1, dlen, f), dlen);
        ck_assert_int_eq(fclose(f), 0);
    }
}

/* Class c < 8 lights row c (scaled to the side), 8 and 9 a column, on
 * noise: learnable by every net here, not by chance. */
static void draw(uint8_t *img, int side, int c, nt_rng *rng)
{
    for (int i = 0; i < side * side; i++)
        img[i] = (uint8_t)nt_rng_below(rng, 60);
    for (int k = 0; k < side; k++) {
        int at = c < 8 ? c * side / 8 : (c == 8 ? side / 4 : 3 * side / 4);
        int i = c < 8 ? at * side + k : k * side + at;
        img[i] = (uint8_t)(180 + nt_rng_below(rng, 60));
    }
}

static void write_split(const char *dir, const char *split, int n, int side,
                        int gz, nt_rng *rng)
{
    uint8_t *images = malloc((size_t)n * side * side), *labels = malloc(n);
    for (int i = 0; i < n; i++) {
        labels[i] = (uint8_t)nt_rng_below(rng, 10);
        draw(images + (size_t)i * side * side, side, labels[i], rng);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, split,
             gz ? ".gz" : "");
    write_idx(path, gz, 1, n, side, images);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, split,
             gz ? ".gz" : "");
    write_idx(path, gz, 0, n, side, labels);
    free(images);
    free(labels);
}

/* The temporary directory's subdirectory `name`, with ntrain and ntest images of side x side; returns the dir. */
static const char *make_data(const char *name, int ntrain, int ntest,
                             int side, int gz)
{
    static char dirs[4][512];
    static int k;
    k = (k + 1) % 4;
    char *dir = dirs[k];
    snprintf(dir, sizeof dirs[k], "%s/%s", tu_tmpdir(), name);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    nt_rng rng;
    nt_rng_seed(&rng, 1234);
    write_split(dir, "train", ntrain, side, gz, &rng);
    write_split(dir, "t10k", ntest, side, gz, &rng);
    return dir;
}

/* The usual data: 200 training and 50 test images, 8x8, gzip. */
static const char *data8(void) { return make_data("d8", 200, 50, 8, 1); }

/* ---- running the trainer ---------------------------------------------------- */

typedef struct result {
    int status;
    char *out, *err;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* Runs nt_trainer_main(net) with the space-separated arguments, capturing
 * stdout and stderr. */
static result run(const nt_net_desc *net, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char *argv[64];
    int argc = 0;
    argv[argc++] = "tiny_trainer";
    for (char *t = strtok(line, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;

    char out_path[600], err_path[600];
    snprintf(out_path, sizeof out_path, "%s/.stdout", tu_tmpdir());
    snprintf(err_path, sizeof err_path, "%s/.stderr", tu_tmpdir());
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    FILE *fo = fopen(out_path, "w"), *fe = fopen(err_path, "w");
    ck_assert(so >= 0 && se >= 0 && fo && fe);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    result r;
    r.status = nt_trainer_main(net, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    fclose(fo);
    fclose(fe);
    r.out = slurp(out_path, NULL);
    r.err = slurp(err_path, NULL);
    return r;
}

#define ASSERT_STATUS(r, want)                                                \
    ck_assert_msg((r).status == (want),                                       \
                  "status %d, want %d\nstdout:\n%.3000s\nstderr:\n%.3000s",   \
                  (r).status, (want), (r).out, (r).err)

#define ASSERT_HAS(text, want)                                                \
    ck_assert_msg(strstr((text), (want)) != NULL,                             \
                  "missing \"%s\" in:\n%.3000s", (want), (text))

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The value of "key": in a JSON line. */
static double json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, line);
    return strtod(p + strlen(pat), NULL);
}

/* Line k (0-based) of text, in a static buffer. */
static const char *line_of(const char *text, int k)
{
    static char buf[1024];
    for (int i = 0; i < k && text; i++) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    ck_assert_ptr_nonnull(text);
    size_t n = strcspn(text, "\n");
    ck_assert_uint_lt(n, sizeof buf);
    memcpy(buf, text, n);
    buf[n] = 0;
    return buf;
}

/* A float32 array file. */
static void write_npy(const char *path, const float *x, const int64_t *shape,
                      int ndim)
{
    nt_error err = {{0}};
    ck_assert_msg(nt_npy_write_f32(path, x, shape, ndim, &err) == 0, "%s",
                  err.msg);
}

/* A model of net loaded from a checkpoint. */
static void load_model(nt_model *m, const nt_net_desc *net, int batch,
                       const char *path)
{
    nt_error err = {{0}};
    ck_assert_msg(nt_model_alloc(m, net, batch, &err) == 0, "%s", err.msg);
    nt_model_init(m, 1);
    ck_assert_msg(nt_checkpoint_load(m, path, 0, NULL, &err) == 0, "%s",
                  err.msg);
}

/* ---- command line ----------------------------------------------------------- */

START_TEST(test_help_and_version)
{
    tu_tmpdir_make("trainer");
    result r = run(&tiny_net, "--help");
    ASSERT_STATUS(r, 0);
    const char *flags[] = {
        "--data DIR", "--limit-train N", "--limit-test N", "--resize N",
        "--epochs N", "--lr X", "--batch-size N", "--momentum X",
        "--weight-decay X", "--seed N", "--threads N", "--no-dropout",
        "--save PATH", "--load PATH", "--resume PATH", "--eval",
        "--infer IN.npy", "--out OUT.npy", "--train-step X.npy", "--labels Y.npy",
        "--dump OUT.safetensors", "--shapes", "--log FILE", "--plot FILE.svg",
        "--quiet", "-h, --help", "--version",
        /* the tiny net's defaults */
        "(default 3)", "(default 0.1)", "(default 32)",
        "(default /usr/share/datasets/fashion-mnist)", "(default 8 x 8)",
        "(default 1)", "Exit status"};
    for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
        ASSERT_HAS(r.out, flags[k]);
    result_free(&r);
    r = run(&tiny_net, "--lr 0.5 -h");
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "usage: tiny_trainer [options]");
    result_free(&r);
    r = run(&tiny_net, "--version");
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "net tiny, netc " NT_VERSION);
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_bad_command_lines)
{
    tu_tmpdir_make("trainer");
    static const char *const cases[][2] = {
        {"--epochs", "--epochs needs a value"},
        {"--epochs -1", "--epochs needs an integer from 0 to 1000000, got '-1'"},
        {"--epochs 2x", "got '2x'"},
        {"--lr abc", "--lr needs a positive number, got 'abc'"},
        {"--lr 0", "--lr needs a positive number, got '0'"},
        {"--lr=-0.1", "--lr needs a positive number, got '-0.1'"},
        {"--lr nan", "--lr needs a positive number, got 'nan'"},
        {"--momentum 1", "--momentum needs a number in [0, 1), got '1'"},
        {"--weight-decay -1", "--weight-decay needs a number >= 0"},
        {"--batch-size 0", "--batch-size needs an integer from 1 to 65536"},
        {"--batch-size 1", "batch norm cannot train on batches of one"},
        {"--threads 0", "--threads needs an integer from 1"},
        {"--seed -3", "--seed needs an integer from 0 to 18446744073709551615"},
        {"--limit-train 0", "--limit-train needs an integer from 1"},
        {"--limit-test x", "--limit-test needs an integer"},
        {"--resize 28", "the input size of net tiny is compiled in as 8x8 by its "
                        "input(...) in tests/runtime/tiny_net.c; change it there"},
        {"--lr 0x10", "--lr needs a positive number, got '0x10'"},
        {"--lr inf", "--lr needs a positive number, got 'inf'"},
        {"--lr=+.5e", "--lr needs a positive number, got '+.5e'"},
        {"--momentum 0X.8p-1", "--momentum needs a number in [0, 1), got '0X.8p-1'"},
        {"--bogus", "unknown option '--bogus'"},
        {"extra", "unexpected argument 'extra'"},
        {"--quiet=1", "--quiet takes no value"},
        {"--data=", "--data needs a non-empty value"},
        {"--out y.npy", "--out is the output of --infer, which is missing"},
        {"--infer x.npy", "--infer needs --out OUT.npy"},
        {"--train-step x.npy --labels y.npy", "--train-step needs --labels"},
        {"--dump d.safetensors", "--dump belongs to --train-step"},
        {"--load a --resume b", "--load and --resume exclude each other"},
        {"--eval --infer x.npy --out y.npy", "choose one of --eval, --infer"},
        {"--eval --save w", "--save is for training; it does not go with "
                            "--eval"},
        {"--infer x --out y --log l", "--log is for training"},
        {"--eval --profile", "--profile times training steps"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        result r = run(&tiny_net, "%s", cases[k][0]);
        ck_assert_msg(r.status == 2, "'%s': status %d, want 2; stderr: %s",
                      cases[k][0], r.status, r.err);
        ck_assert_msg(strncmp(r.err, "tiny_trainer: ", 14) == 0 &&
                      strstr(r.err, cases[k][1]) != NULL &&
                      strstr(r.err, "(run 'tiny_trainer --help' for usage)"),
                      "'%s': stderr \"%s\" lacks \"%s\"", cases[k][0], r.err,
                      cases[k][1]);
        ck_assert_msg(r.out[0] == 0, "'%s' printed: %s", cases[k][0], r.out);
        ck_assert_int_eq(count_lines(r.err), 2);
        result_free(&r);
    }
    /* the -D size=N hint only for a net with a parameter 'size' (issue 13) */
    static const char *const with_size[] = {"size", NULL};
    nt_net_desc sized = tiny_net;
    sized.net_params = with_size;
    result r = run(&sized, "--resize 28");
    ASSERT_STATUS(r, 2);
    ASSERT_HAS(r.err, "the input size of net tiny is compiled in as 8x8; rebuild the trainer "
                      "with 'netc build -D size=28'");
    result_free(&r);
    r = run(&sized, "--help");
    /* the help is wrapped: compare with runs of white space made one space */
    char *flat = strdup(r.out);
    size_t k = 0;
    for (const char *c = r.out; *c; c++)
        if (!isspace((unsigned char)*c) || (k > 0 && flat[k - 1] != ' '))
            flat[k++] = isspace((unsigned char)*c) ? ' ' : *c;
    flat[k] = 0;
    ASSERT_HAS(flat, "rebuild with netc build -D size=N for another");
    free(flat);
    result_free(&r);
    r = run(&tiny_net, "--help");
    ck_assert_ptr_null(strstr(r.out, "-D size"));
    result_free(&r);
    /* a flat net has no images to resize */
    r = run(&tiny_flat_net, "--resize 8");
    ASSERT_STATUS(r, 2);
    ASSERT_HAS(r.err, "takes a flat input of 64 features");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_shapes)
{
    tu_tmpdir_make("trainer");
    result r = run(&tiny_net, "--shapes --lr 0.3");
    ASSERT_STATUS(r, 0);
    char want[4096] = "";
    for (const char *const *l = tiny_net.layer_table; *l; l++)
        strcat(want, *l);
    ck_assert_str_eq(r.out, want);
    ASSERT_HAS(r.out, "conv1       conv2d");
    ASSERT_HAS(r.out, "total  698 parameters");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* ---- data ---------------------------------------------------------------------- */

START_TEST(test_missing_and_corrupt_data)
{
    tu_tmpdir_make("trainer");
    result r = run(&tiny_net, "--data %s --epochs 1", tu_tmp("none"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "no images file for split 'train'");
    ASSERT_HAS(r.err, tu_tmp("none/train-images-idx3-ubyte.gz"));
    ck_assert_int_eq(count_lines(r.err), 1);
    result_free(&r);

    /* raw files, one cut short */
    const char *dir = make_data("cut", 40, 10, 8, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    ck_assert_int_eq(truncate(path, 16 + 9 * 64 + 10), 0);
    r = run(&tiny_net, "--data %s --epochs 1", dir);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, path);
    result_free(&r);

    /* a label the net has no class for */
    const char *bad = tu_tmp("bad");
    ck_assert_int_eq(mkdir(bad, 0700), 0);
    uint8_t img[2 * 64] = {0}, lab[2] = {3, 12};
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", bad);
    write_idx(path, 0, 1, 2, 8, img);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", bad);
    write_idx(path, 0, 0, 2, 8, lab);
    r = run(&tiny_net, "--data %s --epochs 1", bad);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "label 12 of example 1 is not below the number of "
                      "classes, 10");
    result_free(&r);

    /* images of another size than a flat net's input */
    dir = make_data("d12", 20, 10, 12, 0);
    r = run(&tiny_flat_net, "--data %s --epochs 1", dir);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "net tiny_flat takes a flat input of 64 features, but "
                      "the images in");
    ASSERT_HAS(r.err, "have 1x12x12 = 144 values");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_default_data_path)
{
    /* Debian's dataset-fashion-mnist must be installed: this fails if not */
    tu_tmpdir_make("trainer");
    result r = run(&softmax28_net, "--eval --limit-test 100 --threads 1");
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "test acc ");
    ASSERT_HAS(r.out, "/100, initial weights)");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* dst: the images of src resized to side x side by the test itself. */
static void write_resized(const char *dst, const char *src, int side)
{
    ck_assert_int_eq(mkdir(dst, 0700), 0);
    const char *splits[2] = {"train", "t10k"};
    for (int k = 0; k < 2; k++) {
        nt_dataset ds;
        nt_error err = {{0}};
        ck_assert_msg(nt_dataset_load(&ds, src, splits[k], 10, &err) == 0,
                      "%s", err.msg);
        uint8_t *small = malloc((size_t)ds.n * side * side);
        for (int i = 0; i < ds.n; i++)
            nt_resize_bilinear_u8(small + (size_t)i * side * side, side, side,
                                  ds.images + (size_t)i * ds.h * ds.w, ds.h,
                                  ds.w);
        char path[600];
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dst, splits[k]);
        write_idx(path, 0, 1, ds.n, side, small);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dst, splits[k]);
        for (int i = 0; i < ds.n; i++)
            small[i] = (uint8_t)ds.labels[i];
        write_idx(path, 0, 0, ds.n, side, small);
        free(small);
        nt_dataset_free(&ds);
    }
}

START_TEST(test_resize_pipeline)
{
    /* 12x12 images resized per batch to the tiny net's 8x8 train exactly as
     * the same images resized beforehand */
    tu_tmpdir_make("trainer");
    const char *dir = make_data("d12", 120, 30, 12, 1);
    const char *args = "--epochs 2 --momentum 0.9 --threads 2";
    result r = run(&tiny_net, "--data %s %s --save %s", dir, args, tu_tmp("w12"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "30 test images, 12x12 (resized to 8x8 per batch)");
    result_free(&r);
    write_resized(tu_tmp("d8"), dir, 8);
    r = run(&tiny_net, "--data %s %s --save %s", tu_tmp("d8"), args, tu_tmp("w8"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "30 test images, 8x8\n");
    result_free(&r);
    ck_assert_msg(same_bytes(tu_tmp("w12"), tu_tmp("w8")),
                  "resizing per batch trained other weights than resizing "
                  "beforehand");
    tu_tmpdir_remove();
}
END_TEST

/* ---- training ---------------------------------------------------------------- */

START_TEST(test_training_learns)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    result r = run(&tiny_net, "--data %s --epochs 4 --momentum 0.9 --log %s "
                   "--plot %s --threads 1", dir, tu_tmp("log"), tu_tmp("p.svg"));
    ASSERT_STATUS(r, 0);
    const char *banner[] = {
        "net       tiny (tests/runtime/tiny_net.c, netc " NT_VERSION ")\n",
        "200 training and 50 test images, 8x8\n",
        "input     1x8x8, 10 classes, 698 parameters\n",
        "lr 0.1  momentum 0.9  weight decay 0  batch size 32  epochs 4\n",
        "run       1 thread  seed 1  kernels ",
        "conv1       conv2d              1 x 4x8x8",
        "epoch 1/4  loss ", "epoch 4/4  loss ", " examples/s  ",
        "done: loss "};
    for (size_t k = 0; k < sizeof banner / sizeof *banner; k++)
        ASSERT_HAS(r.out, banner[k]);
    ck_assert_msg(strchr(r.err, '\r') == NULL && r.err[0] == 0,
                  "stderr is not a terminal, yet: %s", r.err);
    result_free(&r);

    char *log = slurp(tu_tmp("log"), NULL);
    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(count_lines(log), 4);
    const char *keys[] = {"epoch", "loss", "train_acc", "test_acc",
                          "examples_per_sec", "seconds", "lr"};
    for (int e = 0; e < 4; e++)
        for (int k = 0; k < 7; k++)
            json_field(line_of(log, e), keys[k]);
    ck_assert(json_field(line_of(log, 3), "epoch") == 4);
    ck_assert(json_field(line_of(log, 3), "lr") == 0.1);
    ck_assert(json_field(line_of(log, 3), "examples_per_sec") > 0);
    double loss1 = json_field(line_of(log, 0), "loss");
    double loss4 = json_field(line_of(log, 3), "loss");
    double acc4 = json_field(line_of(log, 3), "test_acc");
    ck_assert_msg(loss4 < 0.7 * loss1, "loss %g -> %g", loss1, loss4);
    /* chance is 0.1 */
    ck_assert_msg(acc4 >= 0.5, "test acc %g after 4 epochs", acc4);
    free(log);

    char *svg = slurp(tu_tmp("p.svg"), NULL);
    ck_assert_ptr_nonnull(svg);
    ASSERT_HAS(svg, "<svg");
    ASSERT_HAS(svg, "test acc");
    free(svg);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_flat_net_learns)
{
    tu_tmpdir_make("trainer");
    const char *dir = make_data("raw", 200, 50, 8, 0);
    result r = run(&tiny_flat_net, "--data %s --epochs 5 --batch-size 20 "
                   "--lr 0.5 --log %s --quiet", dir, tu_tmp("log"));
    ASSERT_STATUS(r, 0);
    /* --quiet keeps only the final line */
    ck_assert_int_eq(count_lines(r.out), 1);
    ck_assert(strncmp(r.out, "done: loss ", 11) == 0);
    result_free(&r);
    char *log = slurp(tu_tmp("log"), NULL);
    double acc = json_field(line_of(log, 4), "test_acc");
    ck_assert_msg(acc >= 0.5, "test acc %g", acc);
    free(log);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_final_batch_of_one)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    /* 65 = 2 x 32 + 1 */
    result r = run(&tiny_net, "--data %s --limit-train 65 --epochs 2 --save %s",
                   dir, tu_tmp("w"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "65 of 200 training");
    ASSERT_HAS(r.out, "the last batch of every epoch would hold 1 example, "
                      "which batch norm cannot train on; it is skipped");
    ASSERT_HAS(r.out, "epoch 2/2  loss");
    result_free(&r);
    nt_safetensors st;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_st_read(&st, tu_tmp("w"), &err), 0);
    ck_assert_str_eq(nt_st_meta(&st, "step"), "4");
    ck_assert_str_eq(nt_st_meta(&st, "epoch"), "2");
    nt_st_free(&st);
    /* one example in all is too few */
    r = run(&tiny_net, "--data %s --limit-train 1 --epochs 1", dir);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "1 training example: too few to train on");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_epochs_zero_saves_initial_weights)
{
    tu_tmpdir_make("trainer");
    /* no data is read when nothing is trained */
    result r = run(&tiny_net, "--data %s --epochs 0 --seed 5 --save %s",
                   tu_tmp("none"), tu_tmp("w0"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "not read (no epoch to train)");
    ASSERT_HAS(r.out, "saved the initial weights to ");
    result_free(&r);
    nt_model m, want;
    load_model(&m, &tiny_net, 1, tu_tmp("w0"));
    nt_error err = {{0}};
    ck_assert_int_eq(nt_model_alloc(&want, &tiny_net, 1, &err), 0);
    nt_model_init(&want, 5);
    TU_ASSERT_CLOSE("initial weights", m.params, want.params,
                    tiny_net.param_floats, 0.0, 0.0);
    nt_model_free(&m);
    nt_model_free(&want);
    tu_tmpdir_remove();
}
END_TEST

/* ---- determinism and --resume ----------------------------------------------- */

START_TEST(test_same_seed_same_bytes)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    const char *args = "--epochs 2 --momentum 0.9 --threads 2 --quiet";
    result r = run(&tiny_net, "--data %s %s --save %s", dir, args, tu_tmp("a"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s %s --save %s", dir, args, tu_tmp("b"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s %s --save %s --seed 2", dir, args, tu_tmp("c"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    ck_assert_msg(same_bytes(tu_tmp("a"), tu_tmp("b")), "same seed, other bytes");
    ck_assert_msg(!same_bytes(tu_tmp("a"), tu_tmp("c")), "other seed, same bytes");
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_resume_is_bit_identical)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    /* momentum, weight decay and dropout all carry state across epochs */
    const char *args = "--momentum 0.9 --weight-decay 0.001 --seed 3";
    result r = run(&tiny_net, "--data %s %s --epochs 3 --save %s --quiet", dir,
                   args, tu_tmp("full"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s %s --epochs 1 --save %s --log %s --quiet",
            dir, args, tu_tmp("part"), tu_tmp("log"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s --momentum 0.9 --weight-decay 0.001 "
            "--resume %s --epochs 3 --save %s --log %s", dir, tu_tmp("part"),
            tu_tmp("resumed"), tu_tmp("log"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "(resuming after epoch 1, step 7)");
    ASSERT_HAS(r.out, "seed 3");
    ck_assert_ptr_null(strstr(r.out, "epoch 1/3"));
    ASSERT_HAS(r.out, "epoch 2/3  loss");
    ASSERT_HAS(r.out, "epoch 3/3  loss");
    result_free(&r);
    ck_assert_msg(same_bytes(tu_tmp("full"), tu_tmp("resumed")),
                  "resuming after epoch 1 of 3 gave other weights");
    char *log = slurp(tu_tmp("log"), NULL);
    ck_assert_int_eq(count_lines(log), 3); /* appended */
    ck_assert(json_field(line_of(log, 2), "epoch") == 3);
    free(log);

    /* a finished run has nothing left to do */
    r = run(&tiny_net, "--data %s --momentum 0.9 --resume %s --epochs 3", dir,
            tu_tmp("full"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "already trained for 3 epochs; nothing to do");
    result_free(&r);
    /* another seed would not continue the same run */
    r = run(&tiny_net, "--data %s --momentum 0.9 --resume %s --epochs 4 "
            "--seed 7", dir, tu_tmp("part"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "the run was seeded with 3, not 7");
    result_free(&r);
    /* momentum needs the buffers the checkpoint of a momentum-free run lacks */
    r = run(&tiny_net, "--data %s --epochs 1 --save %s --quiet", dir,
            tu_tmp("plain"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s --momentum 0.9 --resume %s --epochs 2", dir,
            tu_tmp("plain"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "lacks tensor 'momentum.conv1.weight' of net tiny");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* Adam's moments and step, a per-iteration schedule with warm-up, label
 * smoothing and clipping: a resumed run still gives the same bytes, the
 * checkpoint holds adam.m.NAME and adam.v.NAME, and the log shows the lr. */
START_TEST(test_resume_adam_is_bit_identical)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    const char *args = "--optimizer adamw --lr 0.01 --weight-decay 0.01 --lr-schedule cosine "
                       "--lr-step-per iteration --t-max 30 --warmup 3 --label-smoothing 0.1 "
                       "--clip-grad-norm 1 --seed 3";
    result r = run(&tiny_net, "--data %s %s --epochs 3 --save %s --log %s --quiet", dir,
                   args, tu_tmp("full"), tu_tmp("fulllog"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s %s --epochs 1 --save %s --quiet", dir, args,
            tu_tmp("part"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s %s --resume %s --epochs 3 --save %s", dir, args,
            tu_tmp("part"), tu_tmp("resumed"));
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "recipe    optimizer=adamw lr_schedule=cosine lr_step_per=iteration t_max=30 "
                      "warmup=3 label_smoothing=0.1 clip_grad_norm=1");
    result_free(&r);
    ck_assert_msg(same_bytes(tu_tmp("full"), tu_tmp("resumed")),
                  "resuming Adam after epoch 1 of 3 gave other weights");
    nt_safetensors st;
    nt_error err = {{0}};
    ck_assert_msg(nt_st_read(&st, tu_tmp("full"), &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(nt_st_find(&st, "adam.m.conv1.weight"));
    ck_assert_ptr_nonnull(nt_st_find(&st, "adam.v.conv1.weight"));
    ck_assert_ptr_null(nt_st_find(&st, "momentum.conv1.weight"));
    nt_st_free(&st);
    /* cosine per iteration over 3 epochs: the lr falls every epoch */
    char *log = slurp(tu_tmp("fulllog"), NULL);
    const double lr1 = json_field(line_of(log, 0), "lr"), lr3 = json_field(line_of(log, 2), "lr");
    ck_assert_msg(lr1 > lr3 && lr3 > 0 && lr1 < 0.01, "lr %g then %g", lr1, lr3);
    free(log);
    /* a plain SGD checkpoint has no moments to resume Adam from */
    r = run(&tiny_net, "--data %s --epochs 1 --save %s --quiet", dir, tu_tmp("plain"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s --optimizer adam --resume %s --epochs 2", dir,
            tu_tmp("plain"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "lacks tensor 'adam.m.conv1.weight' of net tiny (Adam's moments are "
                      "needed to resume Adam)");
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* ---- checkpoints -------------------------------------------------------------- */

START_TEST(test_save_load_eval)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    result r = run(&tiny_net, "--data %s --epochs 2 --save %s --log %s --quiet",
                   dir, tu_tmp("w"), tu_tmp("log"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    char *log = slurp(tu_tmp("log"), NULL);
    double acc = json_field(line_of(log, 1), "test_acc");
    free(log);

    r = run(&tiny_net, "--data %s --eval --load %s --quiet", dir, tu_tmp("w"));
    ASSERT_STATUS(r, 0);
    int correct, total;
    ck_assert_int_eq(sscanf(r.out, "test acc %*f (%d/%d", &correct, &total), 2);
    ck_assert_int_eq(total, 50);
    /* the same weights on the same images: the same count */
    ck_assert_msg(correct == (int)lround(acc * 50), "eval %d/50, training "
                  "reported %g", correct, acc);
    result_free(&r);

    /* --load then --save with no epoch: the same tensors, a fresh run */
    r = run(&tiny_net, "--load %s --epochs 0 --save %s --quiet", tu_tmp("w"),
            tu_tmp("w2"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    nt_model a, b;
    load_model(&a, &tiny_net, 1, tu_tmp("w"));
    load_model(&b, &tiny_net, 1, tu_tmp("w2"));
    TU_ASSERT_CLOSE("reloaded", b.params, a.params, tiny_net.param_floats,
                    0.0, 0.0);
    nt_model_free(&a);
    nt_model_free(&b);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_load_refused)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    result r = run(&tiny_flat_net, "--epochs 0 --save %s", tu_tmp("flat"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--epochs 0 --save %s", tu_tmp("tiny"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    r = run(&tiny_net, "--data %s --load %s --epochs 1", dir, tu_tmp("flat"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "the checkpoint lacks tensor 'conv1.weight' of net tiny");
    ck_assert_int_eq(count_lines(r.err), 1);
    result_free(&r);
    r = run(&tiny_flat_net, "--data %s --eval --load %s", dir, tu_tmp("tiny"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "the checkpoint has tensor 'conv1.weight', which net "
                      "tiny_flat lacks");
    result_free(&r);
    /* a file that is no checkpoint at all */
    FILE *f = fopen(tu_tmp("junk"), "w");
    fputs("not a safetensors file", f);
    fclose(f);
    r = run(&tiny_net, "--eval --data %s --load %s", dir, tu_tmp("junk"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, tu_tmp("junk"));
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* ---- --infer and --train-step --------------------------------------------------- */

START_TEST(test_infer)
{
    tu_tmpdir_make("trainer");
    const char *dir = data8();
    result r = run(&tiny_net, "--data %s --epochs 1 --save %s --quiet", dir,
                   tu_tmp("w"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    enum { N = 37, B = 16 };
    float x[N * 64];
    nt_rng rng;
    nt_rng_seed(&rng, 5);
    tu_fill(x, N * 64, 0.0f, 1.0f, &rng);
    const int64_t shape[4] = {N, 1, 8, 8};
    write_npy(tu_tmp("x.npy"), x, shape, 4);
    /* 37 examples in batches of 16, 16 and 5 */
    r = run(&tiny_net, "--infer %s --out %s --load %s --batch-size %d",
            tu_tmp("x.npy"), tu_tmp("y.npy"), tu_tmp("w"), B);
    ASSERT_STATUS(r, 0);
    ASSERT_HAS(r.out, "wrote eval-mode logits [37, 10] of net tiny to ");
    result_free(&r);
    float *y;
    int64_t yshape[8];
    int ndim;
    nt_error err = {{0}};
    ck_assert_int_eq(nt_npy_read_f32(tu_tmp("y.npy"), &y, yshape, &ndim, &err),
                     0);
    ck_assert_int_eq(ndim, 2);
    ck_assert(yshape[0] == N && yshape[1] == 10);
    /* the eval-mode logits of the loaded model, the same batches */
    nt_model m;
    load_model(&m, &tiny_net, B, tu_tmp("w"));
    float want[N * 10];
    for (int first = 0; first < N; first += B) {
        int n = N - first < B ? N - first : B;
        memcpy(m.input, x + first * 64, (size_t)n * 64 * sizeof(float));
        tiny_net.forward(&m, n, 0);
        memcpy(want + first * 10, m.logits, (size_t)n * 10 * sizeof(float));
    }
    /* the same computation in the same order: exact */
    TU_ASSERT_CLOSE("logits", y, want, N * 10, 0.0, 0.0);
    nt_model_free(&m);
    free(y);

    /* a wrong size is refused */
    const int64_t bad[4] = {3, 1, 9, 9};
    write_npy(tu_tmp("bad.npy"), x, bad, 4);
    r = run(&tiny_net, "--infer %s --out %s", tu_tmp("bad.npy"), tu_tmp("z.npy"));
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "the array is [3, 1, 9, 9], but net tiny takes [N, 1, "
                      "8, 8]");
    result_free(&r);
    ck_assert_int_ne(access(tu_tmp("z.npy"), F_OK), 0);
    /* a flat net takes [N, F] too */
    const int64_t flat[2] = {2, 64};
    write_npy(tu_tmp("f.npy"), x, flat, 2);
    r = run(&tiny_flat_net, "--infer %s --out %s", tu_tmp("f.npy"), tu_tmp("z.npy"));
    ASSERT_STATUS(r, 0);
    result_free(&r);
    tu_tmpdir_remove();
}
END_TEST

/* Reads tensor `name` of a safetensors file into a new buffer. */
static float *st_tensor(const nt_safetensors *st, const char *name,
                        size_t want_count)
{
    const nt_st_tensor *t = nt_st_find(st, name);
    ck_assert_msg(t != NULL, "no tensor %s in the dump", name);
    ck_assert_str_eq(t->dtype, "F32");
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++)
        count *= (size_t)t->shape[d];
    ck_assert_uint_eq(count, want_count);
    float *x = malloc(count * sizeof(float));
    nt_st_copy_f32(st, t, x);
    return x;
}

START_TEST(test_train_step)
{
    tu_tmpdir_make("trainer");
    enum { N = 8 };
    float x[N * 64], y[N];
    nt_rng rng;
    nt_rng_seed(&rng, 9);
    tu_fill(x, N * 64, 0.0f, 1.0f, &rng);
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (int32_t)nt_rng_below(&rng, 10);
        y[i] = (float)labels[i];
    }
    const int64_t xs[4] = {N, 1, 8, 8}, ys[1] = {N};
    write_npy(tu_tmp("x.npy"), x, xs, 4);
    write_npy(tu_tmp("y.npy"), y, ys, 1);

    for (int variant = 0; variant < 2; variant++) {
        const nt_optim_config c = variant == 0 ? nt_optim_sgd(0.5f, 0, 0)
                                               : nt_optim_sgd(0.5f, 0.9f, 0.01f);
        result r = run(&tiny_net, "--train-step %s --labels %s --dump %s "
                       "--no-dropout --seed 3 --lr 0.5 --momentum %g "
                       "--weight-decay %g", tu_tmp("x.npy"), tu_tmp("y.npy"),
                       tu_tmp("d"), (double)c.momentum, (double)c.weight_decay);
        ASSERT_STATUS(r, 0);
        ASSERT_HAS(r.out, "one training step of net tiny on 8 examples");
        result_free(&r);

        nt_safetensors st;
        nt_error err = {{0}};
        ck_assert_msg(nt_st_read(&st, tu_tmp("d"), &err) == 0, "%s", err.msg);
        ck_assert_str_eq(nt_st_meta(&st, "format"), "netc-train-step-1");
        ck_assert_str_eq(nt_st_meta(&st, "dropout"), "off");
        /* logits, loss, 6 gradients, 8 tensors */
        ck_assert_int_eq(st.ntensors, 2 + 6 + 8);
        ck_assert_str_eq(st.tensors[0].name, "logits");
        ck_assert(st.tensors[0].ndim == 2 && st.tensors[0].shape[0] == N &&
                  st.tensors[0].shape[1] == 10);

        /* the same step in the test: same seed, same batch */
        nt_model m;
        ck_assert_int_eq(nt_model_alloc(&m, &tiny_net, N, &err), 0);
        nt_model_init(&m, 3);
        m.dropout_enabled = 0;
        float *before = malloc(tiny_net.param_floats * sizeof(float));
        memcpy(before, m.params, tiny_net.param_floats * sizeof(float));
        memcpy(m.input, x, sizeof x);
        float probs[N * 10];
        float loss = nt_model_train_step(&m, N, labels, probs, NULL, &c);

        float *got = st_tensor(&st, "loss", 1);
        ck_assert(got[0] == loss && loss > 0);
        free(got);
        got = st_tensor(&st, "logits", N * 10);
        TU_ASSERT_CLOSE("logits", got, m.logits, N * 10, 0.0, 0.0);
        free(got);
        for (int i = 0; i < tiny_net.ntensors; i++) {
            const nt_tensor_desc *t = &tiny_net.tensors[i];
            char name[96];
            float *after = st_tensor(&st, t->name, t->count);
            TU_ASSERT_CLOSE(t->name, after, m.params + t->offset, t->count,
                            0.0, 0.0);
            if (t->trainable) {
                snprintf(name, sizeof name, "grad.%s", t->name);
                float *g = st_tensor(&st, name, t->count);
                TU_ASSERT_CLOSE(name, g, m.grads + t->offset, t->count, 0.0,
                                0.0);
                /* the first step of torch.optim.SGD: the momentum buffer
                 * is the decayed gradient, so
                 * after = before - lr * (grad + wd * before) */
                float *want = malloc(t->count * sizeof(float));
                for (size_t k = 0; k < t->count; k++) {
                    float b = before[t->offset + k];
                    want[k] = b + -c.lr * (g[k] + c.weight_decay * b);
                }
                TU_ASSERT_CLOSE("SGD step", after, want, t->count, 0.0, 0.0);
                free(want);
                free(g);
            } else {
                snprintf(name, sizeof name, "grad.%s", t->name);
                ck_assert_ptr_null(nt_st_find(&st, name));
            }
            free(after);
        }
        free(before);
        nt_model_free(&m);
        nt_st_free(&st);
    }
    tu_tmpdir_remove();
}
END_TEST

START_TEST(test_train_step_refuses)
{
    tu_tmpdir_make("trainer");
    float x[4 * 64] = {0}, y[4] = {1, 2, 3, 4};
    const int64_t xs[4] = {4, 1, 8, 8}, ys[1] = {4}, ys3[1] = {3};
    write_npy(tu_tmp("x.npy"), x, xs, 4);
    const char *dump = tu_tmp("d");
    struct {
        float bad;
        const char *want;
    } cases[] = {{2.5f, "label 2.5 of example 2 is not a class number from 0 "
                        "to 9"},
                 {10.0f, "label 10 of example 2"},
                 {-1.0f, "label -1 of example 2"},
                 {NAN, "of example 2 is not a class number"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        y[2] = cases[k].bad;
        write_npy(tu_tmp("y.npy"), y, ys, 1);
        result r = run(&tiny_net, "--train-step %s --labels %s --dump %s",
                       tu_tmp("x.npy"), tu_tmp("y.npy"), dump);
        ASSERT_STATUS(r, 1);
        ASSERT_HAS(r.err, cases[k].want);
        result_free(&r);
    }
    write_npy(tu_tmp("y3.npy"), y, ys3, 1);
    result r = run(&tiny_net, "--train-step %s --labels %s --dump %s",
                   tu_tmp("x.npy"), tu_tmp("y3.npy"), dump);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "the labels must be an array [4]");
    result_free(&r);
    /* batch norm cannot train on one example */
    const int64_t one[4] = {1, 1, 8, 8}, ys1[1] = {1};
    write_npy(tu_tmp("x1.npy"), x, one, 4);
    write_npy(tu_tmp("y1.npy"), y, ys1, 1);
    r = run(&tiny_net, "--train-step %s --labels %s --dump %s", tu_tmp("x1.npy"),
            tu_tmp("y1.npy"), dump);
    ASSERT_STATUS(r, 1);
    ASSERT_HAS(r.err, "batch norm cannot train on one");
    result_free(&r);
    ck_assert_int_ne(access(dump, F_OK), 0);
    tu_tmpdir_remove();
}
END_TEST

static Suite *trainer_suite(void)
{
    Suite *s = suite_create("trainer");
    struct {
        const char *name;
        const TTest *tests[8];
    } cases[] = {
        {"cli", {test_help_and_version, test_bad_command_lines, test_shapes}},
        {"data", {test_missing_and_corrupt_data, test_default_data_path,
                  test_resize_pipeline}},
        {"train", {test_training_learns, test_flat_net_learns,
                   test_final_batch_of_one,
                   test_epochs_zero_saves_initial_weights}},
        {"determinism", {test_same_seed_same_bytes,
                         test_resume_is_bit_identical, test_resume_adam_is_bit_identical}},
        {"checkpoint", {test_save_load_eval, test_load_refused}},
        {"modes", {test_infer, test_train_step, test_train_step_refuses}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        TCase *tc = tcase_create(cases[c].name);
        tcase_set_timeout(tc, TIMEOUT);
        for (int t = 0; t < 8 && cases[c].tests[t]; t++)
            tcase_add_test(tc, cases[c].tests[t]);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trainer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
