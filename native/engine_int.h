/* Internal to the heartbeat engine: its state and the functions its files share (engine.h is the
 * API to JavaScript). Every engine_*.c file works on struct hb_engine under the rules in engine.h. */
#ifndef HB_ENGINE_INT_H
#define HB_ENGINE_INT_H
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
#include <sys/mman.h>
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
#define HB_STACK_SIZE (512 * 1024) /* the deepest path (netlink and frame buffers) needs far less */
#define HB_MAX_PING 8
#define HB_MAX_WAKE 8
#define TAG_WAKE 0xFFFF0100u /* + index */
#define TAG_BELL 0xFFFF0200u /* + link: engine_quiet.c */
#define DROPS_EVERY_NS (2000LL * NS_PER_MS)

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
  int port;          /* udp: the heartbeat port (the bell's filter looks for it) */
  int bell_fd;       /* engine_quiet.c: a packet socket that wakes the thread for news only; -1 = none */
  int listening;     /* fd is in the epoll set (else its bell is) */
  int64_t clean_at;  /* when fd was last read empty: no frame read later arrived before it */
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
  int vips_top;            /* 1 + the highest slot ever used (atomic; set under mu) */
  int64_t vip_deadline;    /* hb_engine_vip_deadline (atomic): past it, every address goes; 0 = none */
  int32_t guard_votes[HB_MAX_PEERS], guard_self, guard_need; /* hb_engine_vip_guard (under mu); need 0 = off */
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
  /* how late beats leave (engine thread only; read by hb_engine_lateness without a lock: int64 stores) */
  int64_t late_worst, late_recent, late_prev, late_window_at, slow_told_at;
  int64_t late_slow; /* beats later than half the way to warntime */
  /* a pause of this thread (it woke later than asked by over half a keepalive: a frozen VM, a
   * host that did not run it): that much silence of every peer is forgiven until paused_until, so
   * that nodes frozen together do not call each other dead on waking (engine thread only) */
  int64_t paused, paused_until;
  void *stack;       /* the thread's own stack (HB_STACK_SIZE bytes, mmap'ed: its address is known, to lock it) */
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
  int wake_fd[HB_MAX_WAKE]; /* hb_engine_wake_on */
  int wake_pending[HB_MAX_WAKE]; /* HB_EV_WAKE sent, not yet acknowledged (atomic) */
  int nwake;                /* atomic: slots in use */
  uint64_t drops_told;      /* sum of the drop counters at the last HB_EV_DROPS */
  int64_t drops_next;       /* when to send HB_EV_DROPS for the drops since drops_told (0: none pending) */
  int no_pwait2; /* kernel without epoll_pwait2: use the timerfd */
  /* quiet listening (engine_quiet.c; engine thread only) */
  int quiet;           /* every link has a bell */
  int bells_stale;     /* a peer's record or generation changed: the bells' filters must follow */
  int64_t loud_until;  /* every socket listens until then (a bell rang, a flood) */
  pthread_t thread;
  int running;
};

/* engine.c */
void bump(uint64_t *c);
int fail(int fd);
void emit(hb_engine *e, uint32_t type, int peer, int link, int state, int64_t now, int64_t gap, int arg,
          const uint8_t *data, int len);
/* engine_liveness.c */
int64_t last_heard(const hb_engine *e, const peer_t *p);
void peer_update(hb_engine *e, int pi, int64_t now, int64_t gap_up);
void link_set(hb_engine *e, int pi, int l, int s, int64_t now, int64_t gap);
int64_t judge(hb_engine *e, int64_t now);
/* engine_receive.c */
int serial_open(const char *device, speed_t sp);
void serial_hangup(hb_engine *e, int l, int64_t now);
void serial_retry(hb_engine *e, int64_t now);
int drain(hb_engine *e, int l);
/* engine_send.c */
void report_local(hb_engine *e, int64_t now);
int beat_payload(hb_engine *e, uint8_t *out);
void send_all(hb_engine *e, uint8_t type, const uint8_t *payload, int plen);
/* engine_lease.c */
int64_t vip_tick(hb_engine *e, int64_t now);
void vip_peer_dead(hb_engine *e, int pi, int64_t now);
/* engine_carrier.c */
void netlink_read(hb_engine *e);
int netlink_open(hb_engine *e);
/* engine_uplink.c */
int64_t ping_tick(hb_engine *e, int64_t now);
void ping_read(hb_engine *e);
/* engine_quiet.c */
void quiet_start(hb_engine *e);
void quiet_arm(hb_engine *e, int64_t now, int64_t next_send);
void quiet_bell(hb_engine *e, int l, int64_t now);
void quiet_frames(hb_engine *e, int l, int got, int64_t now);
int bell_filter_fd(hb_engine *e, int l, int fd);
/* engine_thread.c */
void *engine_thread(void *arg);

#endif
