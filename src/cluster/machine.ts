/**
 * The cluster state machine: pure. step(state, event, now) -> { state, effects, log }.
 * It never touches the network, a clock or a process: it says what to do
 * (effects) and learns the outcome as events. Every change of a group or of
 * the node is logged once, here, as `old -> new (reason)`.
 *
 * Ownership rule for a group (the same on every node, given the same facts):
 *  - candidates: alive nodes that may host it (not in standby, not leaving, the
 *    group not failed there); a peer is alive while its heartbeat is up or late;
 *  - the preferred node, if a candidate, when auto_failback is on or nobody
 *    else holds the group;
 *  - else the one candidate that holds it (no needless move);
 *  - else, when several hold it (a healed partition), the preferred node if it
 *    is one of them, else the holder with the lowest node id;
 *  - else the preferred node if a candidate, else the candidate with the
 *    lowest node id.
 * A node starts a group only when it is the chosen one and no other live node
 * still holds it; a holder that is not the chosen one stops it and tells the
 * peers at once ("released"), so planned moves never wait for deadtime. A
 * holder hands over only to an active node, never to one still starting up.
 */
import type { Liveness } from "../heartbeat/types.ts";
import type { NodeState, StateRecord } from "./record.ts";

export type GroupPhase = "stopped" | "starting" | "running" | "stopping" | "failed";
export type NodePhase = "waiting" | "active" | "standby" | "leaving" | "done";

export interface MachineConfig {
  self: string;
  nodes: { name: string; id: number }[];
  groups: { name: string; preferred: string; resources: string[] }[];
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
  /** ping targets configured: scores count in the ownership rule */
  uplink?: boolean;
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
  /** after stopping: where we go */
  then: "stopped" | "failed";
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
  /** bumped (mod 256) whenever our record changes, so peers can order it against control messages */
  serial: number;
  /** interfaces without carrier, and those whose carrier came back less than carrierGrace ago */
  ifDown: string[];
  ifSettling?: string[];
  /** uplink score in effect (0..100) and one waiting out the hold-down */
  score: number;
  pendingScore?: number;
  /** fencing of dead peers, by name */
  fence: Record<string, FenceState>;
  /** live Heartbeat v1 nodes heard beside us: "node@interface" */
  legacy: string[];
  peers: Record<string, PeerState>;
  /** exit code once done */
  exitCode?: number;
}

export type ControlMsg =
  /** serial: the sender's record serial once the group was released (older records still list it) */
  | { kind: "released"; group: number; serial?: number }
  | { kind: "leaving" }
  /** the sender ran hb takeover: yield the group(s) to it */
  | { kind: "yield"; group: number | "all" };

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
  | { type: "timer"; name: string }
  | { type: "done"; group: number; step: number; op: "start" | "stop"; ok: boolean; error?: string }
  | { type: "shutdown"; reason: string }
  | { type: "standby"; on: boolean }
  | { type: "clear"; group: number }
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
  | { type: "reload" };

export type Effect =
  | { type: "start"; group: number; step: number }
  | { type: "stop"; group: number; step: number }
  | { type: "record"; record: StateRecord }
  | { type: "control"; msg: ControlMsg }
  | { type: "timer"; name: string; at: number }
  | { type: "exit"; code: number }
  | { type: "reboot"; reason: string }
  /** tell the LAN again that we hold the group's addresses (clients may have moved to a peer) */
  | { type: "announce"; group: number }
  /** the answer to a command */
  | { type: "reply"; id: number; ok: boolean; message: string }
  /** remember node standby across restarts */
  | { type: "persist"; standby: boolean }
  /** run the fence command against a dead peer */
  | { type: "fence"; peer: string };

export interface StepResult {
  state: MachineState;
  effects: Effect[];
  log: string[];
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
    peers: Object.fromEntries(cfg.nodes.filter((n) => n.name !== cfg.self).map((n) => [n.name, { liveness: "unknown" as Liveness }])),
  };
}

/** Is serial a newer than b (both mod 256)? */
export const newer = (a: number, b: number) => a !== b && ((a - b) & 255) < 128;

export const newGroup = (now: number): GroupState => ({ phase: "stopped", since: now, reason: "start", step: 0, started: 0, then: "stopped", stopAttempts: 0, announce: false });

const alive = (p: PeerState) => p.liveness === "up" || p.liveness === "late";

/** Does this node hold group g (resources possibly up)? */
export function selfHolds(g: GroupState): boolean {
  return g.phase === "starting" || g.phase === "running" || g.phase === "stopping" || (g.phase === "failed" && g.until === undefined);
}

export function nodeState(s: MachineState): NodeState {
  if (s.phase === "waiting") return "starting";
  if (s.phase === "leaving" || s.phase === "done") return "stopping";
  if (s.phase === "standby") return "standby";
  return "active";
}

export function recordOf(s: MachineState, cfg: MachineConfig): StateRecord {
  const groups: number[] = [];
  const failed: number[] = [];
  s.groups.forEach((g, i) => {
    if (selfHolds(g)) groups.push(i);
    // failed here, or cannot serve it now (no carrier, isolated, unheard): peers must not count on us
    if (g.phase === "failed" || unable(cfg, s, i)) failed.push(i);
  });
  const heard = Object.entries(s.peers).filter(([, p]) => alive(p)).map(([n]) => cfg.nodes.findIndex((x) => x.name === n)).filter((i) => i >= 0);
  return { state: nodeState(s), priority: 0, score: s.score, groups, failed, yields: [...s.yields].sort((a, b) => a - b), serial: s.serial, heard: heard.sort((a, b) => a - b) };
}

/** Why this node cannot serve group gi now, if it cannot (not a choice: a fault). */
export function unable(cfg: MachineConfig, s: MachineState, gi: number): string | undefined {
  const down = (cfg.groupInterfaces?.[gi] ?? []).filter((i) => s.ifDown.includes(i));
  if (down.length) return `no carrier on ${down.join(", ")}`;
  const settling = (cfg.groupInterfaces?.[gi] ?? []).filter((i) => s.ifSettling?.includes(i));
  if (settling.length) return `carrier just came back on ${settling.join(", ")}: waiting to hear the peers there`;
  const old = s.legacy.filter((x) => (cfg.groupInterfaces?.[gi] ?? []).includes(x.split("@")[1]!));
  if (old.length) return `a live Heartbeat node (${old.map((x) => x.replace("@", " on ")).join(", ")}) could hold its addresses`;
  const peers = Object.entries(s.peers);
  if (cfg.requireUplink && s.score === 0 && !peers.some(([, p]) => alive(p))) return "isolated: no ping target and no peer answers (require_uplink)";
  const me = cfg.nodes.findIndex((n) => n.name === cfg.self);
  const deaf = peers.filter(([, p]) => alive(p) && p.settled && p.record?.state === "active" && p.record.heard !== undefined && !p.record.heard.includes(me)).map(([n]) => n);
  if (deaf.length) return `${deaf.join(", ")} cannot hear us (one-way loss): it acts as if we were dead`;
  return undefined;
}

/** Who should run group gi, by the rule in the header. */
export function chooseOwner(cfg: MachineConfig, s: MachineState, gi: number, now: number): string | undefined {
  const g = cfg.groups[gi]!;
  const id = (n: string) => cfg.nodes.find((x) => x.name === n)?.id ?? 1e9;
  const all: string[] = [];
  const yielding = new Set<string>();
  const holders: string[] = [];
  const mine = s.groups[gi]!;
  const selfCan = (s.phase === "active" || s.phase === "waiting") && !(mine.phase === "failed" && (mine.until === undefined || mine.until > now)) && !unable(cfg, s, gi);
  if (selfCan) all.push(cfg.self);
  if (s.yields.includes(gi)) yielding.add(cfg.self);
  if (selfHolds(mine)) holders.push(cfg.self);
  for (const [name, p] of Object.entries(s.peers)) {
    if (!alive(p)) continue;
    const r = p.record;
    if (r && r.groups.includes(gi)) holders.push(name);
    if (!r || r.state === "starting" || r.state === "active") if (!r?.failed?.includes(gi)) all.push(name);
    if (r?.yields?.includes(gi)) yielding.add(name);
  }
  // a node that yields the group is a candidate only when no other node can run it
  const firm = all.filter((n) => !yielding.has(n));
  let cands = firm.length ? firm : all;
  if (cands.length === 0) return undefined;
  if (cfg.uplink) {
    // uplink arbitration: only the candidates that reach the most ping targets
    const score = (n: string) => (n === cfg.self ? s.score : (s.peers[n]?.record?.score ?? 100));
    const best = Math.max(...cands.map(score));
    cands = cands.filter((n) => score(n) === best);
  }
  const byId = (list: string[]) => [...list].sort((a, b) => id(a) - id(b))[0];
  const heldBy = holders.filter((h) => cands.includes(h));
  if (cands.includes(g.preferred) && (cfg.autoFailback || heldBy.length === 0 || heldBy.includes(g.preferred))) return g.preferred;
  if (heldBy.length === 1) return heldBy[0];
  if (heldBy.length > 1) return heldBy.includes(g.preferred) ? g.preferred : byId(heldBy);
  return byId(cands);
}

class Stepper {
  effects: Effect[] = [];
  log: string[] = [];
  constructor(
    readonly cfg: MachineConfig,
    readonly s: MachineState,
    readonly now: number,
  ) {}

  name(gi: number) {
    return this.cfg.groups[gi]!.name;
  }

  /** The one place where a group changes phase. */
  setGroup(gi: number, phase: GroupPhase, reason: string, patch: Partial<GroupState> = {}) {
    const g = this.s.groups[gi]!;
    if (g.phase !== phase) this.log.push(`group ${this.name(gi)}: ${g.phase} -> ${phase} (${reason})`);
    Object.assign(g, patch, { phase, since: g.phase === phase ? g.since : this.now, reason });
  }

  /** The one place where the node changes phase. */
  setNode(phase: NodePhase, reason: string) {
    if (this.s.phase === phase) return;
    this.log.push(`node ${this.cfg.self}: ${this.s.phase} -> ${phase} (${reason})`);
    this.s.phase = phase;
    this.s.since = this.now;
  }

  startGroup(gi: number, reason: string) {
    this.setGroup(gi, "starting", reason, { step: 0, started: 0, stopAttempts: 0, announce: false, until: undefined });
    this.effects.push({ type: "start", group: gi, step: 0 });
  }

  /** Stop from the last started resource down; then `then`. */
  stopGroup(gi: number, reason: string, then: "stopped" | "failed", announce: boolean) {
    const g = this.s.groups[gi]!;
    const top = g.phase === "running" ? this.cfg.groups[gi]!.resources.length : g.started;
    if (top === 0) {
      this.setGroup(gi, then, reason, { step: 0, started: 0 });
      if (announce) this.effects.push({ type: "control", msg: { kind: "released", group: gi } });
      return;
    }
    this.setGroup(gi, "stopping", reason, { step: top - 1, started: top, then, announce, stopAttempts: 0 });
    this.effects.push({ type: "stop", group: gi, step: top - 1 });
  }

  /** Bring every group in line with the ownership rule. */
  reconcile(why: (gi: number, owner: string | undefined) => string) {
    if (this.s.phase === "done") return;
    this.cfg.groups.forEach((_, gi) => {
      const g = this.s.groups[gi]!;
      if (g.phase === "starting" || g.phase === "stopping") return; // finish the sequence first
      if (g.phase === "failed" && g.until === undefined) return; // blocked: held until cleared
      const leaving = this.s.phase === "leaving" || this.s.phase === "standby";
      const owner = leaving ? undefined : chooseOwner(this.cfg, this.s, gi, this.now);
      if (g.phase === "running" && owner !== this.cfg.self) {
        // hand over only to a node known to be ready to start it at once (not one still starting up,
        // nor one whose state record has not arrived yet after it came back)
        const fault = leaving ? undefined : unable(this.cfg, this.s, gi);
        if (!leaving && !fault && owner && this.s.peers[owner]?.record?.state !== "active") return;
        const reason = leaving ? (this.s.phase === "leaving" ? "node leaving" : "standby") : fault ? fault : owner ? `handing over to ${owner}` : why(gi, owner);
        this.stopGroup(gi, reason, "stopped", true);
        return;
      }
      if ((g.phase === "stopped" || (g.phase === "failed" && g.until !== undefined && g.until <= this.now)) && owner === this.cfg.self && this.s.phase === "active") {
        // wait while another live node still holds it: it is releasing it
        const stillHeld = Object.entries(this.s.peers).some(([, p]) => alive(p) && p.record?.groups.includes(gi));
        if (stillHeld) return;
        // a peer that is back but whose record has not arrived yet may hold it: wait for the record
        if (Object.values(this.s.peers).some((p) => alive(p) && !p.record)) return;
        // a dead peer that held it must be fenced first (it may only look dead)
        const fencing = Object.entries(this.s.fence).filter(([, f]) => f.state !== "done" && f.held.includes(gi)).map(([n]) => n);
        if (fencing.length) return;
        if (this.s.yields.includes(gi)) {
          this.s.yields = this.s.yields.filter((x) => x !== gi);
          this.s.yieldsAsked = (this.s.yieldsAsked ?? []).filter((x) => x !== gi);
          this.log.push(`group ${this.name(gi)}: no other node can run it: this node no longer yields it`);
        }
        this.startGroup(gi, why(gi, owner));
      }
    });
  }

  /** A yield a peer asked for ends once the group runs on its preferred node (another one). */
  endAskedYields() {
    for (const gi of this.s.yieldsAsked ?? []) {
      const pref = this.cfg.groups[gi]?.preferred;
      const p = pref ? this.s.peers[pref] : undefined;
      if (!p || !alive(p) || !p.record?.groups.includes(gi) || this.s.groups[gi]?.phase !== "stopped") continue;
      this.s.yields = this.s.yields.filter((x) => x !== gi);
      this.s.yieldsAsked = (this.s.yieldsAsked ?? []).filter((x) => x !== gi);
      this.log.push(`node ${this.cfg.self}: no longer yields ${this.name(gi)}: it runs on its preferred node ${pref}`);
    }
  }

  finishLeaving() {
    if (this.s.phase !== "leaving") return;
    if (!this.s.groups.every((g) => !selfHolds(g))) {
      // A group blocked by a failed stop stays claimed: exiting would let the lease drop its
      // addresses and a peer start it while its service may still run here. Stay, loudly.
      const blocked = this.s.groups.flatMap((g, i) => (g.phase === "failed" && g.until === undefined ? [this.name(i)] : []));
      if (blocked.length && this.s.groups.every((g) => !selfHolds(g) || (g.phase === "failed" && g.until === undefined)))
        this.log.push(`node ${this.cfg.self}: not exiting: group ${blocked.join(", ")} could not be stopped and stays claimed here (stop policy block); stop it by hand, then kill -9 hb to let a peer take over`);
      return;
    }
    this.setNode("done", "every group released");
    this.s.exitCode = 0;
    this.effects.push({ type: "exit", code: 0 });
  }
}

/** A short reason for a group decision, from what the event was. */
function reasonFor(e: MachineEvent): (gi: number, owner: string | undefined) => string {
  switch (e.type) {
    case "start": return () => "start";
    case "peer": return () => `peer ${e.peer} ${e.liveness}`;
    case "record": return () => `peer ${e.peer} state ${e.record.state}`;
    case "control": return (gi) => (e.msg.kind === "released" && e.msg.group === gi ? `${e.peer} released it` : `${e.peer} ${e.msg.kind}`);
    case "timer": return () => (e.name === "initdead" ? "initdead passed without every peer" : `timer ${e.name}`);
    case "done": return () => "resource finished";
    case "shutdown": return () => e.reason;
    case "standby": return () => (e.on ? "standby" : "standby ended");
    case "clear": return () => "cleared";
    case "command": return () => `hb ${e.cmd} ${typeof e.group === "number" ? `group ${e.group}` : "all"}`;
    case "reload": return () => "config reloaded";
    case "iface": return () => `carrier ${e.up ? "back" : "lost"} on ${e.ifname}`;
    case "score": return () => `uplink score ${e.score}`;
    case "fenced": return () => `${e.peer} fenced`;
    case "legacy": return () => `Heartbeat node ${e.node} ${e.alive ? "alive" : "gone"} on ${e.ifname}`;
  }
}

export function step(cfg: MachineConfig, prev: MachineState, e: MachineEvent, now: number): StepResult {
  const s: MachineState = structuredClone(prev);
  const t = new Stepper(cfg, s, now);
  const before = JSON.stringify(recordOf(prev, cfg));

  switch (e.type) {
    case "start":
      t.effects.push({ type: "timer", name: "initdead", at: now + cfg.initdead });
      if (Object.keys(s.peers).length === 0) t.setNode("active", "no peers configured");
      break;
    case "peer": {
      const p = s.peers[e.peer];
      if (!p) break;
      const was = p.liveness;
      p.liveness = e.liveness;
      if (cfg.fencing && e.liveness === "dead" && was !== "dead") {
        // a peer never heard may hold anything; one that was heard holds what its record said
        const held = p.record ? p.record.groups : cfg.groups.map((_, i) => i);
        if (held.length && !s.groups.every((_, gi) => !held.includes(gi))) {
          s.fence[e.peer] = { state: "running", held, attempts: 1, since: now };
          t.log.push(`node ${e.peer}: fencing it before taking over ${held.map((gi) => t.name(gi)).join(", ")}`);
          t.effects.push({ type: "fence", peer: e.peer });
        }
      }
      // Its "heard" set counts only once we have heard it without a gap for deafGrace: after a silence
      // (a partition that heals, even one we saw only as late) its first records may predate its hearing
      // us again. A one-way loss while we hear it all along is acted on at once.
      if (e.liveness !== "up") p.settled = false;
      else if (was !== "up") t.effects.push({ type: "timer", name: `settle:${e.peer}`, at: now + (cfg.deafGrace ?? 0) });
      if (alive(p) && was !== "up" && was !== "late") p.left = false;
      if (alive(p) && s.fence[e.peer]) {
        if (s.fence[e.peer]!.state !== "done") t.log.push(`node ${e.peer}: alive again: fencing abandoned`);
        delete s.fence[e.peer];
      }
      if (!alive(p)) p.record = undefined; // what a dead node held is no longer held
      break;
    }
    case "record": {
      const p = s.peers[e.peer];
      if (!p) break;
      // a peer stopped holding a group we run (its release message may have been lost): announce
      for (const gi of p.record?.groups ?? [])
        if (!e.record.groups.includes(gi) && s.groups[gi]?.phase === "running") {
          t.log.push(`group ${t.name(gi)}: ${e.peer} no longer holds it; announcing our addresses again`);
          t.effects.push({ type: "announce", group: gi });
        }
      p.record = e.record;
      break;
    }
    case "control": {
      const p = s.peers[e.peer];
      if (!p) break;
      // a release older than the record we know is stale (the same message comes once per link,
      // and the peer may have taken the group again since): the record wins
      const stale = e.msg.kind === "released" && p.record && e.msg.serial !== undefined && p.record.serial !== undefined && !newer(e.msg.serial, p.record.serial);
      if (e.msg.kind === "released" && p.record && !stale) {
        const gi = e.msg.group;
        const news = p.record.groups.includes(gi); // the same message comes once per link
        p.record = { ...p.record, groups: p.record.groups.filter((x) => x !== gi) };
        // a peer let go of a group we run (a healed partition): clients may point at it
        if (news && s.groups[gi]?.phase === "running") {
          t.log.push(`group ${t.name(gi)}: ${e.peer} released it; announcing our addresses again`);
          t.effects.push({ type: "announce", group: gi });
        }
      } else if (e.msg.kind === "leaving") {
        p.left = true;
        if (p.record) p.record = { ...p.record, state: "stopping" };
      } else if (e.msg.kind === "yield") {
        // a peer ran hb takeover: it comes first for these groups (we still take them if it dies)
        const gs = e.msg.group === "all" ? cfg.groups.map((_, i) => i) : [e.msg.group];
        const added = gs.filter((gi) => gi < cfg.groups.length && !s.yields.includes(gi));
        s.yieldsAsked = [...new Set([...(s.yieldsAsked ?? []), ...added])];
        if (added.length) {
          s.yields = [...s.yields, ...added];
          t.log.push(`node ${cfg.self}: yields ${added.map((gi) => t.name(gi)).join(", ")} to ${e.peer} (hb takeover on ${e.peer})`);
        }
      }
      break;
    }
    case "timer": {
      if (e.name === "initdead" && s.phase === "waiting") t.setNode("active", "initdead passed without hearing every peer");
      if (e.name === "score" && s.pendingScore !== undefined) {
        t.log.push(`node ${cfg.self}: uplink score ${s.score} -> ${s.pendingScore} (held ${cfg.scoreHold ?? 0} ms)`);
        s.score = s.pendingScore;
        s.pendingScore = undefined;
      }
      const cg = /^carrier:(.+)$/.exec(e.name);
      if (cg) s.ifSettling = (s.ifSettling ?? []).filter((i) => i !== cg[1]);
      const st = /^settle:(.+)$/.exec(e.name);
      if (st && s.peers[st[1]!]?.liveness === "up") s.peers[st[1]!]!.settled = true;
      const fr = /^fence:(.+)$/.exec(e.name);
      const f = fr ? s.fence[fr[1]!] : undefined;
      if (fr && f && f.state === "failed") {
        f.state = "running";
        f.attempts++;
        t.log.push(`node ${fr[1]}: fencing again (attempt ${f.attempts})`);
        t.effects.push({ type: "fence", peer: fr[1]! });
      }
      const hold = /^hold:(\d+)$/.exec(e.name);
      const g = hold ? s.groups[Number(hold[1])] : undefined;
      if (g && g.phase === "failed" && g.until !== undefined && g.until <= now)
        t.setGroup(Number(hold![1]), "stopped", "failure hold-down passed", { until: undefined });
      break;
    }
    case "done": {
      const g = s.groups[e.group];
      if (!g || g.step !== e.step) break; // a stale result
      const res = cfg.groups[e.group]!.resources;
      if (e.op === "start" && g.phase === "starting") {
        if (e.ok) {
          g.started = e.step + 1;
          if (g.started === res.length) t.setGroup(e.group, "running", "all resources started");
          else {
            g.step = e.step + 1;
            t.effects.push({ type: "start", group: e.group, step: g.step });
          }
        } else {
          const until = now + cfg.failureHold;
          t.log.push(`group ${t.name(e.group)}: resource ${res[e.step]} failed to start: ${e.error ?? "error"}`);
          g.started = e.step + 1; // the failed one is stopped too, in case it half-started
          t.stopGroup(e.group, `${res[e.step]} failed to start`, "failed", true);
          s.groups[e.group]!.until = until;
          t.effects.push({ type: "timer", name: `hold:${e.group}`, at: until });
        }
      } else if (e.op === "stop" && g.phase === "stopping") {
        if (e.ok || g.stopAttempts >= cfg.stopRetries) {
          if (!e.ok) {
            t.log.push(`group ${t.name(e.group)}: resource ${res[e.step]} failed to stop ${g.stopAttempts + 1} times: ${e.error ?? "error"}`);
            if (cfg.stopPolicy === "reboot") {
              t.setGroup(e.group, "failed", `${res[e.step]} cannot be stopped: rebooting (stop policy)`, { until: undefined });
              t.effects.push({ type: "reboot", reason: `group ${t.name(e.group)}: ${res[e.step]} cannot be stopped` });
            } else {
              t.setGroup(e.group, "failed", `${res[e.step]} cannot be stopped: blocked until cleared (stop policy)`, { until: undefined });
            }
            break;
          }
          if (e.step === 0) {
            const then = g.then;
            const until = then === "failed" ? g.until : undefined;
            t.setGroup(e.group, then, then === "failed" ? "start failed; resources stopped" : "all resources stopped", { started: 0, until });
            if (g.announce) t.effects.push({ type: "control", msg: { kind: "released", group: e.group } });
          } else {
            g.step = e.step - 1;
            g.stopAttempts = 0;
            t.effects.push({ type: "stop", group: e.group, step: g.step });
          }
        } else {
          g.stopAttempts++;
          t.log.push(`group ${t.name(e.group)}: resource ${res[e.step]} failed to stop (${e.error ?? "error"}); retry ${g.stopAttempts} of ${cfg.stopRetries}`);
          t.effects.push({ type: "stop", group: e.group, step: e.step });
        }
      }
      break;
    }
    case "shutdown":
      if (s.phase !== "leaving" && s.phase !== "done") {
        t.setNode("leaving", e.reason);
        t.effects.push({ type: "control", msg: { kind: "leaving" } });
      }
      break;
    case "standby":
      if (e.on && (s.phase === "active" || s.phase === "waiting")) t.setNode("standby", "standby kept from before the restart");
      else if (!e.on && s.phase === "standby") t.setNode("active", "standby ended");
      break;
    case "clear": {
      const g = s.groups[e.group];
      if (g && g.phase === "failed") t.setGroup(e.group, "stopped", "cleared by the operator", { until: undefined, started: 0 });
      break;
    }
    case "command":
      command(t, e);
      break;
    case "iface": {
      const had = s.ifDown.includes(e.ifname);
      if (!e.up && !had) {
        s.ifDown = [...s.ifDown, e.ifname];
        t.log.push(`node ${cfg.self}: no carrier on ${e.ifname}: its groups cannot be served here`);
      } else if (e.up && had) {
        s.ifDown = s.ifDown.filter((i) => i !== e.ifname);
        s.ifSettling = [...(s.ifSettling ?? []).filter((i) => i !== e.ifname), e.ifname];
        t.log.push(`node ${cfg.self}: carrier back on ${e.ifname}`);
        t.effects.push({ type: "timer", name: `carrier:${e.ifname}`, at: now + (cfg.carrierGrace ?? 0) });
      }
      break;
    }
    case "score":
      if (e.score === s.score) s.pendingScore = undefined;
      else if (e.score !== s.pendingScore) {
        s.pendingScore = e.score;
        t.effects.push({ type: "timer", name: "score", at: now + (cfg.scoreHold ?? 0) });
      }
      break;
    case "fenced": {
      const f = s.fence[e.peer];
      if (!f || f.state !== "running") break;
      if (e.ok) {
        f.state = "done";
        t.log.push(`node ${e.peer}: fenced (attempt ${f.attempts}): taking over what it held`);
      } else {
        f.state = "failed";
        f.error = e.error;
        const delay = Math.min(60_000, (cfg.fenceBackoff ?? 5000) * 2 ** (f.attempts - 1));
        t.log.push(`node ${e.peer}: fencing failed (attempt ${f.attempts}): ${e.error ?? "error"}; not taking over its groups; retry in ${delay < 10_000 ? `${delay} ms` : `${Math.round(delay / 1000)} s`}`);
        t.effects.push({ type: "timer", name: `fence:${e.peer}`, at: now + delay });
      }
      break;
    }
    case "legacy": {
      const key = `${e.node}@${e.ifname}`;
      if (e.alive && !s.legacy.includes(key)) {
        s.legacy = [...s.legacy, key];
        t.log.push(`node ${cfg.self}: a live Heartbeat v1 node ${e.node} is heard on ${e.ifname}: no group with an address there runs here until it is gone`);
      } else if (!e.alive && s.legacy.includes(key)) {
        s.legacy = s.legacy.filter((x) => x !== key);
        t.log.push(`node ${cfg.self}: Heartbeat node ${e.node} on ${e.ifname} is gone`);
      }
      break;
    }
    case "reload":
      while (s.groups.length < cfg.groups.length) {
        t.log.push(`group ${t.name(s.groups.length)}: added by a config reload`);
        s.groups.push(newGroup(now));
      }
      break;
  }

  // Leave the waiting phase as soon as every peer has been heard from (its record is known).
  if (s.phase === "waiting" && Object.values(s.peers).every((p) => p.record !== undefined && alive(p))) t.setNode("active", "every peer heard");
  t.reconcile(reasonFor(e));
  t.endAskedYields();
  t.finishLeaving();

  const record = recordOf(s, cfg);
  if (JSON.stringify(record) !== before) {
    s.serial = (s.serial + 1) & 255;
    t.effects.unshift({ type: "record", record: { ...record, serial: s.serial } });
  }
  // a release is as new as the record that no longer lists the group
  for (const eff of t.effects) if (eff.type === "control" && eff.msg.kind === "released") eff.msg = { ...eff.msg, serial: s.serial };
  return { state: s, effects: t.effects, log: t.log };
}

/** Can `peer` take group gi from us now, firmly (alive, active, not failed there, not yielding it)? */
function peerCanTake(s: MachineState, peer: string, gi: number): string | undefined {
  const p = s.peers[peer]!;
  if (!alive(p)) return `${peer} is ${p.liveness === "unknown" ? "not heard yet" : p.liveness}`;
  const r = p.record;
  if (!r) return `${peer} has not sent its state yet`;
  if (r.state !== "active") return `${peer} is ${r.state}`;
  if (r.failed?.includes(gi)) return `the group failed on ${peer}`;
  if (r.yields?.includes(gi)) return `${peer} yields it too (hb standby there)`;
  return undefined;
}

/** Operator commands: checked here, against the same state the decisions use, then answered. */
function command(t: Stepper, e: Command): void {
  const { cfg, s } = t;
  const reply = (ok: boolean, message: string): void => {
    t.effects.push({ type: "reply", id: e.id, ok, message });
  };
  const all = e.group === "all";
  const gis = all ? cfg.groups.map((_, i) => i) : [e.group as number];
  if (gis.some((gi) => gi < 0 || gi >= cfg.groups.length)) return reply(false, `no such group`);
  const peers = Object.keys(s.peers);
  const label = all ? "every group" : `group ${t.name(gis[0]!)}`;
  if (s.phase === "leaving" || s.phase === "done") return reply(false, `node ${cfg.self} is shutting down`);

  if (e.cmd === "clear") {
    // a failure here, and a yield (hb standby GROUP here, hb takeover on a peer): both are forgotten
    const failed = gis.filter((gi) => s.groups[gi]!.phase === "failed");
    const yielded = gis.filter((gi) => s.yields.includes(gi));
    if (failed.length === 0 && yielded.length === 0) return reply(false, `${label}: nothing to clear (neither failed nor yielded on ${cfg.self})`);
    for (const gi of failed) t.setGroup(gi, "stopped", "cleared by the operator (hb clear)", { until: undefined, started: 0 });
    s.yields = s.yields.filter((gi) => !yielded.includes(gi));
    s.yieldsAsked = (s.yieldsAsked ?? []).filter((gi) => !yielded.includes(gi));
    const parts = [...(failed.length ? [`failure of ${failed.map((gi) => t.name(gi)).join(", ")}`] : []), ...(yielded.length ? [`yield of ${yielded.map((gi) => t.name(gi)).join(", ")}`] : [])];
    return reply(true, `cleared the ${parts.join(" and the ")} on ${cfg.self}`);
  }

  if (e.cmd === "standby") {
    const blocked = gis.filter((gi) => s.groups[gi]!.phase === "failed" && s.groups[gi]!.until === undefined);
    if (blocked.length)
      return reply(false, `group ${blocked.map((gi) => t.name(gi)).join(", ")} could not be stopped here and stays blocked: stop it by hand, then hb clear`);
    // every group we hold must have somewhere to go
    const stuck: string[] = [];
    for (const gi of gis) {
      if (!selfHolds(s.groups[gi]!)) continue;
      const why = peers.map((p) => peerCanTake(s, p, gi));
      if (peers.length === 0 || why.every((w) => w !== undefined)) stuck.push(`${t.name(gi)} (${peers.length ? why.join("; ") : "no peers configured"})`);
    }
    if (stuck.length && !e.force) return reply(false, `refused: no peer can take ${stuck.join(", ")}; use --force to stop it anyway`);
    if (all) {
      if (s.phase === "standby") return reply(true, `node ${cfg.self} is already in standby`);
      if (s.phase === "waiting") return reply(false, `node ${cfg.self} is still starting (waiting for its peers); try again in a moment`);
      t.setNode("standby", `hb standby${e.force ? " --force" : ""}`);
      t.effects.push({ type: "persist", standby: true });
      return reply(true, `node ${cfg.self} goes to standby: it releases every group and takes none until hb takeover${stuck.length ? ` (stopping ${stuck.join(", ")} with nowhere to go)` : ""}`);
    }
    const gi = gis[0]!;
    if (!s.yields.includes(gi)) s.yields = [...s.yields, gi];
    s.yieldsAsked = (s.yieldsAsked ?? []).filter((x) => x !== gi); // the operator's own now: kept until hb takeover
    const holds = selfHolds(s.groups[gi]!);
    t.log.push(`node ${cfg.self}: yields ${t.name(gi)} (hb standby)`);
    return reply(true, holds ? `moving ${t.name(gi)} away from ${cfg.self}` : `${t.name(gi)} does not run here; ${cfg.self} will take it only if no other node can`);
  }

  // takeover
  if (s.phase === "waiting") return reply(false, `node ${cfg.self} is still starting (waiting for its peers); try again in a moment`);
  if (s.phase === "standby" && !all) return reply(false, `node ${cfg.self} is in standby: hb takeover (all) ends it`);
  const unheard = Object.entries(s.peers).filter(([, p]) => p.liveness === "unknown").map(([n]) => n);
  if (s.phase === "standby" && unheard.length) return reply(false, `node ${cfg.self} has not heard ${unheard.join(", ")} yet (initdead); try again in a moment`);
  const refused: string[] = [];
  for (const gi of gis) {
    const g = s.groups[gi]!;
    if (g.phase === "failed") refused.push(`${t.name(gi)} failed here${g.until === undefined ? " and is blocked" : ""}: hb clear ${t.name(gi)} first`);
    for (const [name, p] of Object.entries(s.peers))
      if (alive(p) && p.record?.groups.includes(gi) && p.record.failed?.includes(gi)) refused.push(`${t.name(gi)} is blocked on ${name} (it could not be stopped there)`);
  }
  if (refused.length && !all) return reply(false, `refused: ${refused.join("; ")}`);
  if (s.phase === "standby") {
    t.setNode("active", "hb takeover");
    t.effects.push({ type: "persist", standby: false });
  }
  s.yields = s.yields.filter((gi) => !gis.includes(gi));
  s.yieldsAsked = (s.yieldsAsked ?? []).filter((gi) => !gis.includes(gi));
  t.effects.push({ type: "control", msg: { kind: "yield", group: all ? "all" : gis[0]! } });
  const here = gis.filter((gi) => s.groups[gi]!.phase === "running");
  const msg = !all && here.length ? `${label} already runs on ${cfg.self}` : `${cfg.self} takes over ${label}`;
  return reply(true, refused.length ? `${msg}, except: ${refused.join("; ")}` : msg);
}
