/* progress.c - the trainer's reporting: a progress bar with an ETA on a
 * terminal (plain, rare lines otherwise, never \r in a log), the epoch line
 * in the words of d2l's train_ch6, the JSON log line and the training
 * curves of d2l's Animator. It decides nothing about training and writes no
 * file except through nt_plot_svg. */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double nt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nt_format_duration(char *buf, size_t cap, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    long s = lround(seconds);
    if (s < 60)
        snprintf(buf, cap, "%ld s", s);
    else if (s < 3600)
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

/* ---- progress bar ---------------------------------------------------------- */

#define BAR_WIDTH 24

void nt_progress_begin(nt_progress *p, FILE *out, nt_progress_mode mode,
                       int epoch, int epochs, int total, double now)
{
    p->out = out;
    p->mode = mode;
    p->epoch = epoch;
    p->epochs = epochs;
    p->total = total;
    p->start = p->last = now;
    p->drawn = 0;
}

void nt_progress_format(char *buf, size_t cap, const nt_progress *p, int done,
                        double loss, double acc, double now)
{
    char eta[32];
    double elapsed = now - p->start;
    if (done > 0)
        nt_format_duration(eta, sizeof eta,
                           elapsed / done * (p->total - done));
    else
        snprintf(eta, sizeof eta, "?");
    if (p->mode == NT_PROGRESS_BAR) {
        char bar[BAR_WIDTH + 1];
        int fill = p->total > 0 ? (int)((long)BAR_WIDTH * done / p->total) : 0;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = 0;
        snprintf(buf, cap, "epoch %d/%d [%s] %d/%d  loss %.4f  acc %.3f  "
                 "ETA %s", p->epoch, p->epochs, bar, done, p->total, loss,
                 acc, eta);
    } else {
        snprintf(buf, cap, "epoch %d/%d  batch %d/%d  loss %.4f  train acc "
                 "%.3f  ETA %s", p->epoch, p->epochs, done, p->total, loss,
                 acc, eta);
    }
}

void nt_progress_update(nt_progress *p, int done, double loss, double acc,
                        double now)
{
    char line[256];
    if (p->mode == NT_PROGRESS_BAR) {
        if (now - p->last < NT_PROGRESS_BAR_SECONDS && done < p->total)
            return;
        nt_progress_format(line, sizeof line, p, done, loss, acc, now);
        fprintf(p->out, "\r%s\033[K", line);
        fflush(p->out);
        p->drawn = 1;
        p->last = now;
    } else if (p->mode == NT_PROGRESS_LINES) {
        if (now - p->last < NT_PROGRESS_LINE_SECONDS || done >= p->total)
            return;
        nt_progress_format(line, sizeof line, p, done, loss, acc, now);
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
        p->last = now;
    }
}

void nt_progress_testing(nt_progress *p)
{
    if (p->mode != NT_PROGRESS_BAR)
        return;
    fprintf(p->out, "\repoch %d/%d  testing ...\033[K", p->epoch, p->epochs);
    fflush(p->out);
    p->drawn = 1;
}

void nt_progress_end(nt_progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
        p->drawn = 0;
    }
}

/* ---- per-epoch results ------------------------------------------------------ */

void nt_format_epoch(char *buf, size_t cap, const nt_epoch_stats *s)
{
    int width = snprintf(NULL, 0, "%d", s->epochs);
    snprintf(buf, cap, "epoch %*d/%d  loss %.4f  train acc %.3f  test acc "
             "%.3f  %.0f examples/s  %.1f s", width, s->epoch, s->epochs,
             s->loss, s->train_acc, s->test_acc, s->examples_per_sec,
             s->seconds);
}

/* A JSON number (shortest round-trip form for a double is %.17g; %.9g is
 * enough for the float values and keeps the log readable), or null. */
static size_t json_number(char *buf, size_t cap, double v)
{
    int n = isfinite(v) ? snprintf(buf, cap, "%.9g", v)
                        : snprintf(buf, cap, "null");
    return n < 0 ? 0 : (size_t)n;
}

void nt_format_log(char *buf, size_t cap, const nt_epoch_stats *s)
{
    const char *keys[] = {"loss", "train_acc", "test_acc", "examples_per_sec",
                          "seconds", "lr"};
    const double values[] = {s->loss, s->train_acc, s->test_acc,
                             s->examples_per_sec, s->seconds, s->lr};
    size_t len = (size_t)snprintf(buf, cap, "{\"epoch\": %d", s->epoch);
    for (int k = 0; k < 6 && len < cap; k++) {
        len += (size_t)snprintf(buf + len, cap - len, ", \"%s\": ", keys[k]);
        if (len < cap)
            len += json_number(buf + len, cap - len, values[k]);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "}\n");
}

/* ---- training curves -------------------------------------------------------- */

int nt_curve_point_due(int i, int n)
{
    int every = n / 5 > 1 ? n / 5 : 1;
    return (i + 1) % every == 0 || i == n - 1;
}

int nt_curves_alloc(nt_curves *c, int epochs, int batches, nt_error *err)
{
    memset(c, 0, sizeof *c);
    int per_epoch = 0;
    for (int i = 0; i < batches; i++)
        per_epoch += nt_curve_point_due(i, batches);
    c->cap = (epochs > 0 ? epochs : 0) * per_epoch;
    c->test_cap = epochs > 0 ? epochs : 0;
    c->epochs = epochs;
    size_t n = (size_t)(c->cap > 0 ? c->cap : 1);
    size_t nt = (size_t)(c->test_cap > 0 ? c->test_cap : 1);
    c->x = calloc(n, sizeof *c->x);
    c->loss = calloc(n, sizeof *c->loss);
    c->acc = calloc(n, sizeof *c->acc);
    c->lr = calloc(n, sizeof *c->lr);
    c->test_x = calloc(nt, sizeof *c->test_x);
    c->test_acc = calloc(nt, sizeof *c->test_acc);
    if (!c->x || !c->loss || !c->acc || !c->lr || !c->test_x || !c->test_acc) {
        nt_curves_free(c);
        return nt_fail(err, "out of memory for the training curves");
    }
    return 0;
}

void nt_curves_free(nt_curves *c)
{
    free(c->x);
    free(c->loss);
    free(c->acc);
    free(c->lr);
    free(c->test_x);
    free(c->test_acc);
    memset(c, 0, sizeof *c);
}

void nt_curves_add_train(nt_curves *c, double x, double loss, double acc)
{
    if (c->n >= c->cap)
        return;
    c->x[c->n] = x;
    c->loss[c->n] = loss;
    c->acc[c->n] = acc;
    c->n++;
}

void nt_curves_add_lr(nt_curves *c, double lr)
{
    if (c->n > 0)
        c->lr[c->n - 1] = lr;
}

void nt_curves_add_test(nt_curves *c, double x, double acc)
{
    if (c->ntest >= c->test_cap)
        return;
    c->test_x[c->ntest] = x;
    c->test_acc[c->ntest] = acc;
    c->ntest++;
}

int nt_curves_plot(const nt_curves *c, const char *path, const char *title,
                   nt_error *err)
{
    /* d2l's Animator: fmts ('-', 'm--', 'g-.'): matplotlib's first cycle
     * colour, then its 'm' (0.75, 0, 0.75) and 'g' (0, 0.5, 0). */
    double max = 0;
    int changes = 0;
    for (int i = 0; i < c->n; i++) {
        max = c->lr[i] > max ? c->lr[i] : max;
        changes |= c->lr[i] != c->lr[0];
    }
    double *rel = changes ? malloc((size_t)c->n * sizeof *rel) : NULL;
    char label[64];
    snprintf(label, sizeof label, "lr / %g", max);
    for (int i = 0; rel && i < c->n; i++)
        rel[i] = c->lr[i] / max;
    const nt_curve curves[4] = {
        {"train loss", c->x, c->loss, c->n, "#1f77b4", 0},
        {"train acc", c->x, c->acc, c->n, "#bf00bf", 1},
        {"test acc", c->test_x, c->test_acc, c->ntest, "#008000", 2},
        {label, c->x, rel, c->n, "#7f7f7f", 1},
    };
    int rc = nt_plot_svg(path, title, "epoch", 1.0,
                         c->epochs > 1 ? (double)c->epochs : 1.0, NAN, NAN,
                         curves, rel ? 4 : 3, err);
    free(rel);
    return rc;
}
