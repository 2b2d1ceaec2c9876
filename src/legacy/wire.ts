/**
 * Heartbeat v1 messages on the wire, parsed defensively (read-only: hb never
 * speaks this protocol). Two framings:
 *   classic:   ">>>\n" then "key=value\n" lines, then "<<<\n"
 *   netstring: "###\n" then netstrings "LEN:key=value," then "%%%\n"
 * A key may carry a type prefix "(N)" (netstring binary fields). A message
 * counts only with a sender (src), a type (t) and an auth field; anything else
 * is a bad packet.
 */
export interface LegacyMessage {
  src: string;
  type: string;
  /** st=: active, up, init, dead... (status messages) */
  status?: string;
  fields: Record<string, string>;
}

const MAX = 65536;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function finish(fields: Record<string, string>): LegacyMessage | string {
  const src = fields.src;
  const t = fields.t;
  if (!src || !NAME.test(src)) return "no usable sender (src)";
  if (!t || !/^[A-Za-z0-9_-]{1,32}$/.test(t)) return "no usable message type (t)";
  if (!fields.auth) return "no auth field";
  return { src, type: t, ...(fields.st ? { status: fields.st } : {}), fields };
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
    for (const line of text.slice(4, end).split("\n")) if (line && !field(line, fields)) return `not key=value: ${JSON.stringify(line.slice(0, 40))}`;
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
