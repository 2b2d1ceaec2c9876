/**
 * make bench (load part, issue 16): false failovers while the machine is busy in different ways.
 * stress-ng runs in a namespace of its own (its sockets stay there; CPU, memory and the kernel's
 * network work are shared), for BENCH_SECONDS (default 60) per cell; two idle nodes with one link
 * each, hb at 10/30, 20/60 and 50/150 ms (keepalive/deadtime) next to keepalived (VRRPv3) at
 * 0.01 s and 0.05 s, in the same run. A false failover: hb's peer declared dead, or keepalived's
 * backup entering MASTER.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HbProcess, startHb } from "../lib/cluster.ts";
import { VIP } from "../lib/failover.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";

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
}

/** Two hb nodes, idle, for SECONDS: how often either declared the other dead. */
async function hbCell(lab: Lab, [k, w, d]: readonly [number, number, number]): Promise<number> {
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
    return p.reduce((n, x, i) => n + x.matching(/peer node\d: (up|late) -> dead/, from[i]).length, 0);
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
    for (const [name, args] of LOADS) {
      const stress = lab.spawn(lab.nodes[2]!, ["stress-ng", ...args, "--timeout", `${SECONDS * 6 + 120}s`], {
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        await Bun.sleep(3000); // the load takes hold
        for (const t of HB_TIMINGS)
          rows.push({ load: name, daemon: `hb ${t[0]}/${t[2]}`, falseFailovers: await hbCell(lab, t) });
        if (haveKa)
          for (const a of KA_ADVERTS)
            rows.push({ load: name, daemon: `keepalived ${a} s`, falseFailovers: await keepalivedCell(lab, a, dir) });
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
  console.log(`\nload: false failovers in ${SECONDS} s per cell (stress-ng in its own namespace; idle pairs):`);
  console.log(`  ${"load".padEnd(24)}${daemons.map((d) => d.padStart(20)).join("")}`);
  for (const [load] of LOADS) {
    const cells = daemons.map((d) =>
      String(rows.find((r) => r.load === load && r.daemon === d)?.falseFailovers ?? "-"),
    );
    console.log(`  ${load.padEnd(24)}${cells.map((c) => c.padStart(20)).join("")}`);
  }
}

if (import.meta.main) printLoad(await benchLoad());
