/*
 * Root's whole-file writes: the directory is opened once (O_DIRECTORY | O_NOFOLLOW) and everything
 * else happens relative to that descriptor, so nothing can swap the directory or plant a link
 * between the steps: a fresh file under a random name (O_CREAT | O_EXCL | O_NOFOLLOW), its mode set
 * on its descriptor, written, optionally synced, then renamed over the target within the same
 * directory (a rename replaces a planted symlink, it never writes through it).
 */
#include "compat.h"
#include "hb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

HB_API int32_t hb_write_atomic(const char *dir, const char *name, const uint8_t *data, int32_t len, int32_t mode, int32_t sync) {
  if (!dir || !name || !*name || strchr(name, '/') || len < 0 || (len && !data) || strlen(name) > 200) return -EINVAL;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return -errno;
  char tmp[256];
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long r = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20) ^ (unsigned long)(uintptr_t)&ts;
  int rc = 0, fd = -1;
  for (int tries = 0; tries < 16; tries++, r = r * 6364136223846793005UL + 1442695040888963407UL) {
    snprintf(tmp, sizeof tmp, ".%s.%012lx.tmp", name, r & 0xffffffffffffUL);
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) { rc = -errno; goto out; }
  if (fchmod(fd, (mode_t)mode) < 0) rc = -errno;
  for (int32_t off = 0; !rc && off < len;) {
    ssize_t w = write(fd, data + off, (size_t)(len - off));
    if (w < 0) { if (errno != EINTR) rc = -errno; continue; }
    off += (int32_t)w;
  }
  if (!rc && sync && fsync(fd) < 0) rc = -errno;
  if (close(fd) < 0 && !rc) rc = -errno;
  if (!rc && renameat(dfd, tmp, dfd, name) < 0) rc = -errno;
  if (rc) unlinkat(dfd, tmp, 0);
out:
  close(dfd);
  return rc;
}
