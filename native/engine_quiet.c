/*
 * Quiet listening: a pair of idle nodes wakes about twice per keepalive in all, not once per frame.
 *
 * Every frame of a routine beat says what the last one said (same generation, same record). Such
 * frames need not wake this thread: their kernel receive time (SO_TIMESTAMPNS) tells liveness when
 * they arrived, however late they are read, and every wake-up reads every link before anything is
 * judged. So, while every peer is up on every link, a link's socket may leave the epoll set, and a
 * second socket on the same link, the bell, takes its place: a packet socket whose filter passes only
 * news (a control message, another generation, a record that differs from the one last read from
 * that sender). News wakes the thread at once as before; routine beats wait in the socket.
 *
 * Who still wakes for a beat: a node whose own beat is due within half a keepalive of a peer's
 * expected beat (engine_thread.c sends early then, so the nodes fall into step) listens on one link,
 * the last one a peer sends on, so its beat wakes it and it answers with its own. The other node
 * wakes on its timer only and reads the answer then. That is one timer and one frame wake-up per
 * interval for a pair, like a VRRP master and backup.
 *
 * Anything unusual turns it off and every socket listens as before: a peer or link not up, a pause
 * of this thread, a bell that rang (for a keepalive), or more frames waiting than the peers send (a
 * flood or replays: 10 s), so that a full socket buffer never costs a real beat.
 */
#include "engine_int.h"
#include <linux/if_ether.h>

#define FLOOD_HOLD_NS (10000LL * NS_PER_MS)
#define BELL_SNAP 1 /* the bell's copy is never read: one byte of it is enough */
#define MAX_INSNS (24 + HB_MAX_PEERS * (8 + 2 * (HB_PAYLOAD_MAX / 4 + 3)))

typedef struct {
  struct sock_filter *code;
  int n, udp;
} prog_t;

static void put(prog_t *p, uint16_t c, uint8_t jt, uint8_t jf, uint32_t k) {
  p->code[p->n++] = (struct sock_filter){c, jt, jf, k};
}

/* Load `size` bytes at offset `off` of the frame: after the Ethernet header (ether), or after the IP
 * header whose length the filter put in X and the 8-byte UDP header. */
static void load(prog_t *p, uint16_t size, uint32_t off) {
  put(p, (uint16_t)(BPF_LD | size | (p->udp ? BPF_IND : BPF_ABS)), 0, 0, p->udp ? 8 + off : off);
}

/* A jump whose false branch goes to `target` (an instruction index not yet written): fixed up later. */
static int jne(prog_t *p, uint32_t k) {
  put(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, k);
  return p->n - 1;
}

static void land(prog_t *p, int jump, int target) { p->code[jump].jf = (uint8_t)(target - jump - 1); }

/* One peer: nothing new when generation, length and record are those last read from it. */
static void peer_block(prog_t *p, const peer_t *peer) {
  int head = jne(p, peer->node_id); /* A = sender: not this peer, skip the block */
  int fix[4 + HB_PAYLOAD_MAX], nfix = 0;
  if (peer->record_len >= 0 && peer->gen) {
    load(p, BPF_W, 12);
    fix[nfix++] = jne(p, (uint32_t)(peer->gen >> 32));
    load(p, BPF_W, 16);
    fix[nfix++] = jne(p, (uint32_t)peer->gen);
    load(p, BPF_H, 10);
    fix[nfix++] = jne(p, (uint32_t)peer->record_len);
    int i = 0;
    for (; i + 4 <= peer->record_len; i += 4) {
      load(p, BPF_W, HB_HEADER_LEN + (uint32_t)i);
      fix[nfix++] = jne(p, hb_get32(peer->record + i));
    }
    for (; i < peer->record_len; i++) {
      load(p, BPF_B, HB_HEADER_LEN + (uint32_t)i);
      fix[nfix++] = jne(p, peer->record[i]);
    }
    put(p, BPF_RET | BPF_K, 0, 0, 0); /* routine: stays quiet */
  }
  put(p, BPF_RET | BPF_K, 0, 0, BELL_SNAP); /* news (or nothing known yet) */
  for (int f = 0; f < nfix; f++) land(p, fix[f], p->n - 1);
  land(p, head, p->n); /* skip to the next peer, A still the sender */
}

/* The bell's filter for link l, attached to fd: frames of our cluster that carry news. (Not static:
 * native/test_bell.c runs it on a socketpair.) */
int bell_filter_fd(hb_engine *e, int l, int fd) {
  struct sock_filter code[MAX_INSNS];
  prog_t p = {code, 0, e->links[l].kind == HB_LINK_UDP};
  int drop[8], nd = 0, news;
  if (p.udp) {
    /* an IPv4 packet (the socket is bound to ETH_P_IP) of UDP to our port, not a fragment */
    put(&p, BPF_LD | BPF_B | BPF_ABS, 0, 0, 9);
    drop[nd++] = jne(&p, IPPROTO_UDP);
    put(&p, BPF_LD | BPF_H | BPF_ABS, 0, 0, 6);
    put(&p, BPF_JMP | BPF_JSET | BPF_K, 0, 0, 0x1fff); /* true: a fragment; fixed below */
    int frag = p.n - 1;
    put(&p, BPF_LDX | BPF_B | BPF_MSH, 0, 0, 0);
    put(&p, BPF_LD | BPF_H | BPF_IND, 0, 0, 2);
    drop[nd++] = jne(&p, e->links[l].port);
    p.code[frag].jt = 0xff; /* to be aimed at the drop below, by its true branch */
    drop[nd++] = frag;
  }
  load(&p, BPF_B, 0);
  drop[nd++] = jne(&p, HB_FRAME_VERSION);
  load(&p, BPF_W, 4);
  drop[nd++] = jne(&p, e->cluster);
  load(&p, BPF_B, 1);
  news = jne(&p, HB_MSG_BEAT); /* a control message, or a type we do not know: news */
  put(&p, BPF_JMP | BPF_JA, 0, 0, 2);
  put(&p, BPF_RET | BPF_K, 0, 0, 0);
  put(&p, BPF_RET | BPF_K, 0, 0, BELL_SNAP);
  int ret0 = p.n - 2;
  for (int i = 0; i < nd; i++) {
    if (p.code[drop[i]].jt == 0xff) p.code[drop[i]].jt = (uint8_t)(ret0 - drop[i] - 1);
    else land(&p, drop[i], ret0);
  }
  land(&p, news, ret0 + 1);
  load(&p, BPF_H, 8);
  for (int i = 0; i < e->npeers; i++) peer_block(&p, &e->peers[i]);
  put(&p, BPF_RET | BPF_K, 0, 0, 0); /* not a peer: the link's own filter drops it anyway */
  struct sock_fprog prog = {.len = (unsigned short)p.n, .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

static int bell_filter(hb_engine *e, int l) { return bell_filter_fd(e, l, e->links[l].bell_fd); }

/* Open link l's bell. Returns 0, or -errno (then the link simply always listens). */
int bell_open(hb_engine *e, int l) {
  link_t *lk = &e->links[l];
  int proto = lk->kind == HB_LINK_UDP ? ETH_P_IP : HB_ETHERTYPE;
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons((uint16_t)proto));
  if (fd < 0) return -errno;
  lk->bell_fd = fd;
  int one = 1, small = 4096; /* copies of news only, never read: the kernel's minimum will do */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)proto);
  sll.sll_ifindex = lk->ifindex;
  if (bell_filter(e, l) < 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int err = -errno;
    close(fd);
    lk->bell_fd = -1;
    return err;
  }
  return 0;
}

/* Empty a bell: what it holds was news that the link's own socket carries too. */
void bell_drain(hb_engine *e, int l) {
  uint8_t b[8];
  for (int i = 0; i < 256; i++)
    if (recv(e->links[l].bell_fd, b, sizeof b, MSG_DONTWAIT | MSG_TRUNC) < 0) return;
}

/* Quiet listening is possible: every link is a datagram link with a bell. */
static int quiet_possible(const hb_engine *e) {
  for (int l = 0; l < e->nlinks; l++)
    if (e->links[l].kind == HB_LINK_SERIAL || e->links[l].bell_fd < 0) return 0;
  return e->nlinks > 0 && e->npeers > 0;
}

/* Every peer up on every link, no pause forgiven, no bell or flood hold: nothing to watch closely. */
static int steady(const hb_engine *e, int64_t now) {
  if (now < e->loud_until || e->paused) return 0;
  for (int l = 0; l < e->nlinks; l++)
    if (!e->links[l].local_up) return 0;
  for (int pi = 0; pi < e->npeers; pi++)
    for (int l = 0; l < e->nlinks; l++)
      if (e->peers[pi].pl[l].state != HB_UP) return 0;
  return 1;
}

/* This node answers a peer's beat (see engine_thread.c: it is due within half a keepalive of it), or
 * a link would be judged before our next beat: then wake for the frame, not for a timer. */
static int follower(const hb_engine *e, int64_t next_send) {
  for (int pi = 0; pi < e->npeers; pi++) {
    const peer_t *p = &e->peers[pi];
    int64_t expected = last_heard(e, p) + e->keepalive;
    if (expected <= next_send && next_send - expected <= e->keepalive / 2) return 1;
    for (int l = 0; l < e->nlinks; l++)
      if (p->pl[l].last_rx + e->warntime < next_send) return 1;
  }
  return 0;
}

static void set_events(hb_engine *e, int fd, uint32_t tag, int on) {
  struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u32 = tag};
  epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* Before each sleep: which sockets wake this thread. */
void quiet_arm(hb_engine *e, int64_t now, int64_t next_send) {
  if (!e->quiet) return;
  if (e->bells_stale) {
    e->bells_stale = 0;
    for (int l = 0; l < e->nlinks; l++) (void)bell_filter(e, l);
  }
  int calm = steady(e, now);
  int lead = calm && follower(e, next_send) ? e->nlinks - 1 : -1; /* the last link a peer sends on */
  for (int l = 0; l < e->nlinks; l++) {
    link_t *lk = &e->links[l];
    int listen = !calm || l == lead;
    if (listen == lk->listening) continue;
    lk->listening = listen;
    if (!listen) {
      /* whatever the bell holds was read from the socket already; what came since is read now */
      bell_drain(e, l);
      drain(e, l);
    }
    set_events(e, lk->fd, (uint32_t)l, listen);
    set_events(e, lk->bell_fd, TAG_BELL + (uint32_t)l, !listen);
  }
}

/* A bell rang: listen on every link for a keepalive, in case the link's own copy comes a little
 * after the bell's (a UDP frame reaches its socket after the packet socket). */
void quiet_bell(hb_engine *e, int l, int64_t now) {
  bell_drain(e, l);
  e->loud_until = now + e->keepalive;
}

/* A quiet socket held more frames than the peers send in that time (a beat each, and a few more for
 * records that changed): a flood or replays. */
void quiet_frames(hb_engine *e, int l, int got, int64_t now) {
  if (!e->quiet || e->links[l].listening || got <= 8 * e->npeers) return;
  e->loud_until = now + FLOOD_HOLD_NS;
}

/* At start: bells for every link, or quiet listening stays off (serial links, no packet sockets). */
void quiet_start(hb_engine *e) {
  for (int l = 0; l < e->nlinks; l++) {
    e->links[l].listening = 1;
    if (e->links[l].kind != HB_LINK_SERIAL && e->links[l].fd >= 0) (void)bell_open(e, l);
  }
  e->quiet = quiet_possible(e);
  for (int l = 0; l < e->nlinks; l++) {
    if (e->links[l].bell_fd < 0) continue;
    if (!e->quiet) {
      close(e->links[l].bell_fd);
      e->links[l].bell_fd = -1;
      continue;
    }
    struct epoll_event ev = {.events = 0, .data.u32 = TAG_BELL + (uint32_t)l};
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->links[l].bell_fd, &ev);
  }
}
