/**
 * An etcd in memory for simulations and unit tests: leases that expire on the simulation's clock (their
 * keys go with them), the same transaction rules as etcd.ts, a whole-store outage (`down`) and a
 * per-client cut (`cut`). Like etcd, a store that comes back renews every lease it kept.
 */
import type { ArbiterClock } from "./keeper.ts";
import type { KeyValue, LeaseStore } from "./types.ts";

interface Lease {
  ttlMs: number;
  expires: number;
}

export class FakeEtcd {
  readonly keys = new Map<string, { value: string; lease: string; mod: number }>();
  readonly leases = new Map<string, Lease>();
  revision = 1;
  private nextLease = 100;
  private isDown = false;
  /** ms each request takes */
  latency = 1;

  constructor(readonly clock: ArbiterClock) {}

  get down(): boolean {
    return this.isDown;
  }
  set down(d: boolean) {
    // etcd's new leader renews every lease it has: no lease expires because the cluster was away
    if (this.isDown && !d) for (const l of this.leases.values()) l.expires = this.clock.now() + l.ttlMs;
    this.isDown = d;
  }

  /** Expire what is due (etcd does this on its own clock). */
  expire(): void {
    const now = this.clock.now();
    for (const [id, l] of this.leases)
      if (l.expires <= now) {
        this.leases.delete(id);
        for (const [k, v] of this.keys) if (v.lease === id) this.keys.delete(k);
        this.revision++;
      }
  }

  client(name: string): FakeEtcdClient {
    return new FakeEtcdClient(this, name);
  }

  grant(ttlS: number): { id: string; ttlS: number } {
    const id = String(this.nextLease++);
    this.leases.set(id, { ttlMs: ttlS * 1000, expires: this.clock.now() + ttlS * 1000 });
    return { id, ttlS };
  }

  put(key: string, value: string, lease: string): void {
    this.keys.set(key, { value, lease, mod: ++this.revision });
  }
}

export class FakeEtcdClient implements LeaseStore {
  /** this client cannot reach the store */
  cut = false;
  revision = "0";
  readonly endpoint: string;

  constructor(
    private readonly etcd: FakeEtcd,
    name: string,
  ) {
    this.endpoint = `fake://${name}`;
  }

  /** One request: it takes etcd.latency ms, and fails if the store is down or this client is cut off. */
  private async req<T>(fn: () => T): Promise<T> {
    await new Promise<void>((r) => this.etcd.clock.setTimeout(r, this.etcd.latency));
    if (this.cut || this.etcd.down) throw new Error("connection timed out");
    this.etcd.expire();
    const r = fn();
    this.revision = String(this.etcd.revision);
    return r;
  }

  grant(ttlS: number) {
    return this.req(() => this.etcd.grant(ttlS));
  }
  keepalive(id: string) {
    return this.req(() => {
      const l = this.etcd.leases.get(id);
      if (!l) return 0;
      l.expires = this.etcd.clock.now() + l.ttlMs;
      return l.ttlMs / 1000;
    });
  }
  revoke(id: string) {
    return this.req(() => {
      const l = this.etcd.leases.get(id);
      if (l) l.expires = Number.NEGATIVE_INFINITY;
      this.etcd.expire();
    });
  }
  claim(key: string, value: string, lease: string) {
    return this.req(() => {
      const cur = this.etcd.keys.get(key);
      if (cur && cur.value !== value) return { held: false, owner: cur.value };
      if (!this.etcd.leases.has(lease)) throw new Error("etcdserver: requested lease not found");
      if (!cur || cur.lease !== lease) this.etcd.put(key, value, lease);
      return { held: true };
    });
  }
  release(key: string, value: string) {
    return this.req(() => {
      if (this.etcd.keys.get(key)?.value === value) this.etcd.keys.delete(key);
    });
  }
  deleteIf(key: string, modRevision: string) {
    return this.req(() => {
      if (String(this.etcd.keys.get(key)?.mod) === modRevision) this.etcd.keys.delete(key);
    });
  }
  list(prefix: string): Promise<KeyValue[]> {
    return this.req(() =>
      [...this.etcd.keys]
        .filter(([k]) => k.startsWith(prefix))
        .map(([key, v]) => ({ key, value: v.value, lease: v.lease, modRevision: String(v.mod) })),
    );
  }
}
