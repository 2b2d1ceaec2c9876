/**
 * make bench (load part, issue 16): false failovers while the machine is busy in different ways.
 * stress-ng runs in a namespace of its own (its sockets stay there; CPU, memory and the kernel's
 * network work are shared), for BENCH_SECONDS (default 60) per cell; two idle nodes with one link
 * each, hb at 10/30, 20/60 and 50/150 ms (keepalive/deadtime) next to keepalived (VRRPv3) at
 * 0.01 s and 0.05 s, in the same run. A false failover: hb's peer declared dead, or keepalived's
 * backup entering MASTER. BENCH_LOAD=TEXT runs only the rows whose name (first column) contains TEXT
 * (`BENCH_LOAD="--cpu 0"` for the first row).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HB, HbProcess, startHb } from "../lib/cluster.ts";
import { VIP } from "../lib/failover.ts";
import { Lab, netnsUnavailable, run } from "../lib/netns.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
export const LOADS: [string, string[]][] = [
  ["--cpu 0", ["--cpu", "0"]],
  ["--vm 2 --vm-bytes 3G", ["--vm", "2", "--vm-bytes", "3G"]],
  ["--sock 2", ["--sock", "2"]],
  ["all of them, --timer 2", ["--cpu", "0", "--vm", "2", "--vm-bytes", "3G", "--sock", "2", "--timer", "2"]],
];
const HB_TIMINGS = [
  [10, 20, 30],
  [20, 40, 60],
  [50, 100, 150],
] as const;
const KA_ADVERTS = [0.01, 0.05];

export interface LoadRow {
  load: string;
  daemon: string;
  falseFailovers: number;
  /** Share of the machine's CPU the hypervisor took during the cell (steal, /proc/stat). */
  steal: number;
  /** hb only: the longest a heartbeat thread of the pair was kept from running (its worst beat lateness). */
  frozeMs?: number;
}

/** The machine's CPU time by kind (USER_HZ ticks): user nice system idle iowait irq softirq steal. */
export const cpu = () => readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);

/** Runs fn and measures the steal share of the machine's CPU meanwhile. */
async function withSteal<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const c0 = cpu();
  const n = await fn();
  const d = cpu().map((x, i) => x - c0[i]!);
  const total = d.reduce((a, b) => a + b, 0);
  return [n, total ? (100 * d[7]!) / total : 0];
}

/** The worst lateness of a node's beats since it started (hb status), in ms. */
async function worstLateMs(files: ClusterFiles, node: number): Promise<number> {
  const st = await run([HB, "status", "--json", "--socket", files.socket(node)]);
  try {
    return JSON.parse(st.stdout).node.lateness.worst_ms;
  } catch {
    return NaN; // the row says the daemon did not answer
  }
}

/**
 * Two hb nodes, idle, for SECONDS: how often either declared the other dead, and the longest either
 * heartbeat thread was kept from running. A thread kept off the CPU longer than deadtime - keepalive
 * is silent for deadtime, whatever hb does: its peer is right to call it dead.
 */
async function hbCell(lab: Lab, [k, w, d]: readonly [number, number, number]): Promise<[number, number]> {
  const files = new ClusterFiles(
    configText({
      nodes: 2,
      timing: { keepalive: `${k}ms`, warntime: `${w}ms`, deadtime: `${d}ms`, initdead: "3s" },
      links: ['kind = "udp"\ninterface = "eth0"'],
    }),
  );
  const p = [startHb(lab, files, 1), startHb(lab, files, 2)];
  try {
    await p[0]!.waitLine(/peer node2: unknown -> up/, 15_000);
    await p[1]!.waitLine(/peer node1: unknown -> up/, 15_000);
    const from = p.map((x) => x.lines.length);
    await Bun.sleep(SECONDS * 1000);
    const dead = p.reduce((n, x, i) => n + x.matching(/peer node\d: (up|late) -> dead/, from[i]).length, 0);
    return [dead, Math.max(await worstLateMs(files, 1), await worstLateMs(files, 2))];
  } finally {
    await Promise.all(p.map((x) => x.stop()));
    files.cleanup();
  }
}

/** keepalived, node1 master (priority 150), node2 backup, for SECONDS: how often the backup took over. */
async function keepalivedCell(lab: Lab, advert: number, dir: string): Promise<number> {
  const p: HbProcess[] = [];
  for (const i of [1, 2]) {
    const d = join(dir, `ka${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, "keepalived.conf"),
      `global_defs {\n  router_id node${i}\n  vrrp_version 3\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority ${i === 1 ? 150 : 100}\n  advert_int ${advert}\n  virtual_ipaddress {\n    ${VIP}/24 dev eth0\n  }\n}\n`,
    );
    const args = ["keepalived", "-n", "-l", "-D", "-P", "-f", join(d, "keepalived.conf"), "-p", join(d, "k.pid")];
    p.push(new HbProcess(lab.spawn(lab.nodes[i - 1]!, [...args, "-r", join(d, "v.pid")]), `keepalived${i}`));
  }
  try {
    await p[0]!.waitLine(/Entering MASTER STATE/, 15_000);
    await Bun.sleep(1000);
    const from = p[1]!.lines.length;
    await Bun.sleep(SECONDS * 1000);
    return p[1]!.matching(/Entering MASTER STATE/, from).length;
  } finally {
    await Promise.all(p.map((x) => x.stop()));
  }
}

export async function benchLoad(): Promise<LoadRow[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const haveKa = Bun.spawnSync(["sh", "-c", "command -v keepalived"]).exitCode === 0;
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-load-"));
  const lab = await Lab.create({ nodes: 3 }); // node3's namespace runs the load
  const rows: LoadRow[] = [];
  try {
    for (const [name, args] of LOADS.filter(([n]) => n.includes(process.env.BENCH_LOAD ?? ""))) {
      const stress = lab.spawn(lab.nodes[2]!, ["stress-ng", ...args, "--timeout", `${SECONDS * 6 + 120}s`], {
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        await Bun.sleep(3000); // the load takes hold
        for (const t of HB_TIMINGS) {
          const [[falseFailovers, frozeMs], steal] = await withSteal(() => hbCell(lab, t));
          rows.push({ load: name, daemon: `hb ${t[0]}/${t[2]}`, falseFailovers, steal, frozeMs });
        }
        if (haveKa)
          for (const a of KA_ADVERTS) {
            const [falseFailovers, steal] = await withSteal(() => keepalivedCell(lab, a, dir));
            rows.push({ load: name, daemon: `keepalived ${a} s`, falseFailovers, steal });
          }
      } finally {
        stress.kill("SIGINT"); // stress-ng ends its workers on SIGINT
        await stress.exited;
      }
    }
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function printLoad(rows: LoadRow[]): void {
  const daemons = [...new Set(rows.map((r) => r.daemon))];
  console.log(`\nload: false failovers in ${SECONDS} s per cell (stress-ng in its own namespace; idle pairs)`);
  console.log("  in brackets: the share of the machine's CPU the hypervisor took meanwhile (steal) and, for hb,");
  console.log("  the longest a heartbeat thread was kept from running (its worst beat lateness since start):");
  console.log(`  ${"load".padEnd(24)}${daemons.map((d) => d.padStart(24)).join("")}`);
  for (const [load] of LOADS) {
    const cells = daemons.map((d) => {
      const r = rows.find((r) => r.load === load && r.daemon === d);
      if (!r) return "-";
      return `${r.falseFailovers} (${r.steal.toFixed(1)} %${r.frozeMs === undefined ? "" : `, ${r.frozeMs} ms`})`;
    });
    console.log(`  ${load.padEnd(24)}${cells.map((c) => c.padStart(24)).join("")}`);
  }
}

if (import.meta.main) printLoad(await benchLoad());
