/** Control messages on the heartbeat channel (payload of a CONTROL frame). */
import type { ControlMsg } from "./machine.ts";

// 0 u8 version (1), 1 u8 kind (1 released, 2 leaving, 3 yield: hb takeover on the sender, 4 unyield: the
// sender withdraws it), 2 u8 group index (yield, unyield: 255 = every group), 3 u8 released: the sender's
// record serial after the release. A kind a node does not know is ignored (an older node: no withdrawal).
const ALL = 255;
export function encodeControl(m: ControlMsg): Uint8Array {
  if (m.kind === "released")
    return m.serial === undefined ? Uint8Array.of(1, 1, m.group) : Uint8Array.of(1, 1, m.group, m.serial & 255);
  if (m.kind === "yield" || m.kind === "unyield")
    return Uint8Array.of(1, m.kind === "yield" ? 3 : 4, m.group === "all" ? ALL : m.group);
  return Uint8Array.of(1, 2, 0);
}

export function decodeControl(b: Uint8Array): ControlMsg | undefined {
  if (b.length < 3 || b[0] !== 1) return undefined;
  if (b[1] === 1)
    return b.length >= 4 ? { kind: "released", group: b[2]!, serial: b[3]! } : { kind: "released", group: b[2]! };
  if (b[1] === 2) return { kind: "leaving" };
  if (b[1] === 3 || b[1] === 4) return { kind: b[1] === 3 ? "yield" : "unyield", group: b[2] === ALL ? "all" : b[2]! };
  return undefined;
}
