/**
 * make bench (flood part): what a flood of forged frames costs the heartbeat. Two nodes at
 * keepalive 20 ms / deadtime 100 ms; a third host sends UDP datagrams to the heartbeat port:
 *   filtered   another cluster's id: the socket filter drops them in the kernel
 *   costly     our cluster, a listed sender, a wrong MAC: they reach the engine, which checks the MAC
 * For each it reports the engine's CPU per frame, and raises the rate (BENCH_FLOOD_SECONDS per step)
 * until node1 first sees its peer late: the flood rate a real beat survives.
 */
import { join } from "node:path";
import { ClusterFiles, configText, startHb } from "../lib/cluster.ts";
import { encodeFrame } from "../lib/frame.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";
import { cpuSeconds } from "./heartbeat.ts";

const STEP_S = Number(process.env.BENCH_FLOOD_SECONDS ?? 3);
const RATES = [10_000, 30_000, 100_000, 300_000];
const ROOT = join(import.meta.dir, "../..");
const FLOOD = join(ROOT, "build/flood");

export interface FloodRow {
  kind: "filtered" | "costly";
  rate: number;
  sent: number;
  /** µs of the daemon's CPU per frame sent, over the idle baseline */
  usPerFrame: number;
  late: boolean;
}

export async function benchFlood(): Promise<FloodRow[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const cc = Bun.spawnSync(["gcc", "-O2", "-o", FLOOD, join(import.meta.dir, "flood.c")]);
  if (cc.exitCode !== 0) throw new Error(`flood.c: ${cc.stderr.toString()}`);
  const frame = (cluster: string) =>
    encodeFrame({
      cluster,
      keyId: 1,
      secret: "not-the-key",
      linkId: 0,
      sender: 2,
      generation: 1n,
      seq: 1n,
      payload: new Uint8Array(21),
    }).toString("hex");
  const rows: FloodRow[] = [];
  for (const kind of ["filtered", "costly"] as const) {
    const lab = await Lab.create({ nodes: 3 });
    const files = new ClusterFiles(
      configText({
        nodes: 2,
        timing: { keepalive: "20ms", warntime: "60ms", deadtime: "100ms", initdead: "5s" },
        links: ['kind = "udp"\ninterface = "eth0"'],
      }),
    );
    try {
      const a = startHb(lab, files, 1);
      const b = startHb(lab, files, 2);
      await a.waitLine(/peer node2: unknown -> up/, 10_000);
      await b.waitLine(/peer node1: unknown -> up/, 10_000);
      await Bun.sleep(1000);
      const pid = a.proc.pid;
      const c0 = cpuSeconds(pid);
      await Bun.sleep(STEP_S * 1000);
      const idle = (cpuSeconds(pid) - c0) / STEP_S;
      const hex = frame(kind === "filtered" ? "another-cluster" : "lab");
      for (const rate of RATES) {
        const mark = a.lines.length;
        const c1 = cpuSeconds(pid);
        const r = await lab.exec(
          lab.nodes[2]!,
          [FLOOD, hex, "198.51.100.255", "694", String(rate), String(STEP_S)],
          (STEP_S + 10) * 1000,
        );
        const cpu = cpuSeconds(pid) - c1 - idle * STEP_S;
        const sent = Number(/sent (\d+)/.exec(r.stdout)?.[1] ?? 0);
        const late = a.matching(/peer node2: up -> late/, mark).length > 0;
        rows.push({ kind, rate, sent, usPerFrame: sent ? (Math.max(0, cpu) / sent) * 1e6 : 0, late });
        if (late) break;
        await Bun.sleep(500);
      }
      await a.stop();
      await b.stop();
    } finally {
      await lab.destroy();
      files.cleanup();
    }
  }
  return rows;
}

export function printFlood(rows: FloodRow[]): void {
  console.log(
    `\nflood of forged frames at node1 (keepalive 20 ms, deadtime 100 ms, ${STEP_S} s per rate): daemon CPU per frame, and whether node1 saw its peer late`,
  );
  console.log("frames     asked/s  sent/s    µs/frame  peer late");
  for (const r of rows)
    console.log(
      `${r.kind.padEnd(9)}  ${String(r.rate).padStart(7)}  ${String(Math.round(r.sent / STEP_S)).padStart(7)}  ${r.usPerFrame.toFixed(2).padStart(10)}  ${r.late ? "YES" : "no"}`,
    );
  const late = rows.find((r) => r.late);
  console.log(
    late
      ? `first late at ${late.kind} ${Math.round(late.sent / STEP_S)} frames/s`
      : "no beat was late at any rate this machine could send",
  );
}

if (import.meta.main) printFlood(await benchFlood());
