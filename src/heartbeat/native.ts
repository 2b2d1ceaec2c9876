/** Links implemented by the C engine: names its raw events and counters. */
import { Engine, EV, type RawEvent, type Vip, type VipLease } from "../native/shim.ts";
import type { HeartbeatSetup } from "./setup.ts";
import {
  type AddressGuard,
  DROP_REASONS,
  type HeartbeatEvent,
  LIVENESS,
  type LinkCounters,
  type Links,
  type PeerLinks,
  VIP_OPS,
} from "./types.ts";

export class NativeLinks implements Links {
  private readonly engine: Engine;
  private readonly wakes: (() => void)[] = [];

  constructor(private readonly setup: HeartbeatSetup) {
    this.engine = new Engine(setup.spec);
  }

  private name(e: RawEvent): HeartbeatEvent {
    const peer = this.setup.peers[e.peer] ?? `#${e.peer}`;
    const link = this.setup.links[e.link] ?? `#${e.link}`;
    const at = e.tMs;
    switch (e.type) {
      case EV.PEER:
        return { type: "peer", peer, state: LIVENESS[e.state]!, gapMs: e.gapMs, at };
      case EV.LINK:
        return { type: "link", peer, link, state: LIVENESS[e.state]!, gapMs: e.gapMs, at };
      case EV.LOCAL:
        return { type: "local", link, up: e.state === 1, errno: e.arg, at };
      case EV.CARRIER:
        return { type: "carrier", link, up: e.state === 1, at };
      case EV.RECORD:
        return { type: "record", peer, record: e.data, at };
      case EV.CONTROL:
        return { type: "control", peer, link, data: e.data, at };
      case EV.OVERFLOW:
        return { type: "overflow", lost: e.arg, at };
      case EV.IFACE:
        return { type: "iface", ifname: this.setup.watches[e.arg] ?? `#${e.arg}`, up: e.state === 1, at };
      case EV.SCORE:
        return { type: "score", score: e.state, up: e.arg, at };
      case EV.DUPLICATE:
        return {
          type: "duplicate",
          peer: e.peer < 0 ? null : peer,
          link,
          addresses: new TextDecoder().decode(e.data).split(" "),
          at,
        };
      case EV.DROPS:
        return { type: "drops", at };
      case EV.SLOW:
        return { type: "slow", lateMs: e.gapMs, at };
      case EV.VIP:
        return {
          type: "vip",
          op: VIP_OPS[e.state as keyof typeof VIP_OPS] ?? "deadline",
          peer: e.peer < 0 ? null : peer,
          errno: e.arg,
          address: e.data.length === 4 ? [...e.data].join(".") : Buffer.from(e.data).toString("hex"),
          at,
        };
      default:
        return { type: "stopped", errno: e.arg, at };
    }
  }

  start(onEvent: (e: HeartbeatEvent) => void): void {
    this.engine.start((batch) => {
      for (const raw of batch) {
        if (raw.type !== EV.WAKE) onEvent(this.name(raw));
        else {
          this.engine.wakeAck(raw.arg); // first: what arrives while the callback reads raises a new wake-up
          this.wakes[raw.arg]?.();
        }
      }
    });
  }

  /** How late the heartbeat thread sent its beats (worst ever, worst lately, in ms) and how often too late. */
  lateness(): { worstMs: number; recentMs: number; slow: number } {
    return this.engine.lateness();
  }

  /** After start: lock what the heartbeat thread touches in RAM; the bytes locked, or the -errno refusing it. */
  lockMemory(): number {
    return this.engine.lockMemory();
  }

  /** After start: the heartbeat thread at real-time priority (0: normal); 0, or the -errno that refused it. */
  realtime(prio: number): number {
    return this.engine.realtime(prio);
  }

  /**
   * After start: call onReadable on the JS thread whenever fd becomes readable (the engine's epoll
   * watches it), so that nothing in JS polls. onReadable must read fd until it is empty.
   */
  wakeOn(fd: number, onReadable: () => void): void {
    this.wakes[this.engine.wakeOn(fd)] = onReadable;
    onReadable(); // what arrived before the engine watched it
  }

  setRecord(record: Uint8Array): void {
    this.engine.setRecord(record);
  }

  sendControl(data: Uint8Array): void {
    this.engine.sendControl(data);
  }

  counters(): Record<string, LinkCounters> {
    const out: Record<string, LinkCounters> = {};
    this.setup.links.forEach((name, i) => {
      const c = this.engine.counters(i).map(Number);
      const drops = Object.fromEntries(DROP_REASONS.map((r, j) => [r, c[j] ?? 0])) as LinkCounters["drops"];
      const n = DROP_REASONS.length;
      out[name] = { drops, tx: c[n] ?? 0, txErrors: c[n + 1] ?? 0, rx: c[n + 2] ?? 0, self: c[n + 3] ?? 0 };
    });
    return out;
  }

  /** What the native thread knows of every peer on every link (last frame on its monotonic clock, in ms). */
  peerLinks(): PeerLinks {
    return this.setup.peers.map((peer, pi) => ({
      peer,
      links: this.setup.links.map((link, li) => {
        const x = this.engine.peerLink(pi, li);
        return {
          link,
          lastRxMs: x.lastRxMs,
          state: LIVENESS[x.state] ?? "unknown",
          late: x.late,
          rx: x.rx,
          authFail: x.authFail,
          authFailMs: x.authFailMs,
        };
      }),
    }));
  }

  /** By peer name: what was last accepted from it (generation, sequence by link name), to keep replays out after a restart. */
  seen(): Record<string, { generation: string; seqs: Record<string, string> }> {
    return Object.fromEntries(
      this.setup.peers.map((peer, pi) => {
        const x = this.engine.peerSeen(pi, this.setup.links.length);
        return [
          peer,
          {
            generation: String(x.generation),
            seqs: Object.fromEntries(this.setup.links.map((l, li) => [l, String(x.seqs[li] ?? 0n)])),
          },
        ];
      }),
    );
  }

  /** New heartbeat timing, effective at once (hb reload). */
  setTiming(keepalive: number, warntime: number, deadtime: number): void {
    this.engine.setTiming(keepalive, warntime, deadtime);
  }

  /** The native thread removes every floating address it keeps once `inMs` from now passes, unless this is
   * called again first (null: no deadline): the arbiter's guard against a stalled JavaScript thread. */
  vipDeadline(inMs: number | null): void {
    this.engine.vipDeadline(inMs);
  }

  /** The native thread removes every floating address it keeps when a peer goes dead and the votes it
   * still hears fall below the rule's need, whether this thread runs or not; null: no rule. */
  vipGuard(rule: AddressGuard | null): void {
    const votes = this.setup.peers.map((p) => rule?.votes[p] ?? 0);
    this.engine.vipGuard(votes, rule?.self ?? 0, rule?.need ?? 0);
  }

  /** Keep a floating address leased and announced from the native thread. */
  vip(on: boolean, a: Vip, lease: VipLease): void {
    this.engine.vip(on, a, lease);
  }

  stop(): void {
    this.engine.close();
  }
}
