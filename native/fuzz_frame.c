/*
 * Fuzz driver (not part of the shim): random and mutated input through every
 * C parser the outside can reach: frames through the whole receive path
 * (parser, replay window, generations, liveness, events; signed with either
 * key; oversize datagrams; a receiver restarted with its floors), the serial
 * deframer, rtnetlink replies and link events, ICMP echo replies, ARP/ND
 * answers to a probe and the legacy listener's IPv4/UDP packets. Built with
 * -fsanitize=address,undefined by test/unit/fuzz.test.ts; any crash, sanitizer
 * report or leak fails the test, and so does a parser that was never reached.
 *
 *   fuzz_frame ITERATIONS SEED
 */
#include "engine.h"
#include "frame.h"
#include "legacy.h"
#include "nl.h"
#include "vip.h"
#include <linux/rtnetlink.h>
#include <net/if.h>
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;
static uint32_t rnd(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static int resync_hits;
static void count(void *arg, const uint8_t *buf, size_t len) {
  const uint8_t *want = arg;
  if (len == HB_FRAME_MIN && memcmp(buf, want, len) == 0) resync_hits++;
}

/* Serial framing must resynchronise: noise, a torn frame, then a whole frame -> exactly that frame. */
static int check_resync(const hb_keyring *ring) {
  uint8_t frame[HB_FRAME_MAX], enc[HB_SLIP_MAX], stream[4 * HB_SLIP_MAX];
  hb_frame f = {.type = HB_MSG_BEAT, .cluster = 1, .sender = 2, .gen = 1, .seq = 1};
  int len = hb_frame_build(frame, sizeof frame, &f, ring);
  size_t m = hb_serial_encode(frame, (size_t)len, enc), n = 0;
  const uint8_t noise[] = {0x00, 0x7D, 0x13, 0x99, 0x7D};
  memcpy(stream + n, noise, sizeof noise); n += sizeof noise;   /* line noise, ending in a dangling escape */
  memcpy(stream + n, enc, m / 2); n += m / 2;                   /* the first half of a frame (torn) */
  memcpy(stream + n, enc, m); n += m;                           /* a whole frame */
  hb_deframer d;
  for (size_t cut = 0; cut <= n; cut++) {                       /* every way a read can split it */
    memset(&d, 0, sizeof d);
    resync_hits = 0;
    hb_serial_feed(&d, stream, cut, count, frame);
    hb_serial_feed(&d, stream + cut, n - cut, count, frame);
    if (resync_hits != 1) return 1;
  }
  return 0;
}

static void sink(void *arg, const uint8_t *buf, size_t len) {
  hb_engine *e = arg;
  hb_engine_feed(e, 0, buf, len, 1000, NULL);
}

/* Mutate buf[0..n) in place (n may change, up to cap): as built, a bit flipped, cut, bytes changed, noise. */
static size_t mutate(uint8_t *buf, size_t n, size_t cap) {
  switch (rnd() % 6) {
    case 0: break;
    case 1: if (n) buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8)); break;
    case 2: n = rnd() % (n + 1); break;
    case 3: for (size_t k = 0; k < n; k++) if (rnd() % 8 == 0) buf[k] = (uint8_t)rnd(); break;
    case 4: n = rnd() % cap; for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rnd(); break;
    case 5: { size_t extra = rnd() % 64; if (n + extra > cap) extra = cap - n; for (size_t k = 0; k < extra; k++) buf[n + k] = (uint8_t)rnd(); n += extra; break; }
  }
  return n;
}

static long hits_ack, hits_addr, hits_conflict, hits_legacy, hits_ping, hits_link;

/* rtnetlink: an ack, an address dump and link events, built right, then mutated. */
static void fuzz_netlink(hb_engine *e) {
  _Alignas(struct nlmsghdr) uint8_t buf[1024];
  memset(buf, 0, sizeof buf);
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  size_t n;
  int kind = (int)(rnd() % 3);
  if (kind == 0) {
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
    h->nlmsg_type = NLMSG_ERROR;
    h->nlmsg_seq = 7;
    ((struct nlmsgerr *)NLMSG_DATA(h))->error = -(int)(rnd() % 3);
  } else if (kind == 1) {
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    ifa->ifa_index = 2;
    struct rtattr *a = IFA_RTA(ifa);
    a->rta_type = IFA_LOCAL;
    a->rta_len = RTA_LENGTH(4);
    const uint8_t addr[4] = {198, 51, 100, 200};
    memcpy(RTA_DATA(a), addr, 4);
    h->nlmsg_len = NLMSG_LENGTH(sizeof *ifa) + RTA_ALIGN(a->rta_len);
    h->nlmsg_type = RTM_NEWADDR;
    h->nlmsg_seq = 7;
    struct nlmsghdr *d = (struct nlmsghdr *)(buf + NLMSG_ALIGN(h->nlmsg_len)); /* then the end of the dump */
    d->nlmsg_len = NLMSG_LENGTH(0);
    d->nlmsg_type = NLMSG_DONE;
    d->nlmsg_seq = 7;
  } else {
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    ifi->ifi_index = 2 + (int)(rnd() % 2);
    ifi->ifi_flags = rnd() % 2 ? (IFF_UP | IFF_LOWER_UP) : 0;
    h->nlmsg_len = NLMSG_LENGTH(sizeof *ifi);
    h->nlmsg_type = RTM_NEWLINK;
  }
  n = NLMSG_ALIGN(h->nlmsg_len) + (kind == 1 ? NLMSG_LENGTH(0) : 0);
  n = mutate(buf, n, sizeof buf);
  int rc, found = 0;
  const uint8_t addr[4] = {198, 51, 100, 200};
  if (hb_nl_ack(buf, (int)n, 7, &rc) && rc == 0) hits_ack++;
  if (hb_nl_addr_walk(buf, (int)n, 7, 2, addr, 4, &found) >= 0 && found) hits_addr++;
  hb_event ev[8];
  while (hb_engine_poll(e, ev, 8) > 0) { /* drain */ }
  hb_engine_netlink(e, buf, (int)n);
  int got = hb_engine_poll(e, ev, 8);
  for (int i = 0; i < got; i++) if (ev[i].type == HB_EV_CARRIER || ev[i].type == HB_EV_IFACE) hits_link++;
}

/* An ARP reply / ND advertisement answering a probe, and an IPv4/UDP packet for the legacy listener. */
static void fuzz_frames(void) {
  uint8_t buf[256];
  const uint8_t mac[6] = {2, 0, 0, 0, 0, 1}, other[6] = {2, 0, 0, 0, 0, 2};
  const uint8_t a4[4] = {198, 51, 100, 200};
  uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
  a6[15] = 0x10;
  memset(buf, 0, sizeof buf);
  memcpy(buf + 6, other, 6);
  size_t n;
  int family = rnd() % 2 ? 4 : 6;
  if (family == 4) {
    buf[12] = 0x08; buf[13] = 0x06;
    memcpy(buf + 28, a4, 4);
    n = 42;
  } else {
    buf[12] = 0x86; buf[13] = 0xdd;
    buf[14 + 6] = 58;
    buf[14 + 40] = 136;
    memcpy(buf + 14 + 40 + 8, a6, 16);
    n = 14 + 40 + 24;
  }
  n = mutate(buf, n, sizeof buf);
  if (hb_probe_answer(buf, n, family, mac, family == 4 ? a4 : a6)) hits_conflict++;

  uint8_t pkt[256], out[64], src[4];
  memset(pkt, 0, sizeof pkt);
  pkt[0] = 0x45;
  memcpy(pkt + 12, a4, 4);
  const char *msg = "###\n11:(0)t=status,%%%\n";
  size_t m = strlen(msg);
  pkt[20 + 4] = (uint8_t)((8 + m) >> 8);
  pkt[20 + 5] = (uint8_t)(8 + m);
  memcpy(pkt + 28, msg, m);
  n = mutate(pkt, 28 + m + rnd() % 8, sizeof pkt);
  if (hb_legacy_extract(pkt, n, out, (int32_t)(rnd() % 2 ? sizeof out : 4), src) > 0) hits_legacy++;
}

/* An ICMP echo reply (IPv4 header first) to the fake uplink probe. */
static void fuzz_ping(hb_engine *e) {
  uint8_t buf[128];
  memset(buf, 0, sizeof buf);
  buf[0] = 0x45;
  buf[20] = 0;                  /* echo reply */
  buf[24] = 0x12; buf[25] = 0x34; /* id */
  buf[26] = 0; buf[27] = 1;       /* seq */
  size_t n = mutate(buf, 28 + rnd() % 16, sizeof buf);
  const uint8_t from[4] = {203, 0, 113, 1};
  extern void hb_fuzz_rearm_ping(hb_engine *);
  hb_fuzz_rearm_ping(e);
  hb_engine_ping_reply(e, buf, n, from);
  if (n >= 28 && buf[0] == 0x45 && buf[20] == 0 && buf[24] == 0x12 && buf[25] == 0x34 && buf[27] == 1) hits_ping++;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 1000000;
  rng = argc > 2 ? strtoull(argv[2], NULL, 10) | 1 : 88172645463325252ULL;
  const uint32_t cluster = 0xC0FFEE01;
  hb_engine *e = hb_engine_new(cluster, 1, 5, 50, 100, 150, 1000);
  if (!e) return 2;
  const uint8_t key1[] = "fuzz-key-one", key2[] = "fuzz-key-two";
  hb_engine_add_key(e, 1, key1, sizeof key1 - 1);
  hb_engine_add_key(e, 2, key2, sizeof key2 - 1);
  hb_engine_set_send_key(e, 2);
  hb_engine_add_peer(e, 2);
  hb_engine_add_peer(e, 3);
  /* the fuzzer feeds link 0 and 1 directly: make them exist without sockets */
  extern int hb_fuzz_fake_links(hb_engine *, int);
  extern int hb_fuzz_fake_ping(hb_engine *, const uint8_t *, uint16_t);
  const uint8_t target[4] = {203, 0, 113, 1};
  hb_fuzz_fake_links(e, 2);
  hb_fuzz_fake_ping(e, target, 0x1234);

  /* frames are signed with either key, as during a key rotation */
  hb_keyring ring = {.n = 2, .send = 0};
  ring.slot[0].id = 2;
  hb_hmac_prepare(&ring.slot[0].key, key2, sizeof key2 - 1);
  ring.slot[1].id = 1;
  hb_hmac_prepare(&ring.slot[1].key, key1, sizeof key1 - 1);
  long restarts = 0;
  uint64_t total[2][HB_CNT_COUNT];
  memset(total, 0, sizeof total);

  if (check_resync(&ring)) { fprintf(stderr, "serial framing did not resynchronise\n"); return 4; }
  printf("resync ok\n");

  uint8_t valid[HB_FRAME_MAX], buf[HB_FRAME_MAX + 64], payload[HB_PAYLOAD_MAX];
  hb_deframer d;
  memset(&d, 0, sizeof d);
  hb_event evs[64];
  long accepted = 0, events = 0;
  uint64_t seq = 1, gen = 10;
  for (long i = 0; i < iters; i++) {
    int64_t now = 1000 + i * 1000;
    /* a valid frame from peer 2 or 3, sometimes from ourselves or an unknown node */
    for (int k = 0; k < HB_PAYLOAD_MAX; k++) payload[k] = (uint8_t)rnd();
    uint16_t senders[] = {2, 3, 1, 9};
    hb_frame f = {.type = (uint8_t)(rnd() % 2 + 1), .link_id = (uint8_t)(rnd() % 2), .cluster = cluster,
                  .sender = senders[rnd() % 4], .gen = gen, .seq = seq++, .plen = (uint16_t)(rnd() % (HB_PAYLOAD_MAX + 1)),
                  .payload = payload};
    if (rnd() % 1000 == 0) gen++;                 /* a restart */
    if (rnd() % 50 == 0) f.seq = seq - 5;          /* a replay */
    if (rnd() % 100 == 0) f.gen = gen - 1;         /* an old generation */
    ring.send = (int)(rnd() % 2);                  /* either key */
    int len = hb_frame_build(valid, sizeof valid, &f, &ring);
    if (len < 0) return 3;
    size_t n = (size_t)len;
    memcpy(buf, valid, n);
    switch (rnd() % 6) {
      case 0: break;                                                        /* as built */
      case 1: buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8)); break;        /* one bit flipped */
      case 2: n = rnd() % (n + 1); break;                                   /* truncated */
      case 3: for (size_t k = 0; k < n; k++) if (rnd() % 8 == 0) buf[k] = (uint8_t)rnd(); break;
      case 4: n = rnd() % sizeof buf; for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rnd(); break;
      case 5: { size_t extra = rnd() % 64; for (size_t k = 0; k < extra; k++) buf[n + k] = (uint8_t)rnd(); n += extra; break; }
    }
    hb_src from = {2 /* AF_INET */, {198, 51, 100, (uint8_t)(rnd() % 4)}};
    if (rnd() % 50 == 0) hb_engine_datagram(e, (int)(rnd() % 2), buf, n, n ? n - 1 : 0, now, &from); /* cut (MSG_TRUNC) */
    else hb_engine_feed(e, (int)(rnd() % 2), buf, n, now, &from);
    if (i % 16 == 0) hb_engine_tick(e, now);
    /* the same bytes as a serial stream, split at a random point */
    uint8_t enc[HB_SLIP_MAX + HB_FRAME_MAX + 64];
    size_t m = hb_serial_encode(buf, n, enc);
    if (rnd() % 4 == 0) enc[rnd() % m] = (uint8_t)rnd();
    size_t cut = rnd() % (m + 1);
    hb_serial_feed(&d, enc, cut, sink, e);
    hb_serial_feed(&d, enc + cut, m - cut, sink, e);
    int got;
    while ((got = hb_engine_poll(e, evs, 64)) > 0) events += got;
    fuzz_netlink(e);
    fuzz_frames();
    fuzz_ping(e);
    if (i % 100000 == 99999) {
      /* the receiver restarts: what it last accepted comes back as floors (replays stay dropped) */
      uint64_t seen[3][1 + 2];
      for (int pi = 0; pi < 2; pi++) hb_engine_peer_seen(e, pi, seen[pi], 3);
      for (int l = 0; l < 2; l++) {
        uint64_t c[HB_CNT_COUNT];
        hb_engine_counters(e, l, c, HB_CNT_COUNT);
        for (int k = 0; k < HB_CNT_COUNT; k++) total[l][k] += c[k];
      }
      hb_engine_free(e);
      e = hb_engine_new(cluster, 1, 5 + (uint64_t)++restarts, 50, 100, 150, 1000);
      if (!e) return 2;
      hb_engine_add_key(e, 1, key1, sizeof key1 - 1);
      hb_engine_add_key(e, 2, key2, sizeof key2 - 1);
      hb_engine_set_send_key(e, 2);
      hb_engine_add_peer(e, 2);
      hb_engine_add_peer(e, 3);
      hb_fuzz_fake_links(e, 2);
      hb_fuzz_fake_ping(e, target, 0x1234);
      for (int pi = 0; pi < 2; pi++) hb_engine_peer_floor(e, pi, seen[pi][0], seen[pi] + 1, 2);
    }
  }
  for (int l = 0; l < 2; l++) {
    uint64_t cnt[HB_CNT_COUNT];
    hb_engine_counters(e, l, cnt, HB_CNT_COUNT);
    for (int k = 0; k < HB_CNT_COUNT; k++) total[l][k] += cnt[k];
    accepted += (long)total[l][HB_CNT_RX];
    printf("link %d:", l);
    for (int k = 0; k < HB_CNT_COUNT; k++) printf(" %llu", (unsigned long long)total[l][k]);
    printf("\n");
  }
  printf("iterations %ld accepted %ld events %ld restarts %ld\n", iters, accepted, events, restarts);
  printf("reached ack %ld addr %ld link %ld conflict %ld legacy %ld ping %ld\n", hits_ack, hits_addr, hits_link, hits_conflict, hits_legacy, hits_ping);
  hb_engine_free(e);
  return 0;
}
