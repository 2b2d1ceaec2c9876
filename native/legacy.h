/*
 * legacy.h: a read-only listener for Heartbeat v1 packets on an interface, so
 * that hb can tell when an old Heartbeat node is alive beside it. A packet
 * socket with a BPF filter sees every IPv4/UDP datagram to the given port whose
 * payload starts with ">>>\n" (classic format) or "###\n" (netstring format),
 * whatever other socket is bound to the port; it never sends anything.
 */
#ifndef HB_LEGACY_H
#define HB_LEGACY_H
#include "hb.h"
#include <stddef.h>
#include <stdint.h>

/* Open the listener on ifname for UDP destination port `port`: fd or -errno. */
HB_API int32_t hb_legacy_open(const char *ifname, int32_t port);
/* Read one datagram's UDP payload into buf[cap] (non-blocking): its length (truncated to cap), or -EAGAIN
 * when none is waiting, or -errno. *src4 gets the sender's IPv4 address (4 bytes). */
HB_API int32_t hb_legacy_read(int32_t fd, uint8_t *buf, int32_t cap, uint8_t *src4);
HB_API int32_t hb_legacy_close(int32_t fd);
/* Not exported: the UDP payload of one IPv4 packet as the packet socket gives it (for the fuzzer). */
int32_t hb_legacy_extract(const uint8_t *pkt, size_t n, uint8_t *buf, int32_t cap, uint8_t *src4);
#endif
