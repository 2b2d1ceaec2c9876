/*
 * frame.h: the heartbeat frame, pure functions only (no sockets, no clock),
 * so the parser can be fuzzed alone.
 *
 * Layout, all integers big-endian:
 *
 *   off  size  field
 *     0     1  version             HB_FRAME_VERSION (1)
 *     1     1  type                HB_MSG_* (append-only enum)
 *     2     1  key id              which shared key signed the frame (1..255)
 *     3     1  link id             index of the link it was sent on (same config on all nodes)
 *     4     4  cluster id          first 4 bytes of SHA-256(cluster name)
 *     8     2  sender node id      1..65535
 *    10     2  payload length      0..HB_PAYLOAD_MAX
 *    12     8  boot generation     strictly increases across restarts of the sender
 *    20     8  sequence            per (sender, link), strictly increasing within a generation
 *    28     n  payload             state record (BEAT) or control message (CONTROL)
 *  28+n    32  HMAC-SHA256         over bytes 0 .. 28+n-1 with the key named by key id
 */
#ifndef HB_FRAME_H
#define HB_FRAME_H
#include "sha256.h"
#include <stddef.h>
#include <stdint.h>

#define HB_FRAME_VERSION 1
#define HB_HEADER_LEN 28
#define HB_MAC_LEN 32
#define HB_PAYLOAD_MAX 64
#define HB_FRAME_MIN (HB_HEADER_LEN + HB_MAC_LEN)
#define HB_FRAME_MAX (HB_HEADER_LEN + HB_PAYLOAD_MAX + HB_MAC_LEN)
#define HB_MAX_KEYS 8

enum hb_msg { HB_MSG_BEAT = 1, HB_MSG_CONTROL = 2 };

/* Why a frame was dropped; each has a counter per link. Append only (TS mirrors this list). */
enum hb_drop {
  HB_DROP_LENGTH = 0,     /* shorter/longer than the header says */
  HB_DROP_VERSION,        /* unknown version or message type */
  HB_DROP_CLUSTER,        /* another cluster's frame */
  HB_DROP_SENDER,         /* sender node id not in our node list */
  HB_DROP_KEY,            /* key id we do not hold */
  HB_DROP_MAC,            /* HMAC does not verify */
  HB_DROP_LINK,           /* signed for another link than the one it came in on */
  HB_DROP_GENERATION,     /* older boot generation than already seen from that sender */
  HB_DROP_REPLAY,         /* sequence not above the last accepted on that link */
  HB_DROP_DUPLICATE,      /* a fresh frame of another live sender with the same node id (a cloned node) */
  HB_DROP_COUNT
};

typedef struct {
  uint8_t id;
  hb_hmac_key key;
} hb_keyslot;

typedef struct {
  hb_keyslot slot[HB_MAX_KEYS];
  int n;
  int send; /* index into slot[] used for signing */
} hb_keyring;

typedef struct {
  uint8_t type, key_id, link_id;
  uint32_t cluster;
  uint16_t sender;
  uint64_t gen, seq;
  uint16_t plen;
  const uint8_t *payload; /* points into the parsed buffer */
} hb_frame;

/* Build a frame into buf (cap >= HB_FRAME_MAX). Returns its length, or -EINVAL. */
int hb_frame_build(uint8_t *buf, size_t cap, const hb_frame *f, const hb_keyring *keys);
/* Stateless checks: length, version, cluster, key, MAC. Returns 0, or -(1 + enum hb_drop). */
int hb_frame_parse(const uint8_t *buf, size_t len, uint32_t cluster, const hb_keyring *keys, hb_frame *out);

/*
 * Serial framing: 0x7E flag, frame bytes with 0x7E/0x7D escaped as 0x7D (b ^ 0x20), 0x7E flag.
 * A read that starts mid-frame, or noise, resynchronises at the next flag.
 */
#define HB_SLIP_MAX (2 * HB_FRAME_MAX + 2)
size_t hb_serial_encode(const uint8_t *in, size_t n, uint8_t *out);
typedef struct {
  uint8_t buf[HB_FRAME_MAX];
  size_t len;
  int esc;
  int overflow;
} hb_deframer;
/* Feed bytes; calls got(arg, frame, len) for each complete frame. Returns frames delivered. */
int hb_serial_feed(hb_deframer *d, const uint8_t *in, size_t n, void (*got)(void *, const uint8_t *, size_t), void *arg);

static inline void hb_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void hb_put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static inline void hb_put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }
static inline uint16_t hb_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t hb_get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline uint64_t hb_get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
#endif
