/** Generated ha.toml files and hb processes for lab tests. */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { request } from "../../src/control/client.ts";
import type { Lab } from "./netns.ts";

/** The binary under test; HB_BIN points a long run (make soak) at a copy, so that dist/hb can be rebuilt meanwhile. */
export const HB = process.env.HB_BIN ?? join(import.meta.dir, "../../dist/hb");

export interface ClusterOptions {
  nodes: number;
  timing?: { keepalive: string; warntime: string; deadtime: string; initdead: string };
  /** TOML [[link]] bodies, e.g. 'kind = "udp"\ninterface = "eth0"' */
  links: string[];
  /** extra TOML appended (groups...) */
  extra?: string;
  secret?: string;
  cluster?: string;
  autoFailback?: boolean;
}

export function configText(o: ClusterOptions): string {
  const t = o.timing ?? { keepalive: "50ms", warntime: "100ms", deadtime: "150ms", initdead: "2s" };
  const nodes = Array.from({ length: o.nodes }, (_, i) => `[[node]]\nname = "node${i + 1}"\n`).join("\n");
  return [
    `[cluster]\nname = "${o.cluster ?? "lab"}"\n${o.autoFailback === undefined ? "" : `auto_failback = ${o.autoFailback}\n`}`,
    `[timing]\nkeepalive = "${t.keepalive}"\nwarntime = "${t.warntime}"\ndeadtime = "${t.deadtime}"\ninitdead = "${t.initdead}"\n`,
    `[auth]\n[[auth.key]]\nid = 1\nsecret = "${o.secret ?? "lab-secret-0123456789"}"\n`,
    nodes,
    `[fencing]\nmethod = "none"\n`,
    ...o.links.map((l) => `[[link]]\n${l}\n`),
    o.extra ?? "",
  ].join("\n");
}

/**
 * A directory with one config per node (the same text but for its own
 * state_dir, as all nodes share this host's disk); removed by cleanup().
 */
export class ClusterFiles {
  readonly dir = mkdtempSync(join(tmpdir(), "hb-lab-"));
  /** perNode: what differs on one node's copy (a serial device path, say). */
  constructor(
    readonly text: string,
    private readonly perNode: (node: number, text: string) => string = (_n, t) => t,
  ) {}
  /** The config of node i, written on first use. */
  config(node: number): string {
    const file = join(this.dir, `ha-node${node}.toml`);
    const state = join(this.dir, `state-node${node}`);
    mkdirSync(state, { recursive: true });
    const text = this.perNode(node, this.text);
    const withState = text.includes("\n[paths]\n")
      ? text.replace("\n[paths]\n", `\n[paths]\nstate_dir = "${state}"\n`)
      : `${text}\n[paths]\nstate_dir = "${state}"\n`;
    const withSocket = withState.includes("\n[control]\n")
      ? withState.replace("\n[control]\n", `\n[control]\nsocket = "${this.socket(node)}"\n`)
      : `${withState}\n[control]\nsocket = "${this.socket(node)}"\n`;
    writeFileSync(file, withSocket, { mode: 0o600 });
    return file;
  }
  /** The control socket of node i. */
  socket(node: number): string {
    return join(this.dir, `state-node${node}`, "hb.sock");
  }
  /** The state directory of node i. */
  state(node: number): string {
    return join(this.dir, `state-node${node}`);
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A running hb with its log lines collected (stderr, plain format). */
export class HbProcess {
  readonly lines: { t: number; text: string }[] = [];
  private readonly waiters = new Set<() => void>();
  constructor(
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    readonly name: string,
  ) {
    void this.collect(proc.stderr);
    void this.collect(proc.stdout);
  }
  private async collect(stream: ReadableStream<Uint8Array>) {
    const dec = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      const t = performance.now();
      rest += dec.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      for (const text of parts) this.lines.push({ t, text });
      for (const w of this.waiters) w();
    }
  }
  /** Resolve with the first line (from index `from`) matching re; bounded. */
  async waitLine(re: RegExp, timeoutMs = 5000, from = 0): Promise<{ t: number; text: string; index: number }> {
    const deadline = performance.now() + timeoutMs;
    for (let round = 0; round < 100_000; round++) {
      for (let i = from; i < this.lines.length; i++)
        if (re.test(this.lines[i]!.text)) return { ...this.lines[i]!, index: i };
      const left = deadline - performance.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 100));
        this.waiters.add(done);
      });
    }
    throw new Error(
      `${this.name}: no line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines
        .slice(-15)
        .map((l) => l.text)
        .join("\n")}`,
    );
  }
  matching(re: RegExp, from = 0): string[] {
    return this.lines
      .slice(from)
      .map((l) => l.text)
      .filter((t) => re.test(t));
  }
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    const rc = await Promise.race([this.proc.exited, Bun.sleep(5000).then(() => -1)]);
    if (rc === -1) this.proc.kill("SIGKILL");
    return rc;
  }
}

/** Start hb as node i (1-based) inside the lab's namespace for that node. */
export function startHb(
  lab: Lab,
  files: ClusterFiles,
  i: number,
  extraEnv: Record<string, string> = {},
  args: string[] = [],
): HbProcess {
  const proc = lab.spawn(
    lab.nodes[i - 1]!,
    [HB, "--config", files.config(i), "--node", `node${i}`, "--log-level", "debug", ...args],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...extraEnv },
    },
  );
  return new HbProcess(proc, `node${i}`);
}

/** Test hook (HB_TEST_HOOKS=1): block node i's JS thread for ms; resolves when the daemon answers. */
export function blockJs(files: ClusterFiles, node: number, ms: number): Promise<unknown> {
  return request(files.socket(node), { cmd: "test-block", ms }, ms + 10_000);
}
