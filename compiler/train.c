/* train.c - the table of train(...) settings: names, kinds, ranges. The
 * trainer's core six (lr, epochs, batch_size, resize, momentum,
 * weight_decay) are stored in ir_train's fields; every other setting is a
 * row of runtime/recipe.def (shared with the trainer, which parses the same
 * text) and is appended to ir_train.settings as "name=value", the form the
 * trainer's command line takes. It does not evaluate expressions (expand.c)
 * or emit C (emit.c). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef enum { K_REAL, K_INT, K_BOOL, K_ENUM, K_REALS } kind;

typedef struct setting {
    const char *name;
    kind k;
    double lo, hi;
    int maxn;                /* K_REALS */
    const char *choices;     /* K_ENUM */
    int core;                /* 1..6: an ir_train field; 0: recipe.def */
} setting;

enum { CORE_LR = 1, CORE_EPOCHS, CORE_BATCH, CORE_RESIZE, CORE_MOMENTUM, CORE_WD };

#define NT_RECIPE(name, kind, field, lo, hi, maxn, choices, def, help) \
    {#name, K_##kind, lo, hi, maxn, choices, 0},
static const setting settings[] = {
    {"lr", K_REAL, 0, 1e6, 0, NULL, CORE_LR},
    {"epochs", K_INT, 0, 100000, 0, NULL, CORE_EPOCHS},
    {"batch_size", K_INT, 1, 65536, 0, NULL, CORE_BATCH},
    {"resize", K_INT, 1, 4096, 0, NULL, CORE_RESIZE},
    {"momentum", K_REAL, 0, 1, 0, NULL, CORE_MOMENTUM},
    {"weight_decay", K_REAL, 0, 1e12, 0, NULL, CORE_WD},
#include "recipe.def"
};
#define NSETTINGS ((int)(sizeof settings / sizeof *settings))

static const setting *find(const char *name)
{
    for (int i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

int train_setting_known(const char *name)
{
    return find(name) != NULL;
}

int train_setting_takes_word(const char *name)
{
    const setting *s = find(name);
    return s && s->k == K_ENUM;
}

static int is_choice(const char *choices, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && strncmp(p, w, n) == 0)
            return 1;
        p += len;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static void append(arena *ar, ir_train *t, const char *name, const char *value)
{
    t->settings = arena_printf(ar, "%s%s%s=%s", t->settings ? t->settings : "",
                               t->settings ? " " : "", name, value);
}

static int unknown(diag *d, const ast_arg *a)
{
    const char *names[NSETTINGS];
    size_t len = 0;
    char list[1024];
    list[0] = 0;
    for (int i = 0; i < NSETTINGS; i++) {
        names[i] = settings[i].name;
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                i == 0 ? "" : i == NSETTINGS - 1 ? " and " : ", ", names[i]);
    }
    const char *sug = diag_suggest(a->name, names, NSETTINGS);
    diag_error(d, a->name_loc, "train has no setting '%s'%s%s%s; the settings are %s", a->name,
               sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "", list);
    return -1;
}

/* One number of a setting within its range. */
static int number_ok(const setting *s, const value *v, double *f)
{
    if (v->kind == V_TUPLE)
        return 0;
    *f = v->kind == V_INT ? (double)v->i : v->f;
    if (s->k == K_INT && v->kind != V_INT)
        return 0;
    if (s->core == CORE_LR)
        return *f > 0 && *f <= s->hi;
    if (s->core == CORE_MOMENTUM)
        return *f >= 0 && *f < 1;
    return *f >= s->lo && *f <= s->hi;
}

static int range_error(diag *d, arena *ar, const setting *s, const ast_arg *a,
                       const value *v)
{
    const char *got = value_str(ar, v);
    if (s->core == CORE_LR)
        diag_error(d, a->value->loc, "train: lr must be positive, got %s", got);
    else if (s->core == CORE_MOMENTUM)
        diag_error(d, a->value->loc, "train: momentum must be in [0, 1), got %s", got);
    else if (s->core == CORE_WD)
        diag_error(d, a->value->loc, "train: weight_decay must be 0 or more, got %s", got);
    else if (s->k == K_INT)
        diag_error(d, a->value->loc, "train: %s must be an integer from %.0f to %.0f, got %s",
                   s->name, s->lo, s->hi, got);
    else if (s->k == K_BOOL)
        diag_error(d, a->value->loc, "train: %s must be true or false, got %s", s->name, got);
    else if (s->k == K_REALS)
        diag_error(d, a->value->loc, "train: %s must be %s%d number%s from %g to %g, got %s",
                   s->name, s->maxn == 2 ? "a tuple of " : "a number or a tuple of up to ",
                   s->maxn, s->maxn == 1 ? "" : "s", s->lo, s->hi, got);
    else
        diag_error(d, a->value->loc, "train: %s must be a number from %g to %g, got %s",
                   s->name, s->lo, s->hi, got);
    return -1;
}

int train_setting(diag *d, arena *ar, ir_train *t, const ast_arg *a,
                  const value *v, const char *word)
{
    const setting *s = find(a->name);
    if (!s)
        return unknown(d, a);
    if (s->k == K_ENUM) {
        if (!word || !is_choice(s->choices, word)) {
            diag_error(d, a->value->loc, "train: %s must be one of %s", s->name, s->choices);
            return -1;
        }
        append(ar, t, s->name, word);
        return 0;
    }
    double f;
    if (s->k == K_REALS) {
        const int n = v->kind == V_TUPLE ? v->n : 1;
        if (n < 1 || n > s->maxn || (s->maxn == 2 && n != 2))
            return range_error(d, ar, s, a, v);
        char buf[512];
        size_t len = 0;
        for (int i = 0; i < n; i++) {
            const value *it = v->kind == V_TUPLE ? &v->items[i] : v;
            if (!number_ok(s, it, &f))
                return range_error(d, ar, s, a, v);
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.15g", i ? "," : "", f);
        }
        append(ar, t, s->name, buf);
        return 0;
    }
    if (!number_ok(s, v, &f) || (s->k == K_BOOL && f != 0 && f != 1) ||
        (s->k == K_INT && f != floor(f)))
        return range_error(d, ar, s, a, v);
    switch (s->core) {
    case CORE_LR: t->lr = f, t->has_lr = 1; break;
    case CORE_EPOCHS: t->epochs = v->i, t->has_epochs = 1; break;
    case CORE_BATCH: t->batch_size = v->i, t->has_batch_size = 1; break;
    case CORE_RESIZE: t->resize = v->i, t->has_resize = 1; break;
    case CORE_MOMENTUM: t->momentum = f, t->has_momentum = 1; break;
    case CORE_WD: t->weight_decay = f, t->has_weight_decay = 1; break;
    default: {
        char buf[64];
        if (s->k == K_BOOL)
            snprintf(buf, sizeof buf, "%s", f != 0 ? "true" : "false");
        else
            snprintf(buf, sizeof buf, "%.15g", f);
        append(ar, t, s->name, buf);
    }
    }
    return 0;
}
