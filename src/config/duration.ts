/**
 * Durations in ha.toml are strings with a unit: "150ms", "2s", "1.5s", "1m30s".
 * A bare number is refused: Heartbeat read "keepalive 1" as seconds and
 * "keepalive 1000ms" as milliseconds, and mixing them up is a classic outage.
 * Resolution is one millisecond.
 */
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parse a duration; returns milliseconds, or an error message. */
export function parseDuration(text: string): number | { error: string } {
  const s = text.trim();
  if (s === "") return { error: "empty duration" };
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) return { error: `cannot read "${s}" as a duration` };
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) return { error: `"${s}" is too large` };
  if (!Number.isInteger(Math.round(total * 1000) / 1000) || Math.abs(total - Math.round(total)) > 1e-9)
    return { error: `"${s}" is finer than the 1ms resolution` };
  return Math.round(total);
}

/** Format milliseconds the way a person writes them: 150ms, 2s, 1.5s, 2m. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}
