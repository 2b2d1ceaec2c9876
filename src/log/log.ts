/**
 * Logging with consola. On a TTY: consola's coloured reporter. Otherwise
 * (journald, a pipe, a file): one plain line per record on stderr, no icons,
 * no blank lines, `LEVEL [subsystem] message`, with an ISO timestamp unless
 * journald already stamps the line (JOURNAL_STREAM is set by systemd).
 * Extra sinks (a log file, syslog: src/log/sinks.ts) get every record too,
 * whatever stderr is.
 */

import { formatWithOptions } from "node:util";
import { type ConsolaInstance, createConsola, type LogObject } from "consola";

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";
export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];
const CONSOLA_LEVEL: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

const LABEL: Record<string, string> = {
  fatal: "FATAL",
  error: "ERROR",
  warn: "WARN",
  log: "INFO",
  info: "INFO",
  success: "INFO",
  ready: "INFO",
  start: "INFO",
  box: "INFO",
  debug: "DEBUG",
  trace: "TRACE",
  verbose: "TRACE",
  fail: "ERROR",
};

/**
 * Text from outside (script output, Heartbeat packets, peer data) may hold terminal escapes or other
 * control characters: they are written as \xHH, so a log file, journald or a terminal never runs them.
 */
export function printable(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A record's message on one line (its lines joined by " | "), printable. */
function messageOf(args: unknown[]): string {
  return printable(
    formatWithOptions({ colors: false, breakLength: Infinity }, ...args)
      .split("\n")
      .map((l) => l.trimEnd())
      .filter((l) => l !== "")
      .join(" | "),
  );
}

/** One record as one line: exported for tests. */
export function plainLine(obj: Pick<LogObject, "type" | "tag" | "args" | "date">, stamp: boolean): string {
  const msg = messageOf(obj.args);
  const tag = obj.tag ? `[${obj.tag}] ` : "";
  return `${stamp ? `${obj.date.toISOString()} ` : ""}${LABEL[obj.type] ?? obj.type.toUpperCase()} ${tag}${msg}`;
}

/** A record as the extra sinks see it. */
export interface LogRecord {
  level: LogLevel;
  tag: string;
  message: string;
  date: Date;
}
export type Sink = (r: LogRecord) => void;
let sinks: Sink[] = [];
/** Replace the extra sinks (the daemon sets them from log.file / log.facility, and again on reload). */
export function setSinks(list: Sink[]): void {
  sinks = list;
}

const LEVEL_OF: Record<string, LogLevel> = {
  fatal: "error",
  error: "error",
  fail: "error",
  warn: "warn",
  debug: "debug",
  trace: "trace",
  verbose: "trace",
};
const toSinks = {
  log: (obj: LogObject) => {
    if (sinks.length === 0) return;
    const message = messageOf(obj.args);
    const r: LogRecord = { level: LEVEL_OF[obj.type] ?? "info", tag: obj.tag, message, date: obj.date };
    for (const s of sinks) s(r);
  },
};

const COLOR: Record<string, string> = { ERROR: "31", WARN: "33", DEBUG: "90", TRACE: "90" };

/** On a terminal: the local time of day, the level in colour, the line. Same words as the log file. */
export function terminalLine(obj: Pick<LogObject, "type" | "tag" | "args" | "date">): string {
  const d = obj.date;
  const time = `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
  const line = plainLine(obj, false);
  const label = line.slice(0, line.indexOf(" "));
  const color = COLOR[label];
  return `\x1b[90m${time}\x1b[0m ${color ? `\x1b[${color}m${label}\x1b[0m` : label}${line.slice(label.length)}`;
}

function make(level: LogLevel): ConsolaInstance {
  if (process.stderr.isTTY)
    return createConsola({
      level: CONSOLA_LEVEL[level],
      reporters: [{ log: (obj) => process.stderr.write(`${terminalLine(obj)}\n`) }, toSinks],
    });
  const stamp = !process.env.JOURNAL_STREAM;
  return createConsola({
    level: CONSOLA_LEVEL[level],
    reporters: [
      {
        log: (obj) => {
          process.stderr.write(`${plainLine(obj, stamp)}\n`);
        },
      },
      toSinks,
    ],
  });
}

const root = make("info");
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
