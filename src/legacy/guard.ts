/**
 * The legacy guard: listens (read-only) for Heartbeat v1 packets on hb's
 * interfaces and reports which legacy nodes are alive, and where. A node is
 * alive from its first valid message until `deadtime` passes without one.
 * Bad packets are counted and dropped. Polls its listeners from the event
 * loop (every 200 ms): a legacy node is seen within a fraction of its own
 * keepalive, and nothing here can block the heartbeat.
 */
import { parseLegacy } from "./wire.ts";

export interface Listener {
  readonly ifname: string;
  read(): { payload: Uint8Array; from: string } | undefined;
  close(): void;
}

export interface LegacyNode {
  node: string;
  ifname: string;
  address: string;
  status?: string;
  lastSeen: number;
}

export interface GuardStats {
  packets: number;
  bad: number;
  lastBad?: string;
}

export class LegacyGuard {
  readonly alive = new Map<string, LegacyNode>();
  readonly stats: GuardStats = { packets: 0, bad: 0 };
  private timer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly listeners: Listener[],
    private readonly deadtimeMs: number,
    private readonly onChange: (n: LegacyNode, alive: boolean) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(everyMs = 200): void {
    this.timer = setInterval(() => this.poll(), everyMs);
  }

  /** Read what is waiting (bounded), then expire the silent. */
  poll(): void {
    const t = this.now();
    for (const l of this.listeners) {
      for (let i = 0; i < 256; i++) {
        let d: ReturnType<Listener["read"]>;
        try {
          d = l.read();
        } catch {
          break; // the interface went away; try again next time
        }
        if (!d) break;
        this.stats.packets++;
        const m = parseLegacy(d.payload);
        if (typeof m === "string") {
          this.stats.bad++;
          this.stats.lastBad = `${m} (from ${d.from} on ${l.ifname})`;
          continue;
        }
        const key = `${m.src}@${l.ifname}`;
        const known = this.alive.get(key);
        const n: LegacyNode = { node: m.src, ifname: l.ifname, address: d.from, status: m.status, lastSeen: t };
        this.alive.set(key, n);
        if (!known) this.onChange(n, true);
      }
    }
    for (const [key, n] of this.alive)
      if (t - n.lastSeen > this.deadtimeMs) {
        this.alive.delete(key);
        this.onChange(n, false);
      }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const l of this.listeners) l.close();
  }
}
