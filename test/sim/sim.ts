/**
 * A simulated cluster: every node runs the real Driver and state machine on a
 * FakeNetwork and a fake clock, with a fake resource runner whose resources
 * take time, can fail or hang. `holders(group)` is the truth the tests check:
 * which nodes have the group's resources up right now.
 */
import { FakeEtcd, type FakeEtcdClient } from "../../src/arbiter/fake.ts";
import { LeaseKeeper } from "../../src/arbiter/keeper.ts";
import type { MachineConfig } from "../../src/cluster/machine.ts";
import { heardOffset } from "../../src/cluster/record.ts";
import { type Clock, Driver } from "../../src/daemon/driver.ts";
import { FakeClock, FakeNetwork } from "../../src/heartbeat/fake.ts";
import { Threshold } from "../../src/resources/monitor.ts";
import type { MonitorReport, Runner, RunResult } from "../../src/resources/types.ts";

export interface SimOptions {
  nodes?: string[];
  groups?: MachineConfig["groups"];
  autoFailback?: boolean;
  timing?: { keepalive: number; warntime: number; deadtime: number; initdead: number };
  /** ms a resource takes to start / stop */
  resourceMs?: number;
  stopPolicy?: "block" | "reboot";
  /** extra machine settings (uplink, fencing, interfaces) */
  machine?: Partial<MachineConfig>;
  /** the etcd arbiter, on an in-memory etcd (each node's lease TTL) */
  etcd?: { ttlMs: number };
}

class FakeRunner implements Runner {
  /** resources up on this node: "group/step" */
  readonly up = new Set<string>();
  /** "start:group/step" or "stop:group/step" -> fail (true) or hang (Infinity) */
  readonly faults = new Map<string, true | number>();
  reboots = 0;
  /** every start and stop asked for, in order: "start:0/1" */
  readonly ops: string[] = [];
  announcements = 0;
  /** fence results, in order of calls (default: success after 10 ms) */
  fenceResults: boolean[] = [];
  fenced: string[] = [];
  fence(peer: string): Promise<RunResult> {
    this.fenced.push(peer);
    const ok = this.fenceResults.length ? this.fenceResults.shift()! : true;
    return new Promise((resolve) =>
      this.clock.setTimeout(() => resolve(ok ? { ok } : { ok, error: "injected fence failure" }), 10),
    );
  }
  announce(): void {
    this.announcements++;
  }
  constructor(
    readonly clock: FakeClock,
    readonly ms: number,
  ) {}
  run(op: "start" | "stop", group: number, step: number): Promise<RunResult> {
    const key = `${group}/${step}`;
    this.ops.push(`${op}:${key}`);
    const fault = this.faults.get(`${op}:${key}`);
    return new Promise((resolve) => {
      if (fault === Infinity) return; // hangs forever (the real runner has a timeout)
      this.clock.setTimeout(() => {
        if (fault === true) {
          if (op === "start") this.up.add(key); // half-started: the stop must clean it
          return resolve({ ok: false, error: "injected failure" });
        }
        if (op === "start") this.up.add(key);
        else this.up.delete(key);
        resolve({ ok: true });
      }, this.ms);
    });
  }
  async sweep(held: number[]): Promise<void> {
    for (const k of [...this.up]) if (!held.includes(Number(k.split("/")[0]))) this.up.delete(k);
  }
  reboot(): void {
    this.reboots++;
  }
  /** the daemon is gone: nothing watches its resources any more */
  stopMonitors(): void {
    for (const [g, gen] of this.watching) this.watching.set(g, gen + 1);
  }
  /** quorum lost: the address (step 0 in these simulations) goes at once */
  dropAddresses(group: number): void {
    this.up.delete(`${group}/0`);
  }
  /** monitors: every MONITOR_MS each running resource is checked (is it up?) against the real Threshold (fall 2, rise 2) */
  private readonly watching = new Map<number, number>();
  monitor(group: number, on: boolean, report: (r: MonitorReport) => void): void {
    const gen = (this.watching.get(group) ?? 0) + 1;
    this.watching.set(group, gen);
    if (!on) return;
    const keys = [...this.up].filter((k) => k.startsWith(`${group}/`));
    const th = keys.map(() => new Threshold(2, 2));
    const tick = () => {
      if (this.watching.get(group) !== gen) return;
      keys.forEach((k, i) => {
        const v = th[i]!.record(this.up.has(k));
        if (v) report({ group, step: Number(k.split("/")[1]), ok: v === "recovered", detail: `${k} is not running` });
      });
      this.clock.setTimeout(tick, MONITOR_MS);
    };
    this.clock.setTimeout(tick, MONITOR_MS);
  }
}

export const MONITOR_MS = 100;

export class Sim {
  readonly clock = new FakeClock();
  readonly net: FakeNetwork;
  readonly nodes: string[];
  readonly drivers = new Map<string, Driver>();
  readonly runners = new Map<string, FakeRunner>();
  readonly logs = new Map<string, string[]>();
  readonly exits = new Map<string, number>();
  readonly cfgOf: (self: string) => MachineConfig;
  readonly etcd?: FakeEtcd;
  /** each node's etcd client and keeper (a new one per start, like a new process) */
  readonly etcdClients = new Map<string, FakeEtcdClient>();
  readonly keepers = new Map<string, LeaseKeeper>();

  constructor(readonly o: SimOptions = {}) {
    this.nodes = o.nodes ?? ["n1", "n2"];
    const timing = o.timing ?? { keepalive: 50, warntime: 100, deadtime: 150, initdead: 1000 };
    this.net = new FakeNetwork(this.nodes, ["lan", "xover"], timing, this.clock);
    this.net.heardOffset = heardOffset((o.groups ?? [1]).length);
    const groups = o.groups ?? [{ name: "web", preferred: this.nodes[0]!, resources: ["ip", "httpd"] }];
    this.cfgOf = (self) => ({
      self,
      nodes: this.nodes.map((name, i) => ({ name, id: i + 1 })),
      groups,
      autoFailback: o.autoFailback ?? true,
      initdead: timing.initdead,
      failureHold: 60_000,
      stopRetries: 1,
      stopPolicy: o.stopPolicy ?? "block",
      deafGrace: timing.warntime,
      ...(o.etcd ? { arbiter: { grace: timing.keepalive + timing.deadtime } } : {}),
      ...o.machine,
    });
    if (o.etcd) this.etcd = new FakeEtcd(this.clockFor());
  }

  private clockFor(): Clock {
    return {
      now: () => this.clock.now,
      setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms),
      clearTimeout: (h) => this.clock.clearTimeout(h as number),
    };
  }

  private keeper(node: string, log: string[]): LeaseKeeper | undefined {
    if (!this.etcd || !this.o.etcd) return undefined;
    const client = this.etcd.client(node);
    this.etcdClients.set(node, client);
    const groups = this.cfgOf(node).groups;
    const k = new LeaseKeeper(client, this.clockFor(), {
      self: node,
      prefix: "/hb/sim/",
      ttlMs: this.o.etcd.ttlMs,
      groups: () => groups.map((g) => g.name),
      log: (line) => log.push(`${this.clock.now} ${line}`),
    });
    this.keepers.set(node, k);
    return k;
  }

  /** Who etcd's key for group gi names now ("" = nobody). */
  keyOwner(gi = 0): string {
    this.etcd!.expire();
    const name = this.cfgOf(this.nodes[0]!).groups[gi]!.name;
    return this.etcd!.keys.get(`/hb/sim/groups/${name}`)?.value ?? "";
  }

  /** Start (or restart) a node's daemon. */
  start(node: string): Driver {
    const clock = this.clockFor();
    const runner = this.runners.get(node) ?? new FakeRunner(this.clock, this.o.resourceMs ?? 5);
    this.runners.set(node, runner);
    const log = this.logs.get(node) ?? [];
    this.logs.set(node, log);
    this.exits.delete(node);
    const links = this.net.endpoint(node);
    const keeper = this.keeper(node, log);
    const d = new Driver(
      this.cfgOf(node),
      links,
      runner,
      clock,
      {
        log: (line) => log.push(`${this.clock.now} ${line}`),
        exit: (code) => {
          this.exits.set(node, code);
          links.stop();
          void d.settled(1000).then(() => keeper?.close());
        },
      },
      keeper,
    );
    this.drivers.set(node, d);
    void d.start();
    return d;
  }

  /** kill -9: the daemon is gone; its resources stay up (until a lease, in real life). */
  kill(node: string): void {
    this.net.endpoint(node).stop();
    const c = this.etcdClients.get(node);
    if (c) c.cut = true; // the process is gone: its lease is left to expire
    void this.keepers.get(node)?.close();
    this.runners.get(node)?.stopMonitors();
    this.drivers.delete(node);
  }

  /** Advance the fake clock 1 ms at a time, letting promise callbacks run in between. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 1) {
      this.clock.advance(1);
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Nodes where every resource of group gi is up. */
  holders(gi = 0): string[] {
    const n = (this.o.groups ?? [{ resources: ["ip", "httpd"] }])[gi]!.resources.length;
    return this.nodes.filter((node) =>
      Array.from({ length: n }, (_, s) => this.runners.get(node)?.up.has(`${gi}/${s}`)).every(Boolean),
    );
  }
  /** Nodes with any resource of group gi up. */
  touching(gi = 0): string[] {
    return this.nodes.filter((node) => [...(this.runners.get(node)?.up ?? [])].some((k) => k.startsWith(`${gi}/`)));
  }
  phase(node: string, gi = 0): string | undefined {
    return this.drivers.get(node)?.state.groups[gi]?.phase;
  }
}

/** Nodes with group 0's address (its step 0) up. */
export const withAddress = (sim: Sim) => sim.nodes.filter((n) => sim.runners.get(n)?.up.has("0/0"));

/** Run ms in 1 ms steps; the most nodes that had the address at once. */
export async function watch(sim: Sim, ms: number): Promise<number> {
  let worst = 0;
  for (let t = 0; t < ms; t++) {
    await sim.run(1);
    worst = Math.max(worst, withAddress(sim).length);
  }
  return worst;
}
