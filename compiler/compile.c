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
    const expand_opts *e = &o->expand;
    int cmdline_error = 0; /* such as a -D naming no parameter: says it already */
    for (int i = 0; i < c->diag.n; i++)
        cmdline_error |= c->diag.items[i].kind == DIAG_ERROR && !c->diag.items[i].loc.src;
    if (rc != 0 && g->name && e->ndefines > 0 && !cmdline_error) {
        /* the command line changed the net: say how, after its errors */
        const char *s = "";
        for (int i = 0; i < e->ndefines; i++)
            s = arena_printf(&c->ar, "%s%s-D %s", s, i ? " " : "", e->defines[i]);
        c->diag.dropping = 0; /* a note of its own, not of the last error */
        diag_note(&c->diag, loc_none(), "net '%s' was expanded with %s", g->name, s);
    }
    return rc;
}

void compile_free(compilation *c)
{
    arena_free(&c->ar);
}
