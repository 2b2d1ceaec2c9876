/** Reading Heartbeat's files: logical lines, durations and netmasks as Heartbeat read them. */
import { IPV4_PATTERN } from "../config/names.ts";

export interface Line {
  no: number;
  text: string;
}

/** Logical lines: comments stripped, `\` continuations joined, blank lines dropped. */
export function logicalLines(text: string): Line[] {
  const out: Line[] = [];
  const raw = text.replace(/\r\n?/g, "\n").split("\n");
  let acc = "";
  let start = 0;
  const flush = () => {
    if (acc.trim()) out.push({ no: start, text: acc.trim().replace(/\s+/g, " ") });
    acc = "";
  };
  raw.forEach((l, i) => {
    const noComment = l.replace(/(^|\s)#.*$/, "").replace(/\t/g, " ");
    if (!acc) start = i + 1;
    if (/\\\s*$/.test(noComment)) {
      acc += `${noComment.replace(/\\\s*$/, "")} `;
      return;
    }
    acc += noComment;
    flush();
  });
  flush();
  return out;
}

/** Heartbeat durations: "2" = seconds, "500ms", "1.5", "2s"; in ms, or undefined. */
export function legacyDuration(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(m[2] === "ms" ? n : m[2] === "us" ? n / 1000 : n * 1000);
}

/** A dotted netmask to a prefix length, or undefined when it is not a netmask. */
export function maskBits(mask: string): number | undefined {
  if (!IPV4_PATTERN.test(mask)) return undefined;
  const n = mask.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const bits = n.toString(2).padStart(32, "0");
  if (!/^1*0*$/.test(bits)) return undefined;
  return bits.indexOf("0") === -1 ? 32 : bits.indexOf("0");
}

/** Where a warning points: `file:line`, or the file alone. */
export type Warn = (line: number | undefined, msg: string) => void;
