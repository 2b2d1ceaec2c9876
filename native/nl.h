/*
 * nl.h: receiving from rtnetlink safely. Every reply is checked to come from
 * the kernel (port 0) and to be whole; callers walk it with a signed length,
 * so NLMSG_OK's check of a negative remainder works, and check each message's
 * length before they read the struct behind its header.
 */
#ifndef HB_NL_H
#define HB_NL_H
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

/* One datagram from the kernel into buf: its length; 0 when it was not the kernel's (ignored);
 * -EMSGSIZE when it did not fit (truncated); -errno otherwise (-EAGAIN, -ENOBUFS: events lost). */
int hb_nl_recv(int fd, void *buf, size_t cap, int flags);

/* The pure walks of replies (for the fuzzer too). An ack for `seq` in buf: 1 and *rc (0 or -errno), else 0. */
int hb_nl_ack(const void *buf, int len, uint32_t seq, int *rc);
/* An address dump's reply for `seq`: sets *found when addr is on ifindex; 1 at its end, -errno on an error. */
int hb_nl_addr_walk(const void *buf, int len, uint32_t seq, int ifindex, const uint8_t *addr, int alen, int *found);

/* Is the message at least a header plus `body` bytes? */
static inline int hb_nl_fits(const struct nlmsghdr *h, size_t body) { return h->nlmsg_len >= NLMSG_LENGTH(body); }
#endif
