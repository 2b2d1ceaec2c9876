/**
 * Heartbeat v1 messages on the wire, parsed defensively (read-only: hb never
 * speaks this protocol). Two framings:
 *   classic:   ">>>\n" then "key=value\n" lines, then "<<<\n"
 *   netstring: "###\n" then netstrings "LEN:key=value," then "%%%\n"
 * A key may carry a type prefix "(N)" (netstring binary fields). A message
 * counts only with a sender (src), a type (t) and an auth field; anything else
 * is a bad packet.
 *
 * Authentication (verifyLegacy): Heartbeat 3 sends the netstring framing and
 * appends, after "%%%\n", one more netstring "LEN:N HEX," where HEX is the
 * lowercase HMAC (sha1 or md5, the authkeys method of key N) of every byte from
 * "###\n" through "%%%\n" under key N's secret. Checked against packets of a
 * running Heartbeat 3.0.6 (test/netns/legacy.test.ts). The classic framing of
 * older versions carries its auth inside the message; hb does not verify it.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { NAME_PATTERN } from "../config/names.ts";
import type { LegacyKey } from "../config/schema.ts";
export interface LegacyMessage {
  src: string;
  type: string;
  /** st=: active, up, init, dead... (status messages) */
  status?: string;
  fields: Record<string, string>;
}

const MAX = 65536;

function finish(fields: Record<string, string>): LegacyMessage | string {
  const src = fields.src;
  const t = fields.t;
  if (!src || !NAME_PATTERN.test(src)) return "no usable sender (src)";
  if (!t || !/^[A-Za-z0-9_-]{1,32}$/.test(t)) return "no usable message type (t)";
  if (!fields.auth) return "no auth field";
  // untrusted text bound for logs and terminals: printable ASCII only, short
  return {
    src,
    type: t,
    ...(fields.st ? { status: fields.st.replace(/[^\x20-\x7e]/g, "?").slice(0, 32) } : {}),
    fields,
  };
}

function field(kv: string, fields: Record<string, string>): boolean {
  const m = /^(?:\(\d+\))?([A-Za-z0-9_]{1,32})=(.*)$/s.exec(kv);
  if (!m) return false;
  fields[m[1]!] = m[2]!;
  return true;
}

/** A message, or why it is not one. */
export function parseLegacy(b: Uint8Array): LegacyMessage | string {
  if (b.length > MAX) return "too long";
  const text = new TextDecoder("latin1").decode(b);
  const fields: Record<string, string> = Object.create(null);
  if (text.startsWith(">>>\n")) {
    const end = text.indexOf("\n<<<\n");
    if (end < 0) return "no end marker (<<<)";
    for (const line of text.slice(4, end).split("\n"))
      if (line && !field(line, fields)) return `not key=value: ${JSON.stringify(line.slice(0, 40))}`;
    return finish(fields);
  }
  if (text.startsWith("###\n")) {
    let i = 4;
    for (let n = 0; n < 1000; n++) {
      if (text.startsWith("%%%\n", i) || text.startsWith("%%%", i)) return finish(fields);
      const colon = text.indexOf(":", i);
      if (colon < 0 || colon - i > 6 || !/^\d+$/.test(text.slice(i, colon))) return "bad netstring length";
      const len = Number(text.slice(i, colon));
      const data = text.slice(colon + 1, colon + 1 + len);
      if (data.length !== len || text[colon + 1 + len] !== ",") return "truncated netstring";
      if (!field(data, fields)) return "netstring is not key=value";
      i = colon + 2 + len;
    }
    return "too many fields";
  }
  return "not a Heartbeat message";
}

/**
 * Does the packet carry a valid Heartbeat authentication under one of the keys?
 * "verified", "forged" (it does not verify, or names a key we lack), or
 * "unverifiable" (no keys, or the classic framing).
 */
export function verifyLegacy(
  b: Uint8Array,
  keys: LegacyKey[],
): { verdict: "verified" | "forged" | "unverifiable"; why?: string } {
  if (keys.length === 0) return { verdict: "unverifiable", why: "no [[legacy.key]] configured" };
  const text = new TextDecoder("latin1").decode(b.subarray(0, MAX));
  if (!text.startsWith("###\n"))
    return { verdict: "unverifiable", why: "classic framing (older Heartbeat): its authentication is not checked" };
  const end = text.lastIndexOf("%%%\n");
  if (end < 0) return { verdict: "forged", why: "no end marker" };
  const m = /^(\d{1,4}):(\d{1,2}) ([0-9a-f]{32,40}),$/.exec(text.slice(end + 4).replace(/\0+$/, ""));
  if (!m || Number(m[1]) !== m[2]!.length + 1 + m[3]!.length)
    return { verdict: "forged", why: "no authentication after the message" };
  const key = keys.find((k) => k.id === Number(m[2]));
  if (!key) return { verdict: "forged", why: `names key ${m[2]}, which is not a [[legacy.key]]` };
  const want = createHmac(key.method, key.secret)
    .update(b.subarray(0, end + 4))
    .digest();
  const got = Buffer.from(m[3]!, "hex");
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return { verdict: "forged", why: `authentication with key ${key.id} (${key.method}) does not verify` };
  return { verdict: "verified" };
}
