/* diag.c - collecting and printing diagnostics; reading sources. */
#include "diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void diag_init(diag *d, arena *ar)
{
    memset(d, 0, sizeof *d);
    d->ar = ar;
    d->max_errors = 20;
}

int diag_full(const diag *d) { return d->nerrors >= d->max_errors; }

static void push(diag *d, diag_kind kind, nc_loc loc, char *msg)
{
    diag_entry e = {kind, loc, msg, 0};
    ARRAY_PUSH(d->ar, d->items, d->n, d->cap, e);
}

static unsigned long hash_loc(unsigned long h, const nc_loc *l)
{
    h = (h ^ (unsigned long)(size_t)l->src) * 1099511628211ul;
    h = (h ^ (unsigned long)l->first_line) * 1099511628211ul;
    return (h ^ (unsigned long)l->first_column) * 1099511628211ul;
}

/* Where an error happens: its location and its context's (loop iterations
 * left out, so every iteration's copy of an error looks the same). */
static unsigned long where(const diag *d, const nc_loc *loc)
{
    unsigned long h = hash_loc(14695981039346656037ul, loc);
    for (const diag_context *c = d->ctx; c; c = c->up)
        h = hash_loc(h, &c->loc);
    return h;
}

static int repeated(const diag *d, unsigned long w, const char *msg)
{
    for (int i = 0; i < d->n; i++)
        if (d->items[i].kind == DIAG_ERROR && d->items[i].where == w &&
            strcmp(d->items[i].msg, msg) == 0)
            return 1;
    return 0;
}

void diag_verror(diag *d, diag_kind kind, nc_loc loc, const char *fmt,
                 va_list ap)
{
    if (kind == DIAG_ERROR && diag_full(d))
        return;
    if (kind != DIAG_ERROR && d->dropping)
        return;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *msg = arena_alloc(d->ar, (size_t)n + 1);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    if (kind != DIAG_ERROR) {
        push(d, kind, loc, msg);
        return;
    }
    unsigned long w = where(d, &loc);
    d->dropping = repeated(d, w, msg);
    if (d->dropping)
        return;
    d->nerrors++;
    push(d, kind, loc, msg);
    d->items[d->n - 1].where = w;
    int depth = 0;
    for (const diag_context *c = d->ctx; c; c = c->up) {
        if (++depth > 8) {
            push(d, DIAG_NOTE, loc_none(), arena_strdup(d->ar, "(more calls omitted)"));
            break;
        }
        if (c->what)
            push(d, DIAG_NOTE, c->loc, arena_strdup(d->ar, c->what));
        else
            push(d, DIAG_NOTE, c->loc,
                 arena_printf(d->ar, "in iteration %ld of %ld%s%s", c->iteration, c->count,
                              c->detail ? " " : "", c->detail ? c->detail(d->ar, c->data) : ""));
    }
}

void diag_error(diag *d, nc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, DIAG_ERROR, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(diag *d, nc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, DIAG_WARNING, loc, fmt, ap);
    va_end(ap);
}

void diag_note(diag *d, nc_loc loc, const char *fmt, ...)
{
    if (d->n > 0 && diag_full(d) && d->items[d->n - 1].kind != DIAG_NOTE &&
        d->items[d->n - 1].kind != DIAG_ERROR)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, DIAG_NOTE, loc, fmt, ap);
    va_end(ap);
}

nc_loc loc_none(void)
{
    nc_loc l = {NULL, 0, 0, 0, 0};
    return l;
}

nc_loc loc_join(nc_loc a, nc_loc b)
{
    if (!a.src)
        return b;
    if (!b.src || a.src != b.src)
        return a;
    nc_loc l = a;
    l.last_line = b.last_line;
    l.last_column = b.last_column;
    return l;
}

/* Finds line `line` (1-based) of src; returns its start and length. */
static const char *find_line(const nc_source *src, int line, int *len)
{
    const char *p = src->text, *end = src->text + src->len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return NULL;
        p = nl + 1;
    }
    if (p > end)
        return NULL;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *len = (int)((nl ? nl : end) - p);
    return p;
}

#define EXCERPT_WIDTH 120 /* columns of a long line shown around the caret */

/* The source line and a caret under the span. A line longer than
 * EXCERPT_WIDTH shows the part around the span's start, cut with "...". */
static void print_excerpt(const nc_loc *loc, FILE *out)
{
    int len;
    const char *line = find_line(loc->src, loc->first_line, &len);
    if (!line)
        return;
    int first = loc->first_column < 1 ? 1 : loc->first_column;
    int last = loc->last_line == loc->first_line ? loc->last_column : len;
    if (last < first)
        last = first;
    if (last > len + 1)
        last = len + 1;
    if (first > len + 1)
        first = last = len + 1;
    int from = 1, to = len; /* shown columns */
    if (len > EXCERPT_WIDTH) {
        from = first - EXCERPT_WIDTH / 4;
        if (from < 1)
            from = 1;
        to = from + EXCERPT_WIDTH - 1;
        if (to > len)
            to = len;
    }
    if (last > to + 1)
        last = to + 1;
    const char *cut_l = from > 1 ? "..." : "", *cut_r = to < len ? "..." : "";
    char text[EXCERPT_WIDTH + 8], caret[EXCERPT_WIDTH + 8];
    int n = 0, m = 0;
    for (int c = from; c <= to; c++)
        text[n++] = line[c - 1] == '\t' ? ' ' : line[c - 1];
    text[n] = 0;
    for (int c = from; c < first; c++)
        caret[m++] = ' ';
    caret[m++] = '^';
    for (int c = first + 1; c <= last; c++)
        caret[m++] = '~';
    caret[m] = 0;
    fprintf(out, "%5d | %s%s%s\n      | %s%s\n", loc->first_line, cut_l, text, cut_r,
            cut_l[0] ? "   " : "", caret);
}

void diag_print(diag *d, FILE *out)
{
    static const char *const names[] = {"error", "warning", "note"};
    const int from = d->printed;
    d->printed = d->n;
    for (int i = from; i < d->n; i++) {
        const diag_entry *e = &d->items[i];
        if (e->loc.src)
            fprintf(out, "%s:%d:%d: ", e->loc.src->name, e->loc.first_line,
                    e->loc.first_column);
        else
            fputs("netc: ", out);
        fprintf(out, "%s: %s\n", names[e->kind], e->msg);
        if (e->loc.src)
            print_excerpt(&e->loc, out);
    }
    if (diag_full(d) && from < d->n)
        fprintf(out, "netc: too many errors; stopping after %d\n",
                d->max_errors);
}

/* Optimal string alignment distance: insertions, deletions, substitutions
 * and transpositions of neighbours each cost 1 ("widht" is 1 from "width"). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 1000;
    int d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *diag_suggest(const char *name, const char *const *candidates,
                         int n)
{
    const char *best = NULL;
    int best_d = 1000;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(name, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    /* close enough: at most a third of the name's length, at least 1 */
    int limit = (int)strlen(name) / 3;
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    if (best_d <= limit)
        return best;
    /* or an abbreviation: "padd" for "padding" */
    size_t len = strlen(name);
    for (int i = 0; i < n && len >= 3; i++)
        if (strncmp(candidates[i], name, len) == 0)
            return candidates[i];
    return NULL;
}

nc_source *source_from_string(arena *ar, const char *name, const char *text)
{
    nc_source *s = arena_alloc(ar, sizeof *s);
    s->name = arena_strdup(ar, name);
    s->len = strlen(text);
    s->text = arena_strndup(ar, text, s->len);
    return s;
}

nc_source *source_read(arena *ar, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    errno = 0;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    int err = 0;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            if (cap >= (64u << 20)) { /* a 64 MB .net file is not a .net file */
                err = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                err = ENOMEM;
            else
                buf = nb;
            if (err)
                break;
        }
    }
    if (!buf)
        err = ENOMEM;
    else if (!err && ferror(f))
        err = errno ? errno : EIO;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    nc_source *s = arena_alloc(ar, sizeof *s);
    s->name = arena_strdup(ar, path);
    s->text = arena_strndup(ar, buf, len);
    s->len = len;
    free(buf);
    return s;
}
