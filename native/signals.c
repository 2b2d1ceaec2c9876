/*
 * Stray signals: a counting handler for signals whose default action would end
 * the process and that the runtime does not handle itself (SIGSTKFLT, the
 * real-time signals). A handler, not SIG_IGN: dispositions set to SIG_IGN
 * survive execve, and the scripts hb runs must see the default ones. Which
 * signals to guard is TypeScript's choice (src/daemon/signals.ts).
 */
#include "compat.h"
#include "hb.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#define HB_NSIG 65
static uint32_t counts[HB_NSIG];

static void on_stray(int sig) {
  if (sig > 0 && sig < HB_NSIG) __atomic_add_fetch(&counts[sig], 1, __ATOMIC_RELAXED);
}

HB_API int32_t hb_signal_guard(int32_t sig) {
  if (sig <= 0 || sig >= HB_NSIG || sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
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
