/**
 * What each signal does to the daemon. No signal ends it except by design:
 *   TERM, INT, QUIT  hand every group over, then exit (a second one is refused: kill -9 aborts)
 *   HUP              reopen the log file and reload the config
 *   USR1             write a status snapshot to the log
 *   USR2             toggle debug logging
 * Every other signal whose default action ends a process is caught and logged
 * (at most once per RATE_MS per signal, with a count): the runtime's own
 * handlers where it has them, a counting handler in the shim for the rest
 * (SIGSTKFLT, the real-time signals). SIGPWR already has a handler of the
 * runtime's (seen: it has no effect, and ours is never called): not logged. Operators of Heartbeat and keepalived
 * send USR1/USR2 out of habit; a stray one must never cost a failover.
 */

import type { logger } from "../log/log.ts";
import { drainSignalWake, guardSignals, realtimeSignals, signalCount, signalWakeFd } from "../native/shim.ts";

export const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"] as const;
/** Fatal by default, handled by the runtime when asked: logged and ignored. */
export const IGNORED_SIGNALS = [
  "SIGPIPE",
  "SIGALRM",
  "SIGIO",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGTRAP",
  "SIGSYS",
] as const;
const SIGSTKFLT = 16;
const RATE_MS = 10_000;

export interface SignalActions {
  stop(sig: string): void;
  reload(): void;
  snapshot(): void;
  toggleDebug(): void;
}

export class Signals {
  private readonly last = new Map<string, number>();
  private readonly unseen = new Map<string, number>();
  private readonly native: { n: number; name: string; seen: number }[] = [];
  private flush?: ReturnType<typeof setTimeout>;

  constructor(
    private actions: Partial<SignalActions>,
    private readonly log: ReturnType<typeof logger>,
    private readonly now: () => number = () => performance.now(),
  ) {
    const on = (sig: string, fn: () => void) => process.on(sig as NodeJS.Signals, fn);
    for (const sig of STOP_SIGNALS) on(sig, () => this.call("stop", sig));
    on("SIGHUP", () => this.call("reload", "SIGHUP"));
    on("SIGUSR1", () => this.call("snapshot", "SIGUSR1"));
    on("SIGUSR2", () => this.call("toggleDebug", "SIGUSR2"));
    for (const sig of IGNORED_SIGNALS) on(sig, () => this.stray(sig));
    const rt = realtimeSignals();
    const nums = [SIGSTKFLT, ...Array.from({ length: rt.max - rt.min + 1 }, (_, i) => rt.min + i)];
    for (const n of guardSignals(nums))
      this.native.push({ n, name: n === SIGSTKFLT ? "SIGSTKFLT" : `SIGRTMIN+${n - rt.min}`, seen: 0 });
  }

  /** Install (or replace) what a signal does once the daemon can do it. */
  set(actions: Partial<SignalActions>): void {
    this.actions = { ...this.actions, ...actions };
  }

  private call(what: keyof SignalActions, sig: string): void {
    const fn = this.actions[what];
    if (fn) fn(sig);
    else this.log.warn(`${sig}: ignored: the daemon is still starting`);
  }

  /** Tell the signals held back by the rate limit once it allows: one timer, only while some wait. */
  private flushLater(ms: number): void {
    if (this.flush) return;
    this.flush = setTimeout(() => {
      this.flush = undefined;
      this.poll();
    }, ms);
    this.flush.unref(); // never what keeps the process alive at exit
  }

  /** A signal with nothing to do: say so, without flooding the log. */
  private stray(sig: string, times = 1): void {
    const t = this.now();
    const prev = this.last.get(sig);
    const pending = (this.unseen.get(sig) ?? 0) + times;
    if (prev !== undefined && t - prev < RATE_MS) {
      this.unseen.set(sig, pending);
      this.flushLater(RATE_MS - (t - prev));
      return;
    }
    this.last.set(sig, t);
    this.unseen.delete(sig);
    this.log.warn(
      `${sig} received${pending > 1 ? ` (${pending} times)` : ""}: ignored (hb stops on TERM, INT or QUIT; HUP reloads; USR1 logs the status; USR2 toggles debug logging)`,
    );
  }

  /** The eventfd every guarded signal bumps: the heartbeat engine watches it and calls poll(). */
  get wakeFd(): number {
    return signalWakeFd();
  }

  /** Signals the shim caught since the last call (run when the engine sees the eventfd readable). */
  poll(): void {
    drainSignalWake();
    for (const s of this.native) {
      const n = signalCount(s.n);
      if (n > s.seen) this.stray(s.name, n - s.seen);
      s.seen = n;
    }
    for (const [sig, n] of this.unseen)
      if (this.now() - (this.last.get(sig) ?? 0) >= RATE_MS && n > 0) this.stray(sig, 0);
  }
}
