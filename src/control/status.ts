/**
 * `hb status`: the versioned JSON schema (what `hb status --json` prints and
 * `hb report` judges) and its rendering as a readable table.
 *
 * Schema "hb.status/1" (fields are only ever added within a version):
 *   schema, version (hb), time (ISO 8601, wall clock of the daemon)
 *   node     { name, id, state: waiting|active|standby|leaving|done, since, initdead_left_ms (waiting only), pid, uptime_s, rss_bytes, js_heap_bytes, config, generation, yields[],
 *              score (uplink score in effect, 0..100), score_measured (last measured, null without targets),
 *              faults[] (why a group cannot run here now: no carrier, isolated, not heard by a peer),
 *              health (the health command's monitor, null without one),
 *              quorum { votes_heard, votes_total, has } | null (majority quorum off),
 *              arbiter { kind: etcd, reachable, endpoint, lease (id), lease_alive (by this node's clock), lease_left_ms,
 *                        ttl_ms, revision, error, keys { GROUP: node its key names, "" = nobody } } | null (no arbiter),
 *              lateness { worst_ms, recent_ms, late_beats, warn_ms } (beats sent after their time) }
 *   fencing[] { peer, state: running|failed|done, attempts, since, error }
 *   legacy   { nodes[] { node, interface, address, status, last_heard_ms } (live Heartbeat v1 nodes heard),
 *              packets, bad, last_bad }
 *   cluster  { name, auto_failback }
 *   peers[]  { name, id, state: unknown|up|late|dead|left (dead after saying it was leaving: a planned stop), node_state: starting|standby|active|stopping|failed|null,
 *              last_heard_ms (ms since any frame, null = never), yields[], score (its uplink score, null if unknown),
 *              links[] { name, state, last_heard_ms, late_count, frames_rx,
 *                        auth_failures (frames naming it that failed authentication), last_auth_failure_ms (null = never) } }
 *   links[]  { name, kind, sending: true|false (local sends work), carrier: true|false|null,
 *              frames_tx, tx_errors, frames_rx, drops { length, version, cluster, sender, key, mac, link, generation, replay } }
 *   groups[] { name, preferred, here (this node's phase: stopped|starting|running|stopping|failed),
 *              blocked (failed here and held: a stop failed), failed_until (ISO, failure hold-down) | null,
 *              holders[] (nodes that hold it now, by their own records), since (ISO, holders last changed here),
 *              reason (of the last change here), resources[] (names, in start order),
 *              failure (why it failed here, while failed) | null, on_fail, restarts (in place, within restart_window), restarts_left (null unless on_fail = restart),
 *              monitors[] (monitored resources, while it runs here or since it last did) }
 *   monitor  { resource, state: pending|ok|failing|failed|stopped, failures (in a row), fall, rise, checks, failed_checks,
 *              last { ok, time (ISO), ms, detail } | null }   (node.health has the same shape, resource "health")
 *   conflicts[] { address, interface, time, message }   (address conflicts seen, newest last)
 *   duplicates[] { node, link, addresses[], last_seen_ms }  (two live senders with one node id: a cloned node)
 *   counters { failovers (groups started here because a peer died), group_starts, commands }
 *   events[] { time, kind: node|group|peer|link|command|config|fault|daemon, text, cause }  (newest last)
 */
import type { DropReason, Liveness } from "../heartbeat/types.ts";

export const STATUS_SCHEMA = "hb.status/1";

export interface ArbiterJson {
  kind: "etcd";
  reachable: boolean;
  endpoint: string | null;
  lease: string | null;
  /** by this node's clock: it may hold and take groups (the lease cannot have expired at etcd) */
  lease_alive: boolean;
  lease_left_ms: number;
  ttl_ms: number;
  revision: string;
  error: string | null;
  /** by group: the node its key names ("" = nobody), as last read */
  keys: Record<string, string>;
}
/** Authentication failures this recent are shown and reported (older ones only counted). */
export const AUTH_RECENT_MS = 60_000;
/** A duplicate node seen this recently is shown and is CRITICAL (the engine reports one every second while it lasts). */
export const DUPLICATE_RECENT_MS = 60_000;

export interface LinkPeerStatus {
  name: string;
  state: Liveness;
  last_heard_ms: number | null;
  late_count: number;
  frames_rx: number;
  auth_failures: number;
  last_auth_failure_ms: number | null;
}
export interface PeerStatus {
  name: string;
  id: number;
  state: Liveness | "left";
  node_state: string | null;
  last_heard_ms: number | null;
  yields: string[];
  score: number | null;
  links: LinkPeerStatus[];
}
export interface LinkStatus {
  name: string;
  kind: string;
  sending: boolean;
  carrier: boolean | null;
  frames_tx: number;
  tx_errors: number;
  frames_rx: number;
  drops: Record<DropReason, number>;
}
/** One resource monitor (or the node health check), as status shows it. */
export interface MonitorStatus {
  resource: string;
  state: "pending" | "ok" | "failing" | "failed" | "stopped";
  failures: number;
  fall: number;
  rise: number;
  checks: number;
  failed_checks: number;
  last: { ok: boolean; time: string; ms: number; detail: string | null } | null;
}
export interface GroupStatus {
  name: string;
  preferred: string;
  here: string;
  blocked: boolean;
  failed_until: string | null;
  holders: string[];
  since: string;
  reason: string;
  resources: string[];
  /** why it failed here, while here = failed (absent from older daemons) */
  failure?: string | null;
  /** absent from older daemons */
  on_fail?: "restart" | "failover" | "ignore";
  restarts?: number;
  restarts_left?: number | null;
  monitors?: MonitorStatus[];
}
export interface HistoryEntry {
  time: string;
  kind: "node" | "group" | "peer" | "link" | "command" | "config" | "fault" | "daemon";
  text: string;
  cause: string;
}
export interface Status {
  schema: typeof STATUS_SCHEMA;
  version: string;
  time: string;
  node: {
    name: string;
    id: number;
    state: string;
    since: string;
    /** while waiting for the peers at start: ms until it decides alone (absent from older daemons) */
    initdead_left_ms?: number | null;
    pid: number;
    uptime_s: number;
    config: string;
    generation: string;
    yields: string[];
    /** resident memory of the daemon, and the JavaScript heap in use (absent from older daemons) */
    rss_bytes?: number;
    js_heap_bytes?: number;
    score: number;
    score_measured: number | null;
    faults: { group: string; reason: string }[];
    /** the health command's monitor; null without one (absent from older daemons) */
    health?: MonitorStatus | null;
    /** how late the heartbeat thread sent its beats (worst since start, worst in the last 10-20 s), how many
     * were later than warn_ms (half the way from keepalive to warntime) (absent from older daemons) */
    lateness?: { worst_ms: number; recent_ms: number; late_beats: number; warn_ms: number } | null;
    /** majority quorum: votes heard (its own included) and the total; null without quorum (absent from older daemons) */
    quorum?: { votes_heard: number; votes_total: number; has: boolean } | null;
    /** the etcd arbiter; null without one (absent from older daemons) */
    arbiter?: ArbiterJson | null;
  };
  /** two live senders seen with one node id (a cloned node); node may be this one */
  duplicates: { node: string; link: string; addresses: string[]; last_seen_ms: number }[];
  fencing: {
    peer: string;
    state: "running" | "failed" | "done";
    attempts: number;
    since: string;
    error: string | null;
  }[];
  legacy: {
    /** trusted: its packets verify with a [[legacy.key]] (only those hold hb off) */
    nodes: {
      node: string;
      interface: string;
      address: string;
      status: string | null;
      last_heard_ms: number;
      trusted: boolean;
    }[];
    packets: number;
    bad: number;
    last_bad: string | null;
    forged: number;
    last_forged: string | null;
  };
  cluster: { name: string; auto_failback: boolean };
  peers: PeerStatus[];
  links: LinkStatus[];
  groups: GroupStatus[];
  conflicts: { address: string; interface: string; time: string; message: string }[];
  counters: { failovers: number; group_starts: number; commands: number };
  events: HistoryEntry[];
}

const ago = (ms: number | null) =>
  ms === null
    ? "never"
    : ms < 1000
      ? `${Math.round(ms)} ms ago`
      : ms < 120_000
        ? `${(ms / 1000).toFixed(1)} s ago`
        : `${Math.round(ms / 60_000)} min ago`;
const local = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$/, "Z");

function table(rows: string[][], indent = "  "): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
  );
}

/** The readable table of `hb status`. */
function arbiterLine(a: ArbiterJson): string {
  const keys = Object.entries(a.keys)
    .map(([g, n]) => `${g} -> ${n || "nobody"}`)
    .join(", ");
  const lease = a.lease_alive
    ? `lease ${a.lease} alive (${(a.lease_left_ms / 1000).toFixed(1)} s left of ${a.ttl_ms / 1000} s)`
    : `NO LEASE (takes nothing new; keeps what it holds only while it hears every peer)`;
  const reach = a.reachable ? `at ${a.endpoint}` : `UNREACHABLE (${a.error ?? "no answer"})`;
  return `  arbiter: etcd ${reach}, ${lease}, revision ${a.revision}; keys: ${keys || "none"}`;
}

function nodeLines(s: Status): string[] {
  const n = s.node;
  const mb = (b?: number) => (b === undefined ? "?" : `${(b / 1048576).toFixed(1)} MB`);
  const out = [
    `Cluster ${s.cluster.name}: node ${n.name} (id ${n.id}) is ${n.state.toUpperCase()} since ${local(n.since)}; hb ${s.version}, pid ${n.pid}, up ${Math.round(n.uptime_s)} s, memory ${mb(n.rss_bytes)} (JS heap ${mb(n.js_heap_bytes)})`,
  ];
  if (n.lateness && n.lateness.late_beats > 0)
    out.push(
      `  LATE BEATS: ${n.lateness.late_beats} beat(s) left over ${n.lateness.warn_ms} ms late (worst ${n.lateness.worst_ms} ms, lately ${n.lateness.recent_ms} ms): these timers are tight for this host`,
    );
  if (n.quorum)
    out.push(
      `  quorum: ${n.quorum.has ? "yes" : "NO (it holds and takes nothing)"}, hears ${n.quorum.votes_heard} of ${n.quorum.votes_total} votes (more than ${n.quorum.votes_total / 2} needed)`,
    );
  if (n.arbiter) out.push(arbiterLine(n.arbiter));
  if (typeof n.initdead_left_ms === "number")
    out.push(`  waiting for every peer: it decides alone in ${(n.initdead_left_ms / 1000).toFixed(1)} s (initdead)`);
  if (n.yields.length) out.push(`  yields ${n.yields.join(", ")} (hb standby GROUP; hb takeover GROUP here ends it)`);
  if (n.score_measured !== null)
    out.push(
      `  uplink score ${n.score}${n.score_measured !== n.score ? ` (measured ${n.score_measured}, waiting out the hold-down)` : ""}`,
    );
  for (const f of n.faults) out.push(`  FAULT: ${f.group} cannot run here: ${f.reason}`);
  for (const l of s.legacy?.nodes ?? [])
    out.push(
      `  LEGACY: Heartbeat v1 node ${l.node} (${l.address}) ${l.trusted ? "alive" : "heard, unauthenticated (not obeyed),"} on ${l.interface}, last heard ${ago(l.last_heard_ms)}`,
    );
  if (s.legacy?.forged)
    out.push(`  legacy guard: ${s.legacy.forged} forged packet(s) ignored; last: ${s.legacy.last_forged}`);
  if (s.legacy?.bad) out.push(`  legacy guard: ${s.legacy.bad} bad packet(s) dropped; last: ${s.legacy.last_bad}`);
  for (const d of s.duplicates ?? [])
    if (d.last_seen_ms < DUPLICATE_RECENT_MS)
      out.push(
        `  DUPLICATE: two live senders claim ${d.node} on ${d.link}: ${d.addresses.join(" and ")}, last ${ago(d.last_seen_ms)}`,
      );
  for (const f of s.fencing)
    out.push(
      `  fencing ${f.peer}: ${f.state.toUpperCase()}, attempt ${f.attempts}, since ${local(f.since)}${f.error ? `: ${f.error}` : ""}`,
    );
  return out;
}

function peerLines(s: Status): string[] {
  const rows: string[][] = [["NODE", "STATE", "ITS STATE", "LAST HEARD", "LINK", "LINK STATE", "LATE", "HEARD"]];
  for (const p of s.peers) {
    const its = `${p.node_state ?? "-"}${p.score !== null && p.score !== 100 ? ` (uplink ${p.score})` : ""}`;
    p.links.forEach((l, i) => {
      const peer = i === 0 ? [p.name, p.state, its, ago(p.last_heard_ms)] : ["", "", "", ""];
      rows.push([...peer, l.name, l.state, String(l.late_count), ago(l.last_heard_ms)]);
    });
  }
  const out = ["Peers", ...table(rows)];
  for (const p of s.peers)
    for (const l of p.links)
      if (l.last_auth_failure_ms !== null && l.last_auth_failure_ms < AUTH_RECENT_MS)
        out.push(
          `  AUTH: ${l.auth_failures} frame(s) from ${p.name} failed authentication on ${l.name}, the last ${ago(l.last_auth_failure_ms)}: are the keys the same?`,
        );
  return out;
}

function linkLines(s: Status): string[] {
  const rows: string[][] = [["LINK", "KIND", "SENDING", "CARRIER", "TX", "RX", "DROPPED"]];
  for (const l of s.links) {
    const drops =
      Object.entries(l.drops)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "0";
    rows.push([
      l.name,
      l.kind,
      l.sending ? "ok" : "FAILING",
      l.carrier === null ? "-" : l.carrier ? "yes" : "NO",
      String(l.frames_tx),
      String(l.frames_rx),
      drops,
    ]);
  }
  return ["Links", ...table(rows)];
}

/** One line per monitor: its state, its last check, and why it failed. */
function monitorRow(group: string, m: MonitorStatus): string[] {
  const state =
    m.state === "failing" ? `FAILING ${m.failures} of ${m.fall}` : m.state === "failed" ? "FAILED" : m.state;
  const last = m.last ? `${m.last.ok ? "passed" : "failed"} ${local(m.last.time).slice(11)} (${m.last.ms} ms)` : "-";
  return [group, m.resource, state, last, m.last?.detail ?? ""];
}

function monitorLines(s: Status): string[] {
  const rows: string[][] = [["GROUP", "MONITOR", "STATE", "LAST CHECK", "DETAIL"]];
  for (const g of s.groups) for (const m of g.monitors ?? []) rows.push(monitorRow(g.name, m));
  if (s.node.health) rows.push(monitorRow("(node)", s.node.health));
  const restarts = s.groups
    .filter((g) => g.on_fail === "restart" && (g.restarts ?? 0) > 0)
    .map((g) => `${g.name} restarted ${g.restarts} time(s) in place, ${g.restarts_left} left in the window`);
  if (rows.length === 1 && restarts.length === 0) return [];
  return ["", "Monitors", ...(rows.length > 1 ? table(rows) : []), ...restarts.map((r) => `  ${r}`)];
}

function groupLines(s: Status): string[] {
  const rows: string[][] = [["GROUP", "RUNS ON", "HERE", "PREFERRED", "SINCE", "REASON"]];
  for (const g of s.groups) {
    const here = g.blocked
      ? "BLOCKED"
      : g.here === "failed" && g.failed_until
        ? `failed until ${local(g.failed_until).slice(11)}`
        : g.here;
    rows.push([
      g.name,
      g.holders.length ? g.holders.join("+") : "NOWHERE",
      here,
      g.preferred,
      local(g.since),
      g.reason,
    ]);
  }
  const out = ["Groups", ...table(rows), ...monitorLines(s)];
  if (s.conflicts.length)
    out.push(
      "",
      "Address conflicts",
      ...s.conflicts.slice(-5).map((c) => `  ${local(c.time)}  ${c.address} on ${c.interface}: ${c.message}`),
    );
  return out;
}

export function renderStatus(s: Status, events = 10): string {
  const ev = s.events.slice(-events);
  return [
    ...nodeLines(s),
    "",
    ...peerLines(s),
    "",
    ...linkLines(s),
    "",
    ...groupLines(s),
    "",
    `Last events (failovers here: ${s.counters.failovers})`,
    ...(ev.length ? ev.map((e) => `  ${local(e.time)}  ${e.text}${e.cause ? `  [${e.cause}]` : ""}`) : ["  none"]),
  ].join("\n");
}
