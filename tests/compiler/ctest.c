/* ctest.c - see ctest.h. */
#include "ctest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static void collect(ctest *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_print(&t->c.diag, f);
    fclose(f);
    t->diags = buf;
}

void ctest_text(ctest *t, const char *text, const char *const *defines)
{
    int n = 0;
    while (defines && defines[n])
        n++;
    compile_opts o = {ctest_src("nets/test.net"), text, NULL, {NULL, defines, n, 0}};
    t->rc = compile_net(&t->c, &o);
    collect(t);
}

void ctest_file(ctest *t, const char *path, const char *const *defines)
{
    int n = 0;
    while (defines && defines[n])
        n++;
    compile_opts o = {path, NULL, NULL, {NULL, defines, n, 0}};
    t->rc = compile_net(&t->c, &o);
    collect(t);
}

void ctest_free(ctest *t)
{
    compile_free(&t->c);
    free(t->diags);
}

static char *join(const ctest *t, int with_shapes)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const ir_graph *g = &t->c.graph;
    for (int i = 1; i < g->n; i++) {
        char b[64];
        if (with_shapes)
            fprintf(f, "%s%s:%s", i > 1 ? " " : "", layer_op(g->nodes[i].kind),
                    shape_str(&g->nodes[i].out, b, sizeof b));
        else
            fprintf(f, "%s%s", i > 1 ? " " : "", g->nodes[i].path);
    }
    fclose(f);
    return buf;
}

char *ctest_paths(const ctest *t) { return join(t, 0); }
char *ctest_shapes(const ctest *t) { return join(t, 1); }

const char *ctest_src(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", NETC_SOURCE_DIR, rel);
    return buf;
}
