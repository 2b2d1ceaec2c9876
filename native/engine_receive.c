/* Receiving: drain each link, verify and order every frame (replays, older generations, duplicate
 * senders), hand records and control messages on as events; serial lines that hang up are reopened. */
#include "engine_int.h"


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
    e->bells_stale = 1;
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
    e->bells_stale = 1;
  }
  peer_link_t *pl = &p->pl[link];
  if (f.seq <= pl->seq) { bump(&lk->cnt[HB_DROP_REPLAY]); return; }
  __atomic_store_n(&pl->seq, f.seq, __ATOMIC_RELAXED);
  p->src = *src;
  bump(&lk->cnt[HB_CNT_RX]);

  if (now < pl->last_rx) now = pl->last_rx; /* read late, it still came after the last one */
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
      e->bells_stale = 1; /* the bells ring for what differs from this now */
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

int serial_open(const char *device, speed_t sp) {
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
void serial_hangup(hb_engine *e, int l, int64_t now) {
  link_t *lk = &e->links[l];
  epoll_ctl(e->epfd, EPOLL_CTL_DEL, lk->fd, NULL);
  pthread_mutex_lock(&e->mu);
  close(lk->fd);
  lk->fd = -1;
  lk->reopen_at = now + 1000 * NS_PER_MS;
  memset(&lk->deframer, 0, sizeof lk->deframer);
  pthread_mutex_unlock(&e->mu);
}

void serial_retry(hb_engine *e, int64_t now) {
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
#define RX_ROUNDS 8 /* batches per drain: a quiet socket's backlog is read in one wake-up */

/* When a frame arrived, on the monotonic clock: its kernel receive time (SO_TIMESTAMPNS, realtime)
 * taken back from now, never before the socket was last read empty (a step of the realtime clock
 * cannot move it further back), never after now. */
static int64_t arrival(struct msghdr *h, int64_t now, int64_t real_now, int64_t since) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec ts;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    int64_t age = real_now - ((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int64_t t = now - (age > 0 ? age : 0);
    return t < since ? since : t;
  }
  return now;
}

/* A datagram socket: up to RX_BATCH frames per system call (epoll is level-triggered, so a longer
 * queue reports again at once): a flood costs one system call per batch, not per frame. Returns the
 * frames read. */
static int drain_dgram(hb_engine *e, int l) {
  link_t *lk = &e->links[l];
  uint8_t buf[RX_BATCH][RX_CAP];
  struct sockaddr_storage ss[RX_BATCH];
  struct iovec iov[RX_BATCH];
  struct mmsghdr m[RX_BATCH];
  _Alignas(struct cmsghdr) uint8_t ctl[RX_BATCH][CMSG_SPACE(sizeof(struct timespec))];
  int total = 0;
  for (int round = 0; round < RX_ROUNDS; round++) {
    memset(m, 0, sizeof m);
    for (int i = 0; i < RX_BATCH; i++) {
      iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = RX_CAP};
      ss[i].ss_family = 0;
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = &ss[i];
      m[i].msg_hdr.msg_namelen = sizeof ss[i];
      m[i].msg_hdr.msg_control = ctl[i];
      m[i].msg_hdr.msg_controllen = sizeof ctl[i];
    }
    int64_t since = lk->clean_at; /* what is read now came after this */
    int got = recvmmsg(lk->fd, m, RX_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
    int64_t now = hb_monotonic_ns();
    if (got < RX_BATCH) lk->clean_at = now; /* read empty (or an error the next send will report) */
    if (got <= 0) break;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t real_now = (int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec;
    for (int i = 0; i < got; i++) {
      hb_src src = {ss[i].ss_family, {0}};
      if (ss[i].ss_family == AF_INET) memcpy(src.a, &((struct sockaddr_in *)&ss[i])->sin_addr, 4);
      else if (ss[i].ss_family == AF_PACKET) memcpy(src.a, ((struct sockaddr_ll *)&ss[i])->sll_addr, 6);
      size_t n = (m[i].msg_hdr.msg_flags & MSG_TRUNC) && m[i].msg_len <= RX_CAP ? RX_CAP + 1 : m[i].msg_len;
      hb_engine_datagram(e, l, buf[i], n, RX_CAP, arrival(&m[i].msg_hdr, now, real_now, since), &src);
    }
    total += got;
    if (got < RX_BATCH || lk->listening) break; /* a listening socket reports the rest at once */
  }
  return total;
}

/* Read link l. A tty: read until it has nothing, bounded so the timers are never starved. Returns
 * the datagrams read (a tty: 0). */
int drain(hb_engine *e, int l) {
  link_t *lk = &e->links[l];
  if (lk->kind != HB_LINK_SERIAL) {
    int got = drain_dgram(e, l);
    if (got) quiet_frames(e, l, got, hb_monotonic_ns()); /* no clock read for an empty socket */
    return got;
  }
  uint8_t buf[2048];
  for (int i = 0; i < 64; i++) {
    ssize_t n = read(lk->fd, buf, sizeof buf);
    /* (a raw tty with VMIN=0 reads 0 when it has no data: that is not an end of file) */
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      serial_hangup(e, l, hb_monotonic_ns());
      return 0;
    }
    if (n <= 0) return 0;
    void *arg[2] = {e, (void *)(intptr_t)l};
    hb_serial_feed(&lk->deframer, buf, (size_t)n, on_serial_frame, arg);
  }
  return 0;
}
