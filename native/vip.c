/* Floating addresses: rtnetlink, gratuitous ARP / unsolicited NA, conflict probes. See vip.h. */
#include "vip.h"
#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IFA_F_NODAD
#define IFA_F_NODAD 0x02
#endif
#ifndef IFA_FLAGS
#define IFA_FLAGS 8
#endif

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------- rtnetlink ---------- */

/* A request: header, ifaddrmsg, attributes, in one aligned buffer. */
typedef struct {
  _Alignas(struct nlmsghdr) char buf[512];
} addr_req;
#define REQ_N(r) ((struct nlmsghdr *)(void *)(r)->buf)
#define REQ_IFA(r) ((struct ifaddrmsg *)NLMSG_DATA(REQ_N(r)))

static int add_attr(struct nlmsghdr *n, size_t cap, int type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(n->nlmsg_len);
  size_t rl = RTA_LENGTH(len);
  if (at + RTA_ALIGN(rl) > cap) return -ENOBUFS;
  struct rtattr *rta = (struct rtattr *)((char *)n + at);
  rta->rta_type = (unsigned short)type;
  rta->rta_len = (unsigned short)rl;
  if (len) memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = (uint32_t)(at + RTA_ALIGN(rl));
  return 0;
}

int hb_nl_ack(const void *buf, int len, uint32_t seq, int *rc) {
  for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
    if (h->nlmsg_type == NLMSG_ERROR && hb_nl_fits(h, sizeof(struct nlmsgerr)) && h->nlmsg_seq == seq) {
      *rc = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
      return 1;
    }
  return 0;
}

/* Send one request and wait for its acknowledgement: 0 or -errno from the kernel. */
static int nl_request(struct nlmsghdr *n) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  n->nlmsg_flags |= NLM_F_ACK;
  n->nlmsg_seq = (uint32_t)mono_ms();
  int rc = -EIO;
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    rc = -errno;
  } else {
    _Alignas(struct nlmsghdr) char buf[4096];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    rc = -ETIMEDOUT;
    for (int rounds = 0; rc == -ETIMEDOUT && rounds < 16; rounds++) {
      if (poll(&p, 1, 2000) != 1) break;
      int len = hb_nl_recv(fd, buf, sizeof buf, 0);
      if (len < 0) { rc = len; break; }
      int ack;
      if (hb_nl_ack(buf, len, n->nlmsg_seq, &ack)) rc = ack; /* 0 = ack, else -errno */
    }
  }
  close(fd);
  return rc;
}

static int addr_len(int family) { return family == 4 ? 4 : family == 6 ? 16 : -1; }

static int fill_addr(addr_req *r, int type, int flags, int family, int ifindex, const uint8_t *addr, int prefix) {
  int alen = addr_len(family);
  memset(r, 0, sizeof *r);
  struct nlmsghdr *n = REQ_N(r);
  struct ifaddrmsg *ifa = REQ_IFA(r);
  n->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  n->nlmsg_type = (uint16_t)type;
  n->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
  ifa->ifa_family = family == 4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = (uint8_t)prefix;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (uint32_t)ifindex;
  if (add_attr(n, sizeof r->buf, IFA_LOCAL, addr, (size_t)alen) < 0) return -ENOBUFS;
  return add_attr(n, sizeof r->buf, IFA_ADDRESS, addr, (size_t)alen);
}

HB_API int32_t hb_addr_add(int32_t family, const char *ifname, const uint8_t *addr, int32_t prefix, const char *label,
                           int32_t lifetime_s, int32_t replace) {
  int alen = addr_len(family);
  if (alen < 0 || !ifname || !addr || prefix < 1 || prefix > alen * 8 || lifetime_s < 0) return -EINVAL;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  addr_req r;
  int rc = fill_addr(&r, RTM_NEWADDR, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), family, ifindex, addr, prefix);
  if (rc < 0) return rc;
  if (family == 4) {
    if (prefix <= 30) {
      uint32_t a, mask = prefix == 0 ? 0 : htonl(~((1u << (32 - prefix)) - 1));
      memcpy(&a, addr, 4);
      uint32_t brd = a | ~mask;
      if ((rc = add_attr(REQ_N(&r), sizeof r.buf, IFA_BROADCAST, &brd, 4)) < 0) return rc;
    }
    if (label && *label) {
      if (strlen(label) >= IFNAMSIZ) return -EINVAL;
      if ((rc = add_attr(REQ_N(&r), sizeof r.buf, IFA_LABEL, label, strlen(label) + 1)) < 0) return rc;
    }
  } else {
    /* no duplicate address detection: we probed already, and DAD would hold the address tentative */
    uint32_t f = IFA_F_NODAD;
    REQ_IFA(&r)->ifa_flags = IFA_F_NODAD;
    if ((rc = add_attr(REQ_N(&r), sizeof r.buf, IFA_FLAGS, &f, 4)) < 0) return rc;
  }
  if (lifetime_s > 0) {
    /* the lease: the kernel removes the address by itself unless we renew it */
    struct ifa_cacheinfo ci = {.ifa_prefered = (uint32_t)lifetime_s, .ifa_valid = (uint32_t)lifetime_s};
    if ((rc = add_attr(REQ_N(&r), sizeof r.buf, IFA_CACHEINFO, &ci, sizeof ci)) < 0) return rc;
  }
  return nl_request(REQ_N(&r));
}

HB_API int32_t hb_addr_del(int32_t family, const char *ifname, const uint8_t *addr, int32_t prefix) {
  int alen = addr_len(family);
  if (alen < 0 || !ifname || !addr || prefix < 1 || prefix > alen * 8) return -EINVAL;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  addr_req r;
  int rc = fill_addr(&r, RTM_DELADDR, 0, family, ifindex, addr, prefix);
  if (rc < 0) return rc;
  return nl_request(REQ_N(&r));
}

int hb_nl_addr_walk(const void *buf, int len, uint32_t seq, int ifindex, const uint8_t *addr, int alen, int *found) {
  for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_seq != seq) continue;
    if (h->nlmsg_type == NLMSG_DONE) return 1;
    if (h->nlmsg_type == NLMSG_ERROR) return hb_nl_fits(h, sizeof(struct nlmsgerr)) ? ((const struct nlmsgerr *)NLMSG_DATA(h))->error : -EIO;
    if (h->nlmsg_type != RTM_NEWADDR || !hb_nl_fits(h, sizeof(struct ifaddrmsg))) continue;
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if ((int)ifa->ifa_index != ifindex) continue;
    int rl = (int)IFA_PAYLOAD(h);
    for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, rl); a = RTA_NEXT(a, rl))
      if ((a->rta_type == IFA_LOCAL || a->rta_type == IFA_ADDRESS) && RTA_PAYLOAD(a) == (size_t)alen &&
          memcmp(RTA_DATA(a), addr, (size_t)alen) == 0)
        *found = 1;
  }
  return 0;
}

/* One RTM_GETADDR dump: 1 found, 0 not, -errno; -EAGAIN when it must be asked again (lost or cut). */
static int addr_dump(int family, int ifindex, const uint8_t *addr, int alen) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct {
    struct nlmsghdr n;
    struct ifaddrmsg ifa;
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = sizeof req;
  req.n.nlmsg_type = RTM_GETADDR;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.n.nlmsg_seq = (uint32_t)mono_ms();
  req.ifa.ifa_family = family == 4 ? AF_INET : AF_INET6;
  int found = 0, done = 0, rc = 0;
  if (send(fd, &req, sizeof req, 0) < 0) rc = -errno;
  _Alignas(struct nlmsghdr) char buf[32768];
  for (int rounds = 0; !rc && !done && rounds < 1000; rounds++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1) { rc = -ETIMEDOUT; break; }
    int len = hb_nl_recv(fd, buf, sizeof buf, 0);
    if (len == -EMSGSIZE || len == -ENOBUFS) { rc = -EAGAIN; break; } /* part of the dump is lost: ask again */
    if (len < 0) { rc = len; break; }
    int w = hb_nl_addr_walk(buf, len, req.n.nlmsg_seq, ifindex, addr, alen, &found);
    if (w < 0) rc = w;
    else if (w > 0) done = 1;
  }
  close(fd);
  return rc ? rc : found;
}

HB_API int32_t hb_addr_has(int32_t family, const char *ifname, const uint8_t *addr) {
  int alen = addr_len(family);
  if (alen < 0 || !ifname || !addr) return -EINVAL;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  int rc = -EAGAIN;
  for (int tries = 0; rc == -EAGAIN && tries < 3; tries++) rc = addr_dump(family, ifindex, addr, alen);
  return rc;
}

/* ---------- frames ---------- */

HB_API int32_t hb_if_mac(const char *ifname, uint8_t *mac) {
  if (!ifname || !mac || strlen(ifname) >= IFNAMSIZ) return -EINVAL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, ifname);
  int rc = ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
  close(fd);
  if (!rc) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return rc;
}

/*
 * An ARP frame on Ethernet (RFC 826), 60 bytes with padding. Gratuitous forms (RFC 5227 section 3,
 * RFC 5944 section 4.6): sender and target protocol address are both the floating address.
 * A probe (RFC 5227 section 2.1.1) has sender protocol address 0.0.0.0.
 */
static size_t arp_frame(uint8_t *f, int op, const uint8_t mac[6], const uint8_t sender_ip[4], const uint8_t target_ip[4],
                        int reply_to_self) {
  memset(f, 0, 60);
  memset(f + 0, 0xff, 6);            /*  0: Ethernet destination: broadcast, every host on the LAN    */
  memcpy(f + 6, mac, 6);             /*  6: Ethernet source: our MAC (switches learn the port from it) */
  f[12] = 0x08; f[13] = 0x06;        /* 12: EtherType 0x0806, ARP                                       */
  f[14] = 0x00; f[15] = 0x01;        /* 14: hardware type 1, Ethernet                                   */
  f[16] = 0x08; f[17] = 0x00;        /* 16: protocol type 0x0800, IPv4                                  */
  f[18] = 6;                         /* 18: hardware address length                                     */
  f[19] = 4;                         /* 19: protocol address length                                     */
  f[20] = 0x00; f[21] = (uint8_t)op; /* 20: operation: 1 request, 2 reply                               */
  memcpy(f + 22, mac, 6);            /* 22: sender hardware address: our MAC, the news for every cache  */
  memcpy(f + 28, sender_ip, 4);      /* 28: sender protocol address: the VIP (0.0.0.0 in a probe)        */
  if (reply_to_self) memcpy(f + 32, mac, 6); /* 32: target hardware address: ours in the reply form,   */
                                     /*     zero in a request (RFC 5227: ignored)                        */
  memcpy(f + 38, target_ip, 4);      /* 38: target protocol address: the VIP                           */
  return 60;                         /* 42..59: padding to the Ethernet minimum                         */
}

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  return sum;
}

/*
 * ICMPv6 neighbour discovery on Ethernet: an unsolicited neighbour advertisement (RFC 4861 4.4,
 * 7.2.6) with the override flag, or a DAD neighbour solicitation (RFC 4862 5.4.2) when solicit=1.
 */
static size_t nd_frame(uint8_t *f, int solicit, const uint8_t mac[6], const uint8_t vip[16]) {
  static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  uint8_t dst[16], src[16];
  if (solicit) {
    /* solicited-node multicast ff02::1:ffXX:XXXX of the target; source :: (unspecified) */
    const uint8_t sn[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, vip[13], vip[14], vip[15]};
    memcpy(dst, sn, 16);
    memset(src, 0, 16);
  } else {
    memcpy(dst, all_nodes, 16);
    memcpy(src, vip, 16);
  }
  size_t plen = solicit ? 24 : 32;
  memset(f, 0, 14 + 40 + plen);
  f[0] = 0x33; f[1] = 0x33;            /*  0: Ethernet destination 33:33 + last 4 bytes of the IPv6 destination */
  memcpy(f + 2, dst + 12, 4);
  memcpy(f + 6, mac, 6);               /*  6: Ethernet source: our MAC                                        */
  f[12] = 0x86; f[13] = 0xdd;          /* 12: EtherType 0x86DD, IPv6                                          */
  uint8_t *ip = f + 14;
  ip[0] = 0x60;                        /* 14: version 6, traffic class 0, flow label 0                        */
  ip[4] = 0; ip[5] = (uint8_t)plen;    /* 18: payload length                                                  */
  ip[6] = 58;                          /* 20: next header: ICMPv6                                             */
  ip[7] = 255;                         /* 21: hop limit 255: receivers drop ND with any other value           */
  memcpy(ip + 8, src, 16);             /* 22: source: the VIP (:: in a DAD probe)                             */
  memcpy(ip + 24, dst, 16);            /* 38: destination: all nodes (solicited-node multicast in a probe)    */
  uint8_t *icmp = ip + 40;
  icmp[0] = solicit ? 135 : 136;       /* 54: type: 135 solicitation, 136 advertisement                       */
  icmp[1] = 0;                         /* 55: code 0                                                          */
                                       /* 56: checksum, below                                                 */
  if (!solicit) icmp[4] = 0x20;        /* 58: flags R=0 S=0 O=1: override what caches hold                    */
  memcpy(icmp + 8, vip, 16);           /* 62: target address: the VIP                                         */
  if (!solicit) {
    icmp[24] = 2;                      /* 78: option: target link-layer address                               */
    icmp[25] = 1;                      /* 79: option length in 8-byte units                                   */
    memcpy(icmp + 26, mac, 6);         /* 80: our MAC                                                         */
  }
  /* checksum over the IPv6 pseudo-header (source, destination, length, next header) and the message */
  uint32_t sum = csum_add(0, src, 16);
  sum = csum_add(sum, dst, 16);
  sum += (uint32_t)plen + 58;
  sum = csum_add(sum, icmp, plen);
  uint16_t c = csum_fold(sum);
  icmp[2] = (uint8_t)(c >> 8);
  icmp[3] = (uint8_t)c;
  return 14 + 40 + plen;
}

/*
 * Packet sockets are opened once and kept: binding or closing one waits for an RCU grace
 * period in the kernel (synchronize_net), tens of milliseconds in a VM, which would sit
 * between a takeover decision and the first gratuitous ARP.
 */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static int send_fd = -1;
static struct {
  int ifindex, proto, fd;
} rx_cache[32];

/* One unbound socket for every frame we send (protocol 0: it receives nothing). */
static int tx_socket(void) {
  pthread_mutex_lock(&cache_mu);
  if (send_fd < 0) send_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  int fd = send_fd < 0 ? -errno : send_fd;
  pthread_mutex_unlock(&cache_mu);
  return fd;
}

/* A bound, non-blocking receive socket per (interface, protocol), for probes. */
static int rx_socket(int ifindex, int proto) {
  int fd = -ENOSPC;
  pthread_mutex_lock(&cache_mu);
  for (unsigned i = 0; i < sizeof rx_cache / sizeof rx_cache[0]; i++) {
    if (rx_cache[i].fd > 0 && rx_cache[i].ifindex == ifindex && rx_cache[i].proto == proto) { fd = rx_cache[i].fd; break; }
    if (rx_cache[i].fd <= 0) {
      int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons((uint16_t)proto));
      struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)proto), .sll_ifindex = ifindex};
      if (s < 0 || bind(s, (struct sockaddr *)&sll, sizeof sll) < 0) {
        fd = -errno;
        if (s >= 0) close(s);
        break;
      }
      rx_cache[i].ifindex = ifindex;
      rx_cache[i].proto = proto;
      rx_cache[i].fd = fd = s;
      break;
    }
  }
  pthread_mutex_unlock(&cache_mu);
  return fd;
}

static int send_frame(int ifindex, const uint8_t *frame, size_t len) {
  int fd = tx_socket();
  if (fd < 0) return fd;
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
  memcpy(to.sll_addr, frame, 6); /* the destination is in the frame; the kernel wants it here too */
  return sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)len ? 0 : -errno;
}

/* The interface's index and MAC, for frames sent from it: 0 or -errno. */
static int if_lookup(const char *ifname, int *ifindex, uint8_t mac[6]) {
  *ifindex = (int)if_nametoindex(ifname);
  if (!*ifindex) return -ENODEV;
  return hb_if_mac(ifname, mac);
}

HB_API int32_t hb_announce(int32_t family, const char *ifname, const uint8_t *addr, int32_t pairs) {
  if ((family != 4 && family != 6) || !ifname || !addr || pairs < 1 || pairs > 100) return -EINVAL;
  int ifindex;
  uint8_t mac[6];
  int rc = if_lookup(ifname, &ifindex, mac);
  if (rc < 0) return rc;
  uint8_t req[64], rep[64], na[128];
  size_t n1 = 0, n2 = 0;
  if (family == 4) {
    n1 = arp_frame(req, 1, mac, addr, addr, 0); /* the request form: what most stacks and switches honour */
    n2 = arp_frame(rep, 2, mac, addr, addr, 1); /* the reply form: for the rest                          */
  } else {
    n1 = n2 = nd_frame(na, 0, mac, addr);
  }
  int sent = 0;
  rc = 0;
  for (int i = 0; i < pairs; i++) {
    int r1 = send_frame(ifindex, family == 4 ? req : na, n1);
    int r2 = send_frame(ifindex, family == 4 ? rep : na, n2);
    sent += (r1 == 0) + (r2 == 0);
    if (r1 < 0) rc = r1;
    if (r2 < 0) rc = r2;
  }
  return sent ? sent : rc;
}

int hb_probe_answer(const uint8_t *buf, size_t len, int family, const uint8_t *mac, const uint8_t *addr) {
  if (len < 14 || memcmp(buf + 6, mac, 6) == 0) return 0; /* runt, or our own frame */
  if (family == 4) /* anyone who says it has the address: an ARP reply or request with sender = addr */
    return len >= 42 && buf[12] == 0x08 && buf[13] == 0x06 && memcmp(buf + 28, addr, 4) == 0;
  /* a neighbour advertisement for the address */
  return len >= 14 + 40 + 24 && buf[12] == 0x86 && buf[13] == 0xdd && buf[14 + 6] == 58 && buf[14 + 40] == 136 &&
         memcmp(buf + 14 + 40 + 8, addr, 16) == 0;
}

HB_API int32_t hb_probe(int32_t family, const char *ifname, const uint8_t *addr, int32_t wait_ms) {
  if ((family != 4 && family != 6) || !ifname || !addr || wait_ms < 0 || wait_ms > 10000) return -EINVAL;
  int ifindex;
  uint8_t mac[6];
  int rc = if_lookup(ifname, &ifindex, mac);
  if (rc < 0) return rc;
  int fd = rx_socket(ifindex, family == 4 ? 0x0806 : 0x86dd);
  if (fd < 0) return fd;
  uint8_t buf[2048];
  for (int i = 0; i < 100000 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0; i++) {
    /* forget what arrived since the last probe */
  }
  uint8_t frame[128];
  static const uint8_t zero[4] = {0, 0, 0, 0};
  size_t n = family == 4 ? arp_frame(frame, 1, mac, zero, addr, 0) : nd_frame(frame, 1, mac, addr);
  rc = send_frame(ifindex, frame, n);
  if (rc < 0) return rc;
  int conflict = 0;
  int64_t deadline = mono_ms() + wait_ms;
  for (int rounds = 0; !conflict && rounds < 10000; rounds++) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) != 1) continue;
    ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (len > 0) conflict = hb_probe_answer(buf, (size_t)len, family, mac, addr);
  }
  return conflict;
}

HB_API int32_t hb_vip_prepare(int32_t family, const char *ifname) {
  if ((family != 4 && family != 6) || !ifname) return -EINVAL;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  int fd = tx_socket();
  if (fd < 0) return fd;
  fd = rx_socket(ifindex, family == 4 ? 0x0806 : 0x86dd);
  return fd < 0 ? fd : 0;
}
