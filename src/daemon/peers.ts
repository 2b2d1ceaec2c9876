/**
 * What was last accepted from each peer, kept across restarts of this node
 * (state_dir/peers.json): its boot generation and its sequence on each link.
 * Handed back to the engine at start, so frames captured before the restart
 * stay replays: a dead peer cannot be made to look alive, nor its old control
 * messages replayed. Saved when a peer dies (then its last frame is the
 * newest there will ever be: none of its frames can be replayed, even after a
 * crash of this node), at every stop, and every SAVE_MS. While a peer lives,
 * its fresh frames supersede any replay within a keepalive of a restart. Not
 * more often: an idle daemon should not wake its JS heap (and with it the
 * runtime's garbage collector) every few seconds.
 */
import { join } from "node:path";
import { openFile, writeAtomic } from "../config/files.ts";

export const PEERS_FILE = "peers.json";
export const SAVE_MS = 60_000;

export type Seen = Record<string, { generation: string; seqs: Record<string, string> }>;
export type Floor = { generation: bigint; seqs: bigint[] } | undefined;

const num = (v: unknown): bigint | undefined => (typeof v === "string" && /^\d{1,20}$/.test(v) ? BigInt(v) : undefined);

/** Floors by engine peer index (peers and links in engine order); an unreadable file gives none. */
export function loadFloors(stateDir: string, peers: string[], links: string[]): { floors: Floor[]; warning?: string } {
  const f = openFile(join(stateDir, PEERS_FILE));
  if (f instanceof Error)
    return { floors: [], warning: f.message === "no such file" ? undefined : `${PEERS_FILE}: ${f.message}` };
  let data: { version?: number; peers?: Record<string, { generation?: unknown; seqs?: Record<string, unknown> }> };
  try {
    data = JSON.parse(f.text);
  } catch {
    return {
      floors: [],
      warning: `${PEERS_FILE} is not JSON: ignored (replays of frames from before this start are not caught)`,
    };
  }
  return {
    floors: peers.map((p) => {
      const e = data?.peers?.[p];
      const generation = num(e?.generation);
      if (!e || generation === undefined) return undefined;
      return { generation, seqs: links.map((l) => num(e.seqs?.[l]) ?? 0n) };
    }),
  };
}

export function saveFloors(stateDir: string, seen: Seen): void {
  const peers = Object.fromEntries(Object.entries(seen).filter(([, s]) => s.generation !== "0"));
  writeAtomic(join(stateDir, PEERS_FILE), `${JSON.stringify({ version: 1, peers })}\n`, 0o600);
}
