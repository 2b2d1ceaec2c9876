/**
 * Running a child for hb (resource scripts, systemctl, fence, monitors): its own process group, a fixed
 * environment, its output read line by line, and at the timeout the whole group ended (SIGTERM, then
 * SIGKILL 2 s later) so that nothing it forked outlives it. Never throws for a child that fails.
 */

/** What every child gets, whatever the daemon's own environment: a fixed PATH and the C locale. */
export const CHILD_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" } as const;

export interface ExecResult {
  /** exit code as Bun reports it (a signal's death included: see signal) */
  code: number;
  /** the signal that ended it, if one did */
  signal?: string;
  timedOut: boolean;
  ms: number;
  /** its last line of output (stdout or stderr), for a failure's message */
  lastLine?: string;
}

export interface ExecOptions {
  timeoutMs: number;
  /** each line of output */
  onLine?: (line: string) => void;
  spawn?: typeof Bun.spawn;
}

/** A line longer than this is cut (and the rest of it dropped): a child printing without end must not fill our memory. */
const MAX_LINE = 4096;

async function pump(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
  let rest = "";
  let cut = false;
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) {
      if (!cut && l.trim()) line(l.trimEnd());
      cut = false;
    }
    if (rest.length > MAX_LINE) {
      if (!cut) line(`${rest.slice(0, MAX_LINE)} [line cut at ${MAX_LINE} characters]`);
      cut = true;
      rest = "";
    }
  }
  if (rest.trim()) line(rest.trimEnd());
}

export async function execGroup(cmd: string[], o: ExecOptions): Promise<ExecResult> {
  const spawn = o.spawn ?? Bun.spawn;
  const started = performance.now();
  const p = spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true, env: { ...CHILD_ENV } });
  let lastLine: string | undefined;
  const line = (l: string) => {
    lastLine = l;
    o.onLine?.(l);
  };
  const output = Promise.all([
    pump(p.stdout as ReadableStream<Uint8Array>, line),
    pump(p.stderr as ReadableStream<Uint8Array>, line),
  ]);
  let timedOut = false;
  let killer: ReturnType<typeof setTimeout> | undefined;
  const signalGroup = (sig: "SIGTERM" | "SIGKILL") => {
    try {
      process.kill(-p.pid, sig);
    } catch {
      /* gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup("SIGTERM");
    killer = setTimeout(() => signalGroup("SIGKILL"), 2000);
  }, o.timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  // Timed out and the leader is gone: end what is left of its group now, while no other process can
  // hold that group id, and never later (a timer firing after the group is gone could hit a reused id).
  if (killer) {
    clearTimeout(killer);
    signalGroup("SIGKILL");
  }
  await Promise.race([output, Bun.sleep(1000)]);
  const ms = Math.round(performance.now() - started);
  return { code, signal: p.signalCode ? String(p.signalCode) : undefined, timedOut, ms, lastLine };
}
