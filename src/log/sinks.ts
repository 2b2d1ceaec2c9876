/**
 * Extra log sinks: a log file (Heartbeat `logfile`), reopened on SIGHUP for
 * logrotate, and syslog through the local socket (Heartbeat `logfacility`).
 * Neither may stall or crash the daemon: a failing file write or a full
 * syslog socket drops the record; the first failure is told on stderr once.
 */
import { closeSync, writeSync } from "node:fs";
import { openAppend } from "../config/files.ts";
import type { SyslogFacility } from "../config/names.ts";
import { type LogLevel, type LogRecord, type Sink, setSinks } from "./log.ts";

const stamp = (r: LogRecord) =>
  `${r.date.toISOString()} ${r.level.toUpperCase()} ${r.tag ? `[${r.tag}] ` : ""}${r.message}`;

export class FileSink {
  private fd = -1;
  private told = false;
  constructor(readonly path: string) {
    this.reopen();
  }
  /** Close and open again (after logrotate moved the file away). */
  reopen(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    try {
      this.fd = openAppend(this.path, 0o640); // never through a symlink planted where the log goes
      this.told = false;
    } catch (e) {
      this.fail(e);
    }
  }
  private fail(e: unknown) {
    if (!this.told)
      process.stderr.write(
        `hb: log file ${this.path}: ${(e as Error).message}; records for it are dropped until it works again\n`,
      );
    this.told = true;
  }
  readonly sink: Sink = (r) => {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, `${stamp(r)}\n`);
    } catch (e) {
      this.fail(e);
    }
  };
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

const FACILITY: Record<SyslogFacility, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};
const SEVERITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7, trace: 7 };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** One syslog datagram (RFC 3164 form, which rsyslog, syslog-ng and journald read from /dev/log). */
export function syslogLine(facility: SyslogFacility, r: LogRecord, pid = process.pid): string {
  const d = r.date;
  const ts = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${d.toTimeString().slice(0, 8)}`;
  const pri = FACILITY[facility] * 8 + SEVERITY[r.level];
  return `<${pri}>${ts} hb[${pid}]: ${r.level.toUpperCase()} ${r.tag ? `[${r.tag}] ` : ""}${r.message}`.slice(0, 2048);
}

export class SyslogSink {
  private told = false;
  constructor(
    readonly facility: SyslogFacility,
    readonly path: string,
    private readonly send: (path: string, msg: string) => void,
  ) {}
  readonly sink: Sink = (r) => {
    try {
      this.send(this.path, syslogLine(this.facility, r));
      this.told = false;
    } catch (e) {
      if (!this.told)
        process.stderr.write(
          `hb: syslog ${this.path}: ${(e as Error).message}; records for syslog are dropped until it works again\n`,
        );
      this.told = true;
    }
  };
}

/** The sinks a config asks for (log.file, log.facility), replaced whole on reload. */
export class LogSinks {
  file?: FileSink;
  syslog?: SyslogSink;
  constructor(private readonly send: (path: string, msg: string) => void) {}
  apply(log: { file?: string; facility?: SyslogFacility; syslog_socket: string }): void {
    if (this.file?.path !== log.file) {
      this.file?.close();
      this.file = log.file ? new FileSink(log.file) : undefined;
    }
    this.syslog = log.facility ? new SyslogSink(log.facility, log.syslog_socket, this.send) : undefined;
    setSinks([this.file?.sink, this.syslog?.sink].filter((s): s is Sink => s !== undefined));
  }
  /** After logrotate moved the file away (SIGHUP). */
  reopen(): void {
    this.file?.reopen();
  }
  close(): void {
    setSinks([]);
    this.file?.close();
  }
}
