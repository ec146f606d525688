/* parse.c - see parse.h. */
#include "parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parser.h"
#include "lexer.h"

static void *run(arena *ar, diag *d, const nc_source *src, int start,
                 parse_ctx *ctx)
{
    struct lex_extra extra = {src, d, ar, 1, 1, start, 0, 0};
    yyscan_t scanner;
    if (netc_yylex_init_extra(&extra, &scanner) != 0) {
        diag_error(d, loc_none(), "cannot start the lexer: %s", strerror(errno));
        return NULL;
    }
    YY_BUFFER_STATE buf = netc_yy_scan_bytes(src->text, (int)src->len, scanner);
    memset(ctx, 0, sizeof *ctx);
    ctx->ar = ar;
    ctx->diag = d;
    ctx->scanner = scanner;
    ctx->lex = &extra;
    netc_yyparse(scanner, ctx);
    netc_yy_delete_buffer(buf, scanner);
    netc_yylex_destroy(scanner);
    return ctx;
}

ast_file *parse_source(arena *ar, diag *d, const nc_source *src)
{
    parse_ctx ctx;
    ast_file *f = arena_alloc(ar, sizeof *f);
    f->src = src;
    if (src->len > INT_MAX / 2) {
        diag_error(d, loc_none(), "%s: file too large", src->name);
        return f;
    }
    if (run(ar, d, src, START_FILE, &ctx))
        f->items = ctx.items;
    return f;
}

ast_expr *parse_expr_string(arena *ar, diag *d, const char *name,
                            const char *text)
{
    parse_ctx ctx;
    nc_source *src = source_from_string(ar, name, text);
    int before = d->nerrors;
    if (!run(ar, d, src, START_EXPR, &ctx) || d->nerrors != before)
        return NULL;
    return ctx.expr;
}

/* ---- imports -------------------------------------------------------------- */

static char *dir_of(arena *ar, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return arena_strdup(ar, ".");
    return arena_strndup(ar, path, (size_t)(slash - path) + (slash == path));
}

/* path without "." segments and "dir/.." pairs, for messages:
 * "./../nets/lib/resnet.net" -> "../nets/lib/resnet.net",
 * "tests/bad/../../nets/x.net" -> "nets/x.net". Lexical: files are still
 * opened by the path as written. */
static char *normalise(arena *ar, const char *path)
{
    size_t n = strlen(path);
    char *out = arena_alloc(ar, n + 2);
    size_t len = 0;
    int abs = path[0] == '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t seg = end ? (size_t)(end - p) : strlen(p);
        if (seg == 0)
            break;
        if (seg == 1 && p[0] == '.') {
            /* skip */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.' && len > 0 &&
                   !(len >= 2 && strncmp(out + len - 2, "..", 2) == 0 &&
                     (len == 2 || out[len - 3] == '/'))) {
            while (len > 0 && out[len - 1] != '/')
                len--;              /* drop the last segment ... */
            if (len > 0)
                len--;              /* ... and its slash */
        } else if (!(seg == 2 && p[0] == '.' && p[1] == '.' && len == 0 && abs)) {
            if (len > 0 || abs)
                out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p += seg;
    }
    if (len == 0)
        out[len++] = abs ? '/' : '.';
    out[len] = 0;
    return out;
}

/* Where `import "name"` in the file at `from_path` points: next to that file,
 * else in the first search directory that has it. */
static char *resolve_import(const program *p, arena *ar, const char *from_path,
                            const char *name)
{
    if (name[0] == '/')
        return arena_strdup(ar, name);
    char *local = arena_printf(ar, "%s/%s", dir_of(ar, from_path), name);
    if (access(local, R_OK) == 0)
        return local;
    for (const char *const *s = p->search_dirs; s && *s; s++) {
        char *cand = arena_printf(ar, "%s/%s", *s, name);
        if (access(cand, R_OK) == 0)
            return cand;
    }
    return local;
}

static int load_imports(program *p, arena *ar, diag *d, const ast_file *f,
                        const char *path, int depth);

/* Parses src (already read from `path`) as file `key` and loads its
 * imports (relative to path). */
static int load_source(program *p, arena *ar, diag *d, nc_source *src,
                       const char *path, const char *key, int depth)
{
    int before = d->nerrors;
    ast_file *f = parse_source(ar, d, src);
    f->real_path = key;
    ARRAY_PUSH(ar, p->files, p->nfiles, p->cap, *f);
    int rc = d->nerrors == before ? 0 : -1;
    if (load_imports(p, ar, d, f, path, depth) != 0)
        rc = -1;
    return rc;
}

/* Loads one file unless it is already loaded (files are keyed by their real
 * path), then its imports. `written` is the name as the import wrote it. */
static int load(program *p, arena *ar, diag *d, const char *path,
                const char *written, nc_loc from, int depth)
{
    if (depth > 64) {
        diag_error(d, from, "imports nested more than 64 deep");
        return -1;
    }
    char *real = realpath(path, NULL);
    if (!real) {
        if (from.src)
            diag_error(d, from, "cannot import '%s' (looked for %s): %s", written,
                       normalise(ar, path), strerror(errno));
        else
            diag_error(d, from, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    char *key = arena_strdup(ar, real);
    free(real);
    for (int i = 0; i < p->nfiles; i++)
        if (strcmp(p->files[i].real_path, key) == 0)
            return 0;
    nc_source *src = source_read(ar, path);
    if (!src) {
        diag_error(d, from, "cannot %s '%s': %s", from.src ? "import" : "read",
                   from.src ? written : path, strerror(errno));
        return -1;
    }
    if (from.src) /* an import: its messages show a tidy path */
        src->name = normalise(ar, path);
    return load_source(p, ar, d, src, path, key, depth);
}

static int load_imports(program *p, arena *ar, diag *d, const ast_file *f,
                        const char *path, int depth)
{
    int rc = 0;
    for (ast_item *it = f->items; it; it = it->next)
        if (it->kind == I_IMPORT &&
            load(p, ar, d, resolve_import(p, ar, path, it->name), it->name,
                 it->loc, depth + 1) != 0)
            rc = -1;
    return rc;
}

int program_load(program *p, arena *ar, diag *d, const char *path,
                 const char *const *search_dirs)
{
    memset(p, 0, sizeof *p);
    p->search_dirs = search_dirs;
    return load(p, ar, d, path, path, loc_none(), 0);
}

int program_load_text(program *p, arena *ar, diag *d, const char *name,
                      const char *text, const char *const *search_dirs)
{
    memset(p, 0, sizeof *p);
    p->search_dirs = search_dirs;
    nc_source *src = source_from_string(ar, name, text);
    return load_source(p, ar, d, src, name, arena_printf(ar, "<text>%s", name), 0);
}
