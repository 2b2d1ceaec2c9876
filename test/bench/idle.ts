/**
 * make bench (idle part): what a cluster costs when nothing happens. Two nodes, two links (UDP
 * broadcast + raw Ethernet), at keepalive 1 s, 100 ms and 10 ms: CPU of one daemon, by thread (the JS
 * thread, the heartbeat engine thread "hb-engine", Bun's own threads), and how often each wakes up;
 * keepalived (VRRPv3, advert_int 1 s, 0.1 s and 0.01 s, its VRRP process and its parent) measured the same
 * way in the same run; and this machine's floor, a thread that only wakes at that interval.
 * Goal (issue 14): hb at or below keepalived at the same interval. BENCH_SECONDS (default 60) after
 * BENCH_WARMUP seconds (default 35).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HbProcess } from "../lib/cluster.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";
import { withPair } from "./pair.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 35);
const ROOT = join(import.meta.dir, "../..");

interface ThreadUse {
  name: string;
  cpu: number; // seconds
  wakeups: number; // times scheduled in
}
/** Per thread id: its name, CPU seconds and times run (schedstat). */
function threads(pids: number[]): Map<string, ThreadUse> {
  const out = new Map<string, ThreadUse>();
  for (const pid of pids)
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        const [run, , slices] = readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").trim().split(" ").map(Number);
        const name = Number(t) === pid ? "main" : readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
        out.set(`${pid}/${t}`, { name, cpu: run! / 1e9, wakeups: slices! });
      } catch {
        // a thread that ended
      }
    }
  return out;
}

export interface IdleRow {
  what: string;
  interval: string;
  cpuPercent: number;
  /** thread name -> [CPU %, wake-ups per second] */
  byThread: [string, number, number][];
}

/** Both nodes over the same window. */
async function measureBoth(
  what: [string, string],
  interval: string,
  pids: [() => number[], () => number[]],
): Promise<IdleRow[]> {
  return Promise.all([measure(what[0], interval, pids[0]), measure(what[1], interval, pids[1])]);
}

async function measure(what: string, interval: string, pids: () => number[]): Promise<IdleRow> {
  // warm-up: JIT, first allocations, first elections, and Bun's idle-GC timer, which ticks every
  // second for the first ~30 s of a quiet heap and then every 30 s (it is the runtime's, not hb's)
  await Bun.sleep(WARMUP_S * 1000);
  const before = threads(pids());
  const t0 = performance.now();
  await Bun.sleep(SECONDS * 1000);
  const after = threads(pids());
  const s = (performance.now() - t0) / 1000;
  // by thread name; a thread that came and went during the window counts for what it ran in it
  const sums = new Map<string, [number, number]>();
  for (const [tid, u] of after) {
    const b = before.get(tid) ?? { cpu: 0, wakeups: 0 };
    const [c, w] = sums.get(u.name) ?? [0, 0];
    sums.set(u.name, [c + ((u.cpu - b.cpu) / s) * 100, w + (u.wakeups - b.wakeups) / s]);
  }
  const byThread = [...sums].map(([n, [c, w]]): [string, number, number] => [n, c, w]);
  return {
    what,
    interval,
    cpuPercent: byThread.reduce((a, [, c]) => a + c, 0),
    byThread: byThread.sort((a, b) => b[1] - a[1]),
  };
}

/** An hb pair; with one link (UDP) it sends as many frames as a VRRP pair, where two links send twice as many. */
function hb(keepalive: string, warntime: string, deadtime: string, links: 1 | 2 = 2): Promise<IdleRow[]> {
  const what = (n: number) => `hb node${n}${links === 1 ? " 1 link" : ""}`;
  return withPair(
    { keepalive, warntime, deadtime },
    (a, b) => measureBoth([what(1), what(2)], keepalive, [() => [a.proc.pid], () => [b.proc.pid]]),
    links,
  );
}

async function keepalived(advert: number): Promise<IdleRow[]> {
  const lab = await Lab.create({ nodes: 2, lans: 1 });
  const dir = mkdtempSync(join(tmpdir(), "hb-idle-ka-"));
  const procs: HbProcess[] = [];
  try {
    for (const i of [1, 2]) {
      const d = join(dir, `ka${i}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(
        join(d, "keepalived.conf"),
        `global_defs {\n  router_id node${i}\n  vrrp_version 3\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority ${i === 1 ? 150 : 100}\n  advert_int ${advert}\n  virtual_ipaddress {\n    198.51.100.100/24 dev eth0\n  }\n}\n`,
      );
      const argv = ["keepalived", "-n", "-l", "-D", "-P", "-f", join(d, "keepalived.conf")];
      procs.push(
        new HbProcess(
          lab.spawn(lab.nodes[i - 1]!, [...argv, "-p", join(d, "k.pid"), "-r", join(d, "v.pid")]),
          `ka${i}`,
        ),
      );
    }
    await procs[0]!.waitLine(/Entering MASTER STATE/, 15_000);
    const pids = (i: number) => () => [
      procs[i]!.proc.pid,
      Number(readFileSync(join(dir, `ka${i + 1}`, "v.pid"), "utf8")),
    ];
    return await measureBoth(["keepalived master", "keepalived backup"], `${advert} s`, [pids(0), pids(1)]);
  } finally {
    for (const p of procs) await p.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function floor(ms: number): string {
  const cc = Bun.spawnSync(["gcc", "-O2", "-o", join(ROOT, "build/wakeup"), join(import.meta.dir, "wakeup.c")]);
  if (cc.exitCode !== 0) return "(no gcc)";
  const n = Math.max(3, Math.round(10_000 / ms));
  return Bun.spawnSync([join(ROOT, "build/wakeup"), String(ms), String(n)], { timeout: 30_000 })
    .stdout.toString()
    .trim();
}

export async function benchIdle(): Promise<{ rows: IdleRow[]; floors: string[] }> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const rows = [
    ...(await hb("1s", "2s", "3s")),
    ...(await hb("1s", "2s", "3s", 1)),
    ...(await keepalived(1)),
    ...(await hb("100ms", "300ms", "500ms")),
    ...(await hb("100ms", "300ms", "500ms", 1)),
    ...(await keepalived(0.1)),
    ...(await hb("10ms", "20ms", "30ms")),
    ...(await hb("10ms", "20ms", "30ms", 1)),
    ...(await keepalived(0.01)),
  ];
  return { rows, floors: [floor(1000), floor(100), floor(10)] };
}

export function printIdle({ rows, floors }: { rows: IdleRow[]; floors: string[] }): void {
  console.log(
    `\nidle: two nodes, nothing happening, ${SECONDS} s measured on node 1 after ${WARMUP_S} s (goal: hb at or below keepalived)`,
  );
  console.log("daemon             interval  CPU % of a core  by thread: CPU % (wake-ups/s)");
  for (const r of rows) {
    const parts = r.byThread
      .filter(([, c, w]) => c > 0.0005 || w > 0.05)
      .map(([n, c, w]) => `${n} ${c.toFixed(3)} (${w.toFixed(1)})`);
    console.log(
      `${r.what.padEnd(17)}  ${r.interval.padEnd(8)}  ${r.cpuPercent.toFixed(3).padStart(15)}  ${parts.join(", ")}`,
    );
  }
  for (let i = 0; i + 1 < rows.length; i += 2)
    console.log(
      `  ${rows[i]!.what.replace(/ (node1|master)/, "")} at ${rows[i]!.interval}: both nodes ${(rows[i]!.cpuPercent + rows[i + 1]!.cpuPercent).toFixed(3)} %`,
    );
  console.log(`floor: ${floors.join("; ")}`);
}

if (import.meta.main) printIdle(await benchIdle());
