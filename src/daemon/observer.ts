/**
 * What the daemon remembers for operators, beside the state machine: the
 * heartbeat's view of links and peers (logged as old -> new), who holds each
 * group and since when, counters, the event history; and the status built
 * from all of it. Nothing here decides anything.
 */

import type { ArbiterStatus } from "../arbiter/types.ts";
import {
  holdersOf,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  quorumVotes,
  selfHolds,
  unable,
} from "../cluster/machine.ts";
import type { Config } from "../config/schema.ts";
import type { History } from "../control/history.ts";
import { type HistoryEntry, type MonitorStatus, STATUS_SCHEMA, type Status } from "../control/status.ts";
import type { HeartbeatEvent, LinkCounters, Liveness, PeerLinks } from "../heartbeat/types.ts";
import type { logger } from "../log/log.ts";
import type { WatchStatus } from "../resources/monitor.ts";
import { resourceName } from "../resources/types.ts";

const ms = (x: number) => `${Math.round(x)} ms`;

/** The daemon's memory as the kernel counts it (resident) and the JavaScript heap in use: for months-long runs. */
function memory(): { rss_bytes: number; js_heap_bytes: number } {
  const m = process.memoryUsage();
  return { rss_bytes: m.rss, js_heap_bytes: m.heapUsed };
}
type Log = ReturnType<typeof logger>;

/** Log what the heartbeat reports, as old -> new with the reason; remember link state for status. */
export class HeartbeatLog {
  private readonly peers = new Map<string, Liveness>();
  private readonly links = new Map<string, Liveness>();
  readonly sending = new Map<string, boolean>();
  readonly carrier = new Map<string, boolean>();
  /** two live senders with one node id, by "node/link" (node null: this node's own id); at: monotonic ms */
  readonly duplicates = new Map<string, { node: string | null; link: string; addresses: string[]; at: number }>();
  /** last measured uplink score (before the hold-down), undefined = no targets or not measured yet */
  score?: number;

  constructor(
    private readonly log: Log,
    private readonly record: (kind: HistoryEntry["kind"], text: string) => void = () => {},
    private readonly errnoName: (n: number) => string = (n) => `errno ${n}`,
    /** did the peer say it was leaving (a planned stop) before it went silent? */
    private readonly left: (peer: string) => boolean = () => false,
  ) {}

  onEvent(e: HeartbeatEvent): void {
    switch (e.type) {
      case "peer":
        this.onPeer(e);
        break;
      case "link":
        this.onLink(e);
        break;
      case "local":
        this.sending.set(e.link, e.up);
        this.tell(
          e.up ? "info" : "error",
          "link",
          e.up
            ? `link ${e.link}: sending works again`
            : `link ${e.link}: marked down locally: sending fails (${this.errnoName(e.errno)})`,
        );
        break;
      case "carrier":
        this.carrier.set(e.link, e.up);
        this.tell(e.up ? "info" : "warn", "link", `link ${e.link}: carrier ${e.up ? "up" : "lost"}`);
        break;
      case "record":
      case "control":
        this.log.debug(
          `${e.type} from ${e.peer}: ${Buffer.from(e.type === "record" ? e.record : e.data).toString("hex")}`,
        );
        break;
      case "overflow":
        this.log.warn(`heartbeat event queue overflowed: ${e.lost} events lost`);
        break;
      case "vip":
        this.onVip(e);
        break;
      case "iface":
        this.tell(
          e.up ? "info" : "error",
          e.up ? "link" : "fault",
          `interface ${e.ifname} (floating addresses): carrier ${e.up ? "up" : "lost"}`,
        );
        break;
      case "score":
        this.score = e.score;
        this.tell(
          e.score === 100 ? "info" : "warn",
          e.score === 100 ? "link" : "fault",
          `uplink: ${e.up} ping target(s) answer: score ${e.score}`,
        );
        break;
      case "duplicate":
        this.onDuplicate(e);
        break;
      case "slow":
        this.tell(
          "warn",
          "fault",
          `heartbeat thread: a beat left ${ms(e.lateMs)} late, over half the way from keepalive to warntime: this host schedules it too late for these timers (raise warntime and deadtime, or see timing.rt_priority)`,
        );
        break;
      case "stopped":
        if (e.errno) this.tell("error", "fault", `heartbeat thread stopped: ${this.errnoName(e.errno)}`);
        break;
    }
  }

  /** One line to the log and the history. */
  private tell(level: "info" | "warn" | "error", kind: HistoryEntry["kind"], line: string): void {
    this.log[level](line);
    this.record(kind, line);
  }

  private onPeer(e: Extract<HeartbeatEvent, { type: "peer" }>): void {
    const old = this.peers.get(e.peer) ?? "unknown";
    this.peers.set(e.peer, e.state);
    const why =
      e.state === "up"
        ? old === "unknown"
          ? "first heartbeat"
          : `heard again after ${ms(e.gapMs)}`
        : e.state === "late"
          ? `silent ${ms(e.gapMs)} on every link`
          : old === "unknown"
            ? `not heard within initdead (${ms(e.gapMs)})`
            : `silent ${ms(e.gapMs)} on every link`;
    const left = e.state === "dead" && this.left(e.peer);
    const line = left
      ? `peer ${e.peer}: ${old} -> left (it said it was leaving: a planned stop; silent ${ms(e.gapMs)})`
      : `peer ${e.peer}: ${old} -> ${e.state} (${why})`;
    this.tell(e.state === "up" || left ? "info" : "warn", "peer", line);
  }

  /** The native thread could not renew or announce an address, or removed one by itself. */
  private onVip(e: Extract<HeartbeatEvent, { type: "vip" }>): void {
    const failed = e.errno ? ` (removing it failed: ${this.errnoName(e.errno)})` : "";
    if (e.op === "deadline") {
      const text = `address ${e.address} removed by the heartbeat thread: the etcd lease was not renewed in time while this daemon did not run (a stall), and a peer may be given the group${failed}`;
      this.log.error(text);
      this.record("fault", text);
    } else if (e.op === "peer-dead") {
      // the thread acts in the wake-up that finds the peer dead, before this loop hears of it (which
      // then removes the address too, and says why): a stalled loop cannot keep it
      const text = `address ${e.address} removed by the heartbeat thread as ${e.peer} went dead: the peers still heard are too few to hold it (quorum, or every peer without an etcd lease)${failed}`;
      this.log.warn(text);
      this.record("fault", text);
    } else {
      const what = e.op === "renew" ? "renewing its lease" : "announcing it";
      this.log.error(`address ${e.address}: ${what} failed: ${this.errnoName(e.errno)}`);
      this.record("fault", `address ${e.address}: ${e.op} failed: ${this.errnoName(e.errno)}`);
    }
  }

  private onLink(e: Extract<HeartbeatEvent, { type: "link" }>): void {
    const key = `${e.link}/${e.peer}`;
    const old = this.links.get(key) ?? "unknown";
    this.links.set(key, e.state);
    const why =
      e.state === "up"
        ? old === "unknown"
          ? "first heartbeat"
          : `heard again after ${ms(e.gapMs)}`
        : `silent ${ms(e.gapMs)}`;
    const line = `link ${e.link} to ${e.peer}: ${old} -> ${e.state} (${why})`;
    if (e.state === "up") this.log.info(line);
    else this.log.warn(line);
    // a late link that recovers is noise in the history; a dead one and its return are not
    if (e.state === "dead" || (e.state === "up" && old === "dead")) this.record("link", line);
  }

  private onDuplicate(e: Extract<HeartbeatEvent, { type: "duplicate" }>): void {
    const who = e.peer ?? "this node";
    const line = e.peer
      ? `DUPLICATE NODE: two live senders claim to be ${e.peer} on ${e.link}: ${e.addresses[0]} (in use) and ${e.addresses[1] ?? "?"}: a cloned VM, or a second hb with that node name?`
      : `DUPLICATE NODE: another sender claims to be this node on ${e.link}, from ${e.addresses[0] ?? "?"}: a cloned VM, or a second hb with this node name?`;
    const known = this.duplicates.get(`${who}/${e.link}`);
    this.duplicates.set(`${who}/${e.link}`, { node: e.peer, link: e.link, addresses: e.addresses, at: e.at });
    this.log.error(line);
    // the history keeps the first report of a run of them (the engine repeats it every second)
    if (!known || e.at - known.at > 10_000) this.record("fault", line);
  }
}

/** Frames from a listed node that fail authentication: say which node and link, once a minute at most. */
export class AuthWatch {
  private readonly seen = new Map<string, { n: number; told: number }>();
  constructor(
    private readonly log: Log,
    private readonly record: (text: string) => void,
    private readonly now: () => number,
  ) {}
  check(peers: PeerLinks): void {
    for (const p of peers)
      for (const l of p.links) {
        const key = `${p.peer}/${l.link}`;
        const was = this.seen.get(key) ?? { n: 0, told: -Infinity };
        if (l.authFail > was.n && this.now() - was.told >= 60_000) {
          const line = `frames from ${p.peer} fail authentication on ${l.link}: are the keys the same? (${l.authFail - was.n} new, ${l.authFail} in all)`;
          this.log.error(line);
          this.record(line);
          this.seen.set(key, { n: l.authFail, told: this.now() });
        }
      }
  }
}

/** Log increases of the drop counters, at most once per link per call. */
export function reportDrops(log: Log, before: Record<string, LinkCounters>, now: Record<string, LinkCounters>): void {
  for (const [link, c] of Object.entries(now)) {
    const prev = before[link];
    const parts = Object.entries(c.drops)
      .map(([reason, n]) => [reason, n - (prev?.drops[reason as keyof LinkCounters["drops"]] ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .map(([reason, d]) => `${reason} ${d}`);
    if (parts.length) log.warn(`link ${link}: dropped frames: ${parts.join(", ")}`);
  }
}

export class GroupTracker {
  readonly holders: string[][] = [];
  readonly since: Date[] = [];
  readonly reason: string[] = [];
  failovers = 0;
  starts = 0;
  private prev?: MachineState;

  onStep(e: MachineEvent, s: MachineState, cfg: MachineConfig, cause: string): void {
    s.groups.forEach((g, gi) => {
      const h = holdersOf(s, cfg.self, gi);
      if (this.holders[gi] === undefined || this.holders[gi]!.join() !== h.join()) {
        this.holders[gi] = h;
        this.since[gi] = new Date();
        this.reason[gi] = selfHolds(g) ? g.reason : cause;
      } else if (selfHolds(g)) this.reason[gi] = g.reason;
      const before = this.prev?.groups[gi]?.phase;
      if (g.phase === "starting" && before !== "starting") {
        this.starts++;
        if (e.type === "peer" && e.liveness === "dead") this.failovers++;
      }
    });
    this.prev = s;
  }
}

export interface StatusSources {
  version: string;
  config: Config;
  cfg: MachineConfig;
  state: MachineState;
  startedAt: Date;
  generation: bigint;
  hb: HeartbeatLog;
  nowMono: number;
  peerLinks: PeerLinks;
  counters: Record<string, LinkCounters>;
  tracker: GroupTracker;
  conflicts: Status["conflicts"];
  history: History;
  commands: number;
  guard?: import("../legacy/guard.ts").LegacyGuard;
  /** machine ms (performance.now) to wall time */
  wall: (t: number) => Date;
  /** how late the heartbeat thread sent its beats */
  lateness?: { worstMs: number; recentMs: number; slow: number };
  /** each resource's monitor in group gi (undefined: not monitored) */
  monitors?: (gi: number) => (WatchStatus | undefined)[];
  health?: WatchStatus;
  /** the etcd arbiter's own view (lease, endpoint, keys) */
  arbiter?: ArbiterStatus;
}

function monitorJson(resource: string, w: WatchStatus): MonitorStatus {
  const { last, ...rest } = w;
  return {
    resource,
    ...rest,
    last: last
      ? { ok: last.ok, time: new Date(last.at).toISOString(), ms: last.ms, detail: last.detail ?? null }
      : null,
  };
}

/** A group's failure handling: its policy, restarts in the window, what is left, and each monitor. */
function groupMonitoring(x: StatusSources, gi: number) {
  const gc = x.config.groups[gi];
  const gs = x.state.groups[gi]!;
  const window = gc?.restart_window ?? 0;
  // restart times are on the machine's clock (performance.now), as in the state machine
  const restarts = gs.restarts.filter((at) => at > performance.now() - window).length;
  const names = gc?.resources.map(resourceName) ?? [];
  return {
    on_fail: gc?.on_fail ?? "restart",
    restarts,
    restarts_left: gc?.on_fail === "restart" ? Math.max(0, gc.max_restarts - restarts) : null,
    monitors: (x.monitors?.(gi) ?? []).flatMap((w, i) => (w ? [monitorJson(names[i] ?? `#${i}`, w)] : [])),
  };
}

type NodeStatus = Status["node"];
const groupName = (x: StatusSources) => (gi: number) => x.cfg.groups[gi]?.name ?? `#${gi}`;
/** whole milliseconds: an age is not more precise than the clocks behind it */
const ageOf = (x: StatusSources) => (t: number) => (t > 0 ? Math.round(Math.max(0, x.nowMono - t)) : null);

function nodeStatus(x: StatusSources, self: { name: string; id: number }): NodeStatus {
  const { config, state: s, cfg } = x;
  const name = groupName(x);
  return {
    name: self.name,
    id: self.id,
    state: s.phase,
    since: x.wall(s.since).toISOString(),
    // while waiting for its peers: when it decides alone (machine clock: performance.now, like since)
    initdead_left_ms:
      s.phase === "waiting" ? Math.max(0, Math.round(s.since + cfg.initdead - performance.now())) : null,
    pid: process.pid,
    uptime_s: Math.round((Date.now() - x.startedAt.getTime()) / 1000),
    ...memory(),
    config: config.file,
    generation: String(x.generation),
    yields: s.yields.map(name),
    score: s.score,
    score_measured: cfg.uplink ? (x.hb.score ?? null) : null,
    faults: cfg.groups.flatMap((_, gi) => {
      const r = unable(cfg, s, gi);
      return r ? [{ group: name(gi), reason: r }] : [];
    }),
    health: x.health ? monitorJson("health", x.health) : null,
    lateness: x.lateness
      ? {
          worst_ms: Math.round(x.lateness.worstMs),
          recent_ms: Math.round(x.lateness.recentMs),
          late_beats: x.lateness.slow,
          warn_ms: Math.round((config.timing.warntime - config.timing.keepalive) / 2),
        }
      : null,
    quorum: cfg.quorum
      ? (({ heard, total, has }) => ({ votes_heard: heard, votes_total: total, has }))(quorumVotes(cfg, s))
      : null,
    arbiter: x.arbiter
      ? {
          kind: x.arbiter.kind,
          reachable: x.arbiter.reachable,
          endpoint: x.arbiter.endpoint || null,
          lease: x.arbiter.lease,
          lease_alive: s.arbiter?.lease ?? false,
          lease_left_ms: x.arbiter.lease_left_ms,
          ttl_ms: x.arbiter.ttl_ms,
          revision: x.arbiter.revision,
          error: x.arbiter.error,
          keys: x.arbiter.owners,
        }
      : null,
  };
}

function legacyStatus(g: StatusSources["guard"]): Status["legacy"] {
  return {
    nodes: [...(g?.alive.values() ?? [])].map((n) => ({
      node: n.node,
      interface: n.ifname,
      address: n.address,
      status: n.status ?? null,
      last_heard_ms: Math.round(performance.now() - n.lastSeen),
      trusted: n.trusted,
    })),
    forged: g?.stats.forged ?? 0,
    last_forged: g?.stats.lastForged ?? null,
    packets: g?.stats.packets ?? 0,
    bad: g?.stats.bad ?? 0,
    last_bad: g?.stats.lastBad ?? null,
  };
}

function peersStatus(x: StatusSources): Status["peers"] {
  const age = ageOf(x);
  return x.peerLinks.map((p) => {
    const ps = x.state.peers[p.peer];
    const last = Math.max(0, ...p.links.map((l) => l.lastRxMs));
    return {
      name: p.peer,
      id: x.config.nodes.find((n) => n.name === p.peer)?.id ?? 0,
      state: ps?.liveness === "dead" && ps.left ? "left" : (ps?.liveness ?? "unknown"),
      node_state: ps?.record?.state ?? null,
      last_heard_ms: age(last),
      yields: (ps?.record?.yields ?? []).map(groupName(x)),
      score: ps?.record ? ps.record.score : null,
      links: p.links.map((l) => ({
        name: l.link,
        state: l.state,
        last_heard_ms: age(l.lastRxMs),
        late_count: l.late,
        frames_rx: l.rx,
        auth_failures: l.authFail,
        last_auth_failure_ms: age(l.authFailMs),
      })),
    };
  });
}

function linksStatus(x: StatusSources): Status["links"] {
  return x.config.links.map((l) => {
    const c = x.counters[l.name];
    return {
      name: l.name,
      kind: l.kind,
      sending: x.hb.sending.get(l.name) ?? true,
      carrier: l.kind === "serial" ? null : (x.hb.carrier.get(l.name) ?? null),
      frames_tx: c?.tx ?? 0,
      tx_errors: c?.txErrors ?? 0,
      frames_rx: c?.rx ?? 0,
      drops: c?.drops ?? ({} as LinkCounters["drops"]),
    };
  });
}

function groupsStatus(x: StatusSources): Status["groups"] {
  return x.cfg.groups.map((g, gi) => {
    const gs = x.state.groups[gi]!;
    return {
      name: g.name,
      preferred: g.preferred,
      here: gs.phase,
      blocked: gs.phase === "failed" && gs.until === undefined,
      failed_until: gs.phase === "failed" && gs.until !== undefined ? x.wall(gs.until).toISOString() : null,
      holders: x.tracker.holders[gi] ?? [],
      since: (x.tracker.since[gi] ?? x.startedAt).toISOString(),
      reason: x.tracker.reason[gi] ?? gs.reason,
      resources: x.config.groups[gi]?.resources.map(resourceName) ?? [],
      failure: gs.phase === "failed" ? (gs.failure ?? null) : null,
      ...groupMonitoring(x, gi),
    };
  });
}

export function buildStatus(x: StatusSources, events = 50): Status {
  const { config, state: s } = x;
  const self = config.nodes.find((n) => n.name === config.cluster.node)!;
  return {
    schema: STATUS_SCHEMA,
    version: x.version,
    time: new Date().toISOString(),
    node: nodeStatus(x, self),
    legacy: legacyStatus(x.guard),
    duplicates: [...x.hb.duplicates.values()].map((d) => ({
      node: d.node ?? self.name,
      link: d.link,
      addresses: d.addresses,
      last_seen_ms: Math.round(Math.max(0, x.nowMono - d.at)),
    })),
    fencing: Object.entries(s.fence).map(([peer, f]) => ({
      peer,
      state: f.state,
      attempts: f.attempts,
      since: x.wall(f.since).toISOString(),
      error: f.error ?? null,
    })),
    cluster: { name: config.cluster.name, auto_failback: config.cluster.auto_failback },
    peers: peersStatus(x),
    links: linksStatus(x),
    groups: groupsStatus(x),
    conflicts: x.conflicts,
    counters: { failovers: x.tracker.failovers, group_starts: x.tracker.starts, commands: x.commands },
    events: x.history.recent(events),
  };
}

/** One line for systemd's STATUS=, SIGUSR1 and the logs. */
export function summaryLine(config: Config, s: MachineState): string {
  const here = config.groups
    .filter((_, i) => holdersOf(s, config.cluster.node, i).includes(config.cluster.node))
    .map((g) => g.name);
  const peers = Object.entries(s.peers)
    .map(([n, p]) => `${n} ${p.liveness}`)
    .join(", ");
  return `${s.phase}; ${here.length ? `running ${here.join(", ")}` : "running no group"}; peers: ${peers || "none"}`;
}
