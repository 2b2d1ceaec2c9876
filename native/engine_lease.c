/* Floating addresses: their lease (valid_lft renewed while we beat) and their announcements
 * (gratuitous ARP / unsolicited NA bursts), on the thread's clock. */
#include "engine_int.h"


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
      if (slot >= e->vips_top) __atomic_store_n(&e->vips_top, slot + 1, __ATOMIC_RELEASE);
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

HB_API int32_t hb_engine_vip_deadline(hb_engine *e, int64_t until_ns) {
  if (!e || until_ns < 0) return -EINVAL;
  int64_t old = __atomic_exchange_n(&e->vip_deadline, until_ns, __ATOMIC_ACQ_REL);
  /* a later deadline (every renewal moves it on) needs no wake-up: the thread finds it when it wakes */
  if (e->running && until_ns && (!old || until_ns < old)) {
    uint64_t one = 1; /* the thread plans its wake-up for the new deadline */
    ssize_t w = write(e->kickfd, &one, sizeof one);
    (void)w;
  }
  return 0;
}

HB_API int32_t hb_engine_vip_guard(hb_engine *e, const int32_t *votes, int32_t self_votes, int32_t need) {
  if (!e || need < 0 || self_votes < 0 || (need && !votes)) return -EINVAL;
  for (int i = 0; need && i < e->npeers; i++)
    if (votes[i] < 0) return -EINVAL;
  /* no wake-up: the rule acts only where this thread declares a peer dead, which it plans anyway */
  pthread_mutex_lock(&e->mu);
  for (int i = 0; i < e->npeers; i++) e->guard_votes[i] = need ? votes[i] : 0;
  e->guard_self = self_votes;
  e->guard_need = need;
  pthread_mutex_unlock(&e->mu);
  return 0;
}

/* Every address this thread keeps goes now, each reported as `state` (3: the deadline, 4: a peer's death,
 * with that peer): JavaScript, which would have acted first, may not be running (a stall). */
static void vips_drop(hb_engine *e, int64_t now, int state, int pi) {
  int top = __atomic_load_n(&e->vips_top, __ATOMIC_ACQUIRE);
  for (int i = 0; i < top; i++) {
    pthread_mutex_lock(&e->mu);
    vip_t v = e->vips[i];
    e->vips[i].used = 0;
    pthread_mutex_unlock(&e->mu);
    if (!v.used) continue;
    int rc = hb_addr_del(v.family, v.ifname, v.addr, v.prefix);
    emit(e, HB_EV_VIP, pi, -1, state, now, 0, rc < 0 && rc != -EADDRNOTAVAIL ? -rc : 0, v.addr, v.family == 4 ? 4 : 16);
  }
}

/* Peer pi went dead. Under a rule that counts peers, the ones left may no longer be enough to keep what we
 * hold, and the others may be taking it (quorum; a lease etcd no longer keeps does not stop them): the
 * addresses go before they can have them, which they do no sooner than keepalive + deadtime later. */
void vip_peer_dead(hb_engine *e, int pi, int64_t now) {
  pthread_mutex_lock(&e->mu);
  int32_t need = e->guard_need, heard = e->guard_self;
  for (int i = 0; i < e->npeers; i++)
    if (e->peers[i].state == HB_UP || e->peers[i].state == HB_LATE) heard += e->guard_votes[i];
  pthread_mutex_unlock(&e->mu);
  if (need && heard < need) vips_drop(e, now, 4, pi);
}

/* Renew leases and send bursts that are due; returns the next instant something is due. */
int64_t vip_tick(hb_engine *e, int64_t now) {
  int64_t next = INT64_MAX;
  int top = __atomic_load_n(&e->vips_top, __ATOMIC_ACQUIRE); /* slots above were never used: no lock each */
  int64_t dl = __atomic_load_n(&e->vip_deadline, __ATOMIC_ACQUIRE);
  if (dl && now >= dl) {
    /* only if nobody moved it meanwhile */
    if (__atomic_compare_exchange_n(&e->vip_deadline, &dl, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      vips_drop(e, now, 3, -1); /* JavaScript, which would have moved it, did not run */
  } else if (dl) {
    next = dl;
  }
  for (int i = 0; i < top; i++) {
    pthread_mutex_lock(&e->mu);
    vip_t v = e->vips[i]; /* a copy: the netlink call runs without the lock */
    pthread_mutex_unlock(&e->mu);
    if (!v.used) continue;
    /* a renewal due within a sixth of the lease is done now, while the thread is awake anyway (for
     * a beat, most often): the address keeps at least half its lifetime, and no wake-up is its own */
    int64_t early = (int64_t)v.lifetime_s * 1000000000LL / 6;
    int renew = v.renew_at && now >= v.renew_at - early, burst = v.burst_at && now >= v.burst_at;
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
