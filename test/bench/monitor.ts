/**
 * make bench (monitor part, issue 17): a real service (test/lib/service.ts) killed on the active node;
 * the time from the kill to the client's next successful TCP connect to the floating address, for a
 * restart in place and for a failover to the peer (on_fail = "failover"), at monitor interval 1 s and
 * 200 ms (fall 2, rise 1). BENCH_TRIALS (default 3) kills each. The client tries every 20 ms, each try
 * with a 200 ms connect timeout.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, type HbProcess, startHb } from "../lib/cluster.ts";
import { VIP } from "../lib/failover.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";
import { PORT, writeServiceScripts } from "../lib/service.ts";

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);

export interface MonitorBench {
  mode: "restart" | "failover";
  interval: string;
  /** kill -> next successful connect, ms, per trial */
  outage: number[];
}

/** Poll the service from the client until the node named answers (at most 20 s). */
async function nextConnect(lab: Lab, node: string): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 1000 && performance.now() - t0 < 20_000; i++) {
    const r = await lab.exec(lab.client!, ["socat", "-T", "1", "-u", `TCP:${VIP}:${PORT},connect-timeout=0.2`, "-"]);
    if (r.stdout.includes(node)) return performance.now();
    await Bun.sleep(20);
  }
  throw new Error(`the client never reached ${node}'s service`);
}

async function trial(lab: Lab, dir: string, scripts: string, mode: MonitorBench["mode"], interval: string) {
  const files = new ClusterFiles(`${configText({
    nodes: 2,
    timing: { keepalive: "50ms", warntime: "100ms", deadtime: "150ms", initdead: "2s" },
    links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth0"'],
  })}
[[group]]
name = "web"
preferred = "node1"
resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "tcpd", monitor = { interval = "${interval}", fall = 2, rise = 1 } }]
on_fail = "${mode}"

[paths]
script_dirs = ["${scripts}"]
`);
  const procs: HbProcess[] = [startHb(lab, files, 1), startHb(lab, files, 2)];
  try {
    await procs[0]!.waitLine(/group web: starting -> running/, 10_000);
    await nextConnect(lab, lab.nodes[0]!);
    await Bun.sleep(500);
    const pid = Number(readFileSync(join(dir, `tcpd-${lab.nodes[0]}.pid`), "utf8"));
    const t0 = performance.now();
    process.kill(pid, "SIGKILL");
    const at = await nextConnect(lab, lab.nodes[mode === "restart" ? 0 : 1]!);
    if (process.env.BENCH_DEBUG)
      for (const p of procs)
        for (const l of p.lines.filter((x) => x.t >= t0)) console.log(Math.round(l.t - t0), p.name, l.text);
    return Math.round(at - t0);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    files.cleanup();
    for (const n of lab.nodes) {
      try {
        process.kill(Number(readFileSync(join(dir, `tcpd-${n}.pid`), "utf8")), "SIGKILL");
      } catch {
        /* not running */
      }
      rmSync(join(dir, `tcpd-${n}.pid`), { force: true });
      await lab.exec(n, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
    }
  }
}

export async function benchMonitor(): Promise<MonitorBench[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-mon-"));
  const scripts = writeServiceScripts(dir);
  const lab = await Lab.create({ nodes: 2, client: true });
  const out: MonitorBench[] = [];
  try {
    for (const interval of ["1s", "200ms"])
      for (const mode of ["restart", "failover"] as const) {
        const b: MonitorBench = { mode, interval, outage: [] };
        for (let i = 0; i < TRIALS; i++) b.outage.push(await trial(lab, dir, scripts, mode, interval));
        out.push(b);
      }
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export function printMonitor(rows: MonitorBench[]): void {
  console.log(
    `\nmonitor: a killed service, kill -> the client's next TCP connect (ms; ${TRIALS} trials, fall 2, rise 1):`,
  );
  console.log("  interval  on_fail   median  worst   all");
  for (const r of rows) {
    const s = [...r.outage].sort((a, b) => a - b);
    const med = s[Math.floor(s.length / 2)] ?? NaN;
    console.log(
      `  ${r.interval.padEnd(8)}  ${r.mode.padEnd(8)}  ${String(med).padStart(6)}  ${String(s.at(-1)).padStart(5)}   ${r.outage.join(", ")}`,
    );
  }
}

if (import.meta.main) printMonitor(await benchMonitor());
