/* Datagrams to a local Unix socket: see dgram.h. */
#include "compat.h"
#include "dgram.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

HB_API int32_t hb_dgram_open(void) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

HB_API int32_t hb_dgram_send(int32_t fd, const uint8_t *path, int32_t pathlen, const uint8_t *buf, int32_t len) {
  struct sockaddr_un sa;
  if (fd < 0 || !path || pathlen < 1 || (size_t)pathlen >= sizeof sa.sun_path || !buf || len < 0) return -EINVAL;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, (size_t)pathlen);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0'; /* abstract namespace: the length says where it ends */
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)pathlen + (sa.sun_path[0] ? 1 : 0));
  ssize_t n = sendto(fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
  return n < 0 ? -errno : (int32_t)n;
}

HB_API int32_t hb_dgram_close(int32_t fd) { return close(fd) < 0 ? -errno : 0; }
