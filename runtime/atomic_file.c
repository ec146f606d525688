/* atomic_file.c - write-then-rename files: the data goes to a temporary file
 * created with mkstemp next to the destination, which is flushed, fsync'ed,
 * closed and renamed over the destination only when everything succeeded.
 * Any failure removes the temporary file, so the destination is either the
 * old file or the complete new one. It does not fsync the directory after the
 * rename (a crash right after it may lose the new name, never the content of
 * an old one).
 *
 * A destination that is a symbolic link to a regular file is written through
 * (the target is replaced, the link stays, as cp does); one that exists and
 * is not a regular file (a device, a directory) is refused rather than
 * replaced. While a temporary file exists, signals.c knows its name, so a
 * second Ctrl-C that ends the process at once removes it. */
#include "nt_io.h"
#include "hardening.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(nt_atomic_file *f)
{
    nt_signals_tmp(NULL);
    free(f->tmp_path);
    free(f->path);
    f->fp = NULL;
    f->tmp_path = NULL;
    f->path = NULL;
}

/* The mode a plain fopen(path, "w") would have given: 0666 minus the umask
 * (mkstemp creates files 0600). */
static mode_t default_mode(void)
{
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int nt_atomic_open(nt_atomic_file *f, const char *path, nt_error *err)
{
    static const char suffix[] = ".tmp-XXXXXX";
    f->fp = NULL;
    f->tmp_path = NULL;
    f->path = NULL;
    if (strlen(path) == 0)
        return nt_fail(err, "cannot write a file with an empty name");
    if (!(f->path = nt_output_target(path, err)))
        return -1;
    size_t len = strlen(f->path);
    f->tmp_path = malloc(len + sizeof suffix);
    if (!f->tmp_path) {
        release(f);
        return nt_fail(err, "%s: out of memory", path);
    }
    memcpy(f->tmp_path, f->path, len);
    memcpy(f->tmp_path + len, suffix, sizeof suffix);

    int fd = mkstemp(f->tmp_path);
    if (fd >= 0)
        nt_signals_tmp(f->tmp_path);
    if (fd < 0) {
        int e = errno;
        release(f);
        return nt_fail(err, "%s: cannot create a temporary file next to it: %s",
                       path, strerror(e));
    }
    FILE *fp = NULL;
    if (fchmod(fd, default_mode()) != 0 || !(fp = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        remove(f->tmp_path);
        release(f);
        return nt_fail(err, "%s: cannot open a temporary file: %s", path,
                       strerror(e));
    }
    f->fp = fp;
    return 0;
}

int nt_atomic_commit(nt_atomic_file *f, nt_error *err)
{
    FILE *fp = f->fp;
    const char *what = NULL;
    int e = 0;
    if (!fp)
        return nt_fail(err, "commit of a file that is not open");
    if (ferror(fp)) {
        what = "an earlier write";
    } else if (fflush(fp) != 0) {
        what = "write";
        e = errno;
    } else if (fsync(fileno(fp)) != 0) {
        what = "fsync";
        e = errno;
    }
    if (fclose(fp) != 0 && !what) {
        what = "close";
        e = errno;
    }
    f->fp = NULL;
    if (!what && rename(f->tmp_path, f->path) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        remove(f->tmp_path);
        nt_fail(err, "%s: %s failed%s%s", f->path, what, e ? ": " : "",
                e ? strerror(e) : "");
        release(f);
        return -1;
    }
    release(f);
    return 0;
}

void nt_atomic_abort(nt_atomic_file *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp_path)
        remove(f->tmp_path);
    release(f);
}
