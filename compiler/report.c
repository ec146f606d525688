/* report.c - see report.h. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

const char *fmt_count(int64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 1 < n; i++) {
        buf[o++] = digits[i];
        if ((len - 1 - i) % 3 == 0 && i != len - 1 && o + 1 < n)
            buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

const char *fmt_si(double v, char *buf, size_t n)
{
    static const char *const units[] = {"", "K", "M", "G", "T", "P"};
    int u = 0;
    while (v >= 1000 && u < 5) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.*f%s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
    return buf;
}

/* 46.7e6 -> "44.6 MiB" */
static const char *fmt_bytes(double v, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, "%.1f %s", v, units[u]);
    return buf;
}

static int group_depth(const ir_graph *g, int grp)
{
    int d = 0;
    for (; grp >= 0; grp = g->groups[grp].parent)
        d++;
    return d;
}

/* Is a an ancestor of (or equal to) b? */
static int group_within(const ir_graph *g, int a, int b)
{
    for (; b >= 0; b = g->groups[b].parent)
        if (a == b)
            return 1;
    return a < 0;
}

/* Prints headers for the groups of `to` that `from` is not in, outermost
 * first. */
static void enter_groups(const ir_graph *g, int from, int to, FILE *out)
{
    if (to < 0 || group_within(g, to, from))
        return;
    enter_groups(g, from, g->groups[to].parent, out);
    const ir_group *gr = &g->groups[to];
    int depth = group_depth(g, to) - 1;
    const char *leaf = strrchr(gr->path, '.');
    fprintf(out, "%*s%s  %s\n", 2 * depth, "", leaf ? leaf + 1 : gr->path, gr->label);
}

void report_table(const ir_graph *g, int batch, FILE *out)
{
    char b1[64], b2[64], b3[64];
    const shape *in = &g->nodes[0].out;
    fprintf(out, "net %s (%s)", g->name, g->file);
    for (int i = 0; i < g->nparams; i++)
        fprintf(out, "%s%s = %s%s", i ? ", " : "  ", g->params[i].name,
                g->params[i].value, g->params[i].overridden ? " (-D)" : "");
    fprintf(out, "\ninput %d x %s\n\n", batch, shape_str(in, b1, sizeof b1));

    int wpath = 5;
    for (int i = 1; i < g->n; i++) {
        int w = (int)strlen(g->nodes[i].path) + 2 * group_depth(g, g->nodes[i].group);
        if (w > wpath)
            wpath = w;
    }
    fprintf(out, "%-*s  %-18s  %-18s  %12s  %8s\n", wpath, "layer", "op", "output",
            "params", "FLOPs");
    int cur = -1;
    for (int i = 1; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        enter_groups(g, cur, n->group, out);
        cur = n->group;
        int indent = 2 * group_depth(g, n->group);
        char shp[80];
        snprintf(shp, sizeof shp, "%d x %s", batch, shape_str(&n->out, b1, sizeof b1));
        fprintf(out, "%*s%-*s  %-18s  %-18s  %12s  %8s\n", indent, "", wpath - indent,
                n->path, layer_op(n->kind), shp, fmt_count(n->params, b2, sizeof b2),
                fmt_si((double)n->flops, b3, sizeof b3));
    }
    double act_bytes = (double)g->total_activations * 4.0 * batch;
    fprintf(out, "\ntotal  %s parameters (%s as float32)\n",
            fmt_count(g->total_params, b1, sizeof b1),
            fmt_bytes((double)g->total_params * 4, b2, sizeof b2));
    fprintf(out, "       %s FLOPs forward per example (multiply-add = 2)\n",
            fmt_si((double)g->total_flops, b1, sizeof b1));
    fprintf(out, "       %s of activations at batch %d (layer outputs, float32)\n",
            fmt_bytes(act_bytes, b1, sizeof b1), batch);
}

static void json_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_shape(const shape *s, FILE *out)
{
    fputc('[', out);
    for (int i = 0; i < s->rank; i++)
        fprintf(out, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    fputc(']', out);
}

void report_json(const ir_graph *g, FILE *out)
{
    fputs("{\"net\": ", out);
    json_string(g->name, out);
    fputs(", \"input\": ", out);
    json_shape(&g->nodes[0].out, out);
    fprintf(out, ", \"params\": %lld, \"flops\": %lld, \"layers\": [",
            (long long)g->total_params, (long long)g->total_flops);
    for (int i = 1; i < g->n; i++) {
        const ir_node *n = &g->nodes[i];
        fputs(i > 1 ? ",\n  {\"path\": " : "\n  {\"path\": ", out);
        json_string(n->path, out);
        fputs(", \"op\": ", out);
        json_string(layer_op(n->kind), out);
        fputs(", \"shape\": ", out);
        json_shape(&n->out, out);
        fprintf(out, ", \"params\": %lld, \"flops\": %lld}", (long long)n->params,
                (long long)n->flops);
    }
    fputs("\n]}\n", out);
}

static void dot_label(const char *s, FILE *out)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}

/* Members of each group as index lists (counting sort by group; group -1
 * is stored at index 0), so drawing is linear in the graph's size. */
typedef struct dot_lists {
    int *node_start, *nodes;    /* nodes of group k-1: nodes[node_start[k] .. node_start[k+1]) */
    int *child_start, *children;
} dot_lists;

static void bucket(int nkeys, int nitems, const int *key_of, int *start, int *items)
{
    for (int k = 0; k <= nkeys; k++)
        start[k] = 0;
    for (int i = 0; i < nitems; i++)
        start[key_of[i] + 1]++;
    for (int k = 1; k <= nkeys; k++)
        start[k] += start[k - 1];
    int *fill = malloc(sizeof(int) * (size_t)(nkeys + 1));
    memcpy(fill, start, sizeof(int) * (size_t)(nkeys + 1));
    for (int i = 0; i < nitems; i++)
        items[fill[key_of[i]]++] = i;
    free(fill);
}

static void dot_group(const ir_graph *g, const dot_lists *l, int grp, int depth,
                      FILE *out)
{
    char b[64];
    if (grp >= 0) {
        fprintf(out, "%*ssubgraph cluster_%d {\n%*slabel=\"", 2 * depth, "", grp,
                2 * depth + 2, "");
        dot_label(g->groups[grp].path, out);
        fputs(": ", out);
        dot_label(g->groups[grp].label, out);
        fputs("\";\n", out);
    }
    for (int j = l->node_start[grp + 1]; j < l->node_start[grp + 2]; j++) {
        int i = l->nodes[j];
        const ir_node *n = &g->nodes[i];
        /* the path inside the cluster: branch2.conv1 in residual1 */
        const char *label = n->path;
        size_t plen = grp >= 0 ? strlen(g->groups[grp].path) : 0;
        if (plen && strncmp(label, g->groups[grp].path, plen) == 0 && label[plen] == '.')
            label += plen + 1;
        fprintf(out, "%*sn%d [label=\"", 2 * depth + 2, "", i);
        dot_label(label, out);
        fprintf(out, "\\n%s %s\"%s];\n", layer_op(n->kind), shape_str(&n->out, b, sizeof b),
                n->kind == L_INPUT ? ", shape=ellipse" : "");
    }
    for (int j = l->child_start[grp + 1]; j < l->child_start[grp + 2]; j++)
        dot_group(g, l, l->children[j], depth + 1, out);
    if (grp >= 0)
        fprintf(out, "%*s}\n", 2 * depth, "");
}

void report_dot(const ir_graph *g, FILE *out)
{
    int nk = g->ngroups + 1;
    int *key = malloc(sizeof(int) * (size_t)(g->n + g->ngroups + 1));
    dot_lists l = {
        malloc(sizeof(int) * (size_t)(nk + 1)), malloc(sizeof(int) * (size_t)(g->n + 1)),
        malloc(sizeof(int) * (size_t)(nk + 1)), malloc(sizeof(int) * (size_t)(g->ngroups + 1)),
    };
    for (int i = 0; i < g->n; i++)
        key[i] = g->nodes[i].group + 1;
    bucket(nk, g->n, key, l.node_start, l.nodes);
    for (int k = 0; k < g->ngroups; k++)
        key[k] = g->groups[k].parent + 1;
    bucket(nk, g->ngroups, key, l.child_start, l.children);

    fputs("digraph ", out);
    fputc('"', out);
    dot_label(g->name, out);
    fputs("\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
          "  graph [fontname=\"Helvetica\", fontsize=11, style=rounded];\n",
          out);
    dot_group(g, &l, -1, 0, out);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].ninputs; k++)
            fprintf(out, "  n%d -> n%d;\n", g->nodes[i].inputs[k], i);
    fputs("}\n", out);
    free(key);
    free(l.node_start);
    free(l.nodes);
    free(l.child_start);
    free(l.children);
}
