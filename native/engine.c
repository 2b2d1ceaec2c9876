/* The heartbeat engine (see engine.h): its event queue to JavaScript, its set-up from JavaScript, start and stop.
 * The thread itself is in thread.c; what it does at each wake-up is in the other engine_*.c files. */
#include "engine_int.h"

HB_API int64_t hb_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

HB_API int32_t hb_event_size(void) { return (int32_t)sizeof(hb_event); }

void bump(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }

/* Close fd (if any) and return -errno as it was before the close. */
int fail(int fd) {
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

void emit(hb_engine *e, uint32_t type, int peer, int link, int state, int64_t now, int64_t gap, int arg,
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

/* ---------- wake-ups for JavaScript ---------- */

HB_API int32_t hb_engine_wake_on(hb_engine *e, int32_t fd) {
  if (!e || fd < 0 || !e->running) return -EINVAL;
  pthread_mutex_lock(&e->mu);
  int i = e->nwake;
  if (i >= HB_MAX_WAKE) {
    pthread_mutex_unlock(&e->mu);
    return -ENOSPC;
  }
  e->wake_fd[i] = fd;
  __atomic_store_n(&e->wake_pending[i], 0, __ATOMIC_RELEASE);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = TAG_WAKE + (uint32_t)i};
  int rc = epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : i;
  if (rc >= 0) e->nwake = i + 1;
  pthread_mutex_unlock(&e->mu);
  return rc;
}

HB_API int32_t hb_engine_wake_ack(hb_engine *e, int32_t i) {
  if (!e || i < 0 || i >= HB_MAX_WAKE) return -EINVAL;
  __atomic_store_n(&e->wake_pending[i], 0, __ATOMIC_RELEASE);
  return 0;
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
  lk->bell_fd = -1;
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
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one); /* when a frame came, read late or not */
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
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one); /* when a frame came, read late or not */
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&any, sizeof any) < 0) return fail(fd);
  lk->udp_mode = mode;
  lk->port = port;
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
  quiet_start(e);
  e->start = hb_monotonic_ns();
  e->running = 1;
  /* its own stack, of a known place and size, so that hb_engine_lock_memory can lock it */
  e->stack = mmap(NULL, HB_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (e->stack == MAP_FAILED) {
    e->stack = NULL;
    e->running = 0;
    return -errno;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  hb_pthread_attr_setstack(&attr, e->stack, HB_STACK_SIZE);
  int rc = hb_pthread_create(&e->thread, &attr, engine_thread, e);
  pthread_attr_destroy(&attr);
  if (rc) {
    e->running = 0;
    return -rc;
  }
  return 0;
}

HB_API int32_t hb_engine_lateness(hb_engine *e, int64_t *out, int32_t n) {
  if (!e || !out || n < 3) return -EINVAL;
  int64_t recent = __atomic_load_n(&e->late_recent, __ATOMIC_RELAXED);
  int64_t prev = __atomic_load_n(&e->late_prev, __ATOMIC_RELAXED);
  out[0] = __atomic_load_n(&e->late_worst, __ATOMIC_RELAXED);
  out[1] = recent > prev ? recent : prev;
  out[2] = __atomic_load_n(&e->late_slow, __ATOMIC_RELAXED);
  return 3;
}

HB_API int32_t hb_engine_realtime(hb_engine *e, int32_t prio) {
  if (!e || !e->running || prio < 0 || prio > 99) return -EINVAL;
  struct sched_param sp = {.sched_priority = prio};
  return -pthread_setschedparam(e->thread, prio ? SCHED_FIFO : SCHED_OTHER, &sp);
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
  for (int l = 0; l < e->nlinks; l++) {
    if (e->links[l].fd >= 0) close(e->links[l].fd);
    if (e->links[l].bell_fd >= 0) close(e->links[l].bell_fd);
  }
  int fds[] = {e->epfd, e->timerfd, e->stopfd, e->nlfd, e->kickfd, e->ping_fd};
  for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0) close(fds[i]);
  pthread_mutex_destroy(&e->mu);
  if (e->stack) munmap(e->stack, HB_STACK_SIZE); /* the thread has ended (hb_engine_stop joined it) */
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
