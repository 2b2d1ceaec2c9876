/* The read-only Heartbeat v1 listener: see legacy.h. */
#include "compat.h"
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

HB_API int32_t hb_legacy_open(const char *ifname, int32_t port) {
  if (!ifname || port < 1 || port > 65535) return -EINVAL;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  /* Cooked (SOCK_DGRAM) packet socket for IPv4: offsets below start at the IP header. */
  struct sock_filter code[] = {
    /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),                       /* A = IP protocol */
    /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 17, 0, 10),              /* UDP, else drop */
    /* 2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),                       /* A = flags + fragment offset */
    /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 8, 0),          /* a later fragment: drop */
    /* 4 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                      /* X = IP header length */
    /* 5 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),                       /* A = UDP destination port */
    /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)port, 0, 5),   /* our port, else drop */
    /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_IND, 8),                       /* A = first 4 payload bytes */
    /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x3e3e3e0a, 2, 0),       /* ">>>\n": classic */
    /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x2323230a, 1, 0),       /* "###\n": netstring */
    /* 10 */ BPF_STMT(BPF_RET | BPF_K, 0),                               /* anything else: drop */
    /* 11 */ BPF_STMT(BPF_RET | BPF_K, 65535),                           /* keep it */
    /* 12 */ BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); /* protocol 0: no traffic before bind */
  if (fd < 0) return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) goto fail;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) goto fail;
  return fd;
fail:;
  int err = errno;
  close(fd);
  return -err;
}

int32_t hb_legacy_extract(const uint8_t *pkt, size_t n, uint8_t *buf, int32_t cap, uint8_t *src4) {
  if (n < 20) return -EBADMSG;
  size_t ihl = (size_t)(pkt[0] & 15) * 4;
  if (ihl < 20 || n < ihl + 8) return -EBADMSG;
  memcpy(src4, pkt + 12, 4);
  size_t ulen = (size_t)(pkt[ihl + 4] << 8 | pkt[ihl + 5]);
  size_t plen = n - ihl - 8;
  if (ulen >= 8 && ulen - 8 < plen) plen = ulen - 8; /* trailing Ethernet padding */
  if (plen > (size_t)cap) plen = (size_t)cap;
  memcpy(buf, pkt + ihl + 8, plen);
  return (int32_t)plen;
}

HB_API int32_t hb_legacy_read(int32_t fd, uint8_t *buf, int32_t cap, uint8_t *src4) {
  if (fd < 0 || !buf || cap < 1 || !src4) return -EINVAL;
  uint8_t pkt[65536];
  struct sockaddr_ll from;
  socklen_t fl = sizeof from;
  ssize_t n = recvfrom(fd, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
  if (n < 0) return -errno;
  if (from.sll_pkttype == PACKET_OUTGOING) return 0; /* our own: nothing */
  return hb_legacy_extract(pkt, (size_t)n, buf, cap, src4);
}

HB_API int32_t hb_legacy_close(int32_t fd) { return close(fd) < 0 ? -errno : 0; }
