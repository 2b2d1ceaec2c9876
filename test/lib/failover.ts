/** Helpers for failover tests and the demo: a two-node cluster with a VIP and a pinging client. */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClusterFiles, configText, type HbProcess, startHb } from "./cluster.ts";
import { eachLine, Lab } from "./netns.ts";

export const VIP = "198.51.100.200"; // the lab client is .100

/** LSB-style scripts: ok (records start/stop in a state file), fail (start exits 1), hang (start sleeps). */
export function writeScripts(dir: string): string {
  const d = join(dir, "resource.d");
  mkdirSync(d, { recursive: true });
  const script = (name: string, start: string) => {
    const f = join(d, name);
    writeFileSync(
      f,
      `#!/bin/sh\n# test script: $1 = start|stop|status\ncase "$1" in\n  start) ${start} ;;\n  stop) rm -f "${dir}/$(hostname)-${name}.up"; echo "${name} stopped"; exit 0 ;;\n  status) exit 0 ;;\nesac\n`,
    );
    chmodSync(f, 0o755);
  };
  script("ok", `echo "ok started"; exit 0`);
  script("fail", `echo "fail: cannot start (test)" >&2; exit 1`);
  script("hang", `echo "hang: starting forever"; sleep 60`);
  // nostop: starts, but its stop always fails
  const f = join(d, "nostop");
  writeFileSync(
    f,
    `#!/bin/sh\ncase "$1" in\n  start) echo "nostop started"; exit 0 ;;\n  stop) echo "nostop: cannot stop (test)" >&2; exit 1 ;;\nesac\n`,
  );
  chmodSync(f, 0o755);
  return d;
}

export interface FailoverCluster {
  lab: Lab;
  files: ClusterFiles;
  nodes: (HbProcess | undefined)[];
}

export const VIP6 = "2001:db8::200";

export function failoverConfig(
  scriptDir: string,
  opts: {
    script?: string;
    autoFailback?: boolean;
    timeout?: string;
    timing?: Parameters<typeof configText>[0]["timing"];
    ipv6?: boolean;
  } = {},
): string {
  const script = `{ script = "${opts.script ?? "ok"}"${opts.timeout ? `, timeout = "${opts.timeout}"` : ""} }${opts.ipv6 ? `,\n  { ip = "${VIP6}/64", interface = "eth0" }` : ""}`;
  return `${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"'], autoFailback: opts.autoFailback ?? true, timing: opts.timing })}
[[group]]
name = "web"
preferred = "node1"
resources = [
  { ip = "${VIP}/24", interface = "eth0", label = "eth0:0" },
  ${script},
]

[resources]
failure_hold = "1m"
stop_retries = 0

[paths]
script_dirs = ["${scriptDir}"]
`;
}

/** Which nodes have the VIP configured now. */
export async function holders(lab: Lab): Promise<number[]> {
  const out: number[] = [];
  for (let i = 1; i <= lab.nodes.length; i++) {
    const r = await lab.exec(lab.nodes[i - 1]!, ["ip", "-o", "addr", "show", "dev", "eth0"]);
    if (r.stdout.includes(`inet ${VIP}/`)) out.push(i);
  }
  return out;
}

/** The MAC the client's neighbour table gives the VIP. */
export async function clientMac(lab: Lab): Promise<string> {
  const r = await lab.exec(lab.client!, ["ip", "neigh", "show", VIP]);
  return /lladdr (\S+)/.exec(r.stdout)?.[1] ?? "";
}

/** A client pinging the VIP every 10 ms; outage() = the longest gap between answers, minus the interval. */
export class Pinger {
  private readonly replies: number[] = [];
  private readonly proc: ReturnType<Lab["spawn"]>;
  constructor(lab: Lab, intervalS = 0.01) {
    const proc = lab.spawn(lab.client!, ["ping", "-D", "-n", "-i", String(intervalS), "-W", "1", VIP]);
    this.proc = proc;
    void eachLine(proc.stdout, (l) => {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(l);
      if (m) this.replies.push(Number(m[1]) * 1000);
    });
  }
  get count(): number {
    return this.replies.length;
  }
  /** Longest silence (ms) between answers after index `from`, minus the ping interval. */
  outage(from = 0, intervalMs = 10): number {
    let worst = 0;
    for (let i = Math.max(1, from); i < this.replies.length; i++)
      worst = Math.max(worst, this.replies[i]! - this.replies[i - 1]!);
    return Math.max(0, worst - intervalMs);
  }
  /** The first answer after the longest silence that began after `sinceMs` (wall clock). */
  firstAfter(sinceMs: number): number | undefined {
    let best: number | undefined;
    let worst = -1;
    for (let i = 1; i < this.replies.length; i++) {
      if (this.replies[i - 1]! < sinceMs - 50) continue;
      const gap = this.replies[i]! - this.replies[i - 1]!;
      if (gap > worst) {
        worst = gap;
        best = this.replies[i];
      }
    }
    return best;
  }
  stop(): void {
    this.proc.kill();
  }
}

export { ClusterFiles, Lab, startHb };
