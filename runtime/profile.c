/* profile.c - see nt_profile.h. Sums of seconds per layer and pass and per
 * phase of a training step, and the table --profile prints. It does not
 * read the clock except in the lap functions, and prints nothing unless
 * asked. */
#include "nt_trainer.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct nt_profile {
    const nt_net_desc *net;
    double *forward, *backward;   /* seconds per layer, summed */
    double phase[NT_PROF_NPHASES];
    double *group_fwd, *group_bwd; /* scratch of nt_profile_print */
};

nt_profile *nt_profile_alloc(const nt_net_desc *net, nt_error *err)
{
    nt_profile *p = calloc(1, sizeof *p);
    const size_t n = (size_t)(net->nlayers > 0 ? net->nlayers : 1);
    const size_t ng = (size_t)(net->ngroups > 0 ? net->ngroups : 1);
    if (!p || !(p->forward = calloc(n, sizeof(double))) ||
        !(p->backward = calloc(n, sizeof(double))) ||
        !(p->group_fwd = calloc(ng, sizeof(double))) ||
        !(p->group_bwd = calloc(ng, sizeof(double)))) {
        nt_profile_free(p);
        nt_fail(err, "out of memory for the profile");
        return NULL;
    }
    p->net = net;
    return p;
}

void nt_profile_free(nt_profile *p)
{
    if (!p)
        return;
    free(p->forward);
    free(p->backward);
    free(p->group_fwd);
    free(p->group_bwd);
    free(p);
}

void nt_profile_reset(nt_profile *p)
{
    const size_t n = (size_t)(p->net->nlayers > 0 ? p->net->nlayers : 1);
    memset(p->forward, 0, n * sizeof(double));
    memset(p->backward, 0, n * sizeof(double));
    memset(p->phase, 0, sizeof p->phase);
}

double nt_profile_lap(nt_profile *p, double t, int layer, nt_prof_pass pass)
{
    const double now = nt_now();
    /* in a sample-parallel step the first share's thread keeps the time */
    if (omp_get_thread_num() == 0 && layer >= 0 && layer < p->net->nlayers)
        (pass == NT_PROF_FORWARD ? p->forward : p->backward)[layer] += now - t;
    return now;
}

double nt_profile_phase(nt_profile *p, double t, nt_prof_phase_id phase)
{
    const double now = nt_now();
    if (phase >= 0 && phase < NT_PROF_NPHASES)
        p->phase[phase] += now - t;
    return now;
}

/* ---- the table ----------------------------------------------------------------- */

typedef struct table {
    FILE *f;
    const nt_profile *p;
    int steps;
    long examples;
    double wall;   /* seconds, all steps */
    int width;     /* of the name column */
} table;

static int depth(const nt_net_desc *net, int group)
{
    int d = 0;
    for (; group >= 0; group = net->groups[group].parent)
        d++;
    return d;
}

static int within(const nt_net_desc *net, int a, int b)
{
    for (; b >= 0; b = net->groups[b].parent)
        if (a == b)
            return 1;
    return a < 0;
}

/* "  12.345" ms per step, or blanks */
static void ms(const table *t, double seconds, int show)
{
    if (show)
        fprintf(t->f, "  %9.3f", 1e3 * seconds / t->steps);
    else
        fprintf(t->f, "  %9s", "");
}

/* Blank below 1 us per step: a rate from a clock's lap is noise (an
 * activation computed in its producer's kernel takes no time of its own). */
static void gflops(const table *t, double flops, double seconds)
{
    if (flops > 0 && seconds >= 1e-6 * t->steps)
        fprintf(t->f, "  %8.1f", flops * (double)t->examples / seconds / 1e9);
    else
        fprintf(t->f, "  %8s", "");
}

static void row(const table *t, int indent, const char *name, const char *op, double fwd,
                double bwd, int show_bwd, double ffl, double bfl)
{
    if (*op)
        fprintf(t->f, "%*s%-*s  %-18s", indent, "", t->width - indent, name, op);
    else
        fprintf(t->f, "%*s%-*s", indent, "", t->width - indent + 20, name);
    ms(t, fwd, 1);
    ms(t, bwd, show_bwd);
    fprintf(t->f, "  %6.1f%%", t->wall > 0 ? 100.0 * (fwd + bwd) / t->wall : 0.0);
    if (ffl > 0 || bfl > 0) {
        gflops(t, ffl, fwd);
        gflops(t, bfl, bwd);
    }
    fputc('\n', t->f);
}

/* Heads the groups of `to` that `from` is not in, outermost first, with
 * their layers' summed time. */
static void enter(const table *t, int from, int to)
{
    const nt_net_desc *net = t->p->net;
    if (to < 0 || within(net, to, from))
        return;
    enter(t, from, net->groups[to].parent);
    const nt_group_desc *g = &net->groups[to];
    int indent = 2 * (depth(net, to) - 1);
    char name[256];
    snprintf(name, sizeof name, "%s  %s", g->name, g->label);
    if ((int)strlen(name) > t->width - indent + 20) /* keep the numbers in their columns */
        name[t->width - indent + 20 > 0 ? t->width - indent + 20 : 0] = 0;
    fprintf(t->f, "%*s%-*s", indent, "", t->width - indent + 20, name);
    ms(t, t->p->group_fwd[to], 1);
    ms(t, t->p->group_bwd[to], 1);
    fprintf(t->f, "  %6.1f%%\n",
            t->wall > 0 ? 100.0 * (t->p->group_fwd[to] + t->p->group_bwd[to]) / t->wall : 0.0);
}

void nt_profile_print(FILE *f, const nt_profile *p, int steps, long examples, double wall)
{
    const nt_net_desc *net = p->net;
    table t = {f, p, steps > 0 ? steps : 1, examples, wall, 5};
    for (int g = 0; g < net->ngroups; g++)
        p->group_fwd[g] = p->group_bwd[g] = 0;
    double fwd = 0, bwd = 0, ffl = 0, bfl = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const nt_layer_desc *l = &net->layers[i];
        int w = (int)strlen(l->path) + 2 * depth(net, l->group);
        if (w > t.width)
            t.width = w;
        for (int g = l->group; g >= 0; g = net->groups[g].parent) {
            p->group_fwd[g] += p->forward[i];
            p->group_bwd[g] += p->backward[i];
        }
        fwd += p->forward[i];
        bwd += p->backward[i];
        ffl += l->flops_forward;
        bfl += l->flops_backward;
    }
    fprintf(f, "\nprofile  net %s  %d step%s, %ld examples, %.3f ms/step; per step:\n",
            net->name, t.steps, t.steps == 1 ? "" : "s", examples, 1e3 * wall / t.steps);
    fprintf(f, "%-*s  %-18s  %9s  %9s  %7s  %8s  %8s\n", t.width, "layer", "op", "fwd ms",
            "bwd ms", "share", "fwd GF/s", "bwd GF/s");
    int cur = -1;
    for (int i = 1; i < net->nlayers; i++) {
        const nt_layer_desc *l = &net->layers[i];
        enter(&t, cur, l->group);
        cur = l->group;
        row(&t, 2 * depth(net, l->group), l->path, l->op, p->forward[i], p->backward[i], 1,
            l->flops_forward, l->flops_backward);
    }
    static const char *const phases[NT_PROF_NPHASES] = {
        "data (batch preparation)", "zero gradients", "loss (softmax cross-entropy)",
        "optimizer (SGD step)"};
    double timed = fwd + bwd;
    fputc('\n', f);
    row(&t, 0, "layers", "", fwd, bwd, 1, ffl, bfl);
    for (int k = 0; k < NT_PROF_NPHASES; k++) {
        row(&t, 0, phases[k], "", p->phase[k], 0, 0, 0, 0);
        timed += p->phase[k];
    }
    row(&t, 0, "other (untimed)", "", wall - timed, 0, 0, 0, 0);
    fprintf(f, "%-*s", t.width + 20, "step");
    ms(&t, wall, 1);
    fprintf(f, "  %9s  %6.1f%%", "", 100.0);
    gflops(&t, ffl + bfl, wall);
    fprintf(f, "  (training FLOPs: forward + backward)\n");
    fflush(f);
}
