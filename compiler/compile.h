/* compile.h - the front end as one call: load (parse.c), expand (expand.c)
 * and infer shapes (shapes.c). Used by the command line and the tests. */
#ifndef COMPILE_H
#define COMPILE_H

#include "expand.h"
#include "parse.h"
#include "shapes.h"

typedef struct compile_opts {
    const char *path;               /* the root .net file ... */
    const char *text;               /* ... or its text (path then names it) */
    const char *const *includes;    /* -I directories, NULL-terminated */
    expand_opts expand;
} compile_opts;

typedef struct compilation {
    arena ar;
    diag diag;
    program prog;
    ir_graph graph;
} compilation;

/* Runs the front end. Returns 0 if the graph is complete and error-free;
 * otherwise -1 with the diagnostics in c->diag. Free with compile_free. */
int compile_net(compilation *c, const compile_opts *o);
void compile_free(compilation *c);

#endif
