/**
 * make bench (where the time goes under load, issue 16, part 1): two nodes at keepalive 10 ms /
 * deadtime 30 ms, one link, stress-ng in a third namespace, BENCH_PAUSE_SECONDS (default 30) per load.
 * For each: dead verdicts, the longest silences heard, how late each node's beats left (its own
 * measure), what happened to the heartbeat thread itself (page faults, involuntary context switches,
 * from /proc), UDP receive buffer overflows in each namespace, and where the machine's CPU went
 * (steal, softirq) with ksoftirqd's share. A thread with no fault and no preemption whose beats still
 * leave late was simply not run: the vCPU was taken away or busy in interrupt context.
 */
import { readdirSync, readFileSync } from "node:fs";
import { ClusterFiles, configText, HB, startHb } from "../lib/cluster.ts";
import { Lab, netnsUnavailable, run } from "../lib/netns.ts";
import { cpu, LOADS } from "./load.ts";

const SECONDS = Number(process.env.BENCH_PAUSE_SECONDS ?? 30);

/** The hb-engine thread of pid: faults and context switches so far. */
function engine(pid: number): { majflt: number; minflt: number; involuntary: number } {
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() !== "hb-engine") continue;
    const st = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    const status = readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
    return {
      minflt: Number(f[7]),
      majflt: Number(f[9]),
      involuntary: Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]),
    };
  }
  throw new Error(`no hb-engine thread in ${pid}`);
}

/** CPU time (ms) of the ksoftirqd threads, which run the network work that did not fit in interrupts. */
function ksoftirqd(): number {
  let ticks = 0;
  for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      if (!st.includes("(ksoftirqd/")) continue;
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks * 10;
}

export interface PauseRow {
  load: string;
  dead: number;
  silences: number[];
  lateMs: number[];
  faults: number;
  involuntary: number;
  rcvbufErrors: number;
  steal: number;
  softirq: number;
  ksoftirqdMs: number;
}

async function rcvbufErrors(lab: Lab, ns: string): Promise<number> {
  const udp = (await lab.exec(ns, ["cat", "/proc/net/snmp"])).stdout.split("\n").filter((l) => l.startsWith("Udp:"));
  const names = udp[0]?.split(/\s+/) ?? [];
  return Number(udp[1]?.split(/\s+/)[names.indexOf("RcvbufErrors")] ?? Number.NaN);
}

async function cell(lab: Lab, name: string, args: string[]): Promise<PauseRow> {
  const stress = args.length
    ? lab.spawn(lab.nodes[2]!, ["stress-ng", ...args, "--timeout", `${SECONDS + 60}s`], {
        stdout: "ignore",
        stderr: "ignore",
      })
    : undefined;
  const files = new ClusterFiles(
    configText({
      nodes: 2,
      timing: { keepalive: "10ms", warntime: "20ms", deadtime: "30ms", initdead: "3s" },
      links: ['kind = "udp"\ninterface = "eth0"'],
    }),
  );
  const p = [startHb(lab, files, 1), startHb(lab, files, 2)];
  try {
    await Bun.sleep(3000);
    await p[0]!.waitLine(/peer node2: unknown -> up/, 15_000);
    await p[1]!.waitLine(/peer node1: unknown -> up/, 15_000);
    const from = p.map((x) => x.lines.length);
    const [e0, c0, k0] = [p.map((x) => engine(x.proc.pid)), cpu(), ksoftirqd()];
    await Bun.sleep(SECONDS * 1000);
    const [e1, c1, k1] = [p.map((x) => engine(x.proc.pid)), cpu(), ksoftirqd()];
    const d = c1.map((x, i) => x - c0[i]!);
    const total = d.reduce((a, b) => a + b, 0) || 1;
    const lateMs: number[] = [];
    for (const i of [1, 2]) {
      const st = JSON.parse((await run([HB, "status", "--json", "--socket", files.socket(i)])).stdout);
      lateMs.push(st.node.lateness.worst_ms);
    }
    const silences = p.flatMap((x, i) =>
      x
        .matching(/peer node\d: \w+ -> (late|dead) \(silent (\d+) ms/, from[i])
        .map((l) => Number(/silent (\d+) ms/.exec(l)![1])),
    );
    return {
      load: name,
      dead: p.reduce((n, x, i) => n + x.matching(/peer node\d: (up|late) -> dead/, from[i]).length, 0),
      silences: silences.sort((a, b) => b - a).slice(0, 3),
      lateMs,
      faults: e1.reduce((n, x, i) => n + x.majflt + x.minflt - e0[i]!.majflt - e0[i]!.minflt, 0),
      involuntary: e1.reduce((n, x, i) => n + x.involuntary - e0[i]!.involuntary, 0),
      rcvbufErrors: (await rcvbufErrors(lab, lab.nodes[0]!)) + (await rcvbufErrors(lab, lab.nodes[1]!)),
      steal: (100 * d[7]!) / total,
      softirq: (100 * d[6]!) / total,
      ksoftirqdMs: k1 - k0,
    };
  } finally {
    await Promise.all(p.map((x) => x.stop()));
    files.cleanup();
    stress?.kill("SIGINT");
    await stress?.exited;
  }
}

export async function benchPauses(): Promise<PauseRow[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const lab = await Lab.create({ nodes: 3 });
  const rows: PauseRow[] = [];
  try {
    for (const [name, args] of [["none", [] as string[]] as const, ...LOADS]) rows.push(await cell(lab, name, args));
  } finally {
    await lab.destroy();
  }
  return rows;
}

export function printPauses(rows: PauseRow[]): void {
  console.log(`\nwhere the time goes at 10/30 ms (${SECONDS} s per load; both nodes, hb-engine thread):`);
  console.log(
    "  load                      dead  longest silences  beats late (ms)  faults  preempted  rcvbuf  steal %  softirq %  ksoftirqd ms",
  );
  for (const r of rows)
    console.log(
      `  ${r.load.padEnd(24)}  ${String(r.dead).padStart(4)}  ${r.silences.join(",").padEnd(16)}  ${r.lateMs.join(",").padEnd(15)}  ${String(r.faults).padStart(6)}  ${String(r.involuntary).padStart(9)}  ${String(r.rcvbufErrors).padStart(6)}  ${r.steal.toFixed(1).padStart(7)}  ${r.softirq.toFixed(1).padStart(9)}  ${String(r.ksoftirqdMs).padStart(12)}`,
    );
}

if (import.meta.main) printPauses(await benchPauses());
