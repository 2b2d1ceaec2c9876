/**
 * Turn the text of ha.toml into a typed Config, or fail closed with every
 * problem as file:line:col, key path, what was expected and a hint.
 * Nothing is silently substituted: an unknown key, a wrong type or a value out
 * of range is an error, never a default.
 */
import { isIPv4, isIPv6 } from "node:net";
import { parse, TomlError } from "smol-toml";
import { formatDuration, parseDuration } from "./duration.ts";
import { ConfigError, type ConfigIssue } from "./errors.ts";
import type { FileInfo } from "./files.ts";
import { type Located, locate, pathString } from "./locate.ts";
import { IPV4_PATTERN, MAX_GROUPS, MAX_NODES } from "./names.ts";
import type {
  Config,
  EtcdConfig,
  Field,
  Fields,
  Kind,
  LinkConfig,
  MonitorConfig,
  OnFail,
  ResourceConfig,
} from "./schema.ts";
import { SCHEMA } from "./schema.ts";

/** What validation needs from the outside world; tests pass a fake. */
export interface ConfigEnv {
  /** uname -n */
  hostname: string;
  /** --node, overriding cluster.node and uname -n */
  nodeOverride?: string;
  /** The user hb runs as: files it trusts are owned by root or by this user. */
  uid: number;
  /** A file opened once (never through a symlink): its permission bits, owner and text; or an Error. */
  open(path: string): FileInfo | Error;
}

/** Why a file that names what root runs, or holds a key, must not be trusted; undefined if it may. */
function untrusted(info: FileInfo, env: ConfigEnv, secret: boolean): string | undefined {
  if (info.uid !== 0 && info.uid !== env.uid) return `is owned by uid ${info.uid}, not by root`;
  if (info.mode & 0o022) return `is writable by group or others (mode ${(info.mode & 0o777).toString(8)})`;
  if (secret && info.mode & 0o077) return `is accessible by group or others (mode ${(info.mode & 0o777).toString(8)})`;
  return undefined;
}

type Seg = string | number;

/** The etcd lease TTL when none is given (schema: quorum.ttl). */
const DEFAULT_ETCD_TTL = 3000;
type Raw = Record<string, unknown>;

class Collector {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    private readonly where: Map<string, Located>,
  ) {}
  /** Position of a path: its value, else the nearest located ancestor, else 1:1. */
  pos(path: readonly Seg[], which: "key" | "value" = "value") {
    for (let n = path.length; n > 0; n--) {
      const hit = this.where.get(pathString(path.slice(0, n)));
      if (hit) return n === path.length ? hit[which] : hit.key;
    }
    return { line: 1, col: 1 };
  }
  add(path: readonly Seg[], message: string, hint?: string, which: "key" | "value" = "value") {
    const p = this.pos(path, which);
    this.issues.push({ file: this.file, line: p.line, col: p.col, path: pathString(path), message, hint });
  }
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const prefix = known.find(
    (k) =>
      k.length >= 3 && (lower.startsWith(k.toLowerCase()) || k.toLowerCase().startsWith(lower)) && lower.length >= 3,
  );
  if (prefix) return prefix;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = levenshtein(word.toLowerCase(), k.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const isTable = (v: unknown): v is Raw =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
const typeName = (v: unknown) =>
  Array.isArray(v)
    ? "an array"
    : isTable(v)
      ? "a table"
      : typeof v === "string"
        ? `the string ${JSON.stringify(v)}`
        : `${typeof v} ${String(v)}`;

function checkUnknown(c: Collector, raw: Raw, fields: Fields, path: Seg[], also: string[] = []) {
  const known = [...Object.keys(fields), ...also];
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    const guess = didYouMean(key, known);
    c.add(
      [...path, key],
      `unknown key "${key}"`,
      guess ? `did you mean "${guess}"?` : `known keys here: ${known.join(", ")}`,
      "key",
    );
  }
}

function walkTable(c: Collector, raw: unknown, fields: Fields, path: Seg[], also: string[] = []): Raw | undefined {
  if (!isTable(raw)) {
    c.add(path, `expected a table, found ${typeName(raw)}`, `write it as [${pathString(path)}] with keys below it`);
    return undefined;
  }
  checkUnknown(c, raw, fields, path, also);
  const out: Raw = {};
  for (const [key, field] of Object.entries(fields)) {
    const v = raw[key];
    const p = [...path, key];
    if (v === undefined) {
      if (field.required) c.add(path, `missing required key "${key}"`, field.doc, "key");
      else if (field.default !== undefined)
        // a defaulted table gets its own fields' defaults by walking it
        out[key] =
          field.kind.t === "table"
            ? walkValue(c, structuredClone(field.default), field, p)
            : structuredClone(field.default);
      continue;
    }
    const value = walkValue(c, v, field, p);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function walkArray(
  c: Collector,
  v: unknown,
  field: Field,
  path: Seg[],
  minItems: number,
  each: (item: unknown, p: Seg[]) => unknown,
) {
  if (!Array.isArray(v)) {
    c.add(path, `expected an array of tables, found ${typeName(v)}`, `write each entry as [[${pathString(path)}]]`);
    return undefined;
  }
  if (v.length < minItems)
    c.add(path, `needs at least ${minItems} entr${minItems === 1 ? "y" : "ies"}, found ${v.length}`, field.doc);
  return v.map((item, i) => each(item, [...path, i]));
}

type KindOf<T extends Kind["t"]> = Extract<Kind, { t: T }>;

function walkString(c: Collector, v: unknown, field: Field, k: KindOf<"string">, path: Seg[]): unknown {
  if (typeof v !== "string") return c.add(path, `expected a string, found ${typeName(v)}`, field.doc);
  if (k.oneOf && !k.oneOf.includes(v)) {
    const guess = didYouMean(v, k.oneOf);
    return c.add(
      path,
      `"${v}" is not one of ${k.oneOf.map((o) => `"${o}"`).join(", ")}`,
      guess ? `did you mean "${guess}"?` : field.doc,
    );
  }
  if (k.pattern && !k.pattern.test(v)) return c.add(path, `"${v}" is not valid here`, `expected ${k.patternHint}`);
  return v;
}

function walkDuration(c: Collector, v: unknown, k: KindOf<"duration">, path: Seg[]): unknown {
  if (typeof v !== "string") {
    const hint = typeof v === "number" ? `write it with a unit, like "${v}s" or "${v}ms"` : `like "150ms" or "2s"`;
    return c.add(path, `expected a duration string, found ${typeName(v)}`, hint);
  }
  const ms = parseDuration(v);
  if (typeof ms !== "number") return c.add(path, ms.error, `a number with a unit (ms, s, m, h), like "150ms" or "2s"`);
  if (ms < k.min || ms > k.max)
    return c.add(path, `${v} is out of range`, `between ${formatDuration(k.min)} and ${formatDuration(k.max)}`);
  return ms;
}

function walkScalar(c: Collector, v: unknown, field: Field, path: Seg[]): unknown {
  const k = field.kind;
  if (k.t === "bool") {
    if (typeof v === "boolean") return v;
    const hint =
      v === "on" || v === "yes"
        ? 'write true (not "on")'
        : v === "off" || v === "no"
          ? 'write false (not "off")'
          : "true or false";
    return c.add(path, `expected true or false, found ${typeName(v)}`, hint);
  }
  if (k.t === "int") {
    if (typeof v !== "number" || !Number.isInteger(v))
      return c.add(path, `expected a whole number, found ${typeName(v)}`, field.doc);
    if (v < k.min || v > k.max || (k.oneOf && !k.oneOf.includes(v)))
      return c.add(
        path,
        `${v} is out of range`,
        k.oneOf ? `one of ${k.oneOf.join(", ")}` : `between ${k.min} and ${k.max}`,
      );
    return v;
  }
  if (k.t === "strings") {
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string"))
      return c.add(path, `expected an array of strings, found ${typeName(v)}`, field.doc);
    return v;
  }
  if (k.t !== "map") return undefined;
  if (!isTable(v)) return c.add(path, `expected a table of node name = value, found ${typeName(v)}`, field.doc);
  for (const [key, val] of Object.entries(v))
    if (typeof val !== "string") c.add([...path, key], `expected a string, found ${typeName(val)}`, `${k.valueHint}`);
  return v;
}

/** An array of tables whose shape is chosen by the value of one key (links: kind). */
function walkTagged(c: Collector, item: unknown, k: KindOf<"tagged">, p: Seg[]): unknown {
  if (!isTable(item)) return walkTable(c, item, {}, p);
  const tag = item[k.tag];
  const names = Object.keys(k.variants);
  if (typeof tag !== "string" || !(tag in k.variants)) {
    const guess = typeof tag === "string" ? didYouMean(tag, names) : undefined;
    return c.add(
      tag === undefined ? p : [...p, k.tag],
      tag === undefined ? `missing required key "${k.tag}"` : `"${String(tag)}" is not a known ${k.tag}`,
      guess ? `did you mean "${guess}"?` : `${k.tag} is one of ${names.map((n) => `"${n}"`).join(", ")}`,
      "key",
    );
  }
  const out = walkTable(c, item, k.variants[tag]!, p, [k.tag]);
  return out && { ...out, [k.tag]: tag };
}

/** An array of tables whose shape is chosen by which marker key is present (resources: ip, script, systemd). */
function walkVariants(c: Collector, item: unknown, k: KindOf<"variants">, p: Seg[]): unknown {
  if (!isTable(item)) return walkTable(c, item, {}, p);
  const markers = Object.keys(k.variants).filter((m) => m in item);
  if (markers.length !== 1) {
    const names = Object.keys(k.variants)
      .map((n) => `"${n}"`)
      .join(", ");
    return c.add(
      p,
      markers.length === 0
        ? `a resource needs exactly one of ${names}`
        : `a resource has both ${markers.map((m) => `"${m}"`).join(" and ")}`,
      'write one resource per entry, like { ip = "192.0.2.10/24", interface = "eth0" } or { script = "httpd" }',
      "key",
    );
  }
  const out = walkTable(c, item, k.variants[markers[0]!]!, p);
  return out && { ...out, kind: markers[0] };
}

/** One value against its field: the checked value, or undefined with an issue added. */
function walkValue(c: Collector, v: unknown, field: Field, path: Seg[]): unknown {
  const k: Kind = field.kind;
  switch (k.t) {
    case "string":
      return walkString(c, v, field, k, path);
    case "duration":
      return walkDuration(c, v, k, path);
    case "table":
      return walkTable(c, v, k.fields, path);
    case "tables":
      return walkArray(c, v, field, path, k.minItems, (item, p) => walkTable(c, item, k.item, p));
    case "tagged":
      return walkArray(c, v, field, path, k.minItems, (item, p) => walkTagged(c, item, k, p));
    case "variants":
      return walkArray(c, v, field, path, k.minItems, (item, p) => walkVariants(c, item, k, p));
    default:
      return walkScalar(c, v, field, path);
  }
}

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

function ipv4ToInt(a: string): number {
  return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** Parse "addr/prefix". Returns the pieces or a reason. */
export function parseCidr(
  s: string,
): { address: string; prefix: number; family: 4 | 6 } | { error: string; hint: string } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m)
    return {
      error: `"${s}" has no prefix length`,
      hint: `write address/prefix, like "192.0.2.10/24": the prefix of the LAN the address lives on`,
    };
  const [, address, p] = m as unknown as [string, string, string];
  const prefix = Number(p);
  if (isIPv4(address)) {
    if (prefix < 1 || prefix > 32)
      return { error: `prefix /${prefix} is not valid for IPv4`, hint: "between /1 and /32" };
    const n = ipv4ToInt(address);
    const first = Number(address.split(".")[0]);
    if (first === 0 || first === 127 || first >= 224)
      return {
        error: `${address} cannot be a floating address (reserved, loopback or multicast)`,
        hint: "use a unicast address of the LAN",
      };
    if (prefix <= 30) {
      const host = n % 2 ** (32 - prefix);
      if (host === 0)
        return {
          error: `${address} is the network address of /${prefix}`,
          hint: "pick a host address inside the subnet",
        };
      if (host === 2 ** (32 - prefix) - 1)
        return {
          error: `${address} is the broadcast address of /${prefix}`,
          hint: "pick a host address inside the subnet",
        };
    }
    return { address, prefix, family: 4 };
  }
  if (isIPv6(address)) {
    if (prefix < 1 || prefix > 128)
      return { error: `prefix /${prefix} is not valid for IPv6`, hint: "between /1 and /128" };
    const low = address.toLowerCase();
    if (low === "::" || low === "::1" || low.startsWith("ff"))
      return { error: `${address} cannot be a floating address`, hint: "use a unicast address of the LAN" };
    return { address, prefix, family: 6 };
  }
  return { error: `"${address}" is not an IPv4 or IPv6 address`, hint: `like "192.0.2.10/24" or "2001:db8::10/64"` };
}

type NodeCheck = (path: Seg[], name: unknown, what: string) => boolean;
interface Nodes {
  nodes: { name: string; id: number }[];
  names: string[];
  local: string;
  /** a name that must be a listed node: an issue (with a guess) if not */
  nodeCheck: NodeCheck;
}

function checkTiming(c: Collector, timing: Record<string, number> | undefined): void {
  if (
    !timing ||
    ![timing.keepalive, timing.warntime, timing.deadtime, timing.initdead].every((x) => typeof x === "number")
  )
    return;
  const { keepalive, warntime, deadtime, initdead } = timing as { [k: string]: number };
  if (!(deadtime! > 2 * keepalive!))
    c.add(
      ["timing", "deadtime"],
      `deadtime ${formatDuration(deadtime!)} must exceed 2 x keepalive (${formatDuration(keepalive!)})`,
      `raise deadtime to at least ${formatDuration(2 * keepalive! + 1)}, or lower keepalive`,
    );
  if (!(warntime! > keepalive! && warntime! < deadtime!))
    c.add(
      ["timing", "warntime"],
      `warntime ${formatDuration(warntime!)} must lie between keepalive (${formatDuration(keepalive!)}) and deadtime (${formatDuration(deadtime!)})`,
      "a common choice is about 3 x keepalive",
    );
  if (!(initdead! >= deadtime!))
    c.add(
      ["timing", "initdead"],
      `initdead ${formatDuration(initdead!)} must be at least deadtime (${formatDuration(deadtime!)})`,
      "Heartbeat's advice: at least twice deadtime",
    );
}

/** The lease is whole seconds (the kernel's unit); by default it outlasts deadtime. */
function checkLease(
  c: Collector,
  addresses: Record<string, number> | undefined,
  timing: Record<string, number> | undefined,
  quorum: Raw | undefined,
): void {
  // With the etcd arbiter a killed holder's key outlives it by at least two thirds of the TTL (it renews
  // every sixth); its addresses must be gone from its kernel by then, before a peer can get the key.
  const ttl = (quorum?.ttl as number | undefined) ?? DEFAULT_ETCD_TTL;
  const arbiter = quorum?.arbiter === "etcd" ? Math.floor((2 * ttl) / 3 / 1000) * 1000 : undefined;
  const given = addresses?.lease !== undefined;
  if (addresses && !given && arbiter !== undefined) addresses.lease = Math.max(1000, arbiter);
  else if (addresses && !given && typeof timing?.deadtime === "number")
    addresses.lease = Math.max(3000, Math.ceil((timing.deadtime + 1000) / 1000) * 1000);
  const lease = addresses?.lease;
  if (given && arbiter !== undefined && typeof lease === "number" && (lease === 0 || lease > (2 * ttl) / 3))
    c.add(
      ["addresses", "lease"],
      `with the etcd arbiter, a lease of ${lease === 0 ? "0s (forever)" : formatDuration(lease)} would let a killed holder keep its addresses after etcd gives its groups away`,
      `at most two thirds of quorum.ttl (${formatDuration(Math.max(1000, arbiter))}), or a longer ttl`,
    );
  if (typeof lease === "number" && lease % 1000 !== 0)
    c.add(
      ["addresses", "lease"],
      `lease ${formatDuration(lease)} is not a whole number of seconds`,
      'the kernel counts address lifetimes in seconds: write "3s"',
    );
}

/** Uplink: IPv4 targets, timeout within interval, require only with targets. */
function checkUplink(c: Collector, uplink: Raw | undefined): void {
  if (!uplink) return;
  const targets = Array.isArray(uplink.targets) ? (uplink.targets as unknown[]) : [];
  targets.forEach((t, i) => {
    if (typeof t === "string" && !IPV4_PATTERN.test(t))
      c.add(
        ["uplink", "targets", i],
        `"${t}" is not an IPv4 address`,
        'ping targets are IPv4 addresses, like "198.51.100.1" (your gateway)',
      );
  });
  if (typeof uplink.timeout === "number" && typeof uplink.interval === "number" && uplink.timeout > uplink.interval)
    c.add(
      ["uplink", "timeout"],
      `timeout ${formatDuration(uplink.timeout)} exceeds interval ${formatDuration(uplink.interval)}`,
      "an answer must be due before the next ping: lower timeout",
    );
  if (uplink.require === true && targets.length === 0)
    c.add(["uplink", "require"], "require = true needs ping targets", "list targets (your gateway), or remove require");
}

/** Fencing: a command when the method is "command"; none otherwise. */
function checkFencing(c: Collector, fencing: Raw | undefined): void {
  if (!fencing || !Array.isArray(fencing.command)) return;
  const cmd = fencing.command as unknown[];
  if (fencing.method === "command" && cmd.length === 0)
    c.add(
      ["fencing", "command"],
      `method = "command" needs a command`,
      'for example command = ["/usr/local/sbin/fence-ipmi", "--power-off"] (the node name is appended)',
    );
  else if (fencing.method === "command" && typeof cmd[0] === "string" && !cmd[0].startsWith("/"))
    c.add(["fencing", "command", 0], `"${cmd[0]}" is not an absolute path`, "give the full path of the fence program");
  if (fencing.method === "none" && cmd.length > 0)
    c.add(
      ["fencing", "command"],
      `a command is given but method = "none"`,
      'set method = "command" to use it, or remove it',
    );
}

/** A check's program must be named by absolute path: no PATH lookup decides what root runs. */
function checkProgram(c: Collector, cmd: unknown, p: Seg[]): void {
  if (Array.isArray(cmd) && typeof cmd[0] === "string" && !cmd[0].startsWith("/"))
    c.add([...p, 0], `"${cmd[0]}" is not an absolute path`, "give the full path of the program");
}

/** A resource's monitor: probes that can run. */
function checkMonitor(c: Collector, m: Raw | undefined, p: Seg[]): void {
  if (!m) return;
  checkProgram(c, m.command, [...p, "command"]);
  const port = typeof m.tcp === "string" ? Number(m.tcp.slice(m.tcp.lastIndexOf(":") + 1)) : 1;
  if (port < 1 || port > 65535) c.add([...p, "tcp"], `port ${port} is out of range`, "between 1 and 65535");
}

/** Quorum: majority by default from three nodes on (unless an arbiter decides); the votes by node. */
function quorumOf(raw: Raw, n: Nodes, etcd: EtcdConfig | undefined): Config["quorum"] {
  const given = (raw.quorum as Raw | undefined)?.mode as Config["quorum"]["mode"] | undefined;
  const votes = Object.fromEntries(
    ((raw.node as Raw[] | undefined) ?? []).map((x) => [x.name as string, (x.votes as number | undefined) ?? 1]),
  );
  return { mode: given ?? (n.nodes.length >= 3 && !etcd ? "majority" : "none"), votes, etcd };
}

/** A file the etcd client needs (a CA, a certificate, a key): readable; a key or password root's own and private. */
function etcdFile(c: Collector, q: Raw, field: string, env: ConfigEnv, secret: boolean): string | undefined {
  const f = q[field];
  if (typeof f !== "string") return undefined;
  const info = env.open(f);
  if (info instanceof Error) {
    c.add(["quorum", field], `cannot read ${f}: ${info.message}`, "give the path of a readable PEM file");
    return undefined;
  }
  const bad = secret ? untrusted(info, env, true) : undefined;
  if (bad) c.add(["quorum", field], `${f} ${bad}`, `chown root: ${f}; chmod 600 ${f}`);
  return info.text;
}

/** [quorum] arbiter = "etcd": endpoints, TLS files, credentials; one way of deciding ownership, not two. */
function checkEtcd(c: Collector, raw: Raw, env: ConfigEnv): EtcdConfig | undefined {
  const q = (raw.quorum as Raw | undefined) ?? {};
  const keys = ["endpoints", "ca", "cert", "key", "user", "password", "password_file", "ttl", "prefix"];
  if (q.arbiter !== "etcd") {
    const stray = keys.filter((k) => q[k] !== undefined && !(k === "endpoints" && (q[k] as unknown[]).length === 0));
    if (stray.length)
      c.add(["quorum", stray[0]!], `${stray.join(", ")} given without arbiter = "etcd"`, 'add arbiter = "etcd"', "key");
    return undefined;
  }
  const endpoints = (q.endpoints as string[] | undefined) ?? [];
  if (endpoints.length === 0)
    c.add(["quorum", "arbiter"], "the etcd arbiter needs endpoints", 'endpoints = ["https://10.0.0.5:2379", ...]');
  endpoints.forEach((e, i) => {
    if (!/^https?:\/\/[^/\s]+(:\d+)?\/?$/.test(e))
      c.add(["quorum", "endpoints", i], `"${e}" is not an etcd client URL`, "https://HOST:2379 (or http://)");
  });
  if (q.mode === "majority")
    c.add(["quorum", "mode"], 'mode = "majority" and arbiter = "etcd" both decide ownership', "choose one of them");
  if ((q.cert === undefined) !== (q.key === undefined))
    c.add(["quorum", q.cert === undefined ? "key" : "cert"], "cert and key go together", "give both, or neither");
  if (q.user === undefined && (q.password !== undefined || q.password_file !== undefined))
    c.add(["quorum", "user"], "a password without a user", 'user = "hb"');
  if (q.user !== undefined && (q.password === undefined) === (q.password_file === undefined))
    c.add(
      ["quorum", "user"],
      "an etcd user needs password or password_file (one of them)",
      'password_file = "/etc/hb/etcd-password"',
    );
  const ttl = (q.ttl as number | undefined) ?? DEFAULT_ETCD_TTL;
  if (ttl % 1000 !== 0) c.add(["quorum", "ttl"], "etcd leases last whole seconds", `ttl = "${Math.ceil(ttl / 1000)}s"`);
  const password = typeof q.password === "string" ? q.password : etcdFile(c, q, "password_file", env, true)?.trim();
  const name = (raw.cluster as Raw | undefined)?.name;
  return {
    endpoints: endpoints.map((e) => e.replace(/\/$/, "")),
    tls: {
      ca: etcdFile(c, q, "ca", env, false),
      cert: etcdFile(c, q, "cert", env, false),
      key: etcdFile(c, q, "key", env, true),
    },
    user: q.user as string | undefined,
    password,
    ttl,
    prefix: (q.prefix as string | undefined) ?? `/hb/${typeof name === "string" ? name : "hb"}/`,
  };
}

/** Nodes: unique names and ids; the local node among them. */
function checkNodes(c: Collector, nodesRaw: Raw[] | undefined, cluster: Raw | undefined, env: ConfigEnv): Nodes {
  const nodes: { name: string; id: number }[] = [];
  (nodesRaw ?? []).forEach((n, i) => {
    if (!n || typeof n.name !== "string") return;
    const id = typeof n.id === "number" ? n.id : i + 1;
    if (nodes.some((o) => o.name === n.name))
      c.add(["node", i, "name"], `node "${n.name}" is listed twice`, "each [[node]] needs its own name");
    else if (nodes.some((o) => o.id === id))
      c.add(
        ["node", i, n.id === undefined ? "name" : "id"],
        `node id ${id} is used twice`,
        "give each [[node]] a distinct id",
      );
    nodes.push({ name: n.name, id });
  });
  if (nodes.length > MAX_NODES)
    c.add(
      ["node"],
      `${nodes.length} nodes: at most ${MAX_NODES}`,
      "every heartbeat record names the nodes its sender hears in a 32-bit set; split the cluster",
    );
  const names = nodes.map((n) => n.name);
  const nodeCheck: NodeCheck = (path, name, what) => {
    if (typeof name !== "string" || names.length === 0 || names.includes(name)) return true;
    const guess = didYouMean(name, names);
    c.add(
      path,
      `${what} "${name}" is not a listed node`,
      guess ? `did you mean "${guess}"?` : `listed nodes: ${names.join(", ")}`,
    );
    return false;
  };
  const local = env.nodeOverride ?? (typeof cluster?.node === "string" ? cluster.node : env.hostname);
  if (names.length > 0 && !names.includes(local)) {
    const source =
      env.nodeOverride !== undefined ? "--node" : typeof cluster?.node === "string" ? "cluster.node" : "uname -n";
    const guess = didYouMean(local, names);
    c.add(
      env.nodeOverride === undefined && cluster?.node !== undefined ? ["cluster", "node"] : ["node"],
      `this node is "${local}" (from ${source}) but that is not a listed node`,
      guess
        ? `did you mean "${guess}"? Set cluster.node or pass --node`
        : `listed nodes: ${names.join(", ")}; set cluster.node or pass --node`,
    );
  }
  return { nodes, names, local, nodeCheck };
}

/** One key's secret: inline, or from a file that only root can read. */
function keySecret(c: Collector, k: Raw, p: Seg[], env: ConfigEnv): string | undefined {
  if (typeof k.secret === "string") return k.secret;
  const f = k.file as string;
  const info = env.open(f);
  if (info instanceof Error) {
    c.add(
      [...p, "file"],
      `cannot read key file ${f}: ${info.message}`,
      "create it with the shared key, then chmod 600",
    );
    return undefined;
  }
  const bad = untrusted(info, env, true);
  if (bad) {
    c.add(
      [...p, "file"],
      `key file ${f} ${bad}`,
      info.uid !== 0 && info.uid !== env.uid ? `chown root: ${f}; chmod 600 ${f}` : `chmod 600 ${f}`,
    );
    return undefined;
  }
  return info.text.trim();
}

/** [[auth.key]] or [[legacy.key]]: unique ids, exactly one of secret/file, not empty. */
function readKeys(
  c: Collector,
  table: string,
  list: (Raw | undefined)[],
  env: ConfigEnv,
): { id: number; secret: Uint8Array; raw: Raw }[] {
  const out: { id: number; secret: Uint8Array; raw: Raw }[] = [];
  list.forEach((k, i) => {
    if (!k || typeof k.id !== "number") return;
    const p: Seg[] = [table, "key", i];
    if (out.some((o) => o.id === k.id))
      c.add([...p, "id"], `key id ${k.id} is listed twice`, `give each [[${table}.key]] a distinct id`);
    const hasSecret = typeof k.secret === "string";
    if (hasSecret === (typeof k.file === "string")) {
      c.add(
        p,
        hasSecret ? 'a key has both "secret" and "file"' : 'a key needs "secret" or "file"',
        'give the key inline (secret = "...") or in a file (file = "/etc/hb/authkey"), not both',
        "key",
      );
      return;
    }
    const text = keySecret(c, k, p, env);
    if (text === undefined) return;
    if (text.length === 0) {
      c.add(
        [...p, hasSecret ? "secret" : "file"],
        "the key is empty",
        "use a random key of at least 16 characters, e.g. from: openssl rand -hex 32",
      );
      return;
    }
    out.push({ id: k.id, secret: new TextEncoder().encode(text), raw: k });
  });
  return out;
}

/** ha.toml names the scripts and the fence command root runs: root's own, writable by nobody else; with a key inline, readable by nobody else either. */
function checkSelf(c: Collector, raw: Raw, env: ConfigEnv, self: FileInfo | Error): void {
  if (self instanceof Error) {
    c.add([], `cannot check the permissions of ${c.file}: ${self.message}`);
    return;
  }
  const inline = (table: unknown) =>
    ((table as Raw | undefined)?.key as Raw[] | undefined)?.some((k) => typeof k?.secret === "string") ?? false;
  const etcdPassword = typeof (raw.quorum as Raw | undefined)?.password === "string";
  const bad = untrusted(self, env, false);
  if (bad)
    c.add(
      [],
      `${c.file} ${bad}: it names the commands root runs`,
      self.uid !== 0 && self.uid !== env.uid ? `chown root: ${c.file}; chmod 600 ${c.file}` : `chmod go-w ${c.file}`,
    );
  else if ((inline(raw.auth) || inline(raw.legacy) || etcdPassword) && self.mode & 0o077)
    c.add(
      [inline(raw.auth) ? "auth" : inline(raw.legacy) ? "legacy" : "quorum"],
      `${c.file} holds an inline key but is accessible by group or others (mode ${(self.mode & 0o777).toString(8)})`,
      `chmod 600 ${c.file}, or move the key to a key file`,
      "key",
    );
}

/** The key that signs: auth.send, or the only key. */
function sendKey(c: Collector, auth: Raw | undefined, keyList: (Raw | undefined)[]): number | undefined {
  const send = typeof auth?.send === "number" ? auth.send : undefined;
  if (!auth || keyList.length === 0) return send;
  if (send === undefined) {
    if (keyList.length > 1)
      c.add(
        ["auth"],
        'several keys are listed but "send" is not set',
        "set send = ID, the key used to sign; all listed keys are accepted",
        "key",
      );
    else if (typeof keyList[0]?.id === "number") return keyList[0].id;
  } else if (!keyList.some((k) => k?.id === send))
    c.add(
      ["auth", "send"],
      `send = ${send} names no listed key`,
      `listed key ids: ${keyList.map((k) => k?.id).join(", ")}`,
    );
  return send;
}

function checkUdpLink(c: Collector, l: Raw, p: Seg[], n: Nodes): void {
  const peers = (l.peers as Record<string, string>) ?? {};
  for (const [node, addr] of Object.entries(peers)) {
    n.nodeCheck([...p, "peers", node], node, "peers names node");
    if (typeof addr === "string" && !isIPv4(addr) && !isIPv6(addr))
      c.add([...p, "peers", node], `"${addr}" is not an IP address`, "like 192.0.2.12");
  }
  if (l.mode === "multicast") {
    const g = l.group;
    if (typeof g !== "string")
      c.add(p, 'mode = "multicast" needs a group', 'add group = "239.0.0.1" (any 239.x.y.z fits a LAN)', "key");
    else if (
      !(isIPv4(g) && Number(g.split(".")[0]) >= 224 && Number(g.split(".")[0]) <= 239) &&
      !(isIPv6(g) && g.toLowerCase().startsWith("ff"))
    )
      c.add(
        [...p, "group"],
        `"${g}" is not a multicast address`,
        "IPv4 224.0.0.0 to 239.255.255.255, or IPv6 ff00::/8",
      );
  } else if (l.group !== undefined)
    c.add(
      [...p, "group"],
      `group is only used with mode = "multicast" (mode is "${l.mode}")`,
      'remove it, or set mode = "multicast"',
      "key",
    );
  if (l.mode === "unicast") {
    const missing = n.names.filter((x) => x !== n.local && !(x in peers));
    if (missing.length)
      c.add(
        Object.keys(peers).length ? [...p, "peers"] : p,
        `mode = "unicast" needs an address for ${missing.map((m) => `"${m}"`).join(", ")}`,
        `add peers = { ${missing.map((m) => `${m} = "192.0.2.x"`).join(", ")} }`,
        "key",
      );
  } else if (Object.keys(peers).length)
    c.add(
      [...p, "peers"],
      `peers is only used with mode = "unicast" (mode is "${l.mode}")`,
      'remove it, or set mode = "unicast"',
      "key",
    );
}

/** Links: unique names, known peers with their addresses or MACs. */
function checkLinks(c: Collector, linksRaw: (Raw | undefined)[] | undefined, n: Nodes): LinkConfig[] {
  const links: LinkConfig[] = [];
  (linksRaw ?? []).forEach((l, i) => {
    if (!l) return;
    const p: Seg[] = ["link", i];
    const name = (typeof l.name === "string" ? l.name : `${l.kind}:${l.interface ?? l.device}`) as string;
    if (links.some((o) => o.name === name))
      c.add(
        [...p, typeof l.name === "string" ? "name" : "kind"],
        `link name "${name}" is used twice`,
        'give one of the links a distinct name = "..."',
        "key",
      );
    if (l.kind === "ether") {
      for (const [node, mac] of Object.entries((l.peer_mac as Record<string, string>) ?? {})) {
        n.nodeCheck([...p, "peer_mac", node], node, "peer_mac names node");
        if (typeof mac === "string" && !MAC.test(mac))
          c.add([...p, "peer_mac", node], `"${mac}" is not a MAC address`, "like 02:00:00:00:00:02");
      }
    } else if (l.kind === "udp") checkUdpLink(c, l, p, n);
    links.push({ ...(l as object), name } as LinkConfig);
  });
  return links;
}

/** A floating address: a usable CIDR, a label the kernel accepts, in one group only. */
function ipResource(
  c: Collector,
  r: Raw,
  rp: Seg[],
  owner: string,
  seenIps: Map<string, string>,
): Omit<Extract<ResourceConfig, { kind: "ip" }>, "monitor"> | undefined {
  const cidr = parseCidr(r.ip as string);
  if ("error" in cidr) {
    c.add([...rp, "ip"], cidr.error, cidr.hint);
    return undefined;
  }
  const label = r.label as string | undefined;
  if (label !== undefined) {
    if (cidr.family === 6)
      c.add([...rp, "label"], "labels exist only for IPv4 addresses", "remove label for an IPv6 address");
    else if (!label.startsWith(`${r.interface}:`) && label !== r.interface)
      c.add(
        [...rp, "label"],
        `label "${label}" does not start with its interface "${r.interface}"`,
        `the kernel requires it: write "${r.interface}:0"`,
      );
  }
  const prior = seenIps.get(cidr.address);
  if (prior)
    c.add([...rp, "ip"], `${cidr.address} is already used by ${prior}`, "one floating address belongs to one group");
  seenIps.set(cidr.address, owner);
  return {
    kind: "ip",
    ip: r.ip as string,
    family: cidr.family,
    address: cidr.address,
    prefix: cidr.prefix,
    interface: r.interface as string,
    ...(label ? { label } : {}),
  };
}

/** Groups: unique names, preferred node listed, resources sane, no address in two places. */
function checkGroups(c: Collector, groupsRaw: (Raw | undefined)[] | undefined, n: Nodes): Config["groups"] {
  const groups: Config["groups"] = [];
  if ((groupsRaw ?? []).length > MAX_GROUPS)
    c.add(
      ["group"],
      `${(groupsRaw ?? []).length} groups: at most ${MAX_GROUPS}`,
      "every heartbeat record carries each group's state in one bit of a 128-bit set; put several resources in one group",
    );
  const seenIps = new Map<string, string>();
  (groupsRaw ?? []).forEach((g, i) => {
    if (!g) return;
    const p: Seg[] = ["group", i];
    if (groups.some((o) => o.name === g.name))
      c.add([...p, "name"], `group "${String(g.name)}" is listed twice`, "each [[group]] needs its own name");
    n.nodeCheck([...p, "preferred"], g.preferred, "preferred node");
    const resources: ResourceConfig[] = [];
    ((g.resources as (Raw | undefined)[]) ?? []).forEach((r, j) => {
      if (!r) return;
      checkMonitor(c, r.monitor as Raw | undefined, [...p, "resources", j, "monitor"]);
      const monitor = r.monitor as MonitorConfig;
      if (r.kind === "ip") {
        const ip = ipResource(c, r, [...p, "resources", j], `group "${String(g.name)}"`, seenIps);
        if (ip) resources.push({ ...ip, monitor });
      } else if (r.kind === "script")
        resources.push({
          kind: "script",
          script: r.script as string,
          args: r.args as string[],
          timeout: r.timeout as number,
          monitor,
        });
      else if (r.kind === "systemd")
        resources.push({ kind: "systemd", systemd: r.systemd as string, timeout: r.timeout as number, monitor });
    });
    groups.push({
      name: g.name as string,
      preferred: g.preferred as string,
      resources,
      on_fail: g.on_fail as OnFail,
      max_restarts: g.max_restarts as number,
      restart_window: g.restart_window as number,
    });
  });
  return groups;
}

/** The checks that relate keys to each other (one checker per section), then the typed Config. */
function crossChecks(c: Collector, raw: Raw, env: ConfigEnv, self: FileInfo | Error): Config | undefined {
  const cluster = raw.cluster as Raw | undefined;
  const timing = raw.timing as Record<string, number> | undefined;
  const auth = raw.auth as Raw | undefined;
  checkTiming(c, timing);
  checkLease(c, raw.addresses as Record<string, number> | undefined, timing, raw.quorum as Raw | undefined);
  checkUplink(c, raw.uplink as Raw | undefined);
  checkFencing(c, raw.fencing as Raw | undefined);
  checkProgram(c, (raw.health as Raw | undefined)?.command, ["health", "command"]);
  const n = checkNodes(c, raw.node as Raw[] | undefined, cluster, env);
  const keyList = (auth?.key as (Raw | undefined)[] | undefined) ?? [];
  const keys = readKeys(c, "auth", keyList, env).map(({ id, secret }) => ({ id, secret }));
  const legacyList = ((raw.legacy as Raw | undefined)?.key as (Raw | undefined)[] | undefined) ?? [];
  const legacyKeys = readKeys(c, "legacy", legacyList, env).map(({ id, secret, raw: k }) => ({
    id,
    secret,
    method: k.method as "sha1" | "md5",
  }));
  checkSelf(c, raw, env, self);
  const send = sendKey(c, auth, keyList);
  const links = checkLinks(c, raw.link as (Raw | undefined)[] | undefined, n);
  const groups = checkGroups(c, raw.group as (Raw | undefined)[] | undefined, n);
  const etcd = checkEtcd(c, raw, env);
  if (c.issues.length > 0) return undefined;
  const as = <T>(v: unknown) => v as T;
  return {
    file: c.file,
    cluster: { name: cluster!.name as string, node: n.local, auto_failback: cluster!.auto_failback as boolean },
    timing: as<Config["timing"]>(timing),
    auth: { send: send!, keys },
    nodes: n.nodes,
    links,
    groups,
    addresses: as<Config["addresses"]>(raw.addresses),
    resources: as<Config["resources"]>(raw.resources),
    health: as<Config["health"]>(raw.health),
    quorum: quorumOf(raw, n, etcd),
    log: as<Config["log"]>(raw.log),
    control: as<Config["control"]>(raw.control),
    uplink: as<Config["uplink"]>(raw.uplink),
    fencing: as<Config["fencing"]>(raw.fencing),
    watchdog: as<Config["watchdog"]>(raw.watchdog),
    legacy: { ...as<Config["legacy"]>(raw.legacy), keys: legacyKeys },
    metrics: as<Config["metrics"]>(raw.metrics),
    paths: as<Config["paths"]>(raw.paths),
  };
}

/** Parse and validate. Throws ConfigError listing every issue. self: the config file as opened (else env.open(file)). */
export function parseConfig(
  text: string,
  file: string,
  env: ConfigEnv,
  self: FileInfo | Error = env.open(file),
): Config {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const msg = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new ConfigError(
        [
          {
            file,
            line: e.line,
            col: e.column,
            path: "",
            message: `TOML syntax: ${msg}`,
            hint: "see https://toml.io/en/v1.0.0",
          },
        ],
        { cause: e },
      );
    }
    throw e;
  }
  const c = new Collector(file, locate(text));
  const walked = walkTable(c, raw, SCHEMA, []);
  if (!walked) throw new ConfigError(c.issues);
  // Cross-field rules run even after type errors (on what was valid), so one pass reports everything.
  const config = crossChecks(c, walked, env, self);
  if (!config) throw new ConfigError(c.issues);
  return config;
}
