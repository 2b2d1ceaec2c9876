/** The cluster state machine's vocabulary: its config, state, events and effects, and the basic facts about them. */
import type { Liveness } from "../heartbeat/types.ts";
import type { NodeState, StateRecord } from "./record.ts";

export type GroupPhase = "stopped" | "starting" | "running" | "stopping" | "failed";
export type NodePhase = "waiting" | "active" | "standby" | "leaving" | "done";

export interface MachineConfig {
  self: string;
  nodes: { name: string; id: number }[];
  groups: {
    name: string;
    preferred: string;
    resources: string[];
    /** when a monitor counts as failed (default restart), restarts allowed within the window (default 3 in 15 min) */
    onFail?: "restart" | "failover" | "ignore";
    maxRestarts?: number;
    restartWindow?: number;
  }[];
  autoFailback: boolean;
  /** ms to wait at start for every peer before acting alone */
  initdead: number;
  /** ms a group that failed to start here stays away from this node */
  failureHold: number;
  /** extra attempts of a failing stop before the stop policy applies */
  stopRetries: number;
  stopPolicy: "block" | "reboot";
  /** interfaces each group's addresses live on (by group index): no carrier there, no group here */
  groupInterfaces?: string[][];
  /** ping targets or a health check configured: scores count in the ownership rule */
  uplink?: boolean;
  /** what a failed health check takes from this node's score */
  healthPenalty?: number;
  /** ms a new uplink score must last before it counts */
  scoreHold?: number;
  /** release everything when no ping target and no peer answers */
  requireUplink?: boolean;
  /** fence a dead peer before taking its groups */
  fencing?: boolean;
  /** ms after a peer comes up before its record's "heard" set counts (one-way loss detection) */
  deafGrace?: number;
  /** ms after carrier returns before groups on that interface may start here (peers may be unheard yet) */
  carrierGrace?: number;
  /** ms before the first retry of a failed fence; doubles, up to a minute */
  fenceBackoff?: number;
  /** majority quorum: votes by node name, and how long a lost holder is given to release (ms) */
  quorum?: { votes: Record<string, number>; grace: number };
  /** the etcd arbiter decides who owns a group; a lost holder is given `grace` ms to release (as with quorum) */
  arbiter?: { grace: number };
}

export interface FenceState {
  state: "running" | "failed" | "done";
  /** groups the peer held (or may have held) when it died */
  held: number[];
  attempts: number;
  since: number;
  error?: string;
}

export interface GroupState {
  phase: GroupPhase;
  since: number;
  reason: string;
  /** resource being started (starting) or stopped (stopping) */
  step: number;
  /** resources started so far: what a failed start must undo */
  started: number;
  /** failed: until when (start failure), or undefined = blocked until cleared (stop failure) */
  until?: number;
  /** after stopping: where we go (restart: start again from `floor`, the resource whose monitor failed) */
  after: "stopped" | "failed" | "restart";
  /** the lowest resource a stop goes down to (0, or the failed one when restarting in place) */
  floor: number;
  /** why it failed here (a start, a monitor, a stop), while failed */
  failure?: string;
  /** when monitor failures restarted it in place (monotonic ms), within the restart window */
  restarts: number[];
  stopAttempts: number;
  /** stopping because the node is leaving / handing over: tell the peers when done */
  announce: boolean;
}

export interface PeerState {
  liveness: Liveness;
  record?: StateRecord;
  /** its record may say it does not hear us only after a grace since it was last late or dead (its first beats may predate hearing us) */
  settled?: boolean;
  /** it said it was leaving (a planned stop) and has not been alive since */
  left?: boolean;
}

export interface MachineState {
  phase: NodePhase;
  since: number;
  groups: GroupState[];
  /** groups this node yields: it runs them only when no other node can (hb standby GROUP; hb takeover on a peer) */
  yields: number[];
  /** those of the yields that a peer asked for (hb takeover there): they end by themselves once the group
   * is back on its preferred node (not this one), where the ownership rule keeps it anyway */
  yieldsAsked?: number[];
  /** groups this node asked its peers to yield (hb takeover here): hb standby here withdraws the request,
   * so that the peers may take them back */
  takeoverAsked?: number[];
  /** bumped (mod 256) whenever our record changes, so peers can order it against control messages */
  serial: number;
  /** interfaces without carrier, and those whose carrier came back less than carrierGrace ago */
  ifDown: string[];
  ifSettling?: string[];
  /** interfaces where a Heartbeat v1 node went silent less than deafGrace ago: every node's fault cleared at
   * once there, and the peers' records still say they cannot serve; only the preferred node goes first */
  legacyLeft?: string[];
  /** uplink score in effect (0..100) and one waiting out the hold-down */
  score: number;
  /** taken from the score while the health check fails (0: healthy) */
  penalty?: number;
  pendingScore?: number;
  /** fencing of dead peers, by name */
  fence: Record<string, FenceState>;
  /** quorum: peers that died holding groups, and until when they are given to release them (they lost quorum) */
  releasing?: Record<string, { until: number; held: number[] }>;
  /** the arbiter: our lease alive by our clock; keys wanted (claimed or held) and held; who the keys name */
  arbiter?: ArbiterState;
  /** live Heartbeat v1 nodes heard beside us: "node@interface" */
  legacy: string[];
  peers: Record<string, PeerState>;
  /** exit code once done */
  exitCode?: number;
}

export interface ArbiterState {
  lease: boolean;
  /** why the lease is not alive */
  detail?: string;
  wanted: number[];
  held: number[];
  /** by group: the node its key names, as last reported ("" = nobody) */
  owners: Record<number, string>;
}

export type ControlMsg =
  /** serial: the sender's record serial once the group was released (older records still list it) */
  | { kind: "released"; group: number; serial?: number }
  | { kind: "leaving" }
  /** the sender ran hb takeover: yield the group(s) to it */
  | { kind: "yield"; group: number | "all" }
  /** the sender withdraws its hb takeover (hb standby there): stop yielding what it asked for */
  | { kind: "unyield"; group: number | "all" };

/** An operator's request (hb standby / takeover / clear), answered by a reply effect with the same id. */
export interface Command {
  id: number;
  cmd: "standby" | "takeover" | "clear";
  group: number | "all";
  /** standby: even when no peer can take over (the groups stop) */
  force?: boolean;
}

export type MachineEvent =
  | { type: "start" }
  | { type: "peer"; peer: string; liveness: Liveness }
  | { type: "record"; peer: string; record: StateRecord }
  | { type: "control"; peer: string; msg: ControlMsg }
  | { type: "timer"; timer: TimerName }
  | { type: "done"; group: number; step: number; op: "start" | "stop"; ok: boolean; error?: string }
  | { type: "shutdown"; reason: string }
  | { type: "standby"; on: boolean }
  | ({ type: "command" } & Command)
  /** carrier of an interface that carries floating addresses */
  | { type: "iface"; ifname: string; up: boolean }
  /** the uplink score measured now (0..100) */
  | { type: "score"; score: number }
  /** a fence command finished */
  | { type: "fenced"; peer: string; ok: boolean; error?: string }
  /** a Heartbeat v1 node is heard (alive) on an interface, or no longer */
  | { type: "legacy"; node: string; ifname: string; alive: boolean }
  /** the config was reloaded (cfg may have new groups at the end) */
  | { type: "reload" }
  /** a resource's monitor crossed its threshold (ok false: failed; true: recovered) */
  | { type: "monitor"; group: number; step: number; ok: boolean; detail?: string }
  /** the node health check crossed its threshold */
  | { type: "health"; ok: boolean; detail?: string }
  /** the arbiter: our lease is alive by our clock, or no longer */
  | { type: "lease"; valid: boolean; detail?: string }
  /** the arbiter: a wanted group's key names us (held), another node (owner), or nobody */
  | { type: "claim"; group: number; held: boolean; owner?: string };

export type Effect =
  | { type: "start"; group: number; step: number }
  | { type: "stop"; group: number; step: number }
  | { type: "record"; record: StateRecord }
  | { type: "control"; msg: ControlMsg }
  | { type: "timer"; timer: TimerName; at: number }
  | { type: "exit"; code: number }
  | { type: "reboot"; reason: string }
  /** remove the group's floating addresses now, before any stop script runs (quorum lost) */
  | { type: "drop-addresses"; group: number }
  /** tell the LAN again that we hold the group's addresses (clients may have moved to a peer) */
  | { type: "announce"; group: number }
  /** the answer to a command */
  | { type: "reply"; id: number; ok: boolean; message: string }
  /** remember node standby across restarts */
  | { type: "persist"; standby: boolean }
  /** run the fence command against a dead peer */
  | { type: "fence"; peer: string }
  /** watch the group's resources (it runs here now), or stop watching them */
  | { type: "monitor"; group: number; on: boolean }
  /** ask the arbiter for the group's key (on), or give it up (delete it if it names us) */
  | { type: "claim"; group: number; on: boolean };

export interface StepResult {
  state: MachineState;
  effects: Effect[];
  log: string[];
}

/** The machine's timers: each is one at a time (a new one of the same key replaces it). */
export type TimerName =
  /** the wait at start for every peer is over */
  | { kind: "initdead" }
  /** a new uplink score has lasted its hold-down */
  | { kind: "score" }
  /** carrier came back on an interface deadtime ago: its peers had time to be heard */
  | { kind: "carrier"; ifname: string }
  /** a peer has been heard without a gap for deafGrace: its "heard" set counts */
  | { kind: "settle"; peer: string }
  /** retry fencing a dead peer */
  | { kind: "fence"; peer: string }
  /** a group's failure hold-down on this node is over */
  | { kind: "hold"; group: number }
  /** the peers' records after a Heartbeat node left an interface have had time to arrive */
  | { kind: "legacy"; ifname: string }
  /** a lost holder (quorum) has had the time to release what it held */
  | { kind: "release"; peer: string };

/** One string per timer, for the driver's table of running timers. */
export function timerKey(t: TimerName): string {
  switch (t.kind) {
    case "initdead":
    case "score":
      return t.kind;
    case "carrier":
    case "legacy":
      return `${t.kind}:${t.ifname}`;
    case "settle":
    case "fence":
    case "release":
      return `${t.kind}:${t.peer}`;
    case "hold":
      return `hold:${t.group}`;
  }
}

export function initialState(cfg: MachineConfig, now: number): MachineState {
  return {
    phase: "waiting",
    since: now,
    groups: cfg.groups.map(() => newGroup(now)),
    yields: [],
    serial: 0,
    ifDown: [],
    score: 100,
    fence: {},
    legacy: [],
    arbiter: cfg.arbiter ? { lease: false, wanted: [], held: [], owners: {} } : undefined,
    peers: Object.fromEntries(
      cfg.nodes.filter((n) => n.name !== cfg.self).map((n) => [n.name, { liveness: "unknown" as Liveness }]),
    ),
  };
}

/** Is serial a newer than b (both mod 256)? */
export const newer = (a: number, b: number) => a !== b && ((a - b) & 255) < 128;

export const newGroup = (now: number): GroupState => ({
  phase: "stopped",
  since: now,
  reason: "start",
  step: 0,
  started: 0,
  after: "stopped",
  floor: 0,
  restarts: [],
  stopAttempts: 0,
  announce: false,
});

export const alive = (p: PeerState) => p.liveness === "up" || p.liveness === "late";

/** Does this node hold group g (resources possibly up)? */
export function selfHolds(g: GroupState): boolean {
  return (
    g.phase === "starting" ||
    g.phase === "running" ||
    g.phase === "stopping" ||
    (g.phase === "failed" && g.until === undefined)
  );
}

/** Each node's votes under majority quorum (1 unless set), their total, and the majority: more than half. */
export function voteTable(q: NonNullable<MachineConfig["quorum"]>, nodes: MachineConfig["nodes"]) {
  const of = (n: string) => q.votes[n] ?? 1;
  const total = nodes.reduce((a, n) => a + of(n.name), 0);
  return { of, total, majority: Math.floor(total / 2) + 1 };
}

/** Votes this node hears (its own and every live peer's) and the total; quorum = more than half. */
export function quorumVotes(cfg: MachineConfig, s: MachineState): { heard: number; total: number; has: boolean } {
  if (!cfg.quorum) return { heard: 0, total: 0, has: true };
  const { of, total, majority } = voteTable(cfg.quorum, cfg.nodes);
  const heard = of(cfg.self) + Object.entries(s.peers).reduce((a, [n, p]) => a + (alive(p) ? of(n) : 0), 0);
  return { heard, total, has: heard >= majority };
}

/** The score this node offers: the uplink score in effect, less the health penalty. */
export const effectiveScore = (s: MachineState) => Math.max(0, s.score - (s.penalty ?? 0));

export function nodeState(s: MachineState): NodeState {
  if (s.phase === "waiting") return "starting";
  if (s.phase === "leaving" || s.phase === "done") return "stopping";
  if (s.phase === "standby") return "standby";
  return "active";
}
