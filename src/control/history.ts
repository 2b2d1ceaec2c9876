/**
 * The event history: the last `size` transitions, in memory and appended to a
 * bounded file (STATE_DIR/history.jsonl, one JSON object per line), so that
 * `hb status` after a restart still shows what happened before it. The file is
 * rewritten (write, then rename) with the newest `size` entries whenever it
 * holds twice that many. Unreadable lines (a torn write at a crash) are skipped.
 */
import { closeSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { openAppend, writeAtomic } from "../config/files.ts";
import { printable } from "../log/log.ts";
import type { HistoryEntry } from "./status.ts";

/** The history file in state_dir: the daemon writes it, hb status reads it when the daemon is down. */
export const historyPath = (stateDir: string): string => join(stateDir, "history.jsonl");

export class History {
  private entries: HistoryEntry[] = [];
  private lines = 0;
  /** the last write error, logged once by the daemon */
  lastError?: string;

  constructor(
    private readonly file: string | undefined,
    private size: number,
  ) {
    if (!file) return;
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return; // no history yet
    }
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      this.lines++;
      try {
        const e = JSON.parse(line) as HistoryEntry;
        if (typeof e.time === "string" && typeof e.text === "string")
          this.entries.push({ time: e.time, kind: e.kind, text: e.text, cause: String(e.cause ?? "") });
      } catch {
        /* a torn line */
      }
    }
    this.entries = this.entries.slice(-size);
  }

  resize(size: number): void {
    this.size = size;
    this.entries = this.entries.slice(-size);
  }

  add(kind: HistoryEntry["kind"], text: string, cause = "", time = new Date()): HistoryEntry {
    const e: HistoryEntry = { time: time.toISOString(), kind, text: printable(text), cause: printable(cause) };
    this.entries.push(e);
    if (this.entries.length > this.size) this.entries.shift();
    if (this.file) {
      try {
        if (this.lines + 1 > 2 * this.size) {
          writeAtomic(this.file, `${this.entries.map((x) => JSON.stringify(x)).join("\n")}\n`, 0o600);
          this.lines = this.entries.length;
        } else {
          const fd = openAppend(this.file, 0o600);
          try {
            writeSync(fd, `${JSON.stringify(e)}\n`);
          } finally {
            closeSync(fd);
          }
          this.lines++;
        }
        this.lastError = undefined;
      } catch (err) {
        this.lastError = `cannot write ${this.file}: ${(err as Error).message}`;
      }
    }
    return e;
  }

  recent(n = this.size): HistoryEntry[] {
    return this.entries.slice(-n);
  }
}
