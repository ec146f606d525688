/* compile.c - see compile.h. */
#include "compile.h"

#include <string.h>

int compile_net(compilation *c, const compile_opts *o)
{
    memset(c, 0, sizeof *c);
    diag_init(&c->diag, &c->ar);
    int rc = o->text ? program_load_text(&c->prog, &c->ar, &c->diag, o->path,
                                         o->text, o->includes)
                     : program_load(&c->prog, &c->ar, &c->diag, o->path, o->includes);
    if (rc != 0)
        return -1;
    rc = expand_program(&c->prog, &c->ar, &c->diag, &o->expand, &c->graph);
    /* shapes run even after expansion errors: independent mistakes are
     * reported together, and failed layers silence what depends on them */
    ir_graph *g = &c->graph;
    if (g->n > 0 && g->nodes[0].kind == L_INPUT && infer_shapes(g, &c->diag) != 0)
        rc = -1;
    return rc;
}

void compile_free(compilation *c)
{
    arena_free(&c->ar);
}
