/*
 * Test driver (not part of the shim) for the bells of quiet listening (engine_quiet.c): their filter
 * runs on one end of an AF_UNIX datagram socketpair, where a datagram starts at offset 0 as a frame
 * does on an ether link's packet socket (and an IPv4 header does on a UDP link's). Each case sends one
 * datagram and prints whether the bell would ring; test/unit/quiet.test.ts checks the lines.
 *
 *   test_bell
 */
#include "engine_int.h"
#include "frame.h"
#include <stdio.h>

int hb_fuzz_fake_links(hb_engine *e, int n);

static const char KEY[] = "test-key-0123456789";
static hb_keyring ring;

static int frame(uint8_t *buf, uint8_t type, uint32_t cluster, uint16_t sender, uint64_t gen, uint64_t seq,
                 const uint8_t *payload, int plen) {
  hb_frame f = {.type = type, .link_id = 0, .cluster = cluster, .sender = sender, .gen = gen, .seq = seq,
                .plen = (uint16_t)plen, .payload = payload};
  return hb_frame_build(buf, HB_FRAME_MAX, &f, &ring);
}

/* Would the bell of link l ring for this frame? udp: wrapped in IPv4 (ihl words) + UDP to `port`. */
static int rings(hb_engine *e, int l, const uint8_t *fr, int len, int udp, int port, int ihl, int frag) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0 || bell_filter_fd(e, l, sv[1]) < 0) {
    perror("bell");
    exit(1);
  }
  uint8_t d[512];
  int n = 0;
  if (udp) {
    memset(d, 0, (size_t)(4 * ihl + 8));
    d[0] = (uint8_t)(0x40 | ihl);
    d[9] = IPPROTO_UDP;
    hb_put16(d + 6, (uint16_t)frag);
    n = 4 * ihl;
    hb_put16(d + n, 12345);
    hb_put16(d + n + 2, (uint16_t)port);
    n += 8;
  }
  memcpy(d + n, fr, (size_t)len);
  if (send(sv[0], d, (size_t)(n + len), 0) < 0) {
    perror("send");
    exit(1);
  }
  uint8_t b[8];
  ssize_t got = recv(sv[1], b, sizeof b, MSG_DONTWAIT | MSG_TRUNC);
  close(sv[0]);
  close(sv[1]);
  return got > 0;
}

int main(void) {
  uint32_t cluster = 0x11223344;
  hb_engine *e = hb_engine_new(cluster, 1, 7, 50, 100, 150, 1000);
  hb_engine_add_key(e, 1, (const uint8_t *)KEY, sizeof KEY - 1);
  memset(&ring, 0, sizeof ring);
  ring.n = 1;
  ring.slot[0].id = 1;
  hb_hmac_prepare(&ring.slot[0].key, (const uint8_t *)KEY, sizeof KEY - 1);
  hb_engine_add_peer(e, 2);
  hb_engine_add_peer(e, 3);
  hb_fuzz_fake_links(e, 2); /* link 0: udp, link 1: ether */
  e->links[0].port = 694;
  e->links[1].kind = HB_LINK_ETHER;
  uint8_t rec[21], other[21], buf[HB_FRAME_MAX];
  for (int i = 0; i < 21; i++) rec[i] = other[i] = (uint8_t)(i * 7 + 1);
  other[20] ^= 1; /* only the last byte differs: not a multiple of four, the byte tail is compared */
  int n;
#define CASE(name, expr) printf("%s %s\n", name, (expr) ? "rings" : "quiet")
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 1, rec, 21);
  CASE("unknown-record", rings(e, 1, buf, n, 0, 0, 5, 0)); /* nothing read from node 2 yet */
  hb_engine_feed(e, 0, buf, (size_t)n, 1000, NULL);        /* now its record is known */
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 2, rec, 21);
  CASE("routine", rings(e, 1, buf, n, 0, 0, 5, 0));
  CASE("routine-udp", rings(e, 0, buf, n, 1, 694, 5, 0));
  CASE("routine-udp-options", rings(e, 0, buf, n, 1, 694, 7, 0)); /* an IP header with options */
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 3, other, 21);
  CASE("changed-record", rings(e, 1, buf, n, 0, 0, 5, 0));
  CASE("changed-record-udp", rings(e, 0, buf, n, 1, 694, 5, 0));
  CASE("changed-record-udp-options", rings(e, 0, buf, n, 1, 694, 7, 0));
  CASE("changed-record-other-port", rings(e, 0, buf, n, 1, 695, 5, 0));
  CASE("changed-record-fragment", rings(e, 0, buf, n, 1, 694, 5, 0x2000 | 8));
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 4, rec, 20);
  CASE("shorter-record", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 10, 1, rec, 21);
  CASE("new-generation", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 2, (uint64_t)9 | (uint64_t)1 << 40, 1, rec, 21);
  CASE("new-generation-high", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_CONTROL, cluster, 2, 9, 5, rec, 21);
  CASE("control", rings(e, 1, buf, n, 0, 0, 5, 0));
  CASE("control-udp", rings(e, 0, buf, n, 1, 694, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster + 1, 2, 9, 6, other, 21);
  CASE("other-cluster", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 4, 9, 6, other, 21);
  CASE("unknown-sender", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 1, 7, 6, other, 21);
  CASE("self", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 3, 9, 1, rec, 21);
  CASE("second-peer-unknown", rings(e, 1, buf, n, 0, 0, 5, 0));
  hb_engine_feed(e, 0, buf, (size_t)n, 2000, NULL);
  n = frame(buf, HB_MSG_BEAT, cluster, 3, 9, 2, rec, 21);
  CASE("second-peer-routine", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 3, 9, 3, other, 21);
  CASE("second-peer-changed", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 7, rec, 21);
  buf[0] = 2;
  CASE("other-version", rings(e, 1, buf, n, 0, 0, 5, 0));
  n = frame(buf, HB_MSG_BEAT, cluster, 2, 9, 8, other, 21);
  CASE("runt", rings(e, 1, buf, 20, 0, 0, 5, 0)); /* cut before the record: a load past the end drops */
  hb_engine_free(e);
  return 0;
}
