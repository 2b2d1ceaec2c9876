/* The heartbeat engine: see engine.h. */
#include "compat.h"
#include "engine.h"
#include "vip.h"
#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define HB_ETHERTYPE 0x88B5 /* IEEE 802 local experimental EtherType 1 */
#define QUEUE_CAP 4096
#define NS_PER_MS 1000000LL
#define TAG_TIMER 0xFFFF0001u
#define TAG_STOP 0xFFFF0002u
#define TAG_NETLINK 0xFFFF0003u
#define TAG_KICK 0xFFFF0004u
#define TAG_PING 0xFFFF0005u
#define HB_MAX_WATCH 16
#define HB_MAX_PING 8

typedef struct {
  int ifindex;
  int carrier; /* -1 unknown */
} watch_t;

typedef struct {
  uint8_t addr[4];
  int ifindex;
  uint16_t seq;       /* of the last probe sent */
  int64_t sent_at;    /* 0 = no probe outstanding */
  int misses;         /* in a row */
  int up;             /* -1 unknown at start */
} ping_t;

typedef struct {
  int kind;
  int fd;
  int ifindex;
  int udp_mode;
  int ndest;
  union {
    uint8_t mac[HB_MAX_DESTS][6];
    struct sockaddr_in in[HB_MAX_DESTS];
  } dest;
  hb_deframer deframer;
  char device[108];  /* serial: reopened after a hangup */
  speed_t speed;
  int64_t reopen_at; /* serial: 0 = open; else when to try again */
  uint64_t tx_seq;
  int local_up;      /* 1 until a send fails */
  int local_report;  /* local_up changed: report it once the mutex is released */
  int local_errno;
  int eagain_run;    /* consecutive EAGAIN */
  int carrier;       /* -1 unknown, 0, 1 */
  uint64_t cnt[HB_CNT_COUNT];
} link_t;

typedef struct {
  uint64_t seq;
  int64_t last_rx;   /* 0 = never; read by hb_engine_peer_link from another thread (atomic) */
  int state;
  uint64_t late;     /* times this link went late (atomic counter) */
  uint64_t rx;       /* frames accepted from this peer on this link (atomic counter) */
  uint64_t authfail; /* frames naming this peer as sender that failed the MAC or named a key we lack (atomic) */
  int64_t authfail_at; /* CLOCK_MONOTONIC of the last one, 0 = never (atomic) */
} peer_link_t;

typedef struct {
  uint16_t node_id;
  int heard_bit;     /* bit of this peer in the record's heard set (hb_engine_set_heard), -1 = none */
  uint64_t gen;
  /* The generation `gen` replaced, with its sequences: its replays stay dropped, and its fresh frames
   * mean a second live sender with this node id (a cloned VM). When `gen` falls silent for warntime
   * while `gen2` goes on, they swap: the node that is left is heard again, without a restart. */
  uint64_t gen2;
  uint64_t seq2[HB_MAX_LINKS];
  int fresh2;        /* fresh frames of gen2 since it was replaced */
  hb_src src, src2;  /* where the last frame of gen, and of gen2, came from */
  int64_t dup_told;  /* last HB_EV_DUPLICATE for this peer */
  int heard;         /* ever accepted a frame */
  int state;
  peer_link_t pl[HB_MAX_LINKS];
  uint8_t record[HB_PAYLOAD_MAX];
  int record_len;    /* -1 = none yet */
} peer_t;

#define HB_MAX_VIPS 64
typedef struct {
  int used, family, prefix, lifetime_s, pairs;
  char ifname[IF_NAMESIZE], label[IF_NAMESIZE];
  uint8_t addr[16];
  int64_t renew_at, burst_at, refresh_every; /* 0 = not due */
} vip_t;

struct hb_engine {
  vip_t vips[HB_MAX_VIPS]; /* guarded by mu */
  uint32_t cluster;
  uint16_t self_id;
  uint64_t gen;
  int64_t keepalive, warntime, deadtime, initdead; /* ns */
  int64_t start;
  hb_keyring keys;
  link_t links[HB_MAX_LINKS];
  int nlinks;
  peer_t peers[HB_MAX_PEERS];
  int npeers;

  pthread_mutex_t mu; /* guards: record, queue, tx (seq + socket writes), pending timing */
  int64_t pending[3];  /* keepalive, warntime, deadtime (ns) set by hb_engine_set_timing */
  int timing_new;      /* pending[] holds new values: the thread applies them at its next wake-up */
  uint8_t record[HB_PAYLOAD_MAX];
  int record_len;
  int record_new; /* changed since the last beat: send one now, not at the next keepalive */
  int heard_off;  /* the record's heard set is written here in every beat (-1 = not at all) */
  hb_event queue[QUEUE_CAP];
  int qhead, qcount, lost, notified;
  void (*notify)(void);

  watch_t watches[HB_MAX_WATCH];
  int nwatch;
  ping_t pings[HB_MAX_PING];
  int nping, ping_fd, score;
  uint16_t ping_id;
  int64_t ping_every, ping_timeout, ping_next;
  int ping_misses;
  int epfd, timerfd, stopfd, nlfd, kickfd;
  int64_t self_dup_told; /* last HB_EV_DUPLICATE about this node's own id */
  int no_pwait2; /* kernel without epoll_pwait2: use the timerfd */
  pthread_t thread;
  int running;
};

HB_API int64_t hb_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

HB_API int32_t hb_event_size(void) { return (int32_t)sizeof(hb_event); }

static void bump(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }

/* Close fd (if any) and return -errno as it was before the close. */
static int fail(int fd) {
  int err = errno;
  if (fd >= 0) close(fd);
  return -err;
}


/* ---------- events ---------- */

static void push(hb_engine *e, const hb_event *ev) {
  pthread_mutex_lock(&e->mu);
  if (e->qcount == QUEUE_CAP) {
    e->lost++;
  } else {
    e->queue[(e->qhead + e->qcount) % QUEUE_CAP] = *ev;
    e->qcount++;
  }
  int wake = !e->notified;
  e->notified = 1;
  void (*notify)(void) = e->notify;
  pthread_mutex_unlock(&e->mu);
  if (wake && notify) notify();
}

static void emit(hb_engine *e, uint32_t type, int peer, int link, int state, int64_t now, int64_t gap, int arg,
                 const uint8_t *data, int len) {
  hb_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.peer = peer;
  ev.link = link;
  ev.state = state;
  ev.t_ns = now;
  ev.gap_ns = gap;
  ev.arg = arg;
  if (data && len > 0) {
    if (len > HB_PAYLOAD_MAX) len = HB_PAYLOAD_MAX;
    memcpy(ev.data, data, (size_t)len);
    ev.len = len;
  }
  push(e, &ev);
}

HB_API int32_t hb_engine_poll(hb_engine *e, hb_event *out, int32_t max) {
  if (!e || !out || max < 1) return -EINVAL;
  int n = 0;
  pthread_mutex_lock(&e->mu);
  e->notified = 0; /* any event pushed from now on notifies again */
  if (e->lost) {
    memset(&out[n], 0, sizeof out[n]);
    out[n].type = HB_EV_OVERFLOW;
    out[n].peer = out[n].link = -1;
    out[n].arg = e->lost;
    out[n].t_ns = hb_monotonic_ns();
    e->lost = 0;
    n++;
  }
  while (n < max && e->qcount) {
    out[n++] = e->queue[e->qhead];
    e->qhead = (e->qhead + 1) % QUEUE_CAP;
    e->qcount--;
  }
  if (e->qcount) e->notified = 1; /* caller must poll again; it will, as it got a full batch */
  pthread_mutex_unlock(&e->mu);
  return n;
}

/* ---------- liveness ---------- */

static int aggregate(const hb_engine *e, const peer_t *p, int64_t now) {
  int any_late = 0;
  for (int l = 0; l < e->nlinks; l++) {
    if (p->pl[l].state == HB_UP) return HB_UP;
    if (p->pl[l].state == HB_LATE) any_late = 1;
  }
  if (any_late) return HB_LATE;
  if (p->heard || now - e->start >= e->initdead) return HB_DEAD;
  return HB_UNKNOWN;
}

static int64_t last_heard(const hb_engine *e, const peer_t *p) {
  int64_t t = 0;
  for (int l = 0; l < e->nlinks; l++)
    if (p->pl[l].last_rx > t) t = p->pl[l].last_rx;
  return t;
}

static void peer_update(hb_engine *e, int pi, int64_t now, int64_t gap_up) {
  peer_t *p = &e->peers[pi];
  int s = aggregate(e, p, now);
  if (s == p->state) return;
  int64_t last = last_heard(e, p);
  int64_t gap = s == HB_UP ? gap_up : now - (last ? last : e->start);
  int was_alive = p->state == HB_UP || p->state == HB_LATE;
  p->state = s;
  if (s == HB_DEAD) p->record_len = -1; /* when it returns, report its record again, changed or not */
  /* the heard set in our beats changed: tell the peers at once (see beat_payload) */
  if (e->heard_off >= 0 && was_alive != (s == HB_UP || s == HB_LATE)) __atomic_store_n(&e->record_new, 1, __ATOMIC_RELEASE);
  emit(e, HB_EV_PEER, pi, -1, s, now, gap, 0, NULL, 0);
}

static void link_set(hb_engine *e, int pi, int l, int s, int64_t now, int64_t gap) {
  peer_link_t *pl = &e->peers[pi].pl[l];
  if (pl->state == s) return;
  __atomic_store_n(&pl->state, s, __ATOMIC_RELAXED);
  if (s == HB_LATE) bump(&pl->late);
  emit(e, HB_EV_LINK, pi, l, s, now, gap, 0, NULL, 0);
}

/* Move silent links to late/dead; returns the next instant something may change. */
static int64_t judge(hb_engine *e, int64_t now) {
  int64_t next = INT64_MAX;
  for (int pi = 0; pi < e->npeers; pi++) {
    peer_t *p = &e->peers[pi];
    for (int l = 0; l < e->nlinks; l++) {
      peer_link_t *pl = &p->pl[l];
      int64_t due;
      if (pl->state == HB_UNKNOWN) {
        due = e->start + e->initdead;
        if (now >= due) link_set(e, pi, l, HB_DEAD, now, now - e->start);
        else if (due < next) next = due;
        continue;
      }
      if (pl->state == HB_DEAD) continue;
      int64_t silent = now - pl->last_rx;
      if (silent >= e->deadtime) {
        link_set(e, pi, l, HB_DEAD, now, silent);
        continue;
      }
      if (silent >= e->warntime && pl->state == HB_UP) link_set(e, pi, l, HB_LATE, now, silent);
      due = pl->last_rx + (pl->state == HB_LATE ? e->deadtime : e->warntime);
      if (due < next) next = due;
    }
    peer_update(e, pi, now, 0);
    if (p->state == HB_UNKNOWN && e->start + e->initdead < next) next = e->start + e->initdead;
  }
  return next;
}

void hb_engine_tick(hb_engine *e, int64_t now) { (void)judge(e, now); }

/* ---------- receive ---------- */

static void fmt_src(const hb_src *s, char *out, size_t cap) {
  const uint8_t *a = s->a;
  if (s->family == AF_INET) snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
  else if (s->family == AF_PACKET) snprintf(out, cap, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
  else snprintf(out, cap, "serial");
}

/* At most one duplicate report a second per node: a clone beats as often as the node itself. */
static void report_duplicate(hb_engine *e, int pi, int link, int64_t now, const hb_src *a, const hb_src *b) {
  int64_t *told = pi < 0 ? &e->self_dup_told : &e->peers[pi].dup_told;
  if (*told && now - *told < 1000 * NS_PER_MS) return;
  *told = now;
  char sa[24] = "", sb[24], text[HB_PAYLOAD_MAX];
  if (a) fmt_src(a, sa, sizeof sa);
  fmt_src(b, sb, sizeof sb);
  int n = snprintf(text, sizeof text, "%s%s%s", sa, a ? " " : "", sb);
  emit(e, HB_EV_DUPLICATE, pi, link, 0, now, 0, 0, (const uint8_t *)text, n < 0 ? 0 : n >= (int)sizeof text ? (int)sizeof text - 1 : n);
}

/* A frame of an older generation than the one in use. Returns 1 if it is to be accepted (the sender in
 * use fell silent and this one goes on: they swap), else 0 (counted). */
static int older_generation(hb_engine *e, int pi, int link, const hb_frame *f, int64_t now, const hb_src *src) {
  peer_t *p = &e->peers[pi];
  link_t *lk = &e->links[link];
  if (!p->gen2 || f->gen != p->gen2 || f->seq <= p->seq2[link]) { bump(&lk->cnt[HB_DROP_GENERATION]); return 0; }
  /* fresh: a second live sender claims this node (one stray frame after a restart is not yet one) */
  p->seq2[link] = f->seq;
  p->src2 = *src;
  p->fresh2++;
  int64_t last = last_heard(e, p);
  if (last && now - last >= e->warntime) {
    uint64_t g = p->gen;
    for (int l = 0; l < HB_MAX_LINKS; l++) {
      uint64_t q = p->pl[l].seq;
      __atomic_store_n(&p->pl[l].seq, l == link ? f->seq - 1 : p->seq2[l], __ATOMIC_RELAXED); /* accepted just below */
      p->seq2[l] = q;
    }
    __atomic_store_n(&p->gen, p->gen2, __ATOMIC_RELEASE); /* after the sequences: see hb_engine_peer_seen */
    p->gen2 = g;
    p->fresh2 = 0;
    p->src2 = p->src;
    p->record_len = -1; /* the sender that is left: report its record */
    return 1;
  }
  bump(&lk->cnt[HB_DROP_DUPLICATE]);
  if (p->fresh2 >= 2) report_duplicate(e, pi, link, now, &p->src, &p->src2);
  return 0;
}

void hb_engine_datagram(hb_engine *e, int link, const uint8_t *buf, size_t n, size_t cap, int64_t now, const hb_src *src) {
  if (n > cap) { bump(&e->links[link].cnt[HB_DROP_LENGTH]); return; } /* MSG_TRUNC: longer than any frame */
  hb_engine_feed(e, link, buf, n, now, src);
}

void hb_engine_feed(hb_engine *e, int link, const uint8_t *buf, size_t len, int64_t now, const hb_src *from) {
  link_t *lk = &e->links[link];
  static const hb_src unknown = {0, {0}};
  const hb_src *src = from ? from : &unknown;
  /* Our own frame looped back (a BPF filter usually spares us this): ignore it before the HMAC. One that
   * names us with another generation is checked: signed with our key, it is a second node with our id. */
  if (len >= HB_HEADER_LEN && hb_get16(buf + 8) == e->self_id && buf[0] == HB_FRAME_VERSION) {
    hb_frame me;
    if (hb_get64(buf + 12) == e->gen || hb_frame_parse(buf, len, e->cluster, &e->keys, &me) < 0) {
      bump(&lk->cnt[HB_CNT_SELF]);
      return;
    }
    bump(&lk->cnt[HB_DROP_DUPLICATE]);
    report_duplicate(e, -1, link, now, NULL, src);
    return;
  }
  hb_frame f;
  int rc = hb_frame_parse(buf, len, e->cluster, &e->keys, &f);
  if (rc < 0) {
    bump(&lk->cnt[-rc - 1]);
    /* a frame of our cluster naming a listed node that fails authentication: most often keys that
     * differ between the nodes; counted per peer so the operator is told which one (the sender field is
     * unauthenticated: a forger can blame a node, never make one look alive) */
    if ((rc == -(1 + HB_DROP_MAC) || rc == -(1 + HB_DROP_KEY)) && len >= HB_HEADER_LEN)
      for (int i = 0; i < e->npeers; i++)
        if (e->peers[i].node_id == hb_get16(buf + 8)) {
          bump(&e->peers[i].pl[link].authfail);
          __atomic_store_n(&e->peers[i].pl[link].authfail_at, now, __ATOMIC_RELAXED);
        }
    return;
  }
  int pi = -1;
  for (int i = 0; i < e->npeers; i++)
    if (e->peers[i].node_id == f.sender) pi = i;
  if (pi < 0) { bump(&lk->cnt[HB_DROP_SENDER]); return; }
  if (f.link_id != link) { bump(&lk->cnt[HB_DROP_LINK]); return; }
  peer_t *p = &e->peers[pi];
  if (f.gen < p->gen && !older_generation(e, pi, link, &f, now, src)) return;
  if (f.gen > p->gen) {
    /* the peer restarted (or a second sender with its id appeared): a new sequence space on every link */
    if (p->gen) {
      p->gen2 = p->gen;
      for (int l = 0; l < HB_MAX_LINKS; l++) p->seq2[l] = p->pl[l].seq;
      p->fresh2 = 0;
      p->src2 = p->src;
    }
    for (int l = 0; l < HB_MAX_LINKS; l++) __atomic_store_n(&p->pl[l].seq, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->gen, f.gen, __ATOMIC_RELEASE); /* after the sequences: see hb_engine_peer_seen */
    p->record_len = -1; /* whoever sends now, its record is reported */
  }
  peer_link_t *pl = &p->pl[link];
  if (f.seq <= pl->seq) { bump(&lk->cnt[HB_DROP_REPLAY]); return; }
  __atomic_store_n(&pl->seq, f.seq, __ATOMIC_RELAXED);
  p->src = *src;
  bump(&lk->cnt[HB_CNT_RX]);

  int64_t gap_link = pl->last_rx ? now - pl->last_rx : 0;
  int64_t last = last_heard(e, p);
  int64_t gap_peer = last ? now - last : 0;
  __atomic_store_n(&pl->last_rx, now, __ATOMIC_RELAXED);
  bump(&pl->rx);
  p->heard = 1;
  link_set(e, pi, link, HB_UP, now, gap_link);
  peer_update(e, pi, now, gap_peer);

  if (f.type == HB_MSG_BEAT) {
    if (p->record_len != f.plen || memcmp(p->record, f.payload, f.plen) != 0) {
      memcpy(p->record, f.payload, f.plen);
      p->record_len = f.plen;
      emit(e, HB_EV_RECORD, pi, link, 0, now, 0, 0, f.payload, f.plen);
    }
  } else if (f.type == HB_MSG_CONTROL) {
    emit(e, HB_EV_CONTROL, pi, link, 0, now, 0, 0, f.payload, f.plen);
  }
}

static void on_serial_frame(void *arg, const uint8_t *buf, size_t len) {
  void **a = arg;
  hb_engine *e = a[0];
  int link = (int)(intptr_t)a[1];
  hb_engine_feed(e, link, buf, len, hb_monotonic_ns(), NULL);
}

static int serial_open(const char *device, speed_t sp) {
  int fd = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct termios t;
  if (tcgetattr(fd, &t) < 0) return fail(fd);
  cfmakeraw(&t);
  t.c_cflag |= CLOCAL | CREAD;
  t.c_cflag &= ~(tcflag_t)CRTSCTS;
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  cfsetispeed(&t, sp);
  cfsetospeed(&t, sp);
  if (tcsetattr(fd, TCSANOW, &t) < 0) return fail(fd);
  tcflush(fd, TCIOFLUSH);
  return fd;
}

/* A serial device hung up (pty closed, USB adapter unplugged): stop polling it, retry in a second. */
static void serial_hangup(hb_engine *e, int l, int64_t now) {
  link_t *lk = &e->links[l];
  epoll_ctl(e->epfd, EPOLL_CTL_DEL, lk->fd, NULL);
  pthread_mutex_lock(&e->mu);
  close(lk->fd);
  lk->fd = -1;
  lk->reopen_at = now + 1000 * NS_PER_MS;
  memset(&lk->deframer, 0, sizeof lk->deframer);
  pthread_mutex_unlock(&e->mu);
}

static void serial_retry(hb_engine *e, int64_t now) {
  for (int l = 0; l < e->nlinks; l++) {
    link_t *lk = &e->links[l];
    if (lk->kind != HB_LINK_SERIAL || !lk->reopen_at || now < lk->reopen_at) continue;
    int fd = serial_open(lk->device, lk->speed);
    if (fd < 0) { lk->reopen_at = now + 1000 * NS_PER_MS; continue; }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)l};
    pthread_mutex_lock(&e->mu);
    lk->fd = fd;
    lk->reopen_at = 0;
    pthread_mutex_unlock(&e->mu);
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
  }
}

#define RX_BATCH 16
#define RX_CAP 256 /* more than any frame: a longer datagram is cut (MSG_TRUNC) and dropped as such */

/* A datagram socket: up to RX_BATCH frames per wake-up in one call (epoll is level-triggered, so a
 * longer queue reports again at once): a flood costs one system call per batch, not per frame. */
static void drain_dgram(hb_engine *e, int l) {
  link_t *lk = &e->links[l];
  uint8_t buf[RX_BATCH][RX_CAP];
  struct sockaddr_storage ss[RX_BATCH];
  struct iovec iov[RX_BATCH];
  struct mmsghdr m[RX_BATCH];
  memset(m, 0, sizeof m);
  for (int i = 0; i < RX_BATCH; i++) {
    iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = RX_CAP};
    ss[i].ss_family = 0;
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
    m[i].msg_hdr.msg_name = &ss[i];
    m[i].msg_hdr.msg_namelen = sizeof ss[i];
  }
  int got = recvmmsg(lk->fd, m, RX_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
  if (got <= 0) return; /* EAGAIN, or an error the next send will report */
  int64_t now = hb_monotonic_ns();
  for (int i = 0; i < got; i++) {
    hb_src src = {ss[i].ss_family, {0}};
    if (ss[i].ss_family == AF_INET) memcpy(src.a, &((struct sockaddr_in *)&ss[i])->sin_addr, 4);
    else if (ss[i].ss_family == AF_PACKET) memcpy(src.a, ((struct sockaddr_ll *)&ss[i])->sll_addr, 6);
    size_t n = (m[i].msg_hdr.msg_flags & MSG_TRUNC) && m[i].msg_len <= RX_CAP ? RX_CAP + 1 : m[i].msg_len;
    hb_engine_datagram(e, l, buf[i], n, RX_CAP, now, &src);
  }
}

/* A tty: read until it has nothing, bounded so the timers are never starved. */
static void drain(hb_engine *e, int l) {
  link_t *lk = &e->links[l];
  if (lk->kind != HB_LINK_SERIAL) {
    drain_dgram(e, l);
    return;
  }
  uint8_t buf[2048];
  for (int i = 0; i < 64; i++) {
    ssize_t n = read(lk->fd, buf, sizeof buf);
    /* (a raw tty with VMIN=0 reads 0 when it has no data: that is not an end of file) */
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      serial_hangup(e, l, hb_monotonic_ns());
      return;
    }
    if (n <= 0) return;
    void *arg[2] = {e, (void *)(intptr_t)l};
    hb_serial_feed(&lk->deframer, buf, (size_t)n, on_serial_frame, arg);
  }
}

/* ---------- send ---------- */

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
static void report_local(hb_engine *e, int64_t now) {
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
static int beat_payload(hb_engine *e, uint8_t *out) {
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
static void send_all(hb_engine *e, uint8_t type, const uint8_t *payload, int plen) {
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

/* ---------- VIP lease and announcements ---------- */

HB_API int32_t hb_engine_vip(hb_engine *e, int32_t on, int32_t family, const char *ifname, const uint8_t *addr,
                             int32_t prefix, const char *label, int32_t lifetime_s, int32_t pairs, int32_t second_ms,
                             int32_t refresh_ms) {
  int alen = family == 4 ? 4 : family == 6 ? 16 : -1;
  if (!e || alen < 0 || !ifname || !addr || strlen(ifname) >= IF_NAMESIZE || (label && strlen(label) >= IF_NAMESIZE) ||
      lifetime_s < 0 || pairs < 0 || second_ms < 0 || refresh_ms < 0)
    return -EINVAL;
  int64_t now = hb_monotonic_ns();
  int rc = -ENOENT;
  pthread_mutex_lock(&e->mu);
  int slot = -1;
  for (int i = 0; i < HB_MAX_VIPS; i++) {
    vip_t *v = &e->vips[i];
    if (v->used && v->family == family && !memcmp(v->addr, addr, (size_t)alen) && !strcmp(v->ifname, ifname)) slot = i;
  }
  if (!on) {
    if (slot >= 0) { e->vips[slot].used = 0; rc = 0; }
  } else {
    if (slot < 0)
      for (int i = 0; i < HB_MAX_VIPS && slot < 0; i++)
        if (!e->vips[i].used) slot = i;
    if (slot < 0) {
      rc = -ENOSPC;
    } else {
      vip_t *v = &e->vips[slot];
      memset(v, 0, sizeof *v);
      v->used = 1;
      v->family = family;
      v->prefix = prefix;
      v->lifetime_s = lifetime_s;
      v->pairs = pairs;
      strcpy(v->ifname, ifname);
      if (label) strcpy(v->label, label);
      memcpy(v->addr, addr, (size_t)alen);
      int64_t every = (int64_t)lifetime_s * 1000000000LL / 3;
      if (lifetime_s > 0) v->renew_at = now + (every > 0 ? every : 1000000000LL);
      if (pairs > 0 && second_ms > 0) v->burst_at = now + second_ms * NS_PER_MS;
      v->refresh_every = refresh_ms * NS_PER_MS;
      if (pairs > 0 && refresh_ms > 0 && !v->burst_at) v->burst_at = now + v->refresh_every;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&e->mu);
  if (rc == 0 && e->running) {
    uint64_t one = 1; /* wake the thread so it plans the new deadlines */
    ssize_t w = write(e->kickfd, &one, sizeof one);
    (void)w;
  }
  return rc;
}

/* Renew leases and send bursts that are due; returns the next instant something is due. */
static int64_t vip_tick(hb_engine *e, int64_t now) {
  int64_t next = INT64_MAX;
  for (int i = 0; i < HB_MAX_VIPS; i++) {
    pthread_mutex_lock(&e->mu);
    vip_t v = e->vips[i]; /* a copy: the netlink call runs without the lock */
    pthread_mutex_unlock(&e->mu);
    if (!v.used) continue;
    int renew = v.renew_at && now >= v.renew_at, burst = v.burst_at && now >= v.burst_at;
    if (renew) {
      int rc = hb_addr_add(v.family, v.ifname, v.addr, v.prefix, v.label, v.lifetime_s, 1);
      if (rc < 0) emit(e, HB_EV_VIP, -1, -1, 1, now, 0, -rc, v.addr, v.family == 4 ? 4 : 16);
    }
    if (burst) {
      int rc = hb_announce(v.family, v.ifname, v.addr, v.pairs);
      if (rc < 0) emit(e, HB_EV_VIP, -1, -1, 2, now, 0, -rc, v.addr, v.family == 4 ? 4 : 16);
    }
    pthread_mutex_lock(&e->mu);
    vip_t *cur = &e->vips[i];
    if (cur->used && !memcmp(cur->addr, v.addr, 16) && !strcmp(cur->ifname, v.ifname)) {
      if (renew) {
        int64_t every = (int64_t)cur->lifetime_s * 1000000000LL / 3;
        cur->renew_at = now + (every > 0 ? every : 1000000000LL);
      }
      if (burst) cur->burst_at = cur->refresh_every ? now + cur->refresh_every : 0;
      if (cur->renew_at && cur->renew_at < next) next = cur->renew_at;
      if (cur->burst_at && cur->burst_at < next) next = cur->burst_at;
    }
    pthread_mutex_unlock(&e->mu);
  }
  return next;
}

/* ---------- carrier (rtnetlink) ---------- */

/* Ask for every link's state: the answers arrive as RTM_NEWLINK, like the events. */
static int link_dump(int fd) {
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.i.ifi_family = AF_UNSPEC;
  return send(fd, &req, sizeof req, 0) < 0 ? -errno : 0;
}

static void netlink_read(hb_engine *e) {
  _Alignas(struct nlmsghdr) uint8_t buf[16384];
  for (int i = 0; i < 16; i++) {
    int n = hb_nl_recv(e->nlfd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == -ENOBUFS || n == -EMSGSIZE) { (void)link_dump(e->nlfd); continue; } /* events lost: read the state again */
    if (n < 0) return;
    hb_engine_netlink(e, buf, n);
  }
}

void hb_engine_netlink(hb_engine *e, const uint8_t *buf, int n) {
  for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type != RTM_NEWLINK || !hb_nl_fits(h, sizeof(struct ifinfomsg))) continue;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    int carrier = (ifi->ifi_flags & IFF_LOWER_UP) && (ifi->ifi_flags & IFF_UP) ? 1 : 0;
    for (int l = 0; l < e->nlinks; l++) {
      link_t *lk = &e->links[l];
      if (lk->kind == HB_LINK_SERIAL || lk->ifindex != ifi->ifi_index || lk->carrier == carrier) continue;
      lk->carrier = carrier;
      emit(e, HB_EV_CARRIER, -1, l, carrier, hb_monotonic_ns(), 0, 0, NULL, 0);
    }
    for (int w = 0; w < e->nwatch; w++) {
      watch_t *wt = &e->watches[w];
      if (wt->ifindex != ifi->ifi_index || wt->carrier == carrier) continue;
      wt->carrier = carrier;
      emit(e, HB_EV_IFACE, -1, -1, carrier, hb_monotonic_ns(), 0, w, NULL, 0);
    }
  }
}

static int netlink_open(hb_engine *e) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int err = errno; close(fd); return -err; }
  int rc = link_dump(fd);
  if (rc < 0) { close(fd); return rc; }
  e->nlfd = fd;
  return 0;
}


/* ---------- uplink probes (ICMP echo) ---------- */

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
static int64_t ping_tick(hb_engine *e, int64_t now) {
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

static void ping_read(hb_engine *e) {
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

/* ---------- the thread ---------- */

static void arm(hb_engine *e, int64_t at) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (at < 1) at = 1;
  its.it_value.tv_sec = at / 1000000000LL;
  its.it_value.tv_nsec = at % 1000000000LL;
  timerfd_settime(e->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/*
 * Sleep until `deadline` or an event. epoll_pwait2 (Linux 5.11) takes a nanosecond timeout:
 * one system call per wake-up. On older kernels, a timerfd re-armed for each sleep does it.
 * glibc gained epoll_pwait2 only in 2.35, so it is called by number (2.17 is our floor).
 */
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
static int wait_until(hb_engine *e, int64_t deadline, struct epoll_event *evs, int max) {
  if (!e->no_pwait2) {
    int64_t left = deadline - hb_monotonic_ns();
    if (left < 0) left = 0;
    struct timespec ts = {.tv_sec = left / 1000000000LL, .tv_nsec = left % 1000000000LL};
    long n = syscall(SYS_epoll_pwait2, e->epfd, evs, max, &ts, NULL, 0);
    if (n >= 0 || errno != ENOSYS) return (int)n;
    e->no_pwait2 = 1;
  }
  arm(e, deadline);
  return epoll_wait(e->epfd, evs, max, -1);
}

static void *run(void *arg) {
  hb_engine *e = arg;
  int64_t next_send = hb_monotonic_ns();
  int heard = 0; /* the last wake-up read a frame */
  for (;;) {
    int64_t now = hb_monotonic_ns();
    if (__atomic_load_n(&e->timing_new, __ATOMIC_ACQUIRE)) {
      /* new timing (hb reload): applies from now; a shorter keepalive takes effect at once */
      pthread_mutex_lock(&e->mu);
      e->keepalive = e->pending[0];
      e->warntime = e->pending[1];
      e->deadtime = e->pending[2];
      __atomic_store_n(&e->timing_new, 0, __ATOMIC_RELEASE);
      pthread_mutex_unlock(&e->mu);
      if (next_send > now + e->keepalive) next_send = now + e->keepalive;
    }
    /* Awake anyway for a peer's frame and our beat is due within a quarter keepalive: send now.
     * The nodes fall into step and share wake-ups (each costs far more than the work, in a VM).
     * Sending early never makes a beat late; intervals stay within [0.75, 1] x keepalive. */
    int due = now >= next_send || (heard && next_send - now <= e->keepalive / 4);
    /* a changed record goes out at once, in an extra beat that leaves the schedule as it was */
    int record_new = __atomic_load_n(&e->record_new, __ATOMIC_ACQUIRE); /* no lock on every wake-up */
    if (due || record_new) {
      pthread_mutex_lock(&e->mu);
      uint8_t payload[HB_PAYLOAD_MAX];
      send_all(e, HB_MSG_BEAT, payload, beat_payload(e, payload));
      __atomic_store_n(&e->record_new, 0, __ATOMIC_RELEASE);
      pthread_mutex_unlock(&e->mu);
      report_local(e, now);
    }
    if (due) {
      next_send = now >= next_send ? next_send + e->keepalive : now + e->keepalive;
      if (next_send <= now) next_send = now + e->keepalive; /* after a stall: no burst of beats */
      serial_retry(e, now);
    }
    int64_t next = judge(e, now);
    if (next_send < next) next = next_send;
    int64_t vnext = vip_tick(e, now);
    if (vnext < next) next = vnext;
    int64_t pnext = ping_tick(e, now);
    if (pnext < next) next = pnext;
    struct epoll_event evs[HB_MAX_LINKS + 4];
    int n = wait_until(e, next, evs, HB_MAX_LINKS + 4);
    heard = 0;
    if (n < 0 && errno != EINTR) {
      emit(e, HB_EV_STOPPED, -1, -1, 0, hb_monotonic_ns(), 0, errno, NULL, 0);
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      uint32_t tag = evs[i].data.u32;
      if (tag == TAG_STOP) {
        emit(e, HB_EV_STOPPED, -1, -1, 0, hb_monotonic_ns(), 0, 0, NULL, 0);
        return NULL;
      }
      if (tag == TAG_TIMER || tag == TAG_KICK) {
        uint64_t x;
        ssize_t r = read(tag == TAG_TIMER ? e->timerfd : e->kickfd, &x, sizeof x);
        (void)r;
      } else if (tag == TAG_PING) {
        ping_read(e);
      } else if (tag == TAG_NETLINK) {
        netlink_read(e);
      } else if (tag < (uint32_t)e->nlinks) {
        if (e->links[tag].kind == HB_LINK_SERIAL && (evs[i].events & (EPOLLHUP | EPOLLERR)) && e->links[tag].fd >= 0)
          serial_hangup(e, (int)tag, hb_monotonic_ns()); /* the other end went away: no busy loop on HUP */
        else {
          drain(e, (int)tag);
          heard = 1;
        }
      }
    }
  }
}

/* ---------- set-up ---------- */

HB_API hb_engine *hb_engine_new(uint32_t cluster, int32_t self_id, uint64_t generation, int32_t keepalive_ms,
                                int32_t warntime_ms, int32_t deadtime_ms, int32_t initdead_ms) {
  if (self_id < 1 || self_id > 65535 || keepalive_ms < 1 || warntime_ms <= keepalive_ms || deadtime_ms <= warntime_ms ||
      initdead_ms < deadtime_ms) {
    errno = EINVAL;
    return NULL;
  }
  hb_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->cluster = cluster;
  e->self_id = (uint16_t)self_id;
  e->gen = generation;
  e->heard_off = -1;
  e->keepalive = keepalive_ms * NS_PER_MS;
  e->warntime = warntime_ms * NS_PER_MS;
  e->deadtime = deadtime_ms * NS_PER_MS;
  e->initdead = initdead_ms * NS_PER_MS;
  e->epfd = e->timerfd = e->stopfd = e->nlfd = e->kickfd = e->ping_fd = -1;
  e->score = -1;
  e->ping_id = (uint16_t)(getpid() ^ (cluster >> 16) ^ cluster);
  e->keys.send = -1;
  pthread_mutex_init(&e->mu, NULL);
  return e;
}

HB_API int32_t hb_engine_add_key(hb_engine *e, int32_t id, const uint8_t *key, int32_t len) {
  if (!e || e->running || id < 1 || id > 255 || len < 1 || !key) return -EINVAL;
  if (e->keys.n == HB_MAX_KEYS) return -ENOSPC;
  for (int i = 0; i < e->keys.n; i++)
    if (e->keys.slot[i].id == id) return -EEXIST;
  e->keys.slot[e->keys.n].id = (uint8_t)id;
  hb_hmac_prepare(&e->keys.slot[e->keys.n].key, key, (size_t)len);
  e->keys.n++;
  return 0;
}

HB_API int32_t hb_engine_set_send_key(hb_engine *e, int32_t id) {
  if (!e) return -EINVAL;
  for (int i = 0; i < e->keys.n; i++)
    if (e->keys.slot[i].id == id) {
      pthread_mutex_lock(&e->mu);
      e->keys.send = i;
      pthread_mutex_unlock(&e->mu);
      return 0;
    }
  return -ENOENT;
}

HB_API int32_t hb_engine_add_peer(hb_engine *e, int32_t node_id) {
  if (!e || e->running || node_id < 1 || node_id > 65535 || node_id == e->self_id) return -EINVAL;
  if (e->npeers == HB_MAX_PEERS) return -ENOSPC;
  peer_t *p = &e->peers[e->npeers];
  memset(p, 0, sizeof *p);
  p->node_id = (uint16_t)node_id;
  p->heard_bit = -1;
  p->record_len = -1;
  return e->npeers++;
}

HB_API int32_t hb_engine_peer_floor(hb_engine *e, int32_t peer, uint64_t gen, const uint64_t *seqs, int32_t n) {
  if (!e || e->running || peer < 0 || peer >= e->npeers || n < 0 || n > HB_MAX_LINKS || (n && !seqs)) return -EINVAL;
  peer_t *p = &e->peers[peer];
  p->gen = gen;
  for (int l = 0; l < n; l++) p->pl[l].seq = seqs[l];
  return 0;
}

HB_API int32_t hb_engine_peer_seen(hb_engine *e, int32_t peer, uint64_t *out, int32_t n) {
  if (!e || !out || peer < 0 || peer >= e->npeers || n < 1 + e->nlinks) return -EINVAL;
  peer_t *p = &e->peers[peer];
  /* The generation is stored after the sequences that belong to it: read it before and after them,
   * and again if a new one came in between, so the sequences are never another generation's. */
  for (int tries = 0; tries < 100; tries++) {
    uint64_t g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
    for (int l = 0; l < e->nlinks; l++) out[1 + l] = __atomic_load_n(&p->pl[l].seq, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&p->gen, __ATOMIC_RELAXED) == g) {
      out[0] = g;
      return 1 + e->nlinks;
    }
  }
  return -EAGAIN;
}

HB_API int32_t hb_engine_set_heard(hb_engine *e, int32_t offset, const int32_t *bits, int32_t n) {
  if (!e || e->running || offset < 0 || offset + 4 > HB_PAYLOAD_MAX || n != e->npeers || (n && !bits)) return -EINVAL;
  for (int i = 0; i < n; i++)
    if (bits[i] < 0 || bits[i] > 31) return -EINVAL;
  for (int i = 0; i < n; i++) e->peers[i].heard_bit = bits[i];
  e->heard_off = offset;
  return 0;
}

static link_t *new_link(hb_engine *e, int kind) {
  if (e->nlinks == HB_MAX_LINKS) return NULL;
  link_t *lk = &e->links[e->nlinks];
  memset(lk, 0, sizeof *lk);
  lk->kind = kind;
  lk->fd = -1;
  lk->local_up = 1;
  lk->carrier = -1;
  return lk;
}


/*
 * Classic BPF, so a socket wakes only for frames that could be ours: our version and cluster, a
 * length a frame can have, and a listed peer as sender. Floods of anything else cost the engine
 * thread nothing. Our own frames (looped back: our node id and generation) are dropped too; a frame
 * with our node id and another generation passes: signed with our key, it is a second node claiming
 * our id (a cloned VM), which C reports.
 * off: where the frame starts in what the filter sees (0 for a SOCK_DGRAM packet socket,
 * whose filter starts after the Ethernet header; 8 for a UDP socket, whose filter sees
 * the UDP header first).
 */
static int attach_filter(hb_engine *e, int fd, uint32_t off) {
  struct sock_filter code[16 + HB_MAX_PEERS];
  int n = 0;
#define ST(c, k) code[n++] = (struct sock_filter)BPF_STMT(c, k)
#define JMP(c, k, t, f) code[n++] = (struct sock_filter)BPF_JUMP(c, k, t, f)
  /* the jumps below name their targets by label; ACCEPT and DROP are the last two statements */
  int np = e->npeers;
  int accept = 13 + np, drop = accept + 1;
  ST(BPF_LD | BPF_W | BPF_LEN, 0);                                                       /* 0: A = length */
  JMP(BPF_JMP | BPF_JGE | BPF_K, off + HB_FRAME_MIN, 0, (uint8_t)(drop - 2));            /* 1: too short  */
  JMP(BPF_JMP | BPF_JGT | BPF_K, off + HB_FRAME_MAX, (uint8_t)(drop - 3), 0);            /* 2: too long   */
  ST(BPF_LD | BPF_B | BPF_ABS, off + 0);                                                 /* 3: version    */
  JMP(BPF_JMP | BPF_JEQ | BPF_K, HB_FRAME_VERSION, 0, (uint8_t)(drop - 5));              /* 4             */
  ST(BPF_LD | BPF_W | BPF_ABS, off + 4);                                                 /* 5: cluster id */
  JMP(BPF_JMP | BPF_JEQ | BPF_K, e->cluster, 0, (uint8_t)(drop - 7));                    /* 6             */
  ST(BPF_LD | BPF_H | BPF_ABS, off + 8);                                                 /* 7: sender     */
  for (int i = 0; i < np; i++)                                                            /* 8..: a peer   */
    JMP(BPF_JMP | BPF_JEQ | BPF_K, e->peers[i].node_id, (uint8_t)(accept - (8 + i) - 1), 0);
  JMP(BPF_JMP | BPF_JEQ | BPF_K, e->self_id, 0, (uint8_t)(drop - (8 + np) - 1));         /* neither: drop */
  ST(BPF_LD | BPF_W | BPF_ABS, off + 12);                                                /* our id: generation */
  JMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(e->gen >> 32), 0, (uint8_t)(accept - (10 + np) - 1));
  ST(BPF_LD | BPF_W | BPF_ABS, off + 16);
  JMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)e->gen, (uint8_t)(drop - (12 + np) - 1), 0);  /* ours: drop */
  ST(BPF_RET | BPF_K, 0xFFFF);                                                           /* accept whole */
  ST(BPF_RET | BPF_K, 0);                                                                /* drop         */
#undef ST
#undef JMP
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

HB_API int32_t hb_engine_add_ether(hb_engine *e, const char *ifname, const uint8_t *dest_macs, int32_t ndest) {
  if (!e || e->running || !ifname || ndest < 0 || ndest > HB_MAX_DESTS || (ndest && !dest_macs)) return -EINVAL;
  link_t *lk = new_link(e, HB_LINK_ETHER);
  if (!lk) return -ENOSPC;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(HB_ETHERTYPE));
  if (fd < 0) return fail(-1);
  if (attach_filter(e, fd, 0) < 0) return fail(fd);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(HB_ETHERTYPE);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) return fail(fd);
  int one = 1, prio = 6; /* TC_PRIO_INTERACTIVE: ahead of bulk traffic in the qdisc */
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one); /* kernel >= 4.20; else self frames are counted */
  setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof prio);
  lk->fd = fd;
  lk->ifindex = ifindex;
  lk->ndest = ndest;
  for (int i = 0; i < ndest; i++) memcpy(lk->dest.mac[i], dest_macs + 6 * i, 6);
  return e->nlinks++;
}

HB_API int32_t hb_engine_add_udp(hb_engine *e, const char *ifname, int32_t mode, int32_t port, int32_t ttl,
                                 const uint8_t *dests, int32_t ndest) {
  if (!e || e->running || !ifname || port < 1 || port > 65535 || ttl < 1 || ttl > 255 || ndest < 0 ||
      ndest > HB_MAX_DESTS || (ndest && !dests) || mode < HB_UDP_BROADCAST || mode > HB_UDP_UNICAST ||
      (mode != HB_UDP_BROADCAST && ndest < 1) || (mode == HB_UDP_MULTICAST && ndest != 1))
    return -EINVAL;
  link_t *lk = new_link(e, HB_LINK_UDP);
  if (!lk) return -ENOSPC;
  int ifindex = (int)if_nametoindex(ifname);
  if (!ifindex) return -ENODEV;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1);
  int one = 1, tos = 0xc0, prio = 6; /* DSCP CS6 (network control) */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return fail(fd);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) return fail(fd);
  if (attach_filter(e, fd, 8) < 0) return fail(fd);
  setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof prio);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&any, sizeof any) < 0) return fail(fd);
  lk->udp_mode = mode;
  if (mode == HB_UDP_BROADCAST) {
    if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) return fail(fd);
    lk->ndest = 1;
    lk->dest.in[0] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_BROADCAST)}};
  } else {
    lk->ndest = ndest;
    for (int i = 0; i < ndest; i++) {
      lk->dest.in[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
      memcpy(&lk->dest.in[i].sin_addr, dests + 4 * i, 4);
    }
    if (mode == HB_UDP_MULTICAST) {
      struct ip_mreqn mr;
      memset(&mr, 0, sizeof mr);
      memcpy(&mr.imr_multiaddr, dests, 4);
      mr.imr_ifindex = ifindex;
      unsigned char t = (unsigned char)ttl, loop = 0;
      if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) return fail(fd);
      if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) < 0) return fail(fd);
      if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof t) < 0) return fail(fd);
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    }
  }
  lk->fd = fd;
  lk->ifindex = ifindex;
  return e->nlinks++;
}

static speed_t baud_const(int baud) {
  switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    default: return 0;
  }
}

HB_API int32_t hb_engine_add_serial(hb_engine *e, const char *device, int32_t baud) {
  speed_t sp = baud_const(baud);
  if (!e || e->running || !device || !sp) return -EINVAL;
  if (strlen(device) >= sizeof e->links[0].device) return -ENAMETOOLONG;
  link_t *lk = new_link(e, HB_LINK_SERIAL);
  if (!lk) return -ENOSPC;
  int fd = serial_open(device, sp);
  if (fd < 0) return fd;
  strcpy(lk->device, device);
  lk->speed = sp;
  lk->fd = fd;
  lk->carrier = 1;
  return e->nlinks++;
}

HB_API int32_t hb_engine_start(hb_engine *e, void (*notify)(void)) {
  if (!e || e->running || e->nlinks == 0 || e->keys.n == 0) return -EINVAL;
  if (e->keys.send < 0) e->keys.send = 0;
  e->notify = notify;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  e->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  e->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->epfd < 0 || e->timerfd < 0 || e->stopfd < 0 || e->kickfd < 0) return -errno;
  int nl = netlink_open(e); /* carrier reports are best effort */
  (void)nl;
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u32 = TAG_TIMER;
  epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->timerfd, &ev);
  ev.data.u32 = TAG_STOP;
  epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->stopfd, &ev);
  ev.data.u32 = TAG_KICK;
  epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->kickfd, &ev);
  if (e->nlfd >= 0) {
    ev.data.u32 = TAG_NETLINK;
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->nlfd, &ev);
  }
  if (e->ping_fd >= 0) {
    ev.data.u32 = TAG_PING;
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->ping_fd, &ev);
  }
  for (int l = 0; l < e->nlinks; l++) {
    ev.data.u32 = (uint32_t)l;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->links[l].fd, &ev) < 0) return -errno;
  }
  e->start = hb_monotonic_ns();
  e->running = 1;
  int rc = hb_pthread_create(&e->thread, NULL, run, e);
  if (rc) {
    e->running = 0;
    return -rc;
  }
  return 0;
}

HB_API int32_t hb_engine_stop(hb_engine *e) {
  if (!e) return -EINVAL;
  if (!e->running) return 0;
  uint64_t one = 1;
  ssize_t w = write(e->stopfd, &one, sizeof one);
  (void)w;
  hb_pthread_join(e->thread, NULL);
  e->running = 0;
  return 0;
}

HB_API int32_t hb_engine_set_timing(hb_engine *e, int32_t keepalive_ms, int32_t warntime_ms, int32_t deadtime_ms) {
  if (!e || keepalive_ms < 1 || warntime_ms <= keepalive_ms || deadtime_ms <= warntime_ms ||
      (int64_t)deadtime_ms * NS_PER_MS > e->initdead)
    return -EINVAL;
  pthread_mutex_lock(&e->mu);
  e->pending[0] = keepalive_ms * NS_PER_MS;
  e->pending[1] = warntime_ms * NS_PER_MS;
  e->pending[2] = deadtime_ms * NS_PER_MS;
  __atomic_store_n(&e->timing_new, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&e->mu);
  if (!e->running) {
    e->keepalive = e->pending[0];
    e->warntime = e->pending[1];
    e->deadtime = e->pending[2];
    e->timing_new = 0;
    return 0;
  }
  uint64_t one = 1;
  ssize_t w = write(e->kickfd, &one, sizeof one);
  (void)w;
  return 0;
}

HB_API int32_t hb_engine_peer_link(hb_engine *e, int32_t peer, int32_t link, int64_t *out, int32_t n) {
  if (!e || !out || peer < 0 || peer >= e->npeers || link < 0 || link >= e->nlinks || n < 4) return -EINVAL;
  peer_link_t *pl = &e->peers[peer].pl[link];
  out[0] = __atomic_load_n(&pl->last_rx, __ATOMIC_RELAXED);
  out[1] = __atomic_load_n(&pl->state, __ATOMIC_RELAXED);
  out[2] = (int64_t)__atomic_load_n(&pl->late, __ATOMIC_RELAXED);
  out[3] = (int64_t)__atomic_load_n(&pl->rx, __ATOMIC_RELAXED);
  if (n < 6) return 4;
  out[4] = (int64_t)__atomic_load_n(&pl->authfail, __ATOMIC_RELAXED);
  out[5] = __atomic_load_n(&pl->authfail_at, __ATOMIC_RELAXED);
  return 6;
}

HB_API int32_t hb_engine_counters(hb_engine *e, int32_t link, uint64_t *out, int32_t n) {
  if (!e || !out || link < 0 || link >= e->nlinks) return -EINVAL;
  int m = n < HB_CNT_COUNT ? n : HB_CNT_COUNT;
  for (int i = 0; i < m; i++) out[i] = __atomic_load_n(&e->links[link].cnt[i], __ATOMIC_RELAXED);
  return m;
}

HB_API void hb_engine_free(hb_engine *e) {
  if (!e) return;
  hb_engine_stop(e);
  for (int l = 0; l < e->nlinks; l++)
    if (e->links[l].fd >= 0) close(e->links[l].fd);
  int fds[] = {e->epfd, e->timerfd, e->stopfd, e->nlfd, e->kickfd, e->ping_fd};
  for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0) close(fds[i]);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

/* For the fuzzer only (not exported): links that exist without sockets. */
int hb_fuzz_fake_links(hb_engine *e, int n) {
  for (int i = 0; i < n && e->nlinks < HB_MAX_LINKS; i++) {
    link_t *lk = new_link(e, HB_LINK_UDP);
    if (!lk) return -ENOSPC;
    lk->ifindex = 2 + e->nlinks; /* so link events for ifindex 2, 3... reach them */
    e->nlinks++;
  }
  return e->nlinks;
}

/* For the fuzzer: an uplink target without a socket, as if a probe (id, seq 1) to addr4 had just gone out,
 * and a watched interface (ifindex 2). */
int hb_fuzz_fake_ping(hb_engine *e, const uint8_t *addr4, uint16_t id) {
  if (e->nping == HB_MAX_PING || e->nwatch == HB_MAX_WATCH) return -ENOSPC;
  ping_t *pg = &e->pings[e->nping++];
  memset(pg, 0, sizeof *pg);
  memcpy(pg->addr, addr4, 4);
  pg->seq = 1;
  pg->sent_at = 1;
  pg->up = -1;
  e->ping_id = id;
  watch_t *w = &e->watches[e->nwatch++];
  memset(w, 0, sizeof *w);
  w->ifindex = 2;
  w->carrier = -1;
  return 0;
}

/* For the fuzzer: rearm the fake probe, so its reply is looked for again. */
void hb_fuzz_rearm_ping(hb_engine *e) {
  for (int i = 0; i < e->nping; i++) e->pings[i].sent_at = 1;
}
