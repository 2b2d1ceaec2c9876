/* Carrier of the watched interfaces, from rtnetlink link messages. */
#include "engine_int.h"


/* Ask for every link's state: the answers arrive as RTM_NEWLINK, like the events. */
static int link_dump(int fd) {
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.i.ifi_family = AF_UNSPEC;
  return send(fd, &req, sizeof req, 0) < 0 ? -errno : 0;
}

void netlink_read(hb_engine *e) {
  _Alignas(struct nlmsghdr) uint8_t buf[16384];
  for (int i = 0; i < 16; i++) {
    int n = hb_nl_recv(e->nlfd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == -ENOBUFS || n == -EMSGSIZE) { (void)link_dump(e->nlfd); continue; } /* events lost: read the state again */
    if (n < 0) return;
    hb_engine_netlink(e, buf, n);
  }
}

void hb_engine_netlink(hb_engine *e, const uint8_t *buf, int n) {
  for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type != RTM_NEWLINK || !hb_nl_fits(h, sizeof(struct ifinfomsg))) continue;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    int carrier = (ifi->ifi_flags & IFF_LOWER_UP) && (ifi->ifi_flags & IFF_UP) ? 1 : 0;
    for (int l = 0; l < e->nlinks; l++) {
      link_t *lk = &e->links[l];
      if (lk->kind == HB_LINK_SERIAL || lk->ifindex != ifi->ifi_index || lk->carrier == carrier) continue;
      lk->carrier = carrier;
      emit(e, HB_EV_CARRIER, -1, l, carrier, hb_monotonic_ns(), 0, 0, NULL, 0);
    }
    for (int w = 0; w < e->nwatch; w++) {
      watch_t *wt = &e->watches[w];
      if (wt->ifindex != ifi->ifi_index || wt->carrier == carrier) continue;
      wt->carrier = carrier;
      emit(e, HB_EV_IFACE, -1, -1, carrier, hb_monotonic_ns(), 0, w, NULL, 0);
    }
  }
}

int netlink_open(hb_engine *e) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int err = errno; close(fd); return -err; }
  int rc = link_dump(fd);
  if (rc < 0) { close(fd); return rc; }
  e->nlfd = fd;
  return 0;
}
