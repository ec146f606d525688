/* trainer.c - nt_trainer_main, the driver behind every generated trainer:
 * the command line, the data pipeline (IDX images to float batches, resized
 * per batch when the net's input size differs from the images'), the
 * training loop of d2l's train_ch6 (minibatch SGD on softmax cross-entropy,
 * test accuracy after every epoch), checkpoints, the JSON log and the plot,
 * and the --eval, --infer, --train-step and --shapes modes.
 *
 * It never exits: every failure is a one-line message on stderr and a
 * return status (0 ok, 1 a file or the data, 2 the command line). The
 * arenas, one SGD step and checkpoints are in model.c; the progress bar,
 * epoch lines, log lines and curves in progress.c. */
#include "nt_trainer.h"
#include "nt_data.h"
#include "nt_dist.h"
#include "nt_io.h"
#include "nt_recipe.h"
#include "progress.h"
#include "hardening.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_DATA 1   /* a file, the data or the machine failed us */
#define EXIT_USAGE 2  /* the command line is wrong */
#define EXIT_DIVERGED 3 /* the loss or the weights went non-finite */

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define DEFAULT_LR 0.1
#define DEFAULT_EPOCHS 10
#define DEFAULT_BATCH 256
#define DEFAULT_SEED 1

#define MAX_EPOCHS 1000000
#define MAX_BATCH 65536
#define MAX_THREADS 1024
#define MAX_COUNT 2000000000


/* Salt of the shuffling stream (dropout's is in model.c). */
#define STREAM_SHUFFLE 0x73687566666c6500ULL /* "shuffle" */
#define STREAM_AUGMENT 0x6175676d656e7400ULL /* "augment" */

#define TRAIN_STEP_FORMAT "netc-train-step-1"

/* ---- command line ----------------------------------------------------------- */

typedef enum run_mode {
    MODE_TRAIN, MODE_EVAL, MODE_INFER, MODE_TRAIN_STEP, MODE_SHAPES,
    MODE_BENCHMARK, MODE_HELP, MODE_VERSION
} run_mode;

typedef struct options {
    run_mode mode;
    const char *data;
    int epochs, batch, threads, resize;
    double lr, momentum, weight_decay;
    uint64_t seed;
    int seed_given;
    int limit_train, limit_test;  /* 0: all */
    int quiet, no_dropout, eval, shapes, no_table;
    const char *save, *load, *resume, *log, *plot;
    const char *infer, *out, *train_step, *labels, *dump;
    const char *layout;           /* --layout nchw|nhwc; NULL: from the channel count */
    int benchmark;                /* timed steps; 0: not benchmarking */
    int profile;                  /* time every layer (nt_profile.h) */
    nt_recipe recipe;             /* optimizer, schedule, data settings (recipe.def) */
} options;

static const char *prog_name(const nt_net_desc *net, int argc, char **argv)
{
    if (argc < 1 || !argv[0] || !argv[0][0])
        return net->name;
    const char *slash = strrchr(argv[0], '/');
    return slash ? slash + 1 : argv[0];
}

static void set_defaults(options *o, const nt_net_desc *net)
{
    const nt_train_defaults *d = &net->defaults;
    memset(o, 0, sizeof *o);
    o->mode = MODE_TRAIN;
    o->data = DEFAULT_DATA;
    o->lr = d->lr > 0 ? d->lr : DEFAULT_LR;
    o->momentum = d->momentum;
    o->weight_decay = d->weight_decay;
    o->epochs = d->epochs >= 0 ? d->epochs : DEFAULT_EPOCHS;
    o->batch = d->batch_size > 0 ? d->batch_size : DEFAULT_BATCH;
    o->seed = DEFAULT_SEED;
    nt_recipe_defaults(&o->recipe);
}

static int has_batchnorm(const nt_net_desc *net)
{
    for (int i = 0; i < net->ntensors; i++)
        if (!net->tensors[i].trainable)
            return 1;
    return 0;
}

static int matches(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == 0 || a[n] == '=');
}

/* Every option: its name, what its value is, where it goes, and its help.
 * The table drives both parsing and --help. */
typedef enum opt_kind {
    OPT_FLAG,   /* no value: sets an int to 1 */
    OPT_PATH,   /* a non-empty string */
    OPT_INT,    /* an integer in [lo, hi] */
    OPT_REAL,   /* a finite number in [lo, hi], ends excluded as flagged */
    OPT_SEED,   /* an unsigned 64-bit integer */
    OPT_HELP,   /* -h, --help and --version: handled before the table */
} opt_kind;

typedef struct opt_def {
    const char *name;
    opt_kind kind;
    size_t field;               /* offsetof(options, ...) */
    double lo, hi;
    int lo_open, hi_open;       /* OPT_REAL */
    const char *what;           /* OPT_REAL: "a positive number" */
    const char *section;        /* non-NULL: --help starts this heading here */
    const char *meta;           /* the value in --help: "N", "PATH" */
    int show_default;           /* --help appends "(default ...)" */
    const char *help;
} opt_def;

#define FIELD(f) offsetof(options, f)
#define NOFIELD 0

static const opt_def opt_table[] = {
    {"--data", OPT_PATH, FIELD(data), 0, 0, 0, 0, NULL, "data", "DIR", 1,
     "NumPy arrays {train,test}_{images,labels}.npy (images uint8 or float32, labels "
     "integers) or MNIST-format IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; "
     "or four .npy paths TRAIN_IMAGES,TRAIN_LABELS,TEST_IMAGES,TEST_LABELS"},
    {"--layout", OPT_PATH, FIELD(layout), 0, 0, 0, 0, NULL, NULL, "nchw|nhwc", 0,
     "layout of 4-d .npy images (default: the one whose channel axis matches the net)"},
    {"--limit-train", OPT_INT, FIELD(limit_train), 1, MAX_COUNT, 0, 0, NULL, NULL, "N", 0,
     "use the first N training examples (default all)"},
    {"--limit-test", OPT_INT, FIELD(limit_test), 1, MAX_COUNT, 0, 0, NULL, NULL, "N", 0,
     "use the first N test examples (default all)"},
    {"--resize", OPT_INT, FIELD(resize), 1, NT_IDX_MAX_SIDE, 0, 0, NULL, NULL, "N", 1,
     "confirm the input size N x N (compiled in); images of another size are "
     "resized per batch"},
    {"--epochs", OPT_INT, FIELD(epochs), 0, MAX_EPOCHS, 0, 0, NULL, "training", "N", 1,
     "epochs to train; 0 with --save writes the initial weights"},
    {"--lr", OPT_REAL, FIELD(lr), 0, HUGE_VAL, 1, 0, "a positive number", NULL, "X", 1,
     "learning rate"},
    {"--batch-size", OPT_INT, FIELD(batch), 1, MAX_BATCH, 0, 0, NULL, NULL, "N", 1,
     "examples per batch"},
    {"--momentum", OPT_REAL, FIELD(momentum), 0, 1, 0, 1, "a number in [0, 1)", NULL, "X", 1,
     "SGD momentum, 0 <= X < 1"},
    {"--weight-decay", OPT_REAL, FIELD(weight_decay), 0, HUGE_VAL, 0, 0, "a number >= 0",
     NULL, "X", 1, "L2 penalty on every trainable tensor"},
    {"--seed", OPT_SEED, FIELD(seed), 0, 0, 0, 0, NULL, NULL, "N", 1,
     "initialisation, shuffling, dropout"},
    {"--threads", OPT_INT, FIELD(threads), 1, MAX_THREADS, 0, 0, NULL, NULL, "N", 1,
     "threads"},
    {"--no-dropout", OPT_FLAG, FIELD(no_dropout), 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "dropout is the identity in training too"},
    {"--save", OPT_PATH, FIELD(save), 0, 0, 0, 0, NULL, "checkpoints (safetensors)", "PATH",
     0, "write the weights after every epoch"},
    {"--load", OPT_PATH, FIELD(load), 0, 0, 0, 0, NULL, NULL, "PATH", 0,
     "start from these weights"},
    {"--resume", OPT_PATH, FIELD(resume), 0, 0, 0, 0, NULL, NULL, "PATH", 0,
     "continue the run saved in PATH up to --epochs: weights, optimizer state, epoch, "
     "step and seed come from PATH (an explicit --seed must match); give the other "
     "options as before"},
    {"--eval", OPT_FLAG, FIELD(eval), 0, 0, 0, 0, NULL, "other modes", NULL, 0,
     "print the test accuracy of the weights (--load or the initial ones) and exit"},
    {"--infer", OPT_PATH, FIELD(infer), 0, 0, 0, 0, NULL, NULL, "IN.npy", 0,
     "eval-mode logits [N, classes] of float32 IN [N,C,H,W]; needs --out"},
    {"--out", OPT_PATH, FIELD(out), 0, 0, 0, 0, NULL, NULL, "OUT.npy", 0,
     "where --infer writes the logits"},
    {"--train-step", OPT_PATH, FIELD(train_step), 0, 0, 0, 0, NULL, NULL, "X.npy", 0,
     "one training step on X [N,C,H,W] (float32) with --labels; --dump writes logits, "
     "loss, grad.NAME and NAME (after the step); X [S,N,C,H,W] with labels [S,N] "
     "runs S steps and also writes losses [S]"},
    {"--labels", OPT_PATH, FIELD(labels), 0, 0, 0, 0, NULL, NULL, "Y.npy", 0,
     "labels of --train-step: [N] float32 class numbers"},
    {"--dump", OPT_PATH, FIELD(dump), 0, 0, 0, 0, NULL, NULL, "OUT.safetensors", 0,
     "where --train-step writes its tensors"},
    {"--benchmark", OPT_INT, FIELD(benchmark), 1, 1000000, 0, 0, NULL, NULL, "N", 0,
     "time N training steps (after 2 warm-up steps) on the training data; print "
     "images/sec"},
    {"--profile", OPT_FLAG, FIELD(profile), 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "with --benchmark or training: each layer's forward and backward time, share and "
     "GFLOP/s, and the data, loss and optimizer time (after the steps, or per epoch)"},
    {"--shapes", OPT_FLAG, FIELD(shapes), 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "print the layer table and exit"},
    {"--log", OPT_PATH, FIELD(log), 0, 0, 0, 0, NULL, "output", "FILE", 0,
     "one JSON object per epoch (appended with --resume)"},
    {"--plot", OPT_PATH, FIELD(plot), 0, 0, 0, 0, NULL, NULL, "FILE.svg", 0,
     "training curves, redrawn after every epoch"},
    {"--quiet", OPT_FLAG, FIELD(quiet), 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "print only errors, the final done: line and the result of --eval"},
    {"--no-table", OPT_FLAG, FIELD(no_table), 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "leave the layer table out of the banner"},
    {"-h, --help", OPT_HELP, NOFIELD, 0, 0, 0, 0, NULL, NULL, NULL, 0, "show this help"},
    {"--version", OPT_HELP, NOFIELD, 0, 0, 0, 0, NULL, NULL, NULL, 0,
     "show the netc version"},
};

#define NOPTS (sizeof opt_table / sizeof *opt_table)
#define HELP_INDENT 25
#define HELP_WIDTH 79

/* The default of option d as --help shows it, from the defaults in o. */
static void format_default(char *buf, size_t cap, const opt_def *d,
                           const options *o, const nt_net_desc *net)
{
    const void *field = (const char *)o + d->field;
    buf[0] = 0;
    switch (d->kind) {
    case OPT_PATH:
        if (*(const char *const *)field)
            snprintf(buf, cap, "%s", *(const char *const *)field);
        break;
    case OPT_INT:
        if (d->field == FIELD(resize))
            snprintf(buf, cap, "%d x %d", net->in_h, net->in_w);
        else if (d->field == FIELD(threads))
            snprintf(buf, cap, "all cores: %d", omp_get_num_procs());
        else
            snprintf(buf, cap, "%d", *(const int *)field);
        break;
    case OPT_REAL:
        snprintf(buf, cap, "%g", *(const double *)field);
        break;
    case OPT_SEED:
        snprintf(buf, cap, "%" PRIu64, *(const uint64_t *)field);
        break;
    default:
        break;
    }
}

/* Writes text from column `col` wrapped at HELP_WIDTH, continuation lines
 * indented to HELP_INDENT. */
static void print_wrapped(FILE *f, int col, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (col > HELP_INDENT && col + 1 + (int)w > HELP_WIDTH) {
            fprintf(f, "\n%*s", HELP_INDENT, "");
            col = HELP_INDENT;
        } else if (col > HELP_INDENT) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, w, f);
        col += (int)w;
        p += w;
    }
    fputc('\n', f);
}

static void print_usage(FILE *f, const nt_net_desc *net, const char *prog)
{
    options d;
    nt_error err;
    set_defaults(&d, net);
    if (nt_recipe_apply(&d.recipe, net->defaults.settings, &err) != 0)
        nt_recipe_defaults(&d.recipe);
    fprintf(f,
        "usage: %s [options]\n"
        "\n"
        "Trains net %s (%s, netc %s) as d2l's train_ch6\n"
        "does: minibatches on softmax cross-entropy, train loss and accuracy over\n"
        "each epoch, then the test accuracy in eval mode. Input %dx%dx%d, %d classes.\n",
        prog, net->name, net->source, net->netc_version, net->in_c, net->in_h,
        net->in_w, net->classes);
    for (size_t k = 0; k < NOPTS; k++) {
        const opt_def *o = &opt_table[k];
        if (o->section)
            fprintf(f, "\n%s:\n", o->section);
        char head[64], def[96], help[1024];
        int col = snprintf(head, sizeof head, "  %s%s%s", o->name,
                           o->meta ? " " : "", o->meta ? o->meta : "");
        fputs(head, f);
        if (col >= HELP_INDENT) {
            fprintf(f, "\n%*s", HELP_INDENT, "");
        } else {
            fprintf(f, "%*s", HELP_INDENT - col, "");
        }
        format_default(def, sizeof def, o, &d, net);
        /* a net with a parameter 'size' can be rebuilt at another size */
        const char *more = o->field == FIELD(resize) && nt_net_has_param(net, "size")
                               ? "; rebuild with netc build -D size=N for another"
                               : "";
        snprintf(help, sizeof help, "%s%s%s%s%s", o->help, more,
                 o->show_default && def[0] ? " (default " : "",
                 o->show_default && def[0] ? def : "",
                 o->show_default && def[0] ? ")" : "");
        print_wrapped(f, HELP_INDENT, help);
    }
    nt_recipe_print_help(f, &d.recipe, HELP_INDENT);
    fprintf(f,
        "\n"
        "Options take their value as --name VALUE or --name=VALUE. Exit status: 0 on\n"
        "success, 1 when a file or the data has a problem, 2 for a wrong command line,\n"
        "3 when training diverged, 130 or 143 when stopped by SIGINT or SIGTERM.\n");
}

static int parse_int(const opt_def *d, const char *v, int *out, nt_error *err)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || isspace((unsigned char)*v) || *end || errno || x < d->lo ||
        x > d->hi)
        return nt_fail(err, "%s needs an integer from %.0f to %.0f, got '%s'",
                       d->name, d->lo, d->hi, v);
    *out = (int)x;
    return 0;
}

static int parse_real(const opt_def *d, const char *v, double *out,
                      nt_error *err)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!nt_is_plain_decimal(v) || *end || errno == ERANGE ||
        !isfinite(x) || x < d->lo || (d->lo_open && x == d->lo) ||
        x > d->hi || (d->hi_open && x == d->hi))
        return nt_fail(err, "%s needs %s, got '%s'", d->name, d->what, v);
    *out = x;
    return 0;
}

static int parse_seed(const char *v, uint64_t *out, nt_error *err)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno)
        return nt_fail(err, "--seed needs an integer from 0 to %" PRIu64
                       ", got '%s'", UINT64_MAX, v);
    *out = x;
    return 0;
}

/* Stores argument a (and its value, from "--name=value" or the next
 * argument) into o. */
static int parse_option(options *o, const opt_def *d, int argc, char **argv,
                        int *i, nt_error *err)
{
    const char *a = argv[*i], *v;
    const size_t n = strlen(d->name);
    void *field = (char *)o + d->field;
    if (d->kind == OPT_FLAG) {
        if (a[n] == '=')
            return nt_fail(err, "%s takes no value", d->name);
        *(int *)field = 1;
        return 0;
    }
    if (a[n] == '=')
        v = a + n + 1;
    else if (*i + 1 < argc)
        v = argv[++*i];
    else
        return nt_fail(err, "%s needs a value", d->name);
    switch (d->kind) {
    case OPT_PATH:
        if (!*v)
            return nt_fail(err, "%s needs a non-empty value", d->name);
        *(const char **)field = v;
        return 0;
    case OPT_INT:
        return parse_int(d, v, field, err);
    case OPT_REAL:
        return parse_real(d, v, field, err);
    default:
        o->seed_given = 1;
        return parse_seed(v, field, err);
    }
}

/* What the options together mean, or why they do not go together. */
static int check_options(options *o, const nt_net_desc *net, nt_error *err)
{
    int modes = o->eval + o->shapes + (o->infer != NULL) +
                (o->train_step != NULL) + (o->benchmark > 0);
    if (modes > 1)
        return nt_fail(err, "choose one of --eval, --infer, --train-step, "
                       "--benchmark and --shapes");
    if (o->out && !o->infer)
        return nt_fail(err, "--out is the output of --infer, which is missing");
    if (o->infer && !o->out)
        return nt_fail(err, "--infer needs --out OUT.npy");
    if ((o->labels || o->dump) && !o->train_step)
        return nt_fail(err, "%s belongs to --train-step, which is missing",
                       o->labels ? "--labels" : "--dump");
    if (o->train_step && (!o->labels || !o->dump))
        return nt_fail(err, "--train-step needs --labels Y.npy and --dump "
                       "OUT.safetensors");
    if (o->load && o->resume)
        return nt_fail(err, "--load and --resume exclude each other (--resume "
                       "loads the weights too)");
    o->mode = o->shapes ? MODE_SHAPES : o->eval ? MODE_EVAL
            : o->infer ? MODE_INFER : o->train_step ? MODE_TRAIN_STEP
            : o->benchmark ? MODE_BENCHMARK : MODE_TRAIN;
    if (o->mode != MODE_TRAIN) {
        const char *which = o->resume ? "--resume" : o->save ? "--save"
                          : o->log ? "--log" : o->plot ? "--plot" : NULL;
        if (which && o->mode != MODE_SHAPES)
            return nt_fail(err, "%s is for training; it does not go with %s",
                           which, o->eval ? "--eval" : o->infer ? "--infer"
                                  : o->benchmark ? "--benchmark" : "--train-step");
    }
    if (o->profile && o->mode != MODE_TRAIN && o->mode != MODE_BENCHMARK)
        return nt_fail(err, "--profile times training steps: use it with --benchmark N "
                       "or when training");
    if (o->layout && strcmp(o->layout, "nchw") != 0 && strcmp(o->layout, "nhwc") != 0)
        return nt_fail(err, "--layout needs nchw or nhwc, got '%s'", o->layout);
    if (o->resize) {
        if (net->in_h == 1 && net->in_w == 1)
            return nt_fail(err, "--resize %d: net %s takes a flat input of %d "
                           "features, not images to resize", o->resize,
                           net->name, net->in_c);
        if ((o->resize != net->in_h || o->resize != net->in_w) &&
            nt_net_has_param(net, "size"))
            return nt_fail(err, "--resize %d: the input size of net %s is "
                           "compiled in as %dx%d; rebuild the trainer with "
                           "'netc build -D size=%d' to train on %dx%d images",
                           o->resize, net->name, net->in_h, net->in_w,
                           o->resize, o->resize, o->resize);
        if (o->resize != net->in_h || o->resize != net->in_w)
            return nt_fail(err, "--resize %d: the input size of net %s is "
                           "compiled in as %dx%d by its input(...) in %s; "
                           "change it there and rebuild the trainer to train "
                           "on %dx%d images", o->resize, net->name, net->in_h,
                           net->in_w, net->source, o->resize, o->resize);
    }
    if ((o->mode == MODE_TRAIN || o->mode == MODE_BENCHMARK) && o->batch < nt_dist_size())
        return nt_fail(err, "--batch-size %d: fewer examples than the %d processes that "
                       "share every batch", o->batch, nt_dist_size());
    if (nt_recipe_check(&o->recipe, net->in_c, net->in_h, net->in_w, o->momentum, err) != 0)
        return -1;
    if ((o->mode == MODE_TRAIN || o->mode == MODE_BENCHMARK) && o->batch == 1 &&
        has_batchnorm(net))
        return nt_fail(err, "--batch-size 1: batch norm cannot train on "
                       "batches of one example");
    return 0;
}

static int parse_options(options *o, const nt_net_desc *net, int argc,
                         char **argv, nt_error *err)
{
    set_defaults(o, net);
    if (nt_recipe_apply(&o->recipe, net->defaults.settings, err) != 0)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->mode = MODE_HELP;
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            o->mode = MODE_VERSION;
            return 0;
        }
        const opt_def *d = NULL;
        for (size_t k = 0; !d && k < NOPTS; k++)
            if (opt_table[k].kind != OPT_HELP && matches(a, opt_table[k].name))
                d = &opt_table[k];
        if (d) {
            if (parse_option(o, d, argc, argv, &i, err) != 0)
                return -1;
        } else if (strncmp(a, "--", 2) == 0 && nt_recipe_option(&o->recipe, argc, argv,
                                                                &i, err) != 0) {
            return -1;
        } else if (strncmp(a, "--", 2) == 0) {
            continue;
        } else if (a[0] == '-') {
            return nt_fail(err, "unknown option '%s'", a);
        } else {
            return nt_fail(err, "unexpected argument '%s' (options start with "
                           "--)", a);
        }
    }
    return check_options(o, net, err);
}

/* ---- small helpers ------------------------------------------------------------ */

/* bytes, 64-byte aligned and zeroed; NULL (with a message) on failure. */
static void *alloc_zeroed(size_t bytes, const char *what, nt_error *err)
{
    void *p = NULL;
    size_t size = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    if (size < bytes || posix_memalign(&p, 64, size) != 0) {
        nt_fail(err, "out of memory: the %s need %.1f MiB", what,
                (double)bytes / (1024.0 * 1024.0));
        return NULL;
    }
    memset(p, 0, size);
    return p;
}

static void format_bytes(char *buf, size_t cap, double bytes)
{
    if (bytes < 1024.0 * 1024.0)
        snprintf(buf, cap, "%.1f KiB", bytes / 1024.0);
    else if (bytes < 1024.0 * 1024.0 * 1024.0)
        snprintf(buf, cap, "%.1f MiB", bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, cap, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
}

/* 1234567 -> "1,234,567" */
static void format_count(char *buf, size_t cap, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n);
    size_t j = 0;
    for (int i = 0; i < len && j + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = 0;
}

static void print_layer_table(FILE *f, const nt_net_desc *net)
{
    for (const char *const *line = net->layer_table; line && *line; line++)
        fputs(*line, f);
}

static size_t input_floats(const nt_net_desc *net)
{
    return (size_t)net->in_c * net->in_h * net->in_w;
}

/* ---- data ------------------------------------------------------------------- */

typedef struct data {
    nt_dataset train, test;
    int ntrain, ntest;    /* after --limit-train, --limit-test */
    nt_feeder feed;
} data;

static void data_free(data *d)
{
    nt_dataset_free(&d->train);
    nt_dataset_free(&d->test);
    nt_feeder_free(&d->feed);
    memset(d, 0, sizeof *d);
}

static int limited(int n, int limit) { return limit > 0 && limit < n ? limit : n; }

/* Whether every process of a data-parallel run holds the same examples. */
static int data_same(const data *d, int with_train)
{
    uint64_t h = NT_DIST_HASH0;
    const nt_dataset *sets[2] = {&d->test, &d->train};
    const int counts[2] = {d->ntest, d->ntrain};
    for (int k = 0; k < 1 + with_train; k++) {
        const nt_dataset *ds = sets[k];
        const size_t n = (size_t)counts[k] * ds->c * ds->h * ds->w;
        h = ds->fimages ? nt_dist_hash(h, ds->fimages, n * sizeof *ds->fimages)
                        : nt_dist_hash(h, ds->images, n);
        h = nt_dist_hash(h, ds->labels, (size_t)counts[k] * sizeof *ds->labels);
    }
    return nt_dist_same(h, "the data");
}

static int load_data(data *d, const nt_net_desc *net, const options *o,
                     int need_train, nt_error *err)
{
    memset(d, 0, sizeof *d);
    const nt_recipe *rc = &o->recipe;
    nt_layout layout = !o->layout ? NT_LAYOUT_AUTO
                     : strcmp(o->layout, "nhwc") == 0 ? NT_LAYOUT_NHWC : NT_LAYOUT_NCHW;
    if (need_train && nt_data_load(&d->train, o->data, 1, net->classes, net->in_c,
                                   layout, err) != 0)
        return -1;
    if (nt_data_load(&d->test, o->data, 0, net->classes, net->in_c, layout, err) != 0)
        return -1;
    if (need_train &&
        (d->train.c != d->test.c || d->train.h != d->test.h || d->train.w != d->test.w ||
         !d->train.fimages != !d->test.fimages))
        return nt_fail(err, "%s: the training images are %dx%dx%d %s but the test "
                       "images %dx%dx%d %s", o->data, d->train.c, d->train.h, d->train.w,
                       d->train.fimages ? "float32" : "uint8", d->test.c, d->test.h,
                       d->test.w, d->test.fimages ? "float32" : "uint8");
    d->ntrain = limited(d->train.n, o->limit_train);
    d->ntest = limited(d->test.n, o->limit_test);
    if (nt_dist_size() > 1 && data_same(d, need_train) != 0)
        return nt_fail(err, "%s: the processes read different data (each reads its own "
                       "copy; they must be the same files)", o->data);
    return nt_feeder_init(&d->feed, &d->test, net->in_c, net->in_h, net->in_w,
                          rc->mean.n ? rc->mean.v : NULL, rc->std.n ? rc->std.v : NULL,
                          rc->crop_padding, rc->flip, net->name, o->data, err);
}

/* ---- the run ----------------------------------------------------------------- */

typedef struct run {
    const nt_net_desc *net;
    const options *o;
    nt_model m;
    data d;
    float *probs;        /* [batch_max, classes] */
    int32_t *labels;     /* [batch_max] */
    int32_t *perm;       /* [ntrain] */
    nt_curves curves;
    FILE *log;
    int start_epoch;     /* epochs done before this run (--resume) */
    int nbatches;        /* trained batches per epoch */
    char training[1200]; /* the settings a resumed run must repeat, for checkpoints */
    int skip_last;       /* a final batch too small to train on is skipped */
    int saved_epoch;     /* the last checkpoint this run wrote (0: none) */
    uint64_t saved_step;
    char *history;       /* --resume: the checkpoint's curves (metadata) */
} run;

static void run_free(run *r)
{
    nt_model_free(&r->m);
    data_free(&r->d);
    free(r->probs);
    free(r->labels);
    free(r->perm);
    nt_curves_free(&r->curves);
    free(r->history);
    nt_signals_release();
    if (r->log)
        fclose(r->log);
    r->log = NULL;
}

/* The model for batches of up to batch_max, initialised from the seed and,
 * with --load, loaded. --eval and --infer get an inference model (no
 * training arena), whose capacity may be smaller (nt_inference_batch). */
static int setup_model(run *r, int batch_max, nt_error *err)
{
    const options *o = r->o;
    if (o->mode == MODE_EVAL || o->mode == MODE_INFER
            ? nt_model_alloc_inference(&r->m, r->net, nt_inference_batch(r->net, batch_max), err)
            : nt_model_alloc(&r->m, r->net, batch_max, err))
        return -1;
    if (o->profile && !(r->m.prof = nt_profile_alloc(r->net, err)))
        return -1;
    nt_model_init(&r->m, o->seed);
    r->m.dropout_enabled = !o->no_dropout;
    if (o->recipe.optimizer != NT_OPTIM_SGD && nt_model_alloc_moment2(&r->m, err) != 0)
        return -1;
    nt_checkpoint_info ci;
    if (o->load && nt_dist_rank() == 0) { /* rank 0 reads, every process takes it */
        if (nt_checkpoint_load(&r->m, o->load, 0, &ci, err) != 0)
            return -1;
        free(ci.history); /* only --resume redraws the curves */
        if (ci.note[0])
            fprintf(stderr, "note: %s\n", ci.note);
    }
    return nt_dist_sync_model(&r->m, NULL, err);
}

static int setup_batch_buffers(run *r, int batch_max, nt_error *err)
{
    const size_t B = (size_t)batch_max;
    if (!(r->probs = alloc_zeroed(B * r->net->classes * sizeof(float),
                                  "probabilities", err)) ||
        !(r->labels = alloc_zeroed(B * sizeof(int32_t), "labels", err)))
        return -1;
    return 0;
}

/* Correct predictions over the first d.ntest test examples, eval mode;
 * -1 if a signal asked to stop. */
static int evaluate(run *r)
{
    const int B = r->m.batch_max;
    int mine, count, correct = 0;
    nt_dist_share(r->d.ntest, &mine, &count); /* each process its part */
    for (int i = 0; i < count; i += B) {
        if (nt_signals_pending())
            return -1;
        int n = count - i < B ? count - i : B;
        nt_feed_batch(&r->d.feed, r->m.input, r->labels, &r->d.test, NULL, mine + i, n, 0);
        correct += nt_model_eval_batch(&r->m, n, r->labels);
    }
    double all = correct;
    nt_dist_sum_doubles(&all, 1, "the test accuracy");
    return (int)all;
}

static double ratio(long a, long b) { return b > 0 ? (double)a / (double)b : NAN; }

/* The augmentation key of the model's next step: fixed by seed and step,
 * never 0 (which means no augmentation). */
static uint64_t augment_key(const nt_model *m)
{
    const uint64_t key = nt_hash64(m->seed ^ STREAM_AUGMENT, m->step);
    /* each process of a data-parallel run augments its own examples with
     * keys of its own (rank 0's is the single process's) */
    const int rank = nt_dist_rank();
    return (rank ? nt_hash64(key, (uint64_t)rank) : key) | 1;
}

static void shuffle(int32_t *perm, int n, uint64_t seed, int epoch)
{
    nt_rng rng;
    nt_rng_seed(&rng, nt_hash64(seed ^ STREAM_SHUFFLE, (uint64_t)epoch));
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)nt_rng_below(&rng, (uint64_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void print_banner(const run *r, int load_data_now)
{
    const nt_net_desc *net = r->net;
    const options *o = r->o;
    const data *d = &r->d;
    char params[32], pb[32], ab[32], sb[32];
    const int threads = nt_num_threads();
    format_count(params, sizeof params, nt_model_trainable_floats(net));
    format_bytes(pb, sizeof pb, 3.0 * net->param_floats * sizeof(float));
    format_bytes(ab, sizeof ab,
                 (double)net->act_floats * r->m.batch_max * sizeof(float));
    format_bytes(sb, sizeof sb,
                 (double)(net->scratch_floats ? net->scratch_floats(threads)
                                              : 0) * sizeof(float));
    printf("net       %s (%s, netc %s)\n", net->name, net->source,
           net->netc_version);
    if (load_data_now) {
        printf("data      %s: ", o->data);
        if (d->ntrain < d->train.n)
            printf("%d of ", d->ntrain);
        printf("%d training and ", d->train.n);
        if (d->ntest < d->test.n)
            printf("%d of ", d->ntest);
        printf("%d test images, %dx%d", d->test.n, d->test.h, d->test.w);
        if (d->test.c != 1 || d->test.fimages)
            printf(", %d channel%s, %s", d->test.c, d->test.c == 1 ? "" : "s",
                   d->test.fimages ? "float32" : "uint8");
        if (d->feed.resize)
            printf(" (resized to %dx%d per batch)", net->in_h, net->in_w);
        printf("\n");
    } else {
        printf("data      %s: not read (no epoch to train)\n", o->data);
    }
    if (net->in_h == 1 && net->in_w == 1)
        printf("input     %d features, %d classes, %s parameters\n",
               net->in_c, net->classes, params);
    else
        printf("input     %dx%dx%d, %d classes, %s parameters\n", net->in_c,
               net->in_h, net->in_w, net->classes, params);
    printf("training  lr %g  momentum %g  weight decay %g  batch size %d  "
           "epochs %d", o->lr, o->momentum, o->weight_decay, o->batch,
           o->epochs);
    if (o->resume)
        printf("  (resuming after epoch %d, step %" PRIu64 ")",
               r->start_epoch, r->m.step);
    printf("\n");
    char recipe[1000];
    nt_recipe_describe(recipe, sizeof recipe, &o->recipe);
    if (recipe[0])
        printf("recipe    %s\n", recipe);
    printf("run       %d thread%s%s%s  seed %" PRIu64 "%s  kernels %s, %s\n", threads,
           threads == 1 ? "" : "s", nt_dist_size() > 1 ? " per process" : "",
           r->m.parts > 1 ? " (sample-parallel)" : "", r->m.seed,
           o->no_dropout ? "  dropout off" : "", nt_isa_name(nt_cpu_isa()), nt_gemm_name());
    if (nt_dist_size() > 1) {
        const int lo = o->batch / nt_dist_size(), hi = nt_dist_share_max(o->batch);
        char share[32];
        snprintf(share, sizeof share, lo == hi ? "%d" : "%d or %d", lo, hi);
        printf("processes %d (%s), each computing %s examples of every batch; "
               "gradients and batch-norm statistics are summed over them\n",
               nt_dist_size(), nt_dist_backend(), share);
    }
    printf("memory    %s parameters, gradients and momentum; %s activations "
           "(batch %d); %s scratch\n", pb, ab, r->m.batch_max, sb);
    if (r->skip_last && nt_dist_size() == 1)
        printf("note      the last batch of every epoch would hold 1 example, "
               "which batch norm cannot train on; it is skipped\n");
    else if (r->skip_last)
        printf("note      the last batch of every epoch would hold %d example%s, fewer "
               "than the processes; it is skipped\n", r->d.ntrain % o->batch,
               r->d.ntrain % o->batch == 1 ? "" : "s");
    printf("\n");
    if (!o->no_table) {
        print_layer_table(stdout, net);
        printf("\n");
    }
    fflush(stdout);
}

/* Where a stopped run stands: what --save holds and how to go on. */
static void saved_state(const run *r, char *buf, size_t cap)
{
    const options *o = r->o;
    if (r->saved_epoch > 0)
        snprintf(buf, cap, "%s holds epoch %d (step %" PRIu64 "): continue with --resume %s "
                 "and the same options", o->save, r->saved_epoch, r->saved_step, o->save);
    else if (o->resume)
        snprintf(buf, cap, "nothing was saved; %s still holds epoch %d: continue with "
                 "--resume %s", o->resume, r->start_epoch, o->resume);
    else if (o->save)
        snprintf(buf, cap, "nothing was saved yet (the first checkpoint is written after "
                 "epoch %d)", r->start_epoch + 1);
    else
        snprintf(buf, cap, "nothing was saved (--save PATH keeps a checkpoint to resume from)");
}

/* SIGINT or SIGTERM asked to stop during epoch (0-based) after `done`
 * batches: the epoch is abandoned. */
static int stopped(const run *r, int epoch, int done, nt_error *err)
{
    const int sig = nt_signals_pending();
    char state[400];
    saved_state(r, state, sizeof state);
    nt_fail(err, "stopped by %s in epoch %d/%d after %d of %d batches (the epoch is "
            "abandoned); %s", nt_signal_name(sig),
            epoch + 1, r->o->epochs, done, r->nbatches, state);
    return 128 + sig;
}

/* The step of batch b (0-based) of epoch gave a non-finite loss or left a
 * non-finite weight: say where it went wrong; nothing more is saved. */
static int diverged(const run *r, int epoch, int b, int n, float loss, nt_error *err)
{
    char why[300], state[400];
    nt_diagnose_divergence(&r->m, n, why, sizeof why);
    saved_state(r, state, sizeof state);
    nt_fail(err, "training diverged in epoch %d, step %" PRIu64 " (batch %d of %d, loss %g): "
            "%s.\n  Stopped; %s. Try a smaller --lr (now %g).", epoch + 1, r->m.step, b + 1,
            r->nbatches, (double)loss, why, state, r->o->lr);
    return EXIT_DIVERGED;
}

/* One epoch (0-based) of training: returns 0, or an exit status with the
 * message in err: EXIT_DATA when the log or a file fails, EXIT_DIVERGED when
 * the loss or the weights went non-finite, 128 + the signal when SIGINT or
 * SIGTERM asked to stop. The checkpoint is written before the log line, so
 * a log never holds an epoch that a resume would train again. */
static int train_epoch(run *r, int epoch, nt_epoch_stats *s, double *train_s,
                       long *trained, nt_error *err)
{
    const options *o = r->o;
    nt_model *m = &r->m;
    nt_optim_config oc = nt_recipe_config(&o->recipe, o->lr, o->momentum, o->weight_decay);
    const int per_iter = o->recipe.per_iteration;
    double lr = o->lr;
    const int B = o->batch, nb = r->nbatches;
    nt_progress p;
    nt_progress_mode pm = o->quiet ? NT_PROGRESS_OFF
                        : isatty(fileno(stderr)) ? NT_PROGRESS_BAR
                                                 : NT_PROGRESS_LINES;

    if (m->prof)
        nt_profile_reset(m->prof);
    const double t0 = nt_now();
    shuffle(r->perm, r->d.ntrain, m->seed, epoch);
    nt_progress_begin(&p, stderr, pm, epoch + 1, o->epochs, nb, t0);
    double loss_sum = 0;
    long correct = 0, seen = 0;
    for (int b = 0; b < nb; b++) {
        const int first = b * B;
        const int n = r->d.ntrain - first < B ? r->d.ntrain - first : B;
        int ok = 0, mine, count;
        nt_dist_share(n, &mine, &count); /* loss and ok are the whole batch's */
        const double tf = nt_prof_start(m);
        nt_feed_batch(&r->d.feed, m->input, r->labels, &r->d.train, r->perm + first + mine, 0,
                      count, augment_key(m));
        nt_prof_phase(m, tf, NT_PROF_DATA);
        lr = nt_recipe_lr(&o->recipe, o->lr, per_iter ? (long)m->step : epoch,
                          per_iter ? (long)o->epochs * nb : o->epochs);
        oc.lr = (float)lr;
        float loss = nt_model_train_step(m, count, r->labels, r->probs, &ok, &oc);
        if (!isfinite(loss) || !nt_all_finite(m->params, r->net->param_floats)) {
            nt_progress_end(&p);
            return diverged(r, epoch, b, n, loss, err);
        }
        loss_sum += (double)loss * n;
        correct += ok;
        seen += n;
        if (nt_curve_point_due(b, nb)) {
            nt_curves_add_train(&r->curves, epoch + (double)(b + 1) / nb,
                                loss_sum / seen, ratio(correct, seen));
            nt_curves_add_lr(&r->curves, lr);
        }
        nt_progress_update(&p, b + 1, loss_sum / seen, ratio(correct, seen),
                           nt_now());
        if (nt_signals_pending()) {
            nt_progress_end(&p);
            return stopped(r, epoch, b + 1, err);
        }
    }
    const double t1 = nt_now();
    nt_profile *prof = m->prof; /* the test pass is not profiled */
    m->prof = NULL;
    nt_progress_testing(&p);
    const int test_correct = evaluate(r);
    m->prof = prof;
    const double t2 = nt_now();
    nt_progress_end(&p);
    if (test_correct < 0)
        return stopped(r, epoch, nb, err);

    *train_s += t1 - t0;
    *trained += seen;
    s->epoch = epoch + 1;
    s->epochs = o->epochs;
    s->loss = loss_sum / (double)seen;
    s->train_acc = ratio(correct, seen);
    s->test_acc = ratio(test_correct, r->d.ntest);
    s->examples_per_sec = t1 > t0 ? (double)seen / (t1 - t0) : NAN;
    s->seconds = t2 - t0;
    s->lr = lr;

    if (!o->quiet) {
        char line[256];
        nt_format_epoch(line, sizeof line, s);
        printf("%s\n", line);
        fflush(stdout);
    }
    nt_curves_add_test(&r->curves, epoch + 1, s->test_acc);
    if (o->save) {
        char *history = nt_history_format(&r->curves);
        int rc = nt_checkpoint_save_history(m, o->save, epoch + 1,
                                            nt_recipe_state(&o->recipe, o->momentum),
                                            r->training, history, err);
        free(history);
        if (rc != 0)
            return EXIT_DATA;
        r->saved_epoch = epoch + 1;
        r->saved_step = m->step;
    }
    if (prof)
        nt_profile_print(stdout, prof, nb, seen, t1 - t0);
    if (r->log) {
        char line[512];
        nt_format_log(line, sizeof line, s);
        if (fputs(line, r->log) < 0 || fflush(r->log) != 0) {
            nt_fail(err, "%s: write failed: %s", o->log, strerror(errno));
            return EXIT_DATA;
        }
    }
    if (o->plot && nt_curves_plot(&r->curves, o->plot, r->net->name, err) != 0)
        return EXIT_DATA;
    return 0;
}

/* --resume: weights, momentum, counters and seed from the checkpoint. */
static int resume(run *r, nt_error *err)
{
    const options *o = r->o;
    nt_checkpoint_info ci;
    if (nt_dist_rank() != 0)
        return nt_dist_sync_model(&r->m, &r->start_epoch, err);
    if (nt_checkpoint_load(&r->m, o->resume, nt_recipe_state(&o->recipe, o->momentum), &ci,
                           err))
        return -1;
    r->history = ci.history; /* freed by run_free */
    if (ci.note[0])
        fprintf(stderr, "note: %s\n", ci.note);
    if (!ci.has_epoch || !ci.has_step || !ci.has_seed)
        return nt_fail(err, "%s: cannot resume: its metadata lacks the epoch, "
                       "step and seed of a netc checkpoint (use --load to "
                       "start a new run from these weights)", o->resume);
    if (o->seed_given && o->seed != ci.seed)
        return nt_fail(err, "%s: the run was seeded with %" PRIu64 ", not %"
                       PRIu64 "; drop --seed to resume it (or --load to "
                       "start a new run from these weights)", o->resume,
                       ci.seed, o->seed);
    if (ci.training[0] && strcmp(ci.training, r->training) != 0)
        fprintf(stderr, "note: %s was trained with %s; this run uses %s, so it does not "
                "continue that run as it would have gone on\n", o->resume, ci.training,
                r->training);
    r->m.seed = ci.seed;
    r->m.step = ci.step;
    r->start_epoch = ci.epoch;
    return nt_dist_sync_model(&r->m, &r->start_epoch, err);
}

/* Warnings before training: options that waste the run, and what a
 * resumed run can redraw. */
static void training_notes(run *r)
{
    const options *o = r->o;
    if (o->batch > r->d.ntrain)
        fprintf(stderr, "warning: --batch-size %d is larger than the %d training examples: "
                "every epoch is one batch of %d, and memory is reserved for %d; use "
                "--batch-size %d or less\n", o->batch, r->d.ntrain, r->d.ntrain, o->batch,
                r->d.ntrain);
    if (o->resume && !o->save)
        fprintf(stderr, "warning: --resume without --save: the epochs trained now will not "
                "be kept (add --save %s to update the checkpoint)\n", o->resume);
    if (o->resume && r->history &&
        nt_history_parse(&r->curves, r->history, r->start_epoch) != 0)
        fprintf(stderr, "note: %s: its training history is unreadable; the curves start at "
                "epoch %d\n", o->resume, r->start_epoch + 1);
    else if (o->resume && o->plot && !r->history)
        fprintf(stderr, "note: %s has no training history (an older checkpoint); the plot "
                "starts at epoch %d\n", o->resume, r->start_epoch + 1);
}

static int train(run *r, nt_error *err)
{
    const options *o = r->o;
    int len = snprintf(r->training, sizeof r->training,
             "lr %.9g momentum %.9g weight_decay %.9g batch_size %d limit_train %d", o->lr,
             o->momentum, o->weight_decay, o->batch, o->limit_train);
    char recipe[1000];
    nt_recipe_describe(recipe, sizeof recipe, &o->recipe);
    if (recipe[0] && len > 0 && (size_t)len < sizeof r->training)
        snprintf(r->training + len, sizeof r->training - (size_t)len, " %s", recipe);
    if (setup_model(r, nt_dist_share_max(o->batch), err) != 0)
        return EXIT_DATA;
    if (o->resume && resume(r, err) != 0)
        return EXIT_DATA;
    if (o->resume && r->start_epoch >= o->epochs) {
        if (!o->quiet)
            printf("%s: already trained for %d epochs; nothing to do (raise "
                   "--epochs to train further)\n", o->resume, r->start_epoch);
        return 0;
    }
    const int to_train = o->epochs > r->start_epoch;
    if (to_train) {
        nt_signals_catch(); /* polled between steps; released by run_free */
        if (load_data(&r->d, r->net, o, 1, err) != 0)
            return EXIT_DATA;
        const int n = r->d.ntrain, B = o->batch;
        r->nbatches = (n + B - 1) / B;
        /* a last batch must give every process an example, and batch norm two */
        const int least = nt_dist_size() > 2 ? nt_dist_size() : 2;
        r->skip_last = B > 1 && n % B > 0 && n % B < least;
        r->nbatches -= r->skip_last;
        if (r->nbatches < 1) {
            nt_fail(err, "%s: %d training example%s: too few to train on",
                    o->data, n, n == 1 ? "" : "s");
            return EXIT_DATA;
        }
        if (setup_batch_buffers(r, B, err) != 0 ||
            !(r->perm = alloc_zeroed((size_t)n * sizeof(int32_t),
                                     "shuffled indices", err)))
            return EXIT_DATA;
        if (nt_curves_alloc(&r->curves, o->epochs, r->nbatches, err) != 0)
            return EXIT_DATA;
        training_notes(r);
    }
    const int dropped =
        o->log && o->resume ? nt_log_keep_epochs(o->log, r->start_epoch, err) : 0;
    if (dropped < 0)
        return EXIT_DATA;
    if (dropped > 0 && !o->quiet)
        fprintf(stderr, "note: %s: dropped the lines of the epochs after %d, which this run "
                "trains again\n", o->log, r->start_epoch);
    if (o->log && !(r->log = fopen(o->log, o->resume ? "a" : "w"))) {
        nt_fail(err, "%s: cannot write: %s", o->log, strerror(errno));
        return EXIT_DATA;
    }
    if (!o->quiet)
        print_banner(r, to_train);
    if (!to_train) {
        if (o->save &&
            nt_checkpoint_save(&r->m, o->save, r->start_epoch,
                               nt_recipe_state(&o->recipe, o->momentum), r->training,
                               err) != 0)
            return EXIT_DATA;
        if (o->save && !o->quiet)
            printf("saved the initial weights to %s\n", o->save);
        return 0;
    }

    nt_epoch_stats s;
    double train_s = 0;
    long trained = 0;
    const double t0 = nt_now();
    if (nt_signals_pending())
        return stopped(r, r->start_epoch, 0, err);
    for (int epoch = r->start_epoch; epoch < o->epochs; epoch++) {
        int rc = train_epoch(r, epoch, &s, &train_s, &trained, err);
        if (rc != 0)
            return rc;
    }
    nt_signals_release();
    const int ran = o->epochs - r->start_epoch;
    if (nt_dist_rank() == 0) /* even with --quiet: rank 0's summary line */
        printf("done: loss %.4f, train acc %.3f, test acc %.3f; %.1f "
               "examples/sec over %d epoch%s (training only), %.1f s in all\n",
               s.loss, s.train_acc, s.test_acc,
               train_s > 0 ? (double)trained / train_s : NAN, ran,
               ran == 1 ? "" : "s", nt_now() - t0);
    if (!o->quiet) {
        if (o->save)
            printf("saved %s (epoch %d, step %" PRIu64 ")\n", o->save,
                   o->epochs, r->m.step);
        if (o->plot)
            printf("plot  %s (training curves, as d2l's train_ch6 draws them)\n", o->plot);
        if (o->log)
            printf("log   %s (one JSON object per epoch)\n", o->log);
    }
    return 0;
}

/* ---- --eval ------------------------------------------------------------------ */

static int eval_mode(run *r, nt_error *err)
{
    const options *o = r->o;
    if (setup_model(r, o->batch, err) != 0 ||
        load_data(&r->d, r->net, o, 0, err) != 0 ||
        setup_batch_buffers(r, o->batch, err) != 0)
        return EXIT_DATA;
    int correct = evaluate(r);
    if (nt_dist_rank() == 0)
        printf("test acc %.4f (%d/%d, %s)\n", ratio(correct, r->d.ntest), correct,
           r->d.ntest, o->load ? o->load : "initial weights");
    return 0;
}

/* ---- --infer and --train-step --------------------------------------------------- */

/* An input array [N, C, H, W] (or [N, F] for a flat net) of the net's
 * per-example size; returns N, or -1. */
static int check_input_array(const nt_net_desc *net, const char *path,
                             const int64_t *shape, int ndim, nt_error *err)
{
    const int flat = net->in_h == 1 && net->in_w == 1;
    int ok = (ndim == 4 && shape[1] == net->in_c && shape[2] == net->in_h &&
              shape[3] == net->in_w) ||
             (flat && ndim == 2 && shape[1] == net->in_c);
    if (!ok || shape[0] > MAX_COUNT) {
        char got[160];
        size_t len = (size_t)snprintf(got, sizeof got, "[");
        for (int d = 0; d < ndim && len < sizeof got; d++)
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%" PRId64,
                                    d ? ", " : "", shape[d]);
        if (len < sizeof got)
            snprintf(got + len, sizeof got - len, "]");
        return nt_fail(err, "%s: the array is %s, but net %s takes [N, %d, "
                       "%d, %d] (the input size is compiled in)", path, got,
                       net->name, net->in_c, net->in_h, net->in_w);
    }
    return (int)shape[0];
}

static int infer_mode(run *r, nt_error *err)
{
    const options *o = r->o;
    const nt_net_desc *net = r->net;
    float *x = NULL, *y = NULL;
    int64_t shape[8];
    int ndim, rc = EXIT_DATA;
    if (nt_npy_read_f32(o->infer, &x, shape, &ndim, err) != 0)
        return EXIT_DATA;
    const int N = check_input_array(net, o->infer, shape, ndim, err);
    const size_t in = input_floats(net), K = (size_t)net->classes;
    if (N < 0 || setup_model(r, N < o->batch ? (N > 0 ? N : 1) : o->batch, err) != 0 ||
        !(y = alloc_zeroed((size_t)N * K * sizeof(float), "logits", err)))
        goto out;
    const int B = r->m.batch_max;
    int mine, count;
    nt_dist_share(N, &mine, &count); /* each process its rows */
    for (int first = mine; first < mine + count; first += B) {
        int n = mine + count - first < B ? mine + count - first : B;
        memcpy(r->m.input, x + (size_t)first * in, (size_t)n * in * sizeof(float));
        net->forward(&r->m, n, 0);
        memcpy(y + (size_t)first * K, r->m.logits, (size_t)n * K * sizeof(float));
    }
    nt_dist_gather_rows(y, N, K, "the logits");
    const int64_t out_shape[2] = {N, (int64_t)K};
    if (nt_dist_rank() == 0 && nt_npy_write_f32(o->out, y, out_shape, 2, err) != 0)
        goto out;
    if (!o->quiet)
        printf("wrote eval-mode logits [%d, %d] of net %s to %s\n", N,
               net->classes, net->name, o->out);
    rc = 0;
out:
    free(x);
    free(y);
    return rc;
}

/* Labels stored as float32 class numbers, each an integer in [0, classes). */
static int check_labels(const nt_net_desc *net, const char *path,
                        const float *y, const int64_t *shape, int ndim, int N,
                        int32_t *labels, nt_error *err)
{
    if (ndim != 1 || shape[0] != N)
        return nt_fail(err, "%s: the labels must be an array [%d] (one per "
                       "example of the batch)", path, N);
    for (int i = 0; i < N; i++) {
        float v = y[i];
        if (!(v >= 0.0f && v < (float)net->classes) || v != floorf(v))
            return nt_fail(err, "%s: label %g of example %d is not a class "
                           "number from 0 to %d", path, (double)v, i,
                           net->classes - 1);
        labels[i] = (int32_t)v;
    }
    return 0;
}

/* The dump of --train-step: logits and loss of the last step, the losses of
 * all steps (nsteps > 0), grad.NAME, then every tensor. */
static int write_dump(const run *r, int N, const float *losses, int nsteps,
                      nt_error *err)
{
    const nt_net_desc *net = r->net;
    const options *o = r->o;
    const nt_model *m = &r->m;
    const int n = 3 + 2 * net->ntensors;
    nt_st_entry *e = calloc((size_t)n, sizeof *e);
    char **names = calloc((size_t)net->ntensors + 1, sizeof *names);
    int ne = 0, rc = -1;
    const int64_t lshape[2] = {N, net->classes}, one = 1, steps = nsteps;
    if (!e || !names) {
        nt_fail(err, "%s: out of memory", o->dump);
        goto out;
    }
    e[ne++] = (nt_st_entry){"logits", 2, lshape, m->logits};
    e[ne++] = (nt_st_entry){"loss", 1, &one, &losses[nsteps ? nsteps - 1 : 0]};
    if (nsteps)
        e[ne++] = (nt_st_entry){"losses", 1, &steps, losses};
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        if (!t->trainable)
            continue;
        size_t len = strlen(t->name) + 6;
        if (!(names[i] = malloc(len))) {
            nt_fail(err, "%s: out of memory", o->dump);
            goto out;
        }
        snprintf(names[i], len, "grad.%s", t->name);
        e[ne++] = (nt_st_entry){names[i], t->ndim, t->shape,
                                m->grads + t->offset};
    }
    for (int i = 0; i < net->ntensors; i++) {
        const nt_tensor_desc *t = &net->tensors[i];
        e[ne++] = (nt_st_entry){t->name, t->ndim, t->shape,
                                m->params + t->offset};
    }
    char hash[24], lr[32], mom[32], wd[32], seed[24];
    snprintf(hash, sizeof hash, "%016" PRIx64, net->hash);
    snprintf(lr, sizeof lr, "%.17g", o->lr);
    snprintf(mom, sizeof mom, "%.17g", o->momentum);
    snprintf(wd, sizeof wd, "%.17g", o->weight_decay);
    snprintf(seed, sizeof seed, "%" PRIu64, m->seed);
    const char *keys[] = {"net", "netc_hash", "netc_version", "format", "lr",
                          "momentum", "weight_decay", "seed", "dropout"};
    const char *values[] = {net->name, hash, net->netc_version,
                            TRAIN_STEP_FORMAT, lr, mom, wd, seed,
                            m->dropout_enabled ? "on" : "off"};
    rc = nt_st_write(o->dump, e, ne, keys, values, 9, err);
out:
    for (int i = 0; names && i < net->ntensors; i++)
        free(names[i]);
    free(names);
    free(e);
    return rc;
}

static int train_step_mode(run *r, nt_error *err)
{
    const options *o = r->o;
    const nt_net_desc *net = r->net;
    float *x = NULL, *y = NULL, *losses = NULL;
    int64_t xshape[8], yshape[8];
    int xdim, ydim, rc = EXIT_DATA;
    if (nt_npy_read_f32(o->train_step, &x, xshape, &xdim, err) != 0 ||
        nt_npy_read_f32(o->labels, &y, yshape, &ydim, err) != 0)
        goto out;
    /* [S, N, ...] with labels [S, N]: S steps; [N, ...] with [N]: one */
    const int flat = net->in_h == 1 && net->in_w == 1;
    const int multi = xdim == (flat ? 3 : 5);
    const int S = multi ? (int)(xshape[0] < MAX_COUNT ? xshape[0] : MAX_COUNT) : 1;
    const int N = check_input_array(net, o->train_step, xshape + multi, xdim - multi, err);
    if (N < 0)
        goto out;
    if (N < nt_dist_size()) {
        nt_fail(err, "%s: %d examples, fewer than the %d processes that share the batch",
                o->train_step, N, nt_dist_size());
        goto out;
    }
    if (N < 1 || S < 1 || (N == 1 && has_batchnorm(net))) {
        nt_fail(err, "%s: a training step needs %s", o->train_step,
                N < 1 || S < 1 ? "at least one example"
                               : "at least 2 examples (batch norm cannot train on one)");
        goto out;
    }
    if (multi && (ydim != 2 || yshape[0] != S || yshape[1] != N)) {
        nt_fail(err, "%s: the labels must be an array [%d, %d] (one per example of "
                "each step's batch)", o->labels, S, N);
        goto out;
    }
    if (setup_model(r, N, err) != 0 || setup_batch_buffers(r, N, err) != 0 ||
        !(losses = alloc_zeroed((size_t)S * sizeof(float), "losses", err)))
        goto out;
    const nt_optim_config oc = nt_recipe_config(&o->recipe, o->lr, o->momentum,
                                                o->weight_decay);
    const int64_t one_shape[1] = {N};
    const size_t in1 = input_floats(net), in = (size_t)N * in1, K = (size_t)net->classes;
    int mine, count;
    nt_dist_share(N, &mine, &count); /* each process its examples of every step */
    for (int k = 0; k < S; k++) {
        if (check_labels(net, o->labels, y + (size_t)k * N, multi ? one_shape : yshape,
                         multi ? 1 : ydim, N, r->labels, err) != 0)
            goto out;
        memcpy(r->m.input, x + (size_t)k * in + mine * in1, count * in1 * sizeof(float));
        nt_optim_config step = oc;
        step.lr = (float)nt_recipe_lr(&o->recipe, o->lr, (long)r->m.step, S);
        losses[k] = nt_model_train_step(&r->m, count, r->labels + mine, r->probs, NULL,
                                        &step);
    }
    memmove(r->m.logits + mine * K, r->m.logits, count * K * sizeof(float));
    nt_dist_gather_rows(r->m.logits, N, K, "the logits");
    if (nt_dist_rank() == 0 && write_dump(r, N, losses, multi ? S : 0, err) != 0)
        goto out;
    if (!o->quiet) {
        if (multi)
            printf("%d training steps of net %s on batches of %d: loss %.6f -> %.6f; "
                   "wrote %s\n", S, net->name, N, (double)losses[0],
                   (double)losses[S - 1], o->dump);
        else
            printf("one training step of net %s on %d examples: loss %.6f; wrote "
                   "%s\n", net->name, N, (double)losses[0], o->dump);
    }
    rc = 0;
out:
    free(x);
    free(y);
    free(losses);
    return rc;
}

/* ---- --benchmark ----------------------------------------------------------------- */

/* Training throughput: two warm-up steps, then `benchmark` timed steps on
 * shuffled training batches (data preparation included, as in training). */
static int benchmark_mode(run *r, nt_error *err)
{
    const options *o = r->o;
    const int B = o->batch, warmup = 2;
    int mine, count;
    nt_dist_share(B, &mine, &count); /* each process its share of every batch */
    if (setup_model(r, count, err) != 0 || load_data(&r->d, r->net, o, 1, err) != 0 ||
        setup_batch_buffers(r, B, err) != 0 ||
        !(r->perm = alloc_zeroed((size_t)r->d.ntrain * sizeof(int32_t),
                                 "shuffled indices", err)))
        return EXIT_DATA;
    if (r->d.ntrain < B) {
        nt_fail(err, "%s: %d training examples, fewer than a batch of %d", o->data,
                r->d.ntrain, B);
        return EXIT_DATA;
    }
    const nt_optim_config oc = nt_recipe_config(&o->recipe, o->lr, o->momentum,
                                                o->weight_decay);
    const int per_epoch = r->d.ntrain / B;
    double t0 = 0, comm0 = 0;
    for (int k = 0; k < warmup + o->benchmark; k++) {
        if (k == warmup && r->m.prof)
            nt_profile_reset(r->m.prof);
        if (k == warmup) {
            t0 = nt_now();
            comm0 = nt_dist_comm_seconds();
        }
        const int b = k % per_epoch;
        if (b == 0)
            shuffle(r->perm, r->d.ntrain, r->m.seed, k / per_epoch);
        const double tf = nt_prof_start(&r->m);
        nt_feed_batch(&r->d.feed, r->m.input, r->labels, &r->d.train, r->perm + b * B + mine,
                      0, count, augment_key(&r->m));
        nt_prof_phase(&r->m, tf, NT_PROF_DATA);
        nt_model_train_step(&r->m, count, r->labels, r->probs, NULL, &oc);
    }
    const double dt = nt_now() - t0;
    char procs[32] = "", comm[64] = "";
    if (nt_dist_size() > 1) {
        snprintf(procs, sizeof procs, "  processes %d", nt_dist_size());
        snprintf(comm, sizeof comm, "; collectives %.3f s/step",
                 (nt_dist_comm_seconds() - comm0) / o->benchmark);
    }
    if (nt_dist_rank() == 0)
        printf("benchmark  net %s  batch %d%s  threads %d  %d steps after %d warm-up: "
               "%.1f images/sec (%.3f s/step%s)\n",
               r->net->name, B, procs, nt_num_threads(), o->benchmark, warmup,
               (double)o->benchmark * B / dt, dt / o->benchmark, comm);
    if (r->m.prof && nt_dist_rank() == 0)
        nt_profile_print(stdout, r->m.prof, o->benchmark, (long)o->benchmark * B, dt);
    return 0;
}

/* ---- main ----------------------------------------------------------------------- */

/* Data-parallel runs: every process must run the same trainer with the same
 * options (argv[0] may differ from machine to machine). */
static int same_command_line(const nt_net_desc *net, int argc, char **argv)
{
    uint64_t h = nt_dist_hash(NT_DIST_HASH0, &net->hash, sizeof net->hash);
    for (int i = 1; i < argc; i++)
        h = nt_dist_hash(h, argv[i], strlen(argv[i]) + 1);
    return nt_dist_same(h, "the trainer or its command line");
}

/* Ranks other than 0 print nothing and write no files. */
static void quiet_rank(options *o)
{
    o->quiet = 1;
    o->save = o->log = o->plot = NULL;
}

int nt_trainer_main(const nt_net_desc *net, int argc, char **argv)
{
    const char *prog = prog_name(net, argc, argv);
    options o;
    nt_error err = {{0}};
    if (nt_dist_init(&argc, &argv, prog, &err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return EXIT_DATA;
    }
    const int rank0 = nt_dist_rank() == 0;
    if (same_command_line(net, argc, argv) != 0)
        return nt_dist_end(EXIT_USAGE, 1);
    if (parse_options(&o, net, argc, argv, &err) != 0) {
        if (rank0)
            fprintf(stderr, "%s: %s\n(run '%s --help' for usage)\n", prog, err.msg,
                    prog);
        return nt_dist_end(EXIT_USAGE, 1);
    }
    switch (o.mode) {
    case MODE_HELP:
        if (rank0)
            print_usage(stdout, net, prog);
        return nt_dist_end(0, 1);
    case MODE_VERSION:
        if (rank0)
            printf("%s: net %s, netc %s, runtime %s (processes: %s)\n", prog, net->name,
                   net->netc_version, NT_VERSION, nt_dist_backend());
        return nt_dist_end(0, 1);
    case MODE_SHAPES:
        if (rank0)
            print_layer_table(stdout, net);
        return nt_dist_end(0, 1);
    default:
        break;
    }
    if (!rank0)
        quiet_rank(&o); /* before the output checks: only rank 0 writes */
    /* no output may destroy another file (outputs.c) */
    const nt_path_arg paths[] = {
        {"--save", o.save, 1, 1}, {"--log", o.log, 1, 0}, {"--plot", o.plot, 1, 0},
        {"--out", o.out, 1, 0}, {"--dump", o.dump, 1, 0}, {"--load", o.load, 0, 1},
        {"--resume", o.resume, 0, 1}, {"--infer", o.infer, 0, 0},
        {"--train-step", o.train_step, 0, 0}, {"--labels", o.labels, 0, 0},
    };
    if (nt_outputs_check(paths, sizeof paths / sizeof *paths, o.data, &err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return nt_dist_end(EXIT_USAGE, 0);
    }
    nt_set_num_threads(o.threads ? o.threads : nt_dist_default_threads());
    if (o.threads > omp_get_num_procs())
        fprintf(stderr, "warning: --threads %d is more than the %d cores: the extra threads "
                "only wait for each other, which makes every step slower\n", o.threads,
                omp_get_num_procs());

    run r;
    memset(&r, 0, sizeof r);
    r.net = net;
    r.o = &o;
    int rc;
    switch (o.mode) {
    case MODE_EVAL:
        rc = eval_mode(&r, &err);
        break;
    case MODE_INFER:
        rc = infer_mode(&r, &err);
        break;
    case MODE_TRAIN_STEP:
        rc = train_step_mode(&r, &err);
        break;
    case MODE_BENCHMARK:
        rc = benchmark_mode(&r, &err);
        break;
    default:
        rc = train(&r, &err);
        break;
    }
    if (rc != 0) {
        if (nt_dist_size() > 1)
            fprintf(stderr, "%s: rank %d: %s\n", prog, nt_dist_rank(), err.msg);
        else
            fprintf(stderr, "%s: %s\n", prog, err.msg);
        struct stat st;
        if (strcmp(o.data, DEFAULT_DATA) == 0 && stat(o.data, &st) != 0 &&
            strstr(err.msg, DEFAULT_DATA))
            fprintf(stderr, "%s: (Debian's dataset-fashion-mnist package "
                    "installs Fashion-MNIST there; --data DIR reads another "
                    "directory)\n", prog);
    }
    run_free(&r);
    return nt_dist_end(rc, 0);
}
