/** authkeys: the selected key, carried over as hb's key and, when Heartbeat could use it, as a legacy key. */
import { logicalLines, type Warn } from "./lines.ts";

export interface Keys {
  /** hb's key (HMAC-SHA256 with the old secret) */
  key?: { id: number; secret: string; from: string };
  /** the old cluster's key as Heartbeat uses it: the legacy guard verifies live Heartbeat nodes with it */
  oldKey?: { id: number; method: string; secret: string; from: string };
}

interface Listed {
  methods: Map<number, { method: string; secret: string; no: number }>;
  selected?: { n: number; no: number };
}

function list(text: string, warn: Warn): Listed {
  const l: Listed = { methods: new Map() };
  for (const { no, text: line } of logicalLines(text)) {
    const [a = "", ...rest] = line.split(" ");
    if (a === "auth") {
      const n = Number(rest[0]);
      if (!Number.isInteger(n)) warn(no, `auth ${rest[0]}: not a key number`);
      else l.selected = { n, no };
    } else if (/^\d+$/.test(a)) {
      const [method = "", ...secret] = rest;
      l.methods.set(Number(a), { method: method.toLowerCase(), secret: secret.join(" "), no });
    } else warn(no, `unreadable line: ${line}`);
  }
  return l;
}

export function parseAuthkeys(text: string, mode: number | undefined, warn: Warn): Keys {
  if (mode !== undefined && (mode & 0o077) !== 0)
    warn(
      undefined,
      `readable by group or others (mode ${(mode & 0o777).toString(8)}): the key may be known to others: make a new one when you switch to hb`,
    );
  const { methods, selected } = list(text, warn);
  const chosen = selected ? methods.get(selected.n) : undefined;
  if (!selected)
    warn(undefined, "no `auth N` line: which key Heartbeat used is unknown: write a key to /etc/hb/authkey");
  else if (!chosen) warn(selected.no, `auth ${selected.n} selects a key that is not listed`);
  else if (chosen.method === "crc")
    warn(
      chosen.no,
      "crc is a checksum, not authentication: anyone on the LAN could forge heartbeats; it is not carried over: write a key to /etc/hb/authkey (umask 077; openssl rand -hex 32 > /etc/hb/authkey)",
    );
  else if (chosen.method !== "sha1" && chosen.method !== "md5")
    warn(chosen.no, `method ${chosen.method}: unknown; not carried over`);
  else if (!chosen.secret) warn(chosen.no, `${chosen.method} with an empty key: not carried over`);
  else return carry(selected.n, selected.no, chosen, warn);
  return {};
}

function carry(n: number, no: number, chosen: { method: string; secret: string; no: number }, warn: Warn): Keys {
  if (n < 1 || n > 255) warn(no, `key number ${n} is outside 1..255: written as 1`);
  const from = `authkeys:${chosen.no}: ${n} ${chosen.method} ****`;
  const keys: Keys = { key: { id: n >= 1 && n <= 255 ? n : 1, secret: chosen.secret, from } };
  if (n >= 0 && n <= 15) keys.oldKey = { id: n, method: chosen.method, secret: chosen.secret, from };
  else
    warn(
      no,
      `key number ${n} is outside Heartbeat's 0..15: not written as [[legacy.key]]; the legacy guard will only warn`,
    );
  warn(
    chosen.no,
    `the ${chosen.method} key is carried over as hb's HMAC-SHA256 key; the wire format is new, so Heartbeat and hb nodes do not hear each other: see the migration guide`,
  );
  return keys;
}
