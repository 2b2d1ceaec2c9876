/**
 * The state record each node repeats in every heartbeat (at most 64 bytes).
 * Policy lives here, in TypeScript; the C engine only carries the bytes and
 * reports when a peer's record changes.
 *
 *   0  u8   record version (1)
 *   1  u8   node state: 0 starting, 1 standby, 2 active, 3 stopping (other values: not a record we read)
 *   2  u8   reserved: 0 (nothing reads it)
 *   3  u8   uplink score 0..100 (ping targets reached)
 *   4  u32  groups owned: bit i = group i of the config (big-endian)
 *   8  u32  groups failed here (do not move them to this node) (big-endian)
 *  12  u32  groups this node yields (hb standby GROUP here, or hb takeover on a peer): it takes them
 *           only when no other node can (big-endian; absent in 12-byte records = none)
 *  16  u8   serial: +1 (mod 256) at every change of this record; a "released" control message
 *           carries it, so a receiver can tell a release from a record that came after it
 *  17  u32  nodes this node hears (bit i = the i-th [[node]] of the config; big-endian): a node
 *           that a live peer does not hear releases its groups (one-way loss). The heartbeat engine
 *           writes it at send time from its own liveness view, so it is as fresh as the beat itself
 *
 * Version 2, sent only by clusters with more than 32 groups (so that a cluster of version-1 nodes
 * keeps understanding itself during an upgrade), 57 bytes:
 *   0  u8   record version (2)        1  u8  node state        2  u8  reserved      3  u8  score
 *   4  u8   serial
 *   5  128 bits  groups owned     21  128 bits  groups failed     37  128 bits  groups yielded
 *      (16 bytes each, bit i of group i = byte i >> 3 (from the first), bit 7 - (i & 7))
 *  53  u32  nodes this node hears, as in version 1
 */
export const NODE_STATES = ["starting", "standby", "active", "stopping"] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface StateRecord {
  state: NodeState;
  score: number;
  /** indexes of the groups this node owns */
  groups: number[];
  /** indexes of the groups that failed on this node (not to be moved here) */
  failed?: number[];
  /** indexes of the groups this node yields to any other candidate */
  yields?: number[];
  /** change counter (mod 256); absent in older records */
  serial?: number;
  /** config indexes of the nodes this node hears; absent in older records */
  heard?: number[];
}

export const RECORD_LEN = 21;
/** Where the heard set lives: the heartbeat engine writes it there at send time (see native/engine.c). */
export const HEARD_OFFSET = 17;
const RECORD_MIN = 12;

import { MAX_GROUPS } from "../config/names.ts";

const V2_LEN = 57;
const V2_HEARD = 53;
/** Version 2 is sent only where version 1 cannot say it all. */
const wide = (groups: number) => groups > 32;
/** Where the heard set lives for a cluster with this many groups. */
export const heardOffset = (groups: number) => (wide(groups) ? V2_HEARD : HEARD_OFFSET);

const mask = (list: number[] = []) => list.reduce((m, g) => (g >= 0 && g < 32 ? m | (1 << g) : m), 0) >>> 0;
const unmask = (m: number) => Array.from({ length: 32 }, (_, i) => i).filter((i) => m & (1 << i));

function putBits(b: Uint8Array, at: number, list: number[] = []): void {
  for (const i of list) if (i >= 0 && i < MAX_GROUPS) b[at + (i >> 3)]! |= 0x80 >> (i & 7);
}
const getBits = (b: Uint8Array, at: number) =>
  Array.from({ length: MAX_GROUPS }, (_, i) => i).filter((i) => b[at + (i >> 3)]! & (0x80 >> (i & 7)));

function encodeV2(r: StateRecord): Uint8Array {
  const b = new Uint8Array(V2_LEN);
  b[0] = 2;
  b[1] = NODE_STATES.indexOf(r.state);
  b[3] = Math.max(0, Math.min(100, r.score));
  b[4] = (r.serial ?? 0) & 255;
  putBits(b, 5, r.groups);
  putBits(b, 21, r.failed);
  putBits(b, 37, r.yields);
  new DataView(b.buffer).setUint32(V2_HEARD, mask(r.heard));
  return b;
}

function decodeV2(b: Uint8Array): StateRecord | undefined {
  if (b.length < V2_LEN) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    state: NODE_STATES[b[1]!]!,
    score: b[3]!,
    groups: getBits(b, 5),
    failed: getBits(b, 21),
    yields: getBits(b, 37),
    serial: b[4]!,
    heard: unmask(dv.getUint32(V2_HEARD)),
  };
}

/** The record on the wire: version 1 while the cluster has at most 32 groups, else version 2. */
export function encodeRecord(r: StateRecord, groups = 0): Uint8Array {
  if (wide(groups)) return encodeV2(r);
  const b = new Uint8Array(RECORD_LEN);
  const dv = new DataView(b.buffer);
  b[0] = 1;
  b[1] = NODE_STATES.indexOf(r.state);
  b[2] = 0; // reserved
  b[3] = Math.max(0, Math.min(100, r.score));
  dv.setUint32(4, mask(r.groups));
  dv.setUint32(8, mask(r.failed));
  dv.setUint32(12, mask(r.yields));
  b[16] = (r.serial ?? 0) & 255;
  dv.setUint32(17, mask(r.heard));
  return b;
}

/** Decode a peer's record; undefined when it is not one we understand. */
export function decodeRecord(b: Uint8Array): StateRecord | undefined {
  if (b.length < 2 || b[1]! >= NODE_STATES.length) return undefined;
  if (b[0] === 2) return decodeV2(b);
  if (b.length < RECORD_MIN || b[0] !== 1) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    state: NODE_STATES[b[1]!]!,
    score: b[3]!,
    groups: unmask(dv.getUint32(4)),
    failed: unmask(dv.getUint32(8)),
    yields: b.length >= 16 ? unmask(dv.getUint32(12)) : [],
    ...(b.length >= 17 ? { serial: b[16]! } : {}),
    ...(b.length >= 21 ? { heard: unmask(dv.getUint32(17)) } : {}),
  };
}
