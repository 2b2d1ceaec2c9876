/* The engine thread: one epoll loop on its own monotonic deadlines, nothing else. */
#include "engine_int.h"
#include <sys/prctl.h>


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

/* Frames were dropped: tell JS DROPS_EVERY_NS after the first of them, so that a burst is told as one.
 * Returns when to look again (INT64_MAX: nothing pending). Costs nothing while no frame is dropped. */
static int64_t report_drops(hb_engine *e, int64_t now) {
  uint64_t sum = 0;
  for (int l = 0; l < e->nlinks; l++)
    for (int r = 0; r < HB_DROP_COUNT; r++) sum += __atomic_load_n(&e->links[l].cnt[r], __ATOMIC_RELAXED);
  if (sum == e->drops_told) return INT64_MAX;
  if (!e->drops_next) e->drops_next = now + DROPS_EVERY_NS;
  if (now < e->drops_next) return e->drops_next;
  e->drops_told = sum;
  e->drops_next = 0;
  emit(e, HB_EV_DROPS, -1, -1, 0, now, 0, 0, NULL, 0);
  return INT64_MAX;
}

#define LATE_WINDOW_NS (10 * 1000000000LL)
#define SLOW_EVERY_NS (10 * 1000000000LL)

/* A beat due at `due` leaves at `now`: keep the worst lateness (ever, and in the last window or two),
 * and say so when it gets halfway to warntime, where a peer would soon see us late. */
static void note_lateness(hb_engine *e, int64_t due, int64_t now) {
  int64_t late = now - due;
  if (late < 0) late = 0;
  if (now - e->late_window_at >= LATE_WINDOW_NS) {
    __atomic_store_n(&e->late_prev, e->late_recent, __ATOMIC_RELAXED);
    __atomic_store_n(&e->late_recent, 0, __ATOMIC_RELAXED);
    e->late_window_at = now;
  }
  if (late > e->late_recent) __atomic_store_n(&e->late_recent, late, __ATOMIC_RELAXED);
  if (late > e->late_worst) __atomic_store_n(&e->late_worst, late, __ATOMIC_RELAXED);
  if (2 * late <= e->warntime - e->keepalive) return;
  __atomic_add_fetch(&e->late_slow, 1, __ATOMIC_RELAXED);
  if (e->slow_told_at && now - e->slow_told_at < SLOW_EVERY_NS) return;
  e->slow_told_at = now;
  emit(e, HB_EV_SLOW, -1, -1, 0, now, late, 0, NULL, 0);
}

/* This thread woke at `woke`, asked to by `asked`: much later means it was paused (see judge). The
 * forgiveness lasts warntime from waking, whatever the pause (pauses close together add up): a peer
 * that is really dead is seen dead at most warntime later than it would have been. */
static void note_pause(hb_engine *e, int64_t asked, int64_t woke) {
  int64_t over = woke - asked;
  if (over <= e->keepalive / 2) return;
  e->paused += over;
  e->paused_until = woke + e->warntime;
}

/* What one wake-up brought. Returns -1 when the thread must end (stop asked, or epoll failed), else
 * whether a frame was read. */
static int on_wake(hb_engine *e, const struct epoll_event *evs, int n) {
  if (n < 0 && errno != EINTR) {
    emit(e, HB_EV_STOPPED, -1, -1, 0, hb_monotonic_ns(), 0, errno, NULL, 0);
    return -1;
  }
  uint32_t drained = 0; /* links read in this wake-up */
  int frames = 0;
  for (int i = 0; i < n; i++) {
    uint32_t tag = evs[i].data.u32;
    if (tag == TAG_STOP) {
      emit(e, HB_EV_STOPPED, -1, -1, 0, hb_monotonic_ns(), 0, 0, NULL, 0);
      return -1;
    }
    if (tag == TAG_TIMER || tag == TAG_KICK) {
      uint64_t x;
      ssize_t r = read(tag == TAG_TIMER ? e->timerfd : e->kickfd, &x, sizeof x);
      (void)r;
    } else if (tag >= TAG_WAKE && tag < TAG_WAKE + HB_MAX_WAKE) {
      int w = (int)(tag - TAG_WAKE);
      if (!__atomic_exchange_n(&e->wake_pending[w], 1, __ATOMIC_ACQ_REL))
        emit(e, HB_EV_WAKE, -1, -1, 0, hb_monotonic_ns(), 0, w, NULL, 0);
    } else if (tag >= TAG_BELL && tag < TAG_BELL + HB_MAX_LINKS) {
      quiet_bell(e, (int)(tag - TAG_BELL), hb_monotonic_ns()); /* the news itself is read below */
    } else if (tag == TAG_PING) {
      ping_read(e);
    } else if (tag == TAG_NETLINK) {
      netlink_read(e);
    } else if (tag < (uint32_t)e->nlinks) {
      if (e->links[tag].kind == HB_LINK_SERIAL && (evs[i].events & (EPOLLHUP | EPOLLERR)) && e->links[tag].fd >= 0)
        serial_hangup(e, (int)tag, hb_monotonic_ns()); /* the other end went away: no busy loop on HUP */
      else {
        frames += drain(e, (int)tag);
        drained |= 1u << tag;
      }
    }
  }
  /* A peer sends its beat on every link at once: what came on the other links while we read this
   * one is read now, not in a wake-up of its own a few microseconds later. Listening quietly, every
   * wake-up reads every link, so nothing is judged on frames left unread (engine_quiet.c). */
  if (drained || e->quiet)
    for (int l = 0; l < e->nlinks; l++)
      if (!(drained & (1u << l)) && e->links[l].kind != HB_LINK_SERIAL && e->links[l].fd >= 0) frames += drain(e, l);
  return frames > 0 || (drained && !e->quiet);
}

/* The earliest of everything the thread must do next. */
static int64_t next_deadline(hb_engine *e, int64_t now, int64_t next_send) {
  int64_t next = judge(e, now);
  if (next_send < next) next = next_send;
  int64_t t = vip_tick(e, now);
  if (t < next) next = t;
  t = ping_tick(e, now);
  if (t < next) next = t;
  t = report_drops(e, now);
  return t < next ? t : next;
}

void *engine_thread(void *arg) {
  hb_engine *e = arg;
  prctl(PR_SET_NAME, "hb-engine"); /* top -H, ps -L and /proc/PID/task/TID/comm tell it from the JS thread */
  int64_t next_send = hb_monotonic_ns();
  int64_t woke = 0; /* when the last wait returned */
  int heard = 0;    /* the last wake-up read a frame */
  for (;;) {
    int64_t now = hb_monotonic_ns();
    /* frozen while handling the last wake-up (not while asleep): a pause too, noted before any verdict */
    if (woke) note_pause(e, woke, now);
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
    /* Awake anyway for a peer's frame and our beat is due within half a keepalive: send now. Whatever
     * their phases, one of two nodes is within half a keepalive of the other's beat, so the nodes fall
     * into step in one interval and share wake-ups (each costs far more than the work, in a VM): the
     * one that sends first wakes on its timer, the other on its beat only. Sending early never makes
     * a beat late; intervals stay within [0.5, 1] x keepalive (and just above it, see below). */
    int early = heard && now < next_send && next_send - now <= e->keepalive / 2;
    int due = now >= next_send || early;
    /* a changed record goes out at once, in an extra beat that leaves the schedule as it was */
    int record_new = __atomic_load_n(&e->record_new, __ATOMIC_ACQUIRE); /* no lock on every wake-up */
    if (due && !early) note_lateness(e, next_send, now);
    if (due || record_new) {
      pthread_mutex_lock(&e->mu);
      uint8_t payload[HB_PAYLOAD_MAX];
      send_all(e, HB_MSG_BEAT, payload, beat_payload(e, payload));
      __atomic_store_n(&e->record_new, 0, __ATOMIC_RELEASE);
      pthread_mutex_unlock(&e->mu);
      report_local(e, now);
    }
    if (due) {
      /* after an early beat, the next is due a little more than keepalive later, so that the peer's
       * next beat (one keepalive after its last) comes first again and keeps the step; never later
       * than halfway to warntime, so no peer ever sees it late */
      int64_t slack = e->keepalive / 16;
      if (slack > (e->warntime - e->keepalive) / 2) slack = (e->warntime - e->keepalive) / 2;
      next_send = early ? now + e->keepalive + slack : next_send + e->keepalive;
      if (next_send <= now) next_send = now + e->keepalive; /* after a stall: no burst of beats */
      serial_retry(e, now);
    }
    struct epoll_event evs[HB_MAX_LINKS + 4 + HB_MAX_WAKE];
    int64_t asked = next_deadline(e, now, next_send);
    quiet_arm(e, now, next_send);
    int n = wait_until(e, asked, evs, HB_MAX_LINKS + 4 + HB_MAX_WAKE);
    woke = hb_monotonic_ns();
    note_pause(e, asked > now ? asked : now, woke);
    heard = on_wake(e, evs, n);
    if (heard < 0) return NULL;
  }
}
