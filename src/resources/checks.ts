/**
 * The probes a monitor may add to a resource's own check (issue 17): a program, a TCP connect, an HTTP(S)
 * GET. Each answers within its timeout with a result and never throws; they run on the daemon's event
 * loop (sockets, fetch, child processes), never on the heartbeat thread.
 */
import { Socket } from "node:net";
import type { MonitorConfig } from "../config/schema.ts";
import { type ExecResult, execGroup } from "./exec.ts";

export interface CheckResult {
  ok: boolean;
  /** why it failed, or what was done to keep it working (an address added back) */
  detail?: string;
}

/** How an exited check reads: LSB status says 3 for "not running" (OCF monitor: 7). */
export function exitDetail(what: string, r: ExecResult, timeoutMs: number): CheckResult {
  if (r.timedOut) return { ok: false, detail: `${what} timed out after ${timeoutMs} ms (killed)` };
  if (r.code === 0) return { ok: true };
  const why = r.signal ? `was killed by ${r.signal}` : r.code === 3 || r.code === 7 ? "not running" : "failed";
  return { ok: false, detail: `${what} exited ${r.code}: ${why}${r.lastLine ? ` (${r.lastLine.slice(0, 200)})` : ""}` };
}

/** Heartbeat v1's resource.d agents say it in words; their exit code means nothing. */
export function heartbeatStatus(r: ExecResult, timeoutMs: number): CheckResult {
  if (r.timedOut) return { ok: false, detail: `status timed out after ${timeoutMs} ms (killed)` };
  const said = (r.lastLine ?? "").slice(0, 200);
  const running = /running|\bOK\b/i.test(said) && !/not running|stopped|dead/i.test(said);
  if (running) return { ok: true };
  return { ok: false, detail: `status exited ${r.code} saying ${said ? `"${said}"` : "nothing"}: not running` };
}

export async function probeCommand(cmd: string[], timeoutMs: number, spawn?: typeof Bun.spawn): Promise<CheckResult> {
  try {
    return exitDetail(cmd[0]!, await execGroup(cmd, { timeoutMs, spawn }), timeoutMs);
  } catch (e) {
    return { ok: false, detail: `cannot run ${cmd[0]}: ${(e as Error).message}` };
  }
}

/** "host:port" or "[v6]:port" (the schema checked the shape) */
export function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
}

export function probeTcp(target: string, timeoutMs: number): Promise<CheckResult> {
  const { host, port } = hostPort(target);
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (r: CheckResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, detail: `tcp ${target}: no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    sock.once("connect", () => done({ ok: true }));
    sock.once("error", (e: NodeJS.ErrnoException) =>
      done({ ok: false, detail: `tcp ${target}: ${e.code ?? e.message}` }),
    );
    sock.connect(port, host);
  });
}

export async function probeHttp(url: string, expect: number, timeoutMs: number): Promise<CheckResult> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
    await r.body?.cancel();
    return r.status === expect
      ? { ok: true }
      : { ok: false, detail: `http ${url}: status ${r.status}, expected ${expect}` };
  } catch (e) {
    const err = e as Error;
    const why = err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : err.message;
    return { ok: false, detail: `http ${url}: ${why}` };
  }
}

/** The probes a monitor config names, in order: the first failure is the answer. */
export async function runProbes(m: MonitorConfig, spawn?: typeof Bun.spawn): Promise<CheckResult> {
  if (m.command.length) {
    const r = await probeCommand(m.command, m.timeout, spawn);
    if (!r.ok) return r;
  }
  if (m.tcp) {
    const r = await probeTcp(m.tcp, m.timeout);
    if (!r.ok) return r;
  }
  if (m.http) return probeHttp(m.http, m.http_status, m.timeout);
  return { ok: true };
}

export const hasProbes = (m: MonitorConfig) => m.command.length > 0 || m.tcp !== undefined || m.http !== undefined;
