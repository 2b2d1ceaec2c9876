/** Control messages on the heartbeat channel (payload of a CONTROL frame). */
import type { ControlMsg } from "./machine.ts";

// 0 u8 version (1), 1 u8 kind (1 released, 2 leaving), 2 u8 group index
export function encodeControl(m: ControlMsg): Uint8Array {
  return m.kind === "released" ? Uint8Array.of(1, 1, m.group) : Uint8Array.of(1, 2, 0);
}

export function decodeControl(b: Uint8Array): ControlMsg | undefined {
  if (b.length < 3 || b[0] !== 1) return undefined;
  if (b[1] === 1) return { kind: "released", group: b[2]! };
  if (b[1] === 2) return { kind: "leaving" };
  return undefined;
}
