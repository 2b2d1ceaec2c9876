/* Uplink probes: ICMP echo to the ping targets, a score of how many answer. */
#include "engine_int.h"


static uint16_t icmp_sum(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static void score_update(hb_engine *e, int64_t now) {
  int up = 0, known = 0;
  for (int i = 0; i < e->nping; i++) {
    if (e->pings[i].up >= 0) known++;
    if (e->pings[i].up == 1) up++;
  }
  if (known < e->nping) return; /* every target probed once before the first score */
  int score = e->nping ? up * 100 / e->nping : 100;
  if (score == e->score) return;
  e->score = score;
  emit(e, HB_EV_SCORE, -1, -1, score, now, 0, up, NULL, 0);
}

/* Send due probes, count misses; returns the next instant something is due. */
int64_t ping_tick(hb_engine *e, int64_t now) {
  if (!e->nping || e->ping_fd < 0) return INT64_MAX;
  for (int i = 0; i < e->nping; i++) {
    ping_t *pg = &e->pings[i];
    if (pg->sent_at && now - pg->sent_at >= e->ping_timeout) {
      pg->sent_at = 0;
      if (++pg->misses >= e->ping_misses) pg->up = 0;
    }
  }
  if (now >= e->ping_next) {
    e->ping_next = now + e->ping_every;
    for (int i = 0; i < e->nping; i++) {
      ping_t *pg = &e->pings[i];
      if (pg->sent_at) continue; /* still waiting for the last one */
      /* ICMP echo request: type 8, code 0, checksum, identifier, sequence, then 8 bytes of payload */
      uint8_t pkt[16];
      memset(pkt, 0, sizeof pkt);
      pkt[0] = 8;                                   /* type: echo request */
      pkt[1] = 0;                                   /* code */
      hb_put16(pkt + 4, e->ping_id);                /* identifier: this engine */
      hb_put16(pkt + 6, ++pg->seq);                 /* sequence: this target's probe count */
      memcpy(pkt + 8, "hb-ping", 7);                /* payload, for a human reading a capture */
      hb_put16(pkt + 2, icmp_sum(pkt, sizeof pkt)); /* checksum over the whole ICMP message */
      struct sockaddr_in sa = {.sin_family = AF_INET};
      memcpy(&sa.sin_addr, pg->addr, 4);
      if (sendto(e->ping_fd, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)sizeof pkt)
        pg->sent_at = now;
      else if (++pg->misses >= e->ping_misses)
        pg->up = 0; /* no route, interface down: a miss like any other */
    }
  }
  score_update(e, now);
  int64_t next = e->ping_next;
  for (int i = 0; i < e->nping; i++)
    if (e->pings[i].sent_at && e->pings[i].sent_at + e->ping_timeout < next) next = e->pings[i].sent_at + e->ping_timeout;
  return next;
}

void ping_read(hb_engine *e) {
  uint8_t buf[1500];
  for (int k = 0; k < 32; k++) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(e->ping_fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n <= 0) break;
    hb_engine_ping_reply(e, buf, (size_t)n, (const uint8_t *)&from.sin_addr);
  }
  score_update(e, hb_monotonic_ns());
}

void hb_engine_ping_reply(hb_engine *e, const uint8_t *buf, size_t n, const uint8_t *from4) {
  /* a raw ICMP socket hands us the IPv4 header first: skip it by its own length */
  if (n < 20 || (buf[0] >> 4) != 4) return;
  size_t ihl = (size_t)(buf[0] & 15) * 4;
  if (n < ihl + 8) return;
  const uint8_t *ic = buf + ihl;
  if (ic[0] != 0 || hb_get16(ic + 4) != e->ping_id) return; /* not an echo reply to us */
  uint16_t seq = hb_get16(ic + 6);
  for (int i = 0; i < e->nping; i++) {
    ping_t *pg = &e->pings[i];
    if (memcmp(from4, pg->addr, 4) || seq != pg->seq || !pg->sent_at) continue;
    pg->sent_at = 0;
    pg->misses = 0;
    pg->up = 1;
  }
}

HB_API int32_t hb_engine_add_ping(hb_engine *e, const uint8_t *addr4, const char *ifname, int32_t interval_ms,
                                  int32_t timeout_ms, int32_t misses) {
  if (!e || e->running || !addr4 || interval_ms < 10 || timeout_ms < 1 || timeout_ms > interval_ms || misses < 1)
    return -EINVAL;
  if (e->nping == HB_MAX_PING) return -ENOSPC;
  if (e->ping_fd < 0) {
    int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) return -errno;
    e->ping_fd = fd;
  }
  ping_t *pg = &e->pings[e->nping];
  memset(pg, 0, sizeof *pg);
  memcpy(pg->addr, addr4, 4);
  pg->up = -1;
  if (ifname && *ifname) {
    pg->ifindex = (int)if_nametoindex(ifname);
    if (!pg->ifindex) return -ENODEV;
    /* one socket for every target: bound to the interface of the first that names one */
    if (setsockopt(e->ping_fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) return -errno;
  }
  e->ping_every = (int64_t)interval_ms * NS_PER_MS;
  e->ping_timeout = (int64_t)timeout_ms * NS_PER_MS;
  e->ping_misses = misses;
  return e->nping++;
}

HB_API int32_t hb_engine_watch(hb_engine *e, const char *ifname) {
  if (!e || e->running || !ifname) return -EINVAL;
  if (e->nwatch == HB_MAX_WATCH) return -ENOSPC;
  int idx = (int)if_nametoindex(ifname);
  if (!idx) return -ENODEV;
  e->watches[e->nwatch].ifindex = idx;
  e->watches[e->nwatch].carrier = -1;
  return e->nwatch++;
}
