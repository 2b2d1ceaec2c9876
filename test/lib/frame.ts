/**
 * An independent encoder of the heartbeat frame layout documented in
 * native/frame.h, with node:crypto's HMAC: tests use it to forge frames.
 */
import { createHash, createHmac } from "node:crypto";

export interface ForgedFrame {
  cluster: string;
  type?: number;
  keyId: number;
  secret: string;
  linkId: number;
  sender: number;
  generation: bigint;
  seq: bigint;
  payload?: Uint8Array;
}

export function encodeFrame(f: ForgedFrame): Buffer {
  const payload = Buffer.from(f.payload ?? []);
  const head = Buffer.alloc(28);
  head[0] = 1;
  head[1] = f.type ?? 1;
  head[2] = f.keyId;
  head[3] = f.linkId;
  createHash("sha256").update(f.cluster).digest().copy(head, 4, 0, 4);
  head.writeUInt16BE(f.sender, 8);
  head.writeUInt16BE(payload.length, 10);
  head.writeBigUInt64BE(f.generation, 12);
  head.writeBigUInt64BE(f.seq, 20);
  const body = Buffer.concat([head, payload]);
  return Buffer.concat([body, createHmac("sha256", f.secret).update(body).digest()]);
}

/** An Ethernet frame carrying it on EtherType 0x88B5, broadcast. */
export function etherFrame(payload: Buffer, srcMac = "02:00:00:00:ff:ff"): string {
  const dst = Buffer.alloc(6, 0xff);
  const src = Buffer.from(srcMac.split(":").map((h) => parseInt(h, 16)));
  return Buffer.concat([dst, src, Buffer.from([0x88, 0xb5]), payload]).toString("hex");
}
