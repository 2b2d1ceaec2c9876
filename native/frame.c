/* Heartbeat frames and serial framing: see frame.h for the layout. */
#include "frame.h"
#include <errno.h>
#include <string.h>

static const hb_keyslot *find_key(const hb_keyring *k, uint8_t id) {
  for (int i = 0; i < k->n; i++)
    if (k->slot[i].id == id) return &k->slot[i];
  return NULL;
}

int hb_frame_build(uint8_t *buf, size_t cap, const hb_frame *f, const hb_keyring *keys) {
  if (cap < HB_FRAME_MAX || f->plen > HB_PAYLOAD_MAX || keys->n == 0 || keys->send < 0 || keys->send >= keys->n) return -EINVAL;
  const hb_keyslot *k = &keys->slot[keys->send];
  buf[0] = HB_FRAME_VERSION;
  buf[1] = f->type;
  buf[2] = k->id;
  buf[3] = f->link_id;
  hb_put32(buf + 4, f->cluster);
  hb_put16(buf + 8, f->sender);
  hb_put16(buf + 10, f->plen);
  hb_put64(buf + 12, f->gen);
  hb_put64(buf + 20, f->seq);
  if (f->plen) memcpy(buf + HB_HEADER_LEN, f->payload, f->plen);
  size_t body = HB_HEADER_LEN + f->plen;
  hb_hmac_run(&k->key, buf, body, buf + body);
  return (int)(body + HB_MAC_LEN);
}

#define DROP(r) (-(1 + (r)))

int hb_frame_parse(const uint8_t *buf, size_t len, uint32_t cluster, const hb_keyring *keys, hb_frame *out) {
  if (len < HB_FRAME_MIN || len > HB_FRAME_MAX) return DROP(HB_DROP_LENGTH);
  if (buf[0] != HB_FRAME_VERSION || (buf[1] != HB_MSG_BEAT && buf[1] != HB_MSG_CONTROL)) return DROP(HB_DROP_VERSION);
  uint16_t plen = hb_get16(buf + 10);
  if (plen > HB_PAYLOAD_MAX || (size_t)HB_HEADER_LEN + plen + HB_MAC_LEN != len) return DROP(HB_DROP_LENGTH);
  if (hb_get32(buf + 4) != cluster) return DROP(HB_DROP_CLUSTER);
  const hb_keyslot *k = find_key(keys, buf[2]);
  if (!k) return DROP(HB_DROP_KEY);
  uint8_t mac[HB_MAC_LEN];
  size_t body = HB_HEADER_LEN + plen;
  hb_hmac_run(&k->key, buf, body, mac);
  if (hb_ct_diff(mac, buf + body, HB_MAC_LEN)) return DROP(HB_DROP_MAC);
  out->type = buf[1];
  out->key_id = buf[2];
  out->link_id = buf[3];
  out->cluster = cluster;
  out->sender = hb_get16(buf + 8);
  out->plen = plen;
  out->gen = hb_get64(buf + 12);
  out->seq = hb_get64(buf + 20);
  out->payload = buf + HB_HEADER_LEN;
  return 0;
}

#define FLAG 0x7E
#define ESC 0x7D

size_t hb_serial_encode(const uint8_t *in, size_t n, uint8_t *out) {
  size_t o = 0;
  out[o++] = FLAG;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == FLAG || in[i] == ESC) {
      out[o++] = ESC;
      out[o++] = in[i] ^ 0x20;
    } else {
      out[o++] = in[i];
    }
  }
  out[o++] = FLAG;
  return o;
}

int hb_serial_feed(hb_deframer *d, const uint8_t *in, size_t n, void (*got)(void *, const uint8_t *, size_t), void *arg) {
  int frames = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = in[i];
    if (b == FLAG) {
      /* a flag ends the current frame (if any) and starts the next */
      if (d->len && !d->overflow && !d->esc) {
        got(arg, d->buf, d->len);
        frames++;
      }
      d->len = 0;
      d->esc = 0;
      d->overflow = 0;
      continue;
    }
    if (b == ESC) {
      d->esc = 1;
      continue;
    }
    if (d->esc) {
      b ^= 0x20;
      d->esc = 0;
    }
    if (d->len < sizeof d->buf) d->buf[d->len++] = b;
    else d->overflow = 1; /* too long: noise; drop until the next flag */
  }
  return frames;
}
