/**
 * `hb report`: a monitoring verdict from a status, Nagios plugin style.
 *   0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (daemon not reachable).
 * WARNING: a link to a live peer is not up, a link cannot send or has no
 *   carrier, a peer is late, a group runs away from its preferred node, an
 *   address conflict was seen in the last hour, this node is in standby or yields a group it is
 *   the preferred node of.
 *   A resource monitor fails below its fall threshold; the node health check fails; beats leave
 *   late (over half the way to warntime) lately; etcd (the arbiter) does not answer, or this node's lease is
 *   lost while it hears every peer.
 * CRITICAL: a peer is dead, a group runs nowhere, a group failed (here, or as
 *   its peer reports), two nodes hold one group, a monitor failed and is left alone (on_fail = ignore),
 *   this node has no quorum, or no etcd lease while a peer is unheard.
 * Also the node_exporter textfile metrics (written atomically).
 */
import { DROP_REASONS } from "../heartbeat/types.ts";
import { AUTH_RECENT_MS, DUPLICATE_RECENT_MS, type MonitorStatus, type Status } from "./status.ts";

export const REPORT_CODE = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type ReportLevel = keyof typeof REPORT_CODE;

export interface Problem {
  level: "WARNING" | "CRITICAL";
  text: string;
}
export interface Report {
  schema: "hb.report/1";
  level: ReportLevel;
  code: number;
  summary: string;
  problems: Problem[];
  node?: string;
}

const CONFLICT_WINDOW_MS = 3600_000;

type Add = (text: string) => void;

function peerProblems(s: Status, warn: Add, crit: Add): void {
  for (const peer of s.peers) {
    const auth = peer.links
      .filter(
        (l) =>
          l.last_auth_failure_ms !== null &&
          l.last_auth_failure_ms !== undefined &&
          l.last_auth_failure_ms < AUTH_RECENT_MS,
      )
      .map((l) => l.name);
    const why = auth.length
      ? `: frames from ${peer.name} fail authentication on ${auth.join(", ")}: are the keys the same?`
      : "";
    const heard = `last heard ${peer.last_heard_ms === null ? "never" : `${Math.round(peer.last_heard_ms / 1000)} s ago`}`;
    if (peer.state === "left") crit(`peer ${peer.name} left (a planned stop, ${heard}): no failover target${why}`);
    else if (peer.state === "dead") crit(`peer ${peer.name} dead (${heard})${why}`);
    else if (auth.length && peer.state === "unknown") crit(`peer ${peer.name} not heard${why}`);
    else if (auth.length) warn(`peer ${peer.name}${why}`);
    else if (peer.state === "unknown") warn(`peer ${peer.name} not heard yet`);
    else {
      if (peer.state === "late") warn(`peer ${peer.name} late`);
      const bad = peer.links.filter((l) => l.state !== "up");
      if (bad.length)
        warn(`link ${bad.map((l) => `${l.name} to ${peer.name} ${l.state}`).join(", ")} (redundancy lost)`);
    }
  }
  for (const l of s.links) {
    if (!l.sending) warn(`link ${l.name} cannot send`);
    if (l.carrier === false) warn(`link ${l.name} has no carrier`);
  }
  for (const peer of s.peers)
    if (peer.node_state === "standby" && (peer.state === "up" || peer.state === "late"))
      warn(`node ${peer.name} in standby`);
}

/** Monitors: failing below fall is a warning; failed and left alone (on_fail = ignore) is critical. */
function monitorProblems(s: Status, warn: Add, crit: Add): void {
  for (const g of s.groups)
    for (const m of g.monitors ?? []) {
      const why = m.last?.detail ? `: ${m.last.detail}` : "";
      if (m.state === "failing")
        warn(`monitor of ${m.resource} in ${g.name} failing (${m.failures} of ${m.fall})${why}`);
      else if (m.state === "failed") crit(`monitor of ${m.resource} in ${g.name} failed${why}`);
    }
  const h = s.node.health;
  if (h && (h.state === "failing" || h.state === "failed"))
    warn(
      `health check of ${s.node.name} ${h.state === "failed" ? "failed (score lowered)" : `failing (${h.failures} of ${h.fall})`}${h.last?.detail ? `: ${h.last.detail}` : ""}`,
    );
}

function groupProblems(s: Status, warn: Add, crit: Add): void {
  for (const g of s.groups) {
    if (g.holders.length > 1) crit(`group ${g.name} held by ${g.holders.join(" and ")}`);
    if (g.blocked) crit(`group ${g.name} blocked on ${s.node.name}: a resource could not be stopped`);
    else if (g.here === "failed") crit(`group ${g.name} failed on ${s.node.name}: ${g.failure ?? g.reason}`);
    if (g.holders.length === 0 && g.here !== "starting") crit(`group ${g.name} running nowhere`);
    else if (g.holders.length === 1 && g.holders[0] !== g.preferred)
      warn(`group ${g.name} on ${g.holders[0]}, not on its preferred node ${g.preferred}`);
  }
  for (const f of s.fencing ?? []) {
    if (f.state === "failed")
      crit(
        `fencing ${f.peer} failed (${f.attempts} attempt${f.attempts === 1 ? "" : "s"}${f.error ? `: ${f.error}` : ""}): its groups are not taken over`,
      );
    else if (f.state === "running") warn(`fencing ${f.peer} in progress`);
  }
}

/** Other senders on the wire: clones of a node, live Heartbeat v1 nodes, forged packets. */
function intruderProblems(s: Status, warn: Add, crit: Add): void {
  for (const d of s.duplicates ?? [])
    if (d.last_seen_ms < DUPLICATE_RECENT_MS)
      crit(
        `duplicate node ${d.node}: two live senders on ${d.link} (${d.addresses.join(" and ")}), last ${Math.round(d.last_seen_ms / 1000)} s ago`,
      );
  for (const l of s.legacy?.nodes ?? [])
    if (l.trusted === false)
      warn(
        `Heartbeat v1 node ${l.node} heard on ${l.interface} (${l.address}), unauthenticated: not obeyed (set [[legacy.key]])`,
      );
    else
      crit(
        `Heartbeat v1 node ${l.node} alive on ${l.interface} (${l.address}): hb takes no group with an address there`,
      );
  if (s.legacy?.forged) warn(`${s.legacy.forged} forged Heartbeat packet(s) ignored (last: ${s.legacy.last_forged})`);
}

function nodeProblems(s: Status, now: number, warn: Add, crit: Add): void {
  const l = s.node.lateness;
  if (l && l.recent_ms > l.warn_ms)
    warn(
      `beats leave late on ${s.node.name}: ${l.recent_ms} ms lately, where ${l.warn_ms} ms is half the way to warntime (timers too tight for this host)`,
    );
  const q = s.node.quorum;
  if (q && !q.has)
    crit(
      `${s.node.name} has no quorum: hears ${q.votes_heard} of ${q.votes_total} votes, so it holds and takes nothing`,
    );
  const a = s.node.arbiter;
  if (a && !a.lease_alive)
    (s.node.faults?.some((f) => f.reason.includes("may be taking over")) ? crit : warn)(
      `${s.node.name} has no etcd lease (${a.error ?? "etcd not reached"}): it takes nothing new and keeps its groups only while it hears every peer`,
    );
  else if (a && !a.reachable)
    warn(`etcd does not answer ${s.node.name} (${a.error ?? "no answer"}); its lease is still alive`);
  // (a live Heartbeat node, a lost quorum and a lost lease are reported once, not per group)
  for (const f of (s.node.faults ?? []).filter(
    (x) => !/^(a live Heartbeat node|no quorum|no arbiter lease)/.test(x.reason),
  ))
    warn(`group ${f.group} cannot run on ${s.node.name}: ${f.reason}`);
  const score = s.node.score_measured;
  if (score !== null && score !== undefined && score < 100)
    (score === 0 ? crit : warn)(`uplink of ${s.node.name}: score ${score} (ping targets not answering)`);
  const recent = s.conflicts.filter((c) => now - Date.parse(c.time) < CONFLICT_WINDOW_MS);
  if (recent.length) warn(`address conflict on ${[...new Set(recent.map((c) => c.address))].join(", ")} (last hour)`);
  if (s.node.state === "standby") warn(`node ${s.node.name} in standby`);
  else {
    // a yield matters only where it keeps a group away from its preferred node (this one)
    const away = s.node.yields.filter((g) => s.groups.find((x) => x.name === g)?.preferred === s.node.name);
    if (away.length)
      warn(`node ${s.node.name} yields ${away.join(", ")} (its preferred node: hb takeover or hb clear there ends it)`);
  }
}

export function evaluate(s: Status, now = Date.parse(s.time)): Report {
  const p: Problem[] = [];
  const warn: Add = (text) => p.push({ level: "WARNING", text });
  const crit: Add = (text) => p.push({ level: "CRITICAL", text });
  peerProblems(s, warn, crit);
  groupProblems(s, warn, crit);
  monitorProblems(s, warn, crit);
  intruderProblems(s, warn, crit);
  nodeProblems(s, now, warn, crit);
  const level: ReportLevel = p.some((x) => x.level === "CRITICAL") ? "CRITICAL" : p.length ? "WARNING" : "OK";
  const sorted = [...p.filter((x) => x.level === "CRITICAL"), ...p.filter((x) => x.level === "WARNING")];
  const up = s.peers.filter((x) => x.state === "up" || x.state === "late").length;
  const here = s.groups.filter((g) => g.holders.includes(s.node.name)).map((g) => g.name);
  const ok = `${s.node.name} ${s.node.state}, ${up}/${s.peers.length} peers up, ${here.length ? `running ${here.join(", ")}` : "running no group"}`;
  const summary = `HB ${level} - ${sorted.length ? sorted.map((x) => x.text).join("; ") : ok}`;
  return { schema: "hb.report/1", level, code: REPORT_CODE[level], summary, problems: sorted, node: s.node.name };
}

export function unreachable(why: string): Report {
  return {
    schema: "hb.report/1",
    level: "UNKNOWN",
    code: REPORT_CODE.UNKNOWN,
    summary: `HB UNKNOWN - ${why}`,
    problems: [],
  };
}

/* ---------- Prometheus textfile ---------- */

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const lbl = (o: Record<string, string>) =>
  `{${Object.entries(o)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(",")}}`;

type Sample = [Record<string, string>, number];
type Metric = (name: string, type: "gauge" | "counter", help: string, samples: Sample[]) => void;

function nodeMetrics(s: Status, metric: Metric): void {
  metric("hb_node_active", "gauge", "1 if this node is active (not waiting, standby or leaving).", [
    [{ node: s.node.name }, s.node.state === "active" ? 1 : 0],
  ]);
  if (s.node.rss_bytes !== undefined)
    metric("hb_resident_memory_bytes", "gauge", "Resident memory of the hb daemon.", [[{}, s.node.rss_bytes]]);
  if (s.node.js_heap_bytes !== undefined)
    metric("hb_js_heap_bytes", "gauge", "JavaScript heap in use by the hb daemon.", [[{}, s.node.js_heap_bytes]]);
  if (s.node.lateness) {
    metric(
      "hb_beat_lateness_seconds",
      "gauge",
      "How late the heartbeat thread sent a beat: the worst since start, and lately.",
      [
        [{ window: "worst" }, s.node.lateness.worst_ms / 1000],
        [{ window: "recent" }, s.node.lateness.recent_ms / 1000],
      ],
    );
    metric("hb_beats_late_total", "counter", "Beats sent later than half the way from keepalive to warntime.", [
      [{}, s.node.lateness.late_beats],
    ]);
  }
  if (s.node.quorum) {
    metric("hb_quorum", "gauge", "1 while this node hears more than half of the votes (majority quorum).", [
      [{}, s.node.quorum.has ? 1 : 0],
    ]);
    metric("hb_quorum_votes", "gauge", "Votes this node hears (its own included), and the total.", [
      [{ of: "heard" }, s.node.quorum.votes_heard],
      [{ of: "total" }, s.node.quorum.votes_total],
    ]);
  }
  if (s.node.arbiter) {
    const a = s.node.arbiter;
    metric("hb_arbiter_up", "gauge", "1 while etcd answers this node.", [[{}, a.reachable ? 1 : 0]]);
    metric("hb_arbiter_lease", "gauge", "1 while this node's etcd lease is alive by its own clock.", [
      [{}, a.lease_alive ? 1 : 0],
    ]);
    metric("hb_arbiter_lease_seconds", "gauge", "Time left on this node's etcd lease by its own clock.", [
      [{}, a.lease_left_ms / 1000],
    ]);
    metric(
      "hb_arbiter_key_holder",
      "gauge",
      "1 for the node each group's etcd key names (as this node last read it).",
      Object.entries(a.keys).flatMap(([group, node]) => (node ? [[{ group, node }, 1]] : [])),
    );
  }
  metric("hb_uplink_score", "gauge", "Uplink score in effect on this node (share of ping targets answering, 0..100).", [
    [{}, s.node.score],
  ]);
  metric(
    "hb_fencing_failed",
    "gauge",
    "1 while fencing a dead peer keeps failing (its groups are not taken over).",
    s.fencing.map((f) => [{ peer: f.peer }, f.state === "failed" ? 1 : 0]),
  );
  metric("hb_legacy_nodes", "gauge", "Live Heartbeat v1 nodes heard by the legacy guard.", [
    [{}, s.legacy?.nodes.length ?? 0],
  ]);
  metric(
    "hb_legacy_bad_packets_total",
    "counter",
    "Packets on the Heartbeat port that were not valid Heartbeat v1 messages.",
    [[{}, s.legacy?.bad ?? 0]],
  );
  metric(
    "hb_legacy_forged_packets_total",
    "counter",
    "Heartbeat v1 packets whose authentication did not verify with a [[legacy.key]] (ignored).",
    [[{}, s.legacy?.forged ?? 0]],
  );
  metric("hb_address_conflicts", "gauge", "Address conflicts remembered by the daemon.", [[{}, s.conflicts.length]]);
}

function peerMetrics(s: Status, metric: Metric): void {
  const perLink = (f: (l: Status["peers"][number]["links"][number]) => number): Sample[] =>
    s.peers.flatMap((p) => p.links.map((l): Sample => [{ link: l.name, peer: p.name }, f(l)]));
  metric(
    "hb_peer_up",
    "gauge",
    "1 if the peer's heartbeat is up or late, 0 if dead or never heard.",
    s.peers.map((p) => [{ peer: p.name }, p.state === "up" || p.state === "late" ? 1 : 0]),
  );
  metric(
    "hb_link_up",
    "gauge",
    "1 if heartbeats from the peer arrive on the link.",
    perLink((l) => (l.state === "up" ? 1 : 0)),
  );
  metric(
    "hb_heartbeat_age_seconds",
    "gauge",
    "Seconds since the last heartbeat from the peer on the link (-1 = never).",
    perLink((l) => (l.last_heard_ms === null ? -1 : l.last_heard_ms / 1000)),
  );
  metric(
    "hb_link_late_total",
    "counter",
    "Times the link to the peer went late.",
    perLink((l) => l.late_count),
  );
  metric(
    "hb_frames_dropped_total",
    "counter",
    "Heartbeat frames dropped, by link and reason.",
    s.links.flatMap((l) => DROP_REASONS.map((reason): Sample => [{ link: l.name, reason }, l.drops[reason] ?? 0])),
  );
  metric(
    "hb_frames_sent_total",
    "counter",
    "Heartbeat frames sent, by link.",
    s.links.map((l) => [{ link: l.name }, l.frames_tx]),
  );
  metric(
    "hb_frames_received_total",
    "counter",
    "Heartbeat frames accepted, by link.",
    s.links.map((l) => [{ link: l.name }, l.frames_rx]),
  );
}

function groupMetrics(s: Status, metric: Metric): void {
  metric(
    "hb_group_running_here",
    "gauge",
    "1 if the group runs on this node.",
    s.groups.map((g) => [{ group: g.name }, g.here === "running" ? 1 : 0]),
  );
  metric(
    "hb_group_holders",
    "gauge",
    "Nodes holding the group (1 is right; 0 is an outage; 2 is a split brain).",
    s.groups.map((g) => [{ group: g.name }, g.holders.length]),
  );
  metric(
    "hb_group_failed",
    "gauge",
    "1 if the group failed on this node (2 if blocked: a stop failed).",
    s.groups.map((g) => [{ group: g.name }, g.blocked ? 2 : g.here === "failed" ? 1 : 0]),
  );
  metric(
    "hb_failovers_total",
    "counter",
    "Groups started on this node because a peer died, since the daemon started.",
    [[{}, s.counters.failovers]],
  );
  metric("hb_group_starts_total", "counter", "Groups started on this node, since the daemon started.", [
    [{}, s.counters.group_starts],
  ]);
}

function monitorMetrics(s: Status, metric: Metric): void {
  const each = (f: (m: MonitorStatus) => number): Sample[] => [
    ...s.groups.flatMap((g) => (g.monitors ?? []).map((m): Sample => [{ group: g.name, resource: m.resource }, f(m)])),
    ...(s.node.health ? [[{ group: "", resource: "health" }, f(s.node.health)] as Sample] : []),
  ];
  metric(
    "hb_monitor_up",
    "gauge",
    "1 while the monitor passes (or has not checked yet), 0 while it fails (health: the node health check).",
    each((m) => (m.state === "failing" || m.state === "failed" ? 0 : 1)),
  );
  metric(
    "hb_monitor_checks_total",
    "counter",
    "Checks run by the monitor since its group last started here.",
    each((m) => m.checks),
  );
  metric(
    "hb_monitor_failed_checks_total",
    "counter",
    "Failed checks since its group last started here.",
    each((m) => m.failed_checks),
  );
  metric(
    "hb_group_restarts",
    "gauge",
    "Restarts in place within the group's restart_window.",
    s.groups.map((g) => [{ group: g.name }, g.restarts ?? 0]),
  );
}

/** node_exporter textfile format; with no status (daemon down) only hb_up 0 and the report level. */
export function prometheus(s: Status | undefined, r: Report): string {
  const out: string[] = [];
  const metric: Metric = (name, type, help, samples) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples)
      out.push(`${name}${Object.keys(l).length ? lbl(l) : ""} ${Number.isFinite(v) ? v : 0}`);
  };
  metric("hb_up", "gauge", "1 if the hb daemon answered on its control socket.", [[{}, s ? 1 : 0]]);
  metric("hb_report_status", "gauge", "Verdict of hb report: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", [[{}, r.code]]);
  if (s) {
    nodeMetrics(s, metric);
    peerMetrics(s, metric);
    groupMetrics(s, metric);
    monitorMetrics(s, metric);
  }
  return `${out.join("\n")}\n`;
}
