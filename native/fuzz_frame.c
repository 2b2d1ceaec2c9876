/*
 * Fuzz driver (not part of the shim): random and mutated frames through the
 * whole receive path (parser, replay window, liveness, events) and the serial
 * deframer. Built with -fsanitize=address,undefined by test/unit/fuzz.test.ts;
 * any crash, sanitizer report or leak fails the test.
 *
 *   fuzz_frame ITERATIONS SEED
 */
#include "engine.h"
#include "frame.h"
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
  hb_fuzz_fake_links(e, 2);

  hb_keyring ring = {.n = 1, .send = 0};
  ring.slot[0].id = 2;
  hb_hmac_prepare(&ring.slot[0].key, key2, sizeof key2 - 1);

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
    hb_engine_feed(e, (int)(rnd() % 2), buf, n, now, &from);
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
  }
  uint64_t cnt[HB_CNT_COUNT];
  for (int l = 0; l < 2; l++) {
    hb_engine_counters(e, l, cnt, HB_CNT_COUNT);
    accepted += (long)cnt[HB_CNT_RX];
    printf("link %d:", l);
    for (int k = 0; k < HB_CNT_COUNT; k++) printf(" %llu", (unsigned long long)cnt[k]);
    printf("\n");
  }
  printf("iterations %ld accepted %ld events %ld\n", iters, accepted, events);
  hb_engine_free(e);
  return 0;
}
