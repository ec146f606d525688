/* nt_recipe.h - the training recipe: optimizer (SGD, SGD with Nesterov
 * momentum, Adam, AdamW), learning-rate schedule with warm-up, label
 * smoothing, gradient-norm clipping, input normalisation and augmentation.
 *
 * The settings themselves are the rows of recipe.def. A generated trainer
 * carries the ones its .net file's train(...) gives as a string in
 * nt_recipe's command-line syntax ("optimizer=adam betas=0.9,0.95"); the
 * trainer applies the defaults, then that string, then the command line.
 * Also here: the schedule (lr of a step) and the optimizer step over a
 * model (optim.c). */
#ifndef NT_RECIPE_H
#define NT_RECIPE_H

#include "nt_base.h"
#include "nt_trainer.h"
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NT_RECIPE_MAX_LIST 16

typedef struct nt_reals {
    int n;
    double v[NT_RECIPE_MAX_LIST];
} nt_reals;

enum { NT_OPTIM_SGD, NT_OPTIM_ADAM, NT_OPTIM_ADAMW };
enum { NT_SCHED_CONSTANT, NT_SCHED_STEP, NT_SCHED_MULTISTEP, NT_SCHED_COSINE };

typedef struct nt_recipe {
    int optimizer, nesterov;
    nt_reals betas;
    double eps;
    int schedule, per_iteration, step_size;
    nt_reals milestones;
    double gamma;
    int t_max;
    double eta_min;
    int warmup;
    double warmup_start;
    double label_smoothing, clip_grad_norm;
    nt_reals mean, std;
    int crop_padding, flip;
} nt_recipe;

/* The kinds of recipe.def's rows. */
typedef enum nt_recipe_kind {
    NT_RECIPE_REAL, NT_RECIPE_INT, NT_RECIPE_BOOL, NT_RECIPE_ENUM, NT_RECIPE_REALS
} nt_recipe_kind;

typedef struct nt_recipe_row {
    const char *name;
    nt_recipe_kind kind;
    size_t field;            /* offsetof(nt_recipe, ...) */
    double lo, hi;
    int maxn;                /* REALS */
    const char *choices;     /* ENUM: words separated by spaces */
    const char *def;
    const char *help;
} nt_recipe_row;

extern const nt_recipe_row nt_recipe_rows[];
extern const int nt_recipe_nrows;

/* The row called name (underscores), or NULL. */
const nt_recipe_row *nt_recipe_find(const char *name);

/* Every row's default. */
void nt_recipe_defaults(nt_recipe *r);

/* Sets one setting from its command-line text ("0.9,0.999", "adam",
 * "true"); the message names `what` (e.g. "--betas"). */
int nt_recipe_set(nt_recipe *r, const nt_recipe_row *row, const char *value,
                  const char *what, nt_error *err);

/* Applies "name=value name=value ..." (a generated trainer's settings). */
int nt_recipe_apply(nt_recipe *r, const char *settings, nt_error *err);

/* Consistency with the net: mean and std have one value per input channel,
 * crop_padding needs image input, milestones are ascending integers,
 * nesterov needs SGD, betas are two. in_c, in_h, in_w are the net's input. */
int nt_recipe_check(const nt_recipe *r, int in_c, int in_h, int in_w,
                    double momentum, nt_error *err);

/* The value of row in r as the command line would write it. */
void nt_recipe_format(char *buf, size_t cap, const nt_recipe *r,
                      const nt_recipe_row *row);

/* "name=value ..." of every setting that differs from its default (for the
 * banner and the checkpoint's training metadata); "" if none. */
void nt_recipe_describe(char *buf, size_t cap, const nt_recipe *r);

/* Takes argv[*i] ("--name VALUE" or "--name=VALUE", dashes for the
 * underscores of the row's name) and its value, advancing *i; an unknown
 * name is "unknown option". */
int nt_recipe_option(nt_recipe *r, int argc, char **argv, int *i, nt_error *err);

/* The recipe section of a trainer's --help, values of r as defaults. */
void nt_recipe_print_help(FILE *f, const nt_recipe *r, int indent);

/* The optimizer step's configuration at learning rate lr. */
nt_optim_config nt_recipe_config(const nt_recipe *r, double lr, double momentum,
                                 double weight_decay);

/* The optimizer state checkpoints hold (NT_STATE_*). */
int nt_recipe_state(const nt_recipe *r, double momentum);

/* The lr of a step (torch.optim.lr_scheduler's closed forms, warm-up by
 * LinearLR chained multiplicatively): t is the epoch (0-based) or, with
 * per_iteration, the optimizer step; total is the run's length in the same
 * unit (cosine's default T_max). */
double nt_recipe_lr(const nt_recipe *r, double base_lr, long t, long total);

#ifdef __cplusplus
}
#endif

#endif
