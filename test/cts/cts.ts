/**
 * The randomized cluster test (make cts), after Pacemaker's CTS: seeded
 * iterations over 2- and 3-node hb clusters in network namespaces with a
 * pinging client. Each iteration applies one fault or operation, then audits
 * the cluster. The seed fixes the sequence of faults, nodes and durations, so
 * `CTS_SEED=S make cts` replays a failing run (timing on a real kernel varies).
 *
 * Audits after every iteration:
 *   one holder   the VIP is on exactly one node, steadily, within SETTLE_MS
 *   client       the client reaches the VIP
 *   markers      the group's script runs on exactly one node, the holder; and while the fault
 *                lasted it never ran on two, except where that is the documented price (a full or
 *                one-way partition, a frozen node, a cloned node: no quorum, no fencing here)
 *   alive        every daemon not killed on purpose is still running
 * And once at the end: no namespace and no process of ours left behind.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { encodeFrame } from "../lib/frame.ts";
import { Lab, leftoverNamespaces, run, waitFor } from "../lib/netns.ts";

export const FAULTS = [
  "kill9",
  "freeze",
  "term",
  "signal",
  "partition",
  "oneway",
  "linkcut",
  "carrier",
  "move",
  "reload",
  "forged",
  "duplicate",
  "loss",
] as const;
export type Fault = (typeof FAULTS)[number];
export const AUDITS = ["one holder", "client", "markers", "alive"] as const;
export type Audit = (typeof AUDITS)[number];
/** Faults whose documented price is two nodes running the group for a while. */
const TWO_ALLOWED: readonly Fault[] = ["partition", "oneway", "freeze", "duplicate"];

const VIP = "198.51.100.200";
/** time for a group to settle after a fault: a failed start's hold (5 s) plus a lease (1 s) and margin */
const SETTLE_MS = 8000;

export interface CtsOptions {
  seed: number;
  iterations: number;
  /** faults in order (each once, then again) and cluster sizes 2, 3, 2... instead of at random: the short pass of make test */
  cover?: boolean;
  /** iterations per cluster (a new lab, size and auto_failback for each); default 25 */
  block?: number;
  /** where daemon logs of failing iterations are kept */
  keepDir?: string;
  say?: (line: string) => void;
}

export interface Failure {
  iteration: number;
  fault: Fault;
  node: number;
  audit: Audit;
  message: string;
}

export interface CtsResult {
  seed: number;
  iterations: number;
  /** per fault, per audit: [passed, failed] */
  table: Record<Fault, Record<Audit, [number, number]>>;
  failures: Failure[];
  leaks: string[];
  seconds: number;
}

/** xorshift64*: the whole sequence follows from the seed. */
class Rng {
  private s: bigint;
  constructor(seed: number) {
    this.s = BigInt(seed) ^ 0x9e3779b97f4a7c15n || 1n;
  }
  next(): number {
    let x = this.s;
    x ^= x >> 12n;
    x ^= (x << 25n) & 0xffffffffffffffffn;
    x ^= x >> 27n;
    this.s = x;
    return Number(((x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) >> 11n) / 2 ** 53;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

/** The marker script: start/stop/status of "web" on the node named by its first argument. */
function writeMarker(dir: string): string {
  const d = join(dir, "resource.d");
  mkdirSync(d, { recursive: true });
  const f = join(d, "marker");
  writeFileSync(
    f,
    `#!/bin/sh\n# $1 = node, $2 = start|stop|status\ncase "$2" in\n  start) touch "${dir}/markers/$1" ;;\n  stop) rm -f "${dir}/markers/$1" ;;\n  status) [ -e "${dir}/markers/$1" ] || exit 3 ;;\nesac\nexit 0\n`,
  );
  chmodSync(f, 0o755);
  mkdirSync(join(dir, "markers"), { recursive: true });
  return d;
}

function clusterConfig(nodes: number, autoFailback: boolean, scripts: string): string {
  return `${configText({ nodes, links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth1"'], autoFailback })}
[[group]]
name = "web"
preferred = "node1"
resources = [
  { ip = "${VIP}/24", interface = "eth0", label = "eth0:0" },
  { script = "marker", args = ["NODE"] },
]

[addresses]
lease = "1s"

[resources]
failure_hold = "5s"
stop_retries = 0

[paths]
script_dirs = ["${scripts}"]
`;
}

/** One cluster: its lab, its daemons, and the faults applied to it. */
class Cluster {
  readonly procs: (HbProcess | undefined)[] = [];
  /** every daemon started here, restarts included */
  readonly all: HbProcess[] = [];
  private constructor(
    readonly lab: Lab,
    readonly files: ClusterFiles,
    readonly n: number,
    readonly dir: string,
  ) {}

  static async create(n: number, autoFailback: boolean, dir: string, prefixes: string[]): Promise<Cluster> {
    const lab = await Lab.create({ nodes: n + 1, lans: 2, client: true }); // the last namespace: a forger or a clone
    prefixes.push(lab.prefix);
    const scripts = writeMarker(dir);
    const files = new ClusterFiles(clusterConfig(n, autoFailback, scripts), (node, text) =>
      text.replace('args = ["NODE"]', `args = ["node${node}"]`),
    );
    const c = new Cluster(lab, files, n, dir);
    for (let i = 1; i <= n; i++) c.start(i);
    try {
      await waitFor("the first holder", async () => (await c.holders()).length === 1, 15_000, 50);
    } catch (e) {
      await c.stopAll();
      await lab.destroy();
      files.cleanup();
      throw e;
    }
    return c;
  }

  start(i: number): void {
    const p = startHb(this.lab, this.files, i);
    this.procs[i] = p;
    this.all.push(p);
  }
  async holders(): Promise<number[]> {
    const out: number[] = [];
    for (let i = 1; i <= this.lab.nodes.length; i++) {
      const r = await this.lab.exec(this.lab.nodes[i - 1]!, ["ip", "-o", "addr", "show", "dev", "eth0"]);
      if (r.stdout.includes(`inet ${VIP}/`)) out.push(i);
    }
    return out;
  }
  markers(): string[] {
    return readdirSync(join(this.dir, "markers")).sort();
  }
  hb(i: number, args: string[]) {
    return run([HB, ...args, "--socket", this.files.socket(i)], 15_000);
  }
  /** nftables in the switch: drop frames from node a to node b on both LANs. */
  async block(pairs: [number, number][]): Promise<void> {
    const rules = pairs.flatMap(([a, b]) =>
      [0, 1].map((l) => `add rule bridge cts fw iifname "n${a}l${l}" oifname "n${b}l${l}" drop`),
    );
    await this.lab.exec(this.lab.bridge, [
      "nft",
      `add table bridge cts; add chain bridge cts fw { type filter hook forward priority 0; }; ${rules.join("; ")}`,
    ]);
  }
  async heal(): Promise<void> {
    await this.lab.exec(this.lab.bridge, ["nft", "flush ruleset"]);
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p?.stop()));
  }
}

const exited = (p: HbProcess) => p.proc.exitCode !== null || p.proc.signalCode !== null;

/** Sample the markers while a fault runs: did two nodes ever run the group at once? */
function watchMarkers(c: Cluster): { stop(): string | undefined } {
  let two: string | undefined;
  let on = true;
  void (async () => {
    for (let i = 0; on && i < 10_000; i++) {
      const m = c.markers().filter((x) => x !== "clone");
      if (m.length > 1) two ??= `${m.join(" and ")} at once`;
      await Bun.sleep(50);
    }
  })();
  return {
    stop() {
      on = false;
      return two;
    },
  };
}

async function applyFault(c: Cluster, fault: Fault, i: number, rng: Rng): Promise<void> {
  const others = Array.from({ length: c.n }, (_, k) => k + 1).filter((k) => k !== i);
  const hold = 300 + rng.int(500);
  const proc = c.procs[i]!;
  switch (fault) {
    case "kill9":
      // a crash: the daemon and what it ran are gone (the marker too; the address lease runs out)
      proc.proc.kill("SIGKILL");
      await proc.proc.exited;
      rmSync(join(c.dir, "markers", `node${i}`), { force: true });
      await Bun.sleep(hold);
      c.start(i);
      break;
    case "freeze":
      proc.proc.kill("SIGSTOP");
      await Bun.sleep(hold + 300);
      proc.proc.kill("SIGCONT");
      break;
    case "term":
      proc.proc.kill("SIGTERM");
      await Promise.race([proc.proc.exited, Bun.sleep(8000)]);
      await Bun.sleep(hold);
      c.start(i);
      break;
    case "signal":
      for (const sig of [
        rng.pick(["SIGUSR1", "SIGHUP", "SIGALRM", "SIGPIPE", "SIGXCPU", "SIGIO"]),
        "SIGUSR2",
        "SIGUSR2",
      ])
        proc.proc.kill(sig as NodeJS.Signals);
      process.kill(proc.proc.pid, 34 + rng.int(30)); // a real-time signal
      await Bun.sleep(hold);
      break;
    case "partition":
      await c.block(
        others.flatMap(
          (o) =>
            [
              [i, o],
              [o, i],
            ] as [number, number][],
        ),
      );
      await Bun.sleep(hold);
      await c.heal();
      break;
    case "oneway":
      await c.block(others.map((o) => [i, o] as [number, number]));
      await Bun.sleep(hold);
      await c.heal();
      break;
    case "linkcut":
      await c.lab.plug(i, false, 1);
      await Bun.sleep(hold);
      await c.lab.plug(i, true, 1);
      break;
    case "carrier":
      await c.lab.plug(i, false, 0);
      await Bun.sleep(hold);
      await c.lab.plug(i, true, 0);
      break;
    case "move": {
      if (rng.int(2)) await c.hb(i, ["takeover", "web", "--wait", "--timeout", "5"]);
      else {
        await c.hb(i, ["standby", "web", "--wait", "--timeout", "5"]);
        await c.hb(i, ["takeover", "web", "--wait", "--timeout", "5"]);
      }
      break;
    }
    case "reload":
      if (rng.int(2)) proc.proc.kill("SIGHUP");
      else await c.hb(i, ["reload"]);
      await Bun.sleep(hold);
      break;
    case "forged": {
      // from the spare namespace: random bytes, and frames of our cluster with a wrong key, on the heartbeat port
      const spare = c.lab.nodes[c.n]!;
      for (let k = 0; k < 10; k++) {
        const f =
          k % 2
            ? encodeFrame({
                cluster: "lab",
                keyId: 1,
                secret: "not-the-key",
                linkId: 0,
                sender: i,
                generation: BigInt(Date.now()),
                seq: BigInt(k + 1),
              })
            : Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256)));
        const file = join(c.dir, "forged.bin");
        writeFileSync(file, f);
        await c.lab.exec(spare, ["socat", "-u", `OPEN:${file}`, "UDP-DATAGRAM:198.51.100.255:694,broadcast"]);
      }
      await Bun.sleep(hold);
      break;
    }
    case "duplicate": {
      // a clone of node i (a cloned VM: same name, its own state) in the spare namespace for a moment
      const state = join(c.files.dir, "state-clone");
      mkdirSync(state, { recursive: true });
      const cfg = join(c.files.dir, "ha-clone.toml");
      const text = (await Bun.file(c.files.config(i)).text())
        .replaceAll(join(c.files.dir, `state-node${i}`), state)
        .replace(`args = ["node${i}"]`, 'args = ["clone"]');
      writeFileSync(cfg, text, { mode: 0o600 });
      const clone = c.lab.spawn(c.lab.nodes[c.n]!, [HB, "--config", cfg, "--node", `node${i}`], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        stdout: "ignore",
        stderr: "ignore",
      });
      await Bun.sleep(1000 + hold);
      clone.kill("SIGKILL");
      await clone.exited;
      rmSync(join(c.dir, "markers", "clone"), { force: true });
      break;
    }
    case "loss":
      await c.lab.exec(c.lab.bridge, [
        "nft",
        "add table bridge cts; add chain bridge cts fw { type filter hook forward priority 0; }; add rule bridge cts fw numgen random mod 100 < 30 drop",
      ]);
      await Bun.sleep(1000 + hold);
      await c.heal();
      break;
  }
}

/** The audits after a fault; returns failures (empty: all passed). */
async function audit(c: Cluster, fault: Fault, twoDuring: string | undefined): Promise<[Audit, string][]> {
  const out: [Audit, string][] = [];
  // one holder, steady: the same single node in three samples 100 ms apart, and its script's marker
  // alone (a restarted node may take the group back meanwhile: then both must have moved)
  let last = "";
  let steady = false;
  const agree = (holder: number | undefined) => {
    const m = c.markers();
    return m.length === 1 && (holder === undefined || m[0] === `node${holder}`);
  };
  try {
    await waitFor(
      "one steady holder",
      async () => {
        const h: string[] = [];
        for (let k = 0; k < 3; k++) {
          h.push(JSON.stringify(await c.holders()));
          await Bun.sleep(100);
        }
        last = h[2]!;
        const one = JSON.parse(h[0]!) as number[];
        // on a cluster node: a clone's address in the spare namespace must have run out its lease
        steady = h.every((x) => x === h[0]) && one.length === 1 && one[0]! <= c.n;
        return steady && agree(one[0]) && JSON.stringify(await c.holders()) === h[0];
      },
      SETTLE_MS,
      50,
    );
  } catch {
    if (!steady) out.push(["one holder", `holders ${last} after ${SETTLE_MS} ms`]);
  }
  try {
    await waitFor(
      "the client to reach the VIP",
      async () => (await c.lab.exec(c.lab.client!, ["ping", "-c1", "-W1", VIP])).code === 0,
      3000,
      50,
    );
  } catch {
    out.push(["client", "no answer from the VIP within 3 s"]);
  }
  // The marker still follows the address, read with it: the holder sampled above may have moved on
  // since (a restarted node takes its group back meanwhile), so both are read again together until
  // they agree, while two markers at once fail at once: no move ever starts before the old holder
  // has stopped.
  let seen = "";
  let two: string | undefined;
  let ok = false;
  try {
    await waitFor(
      "the marker to follow the address",
      async () => {
        const h = await c.holders();
        const m = c.markers();
        if (m.length > 1) two ??= `${m.join(" and ")} at once`;
        seen = `markers [${m.join(", ")}] with the VIP on ${h.length ? h.map((n) => `node${n}`).join(", ") : "nobody"}`;
        ok = h.length === 1 && agree(h[0]) && (await c.holders()).join() === h.join();
        return ok || two !== undefined;
      },
      SETTLE_MS,
      50,
    );
  } catch {
    // seen says what was there at the end
  }
  if (two) out.push(["markers", `after the fault: ${two}`]);
  else if (!ok) out.push(["markers", seen || "never read"]);
  else if (twoDuring && !TWO_ALLOWED.includes(fault)) out.push(["markers", `during the fault: ${twoDuring}`]);
  const dead = c.procs.flatMap((p, k) =>
    p && exited(p)
      ? [`node${k} ${p.proc.signalCode ? `killed by ${p.proc.signalCode}` : `exited ${p.proc.exitCode}`}`]
      : [],
  );
  if (dead.length) out.push(["alive", dead.join(", ")]);
  return out;
}

export async function runCts(o: CtsOptions): Promise<CtsResult> {
  const t0 = performance.now();
  const say = o.say ?? ((l: string) => console.log(l));
  const rng = new Rng(o.seed);
  const table = Object.fromEntries(
    FAULTS.map((f) => [f, Object.fromEntries(AUDITS.map((a) => [a, [0, 0]]))]),
  ) as CtsResult["table"];
  const failures: Failure[] = [];
  const dir = mkdtempSync(join(tmpdir(), "hb-cts-"));
  const block = o.block ?? 25;
  const prefixes: string[] = [];
  const daemons: HbProcess[] = [];
  let c: Cluster | undefined;
  const retire = async () => {
    if (!c) return;
    daemons.push(...c.all);
    await c.stopAll();
    await c.lab.destroy();
    c.files.cleanup();
    c = undefined;
  };
  try {
    for (let it = 0; it < o.iterations; it++) {
      if (it % block === 0 || !c) {
        await retire();
        rmSync(join(dir, "markers"), { recursive: true, force: true });
        const n = o.cover ? 2 + (Math.floor(it / block) % 2) : rng.pick([2, 3]);
        const af = rng.int(2) === 1;
        c = await Cluster.create(n, af, dir, prefixes);
        say(
          `cts: cluster of ${n} nodes, auto_failback ${af ? "on" : "off"} (iterations ${it + 1}..${Math.min(o.iterations, it + block)})`,
        );
      }
      const fault = o.cover ? FAULTS[it % FAULTS.length]! : rng.pick(FAULTS);
      const node = 1 + rng.int(c.n);
      const marks = c.procs.map((p) => p?.lines.length ?? 0);
      const watch = watchMarkers(c);
      await applyFault(c, fault, node, rng);
      const two = watch.stop();
      const bad = await audit(c, fault, two);
      for (const a of AUDITS) table[fault][a][bad.some(([x]) => x === a) ? 1 : 0]++;
      for (const [a, message] of bad) {
        failures.push({ iteration: it + 1, fault, node, audit: a, message });
        say(`cts: iteration ${it + 1}: ${fault} on node${node}: ${a} FAILED: ${message}`);
      }
      if (bad.length && o.keepDir) {
        mkdirSync(o.keepDir, { recursive: true });
        for (const [k, p] of c.procs.entries())
          if (p)
            writeFileSync(
              join(o.keepDir!, `it${it + 1}-node${k}.log`),
              p.lines
                .slice(Math.max(0, (marks[k] ?? 0) - 50))
                .map((l) => l.text)
                .join("\n"),
            );
      }
      // a node that failed an audit is restarted, so one failure does not spoil the rest of the block
      for (const [k, p] of c.procs.entries()) if (p && exited(p)) c.start(k);
      if (!bad.length && (it + 1) % 25 === 0) say(`cts: ${it + 1} iterations, ${failures.length} audit failure(s)`);
    }
  } finally {
    await retire();
    rmSync(dir, { recursive: true, force: true });
  }
  // no namespace of ours, and no daemon we started, outlives the run
  const leaks = [
    ...prefixes.flatMap((p) => leftoverNamespaces(p)),
    ...daemons.filter((d) => !exited(d)).map((d) => `${d.name} (pid ${d.proc.pid}) still running`),
  ];
  return { seed: o.seed, iterations: o.iterations, table, failures, leaks, seconds: (performance.now() - t0) / 1000 };
}

/** The faults x audits table, as printed by make cts. */
export function renderTable(r: CtsResult): string {
  const head = ["fault", ...AUDITS];
  const rows = FAULTS.map((f) => [
    f,
    ...AUDITS.map((a) => {
      const [ok, bad] = r.table[f][a];
      return ok + bad === 0 ? "-" : bad ? `${bad} FAILED of ${ok + bad}` : `${ok} ok`;
    }),
  ]);
  const w = head.map((_, i) => Math.max(head[i]!.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows]
    .map((row) =>
      row
        .map((x, i) => x.padEnd(w[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
