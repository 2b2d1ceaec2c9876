/**
 * The little TOML that `hb import` writes: values rendered by type, keys quoted
 * when they are not bare (node names like alpha.example.com), durations in the
 * unit a person thinks in. Comments that name the legacy lines are the
 * renderer's; everything that is data goes through here.
 */

export type Value = string | number | boolean | Value[] | { [key: string]: Value };

/** A key as TOML needs it: bare when it can be, quoted otherwise. */
export const tomlKey = (k: string): string => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

/** A value on one line (JSON's string escapes are all valid TOML basic-string escapes). */
export function tomlValue(v: Value): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  const entries = Object.entries(v);
  return entries.length ? `{ ${entries.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(", ")} }` : "{}";
}

export const tomlLine = (k: string, v: Value): string => `${tomlKey(k)} = ${tomlValue(v)}`;

/** A duration as hb reads it, keeping the unit the user thinks in. */
export function duration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms > 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
