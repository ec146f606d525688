/* diag.h - source files, source locations and diagnostics.
 *
 * Every AST and IR node carries an nc_loc. Passes report problems through a
 * diag collector and return failure; nothing in the compiler exits. The
 * driver prints the collected diagnostics gcc-style:
 *
 *   nets/x.net:12:5: error: unknown layer 'conv2' (did you mean 'conv'?)
 *      12 |     conv2(64, 3)
 *         |     ^~~~~
 */
#ifndef DIAG_H
#define DIAG_H

#include <stdarg.h>
#include <stdio.h>

#include "arena.h"

typedef struct nc_source {
    const char *name;      /* as given or as resolved from an import */
    const char *text;      /* NUL-terminated contents */
    size_t len;
} nc_source;

/* A span: first and last line/column, 1-based, inclusive. Also the bison
 * location type (YYLTYPE). */
typedef struct nc_loc {
    const nc_source *src;
    int first_line, first_column;
    int last_line, last_column;
} nc_loc;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } diag_kind;

typedef struct diag_entry {
    diag_kind kind;
    nc_loc loc;            /* src == NULL: no location (command-line values) */
    char *msg;
    unsigned long where;   /* errors: hash of the context's locations */
} diag_entry;

typedef struct diag {
    arena *ar;
    diag_entry *items;
    int n, cap;
    int nerrors;
    int max_errors;        /* stop collecting errors past this (0: 20) */
    /* context lines printed as notes after each error, innermost first
     * (e.g. "in block 'inception' called here"); set by the expander */
    const struct diag_context *ctx;
    int dropping;          /* the last error repeated an earlier one: drop its notes */
    int printed;           /* entries diag_print has written already */
} diag;

/* An error that repeats an earlier one (same message at the same place, in
 * the same calls, whatever the loop iteration) is reported once. */
typedef struct diag_context {
    const struct diag_context *up;
    nc_loc loc;
    const char *what;      /* "in block 'inception' called here", or NULL: */
    long iteration, count; /* "in iteration 3 of 4" of the loop at loc, */
    /* followed by detail(data) if set: "(channels = 64)", made only when
     * an error is reported */
    const char *(*detail)(arena *ar, const void *data);
    const void *data;
} diag_context;

void diag_init(diag *d, arena *ar);
void diag_error(diag *d, nc_loc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void diag_warning(diag *d, nc_loc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void diag_note(diag *d, nc_loc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void diag_verror(diag *d, diag_kind kind, nc_loc loc, const char *fmt,
                 va_list ap);
/* True once max_errors have been reported: passes stop early. */
int diag_full(const diag *d);

/* Prints the diagnostics not printed yet, each with its source line and a
 * caret span (a later call prints only what was added since). */
void diag_print(diag *d, FILE *out);

/* A location with no source (for values given on the command line). */
nc_loc loc_none(void);
/* The span from a to b (same source). */
nc_loc loc_join(nc_loc a, nc_loc b);

/* The closest of candidates to name by edit distance, or NULL if none is
 * close enough to suggest. */
const char *diag_suggest(const char *name, const char *const *candidates,
                         int n);

/* Reads a whole file into the arena; NULL (with errno set) on failure. */
nc_source *source_read(arena *ar, const char *path);
nc_source *source_from_string(arena *ar, const char *name, const char *text);

#endif
