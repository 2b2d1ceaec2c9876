/**
 * Network labs for tests: a bridge namespace (the switch), N node namespaces
 * each with eth0 (and eth1 on a second LAN when asked), and a client
 * namespace. Everything lives in namespaces this process creates, named with a
 * per-run prefix, and is deleted on destroy(), on process exit and on
 * SIGINT/SIGTERM. Addresses come only from the documentation ranges
 * (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and exist only inside the
 * namespaces. The root namespace is never touched: veth pairs are created
 * directly inside their namespaces.
 */
import type { Subprocess } from "bun";

export const IS_ROOT = process.getuid?.() === 0;

/** Why network tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (!IS_ROOT) return "not running as root";
  const p = Bun.spawnSync(["ip", "netns", "list"]);
  if (p.exitCode !== 0) return `ip netns does not work: ${p.stderr.toString().trim()}`;
  return undefined;
}

/** Say loudly that a suite was skipped, once per suite. */
export function announceSkip(suite: string, why: string): void {
  const bar = "!".repeat(72);
  console.warn(
    `\n${bar}\n!! SKIPPED: ${suite}\n!! reason: ${why}\n!! these tests need root and a kernel with network namespaces\n${bar}\n`,
  );
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a bounded command; never hangs longer than timeoutMs. */
export async function run(cmd: string[], timeoutMs = 10_000, env?: Record<string, string>): Promise<ExecResult> {
  const p = Bun.spawn(cmd, {
    stdout: "pipe",
    stderr: "pipe",
    env: env ?? process.env,
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

export function runSync(cmd: string[]): ExecResult {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

async function must(cmd: string[]): Promise<string> {
  const r = await run(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Poll until fn returns a truthy value; bounded by time and by count. */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 5_000,
  everyMs = 10,
): Promise<NonNullable<Awaited<T>>> {
  const deadline = performance.now() + timeoutMs;
  const maxTries = Math.ceil(timeoutMs / everyMs) + 1;
  let last: unknown;
  for (let i = 0; i < maxTries && performance.now() <= deadline; i++) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<Awaited<T>>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

const live = new Set<Lab>();
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  const cleanAll = () => {
    for (const lab of live) lab.destroySync();
  };
  process.on("exit", cleanAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(sig, () => {
      cleanAll();
      process.exit(130);
    });
}

/** Each complete line of a child's output, as it comes (a test reads a monitor or a ping this way). */
export async function eachLine(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) line(l);
  }
}

export interface LabOptions {
  nodes: number;
  /** Number of LANs (switches); node i gets eth0..eth(lans-1). Default 1. */
  lans?: number;
  client?: boolean;
}

/** The three documentation nets, one per LAN. */
// 198.51.100.0/24 first: this VM's own root namespace uses 192.0.2.0/24, so labs avoid it unless three LANs are needed.
export const LAN_NETS = ["198.51.100", "203.0.113", "192.0.2"] as const;

export class Lab {
  readonly prefix: string;
  readonly nodes: string[] = [];
  readonly client?: string;
  readonly lans: number;
  private readonly procs = new Set<Subprocess>();
  private readonly namespaces: string[] = [];
  private destroyed = false;

  private constructor(readonly opts: LabOptions) {
    // per-run prefix: pid and a random tag, short enough for any name
    this.prefix = `hbt${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.lans = opts.lans ?? 1;
    for (let i = 1; i <= opts.nodes; i++) this.nodes.push(`${this.prefix}-n${i}`);
    if (opts.client) this.client = `${this.prefix}-c`;
  }

  get bridge(): string {
    return `${this.prefix}-sw`;
  }

  /** Address of node i (1-based) on LAN l: 198.51.100.(10+i) on the first. */
  static nodeAddr(i: number, lan = 0): string {
    return `${LAN_NETS[lan]}.${10 + i}`;
  }
  /** MAC of node i on LAN l: 02:00:00:00:0l:0i (locally administered). */
  static nodeMac(i: number, lan = 0): string {
    return `02:00:00:00:${lan.toString(16).padStart(2, "0")}:${i.toString(16).padStart(2, "0")}`;
  }
  static readonly clientAddr = `${LAN_NETS[0]}.100`;

  static async create(opts: LabOptions): Promise<Lab> {
    if (opts.nodes < 1 || opts.nodes > 8 || (opts.lans ?? 1) > LAN_NETS.length)
      throw new Error("lab: 1..8 nodes, 1..3 LANs");
    hookExit();
    const lab = new Lab(opts);
    live.add(lab);
    try {
      await lab.build();
    } catch (e) {
      lab.destroySync();
      throw e;
    }
    return lab;
  }

  private async addNs(name: string) {
    await must(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    await must(["ip", "-n", name, "link", "set", "lo", "up"]);
  }

  private async build() {
    await this.addNs(this.bridge);
    for (let l = 0; l < this.lans; l++) {
      await must(["ip", "-n", this.bridge, "link", "add", `br${l}`, "type", "bridge", "forward_delay", "0"]);
      await must(["ip", "-n", this.bridge, "link", "set", `br${l}`, "up"]);
    }
    const attach = async (ns: string, ifname: string, port: string, lan: number, addr: string, mac: string) => {
      // both ends are created inside their namespaces: nothing appears in the root namespace
      await must([
        "ip",
        "-n",
        ns,
        "link",
        "add",
        ifname,
        "address",
        mac,
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        this.bridge,
      ]);
      await must(["ip", "-n", this.bridge, "link", "set", port, "master", `br${lan}`]);
      await must(["ip", "-n", this.bridge, "link", "set", port, "up"]);
      await must(["ip", "-n", ns, "addr", "add", `${addr}/24`, "dev", ifname]);
      await must(["ip", "-n", ns, "link", "set", ifname, "up"]);
    };
    for (let i = 0; i < this.nodes.length; i++) {
      const ns = this.nodes[i]!;
      await this.addNs(ns);
      for (let l = 0; l < this.lans; l++)
        await attach(ns, `eth${l}`, `n${i + 1}l${l}`, l, Lab.nodeAddr(i + 1, l), Lab.nodeMac(i + 1, l));
    }
    if (this.client) {
      await this.addNs(this.client);
      await attach(this.client, "eth0", "c", 0, Lab.clientAddr, "02:00:00:00:00:99");
    }
  }

  /** The switch port of node i (1-based) on LAN l: down = cable pulled. */
  async plug(i: number, up: boolean, lan = 0): Promise<void> {
    await must(["ip", "-n", this.bridge, "link", "set", `n${i}l${lan}`, up ? "up" : "down"]);
  }

  exec(ns: string, cmd: string[], timeoutMs = 10_000, env?: Record<string, string>): Promise<ExecResult> {
    return run(["ip", "netns", "exec", ns, ...cmd], timeoutMs, env);
  }

  /** Start a long-running process inside a namespace; destroy() ends it by PID. */
  spawn(
    ns: string,
    cmd: string[],
    opts: { env?: Record<string, string>; stdout?: "pipe" | "ignore"; stderr?: "pipe" | "ignore" } = {},
  ): Subprocess<"ignore", "pipe", "pipe"> {
    const p = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], {
      stdin: "ignore",
      stdout: opts.stdout ?? "pipe",
      stderr: opts.stderr ?? "pipe",
      env: opts.env ?? process.env,
    });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p as Subprocess<"ignore", "pipe", "pipe">;
  }

  /** End the processes we started (by PID), then delete our namespaces. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) {
      try {
        p.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
    for (const ns of [...this.namespaces].reverse()) runSync(["ip", "netns", "del", ns]);
    live.delete(this);
  }

  async destroy(): Promise<void> {
    const exits = [...this.procs].map((p) => p.exited);
    for (const p of this.procs) {
      try {
        p.kill("SIGKILL");
      } catch {
        /* gone */
      }
    }
    await Promise.race([Promise.all(exits), Bun.sleep(2000)]);
    this.destroySync();
  }
}

/** Namespaces with this run's labs still alive (for leak checks). */
export function leftoverNamespaces(prefix: string): string[] {
  return runSync(["ip", "netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(prefix));
}
