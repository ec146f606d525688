/* ctest.h - helpers for the compiler suites: run the front end on a string
 * or a file and look at the result as text. */
#ifndef CTEST_H
#define CTEST_H

#include <check.h>

#include "compile.h"

typedef struct ctest {
    compilation c;
    int rc;
    char *diags;      /* everything diag_print wrote, malloc'ed */
} ctest;

/* Compiles text as the file "test.net" (imports resolve relative to the
 * source tree's nets/ directory). defines: NULL-terminated "-D" values. */
void ctest_text(ctest *t, const char *text, const char *const *defines);
void ctest_file(ctest *t, const char *path, const char *const *defines);
void ctest_free(ctest *t);

/* "conv1 relu1 maxpool1 ..." of the graph's layers (input left out). */
char *ctest_paths(const ctest *t);
/* "conv2d:6x28x28 ..." */
char *ctest_shapes(const ctest *t);

/* Source tree path: NETC_SOURCE_DIR "/" rel (static buffer). */
const char *ctest_src(const char *rel);

/* Asserts the compile failed and that its diagnostics contain want. */
#define CTEST_ASSERT_ERROR(t, want)                                           \
    do {                                                                      \
        ck_assert_msg((t)->rc != 0, "expected an error containing \"%s\"",    \
                      (want));                                                \
        ck_assert_msg(strstr((t)->diags, (want)) != NULL,                     \
                      "diagnostics lack \"%s\"; got:\n%s", (want),            \
                      (t)->diags);                                            \
    } while (0)

#define CTEST_ASSERT_OK(t)                                                    \
    ck_assert_msg((t)->rc == 0, "expected success; got:\n%s", (t)->diags)

#endif
