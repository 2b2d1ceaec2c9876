/**
 * The legacy guard: listens (read-only) for Heartbeat v1 packets on hb's
 * interfaces and reports which legacy nodes are alive, and where. Only a node
 * whose packets verify with an authkeys key of the old cluster ([[legacy.key]])
 * is trusted: it alone may hold hb off a group. A node heard without a key to
 * check it is reported, never obeyed; a packet that does not verify is counted
 * as forged and ignored. A node is alive from its first packet until
 * `deadtime` passes without one. Distinct senders are capped, so a flood of
 * names cannot grow memory or the event history. Its listeners are read when
 * the heartbeat engine says they are readable (hb_engine_wake_on), on the
 * event loop: nothing here can block the heartbeat, and nothing polls. A
 * timer runs only while a node is alive, for the moment it would go silent.
 */
import type { LegacyKey } from "../config/schema.ts";
import { parseLegacy, verifyLegacy } from "./wire.ts";

export interface Listener {
  readonly ifname: string;
  /** the socket, for the engine to watch */
  readonly descriptor: number;
  read(): { payload: Uint8Array; from: string } | undefined;
  close(): void;
}

export interface LegacyNode {
  node: string;
  ifname: string;
  address: string;
  status?: string;
  lastSeen: number;
  /** its packets verify with a legacy key: it may hold hb off */
  trusted: boolean;
}

export interface GuardStats {
  packets: number;
  bad: number;
  lastBad?: string;
  forged: number;
  lastForged?: string;
  /** packets of senders beyond MAX_NODES, ignored */
  capped: number;
}

export const MAX_NODES = 16;

export class LegacyGuard {
  /** nodes heard, trusted or not, by "node@ifname" */
  readonly alive = new Map<string, LegacyNode>();
  readonly stats: GuardStats = { packets: 0, bad: 0, forged: 0, capped: 0 };
  private timer?: ReturnType<typeof setTimeout>;
  /** per poll and listener: a flood is read in slices, the event loop in between */
  static readonly SLICE = 256;

  constructor(
    private readonly listeners: Listener[],
    private readonly deadtimeMs: number,
    private readonly onChange: (n: LegacyNode, alive: boolean) => void,
    private readonly keys: LegacyKey[] = [],
    private readonly onForged: (why: string) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The sockets to watch: poll() when one is readable. */
  get descriptors(): number[] {
    return this.listeners.map((l) => l.descriptor);
  }

  /** Read what is waiting (a slice at a time), then expire the silent and set the timer for the next. */
  poll(): void {
    const t = this.now();
    let more = false;
    for (const l of this.listeners) {
      for (let i = 0; ; i++) {
        if (i === LegacyGuard.SLICE) {
          more = true; // the rest on the next turn of the event loop (the engine's wake-up is edge-triggered)
          break;
        }
        let d: ReturnType<Listener["read"]>;
        try {
          d = l.read();
        } catch {
          break; // the interface went away; try again next time
        }
        if (!d) break;
        this.take(l.ifname, d.payload, d.from, t);
      }
    }
    for (const [key, n] of this.alive)
      if (t - n.lastSeen > this.deadtimeMs) {
        this.alive.delete(key);
        this.onChange(n, false);
      }
    this.schedule(t, more);
  }

  /** Poll again: at once when a slice was left unread, else when the first live node would go silent. */
  private schedule(t: number, more: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!more && this.alive.size === 0) return;
    const next = Math.min(...[...this.alive.values()].map((n) => n.lastSeen + this.deadtimeMs + 1));
    this.timer = setTimeout(() => this.poll(), more ? 0 : Math.max(0, next - t));
    this.timer.unref();
  }

  private take(ifname: string, payload: Uint8Array, from: string, t: number): void {
    this.stats.packets++;
    const m = parseLegacy(payload);
    if (typeof m === "string") {
      this.stats.bad++;
      this.stats.lastBad = `${m} (from ${from} on ${ifname})`;
      return;
    }
    const v = verifyLegacy(payload, this.keys);
    if (v.verdict === "forged") {
      this.stats.forged++;
      this.stats.lastForged = `claims ${m.src}, from ${from} on ${ifname}: ${v.why}`;
      this.onForged(this.stats.lastForged);
      return;
    }
    const trusted = v.verdict === "verified";
    const key = `${m.src}@${ifname}`;
    const known = this.alive.get(key);
    if (!known && this.alive.size >= MAX_NODES) {
      this.stats.capped++;
      return;
    }
    const n: LegacyNode = {
      node: m.src,
      ifname,
      address: from,
      status: m.status,
      lastSeen: t,
      trusted: trusted || (known?.trusted ?? false),
    };
    this.alive.set(key, n);
    if (!known || (trusted && !known.trusted)) this.onChange(n, true);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const l of this.listeners) l.close();
  }
}
