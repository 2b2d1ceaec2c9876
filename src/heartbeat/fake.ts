/**
 * A fake network and clock implementing Links, for simulations of whole
 * clusters (test/sim). Nodes beat every keepalive on the fake clock; a path
 * (from, to, link) can be cut in one direction; liveness is judged by the same
 * rules as the C engine (native/engine.c: judge/aggregate). Deterministic: no
 * real time, no randomness unless a test adds loss with its own seed.
 */
import type { HeartbeatEvent, HeartbeatTiming, LinkCounters, Links, Liveness } from "./types.ts";
import { DROP_REASONS } from "./types.ts";

export class FakeClock {
  now = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void; id: number }[] = [];

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.seq;
    this.timers.push({ at: this.now + Math.max(0, ms), seq: id, fn, id });
    return id;
  }
  clearTimeout(id: number): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }
  /** Run every timer due up to now + ms, in time order (ties in creation order). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (let guard = 0; guard < 10_000_000; guard++) {
      let next: (typeof this.timers)[number] | undefined;
      for (const t of this.timers)
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }
}

interface PeerLink {
  lastRx: number;
  state: Liveness;
}
interface PeerView {
  heard: boolean;
  state: Liveness;
  links: PeerLink[];
  record?: string;
}

class FakeLinks implements Links {
  private onEvent?: (e: HeartbeatEvent) => void;
  private record = new Uint8Array(0);
  private beatTimer?: number;
  private checkTimer?: { id: number; at: number };
  private start0 = 0;
  readonly view = new Map<string, PeerView>();
  readonly counts: Record<string, LinkCounters>;
  running = false;

  constructor(
    readonly net: FakeNetwork,
    readonly node: string,
  ) {
    this.counts = Object.fromEntries(
      net.links.map((l) => [
        l,
        {
          drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as LinkCounters["drops"],
          tx: 0,
          txErrors: 0,
          rx: 0,
          self: 0,
        },
      ]),
    );
  }

  start(onEvent: (e: HeartbeatEvent) => void): void {
    this.onEvent = onEvent;
    this.running = true;
    this.start0 = this.net.clock.now;
    this.view.clear();
    for (const p of this.net.nodes)
      if (p !== this.node)
        this.view.set(p, {
          heard: false,
          state: "unknown",
          links: this.net.links.map(() => ({ lastRx: 0, state: "unknown" as Liveness })),
        });
    const beat = () => {
      if (!this.running) return;
      this.net.deliver(this.node, "beat", this.payload());
      this.beatTimer = this.net.clock.setTimeout(beat, this.net.timing.keepalive);
    };
    beat();
    this.judge();
  }

  setRecord(record: Uint8Array): void {
    const changed = Buffer.compare(Buffer.from(record), Buffer.from(this.record)) !== 0;
    this.record = record.slice();
    // as the engine: a changed record goes out in an extra beat at once
    if (changed && this.running) this.net.deliver(this.node, "beat", this.payload());
  }
  /** As the engine's beat_payload: the heard set is written at send time. */
  private payload(): Uint8Array {
    const off = this.net.heardOffset;
    if (off === undefined || off + 4 > this.record.length) return this.record;
    const out = this.record.slice();
    let m = 0;
    for (const [name, p] of this.view)
      if (p.state === "up" || p.state === "late") m |= 1 << this.net.nodes.indexOf(name);
    new DataView(out.buffer).setUint32(off, m >>> 0);
    return out;
  }
  sendControl(data: Uint8Array): void {
    if (this.running) this.net.deliver(this.node, "control", data.slice());
  }
  counters(): Record<string, LinkCounters> {
    return structuredClone(this.counts);
  }
  stop(): void {
    this.running = false;
    if (this.beatTimer) this.net.clock.clearTimeout(this.beatTimer);
    if (this.checkTimer) this.net.clock.clearTimeout(this.checkTimer.id);
    this.checkTimer = undefined;
  }

  private emit(e: HeartbeatEvent) {
    this.onEvent?.(e);
  }

  /** A frame from `from` arrived on link index l. */
  receive(from: string, l: number, kind: "beat" | "control", data: Uint8Array): void {
    if (!this.running) return;
    const p = this.view.get(from);
    if (!p) return;
    const now = this.net.clock.now;
    const link = this.net.links[l]!;
    this.counts[link]!.rx++;
    const pl = p.links[l]!;
    const gapLink = pl.lastRx ? now - pl.lastRx : 0;
    const last = Math.max(...p.links.map((x) => x.lastRx));
    const gapPeer = last ? now - last : 0;
    pl.lastRx = now;
    p.heard = true;
    if (pl.state !== "up") {
      pl.state = "up";
      this.emit({ type: "link", peer: from, link, state: "up", gapMs: gapLink, at: now });
    }
    this.updatePeer(from, p, now, gapPeer);
    if (kind === "beat") {
      const hex = Buffer.from(data).toString("hex");
      if (p.record !== hex) {
        p.record = hex;
        this.emit({ type: "record", peer: from, record: data.slice(), at: now });
      }
    } else {
      this.emit({ type: "control", peer: from, link, data: data.slice(), at: now });
    }
    this.judge();
  }

  private aggregate(p: PeerView, now: number): Liveness {
    if (p.links.some((l) => l.state === "up")) return "up";
    if (p.links.some((l) => l.state === "late")) return "late";
    if (p.heard || now - this.start0 >= this.net.timing.initdead) return "dead";
    return "unknown";
  }

  private updatePeer(name: string, p: PeerView, now: number, gapUp: number) {
    const s = this.aggregate(p, now);
    if (s === p.state) return;
    const last = Math.max(...p.links.map((x) => x.lastRx));
    const wasAlive = p.state === "up" || p.state === "late";
    p.state = s;
    // as the engine: the heard set changed, so a beat goes out at the next wake-up
    if (this.net.heardOffset !== undefined && wasAlive !== (s === "up" || s === "late"))
      this.net.clock.setTimeout(() => {
        if (this.running) this.net.deliver(this.node, "beat", this.payload());
      }, 0);
    if (s === "dead") p.record = undefined; // as the engine: report the record again when it returns
    this.emit({ type: "peer", peer: name, state: s, gapMs: s === "up" ? gapUp : now - (last || this.start0), at: now });
  }

  /** Same rules as judge() in native/engine.c; schedules the next check. */
  private judge(): void {
    const now = this.net.clock.now;
    const t = this.net.timing;
    let next = Infinity;
    for (const [name, p] of this.view) {
      p.links.forEach((pl, l) => {
        const link = this.net.links[l]!;
        const set = (s: Liveness, gap: number) => {
          if (pl.state !== s) {
            pl.state = s;
            this.emit({ type: "link", peer: name, link, state: s, gapMs: gap, at: now });
          }
        };
        if (pl.state === "unknown") {
          const due = this.start0 + t.initdead;
          if (now >= due) set("dead", now - this.start0);
          else next = Math.min(next, due);
          return;
        }
        if (pl.state === "dead") return;
        const silent = now - pl.lastRx;
        if (silent >= t.deadtime) {
          set("dead", silent);
          return;
        }
        if (silent >= t.warntime && pl.state === "up") set("late", silent);
        next = Math.min(next, pl.lastRx + (pl.state === "late" ? t.deadtime : t.warntime));
      });
      this.updatePeer(name, p, now, 0);
      if (p.state === "unknown") next = Math.min(next, this.start0 + t.initdead);
    }
    if (next === Infinity || !this.running) return;
    if (this.checkTimer && this.checkTimer.at <= next && this.checkTimer.at > now) return;
    if (this.checkTimer) this.net.clock.clearTimeout(this.checkTimer.id);
    const id = this.net.clock.setTimeout(() => {
      this.checkTimer = undefined;
      this.judge();
    }, next - now);
    this.checkTimer = { id, at: next };
  }
}

export class FakeNetwork {
  readonly clock: FakeClock;
  private readonly endpoints = new Map<string, FakeLinks>();
  /** cut paths: `${from}>${to}#${link}` */
  private readonly cut = new Set<string>();
  /** one-way delay of every frame, ms */
  latency = 0;
  /** as hb_engine_set_heard: where records keep the heard set (bit i = nodes[i]), written at send time */
  heardOffset?: number;

  constructor(
    readonly nodes: string[],
    readonly links: string[],
    readonly timing: HeartbeatTiming,
    clock?: FakeClock,
  ) {
    this.clock = clock ?? new FakeClock();
  }

  /** The Links of one node (the same object on every call). */
  endpoint(node: string): Links {
    let e = this.endpoints.get(node);
    if (!e) {
      e = new FakeLinks(this, node);
      this.endpoints.set(node, e);
    }
    return e;
  }

  /** Cut or restore the path from -> to on one link (default: every link). */
  setPath(from: string, to: string, up: boolean, link?: string): void {
    for (const l of link ? [link] : this.links) {
      const k = `${from}>${to}#${l}`;
      if (up) this.cut.delete(k);
      else this.cut.add(k);
    }
  }
  /** Cut or restore both directions between two nodes. */
  setBoth(a: string, b: string, up: boolean, link?: string): void {
    this.setPath(a, b, up, link);
    this.setPath(b, a, up, link);
  }
  /** Isolate a node from everyone (its cable pulled), or plug it back. */
  isolate(node: string, isolated: boolean): void {
    for (const other of this.nodes) if (other !== node) this.setBoth(node, other, !isolated);
  }

  /** internal: fan a frame out over every link whose path is up */
  deliver(from: string, kind: "beat" | "control", data: Uint8Array): void {
    const sender = this.endpoints.get(from);
    for (const [l, link] of this.links.entries()) {
      if (sender) sender.counts[link]!.tx++;
      for (const [to, ep] of this.endpoints) {
        if (to === from || this.cut.has(`${from}>${to}#${link}`)) continue;
        const go = () => ep.receive(from, l, kind, data);
        if (this.latency > 0) this.clock.setTimeout(go, this.latency);
        else go();
      }
    }
  }
}
