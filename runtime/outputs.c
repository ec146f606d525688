/* outputs.c - the files a trainer writes must not destroy others: before
 * anything is read or written, the driver hands every path of its command
 * line to nt_outputs_check, which refuses outputs that are devices,
 * directories or FIFOs (an atomic write would replace /dev/null with a
 * regular file when run as root), symbolic links to nothing, and outputs that
 * are the same file as another output or as an input. Symbolic links to
 * regular files are written through: the link stays and its target gets the
 * new content, as cp does (nt_output_target gives the path the atomic writer
 * renames onto). It does not guard against files changed by another process
 * between the check and the write. */
#include "hardening.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SELF "/proc/self/exe" /* the running program (Linux) */

static const char *kind_of(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

char *nt_output_target(const char *path, nt_error *err)
{
    struct stat ls, st;
    if (lstat(path, &ls) != 0) /* a new file (or a directory we cannot see) */
        return strdup(path);
    if (S_ISLNK(ls.st_mode)) {
        if (stat(path, &st) != 0) {
            nt_fail(err, "%s: a symbolic link to a missing file; not writing through it",
                    path);
            return NULL;
        }
        if (!S_ISREG(st.st_mode)) {
            nt_fail(err, "%s: a symbolic link to %s; outputs are regular files", path,
                    kind_of(st.st_mode));
            return NULL;
        }
        char *target = realpath(path, NULL);
        if (!target)
            nt_fail(err, "%s: cannot resolve the symbolic link: %s", path, strerror(errno));
        return target;
    }
    if (!S_ISREG(ls.st_mode)) {
        nt_fail(err, "%s is %s; outputs are regular files (give a file name)", path,
                kind_of(ls.st_mode));
        return NULL;
    }
    return strdup(path);
}

/* What a path names: an existing file's device and inode, or, for a file
 * that does not exist yet, its resolved directory and name. */
typedef struct file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    char *where;       /* !exists: "/resolved/dir/name" (malloc'ed) */
} file_id;

static void identify(const char *path, file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof *id);
    if (stat(path, &st) == 0) {
        id->exists = 1;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        return;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    char *real = dir ? realpath(dir, NULL) : NULL;
    size_t len = (real ? strlen(real) : strlen(path)) + strlen(name) + 2;
    id->where = malloc(len);
    if (id->where) {
        if (real)
            snprintf(id->where, len, "%s/%s", real, name);
        else
            snprintf(id->where, len, "%s", path);
    }
    free(real);
    free(dir);
}

static int same_file(const file_id *a, const file_id *b)
{
    if (a->exists != b->exists)
        return 0;
    if (a->exists)
        return a->dev == b->dev && a->ino == b->ino;
    return a->where && b->where && strcmp(a->where, b->where) == 0;
}

/* The outputs of args[0..n) against each other and the inputs. */
static int check_pairs(const nt_path_arg *args, int n, nt_error *err)
{
    for (int i = 0; i < n; i++) {
        if (!args[i].output)
            continue;
        char *target = nt_output_target(args[i].path, err);
        if (!target) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return nt_fail(err, "%s %s", args[i].option, msg);
        }
        free(target);
    }
    file_id *ids = calloc(n > 0 ? (size_t)n : 1, sizeof *ids);
    if (!ids)
        return nt_fail(err, "out of memory");
    for (int i = 0; i < n; i++)
        identify(args[i].path, &ids[i]);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!args[i].output)
            continue;
        for (int j = 0; j < n && rc == 0; j++) {
            if (j == i || !same_file(&ids[i], &ids[j]))
                continue;
            const nt_path_arg *o = &args[i], *x = &args[j];
            if (x->output && j < i)
                rc = nt_fail(err, "%s %s and %s %s are the same file; each output needs "
                             "its own", x->option, x->path, o->option, o->path);
            else if (!x->output && !(o->group && o->group == x->group) &&
                     strcmp(x->path, SELF) == 0)
                rc = nt_fail(err, "%s %s would overwrite %s; write the output elsewhere",
                             o->option, o->path, x->option);
            else if (!x->output && !(o->group && o->group == x->group))
                rc = nt_fail(err, "%s %s would overwrite %s (%s); write the output "
                             "elsewhere", o->option, o->path, x->option, x->path);
        }
    }
    for (int i = 0; i < n; i++)
        free(ids[i].where);
    free(ids);
    return rc;
}

int nt_outputs_check(const nt_path_arg *given, int ngiven, const char *data_dir,
                     nt_error *err)
{
    static const char *const data_files[] = {
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
    };
    enum { NDATA = 2 * sizeof data_files / sizeof *data_files };
    char paths[NDATA][4200];
    nt_path_arg *args = calloc((size_t)ngiven + NDATA + 1, sizeof *args);
    if (!args)
        return nt_fail(err, "out of memory");
    int n = 0;
    for (int i = 0; i < ngiven; i++)
        if (given[i].path)
            args[n++] = given[i];
    for (int i = 0; data_dir && i < NDATA; i++) {
        struct stat st;
        snprintf(paths[i], sizeof paths[i], "%s/%s%s", data_dir, data_files[i / 2],
                 i % 2 ? ".gz" : "");
        if (stat(paths[i], &st) == 0)
            args[n++] = (nt_path_arg){"the training data", paths[i], 0, 0};
    }
    args[n++] = (nt_path_arg){"the trainer itself", SELF, 0, 0};
    int rc = check_pairs(args, n, err);
    free(args);
    return rc;
}
