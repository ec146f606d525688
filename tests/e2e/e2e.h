/* e2e.h - helpers for the end-to-end suite: run netc and generated trainers
 * as a user would, capture their output and exit status. */
#ifndef E2E_H
#define E2E_H

#include <check.h>

typedef struct e2e_run {
    int status;          /* exit status, or 128 + signal */
    char *out, *err;     /* captured stdout and stderr */
} e2e_run;

/* Runs a shell command line from the e2e work directory (E2E_WORK_DIR). */
e2e_run e2e_sh(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void e2e_free(e2e_run *r);

/* Builds nets/<file> (with extra netc options) into E2E_WORK_DIR/<bin>, once
 * per test program; returns the binary's path. Fails the test on error. */
const char *e2e_build(const char *file, const char *netc_options, const char *bin);

/* Path under the work directory / the source tree (static buffers, 4 each). */
const char *e2e_work(const char *rel);
const char *e2e_src(const char *rel);

/* The number after "key": in the last line of a JSON-lines log (fails the
 * test if it is missing). */
double e2e_log_last(const char *log, const char *key);

/* Reads a whole file (NULL if it cannot); *len gets its size. */
char *e2e_slurp(const char *path, size_t *len);

/* One case of tests/e2e/parity/cases.txt: a seed network, the -D values
 * its fixtures were made with ("size=67,ratio=8" or "-"), and the SGD
 * settings of its training step. */
typedef struct parity_case {
    char name[64], net[64], defines[256];
    double lr, momentum, wd;
} parity_case;

/* Reads up to max cases; returns how many. */
int e2e_parity_cases(parity_case *cases, int max);
/* "size=67,ratio=8" -> " -D size=67 -D ratio=8" ("-" -> "") */
void e2e_netc_defines(const char *csv, char *out, size_t cap);

#define E2E_ASSERT_STATUS(r, want)                                            \
    ck_assert_msg((r).status == (want),                                       \
                  "exit status %d, want %d\nstdout:\n%.3000s\nstderr:\n%.3000s", \
                  (r).status, (want), (r).out, (r).err)

#define E2E_ASSERT_HAS(text, want)                                            \
    ck_assert_msg(strstr((text), (want)) != NULL, "missing \"%s\" in:\n%.3000s", \
                  (want), (text))

#endif
