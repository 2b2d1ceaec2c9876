/**
 * The README's walkthrough (an operator's day), driven in a real terminal: tmux (from Debian) runs a
 * shell inside a node's namespace; each `$ ` line of the README block is typed into it (send-keys),
 * the screen is read back (capture-pane), and the output must be the README's, once both are
 * normalized: numbers, times and column padding vary from run to run, the words do not.
 */
import { type Lab, run } from "./netns.ts";

export const WALK_BEGIN = "<!-- walkthrough:begin -->";
export const WALK_END = "<!-- walkthrough:end -->";

export interface Step {
  command: string;
  output: string[];
}

/** The README's install block (between these markers): commands only, comments allowed. */
export function installSteps(readme: string): string[] {
  const a = readme.indexOf("<!-- install:begin -->");
  const b = readme.indexOf("<!-- install:end -->");
  if (a < 0 || b < a) throw new Error("the README has no install block");
  return readme
    .slice(a, b)
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "" && !l.startsWith("```"));
}

/** The README block: `$ command` lines, each followed by its output lines. */
export function walkthrough(readme: string): Step[] {
  const a = readme.indexOf(WALK_BEGIN);
  const b = readme.indexOf(WALK_END);
  if (a < 0 || b < a) throw new Error("the README has no walkthrough block");
  const body = readme.slice(a, b).split("\n").slice(1);
  const steps: Step[] = [];
  for (const line of body) {
    if (line.startsWith("```")) continue;
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), output: [] });
    else steps.at(-1)?.output.push(line);
  }
  for (const s of steps) while (s.output.at(-1) === "") s.output.pop();
  return steps;
}

/** What may differ between two runs: every number, and how many spaces align a column. */
export const normalize = (lines: string[]) =>
  lines.map((l) => l.replace(/\d+/g, "N").replace(/\s+/g, " ").trimEnd()).filter((l) => l !== "");

/** A shell in a namespace, in a tmux session of its own (its own server socket: nothing shared). */
export class Terminal {
  private readonly sock: string;
  private n = 0;
  constructor(
    lab: Lab,
    private readonly ns: string,
    private readonly env: Record<string, string>,
    private readonly host: string,
  ) {
    this.sock = `${lab.prefix}-tmux`;
  }
  private tmux(args: string[]) {
    return run(["tmux", "-L", this.sock, ...args], 10_000);
  }
  async open(): Promise<void> {
    const exports = Object.entries(this.env)
      .map(([k, v]) => `export ${k}='${v}';`)
      .join(" ");
    await this.tmux([
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-x",
      "200",
      "-y",
      "400",
      "-s",
      "w",
      // a host named like the node (its own UTS namespace), as on the real node
      `ip netns exec ${this.ns} unshare --uts sh -c 'hostname ${this.host}; exec env -i bash --norc --noprofile'`,
    ]);
    await this.tmux(["set-option", "-g", "history-limit", "5000"]);
    await this.type(`${exports} PS1='$ '; clear`);
    await Bun.sleep(300);
  }
  private async type(line: string): Promise<void> {
    await this.tmux(["send-keys", "-t", "w", "-l", line]);
    await this.tmux(["send-keys", "-t", "w", "Enter"]);
  }
  /** Type a command; wait (bounded) until the shell prints its end marker; the lines it printed. */
  async command(cmd: string, timeoutMs = 20_000): Promise<string[]> {
    const mark = `__done_${++this.n}__`;
    await this.tmux(["clear-history", "-t", "w"]);
    await this.type("clear");
    await Bun.sleep(100);
    await this.type(`${cmd}; echo ${mark}`);
    const t0 = performance.now();
    for (let i = 0; i < 400 && performance.now() - t0 < timeoutMs; i++) {
      const screen = (await this.tmux(["capture-pane", "-p", "-J", "-t", "w", "-S", "-5000"])).stdout.split("\n");
      const end = screen.indexOf(mark);
      if (end >= 0) {
        const start = screen.findIndex((l) => l.includes(`${cmd}; echo ${mark}`));
        return screen.slice(start + 1, end);
      }
      await Bun.sleep(50);
    }
    throw new Error(`the terminal did not finish "${cmd}" within ${timeoutMs} ms`);
  }
  /** Type a line and return at once (a command that runs in the foreground, a daemon). */
  async send(line: string): Promise<void> {
    await this.tmux(["clear-history", "-t", "w"]);
    await this.type(line);
  }
  /** What the terminal shows now, its scrollback included. */
  async screen(): Promise<string[]> {
    return (await this.tmux(["capture-pane", "-p", "-J", "-t", "w", "-S", "-5000"])).stdout.split("\n");
  }
  /** Ctrl-C, as an operator stops a foreground daemon. */
  async interrupt(): Promise<void> {
    await this.tmux(["send-keys", "-t", "w", "C-c"]);
  }
  async close(): Promise<void> {
    await this.tmux(["kill-server"]);
  }
}
