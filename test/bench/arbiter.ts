/**
 * make bench (arbiter part, issue 12): what the etcd arbiter costs a takeover. Two hb nodes at keepalive
 * 50 ms / deadtime 150 ms, with no arbiter, then with a real 3-member etcd (TLS, in namespaces) at ttl
 * 2 s and 3 s. For each, BENCH_TRIALS (default 3) times: kill -9 of the holder, and planned moves (hb
 * standby on the holder, then hb takeover there); the figure is the time from the fault or the command
 * to the new holder's "starting -> running".
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { EtcdCluster } from "../lib/etcd.ts";
import { VIP, writeScripts } from "../lib/failover.ts";
import { Lab, netnsUnavailable, run } from "../lib/netns.ts";

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);

export interface ArbiterBench {
  arbiter: string;
  kill: number[];
  standby: number[];
}

function config(etcd: EtcdCluster | undefined, ttl: number, scripts: string): string {
  const q = etcd
    ? `[quorum]
arbiter = "etcd"
endpoints = [${etcd.endpoints.map((e) => `"${e}"`).join(", ")}]
ca = "${etcd.client.ca}"
cert = "${etcd.client.cert}"
key = "${etcd.client.key}"
ttl = "${ttl}s"
`
    : "";
  return `${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth0"'] })}
${q}
[[group]]
name = "web"
preferred = "node1"
resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "ok" }]

[paths]
script_dirs = ["${scripts}"]
`;
}

/** ms from now until p logs its group running (from its next line on). */
async function takes(p: HbProcess, t0: number, from: number, all: HbProcess[] = []): Promise<number> {
  const l = await p.waitLine(/group web: starting -> running/, 15_000, from);
  if (process.env.BENCH_DEBUG)
    for (const q of all)
      for (const x of q.lines.filter((y) => y.t >= t0 && y.t <= l.t && !/DEBUG/.test(y.text)))
        console.log(Math.round(x.t - t0), q.name, x.text.slice(25));
  return Math.round(l.t - t0);
}

async function trials(lab: Lab, files: ClusterFiles): Promise<{ kill: number[]; standby: number[] }> {
  const procs: HbProcess[] = [startHb(lab, files, 1), startHb(lab, files, 2)];
  const out = { kill: [] as number[], standby: [] as number[] };
  try {
    await procs[0]!.waitLine(/group web: starting -> running/, 15_000);
    let holder = 0;
    for (let i = 0; i < TRIALS; i++) {
      await Bun.sleep(1000);
      const other = 1 - holder;
      const from = procs[other]!.lines.length;
      const t0 = performance.now();
      procs[holder]!.proc.kill("SIGKILL");
      out.kill.push(await takes(procs[other]!, t0, from));
      await procs[holder]!.proc.exited;
      await lab.exec(lab.nodes[holder]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
      procs[holder] = startHb(lab, files, holder + 1);
      await procs[holder]!.waitLine(/-> active|every peer heard/, 15_000);
      holder = other;
    }
    // planned moves: hb standby on the holder (the peer takes the group), then hb takeover there (it comes back)
    for (let i = 0; i < TRIALS; i++) {
      await Bun.sleep(1000);
      const other = 1 - holder;
      const from = procs[other]!.lines.length;
      const t0 = performance.now();
      await run([HB, "standby", "--socket", files.socket(holder + 1)]);
      out.standby.push(await takes(procs[other]!, t0, from, procs));
      await Bun.sleep(500);
      const back = procs[holder]!.lines.length;
      const t1 = performance.now();
      await run([HB, "takeover", "--socket", files.socket(holder + 1)]);
      out.standby.push(await takes(procs[holder]!, t1, back, procs));
      // (hb takeover left the peer yielding the group; a yield there would refuse the next standby)
      await run([HB, "clear", "web", "--socket", files.socket(other + 1)]);
    }
  } catch (e) {
    for (const p of procs) for (const l of p.matching(/\[cluster\]/).slice(-12)) console.error(p.name, l);
    throw e;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    for (const n of lab.nodes.slice(0, 2)) await lab.exec(n, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
  }
  return out;
}

export async function benchArbiter(): Promise<ArbiterBench[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-arb-"));
  const scripts = writeScripts(dir);
  const lab = await Lab.create({ nodes: 5, client: true });
  const etcd = new EtcdCluster(
    lab,
    lab.nodes.slice(2),
    [3, 4, 5].map((i) => Lab.nodeAddr(i)),
  );
  const out: ArbiterBench[] = [];
  try {
    await etcd.start();
    chmodSync(etcd.client.key, 0o600);
    for (const [label, e, ttl] of [
      ["none", undefined, 0],
      ["etcd, ttl 2 s", etcd, 2],
      ["etcd, ttl 3 s", etcd, 3],
    ] as const) {
      if (process.env.BENCH_ARBITER && !label.startsWith(process.env.BENCH_ARBITER)) continue;
      const files = new ClusterFiles(config(e, ttl, scripts));
      try {
        out.push({ arbiter: label, ...(await trials(lab, files)) });
      } finally {
        files.cleanup();
      }
    }
  } finally {
    await etcd.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export function printArbiter(rows: ArbiterBench[]): void {
  console.log(
    `\narbiter: fault -> the peer runs the group (ms; ${TRIALS} trials; keepalive 50 ms, deadtime 150 ms; etcd 3.4, 3 members, TLS):`,
  );
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  console.log("  arbiter          kill -9 (median, all)          standby/takeover (median, all)");
  for (const r of rows)
    console.log(
      `  ${r.arbiter.padEnd(15)}  ${String(med(r.kill)).padStart(6)}  ${r.kill.join(", ").padEnd(22)}  ${String(med(r.standby)).padStart(6)}  ${r.standby.join(", ")}`,
    );
}

if (import.meta.main) printArbiter(await benchArbiter());
