/**
 * Logging with consola. On a TTY: consola's coloured reporter. Otherwise
 * (journald, a pipe, a file): one plain line per record on stderr, no icons,
 * no blank lines, `LEVEL [subsystem] message`, with an ISO timestamp unless
 * journald already stamps the line (JOURNAL_STREAM is set by systemd).
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { formatWithOptions } from "node:util";

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";
export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];
const CONSOLA_LEVEL: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

const LABEL: Record<string, string> = {
  fatal: "FATAL", error: "ERROR", warn: "WARN", log: "INFO", info: "INFO", success: "INFO",
  ready: "INFO", start: "INFO", box: "INFO", debug: "DEBUG", trace: "TRACE", verbose: "TRACE", fail: "ERROR",
};

/** One record as one line: exported for tests. */
export function plainLine(obj: Pick<LogObject, "type" | "tag" | "args" | "date">, stamp: boolean): string {
  const msg = formatWithOptions({ colors: false, breakLength: Infinity }, ...obj.args)
    .split("\n").map((l) => l.trimEnd()).filter((l) => l !== "").join(" | ");
  const tag = obj.tag ? `[${obj.tag}] ` : "";
  return `${stamp ? `${obj.date.toISOString()} ` : ""}${LABEL[obj.type] ?? obj.type.toUpperCase()} ${tag}${msg}`;
}

function make(level: LogLevel): ConsolaInstance {
  const fancy = Boolean(process.stderr.isTTY);
  if (fancy) return createConsola({ level: CONSOLA_LEVEL[level], stderr: process.stderr, stdout: process.stderr });
  const stamp = !process.env.JOURNAL_STREAM;
  return createConsola({
    level: CONSOLA_LEVEL[level],
    reporters: [{ log: (obj) => { process.stderr.write(`${plainLine(obj, stamp)}\n`); } }],
  });
}

let root = make("info");
// consola's withTag copies the level, so keep the children to change it later.
const children = new Map<string, ConsolaInstance>();

export function setLogLevel(level: LogLevel): void {
  root.level = CONSOLA_LEVEL[level];
  for (const child of children.values()) child.level = CONSOLA_LEVEL[level];
}

/** A logger for one subsystem; records carry its name. */
export function logger(subsystem: string): ConsolaInstance {
  let child = children.get(subsystem);
  if (!child) {
    child = root.withTag(subsystem);
    children.set(subsystem, child);
  }
  return child;
}
