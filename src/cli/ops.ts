/**
 * The operator commands: status, standby, takeover, clear, reload, report.
 * Each talks to the daemon over the control socket only; none reads or
 * changes cluster state itself.
 */

import { writeAtomic } from "../config/files.ts";
import { request, UnreachableError } from "../control/client.ts";
import { History } from "../control/history.ts";
import type { Response } from "../control/protocol.ts";
import { evaluate, prometheus, type Report, unreachable } from "../control/report.ts";
import { type HistoryEntry, renderStatus, type Status } from "../control/status.ts";
import { EXIT } from "../log/exit.ts";
import { CliError } from "./errors.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function unwrap(r: Response): unknown {
  if (r.ok) return r.result;
  throw new CliError(r.error.code === "refused" ? `refused: ${r.error.message}` : r.error.message, EXIT.FAILURE);
}

async function ask(socket: string, req: Parameters<typeof request>[1]): Promise<unknown> {
  try {
    return unwrap(await request(socket, req));
  } catch (e) {
    if (e instanceof UnreachableError) throw new CliError(e.message, EXIT.FAILURE);
    throw e;
  }
}

export async function status(
  socket: string,
  o: { json?: boolean; events?: number; historyFile?: string },
): Promise<number> {
  let s: Status;
  try {
    s = (await ask(socket, { cmd: "status" })) as Status;
  } catch (e) {
    // the daemon is down: say so, and show what it recorded last (the history file outlives it)
    if (!(e instanceof CliError) || !o.historyFile || o.json) throw e;
    const last = new History(o.historyFile, o.events ?? 10).recent();
    console.error(`hb: ${e.message}`);
    if (last.length) {
      console.log(`Last events recorded in ${o.historyFile}:`);
      for (const ev of last)
        console.log(
          `  ${ev.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}  ${ev.text}${ev.cause ? `  [${ev.cause}]` : ""}`,
        );
    }
    return EXIT.FAILURE;
  }
  if (o.json) console.log(JSON.stringify({ ...s, events: s.events.slice(-(o.events ?? 10)) }, null, 2));
  else console.log(renderStatus(s, o.events ?? 10));
  return EXIT.OK;
}

/**
 * hb status --watch: the status again every everyMs until interrupted (like crm_mon). On a terminal the
 * screen is redrawn; otherwise each one is appended under a time line (JSON: one object per line), so a
 * log or a pipe reads well. A daemon that stops answering is said, and watched for until it is back.
 */
export async function watch(socket: string, o: { json?: boolean; events: number; everyMs: number }): Promise<number> {
  const tty = process.stdout.isTTY === true && !o.json;
  for (;;) {
    let text: string;
    try {
      const s = (await ask(socket, { cmd: "status" })) as Status;
      text = o.json ? JSON.stringify({ ...s, events: s.events.slice(-o.events) }) : renderStatus(s, o.events);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      text = o.json ? JSON.stringify({ error: e.message }) : `hb: ${e.message}`;
    }
    const when = new Date()
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, "Z");
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${when}  every ${o.everyMs / 1000} s (Ctrl-C to stop)\n\n${text}\n`);
    else process.stdout.write(o.json ? `${text}\n` : `--- ${when}\n${text}\n\n`);
    await Bun.sleep(o.everyMs);
  }
}

export async function history(socket: string, o: { json?: boolean; limit?: number }): Promise<number> {
  const h = (await ask(socket, { cmd: "history", ...(o.limit ? { limit: o.limit } : {}) })) as HistoryEntry[];
  if (o.json) console.log(JSON.stringify({ schema: "hb.history/1", events: h }, null, 2));
  else for (const e of h) console.log(`${e.time}  ${e.kind.padEnd(7)}  ${e.text}${e.cause ? `  [${e.cause}]` : ""}`);
  return EXIT.OK;
}

/** For --wait: is the move the command asked for complete? */
function moved(cmd: "standby" | "takeover", group: string, s: Status): { done: boolean; why: string } {
  const me = s.node.name;
  const gs = group === "all" ? s.groups : s.groups.filter((g) => g.name === group);
  if (cmd === "takeover") {
    const pending = gs.filter((g) => g.here !== "running" && !g.holders.some((h) => h !== me));
    const elsewhere = gs.filter((g) => g.here !== "running");
    if (group === "all") {
      // all: every group that may run here does; one held elsewhere with nowhere to go stays pending
      return {
        done: elsewhere.length === 0 || (pending.length === 0 && elsewhere.every((g) => g.here === "failed")),
        why: elsewhere.map((g) => `${g.name} ${g.here}`).join(", "),
      };
    }
    return {
      done: elsewhere.length === 0,
      why: elsewhere.map((g) => `${g.name} ${g.here} here, on ${g.holders.join("+") || "no node"}`).join(", "),
    };
  }
  const here = gs.filter((g) => g.holders.includes(me) || g.here === "stopping" || g.here === "starting");
  const nowhere = gs.filter((g) => g.holders.length === 0);
  return {
    done: here.length === 0 && nowhere.length === 0,
    why: [
      ...here.map((g) => `${g.name} still ${g.here} here`),
      ...nowhere.map((g) => `${g.name} not yet running elsewhere`),
    ].join(", "),
  };
}

export async function move(
  socket: string,
  cmd: "standby" | "takeover",
  group: string,
  o: { force?: boolean; wait?: boolean; timeout?: number },
): Promise<number> {
  const r = (await ask(socket, { cmd, group, ...(o.force ? { force: true } : {}) })) as { message: string };
  console.log(r.message);
  if (!o.wait) return EXIT.OK;
  const deadline = Date.now() + (o.timeout ?? 60) * 1000;
  let last = "";
  const started = Date.now();
  let told = started;
  for (let i = 0; Date.now() < deadline && i < 100_000; i++) {
    const s = (await ask(socket, { cmd: "status" })) as Status;
    const m = moved(cmd, group, s);
    if (m.done) {
      console.log(
        `done: ${s.groups
          .filter((g) => group === "all" || g.name === group)
          .map((g) => `${g.name} on ${g.holders.join("+") || "no node"}`)
          .join(", ")}`,
      );
      return EXIT.OK;
    }
    // on a terminal, say every second what is still pending: a silent wait looks like a hang
    if (process.stderr.isTTY && Date.now() - told >= 1000 && m.why) {
      told = Date.now();
      console.error(`waiting: ${m.why} (${Math.round((Date.now() - started) / 1000)} s)`);
    }
    last = m.why;
    await sleep(100);
  }
  console.error(`hb: timed out after ${o.timeout ?? 60} s waiting: ${last}`);
  return EXIT.FAILURE;
}

export async function clear(socket: string, group: string): Promise<number> {
  const r = (await ask(socket, { cmd: "clear", group })) as { message: string };
  console.log(r.message);
  return EXIT.OK;
}

export async function reload(socket: string): Promise<number> {
  const r = (await ask(socket, { cmd: "reload" })) as { changes: string[] };
  console.log(r.changes.length ? `applied:\n${r.changes.map((c) => `  ${c}`).join("\n")}` : "the config is unchanged");
  return EXIT.OK;
}

/** hb report: the exit code is the verdict (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). */
export async function report(
  socket: string,
  o: { json?: boolean; prometheus?: string; configNote?: string },
): Promise<number> {
  let s: Status | undefined;
  let r: Report;
  try {
    const res = await request(socket, { cmd: "status" }, 5000);
    if (!res.ok) r = unreachable(`the daemon refused: ${res.error.message}`);
    else {
      s = res.result as Status;
      r = evaluate(s);
    }
  } catch (e) {
    r = unreachable(e instanceof Error ? e.message : String(e));
  }
  if (o.configNote && r.level === "UNKNOWN") r.summary += ` (${o.configNote})`;
  if (o.prometheus) {
    try {
      // node_exporter never reads half a file; its textfile directory is often the exporter's own:
      // a fresh randomly named file and a rename, so nothing planted there can redirect root's write
      writeAtomic(o.prometheus, prometheus(s, r), 0o644);
    } catch (e) {
      console.error(`hb: cannot write ${o.prometheus}: ${(e as Error).message}`);
      if (r.code === 0) r = { ...r, level: "UNKNOWN", code: 3, summary: `HB UNKNOWN - cannot write ${o.prometheus}` };
    }
  }
  console.log(o.json ? JSON.stringify(r, null, 2) : r.summary);
  return r.code;
}
