/* Starting this executable again, for options that are read only at start (JavaScriptCore's, which
 * come from the environment). Same process, same PID, same arguments; nothing else changes. */
#include "compat.h"
#include "hb.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMDLINE_MAX (128 * 1024)
#define ARGS_MAX 512

HB_API int32_t hb_reexec_with(const char *name, const char *value) {
  if (!name || !value || !*name || strchr(name, '=')) return -EINVAL;
  static char buf[CMDLINE_MAX];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : 0;
      close(fd);
      if (e) return -e;
      break;
    }
    n += (size_t)r;
    if (n >= sizeof buf - 1) {
      close(fd);
      return -E2BIG;
    }
  }
  buf[n] = 0;
  char *argv[ARGS_MAX + 1];
  int argc = 0;
  for (size_t i = 0; i < n && argc < ARGS_MAX; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
  if (argc == 0 || argc == ARGS_MAX) return -E2BIG;
  argv[argc] = NULL;
  if (setenv(name, value, 1) < 0) return -errno;
  execv("/proc/self/exe", argv);
  int e = errno; /* still here: it failed, and nothing changed but the variable, taken back */
  unsetenv(name);
  return -e;
}
