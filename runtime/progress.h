/* progress.h - what the trainer driver reports while it trains: the
 * progress bar with its ETA, the per-epoch console line, the JSON log line
 * and the d2l-style training curves. Internal to the runtime (trainer.c and
 * its tests); generated code never includes it. */
#ifndef NT_PROGRESS_H
#define NT_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "nt_io.h"

/* Seconds on a monotonic clock. */
double nt_now(void);

/* "12 s" below a minute, "3:25" below an hour, "1:02:03" above. */
void nt_format_duration(char *buf, size_t cap, double seconds);

/* ---- progress bar ---------------------------------------------------------- */

typedef enum nt_progress_mode {
    NT_PROGRESS_OFF,    /* --quiet */
    NT_PROGRESS_BAR,    /* a terminal: one line redrawn with \r */
    NT_PROGRESS_LINES   /* a file or pipe: a plain line now and then */
} nt_progress_mode;

/* A terminal bar is redrawn at most this often; a plain line is printed at
 * most this often (and not at all for epochs shorter than that). */
#define NT_PROGRESS_BAR_SECONDS 0.2
#define NT_PROGRESS_LINE_SECONDS 60.0

typedef struct nt_progress {
    FILE *out;
    nt_progress_mode mode;
    int epoch, epochs;   /* 1-based epoch, of epochs */
    int total;           /* batches in the epoch */
    double start, last;  /* nt_now() at begin and at the last output */
    int drawn;           /* a bar is on the screen */
} nt_progress;

void nt_progress_begin(nt_progress *p, FILE *out, nt_progress_mode mode,
                       int epoch, int epochs, int total, double now);
/* After `done` batches, with the epoch's running loss and accuracy. */
void nt_progress_update(nt_progress *p, int done, double loss, double acc,
                        double now);
/* On a terminal, replaces the bar by a note that the test set is being
 * evaluated (which takes a while for big nets). */
void nt_progress_testing(nt_progress *p);
/* Erases the bar, if one is drawn. */
void nt_progress_end(nt_progress *p);

/* The text of the bar (BAR) or line (LINES) without \r or newline. */
void nt_progress_format(char *buf, size_t cap, const nt_progress *p, int done,
                        double loss, double acc, double now);

/* ---- per-epoch results ------------------------------------------------------ */

typedef struct nt_epoch_stats {
    int epoch, epochs;          /* 1-based */
    double loss, train_acc;     /* averages over the epoch's training examples */
    double test_acc;
    double examples_per_sec;    /* training examples / training seconds */
    double seconds;             /* the whole epoch: training and evaluation */
    double lr;
} nt_epoch_stats;

/* "epoch  1/10  loss 0.5432  train acc 0.803  test acc 0.826  18512 examples/s  3.2 s" */
void nt_format_epoch(char *buf, size_t cap, const nt_epoch_stats *s);

/* One JSON object and a newline: {"epoch": 1, "loss": ..., "train_acc": ...,
 * "test_acc": ..., "examples_per_sec": ..., "seconds": ..., "lr": ...}, with
 * numbers at full precision and null for a non-finite value. */
void nt_format_log(char *buf, size_t cap, const nt_epoch_stats *s);

/* ---- training curves (d2l's Animator in train_ch6) -------------------------- */

/* 'train loss' and 'train acc' get a point after batch i (0-based) of an
 * epoch of n batches when (i + 1) % max(n / 5, 1) == 0 or i == n - 1, at
 * x = epoch + (i + 1) / n (epoch 0-based); 'test acc' one per epoch at
 * x = epoch + 1. */
int nt_curve_point_due(int i, int n);

typedef struct nt_curves {
    double *x, *loss, *acc;     /* the train points */
    double *lr;                 /* the lr at each train point (nt_curves_add_lr) */
    int n, cap;
    double *test_x, *test_acc;  /* one point per epoch */
    int ntest, test_cap;
    int epochs;                 /* x axis from 1 to epochs */
} nt_curves;

/* Room for the points of `epochs` epochs of `batches` batches each. */
int nt_curves_alloc(nt_curves *c, int epochs, int batches, nt_error *err);
void nt_curves_free(nt_curves *c);
/* Points beyond the capacity are dropped (never the case with the numbers
 * given to nt_curves_alloc). */
void nt_curves_add_train(nt_curves *c, double x, double loss, double acc);
void nt_curves_add_test(nt_curves *c, double x, double acc);
/* The learning rate at the last train point. */
void nt_curves_add_lr(nt_curves *c, double lr);
/* Draws the three curves with d2l's formats ('-', 'm--', 'g-.'), and when
 * the learning rate changed during the run a fourth, "lr / MAX" (grey,
 * dotted: the lr divided by its largest value, so it fits the axis). */
int nt_curves_plot(const nt_curves *c, const char *path, const char *title,
                   nt_error *err);

#endif
