/* export.c - see export.h.
 *   emit --inference [-o PATH.c]  PATH.c and PATH.h (default NAME.c, NAME.h)
 *   build --inference [-o BIN]    BIN.c, BIN.h, BIN_main.c, then BIN
 *   emit --pytorch [-o PATH.py]   one Python file (default stdout) */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "emit_infer.h"
#include "emit_pytorch.h"

#define EXIT_INPUT 1

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "netc: cannot write '%s': %s\n", path, strerror(errno));
    return f;
}

/* Closes f (flushes stdout); rc, or -1 if it cannot be written. */
static int finish(FILE *f, const char *path, int rc)
{
    if (!f)
        return -1;
    if (f == stdout)
        return fflush(f) != 0 ? -1 : rc;
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "netc: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return rc;
}

static int pytorch(compilation *c, const export_opts *o)
{
    FILE *f = o->out && strcmp(o->out, "-") != 0 ? create(o->out) : stdout;
    if (!f)
        return EXIT_INPUT;
    pytorch_opts po = {NETC_VERSION, o->command};
    int rc = emit_pytorch(&c->graph, &po, &c->diag, f);
    diag_print(&c->diag, stderr);
    return finish(f, o->out, rc) ? EXIT_INPUT : 0;
}

static int inference(compilation *c, const export_opts *o)
{
    plan p;
    if (plan_memory(&c->graph, &c->ar, &c->diag, &p) != 0) {
        diag_print(&c->diag, stderr);
        return EXIT_INPUT;
    }
    /* base: the paths without .c; the header is included by its base name */
    const char *base = o->out ? o->out : c->graph.name;
    size_t len = strlen(base);
    if (!o->build && len > 2 && strcmp(base + len - 2, ".c") == 0)
        len -= 2;
    char *c_path = arena_printf(&c->ar, "%.*s.c", (int)len, base);
    char *h_path = arena_printf(&c->ar, "%.*s.h", (int)len, base);
    char *main_path = arena_printf(&c->ar, "%.*s_main.c", (int)len, base);
    const char *slash = strrchr(h_path, '/');
    infer_opts io = {NETC_VERSION, o->command, slash ? slash + 1 : h_path, o->weights, o->no_fold};

    FILE *cf = create(c_path), *hf = cf ? create(h_path) : NULL;
    int rc = cf && hf ? emit_inference(&c->graph, &p, &io, &c->diag, cf, hf) : -1;
    diag_print(&c->diag, stderr);
    rc = finish(hf, h_path, finish(cf, c_path, rc));
    if (rc != 0) { /* no half-written library */
        remove(c_path);
        remove(h_path);
    }
    if (rc == 0 && o->build) {
        FILE *mf = create(main_path);
        if (mf)
            emit_inference_main(&c->graph, &io, mf);
        rc = finish(mf, main_path, mf ? 0 : -1);
        const char *files[] = {c_path, main_path};
        if (rc == 0)
            rc = build_inference(files, 2, base, o->verbose);
        if (rc == 0)
            printf("built %s (C sources: %s, %s, %s); run it: %s%s --help\n", base, c_path, h_path,
                   main_path, strchr(base, '/') ? "" : "./", base);
    } else if (rc == 0) {
        printf("wrote %s and %s\n", c_path, h_path);
    }
    return rc ? EXIT_INPUT : 0;
}

int export_run(compilation *c, const export_opts *o)
{
    return o->pytorch ? pytorch(c, o) : inference(c, o);
}
