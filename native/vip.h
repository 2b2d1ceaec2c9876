/*
 * vip.h: floating addresses. rtnetlink for adding, renewing and removing them
 * (never the `ip` command), AF_PACKET for gratuitous ARP, unsolicited
 * neighbour advertisements and the ARP probe that looks for a conflict.
 * Synchronous calls: each takes microseconds (the probe: at most wait_ms).
 */
#ifndef HB_VIP_H
#define HB_VIP_H
#include "hb.h"
#include <stddef.h>
#include <stdint.h>

/* family: 4 or 6; addr: 4 or 16 bytes; label: "" for none (IPv4 only); lifetime_s: 0 = forever.
 * replace: 0 = add (fails with -EEXIST if present), 1 = add or renew. IPv6 gets IFA_F_NODAD. */
HB_API int32_t hb_addr_add(int32_t family, const char *ifname, const uint8_t *addr, int32_t prefix, const char *label,
                           int32_t lifetime_s, int32_t replace);
/* Returns 0, or -EADDRNOTAVAIL when the address is not there. */
HB_API int32_t hb_addr_del(int32_t family, const char *ifname, const uint8_t *addr, int32_t prefix);
/* Is the address configured on the interface? 1 yes, 0 no, -errno. */
HB_API int32_t hb_addr_has(int32_t family, const char *ifname, const uint8_t *addr);
/* Announce addr from ifname's MAC: IPv4 sends `pairs` x (ARP request + ARP reply), broadcast,
 * sender = target = addr; IPv6 sends `pairs` x 2 unsolicited NAs (override flag) to ff02::1.
 * Returns frames sent, or -errno. */
HB_API int32_t hb_announce(int32_t family, const char *ifname, const uint8_t *addr, int32_t pairs);
/* RFC 5227 probe: who answers for addr? 1 = someone does (conflict), 0 = nobody within wait_ms.
 * IPv6: a DAD neighbour solicitation, answered by a neighbour advertisement. */
HB_API int32_t hb_probe(int32_t family, const char *ifname, const uint8_t *addr, int32_t wait_ms);
/* Not exported: does this frame (ARP, or IPv6 ND) say another host has addr? (for the fuzzer too) */
int hb_probe_answer(const uint8_t *buf, size_t len, int family, const uint8_t *mac, const uint8_t *addr);
/* Open, ahead of time, the sockets that announcements and probes on ifname use. */
HB_API int32_t hb_vip_prepare(int32_t family, const char *ifname);
/* The interface's MAC into mac[6]. */
HB_API int32_t hb_if_mac(const char *ifname, uint8_t *mac);
#endif
