/* history.c - the training curves of a run as text, kept in the checkpoint's
 * metadata ("history"), so that --resume --plot redraws the whole run and
 * not only the epochs after the resume:
 *
 *   train X,LOSS,ACC,LR X,LOSS,ACC,LR ...; test X,ACC X,ACC ...
 *
 * (numbers at full precision, "nan" where a value is missing). It does not
 * read or write files. */
#include "hardening.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *nt_history_format(const nt_curves *c)
{
    size_t cap = 32 + (size_t)c->n * 4 * 26 + (size_t)c->ntest * 2 * 26;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t len = (size_t)snprintf(s, cap, "train");
    for (int i = 0; i < c->n && len < cap; i++)
        len += (size_t)snprintf(s + len, cap - len, " %.17g,%.17g,%.17g,%.17g", c->x[i],
                                c->loss[i], c->acc[i], c->lr[i]);
    if (len < cap)
        len += (size_t)snprintf(s + len, cap - len, "; test");
    for (int i = 0; i < c->ntest && len < cap; i++)
        len += (size_t)snprintf(s + len, cap - len, " %.17g,%.17g", c->test_x[i],
                                c->test_acc[i]);
    return s;
}

/* Capacity for at least want points in each of the n arrays. */
static int reserve(double **const *arrays, int n, int *cap, int want)
{
    if (want <= *cap)
        return 0;
    int ncap = want > 2 * *cap ? want : 2 * *cap;
    for (int k = 0; k < n; k++) {
        double *grown = realloc(*arrays[k], (size_t)ncap * sizeof *grown);
        if (!grown)
            return -1; /* the arrays grown so far stay valid (and larger) */
        *arrays[k] = grown;
    }
    *cap = ncap;
    return 0;
}

/* Parses up to k comma-separated numbers at *p. */
static int numbers(const char **p, double *v, int k)
{
    for (int i = 0; i < k; i++) {
        char *end;
        v[i] = strtod(*p, &end);
        if (end == *p || (i + 1 < k && *end != ','))
            return -1;
        *p = end + (i + 1 < k);
    }
    return 0;
}

int nt_history_parse(nt_curves *c, const char *text, double upto)
{
    /* the curves were sized for the whole run; the history may hold more
     * points than planned (an earlier part run with other settings): keep
     * room for the plan after whatever the history adds */
    const int room = c->cap, test_room = c->test_cap;
    double **const train[] = {&c->x, &c->loss, &c->acc, &c->lr};
    double **const tests[] = {&c->test_x, &c->test_acc};
    const char *p = text;
    if (strncmp(p, "train", 5) != 0)
        return -1;
    p += 5;
    for (int test = 0; test < 2; test++) {
        if (test) {
            if (strncmp(p, "; test", 6) != 0)
                return -1;
            p += 6;
        }
        while (*p == ' ') {
            p++;
            double v[4];
            if (numbers(&p, v, test ? 2 : 4) != 0)
                return -1;
            if (v[0] > upto)
                continue;
            if (test ? reserve(tests, 2, &c->test_cap, c->ntest + 1)
                     : reserve(train, 4, &c->cap, c->n + 1))
                return -1;
            if (test) {
                nt_curves_add_test(c, v[0], v[1]);
            } else {
                nt_curves_add_train(c, v[0], v[1], v[2]);
                nt_curves_add_lr(c, v[3]);
            }
        }
    }
    if (*p || reserve(train, 4, &c->cap, c->n + room) != 0 ||
        reserve(tests, 2, &c->test_cap, c->ntest + test_room) != 0)
        return -1;
    return 0;
}

int nt_log_keep_epochs(const char *path, int upto, nt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0; /* nothing logged yet */
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = 2 * (len + got + 1);
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return nt_fail(err, "%s: out of memory", path);
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        return nt_fail(err, "%s: read error", path);
    }
    if (!text)
        return 0;
    text[len] = 0;
    /* keep the lines of epochs up to upto (and lines that name none) */
    size_t kept = 0;
    int dropped = 0;
    for (size_t at = 0; at < len;) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        char save = text[end - 1];
        text[end - 1] = 0; /* strstr within the line */
        const char *e = strstr(text + at, "\"epoch\": ");
        text[end - 1] = save;
        if (e && atol(e + 9) > upto) {
            dropped++;
        } else {
            memmove(text + kept, text + at, end - at);
            kept += end - at;
        }
        at = end;
    }
    int rc = dropped;
    if (dropped) {
        nt_atomic_file af;
        if (nt_atomic_open(&af, path, err) != 0)
            rc = -1;
        else if (fwrite(text, 1, kept, af.fp) != kept) {
            nt_atomic_abort(&af);
            rc = nt_fail(err, "%s: write failed", path);
        } else if (nt_atomic_commit(&af, err) != 0)
            rc = -1;
    }
    free(text);
    return rc;
}
