/* parse.h - reading .net files into syntax trees, following imports.
 *
 * parse.c runs the flex/bison front end on one source and resolves `import`
 * items into further files (each file once, cycles ignored). It does not
 * look inside blocks or nets: name resolution and everything after it
 * happens in expand.c.
 */
#ifndef PARSE_H
#define PARSE_H

#include "ast.h"

/* Every file of a program, the root first, then imports in the order they
 * were first reached. */
typedef struct program {
    ast_file *files;
    int nfiles, cap;
    const char *const *search_dirs;  /* -I directories, NULL-terminated */
} program;

/* Parses one source. Returns the file (possibly partial) and reports syntax
 * errors to d. */
ast_file *parse_source(arena *ar, diag *d, const nc_source *src);

/* Parses an expression (a -D value); NULL on a syntax error. */
ast_expr *parse_expr_string(arena *ar, diag *d, const char *name,
                            const char *text);

/* Loads path and everything it imports. Imports are looked up relative to
 * the importing file, then in each search directory. Returns 0 if every file
 * was read and parsed without error. */
int program_load(program *p, arena *ar, diag *d, const char *path,
                 const char *const *search_dirs);

/* The same for a root file given as text (tests); imports are resolved
 * relative to the directory part of name. */
int program_load_text(program *p, arena *ar, diag *d, const char *name,
                      const char *text, const char *const *search_dirs);

#endif
