/* main.c - the netc command line: parses options, runs the passes
 * (parse -> expand -> shapes -> report or emit), prints diagnostics and
 * chooses the exit status. The only file that exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "compile.h"
#include "emit.h"
#include "export.h"
#include "inspect.h"
#include "plan.h"
#include "report.h"

#define EXIT_INPUT 1   /* the .net file has errors */
#define EXIT_USAGE 2   /* the command line is wrong */

static const char usage_text[] =
    "usage: netc COMMAND [options] FILE.net\n"
    "       netc inspect FILE.safetensors [NAME ...]\n"
    "\n"
    "Compiles a .net network description to a standalone C trainer.\n"
    "\n"
    "commands:\n"
    "  shapes   print every layer's output shape, parameters and FLOPs\n"
    "  check    check FILE (syntax, names, arguments, shapes)\n"
    "  dot      print the network as a Graphviz graph (blocks as clusters)\n"
    "  emit     write the network's trainer as one standalone C file\n"
    "  build    emit the trainer and compile it into an executable\n"
    "  inspect  list a checkpoint's tensors (shape, min/mean/max, NaNs) and\n"
    "           metadata; print the values of each NAME (or NAME.*)\n"
    "\n"
    "options:\n"
    "  -D NAME=VALUE   set a net parameter (repeatable), e.g. -D ratio=1\n"
    "  -I DIR          also look for imported files in DIR (repeatable)\n"
    "  --net NAME      the net to use when FILE defines several\n"
    "  --batch N       shapes: batch size shown and used for activation memory (default 1)\n"
    "  --json          shapes: print JSON instead of the table\n"
    "  -o PATH         write the output to PATH instead of standard output;\n"
    "                  build: the executable (default: the net's name), its C\n"
    "                  source goes next to it as PATH.c\n"
    "  -v, --verbose   build: print the C compiler's command line\n"
    "  --mpi           build: a data-parallel trainer, run with mpirun -np P\n"
    "  --inference     emit: an inference library NAME.c + NAME.h (eval mode,\n"
    "                  needs only libm); build: a classifier of images with it\n"
    "  --weights FILE  --inference: compile these weights (safetensors) in\n"
    "  --no-fold       --inference: keep batch norms apart from the conv before\n"
    "  --pytorch       emit: the equivalent torch.nn.Module as a Python file\n"
    "  --dump-ast      print the syntax tree of FILE and stop\n"
    "  -h, --help      show this help\n"
    "  --version       show the version\n";

typedef struct options {
    const char *command;
    const char *file;
    const char **defines;
    int ndefines;
    const char **includes;
    int nincludes;
    const char *net;
    const char *out;
    int batch;
    int json;
    int dump_ast;
    int verbose;
    int mpi;
    int inference, pytorch, no_fold;
    const char *weights;
} options;

/* The options being parsed: exits during parsing free their lists, so
 * LeakSanitizer finds nothing on any exit path. */
static options *parsing;

static void free_options(options *o)
{
    free(o->defines);
    free(o->includes);
    o->defines = NULL;
    o->includes = NULL;
}

static void exit_parsing(int status)
{
    if (parsing)
        free_options(parsing);
    exit(status);
}

static void usage_error(const char *fmt, const char *arg)
{
    fputs("netc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(run 'netc --help' for usage)\n", stderr);
    exit_parsing(EXIT_USAGE);
}

/* "--name=value" or "--name value"; -X value or -Xvalue for short options. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) == 0 && a[n] == '=')
        return a + n + 1;
    if (name[1] != '-' && a[n] != 0)
        return a + n;
    if (*i + 1 >= argc)
        usage_error("%s needs a value", name);
    return argv[++*i];
}

static int matches(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == 0 || arg[n] == '=')
        return 1;
    return name[1] != '-'; /* -DNAME=V */
}

static void parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    parsing = o;
    o->batch = 1;
    o->defines = calloc((size_t)argc, sizeof(char *));
    o->includes = calloc((size_t)argc + 1, sizeof(char *));
    if (!o->defines || !o->includes)
        exit_parsing(EXIT_USAGE);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit_parsing(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("netc %s\n", NETC_VERSION);
            exit_parsing(0);
        } else if (matches(a, "-D")) {
            o->defines[o->ndefines++] = option_value(argc, argv, &i, "-D");
        } else if (matches(a, "-I")) {
            o->includes[o->nincludes++] = option_value(argc, argv, &i, "-I");
        } else if (matches(a, "-o")) {
            o->out = option_value(argc, argv, &i, "-o");
        } else if (matches(a, "--net")) {
            o->net = option_value(argc, argv, &i, "--net");
        } else if (matches(a, "--batch")) {
            const char *v = option_value(argc, argv, &i, "--batch");
            char *end;
            errno = 0;
            long b = strtol(v, &end, 10);
            if (errno || *end || end == v || b < 1 || b > 65536)
                usage_error("--batch needs an integer from 1 to 65536, got '%s'", v);
            o->batch = (int)b;
        } else if (strcmp(a, "--inference") == 0) {
            o->inference = 1;
        } else if (strcmp(a, "--pytorch") == 0) {
            o->pytorch = 1;
        } else if (strcmp(a, "--no-fold") == 0) {
            o->no_fold = 1;
        } else if (matches(a, "--weights")) {
            o->weights = option_value(argc, argv, &i, "--weights");
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--dump-ast") == 0) {
            o->dump_ast = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "--mpi") == 0) {
            o->mpi = 1;
        } else if (a[0] == '-' && a[1] != 0) {
            usage_error("unknown option '%s'", a);
        } else if (!o->command) {
            o->command = a;
        } else if (!o->file) {
            o->file = a;
        } else {
            usage_error("unexpected argument '%s' (one FILE at a time)", a);
        }
    }
    if (!o->command) {
        fputs(usage_text, stderr);
        exit_parsing(EXIT_USAGE);
    }
    static const char *const commands[] = {"shapes", "check", "dot", "emit", "build"};
    int known = 0;
    for (size_t k = 0; k < sizeof commands / sizeof *commands; k++)
        known |= strcmp(o->command, commands[k]) == 0;
    if (!known)
        usage_error("unknown command '%s' (commands: shapes, check, dot, emit, build)",
                    o->command);
    if (!o->file)
        usage_error("%s needs a .net FILE", o->command);
    int emit = strcmp(o->command, "emit") == 0, build = strcmp(o->command, "build") == 0;
    if (o->inference && o->pytorch)
        usage_error("choose one of --inference and --pytorch%s", "");
    if ((o->inference && !emit && !build) || (o->pytorch && !emit))
        usage_error("%s", o->pytorch ? "--pytorch goes with emit"
                                     : "--inference goes with emit or build");
    if ((o->weights || o->no_fold) && !o->inference)
        usage_error("%s needs --inference", o->weights ? "--weights" : "--no-fold");
}

/* stdout, or the -o file; NULL after saying why not. */
static FILE *open_output(const options *o)
{
    if (!o->out || strcmp(o->out, "-") == 0)
        return stdout;
    FILE *f = fopen(o->out, "w");
    if (!f)
        fprintf(stderr, "netc: cannot write '%s': %s\n", o->out, strerror(errno));
    return f;
}

static int close_output(const options *o, FILE *f)
{
    if (f == stdout)
        return fflush(f) == 0 ? 0 : -1;
    if (fclose(f) != 0) {
        fprintf(stderr, "netc: cannot write '%s': %s\n", o->out, strerror(errno));
        return -1;
    }
    return 0;
}

/* What determines a generated file, for its header: the net's file, its
 * -D values and --net (not the output path: same input, same bytes). */
static char *command_line(const options *o)
{
    size_t len = strlen(o->file) + 64 + (o->net ? strlen(o->net) : 0);
    for (int i = 0; i < o->ndefines; i++)
        len += strlen(o->defines[i]) + 4;
    char *s = calloc(1, len);
    strcpy(s, "netc emit");
    strcat(s, o->inference ? " --inference" : o->pytorch ? " --pytorch" : "");
    strcat(s, o->no_fold ? " --no-fold" : "");
    for (int i = 0; i < o->ndefines; i++) {
        strcat(s, " -D ");
        strcat(s, o->defines[i]);
    }
    if (o->net) {
        strcat(s, " --net ");
        strcat(s, o->net);
    }
    strcat(s, " ");
    strcat(s, o->file);
    return s;
}

/* Bytes the trainer allocates at batch size `batch`: parameters, gradients
 * and momentum, and per example the activations and saved statistics. */
static double trainer_bytes(const plan *p, int64_t batch)
{
    return 4.0 * (3.0 * (double)p->param_floats +
                  (double)batch * (double)(p->act_floats + p->state_floats));
}

/* Warns when the trainer would need more memory than the machine has. */
static void warn_memory(const ir_graph *g, const plan *p, diag *d)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return;
    double ram = (double)pages * (double)page;
    int64_t batch = g->train.has_batch_size ? g->train.batch_size : 256;
    double need = trainer_bytes(p, batch);
    if (need <= ram)
        return;
    const double gib = 1024.0 * 1024.0 * 1024.0;
    diag_warning(d, g->train.has_batch_size ? g->train.loc : g->loc,
                 "the trainer needs about %.1f GiB at batch size %lld (parameters, "
                 "gradients, momentum and activations), more than this machine's %.1f GiB; "
                 "try a smaller --batch-size or input",
                 need / gib, (long long)batch, ram / gib);
}

/* emit: the C file to -o or stdout. build: the C file next to the
 * executable, then the C compiler. */
static int emit_and_build(const options *o, compilation *c, const plan *p)
{
    if (o->inference || o->pytorch) {
        char *cmd = command_line(o);
        export_opts eo = {cmd, o->out, o->weights, o->inference, o->pytorch, o->no_fold,
                          strcmp(o->command, "build") == 0, o->verbose};
        int rc = export_run(c, &eo);
        free(cmd);
        return rc;
    }
    char *cmd = command_line(o);
    emit_opts eo = {NETC_VERSION, cmd};
    int build = strcmp(o->command, "build") == 0;
    const char *bin = o->out ? o->out : c->graph.name;
    char *c_path = NULL;
    FILE *out;
    if (build) {
        c_path = malloc(strlen(bin) + 3);
        sprintf(c_path, "%s.c", bin);
        out = fopen(c_path, "w");
        if (!out) {
            fprintf(stderr, "netc: cannot write '%s': %s\n", c_path, strerror(errno));
            free(c_path);
            free(cmd);
            return EXIT_INPUT;
        }
    } else {
        out = open_output(o);
        if (!out) {
            free(cmd);
            return EXIT_INPUT;
        }
    }
    emit_c(&c->graph, p, &eo, out);
    free(cmd);
    int rc = 0;
    if (build) {
        if (fclose(out) != 0) {
            fprintf(stderr, "netc: cannot write '%s': %s\n", c_path, strerror(errno));
            rc = EXIT_INPUT;
        } else if (build_trainer(c_path, bin, o->verbose, o->mpi) != 0) {
            rc = EXIT_INPUT;
        } else {
            printf("built %s (C source: %s); run it: %s%s%s --help\n", bin, c_path,
                   o->mpi ? "mpirun -np 2 " : "", strchr(bin, '/') ? "" : "./", bin);
        }
        free(c_path);
    } else if (close_output(o, out) != 0) {
        rc = EXIT_INPUT;
    }
    return rc;
}

/* Everything after the command line; returns the exit status. */
static int run(const options *o, compilation *c)
{
    if (o->dump_ast) {
        memset(c, 0, sizeof *c);
        diag_init(&c->diag, &c->ar);
        int rc = program_load(&c->prog, &c->ar, &c->diag, o->file, o->includes);
        if (c->prog.nfiles > 0)
            ast_dump(&c->prog.files[0], stdout);
        diag_print(&c->diag, stderr);
        return rc ? EXIT_INPUT : 0;
    }
    int check = strcmp(o->command, "check") == 0;
    int emit = strcmp(o->command, "emit") == 0 || strcmp(o->command, "build") == 0;
    compile_opts co = {o->file, NULL, o->includes,
                       {o->net, o->defines, o->ndefines, check}};
    int rc = compile_net(c, &co);
    const ir_graph *g = &c->graph;
    /* check runs every check emit and build run: the memory plan's too */
    plan p;
    if (rc == 0 && (check || emit) && g->n > 0) {
        rc = plan_memory(g, &c->ar, &c->diag, &p);
        if (rc == 0 && emit)
            warn_memory(g, &p, &c->diag);
    }
    diag_print(&c->diag, stderr);
    if (rc != 0)
        return EXIT_INPUT;
    if (emit)
        return emit_and_build(o, c, &p);
    FILE *out = open_output(o);
    if (!out)
        return EXIT_INPUT;
    if (strcmp(o->command, "shapes") == 0) {
        if (o->json)
            report_json(g, out);
        else
            report_table(g, o->batch, out);
    } else if (strcmp(o->command, "dot") == 0) {
        report_dot(g, out);
    } else if (g->n == 0) {
        int blocks = 0;
        for (const ast_item *it = c->prog.files[0].items; it; it = it->next)
            blocks += it->kind == I_BLOCK;
        fprintf(out, "%s: a library of %d block%s and no net; its syntax and imports are "
                "valid (block bodies are checked when a net calls them)\n",
                o->file, blocks, blocks == 1 ? "" : "s");
    } else {
        char b[64];
        fprintf(out, "%s: net %s is valid: %d layers, %s parameters\n", o->file, g->name,
                g->n - 1, fmt_count(g->total_params, b, sizeof b));
    }
    return close_output(o, out) ? EXIT_INPUT : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "inspect") == 0) {
        if (argc < 3 || argv[2][0] == '-')
            usage_error("%s", "inspect needs a FILE.safetensors (then tensor names, if any)");
        return inspect_file(argv[2], (const char *const *)argv + 3, argc - 3, stdout, stderr);
    }
    options o;
    parse_args(argc, argv, &o);
    compilation c;
    int rc = run(&o, &c);
    compile_free(&c);
    free_options(&o);
    return rc;
}
