/**
 * make soak: memory over time. Two nodes in namespaces at tight timers (SOAK_KEEPALIVE_MS, default
 * 10 ms, deadtime 3 x) with a floating address, a steady trickle of operator traffic (status, report
 * and history on both nodes every 3 s: SOAK_TRAFFIC_MS) and, every 5 minutes (SOAK_FLAP_S), the
 * second link pulled for 2 s. Samples each daemon's RSS, PSS, anonymous memory, JavaScript heap (hb
 * status) and open descriptors every SOAK_SAMPLE seconds (default 60), prints a table as it goes,
 * and at the end the growth per hour after the warm-up (the first quarter of the run, at most 15
 * minutes), by least squares, and which of each daemon's mappings (/proc/PID/smaps: heap, JIT code,
 * the executable, stacks) grew after it. SOAK_SECONDS (default 3600). Needs root; not part of make
 * test.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HB, HbProcess } from "../lib/cluster.ts";
import { VIP, writeScripts } from "../lib/failover.ts";
import { Lab, netnsUnavailable, run } from "../lib/netns.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 3600);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE ?? 60);
const KEEPALIVE = Number(process.env.SOAK_KEEPALIVE_MS ?? 10);
const WARMUP_S = Math.min(900, SECONDS / 4);
const FLAP_EVERY_S = Number(process.env.SOAK_FLAP_S ?? 300);
/** The pause between rounds of operator traffic; shorter (and SOAK_FLAP_S) ages the daemon faster. */
const TRAFFIC_PAUSE_MS = Number(process.env.SOAK_TRAFFIC_MS ?? 3000);

interface Sample {
  t: number; // seconds since start
  node: number;
  rss: number; // kB
  pss: number;
  anon: number;
  heap: number; // bytes
  fds: number;
}

const kb = (file: string, key: string) =>
  Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(file, "utf8"))?.[1] ?? NaN);

async function sample(files: ClusterFiles, p: HbProcess, node: number, t: number): Promise<Sample> {
  const pid = p.proc.pid;
  const st = await run([HB, "status", "--json", "--socket", files.socket(node)]);
  let heap = NaN;
  try {
    heap = JSON.parse(st.stdout).node.js_heap_bytes;
  } catch {
    // the daemon did not answer: the row says so with NaN
  }
  return {
    t,
    node,
    rss: kb(`/proc/${pid}/status`, "VmRSS"),
    pss: kb(`/proc/${pid}/smaps_rollup`, "Pss"),
    anon: kb(`/proc/${pid}/status`, "RssAnon"),
    heap,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** Least-squares slope of y over t (per second). */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((a, [t]) => a + t, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [t, y]) => a + (t - mt) * (y - my), 0);
  const den = points.reduce((a, [t]) => a + (t - mt) ** 2, 0);
  return den ? num / den : NaN;
}

interface Probe {
  t: number;
  heap: number;
  objects: number;
  types: Record<string, number>;
}

/** From the daemon's heap probe (after a full collection): the object types that grew after the warm-up. */
function printGrowth(node: number, file: string): void {
  let probes: Probe[] = [];
  try {
    probes = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Probe);
  } catch {
    console.log(`  node${node}: no heap probe lines in ${file}`);
    return;
  }
  const first = probes.find((p) => p.t >= (probes[0]?.t ?? 0) + WARMUP_S) ?? probes[0];
  const last = probes.at(-1);
  if (!first || !last || first === last) return;
  const hours = (last.t - first.t) / 3600;
  console.log(
    `  node${node} heap after full collections: ${(first.heap / 1024).toFixed(0)} -> ${(last.heap / 1024).toFixed(0)} kB, objects ${first.objects} -> ${last.objects} over ${hours.toFixed(2)} h`,
  );
  const grew = Object.keys(last.types)
    .map((k) => [k, (last.types[k] ?? 0) - (first.types[k] ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12);
  for (const [k, d] of grew) console.log(`    ${k.padEnd(28)} +${d}`);
}

/** Resident kB of each mapping of pid, by a name that stays the same across samples (path or kind, and its rank). */
function mappings(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Map<string, number>();
  let key = "";
  for (const l of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l);
    if (h) {
      const name = h[4] ? h[4].replace(/.*\//, "") : `[anon ${h[3]}]`;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      key = `${name} #${n} (${(Number.parseInt(h[2]!, 16) - Number.parseInt(h[1]!, 16)) / 1024} kB mapped)`;
    } else {
      const r = /^Rss:\s+(\d+) kB/.exec(l);
      if (r) out.set(key, Number(r[1]));
    }
  }
  return out;
}

/** The mappings whose resident size changed between two samples, largest change first. */
function printMappings(node: number, from: Map<string, number> | undefined, to: Map<string, number>): void {
  if (!from) return;
  const diffs = [...new Set([...from.keys(), ...to.keys()])]
    .map((k) => [k, (to.get(k) ?? 0) - (from.get(k) ?? 0)] as const)
    .filter(([, d]) => d !== 0)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .slice(0, 8);
  console.log(`  node${node} mappings that changed after the warm-up (resident kB):`);
  for (const [k, d] of diffs) console.log(`    ${d > 0 ? "+" : ""}${d}  ${k}`);
}

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) throw new Error(`soak needs root and network namespaces: ${why}`);
  const dir = mkdtempSync(join(tmpdir(), "hb-soak-"));
  const lab = await Lab.create({ nodes: 2, lans: 2 });
  const ms = (n: number) => `${n}ms`;
  const files = new ClusterFiles(
    `${configText({
      nodes: 2,
      timing: {
        keepalive: ms(KEEPALIVE),
        warntime: ms(2 * KEEPALIVE),
        deadtime: ms(3 * KEEPALIVE),
        initdead: ms(Math.max(2000, 6 * KEEPALIVE)),
      },
      links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth1"'],
    })}\n[[group]]\nname = "web"\npreferred = "node1"\nresources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "ok" }]\n[paths]\nscript_dirs = ["${writeScripts(dir)}"]\n`,
  );
  const probeFile = (i: number) => join(dir, `heap${i}.jsonl`);
  const procs = [1, 2].map(
    (i) =>
      new HbProcess(
        lab.spawn(lab.nodes[i - 1]!, [HB, "--config", files.config(i), "--node", `node${i}`, "--log-level", "info"], {
          env: { ...process.env, HB_HEAP_PROBE: probeFile(i), HB_HEAP_PROBE_S: String(SAMPLE_S) } as Record<
            string,
            string
          >,
        }),
        `node${i}`,
      ),
  );
  const samples: Sample[] = [];
  /** each daemon's mappings when the warm-up ended, to compare with the end */
  const warm: (Map<string, number> | undefined)[] = [undefined, undefined];
  try {
    await procs[0]!.waitLine(/group web: starting -> running/, 15_000);
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    console.log(
      `soak: ${SECONDS} s, keepalive ${KEEPALIVE} ms, a sample every ${SAMPLE_S} s, growth after ${WARMUP_S} s, traffic every ${TRAFFIC_PAUSE_MS} ms, a flap every ${FLAP_EVERY_S} s`,
    );
    console.log("   time  node     RSS kB     PSS kB    anon kB   JS heap kB  fds");
    let nextSample = 0;
    let nextFlap = FLAP_EVERY_S;
    for (let round = 0; round < 1_000_000 && elapsed() < SECONDS; round++) {
      for (const i of [1, 2]) {
        await run([HB, "status", "--socket", files.socket(i)]);
        await run([HB, "report", "--socket", files.socket(i)]);
        await run([HB, "history", "--json", "--limit", "50", "--socket", files.socket(i)]);
      }
      if (elapsed() >= nextFlap) {
        await lab.plug(2, false, 1);
        await Bun.sleep(2000);
        await lab.plug(2, true, 1);
        nextFlap += FLAP_EVERY_S;
      }
      if (elapsed() >= nextSample) {
        for (const [k, p] of procs.entries()) {
          const s = await sample(files, p, k + 1, Math.round(elapsed()));
          samples.push(s);
          if (!warm[k] && s.t >= WARMUP_S) warm[k] = mappings(p.proc.pid);
          console.log(
            `${String(s.t).padStart(7)}  ${String(s.node).padStart(4)}  ${String(s.rss).padStart(9)}  ${String(s.pss).padStart(9)}  ${String(s.anon).padStart(9)}  ${String(Math.round(s.heap / 1024)).padStart(11)}  ${String(s.fds).padStart(3)}`,
          );
        }
        nextSample += SAMPLE_S;
      }
      await Bun.sleep(TRAFFIC_PAUSE_MS);
    }
    console.log(`\ngrowth per hour after ${WARMUP_S} s (least squares over the samples after it):`);
    for (const node of [1, 2]) {
      const after = samples.filter((s) => s.node === node && s.t >= WARMUP_S);
      const per = (f: (s: Sample) => number) => slope(after.map((s) => [s.t, f(s)])) * 3600;
      console.log(
        `  node${node}: RSS ${per((s) => s.rss).toFixed(0)} kB/h, PSS ${per((s) => s.pss).toFixed(0)} kB/h, anon ${per((s) => s.anon).toFixed(0)} kB/h, JS heap ${(per((s) => s.heap) / 1024).toFixed(0)} kB/h, fds ${per((s) => s.fds).toFixed(1)}/h (${after.length} samples)`,
      );
    }
    for (const node of [1, 2]) printGrowth(node, probeFile(node));
    for (const [k, p] of procs.entries()) printMappings(k + 1, warm[k], mappings(p.proc.pid));
    const lines = procs.flatMap((p) => p.matching(/-> (late|dead)/));
    console.log(`late/dead transitions during the run (flaps included): ${lines.length}`);
  } finally {
    for (const p of procs) await p.stop();
    await lab.destroy();
    files.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
