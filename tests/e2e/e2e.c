/* e2e.c - see e2e.h. */
#include "e2e.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ring(const char *a, const char *b)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", a, b);
    return buf[k];
}

const char *e2e_work(const char *rel) { return ring(E2E_WORK_DIR, rel); }
const char *e2e_src(const char *rel) { return ring(NETC_SOURCE_DIR, rel); }

char *e2e_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap + 1);
    size_t got;
    while ((got = fread(s + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            s = realloc(s, (cap *= 2) + 1);
    }
    fclose(f);
    s[n] = 0;
    if (len)
        *len = n;
    return s;
}

e2e_run e2e_sh(const char *fmt, ...)
{
    char cmd[8192], full[8192 + 3 * 4096 + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    mkdir(E2E_WORK_DIR, 0755);
    char out[4096], err[4096];
    snprintf(out, sizeof out, "%s/.stdout.%d", E2E_WORK_DIR, (int)getpid());
    snprintf(err, sizeof err, "%s/.stderr.%d", E2E_WORK_DIR, (int)getpid());
    snprintf(full, sizeof full, "cd '%s' && { %s ; } >'%s' 2>'%s' </dev/null", E2E_WORK_DIR, cmd,
             out, err);
    int st = system(full);
    e2e_run r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = e2e_slurp(out, NULL);
    r.err = e2e_slurp(err, NULL);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    remove(out);
    remove(err);
    return r;
}

void e2e_free(e2e_run *r)
{
    free(r->out);
    free(r->err);
}

const char *e2e_build(const char *file, const char *netc_options, const char *bin)
{
    const char *path = e2e_work(bin);
    static char keep[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(keep[k], sizeof keep[k], "%s", path);
    e2e_run r = e2e_sh("'%s' build %s -o '%s' '%s/nets/%s'", NETC_EXE, netc_options, keep[k],
                       NETC_SOURCE_DIR, file);
    E2E_ASSERT_STATUS(r, 0);
    e2e_free(&r);
    return keep[k];
}

int e2e_parity_cases(parity_case *cases, int max)
{
    FILE *f = fopen(e2e_src("tests/e2e/parity/cases.txt"), "r");
    ck_assert_msg(f != NULL, "missing tests/e2e/parity/cases.txt");
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        parity_case *c = &cases[n];
        if (sscanf(line, "%63s %63s %255s %lf %lf %lf", c->name, c->net, c->defines, &c->lr,
                   &c->momentum, &c->wd) == 6)
            n++;
    }
    fclose(f);
    return n;
}

/* "size=67,ratio=8" -> "-D size=67 -D ratio=8" */
void e2e_netc_defines(const char *csv, char *out, size_t cap)
{
    out[0] = 0;
    if (strcmp(csv, "-") == 0)
        return;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", csv);
    for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
        strncat(out, " -D ", cap - strlen(out) - 1);
        strncat(out, t, cap - strlen(out) - 1);
    }
}

double e2e_log_last(const char *log, const char *key)
{
    const char *last = log, *p;
    while ((p = strchr(last, '\n')) && p[1])
        last = p + 1;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *v = strstr(last, pat);
    ck_assert_msg(v != NULL, "no %s in log line %s", key, last);
    return atof(v + strlen(pat));
}
