/* Receiving from rtnetlink: see nl.h. */
#include "compat.h"
#include "nl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int hb_nl_recv(int fd, void *buf, size_t cap, int flags) {
  struct sockaddr_nl from;
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(&from, 0, sizeof from);
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n = recvmsg(fd, &msg, flags);
  if (n < 0) return -errno;
  if (msg.msg_flags & MSG_TRUNC) return -EMSGSIZE;
  if (msg.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) return 0; /* not the kernel */
  return (int)n;
}
