/**
 * The one loop: holds the machine state, feeds it events (heartbeat changes,
 * effect results, timers, commands) one at a time, and runs the effects it
 * returns. Effects run outside the machine and come back as events. The real
 * daemon and the simulations (test/sim) use this same class with different
 * Links, Runner and Clock.
 */

import type { Arbiter } from "../arbiter/types.ts";
import { decodeControl, encodeControl } from "../cluster/control.ts";
import {
  type Command,
  type Effect,
  initialState,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  recordOf,
  step,
  type TimerName,
  timerKey,
} from "../cluster/machine.ts";
import { decodeRecord, encodeRecord } from "../cluster/record.ts";
import type { HeartbeatEvent, Links } from "../heartbeat/types.ts";
import type { Runner } from "../resources/types.ts";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DriverHooks {
  log(line: string, level: "info" | "warn" | "error"): void;
  exit(code: number): void;
  /** every transition, for history and tests */
  onStep?(event: MachineEvent, state: MachineState, log: string[]): void;
  /** remember node standby across restarts */
  persist?(standby: boolean): void;
}

export interface CommandReply {
  ok: boolean;
  message: string;
}

export class Driver {
  state: MachineState;
  private readonly timers = new Map<string, unknown>();
  private readonly queue: MachineEvent[] = [];
  private busy = false;
  private nextId = 1;
  private readonly replies = new Map<number, (r: CommandReply) => void>();
  /** the arbiter's key releases in flight, by group: a "released" message waits for its key to go */
  private readonly releasing = new Map<number, Promise<void>>();

  constructor(
    public cfg: MachineConfig,
    private readonly links: Links,
    private readonly runner: Runner,
    private readonly clock: Clock,
    private readonly hooks: DriverHooks,
    private readonly arbiter?: Arbiter,
  ) {
    this.state = initialState(cfg, clock.now());
  }

  async start(): Promise<void> {
    const held: number[] = [];
    await this.runner.sweep(held); // nothing is ours yet: remove stale addresses of a previous life
    // the very first beat says who we are
    this.links.setRecord(encodeRecord(recordOf(this.state, this.cfg), this.cfg.groups.length));
    this.links.start((e) => this.onHeartbeat(e));
    this.arbiter?.start((e) => this.dispatch(e));
    this.dispatch({ type: "start" });
  }

  onHeartbeat(e: HeartbeatEvent): void {
    switch (e.type) {
      case "peer":
        this.dispatch({ type: "peer", peer: e.peer, liveness: e.state });
        break;
      case "record": {
        const r = decodeRecord(e.record);
        if (r) this.dispatch({ type: "record", peer: e.peer, record: r });
        else this.hooks.log(`ignoring an unreadable state record from ${e.peer}`, "warn");
        break;
      }
      case "control": {
        const m = decodeControl(e.data);
        if (m) this.dispatch({ type: "control", peer: e.peer, msg: m });
        break;
      }
      case "iface":
        this.dispatch({ type: "iface", ifname: e.ifname, up: e.up });
        break;
      case "score":
        this.dispatch({ type: "score", score: e.score });
        break;
      default:
        break;
    }
  }

  /** True while events wait unprocessed (the systemd watchdog then stays silent). */
  stuck(): boolean {
    return this.busy || this.queue.length > 0;
  }

  /** An operator command, as an event; resolves with the machine's answer. */
  command(c: Omit<Command, "id">): Promise<CommandReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.dispatch({ type: "command", id, ...c });
      // every command is answered within its own step; if the loop was not busy, that step has run
      if (!this.busy && this.replies.delete(id)) resolve({ ok: false, message: "the command was not answered" });
    });
  }

  /** A new config (checked safe by the caller): new groups may have been added at the end. */
  reconfigure(cfg: MachineConfig): void {
    this.cfg = cfg;
    this.dispatch({ type: "reload" });
  }

  /** The only way the state changes: one event at a time, in arrival order. */
  dispatch(e: MachineEvent): void {
    this.queue.push(e);
    if (this.busy) return;
    this.busy = true;
    try {
      for (let ev = this.queue.shift(); ev; ev = this.queue.shift()) {
        const r = step(this.cfg, this.state, ev, this.clock.now());
        this.state = r.state;
        for (const line of r.log) this.hooks.log(line, /failed|cannot|blocked/.test(line) ? "error" : "info");
        this.hooks.onStep?.(ev, r.state, r.log);
        for (const eff of r.effects) this.apply(eff);
      }
    } finally {
      this.busy = false;
    }
  }

  private apply(eff: Effect): void {
    switch (eff.type) {
      case "record":
        this.links.setRecord(encodeRecord(eff.record, this.cfg.groups.length));
        break;
      case "control": {
        const msg = eff.msg;
        const key = msg.kind === "released" ? this.releasing.get(msg.group) : undefined;
        if (key) void this.bounded(key, 1000).then(() => this.sendControl(msg));
        else this.sendControl(msg);
        break;
      }
      case "claim":
        if (!this.arbiter) break;
        if (eff.on) void this.arbiter.claim(eff.group, true);
        else {
          const gi = eff.group;
          const p = this.arbiter.claim(gi, false).finally(() => {
            if (this.releasing.get(gi) === p) this.releasing.delete(gi);
          });
          this.releasing.set(gi, p);
        }
        break;
      case "start":
      case "stop":
        this.runResource(eff.type, eff.group, eff.step);
        break;
      case "timer":
        this.setTimer(eff.timer, eff.at);
        break;
      case "exit":
        for (const h of this.timers.values()) this.clock.clearTimeout(h);
        this.timers.clear();
        this.hooks.exit(eff.code);
        break;
      case "announce":
        this.runner.announce(eff.group);
        break;
      case "reboot":
        this.hooks.log(`rebooting: ${eff.reason}`, "error");
        this.runner.reboot(eff.reason);
        break;
      case "reply": {
        const resolve = this.replies.get(eff.id);
        this.replies.delete(eff.id);
        resolve?.({ ok: eff.ok, message: eff.message });
        break;
      }
      case "persist":
        this.hooks.persist?.(eff.standby);
        break;
      case "fence": {
        const peer = eff.peer;
        const run = this.runner.fence
          ? this.runner.fence(peer)
          : Promise.resolve({ ok: false, error: "no fence command configured" });
        void run.then(
          (res) => this.dispatch({ type: "fenced", peer, ok: res.ok, error: res.error }),
          (err) => this.dispatch({ type: "fenced", peer, ok: false, error: String(err) }),
        );
        break;
      }
      case "drop-addresses":
        this.runner.dropAddresses?.(eff.group);
        break;
      case "monitor":
        this.runner.monitor?.(eff.group, eff.on, (r) =>
          this.dispatch({ type: "monitor", group: r.group, step: r.step, ok: r.ok, detail: r.detail }),
        );
        break;
      default: {
        const never: never = eff;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  private sendControl(msg: Parameters<typeof encodeControl>[0]): void {
    try {
      this.links.sendControl(encodeControl(msg));
    } catch (err) {
      this.hooks.log(`cannot send a control message: ${(err as Error).message}`, "warn");
    }
  }

  /** p, or ms on the machine's clock, whichever comes first. */
  private bounded(p: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const h = this.clock.setTimeout(resolve, ms);
      void p.finally(() => {
        this.clock.clearTimeout(h);
        resolve();
      });
    });
  }

  /** Every key release in flight has finished (or ms passed): at exit, before the lease is revoked. */
  settled(ms: number): Promise<void> {
    return this.bounded(
      Promise.all(this.releasing.values()).then(() => {}),
      ms,
    );
  }

  private runResource(op: "start" | "stop", group: number, s: number): void {
    void this.runner.run(op, group, s).then(
      (res) => {
        this.dispatch({ type: "done", group, step: s, op, ok: res.ok, error: res.error });
        // after a release, nothing of a group we do not hold may stay behind
        if (op === "stop" && s === 0 && res.ok) void this.runner.sweep(this.held());
      },
      (err) => this.dispatch({ type: "done", group, step: s, op, ok: false, error: String(err) }),
    );
  }

  /**
   * One timer per key: a new one replaces the old. It never fires before `at` on the machine's clock
   * (setTimeout may run a fraction of a millisecond early, and the machine compares deadlines with now).
   */
  private setTimer(timer: TimerName, at: number): void {
    const key = timerKey(timer);
    const old = this.timers.get(key);
    if (old !== undefined) this.clock.clearTimeout(old);
    const fire = () => {
      const left = at - this.clock.now();
      if (left > 0) {
        this.timers.set(key, this.clock.setTimeout(fire, Math.max(1, left)));
        return;
      }
      this.timers.delete(key);
      this.dispatch({ type: "timer", timer });
    };
    this.timers.set(key, this.clock.setTimeout(fire, Math.max(0, at - this.clock.now())));
  }

  held(): number[] {
    return this.state.groups.flatMap((g, i) =>
      g.phase === "stopped" || (g.phase === "failed" && g.until !== undefined) ? [] : [i],
    );
  }
}
