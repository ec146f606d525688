/* build.c - see build.h. Where the runtime's header and library are is
 * decided at configure time (meson passes both the build-tree and the
 * installed locations); a netc running from the build tree uses the former.
 * The C compiler is $CC, or the one netc was built with. */
#include "build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Splits s at spaces into argv (words are appended; s is copied). */
static void split(char **argv, int *argc, int max, const char *s)
{
    char *copy = strdup(s);
    for (char *tok = strtok(copy, " "); tok && *argc < max - 1; tok = strtok(NULL, " "))
        argv[(*argc)++] = strdup(tok);
    free(copy);
}

/* Is this netc the one in the build tree? */
static int in_build_tree(void)
{
    char self[PATH_MAX], dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 0;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    if (!realpath(NETC_BUILD_EXE_DIR, dir))
        return 0;
    return strcmp(self, dir) == 0;
}

static int run_cc(char **argv, int argc, const char *what, int verbose);

/* $CC, or the compiler netc was built with */
static const char *c_compiler(void)
{
    const char *cc = getenv("CC");
    return cc && *cc ? cc : NETC_CC;
}

int build_trainer(const char *c_path, const char *out_path, int verbose, int mpi)
{
    int build_tree = in_build_tree();
    const char *inc = build_tree ? NETC_BUILD_RUNTIME_INC : NETC_INSTALL_RUNTIME_INC;
    const char *lib = build_tree ? NETC_BUILD_RUNTIME_LIB : NETC_INSTALL_RUNTIME_LIB;
    const char *mpi_libs = "";
    if (mpi) {
#ifdef NETC_MPI_LIBS
        lib = build_tree ? NETC_BUILD_RUNTIME_MPI_LIB : NETC_INSTALL_RUNTIME_MPI_LIB;
        mpi_libs = NETC_MPI_LIBS;
#else
        fprintf(stderr, "netc: --mpi: this netc was built without MPI (install Open MPI, "
                "Debian's libopenmpi-dev and openmpi-bin, and configure netc again)\n");
        return -1;
#endif
    }
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "netc: cannot find the runtime library %s: %s\n", lib, strerror(errno));
        return -1;
    }
    char *argv[128];
    int argc = 0;
    split(argv, &argc, 128, c_compiler());
    char incflag[PATH_MAX + 3];
    snprintf(incflag, sizeof incflag, "-I%s", inc);
    const char *flags[] = {"-std=c11", "-O2", "-Wall", "-Wextra", "-pedantic", "-fopenmp",
                           "-D_XOPEN_SOURCE=700", incflag, "-o", out_path, c_path, lib};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        argv[argc++] = strdup(flags[i]);
    split(argv, &argc, 128, NETC_DEP_LIBS);
    split(argv, &argc, 128, mpi_libs);
    argv[argc] = NULL;
    return run_cc(argv, argc, c_path, verbose);
}

int build_inference(const char *const *c_files, int nfiles, const char *out_path, int verbose)
{
    char *argv[128];
    int argc = 0;
    split(argv, &argc, 128, c_compiler());
    const char *flags[] = {"-std=c11", "-O3", "-Wall", "-Wextra", "-pedantic", "-o", out_path};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        argv[argc++] = strdup(flags[i]);
    for (int i = 0; i < nfiles && argc < 120; i++)
        argv[argc++] = strdup(c_files[i]);
    split(argv, &argc, 128, NETC_ZLIB_LIBS " -lm");
    argv[argc] = NULL;
    return run_cc(argv, argc, c_files[0], verbose);
}

/* Runs the compiler argv (freed here); what: the file named if it fails. */
static int run_cc(char **argv, int argc, const char *what, int verbose)
{
    if (verbose) {
        for (int i = 0; i < argc; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
        fputc('\n', stderr);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "netc: cannot start the C compiler: %s\n", strerror(errno));
        for (int i = 0; i < argc; i++)
            free(argv[i]);
        return -1;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "netc: cannot run the C compiler '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "netc: the C compiler failed on %s (kept for inspection)\n", what);
        return -1;
    }
    return 0;
}
