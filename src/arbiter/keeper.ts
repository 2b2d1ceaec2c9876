/**
 * The arbiter (issue 12): one etcd lease for this node, and a key per group that it wants or holds.
 *
 * Timing, all on our monotonic clock. A keepalive sent at t and answered with TTL T renews the lease at
 * etcd no earlier than t, so etcd cannot expire it before t + T. We call it valid until t + T - T/3 and
 * renew every T/6: five renewals may fail before the lease counts as lost, and when it does, a third of
 * the TTL is left for the daemon to remove its addresses before any peer can be given the key.
 *
 * A claim is a transaction: the key is created under our lease if nobody holds it, re-bound to our lease
 * if it names us already (an older lease of ours), else it names its holder and we ask again every POLL_MS
 * until it is free (its holder released it, or etcd expired its lease). Every round also reads all keys
 * under the prefix, so a key that changed behind our back (deleted by hand, taken) is noticed within T/6,
 * and one that names us for a group we do not want (an earlier run's, a release etcd did not answer) goes.
 */
import type { Arbiter, ArbiterReport, ArbiterStatus, KeyValue, LeaseStore } from "./types.ts";

export interface ArbiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface KeeperOptions {
  self: string;
  prefix: string;
  ttlMs: number;
  /** the groups' names by index (a reload may add some) */
  groups: () => string[];
  log: (line: string, level: "info" | "warn" | "error") => void;
  /** After each renewal: the earliest moment etcd may expire the lease (our clock); undefined once the
   * lease counts as lost (then the daemon decides itself whether to keep or drop what it holds). */
  onExpiry?: (at: number | undefined) => void;
}

/** How often a wanted key that someone else holds is asked for again. */
export const POLL_MS = 100;

export class LeaseKeeper implements Arbiter {
  private lease?: string;
  private ttlMs: number;
  private deadline = Number.NEGATIVE_INFINITY;
  private valid = false;
  private nextKeepalive = 0;
  private readonly wanted = new Set<number>();
  private readonly held = new Map<number, string>(); // last reported owner per wanted group ("" = nobody)
  private readonly owners = new Map<string, string>(); // key name -> value, from the last listing
  private readonly releases = new Map<number, (() => void)[]>();
  private reachable = false;
  private error?: string;
  private report: (e: ArbiterReport) => void = () => {};
  private timer?: unknown;
  private deadlineTimer?: unknown;
  private running = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly clock: ArbiterClock,
    private readonly opts: KeeperOptions,
  ) {
    this.ttlMs = opts.ttlMs;
  }

  start(report: (e: ArbiterReport) => void): void {
    this.report = report;
    this.kick();
  }

  claim(group: number, on: boolean): Promise<void> {
    if (on) {
      this.wanted.add(group);
      this.kick();
      return Promise.resolve();
    }
    this.wanted.delete(group);
    this.held.delete(group);
    return new Promise((resolve) => {
      this.releases.set(group, [...(this.releases.get(group) ?? []), resolve]);
      this.kick();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.deadlineTimer);
    if (!this.lease) return;
    try {
      await this.store.revoke(this.lease);
      this.opts.log(`arbiter: lease ${this.lease} revoked: our keys are gone`, "info");
    } catch (e) {
      this.opts.log(`arbiter: cannot revoke lease ${this.lease} (${(e as Error).message}): etcd expires it`, "warn");
    }
    this.lease = undefined;
  }

  status(): ArbiterStatus {
    const names = this.opts.groups();
    const prefix = this.keyOf("");
    return {
      kind: "etcd",
      reachable: this.reachable,
      endpoint: this.store.endpoint,
      lease: this.lease ?? null,
      lease_left_ms: Math.max(0, Math.round(this.deadline - this.clock.now())),
      ttl_ms: this.ttlMs,
      revision: this.store.revision,
      error: this.error ?? null,
      owners: Object.fromEntries(names.map((n) => [n, this.owners.get(prefix + n) ?? ""])),
    };
  }

  private keyOf(name: string): string {
    return `${this.opts.prefix}groups/${name}`;
  }

  private kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.loop();
  }

  private async loop(): Promise<void> {
    this.running = true;
    this.clock.clearTimeout(this.timer);
    try {
      for (let i = 0; i < 10; i++) {
        this.again = false;
        await this.round();
        if (!this.again || this.closed) break;
      }
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** Wake for the next keepalive, or sooner while a wanted key is held elsewhere. */
  private schedule(): void {
    if (this.closed) return;
    const now = this.clock.now();
    let at = this.lease ? this.nextKeepalive : now + this.ttlMs / 6;
    const waiting = [...this.wanted].some((g) => this.held.get(g) !== this.opts.self);
    if (waiting || this.releases.size) at = Math.min(at, now + POLL_MS);
    this.timer = this.clock.setTimeout(() => this.kick(), Math.max(0, at - now));
  }

  private async round(): Promise<void> {
    await this.keepLease();
    await this.doReleases();
    if (this.lease && this.valid) await this.doClaims();
  }

  private async keepLease(): Promise<void> {
    const sent = this.clock.now();
    if (!this.lease) {
      try {
        const g = await this.store.grant(Math.round(this.opts.ttlMs / 1000));
        this.lease = g.id;
        this.ttlMs = g.ttlS * 1000;
        this.opts.log(`arbiter: lease ${g.id} granted by ${this.store.endpoint} (TTL ${g.ttlS} s)`, "info");
        this.renewed(sent);
      } catch (e) {
        this.failed(e);
      }
      return;
    }
    if (sent < this.nextKeepalive) return;
    try {
      const ttl = await this.store.keepalive(this.lease);
      if (ttl > 0) {
        this.ttlMs = ttl * 1000;
        this.renewed(sent);
        return;
      }
      this.opts.log(`arbiter: etcd no longer has lease ${this.lease} (it expired there): our keys are gone`, "warn");
      this.lease = undefined;
      this.setValid(false, "etcd expired our lease");
      for (const g of this.wanted) this.setHeld(g, "");
      this.again = true;
    } catch (e) {
      this.failed(e);
      this.nextKeepalive = sent + this.ttlMs / 6;
    }
  }

  private renewed(sent: number): void {
    if (!this.reachable && this.error) this.opts.log(`arbiter: etcd answers again (${this.store.endpoint})`, "info");
    this.reachable = true;
    this.error = undefined;
    this.deadline = sent + this.ttlMs - this.ttlMs / 3;
    this.nextKeepalive = sent + this.ttlMs / 6;
    this.opts.onExpiry?.(sent + this.ttlMs);
    this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = this.clock.setTimeout(() => this.checkDeadline(), Math.max(0, this.deadline - sent));
    this.setValid(this.clock.now() < this.deadline);
  }

  private checkDeadline(): void {
    const left = this.deadline - this.clock.now();
    if (left > 0) this.deadlineTimer = this.clock.setTimeout(() => this.checkDeadline(), Math.max(1, left));
    else
      this.setValid(
        false,
        `lease not renewed for ${Math.round((2 * this.ttlMs) / 3)} ms: ${this.error ?? "no answer"}`,
      );
  }

  private failed(e: unknown): void {
    const msg = (e as Error).message ?? String(e);
    // an answer that refuses (a wrong password, a missing permission) is not an outage: say which
    const how = /^etcd \//.test(msg) ? "etcd refused a request" : "etcd does not answer";
    if (this.reachable || this.error === undefined) this.opts.log(`arbiter: ${how}: ${msg}`, "warn");
    this.reachable = false;
    this.error = msg;
  }

  private setValid(valid: boolean, detail?: string): void {
    if (!valid) this.opts.onExpiry?.(undefined);
    if (valid === this.valid) return;
    this.valid = valid;
    this.report({ type: "lease", valid, detail });
  }

  /** Report a wanted group's owner when it changes ("" = nobody). */
  private setHeld(group: number, owner: string): void {
    if (!this.wanted.has(group) || this.held.get(group) === owner) return;
    this.held.set(group, owner);
    const held = owner === this.opts.self;
    this.report({ type: "claim", group, held, owner: held || owner === "" ? undefined : owner });
  }

  /**
   * Keys that name us for groups we neither hold nor want: left by an earlier run (a crash, kill -9), or
   * a release that etcd did not answer. While they stay, a peer cannot take those groups.
   */
  private async dropUnwanted(kvs: KeyValue[], names: string[]): Promise<void> {
    for (const k of kvs) {
      const gi = names.findIndex((n) => this.keyOf(n) === k.key);
      if (k.value !== this.opts.self || this.wanted.has(gi)) continue;
      await this.store.deleteIf(k.key, k.modRevision);
      this.owners.delete(k.key);
      this.opts.log(
        `arbiter: removed ${k.key}: it named this node, which does not hold that group${k.lease === this.lease ? "" : " (left by an earlier run)"}`,
        "info",
      );
    }
  }

  private async doReleases(): Promise<void> {
    const names = this.opts.groups();
    for (const [group, waiters] of [...this.releases]) {
      this.releases.delete(group);
      if (this.wanted.has(group)) {
        for (const w of waiters) w();
        continue;
      }
      try {
        await this.store.release(this.keyOf(names[group]!), this.opts.self);
        this.owners.delete(this.keyOf(names[group]!));
      } catch (e) {
        this.failed(e);
      }
      for (const w of waiters) w();
    }
  }

  private async doClaims(): Promise<void> {
    const names = this.opts.groups();
    try {
      const kvs = await this.store.list(this.keyOf(""));
      this.owners.clear();
      for (const k of kvs) this.owners.set(k.key, k.value);
      await this.dropUnwanted(kvs, names);
      for (const group of [...this.wanted]) {
        const key = this.keyOf(names[group]!);
        const cur = kvs.find((k) => k.key === key);
        if (cur && cur.value === this.opts.self && cur.lease === this.lease) this.setHeld(group, this.opts.self);
        else if (cur && cur.value !== this.opts.self) this.setHeld(group, cur.value);
        else {
          const r = await this.store.claim(key, this.opts.self, this.lease!);
          this.owners.set(key, r.held ? this.opts.self : (r.owner ?? ""));
          this.setHeld(group, r.held ? this.opts.self : (r.owner ?? ""));
        }
      }
    } catch (e) {
      this.failed(e);
    }
  }
}
