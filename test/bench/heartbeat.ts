/**
 * make bench (heartbeat part): CPU time and RSS of one daemon over a measured
 * window, two links (UDP broadcast + raw Ethernet), at keepalive 1 s and 20 ms.
 * Targets (issue 3): <= 0.5 % of one core at 20 ms; RSS <= 50 MB and flat.
 * BENCH_SECONDS shortens the window (default 60).
 */
import { readdirSync, readFileSync } from "node:fs";
import { netnsUnavailable } from "../lib/netns.ts";
import { withPair } from "./pair.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
/** CPU time of every thread of pid, in seconds (schedstat: nanosecond run time, not 10 ms ticks). */
export const cpuSeconds = (pid: number) =>
  readdirSync(`/proc/${pid}/task`).reduce((sum, t) => {
    try {
      return sum + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]) / 1e9;
    } catch {
      return sum;
    }
  }, 0);
const status = (pid: number, key: string) =>
  Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const rssMb = (pid: number) => status(pid, "VmRSS");

export interface HeartbeatBench {
  keepalive: string;
  cpuPercent: number;
  rssStart: number;
  rssEnd: number;
  rssMax: number;
  falseEvents: number;
  /** private (anonymous) memory at the end; the rest of RSS is the executable's own pages */
  anonEnd: number;
}

export async function benchHeartbeat(): Promise<HeartbeatBench[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const results: HeartbeatBench[] = [];
  for (const [keepalive, warntime, deadtime] of [
    ["1s", "2s", "3s"],
    ["20ms", "60ms", "100ms"],
  ] as const) {
    await withPair({ keepalive, warntime, deadtime }, async (a, b) => {
      await Bun.sleep(2000); // warm-up: JIT, first allocations
      const pid = a.proc.pid;
      const mark = a.lines.length;
      const c0 = cpuSeconds(pid);
      const t0 = performance.now();
      const rss: number[] = [rssMb(pid)];
      for (let s = 0; s < SECONDS; s += 5) {
        await Bun.sleep(Math.min(5, SECONDS - s) * 1000);
        rss.push(rssMb(pid));
      }
      const cpu = ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
      results.push({
        keepalive,
        cpuPercent: cpu,
        rssStart: rss[0]!,
        rssEnd: rss.at(-1)!,
        rssMax: Math.max(...rss),
        anonEnd: status(pid, "RssAnon"),
        falseEvents: a.matching(/-> (late|dead)/, mark).length + b.matching(/-> (late|dead)/).length,
      });
    });
  }
  return results;
}

export function printHeartbeat(rows: HeartbeatBench[]): void {
  console.log(
    `\nheartbeat daemon, two links, ${SECONDS} s measured (targets: <= 0.5 % of a core at 20 ms, RSS <= 50 MB and flat)`,
  );
  console.log("keepalive  CPU % of one core  RSS start  RSS end  RSS max  of which private  late/dead events");
  for (const r of rows)
    console.log(
      `${r.keepalive.padEnd(9)}  ${r.cpuPercent.toFixed(3).padStart(17)}  ${r.rssStart.toFixed(1).padStart(6)} MB  ${r.rssEnd.toFixed(1).padStart(4)} MB  ${r.rssMax.toFixed(1).padStart(4)} MB  ${r.anonEnd.toFixed(1).padStart(12)} MB  ${String(r.falseEvents).padStart(16)}`,
    );
}

if (import.meta.main) printHeartbeat(await benchHeartbeat());
