/*
 * engine.h: the heartbeat engine. One pthread per engine sends a beat on every
 * link at each keepalive, receives and verifies frames, and judges liveness per
 * link and per peer with CLOCK_MONOTONIC deadlines. It tells TypeScript only
 * about changes, through an event queue and a notify callback. No policy here:
 * what a dead peer means is decided in TypeScript.
 */
#ifndef HB_ENGINE_H
#define HB_ENGINE_H
#include "frame.h"
#include "hb.h"
#include <stdint.h>

#define HB_MAX_LINKS 8
#define HB_MAX_PEERS 32
#define HB_MAX_DESTS 32

enum hb_state { HB_UNKNOWN = 0, HB_UP = 1, HB_LATE = 2, HB_DEAD = 3 };
enum hb_link_kind { HB_LINK_ETHER = 1, HB_LINK_UDP = 2, HB_LINK_SERIAL = 3 };
enum hb_udp_mode { HB_UDP_BROADCAST = 0, HB_UDP_MULTICAST = 1, HB_UDP_UNICAST = 2 };

enum hb_event_type {
  HB_EV_PEER = 1,       /* peer, state, gap_ns */
  HB_EV_LINK = 2,       /* peer, link, state, gap_ns */
  HB_EV_LOCAL = 3,      /* link, state 1 up / 0 down, arg = errno of the failed send */
  HB_EV_CARRIER = 4,    /* link, state 1 carrier / 0 none */
  HB_EV_RECORD = 5,     /* peer, data[len]: the peer's state record changed */
  HB_EV_CONTROL = 6,    /* peer, link, data[len]: a control message */
  HB_EV_OVERFLOW = 7,   /* arg = events lost; TS should re-read the state */
  HB_EV_STOPPED = 8,    /* the thread ended; arg = errno if it failed */
  HB_EV_VIP = 9,        /* renewing or announcing a VIP failed: arg = errno, state = 1 renew / 2 announce, data = address;
                           state 3: removed at the deadline (hb_engine_vip_deadline), arg = errno of the removal or 0;
                           state 4: removed as a peer went dead below the guard's votes (hb_engine_vip_guard):
                           peer = that peer, arg = errno of the removal or 0 */
  HB_EV_IFACE = 10,     /* a watched interface's carrier: arg = watch index, state 1 carrier / 0 none */
  HB_EV_SCORE = 11,     /* uplink score changed: state = 0..100 (% of ping targets answering), arg = targets up */
  HB_EV_DUPLICATE = 12, /* two live senders claim one node id: peer (-1 = this node), link, data = "ADDR ADDR"
                           (the generation in use, then the other; for this node: the other only); at most 1/s */
  HB_EV_WAKE = 13,      /* a descriptor given to hb_engine_wake_on is readable: arg = its index. Once, until
                           hb_engine_wake_ack: JS acknowledges, then reads everything waiting */
  HB_EV_DROPS = 14,     /* frames were dropped since the last one (counters: hb_engine_counters); at most every
                           2 s, and only on a wake-up the engine had anyway */
  HB_EV_SLOW = 15       /* a beat left gap_ns after its time, more than half the way from keepalive to warntime:
                           this host schedules the thread too late for these timers; at most every 10 s */
};

/* Fixed layout, read by src/native/shim.ts with a DataView (little endian). */
typedef struct {
  uint32_t type;    /*  0 */
  int32_t peer;     /*  4: peer index, or -1 */
  int32_t link;     /*  8: link index, or -1 */
  int32_t state;    /* 12 */
  int64_t t_ns;     /* 16: CLOCK_MONOTONIC when it happened */
  int64_t gap_ns;   /* 24: silence observed (late/dead), or silence that just ended (up) */
  int32_t arg;      /* 32 */
  int32_t len;      /* 36: bytes in data */
  uint8_t data[HB_PAYLOAD_MAX]; /* 40 */
} hb_event;         /* 104 bytes */

/* Counters per link, read by hb_engine_counters in this order (all uint64). */
enum hb_counter {
  HB_CNT_TX = HB_DROP_COUNT, /* frames sent */
  HB_CNT_TX_ERR,             /* sends that failed */
  HB_CNT_RX,                 /* frames accepted */
  HB_CNT_SELF,               /* our own frames looped back (ignored, not a drop) */
  HB_CNT_COUNT
};

typedef struct hb_engine hb_engine;

HB_API hb_engine *hb_engine_new(uint32_t cluster, int32_t self_id, uint64_t generation, int32_t keepalive_ms,
                                int32_t warntime_ms, int32_t deadtime_ms, int32_t initdead_ms);
HB_API int32_t hb_engine_add_key(hb_engine *e, int32_t id, const uint8_t *key, int32_t len);
HB_API int32_t hb_engine_set_send_key(hb_engine *e, int32_t id);
HB_API int32_t hb_engine_add_peer(hb_engine *e, int32_t node_id);
/* In every beat, write the heard set at byte `offset` of the record (u32 big-endian): bit bits[i] is set
 * while peer i is up or late. Call after the last add_peer (n = peers), before start. */
/* After start: wake JavaScript (HB_EV_WAKE) when fd becomes readable, so that JS needs no timer to poll it
 * (the legacy guard's sockets, the stray-signal eventfd). Edge-triggered: JS reads fd empty after each
 * HB_EV_WAKE. Returns the index, or -errno (-ENOSPC beyond HB_MAX_WAKE). */
HB_API int32_t hb_engine_wake_on(hb_engine *e, int32_t fd);
/* JS takes HB_EV_WAKE of index i: the next readiness of that fd raises a new one. Call before reading. */
HB_API int32_t hb_engine_wake_ack(hb_engine *e, int32_t i);
HB_API int32_t hb_engine_set_heard(hb_engine *e, int32_t offset, const int32_t *bits, int32_t n);
/* Before start: what was last accepted from peer i in an earlier run of this node (its generation, and its
 * sequence on each of the first n links). Older frames, and replays of those, stay dropped after a restart. */
HB_API int32_t hb_engine_peer_floor(hb_engine *e, int32_t peer, uint64_t gen, const uint64_t *seqs, int32_t n);
/* What was last accepted from peer i: out[0] its generation, out[1 + l] its sequence on link l (a consistent
 * pair, read from any thread). Needs n >= 1 + links; returns how many it wrote, or -EAGAIN. */
HB_API int32_t hb_engine_peer_seen(hb_engine *e, int32_t peer, uint64_t *out, int32_t n);
/* dest_macs: ndest x 6 bytes; ndest 0 = broadcast. Returns the link index. */
HB_API int32_t hb_engine_add_ether(hb_engine *e, const char *ifname, const uint8_t *dest_macs, int32_t ndest);
/* dests: ndest x 4 bytes of IPv4 address (unicast) or the group (multicast); broadcast ignores it. */
HB_API int32_t hb_engine_add_udp(hb_engine *e, const char *ifname, int32_t mode, int32_t port, int32_t ttl,
                                 const uint8_t *dests, int32_t ndest);
HB_API int32_t hb_engine_add_serial(hb_engine *e, const char *device, int32_t baud);
HB_API int32_t hb_engine_set_record(hb_engine *e, const uint8_t *rec, int32_t len);
HB_API int32_t hb_engine_send_control(hb_engine *e, const uint8_t *msg, int32_t len);
HB_API int32_t hb_engine_start(hb_engine *e, void (*notify)(void));
HB_API int32_t hb_engine_poll(hb_engine *e, hb_event *out, int32_t max);
HB_API int32_t hb_engine_counters(hb_engine *e, int32_t link, uint64_t *out, int32_t n);
/* New keepalive/warntime/deadtime (same rules as hb_engine_new; deadtime <= initdead), applied by the
 * thread at its next wake-up (it is woken at once). */
HB_API int32_t hb_engine_set_timing(hb_engine *e, int32_t keepalive_ms, int32_t warntime_ms, int32_t deadtime_ms);
/* What the thread knows of one peer on one link: out[0] last frame accepted (CLOCK_MONOTONIC ns, 0 = never),
 * out[1] state (enum hb_state), out[2] times it went late, out[3] frames accepted; with n >= 6 also out[4] frames
 * naming it as sender that failed authentication (MAC, or a key id we lack) and out[5] when the last one came
 * (0 = never). Needs n >= 4; returns how many it wrote. */
HB_API int32_t hb_engine_peer_link(hb_engine *e, int32_t peer, int32_t link, int64_t *out, int32_t n);
HB_API int32_t hb_engine_stop(hb_engine *e);
HB_API void hb_engine_free(hb_engine *e);
/*
 * Keep a VIP alive from this thread: renew its kernel lifetime every lifetime/3 (the lease: if this
 * process dies or hangs, the kernel removes the address by itself), send a second announcement burst
 * second_ms after the first (the caller sent the first), then one every refresh_ms (0 = never).
 * on = 0 forgets the address (the caller removes it). Returns 0 or -errno.
 */
HB_API int32_t hb_engine_vip(hb_engine *e, int32_t on, int32_t family, const char *ifname, const uint8_t *addr,
                             int32_t prefix, const char *label, int32_t lifetime_s, int32_t pairs, int32_t second_ms,
                             int32_t refresh_ms);
/* A dead man's switch for the floating addresses (the etcd arbiter sets it): once CLOCK_MONOTONIC passes
 * until_ns, this thread removes every address it keeps, forgets them and reports each (HB_EV_VIP, state 3),
 * unless a later call moved the deadline first. 0 = none (the default). Returns 0 or -errno. */
HB_API int32_t hb_engine_vip_deadline(hb_engine *e, int64_t until_ns);
/* The other dead man's switch, for rules that count peers (majority quorum; the etcd arbiter while it keeps
 * its groups without a lease on the word of every peer it hears): the moment this thread declares a peer
 * dead and the votes it still hears (self_votes + votes[i] of every peer up or late, votes in peer order)
 * fall below need, it removes every address it keeps, forgets them and reports each (HB_EV_VIP, state 4,
 * with that peer), whether JavaScript runs or not. need 0 = off (the default). Only a peer's change to
 * dead acts: a shortfall already there when the rule is set is JavaScript's to handle (it runs then).
 * Returns 0 or -errno. */
HB_API int32_t hb_engine_vip_guard(hb_engine *e, const int32_t *votes, int32_t self_votes, int32_t need);
/* Watch the carrier of an interface (a floating address's, say) before start: HB_EV_IFACE on every change,
 * and once at start. Returns the watch index or -errno. */
HB_API int32_t hb_engine_watch(hb_engine *e, const char *ifname);
/* Uplink probes, before start: ICMP echo to an IPv4 target every interval_ms; a probe not answered within
 * timeout_ms is a miss; `misses` in a row make the target down, one answer up again. ifname may be "" (any).
 * The score (HB_EV_SCORE) is the share of targets up. Returns the target index or -errno. */
HB_API int32_t hb_engine_add_ping(hb_engine *e, const uint8_t *addr4, const char *ifname, int32_t interval_ms,
                                  int32_t timeout_ms, int32_t misses);
HB_API int32_t hb_event_size(void);
HB_API int64_t hb_monotonic_ns(void);
/* How late the thread has sent its beats: out[0] the worst since start, out[1] the worst in the last
 * 10 to 20 s, out[2] beats later than half the way to warntime (ns, ns, count). Returns 3. */
HB_API int32_t hb_engine_lateness(hb_engine *e, int64_t *out, int32_t n);
/* After start: run the heartbeat thread with real-time priority prio (SCHED_FIFO, 1..99), or back to
 * normal scheduling (0). Returns 0 or -errno (EPERM: no CAP_SYS_NICE, or a container that forbids it). */
HB_API int32_t hb_engine_realtime(hb_engine *e, int32_t prio);
/* After start: lock in RAM what the heartbeat thread touches (the shim's code and data, its stack, the
 * engine's state), not the rest of the process. Returns the bytes locked, or -errno (ENOMEM/EPERM:
 * RLIMIT_MEMLOCK or CAP_IPC_LOCK). */
HB_API int64_t hb_engine_lock_memory(hb_engine *e);

/* Where a frame came from, kept raw (formatted only for a report): an IPv4 address or a MAC. */
typedef struct {
  uint16_t family; /* AF_INET, AF_PACKET, 0 = unknown (serial) */
  uint8_t a[6];
} hb_src;
/* Not exported: the receive path without sockets, for the fuzzer. from: where it came from, or NULL. */
void hb_engine_feed(hb_engine *e, int link, const uint8_t *buf, size_t len, int64_t now, const hb_src *from);
/* A datagram of n bytes read into a buffer of cap (n > cap: it was cut, MSG_TRUNC). */
void hb_engine_datagram(hb_engine *e, int link, const uint8_t *buf, size_t n, size_t cap, int64_t now, const hb_src *src);
/* One raw ICMP datagram (IPv4 header first) from from4: an answer to an uplink probe? */
void hb_engine_ping_reply(hb_engine *e, const uint8_t *buf, size_t n, const uint8_t *from4);
/* One rtnetlink datagram of link events. */
void hb_engine_netlink(hb_engine *e, const uint8_t *buf, int n);
void hb_engine_tick(hb_engine *e, int64_t now);
#endif
