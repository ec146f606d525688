/* signals.c - SIGINT and SIGTERM during training. The first one sets a flag
 * that the training loop polls between steps: the step (or the checkpoint
 * being written) completes, the driver says where it stopped and how to
 * resume, and exits 128 + the signal. A second one does not wait: it
 * removes the temporary file an atomic write has open (so nothing half-done
 * is left) and ends the process with the default action of the signal.
 * It does not handle SIGKILL (nothing can): an atomic write killed then
 * leaves its NAME.tmp-XXXXXX file, never a damaged NAME. A signal that was
 * ignored when the trainer started stays ignored. */
#include "hardening.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pending;
static volatile sig_atomic_t have_tmp;
static char tmp_path[4096];
static struct sigaction old_int, old_term;
static int caught;

static void on_signal(int sig)
{
    if (!pending) {
        pending = sig;
        static const char msg[] = "\nstopping after the current step (again to stop at once)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        return;
    }
    if (have_tmp)
        unlink(tmp_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void nt_signals_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    pending = 0;
    /* a signal the parent set to be ignored stays ignored (a shell does that
     * to SIGINT for background jobs, so Ctrl-C does not reach them) */
    sigaction(SIGINT, NULL, &old_int);
    sigaction(SIGTERM, NULL, &old_term);
    if (old_int.sa_handler != SIG_IGN)
        sigaction(SIGINT, &sa, NULL);
    if (old_term.sa_handler != SIG_IGN)
        sigaction(SIGTERM, &sa, NULL);
    caught = 1;
}

void nt_signals_release(void)
{
    if (!caught)
        return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    caught = 0;
    pending = 0;
}

int nt_signals_pending(void) { return pending; }

void nt_signals_tmp(const char *path)
{
    have_tmp = 0;
    if (path && strlen(path) < sizeof tmp_path) {
        memcpy(tmp_path, path, strlen(path) + 1);
        have_tmp = 1;
    }
}

const char *nt_signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}
