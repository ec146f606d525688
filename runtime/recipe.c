/* recipe.c - the training recipe's settings (the table of recipe.def):
 * defaults, parsing from the command line and from a generated trainer's
 * settings string, consistency checks, descriptions, and the learning-rate
 * schedule. It does not step an optimizer (optim.c) or touch data
 * (dataset.c). */
#include "nt_recipe.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define NT_PI 3.14159265358979323846

#define NT_RECIPE(name, kind, field, lo, hi, maxn, choices, def, help) \
    {#name, NT_RECIPE_##kind, offsetof(nt_recipe, field), lo, hi, maxn, choices, def, help},
const nt_recipe_row nt_recipe_rows[] = {
#include "recipe.def"
};
const int nt_recipe_nrows = (int)(sizeof nt_recipe_rows / sizeof *nt_recipe_rows);

const nt_recipe_row *nt_recipe_find(const char *name)
{
    for (int i = 0; i < nt_recipe_nrows; i++)
        if (strcmp(nt_recipe_rows[i].name, name) == 0)
            return &nt_recipe_rows[i];
    return NULL;
}

void nt_recipe_defaults(nt_recipe *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < nt_recipe_nrows; i++) {
        nt_error err;
        int rc = nt_recipe_set(r, &nt_recipe_rows[i], nt_recipe_rows[i].def,
                               nt_recipe_rows[i].name, &err);
        (void)rc; /* the defaults are valid: test_recipe checks */
    }
}

/* Index of word among the space-separated choices, or -1. */
static int choice_index(const char *choices, const char *word)
{
    size_t n = strlen(word);
    int k = 0;
    for (const char *p = choices; *p; k++) {
        size_t w = strcspn(p, " ");
        if (w == n && n > 0 && strncmp(p, word, n) == 0)
            return k;
        p += w;
        while (*p == ' ')
            p++;
    }
    return -1;
}

static int parse_real(const char *s, const char **end, double *x)
{
    char *e;
    errno = 0;
    *x = strtod(s, &e);
    *end = e;
    return e != s && errno != ERANGE && isfinite(*x) && s[0] != ' ' ? 0 : -1;
}

int nt_recipe_set(nt_recipe *r, const nt_recipe_row *row, const char *value,
                  const char *what, nt_error *err)
{
    void *field = (char *)r + row->field;
    const char *end;
    double x;
    switch (row->kind) {
    case NT_RECIPE_REAL:
        if (parse_real(value, &end, &x) != 0 || *end || x < row->lo || x > row->hi)
            return nt_fail(err, "%s needs a number from %g to %g, got '%s'", what,
                           row->lo, row->hi, value);
        *(double *)field = x;
        return 0;
    case NT_RECIPE_INT:
        if (parse_real(value, &end, &x) != 0 || *end || x != floor(x) ||
            x < row->lo || x > row->hi)
            return nt_fail(err, "%s needs an integer from %.0f to %.0f, got '%s'",
                           what, row->lo, row->hi, value);
        *(int *)field = (int)x;
        return 0;
    case NT_RECIPE_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(int *)field = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            *(int *)field = 0;
        else
            return nt_fail(err, "%s needs true or false, got '%s'", what, value);
        return 0;
    case NT_RECIPE_ENUM: {
        int k = choice_index(row->choices, value);
        if (k < 0)
            return nt_fail(err, "%s needs one of: %s; got '%s'", what, row->choices,
                           value);
        *(int *)field = k;
        return 0;
    }
    case NT_RECIPE_REALS: {
        nt_reals v = {0, {0}};
        const char *p = value;
        while (*p) {
            if (v.n == row->maxn || parse_real(p, &end, &x) != 0 || x < row->lo ||
                x > row->hi || (*end && *end != ','))
                return nt_fail(err, "%s needs %s%d number%s from %g to %g separated "
                               "by commas, got '%s'", what,
                               row->maxn == 2 ? "" : "1 to ", row->maxn,
                               row->maxn == 1 ? "" : "s", row->lo, row->hi, value);
            v.v[v.n++] = x;
            p = *end ? end + 1 : end;
        }
        if (row->maxn == 2 && v.n != 0 && v.n != 2)
            return nt_fail(err, "%s needs 2 numbers separated by a comma, got '%s'",
                           what, value);
        *(nt_reals *)field = v;
        return 0;
    }
    }
    return nt_fail(err, "%s: unknown kind of setting", what);
}

int nt_recipe_apply(nt_recipe *r, const char *settings, nt_error *err)
{
    const char *p = settings ? settings : "";
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        char item[512], *eq;
        if (w >= sizeof item || !(eq = memchr(p, '=', w)))
            return nt_fail(err, "malformed settings '%.*s'", (int)w, p);
        memcpy(item, p, w);
        item[w] = 0;
        item[eq - p] = 0;
        const nt_recipe_row *row = nt_recipe_find(item);
        if (!row)
            return nt_fail(err, "unknown setting '%s'", item);
        if (nt_recipe_set(r, row, item + (eq - p) + 1, row->name, err) != 0)
            return -1;
        p += w;
    }
    return 0;
}

int nt_recipe_check(const nt_recipe *r, int in_c, int in_h, int in_w,
                    double momentum, nt_error *err)
{
    const int image = !(in_h == 1 && in_w == 1);
    if (r->mean.n != r->std.n)
        return nt_fail(err, "normalisation needs mean and std together, with one value "
                       "per input channel (mean has %d, std %d)", r->mean.n, r->std.n);
    if (r->mean.n && r->mean.n != in_c)
        return nt_fail(err, "mean and std have %d value%s, but the net takes %d input "
                       "channel%s", r->mean.n, r->mean.n == 1 ? "" : "s", in_c,
                       in_c == 1 ? "" : "s");
    if (r->mean.n && !image)
        return nt_fail(err, "mean and std normalise image channels, but the net takes "
                       "a flat input of %d features", in_c);
    if ((r->crop_padding || r->flip) && !image)
        return nt_fail(err, "crop_padding and flip augment images, but the net takes a "
                       "flat input of %d features", in_c);
    for (int i = 0; i < r->milestones.n; i++)
        if (r->milestones.v[i] != floor(r->milestones.v[i]) ||
            (i > 0 && r->milestones.v[i] <= r->milestones.v[i - 1]))
            return nt_fail(err, "milestones must be increasing integers");
    if (r->schedule == NT_SCHED_MULTISTEP && r->milestones.n == 0)
        return nt_fail(err, "lr_schedule multistep needs milestones");
    if (r->nesterov && (r->optimizer != NT_OPTIM_SGD || momentum <= 0))
        return nt_fail(err, "nesterov needs optimizer sgd with a momentum above 0");
    if (r->betas.n != 2)
        return nt_fail(err, "betas needs 2 numbers");
    return 0;
}

void nt_recipe_format(char *buf, size_t cap, const nt_recipe *r,
                      const nt_recipe_row *row)
{
    const void *field = (const char *)r + row->field;
    buf[0] = 0;
    switch (row->kind) {
    case NT_RECIPE_REAL:
        snprintf(buf, cap, "%.9g", *(const double *)field);
        break;
    case NT_RECIPE_INT:
        snprintf(buf, cap, "%d", *(const int *)field);
        break;
    case NT_RECIPE_BOOL:
        snprintf(buf, cap, "%s", *(const int *)field ? "true" : "false");
        break;
    case NT_RECIPE_ENUM: {
        const char *p = row->choices;
        for (int k = *(const int *)field; k > 0 && *p; k--) {
            p += strcspn(p, " ");
            while (*p == ' ')
                p++;
        }
        snprintf(buf, cap, "%.*s", (int)strcspn(p, " "), p);
        break;
    }
    case NT_RECIPE_REALS: {
        const nt_reals *v = field;
        size_t len = 0;
        for (int i = 0; i < v->n && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%.9g", i ? "," : "",
                                    v->v[i]);
        break;
    }
    }
}

void nt_recipe_describe(char *buf, size_t cap, const nt_recipe *r)
{
    nt_recipe def;
    nt_recipe_defaults(&def);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < nt_recipe_nrows && len < cap; i++) {
        char a[400], b[400];
        nt_recipe_format(a, sizeof a, r, &nt_recipe_rows[i]);
        nt_recipe_format(b, sizeof b, &def, &nt_recipe_rows[i]);
        if (strcmp(a, b) != 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", len ? " " : "",
                                    nt_recipe_rows[i].name, a);
    }
}

double nt_recipe_lr(const nt_recipe *r, double base_lr, long t, long total)
{
    double lr = base_lr;
    switch (r->schedule) {
    case NT_SCHED_STEP:
        lr = base_lr * pow(r->gamma, (double)(t / r->step_size));
        break;
    case NT_SCHED_MULTISTEP: {
        int k = 0;
        while (k < r->milestones.n && r->milestones.v[k] <= (double)t)
            k++;
        lr = base_lr * pow(r->gamma, k);
        break;
    }
    case NT_SCHED_COSINE: {
        const double T = r->t_max > 0 ? r->t_max : (total > 0 ? (double)total : 1.0);
        lr = r->eta_min + (base_lr - r->eta_min) * (1.0 + cos(NT_PI * (double)t / T)) / 2.0;
        break;
    }
    default:
        break;
    }
    if (r->warmup > 0) {
        const double done = t < r->warmup ? (double)t : (double)r->warmup;
        lr *= r->warmup_start + (1.0 - r->warmup_start) * done / r->warmup;
    }
    return lr;
}

int nt_recipe_option(nt_recipe *r, int argc, char **argv, int *i, nt_error *err)
{
    const char *a = argv[*i];
    char name[64];
    size_t n = strcspn(a + 2, "=");
    if (n == 0 || n >= sizeof name)
        return nt_fail(err, "unknown option '%s'", a);
    for (size_t k = 0; k < n; k++)
        name[k] = a[2 + k] == '-' ? '_' : a[2 + k];
    name[n] = 0;
    const nt_recipe_row *row = nt_recipe_find(name);
    if (!row)
        return nt_fail(err, "unknown option '%s'", a);
    char what[80];
    snprintf(what, sizeof what, "--%.*s", (int)n, a + 2);
    const char *v;
    if (a[2 + n] == '=')
        v = a + 3 + n;
    else if (*i + 1 < argc)
        v = argv[++*i];
    else
        return nt_fail(err, "%s needs a value", what);
    return nt_recipe_set(r, row, v, what, err);
}

void nt_recipe_print_help(FILE *f, const nt_recipe *r, int indent)
{
    fprintf(f, "\nrecipe (also train(...) settings of the .net file; "
               "--name-with-dashes VALUE):\n");
    for (int i = 0; i < nt_recipe_nrows; i++) {
        const nt_recipe_row *row = &nt_recipe_rows[i];
        char head[80], def[400];
        int col = snprintf(head, sizeof head, "  --");
        for (const char *p = row->name; *p && col < 60; p++)
            head[col++] = *p == '_' ? '-' : *p;
        head[col] = 0;
        const char *meta = row->kind == NT_RECIPE_REALS ? " X,..." :
                           row->kind == NT_RECIPE_INT ? " N" :
                           row->kind == NT_RECIPE_REAL ? " X" :
                           row->kind == NT_RECIPE_BOOL ? " true|false" : " WORD";
        fprintf(f, "%s%s", head, meta);
        col += (int)strlen(meta);
        if (col >= indent) {
            fprintf(f, "\n%*s", indent, "");
        } else {
            fprintf(f, "%*s", indent - col, "");
        }
        nt_recipe_format(def, sizeof def, r, row);
        /* wrap the help at 79 columns */
        char text[1024];
        snprintf(text, sizeof text, "%s (default %s)", row->help, def[0] ? def : "none");
        int c = indent;
        for (const char *p = text; *p;) {
            while (*p == ' ')
                p++;
            size_t w = strcspn(p, " ");
            if (c > indent && c + 1 + (int)w > 79) {
                fprintf(f, "\n%*s", indent, "");
                c = indent;
            } else if (c > indent) {
                fputc(' ', f);
                c++;
            }
            fwrite(p, 1, w, f);
            c += (int)w;
            p += w;
        }
        fputc('\n', f);
    }
}

nt_optim_config nt_recipe_config(const nt_recipe *r, double lr, double momentum,
                                 double weight_decay)
{
    nt_optim_config c = nt_optim_sgd((float)lr, (float)momentum, (float)weight_decay);
    c.optimizer = r->optimizer;
    c.nesterov = r->nesterov;
    c.beta1 = r->betas.v[0];
    c.beta2 = r->betas.v[1];
    c.eps = (float)r->eps;
    c.label_smoothing = (float)r->label_smoothing;
    c.clip_grad_norm = (float)r->clip_grad_norm;
    return c;
}

int nt_recipe_state(const nt_recipe *r, double momentum)
{
    return r->optimizer != NT_OPTIM_SGD ? NT_STATE_ADAM
         : momentum != 0.0 ? NT_STATE_MOMENTUM : NT_STATE_NONE;
}
