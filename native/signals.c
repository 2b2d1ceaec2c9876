/*
 * Stray signals: a counting handler for signals whose default action would end
 * the process and that the runtime does not handle itself (SIGSTKFLT, the
 * real-time signals). A handler, not SIG_IGN: dispositions set to SIG_IGN
 * survive execve, and the scripts hb runs must see the default ones. Which
 * signals to guard is TypeScript's choice (src/daemon/signals.ts). Each one
 * also bumps an eventfd, which the heartbeat engine watches for JavaScript
 * (hb_engine_wake_on): JS learns of a stray signal without polling for it.
 */
#include "compat.h"
#include "hb.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HB_NSIG 65
static uint32_t counts[HB_NSIG];
static int wake_fd = -1; /* set once, before any handler is installed */

static void on_stray(int sig) {
  if (sig > 0 && sig < HB_NSIG) __atomic_add_fetch(&counts[sig], 1, __ATOMIC_RELAXED);
  if (wake_fd >= 0) {
    int saved = errno; /* write(2) is async-signal-safe; errno is the interrupted code's */
    uint64_t one = 1;
    ssize_t r = write(wake_fd, &one, sizeof one);
    (void)r;
    errno = saved;
  }
}

/* The eventfd a stray signal bumps (made on first use), or -errno. */
HB_API int32_t hb_signal_wake_fd(void) {
  if (wake_fd < 0) wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return wake_fd < 0 ? -errno : wake_fd;
}

/* Empty the eventfd (JS has read the counts). */
HB_API int32_t hb_signal_wake_drain(void) {
  uint64_t n = 0;
  if (wake_fd < 0) return 0;
  return read(wake_fd, &n, sizeof n) == sizeof n ? 1 : 0;
}

HB_API int32_t hb_signal_guard(int32_t sig) {
  if (sig <= 0 || sig >= HB_NSIG || sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
  if (hb_signal_wake_fd() < 0) return -errno;
  struct sigaction old;
  if (sigaction(sig, NULL, &old) < 0) return -errno;
  if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) return 0; /* someone handles it already */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stray;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) < 0) return -errno;
  return 1;
}

HB_API int32_t hb_signal_count(int32_t sig) {
  if (sig <= 0 || sig >= HB_NSIG) return -EINVAL;
  return (int32_t)__atomic_load_n(&counts[sig], __ATOMIC_RELAXED);
}

/* SIGRTMIN and SIGRTMAX as this libc defines them (glibc keeps the first few for itself). */
HB_API int32_t hb_signal_rt_range(void) { return SIGRTMIN << 8 | SIGRTMAX; }
