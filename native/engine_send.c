/* Sending: the beat (with its record and heard set) and control messages, on every link; a link whose
 * sends fail is reported down locally. */
#include "engine_int.h"


static int send_one(link_t *lk, int d, const uint8_t *buf, size_t len) {
  ssize_t n;
  if (lk->kind == HB_LINK_ETHER) {
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(HB_ETHERTYPE);
    to.sll_ifindex = lk->ifindex;
    to.sll_halen = 6;
    if (lk->ndest == 0) memset(to.sll_addr, 0xff, 6);
    else memcpy(to.sll_addr, lk->dest.mac[d], 6);
    n = sendto(lk->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  } else if (lk->kind == HB_LINK_UDP) {
    n = sendto(lk->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&lk->dest.in[d], sizeof lk->dest.in[d]);
  } else {
    if (lk->fd < 0) return -EIO; /* hung up, waiting to reopen */
    uint8_t enc[HB_SLIP_MAX];
    size_t m = hb_serial_encode(buf, len, enc);
    n = write(lk->fd, enc, m);
    if (n >= 0 && (size_t)n != m) { errno = EAGAIN; n = -1; } /* line backed up: a torn frame resyncs at the next flag */
  }
  return n < 0 ? -errno : 0;
}

/* Report local link changes noted by send_all; caller must NOT hold e->mu (emit takes it). */
void report_local(hb_engine *e, int64_t now) {
  int up[HB_MAX_LINKS], err[HB_MAX_LINKS], which[HB_MAX_LINKS], n = 0;
  pthread_mutex_lock(&e->mu);
  for (int l = 0; l < e->nlinks; l++) {
    link_t *lk = &e->links[l];
    if (!lk->local_report) continue;
    lk->local_report = 0;
    which[n] = l;
    up[n] = lk->local_up;
    err[n] = lk->local_up ? 0 : lk->local_errno;
    n++;
  }
  pthread_mutex_unlock(&e->mu);
  for (int i = 0; i < n; i++) emit(e, HB_EV_LOCAL, -1, which[i], up[i], now, 0, err[i], NULL, 0);
}

/*
 * The beat's payload: the record TypeScript set, with the heard set (the peers this thread hears
 * now, up or late) written in by this thread at send time. A peer that hears us again says so in
 * its very next beat, however busy its JavaScript thread is: the one-way-loss rule must never act
 * on a record built before its sender could hear us (a partition heal).
 */
int beat_payload(hb_engine *e, uint8_t *out) {
  int len = e->record_len;
  if (len > 0) memcpy(out, e->record, (size_t)len);
  if (e->heard_off < 0 || e->heard_off + 4 > len) return len;
  uint32_t m = 0;
  for (int pi = 0; pi < e->npeers; pi++) {
    const peer_t *p = &e->peers[pi];
    if ((p->state == HB_UP || p->state == HB_LATE) && p->heard_bit >= 0) m |= 1u << p->heard_bit;
  }
  hb_put32(out + e->heard_off, m);
  return len;
}

/* Send one frame of `type` on every link; caller holds e->mu, then calls report_local. */
void send_all(hb_engine *e, uint8_t type, const uint8_t *payload, int plen) {
  for (int l = 0; l < e->nlinks; l++) {
    link_t *lk = &e->links[l];
    uint8_t buf[HB_FRAME_MAX];
    hb_frame f = {.type = type, .link_id = (uint8_t)l, .cluster = e->cluster, .sender = e->self_id,
                  .gen = e->gen, .seq = ++lk->tx_seq, .plen = (uint16_t)plen, .payload = payload};
    int len = hb_frame_build(buf, sizeof buf, &f, &e->keys);
    if (len < 0) continue;
    int dests = lk->kind == HB_LINK_ETHER ? (lk->ndest ? lk->ndest : 1) : lk->kind == HB_LINK_UDP ? lk->ndest : 1;
    int err = 0;
    for (int d = 0; d < dests; d++) {
      int rc = send_one(lk, d, buf, (size_t)len);
      if (rc < 0) { err = -rc; bump(&lk->cnt[HB_CNT_TX_ERR]); }
      else bump(&lk->cnt[HB_CNT_TX]);
    }
    if (err) {
      /* EAGAIN once is a full queue; three beats in a row is a dead path */
      lk->eagain_run = err == EAGAIN || err == ENOBUFS ? lk->eagain_run + 1 : 3;
      if (lk->local_up && lk->eagain_run >= 3) {
        lk->local_up = 0;
        lk->local_errno = err;
        lk->local_report = 1;
      }
    } else {
      lk->eagain_run = 0;
      if (!lk->local_up) {
        lk->local_up = 1;
        lk->local_report = 1;
      }
    }
  }
}

HB_API int32_t hb_engine_send_control(hb_engine *e, const uint8_t *msg, int32_t len) {
  if (!e || len < 0 || len > HB_PAYLOAD_MAX || (len && !msg)) return -EINVAL;
  if (!e->running) return -ENOTCONN;
  pthread_mutex_lock(&e->mu);
  send_all(e, HB_MSG_CONTROL, msg, len);
  pthread_mutex_unlock(&e->mu);
  report_local(e, hb_monotonic_ns());
  return 0;
}

HB_API int32_t hb_engine_set_record(hb_engine *e, const uint8_t *rec, int32_t len) {
  if (!e || len < 0 || len > HB_PAYLOAD_MAX || (len && !rec)) return -EINVAL;
  pthread_mutex_lock(&e->mu);
  int changed = len != e->record_len || (len && memcmp(e->record, rec, (size_t)len) != 0);
  if (len) memcpy(e->record, rec, (size_t)len);
  e->record_len = len;
  if (changed) __atomic_store_n(&e->record_new, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&e->mu);
  if (changed && e->running) {
    uint64_t one = 1; /* the peers learn our new state now: a handover must not wait a keepalive */
    ssize_t w = write(e->kickfd, &one, sizeof one);
    (void)w;
  }
  return 0;
}
