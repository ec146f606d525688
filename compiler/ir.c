/* ir.c - small helpers over the IR: shapes as text and the network hash. */
#include "ir.h"

#include "layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t shape_size(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->d[i];
    return n;
}

const char *shape_str(const shape *s, char *buf, size_t n)
{
    if (s->rank == 3)
        snprintf(buf, n, "%lldx%lldx%lld", (long long)s->d[0], (long long)s->d[1],
                 (long long)s->d[2]);
    else
        snprintf(buf, n, "%lld", (long long)s->d[0]);
    return buf;
}

int ir_storage(const ir_graph *g, int n)
{
    while (layer_flags(g->nodes[n].kind) & LF_VIEW)
        n = g->nodes[n].inputs[0];
    return n;
}

/* FNV-1a, 64 bit */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t mix_int(uint64_t h, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (8 * i));
    return mix(h, b, 8);
}

/* The kind's attributes, as its field table lists them: integers one by
 * one, then the floats as one "%.17g %.17g ..." string. A field with a
 * neutral value (an attribute added to a kind later) counts, by name, only
 * when it differs from it, so networks that do not use it keep their hash
 * and their checkpoints stay loadable. */
static uint64_t mix_attrs(uint64_t h, const ir_node *n)
{
    char buf[256] = "";
    size_t len = 0;
    for (const attr_field *f = layer_table[n->kind].fields; f->name; f++) {
        const char *at = (const char *)n + f->offset;
        if (f->type == ATTR_FLOAT) {
            double v;
            memcpy(&v, at, sizeof v);
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.17g", len ? " " : "", v);
            continue;
        }
        int v;
        memcpy(&v, at, sizeof v);
        if (f->has_neutral) {
            if (v == f->neutral)
                continue;
            h = mix(h, f->name, strlen(f->name) + 1);
        }
        h = mix_int(h, v);
    }
    return len ? mix(h, buf, len) : h;
}

uint64_t ir_hash(const ir_graph *g)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        h = mix(h, layer_op(n->kind), strlen(layer_op(n->kind)) + 1);
        h = mix(h, n->path, strlen(n->path) + 1);
        h = mix_int(h, n->ninputs);
        for (int k = 0; k < n->ninputs; k++)
            h = mix_int(h, n->inputs[k]);
        h = mix_int(h, n->out.rank);
        for (int k = 0; k < n->out.rank; k++)
            h = mix_int(h, n->out.d[k]);
        h = mix_attrs(h, n);
    }
    return h;
}

uint64_t ir_arch_hash(const ir_graph *g)
{
    /* ir_hash of the same graph with every height and width set to 0 */
    ir_graph copy = *g;
    ir_node *nodes = malloc((size_t)(g->n ? g->n : 1) * sizeof *nodes);
    if (!nodes)
        return 0;
    memcpy(nodes, g->nodes, (size_t)g->n * sizeof *nodes);
    for (int i = 0; i < g->n; i++)
        if (nodes[i].out.rank == 3)
            nodes[i].out.d[1] = nodes[i].out.d[2] = 0;
    copy.nodes = nodes;
    const uint64_t h = ir_hash(&copy);
    free(nodes);
    return h;
}
