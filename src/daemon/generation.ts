/**
 * The boot generation: strictly increases across restarts, so a peer drops
 * frames from our previous life (replays included). Kept in state_dir as
 * text; the next value is max(stored + 1, wall clock in ms), written
 * atomically (temp file, fsync, rename). If the state directory cannot be
 * written, the wall clock alone is used: still increasing unless the clock is
 * set back, which the warning says.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeAtomic } from "../config/files.ts";

export interface GenerationResult {
  generation: bigint;
  persisted: boolean;
  warning?: string;
}

export function nextGeneration(stateDir: string, nowMs: number = Date.now()): GenerationResult {
  const file = join(stateDir, "generation");
  let stored = 0n;
  try {
    const text = readFileSync(file, "utf8").trim();
    if (/^\d{1,19}$/.test(text)) stored = BigInt(text);
  } catch {
    /* first start, or unreadable: the clock decides */
  }
  const clock = BigInt(Math.floor(nowMs));
  const generation = stored + 1n > clock ? stored + 1n : clock;
  try {
    writeAtomic(file, `${generation}\n`, 0o600, true);
    return { generation, persisted: true };
  } catch (e) {
    return {
      generation,
      persisted: false,
      warning: `cannot write ${file} (${(e as Error).message}); using the wall clock as boot generation: do not set the clock back`,
    };
  }
}
