/* Liveness: per link up -> late (warntime) -> dead (deadtime), per peer the best of its links. */
#include "engine_int.h"


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

int64_t last_heard(const hb_engine *e, const peer_t *p) {
  int64_t t = 0;
  for (int l = 0; l < e->nlinks; l++)
    if (p->pl[l].last_rx > t) t = p->pl[l].last_rx;
  return t;
}

void peer_update(hb_engine *e, int pi, int64_t now, int64_t gap_up) {
  peer_t *p = &e->peers[pi];
  int s = aggregate(e, p, now);
  if (s == p->state) return;
  int64_t last = last_heard(e, p);
  int64_t gap = s == HB_UP ? gap_up : now - (last ? last : e->start);
  int was_alive = p->state == HB_UP || p->state == HB_LATE;
  p->state = s;
  if (s == HB_DEAD) {
    p->record_len = -1; /* when it returns, report its record again, changed or not */
    e->bells_stale = 1;
  }
  /* the heard set in our beats changed: tell the peers at once (see beat_payload) */
  if (e->heard_off >= 0 && was_alive != (s == HB_UP || s == HB_LATE)) __atomic_store_n(&e->record_new, 1, __ATOMIC_RELEASE);
  emit(e, HB_EV_PEER, pi, -1, s, now, gap, 0, NULL, 0);
  if (s == HB_DEAD && was_alive) vip_peer_dead(e, pi, now);
}

void link_set(hb_engine *e, int pi, int l, int s, int64_t now, int64_t gap) {
  peer_link_t *pl = &e->peers[pi].pl[l];
  if (pl->state == s) return;
  __atomic_store_n(&pl->state, s, __ATOMIC_RELAXED);
  if (s == HB_LATE) bump(&pl->late);
  emit(e, HB_EV_LINK, pi, l, s, now, gap, 0, NULL, 0);
}

/*
 * Move silent links to late/dead; returns the next instant something may change.
 * Silence during this thread's own pause is not held against a peer until paused_until: a node
 * cannot judge an interval in which it could not listen, and a peer frozen with it (the same
 * hypervisor, the same overloaded host) sends its next beat as soon as it runs again (corosync calls
 * this a process pause and holds its membership timers the same way). The grace ends warntime after
 * waking: a truly dead peer is seen dead at most warntime later.
 */
int64_t judge(hb_engine *e, int64_t now) {
  int64_t next = INT64_MAX;
  if (e->paused && now >= e->paused_until) e->paused = 0;
  int64_t forgive = e->paused;
  if (forgive && e->paused_until < next) next = e->paused_until;
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
      if (silent - forgive >= e->deadtime) {
        link_set(e, pi, l, HB_DEAD, now, silent);
        continue;
      }
      if (silent - forgive >= e->warntime && pl->state == HB_UP) link_set(e, pi, l, HB_LATE, now, silent);
      due = pl->last_rx + forgive + (pl->state == HB_LATE ? e->deadtime : e->warntime);
      if (due < next) next = due;
    }
    peer_update(e, pi, now, 0);
    if (p->state == HB_UNKNOWN && e->start + e->initdead < next) next = e->start + e->initdead;
  }
  return next;
}

void hb_engine_tick(hb_engine *e, int64_t now) { (void)judge(e, now); }
