/**
 * The ownership rule (see machine.ts for it in words): who holds a group, who
 * should, what this node cannot serve now, and the record it sends.
 */

import type { AddressGuard } from "../heartbeat/types.ts";
import type { StateRecord } from "./record.ts";
import {
  alive,
  effectiveScore,
  type MachineConfig,
  type MachineState,
  nodeState,
  quorumVotes,
  selfHolds,
  voteTable,
} from "./state.ts";

/** Every node that holds group gi now: this one by its phase, peers by their records (alive ones only). */
export function holdersOf(s: MachineState, self: string, gi: number): string[] {
  const h: string[] = [];
  if (s.groups[gi] && selfHolds(s.groups[gi]!)) h.push(self);
  for (const [name, p] of Object.entries(s.peers)) if (alive(p) && p.record?.groups.includes(gi)) h.push(name);
  return h.sort();
}

export function recordOf(s: MachineState, cfg: MachineConfig): StateRecord {
  const groups: number[] = [];
  const failed: number[] = [];
  s.groups.forEach((g, i) => {
    if (selfHolds(g)) groups.push(i);
    // failed here, or cannot serve it now (no carrier, isolated, unheard): peers must not count on us.
    // A starting node has no quorum until it hears its peers: its state (starting) already says it is not
    // ready, and calling its groups failed would make every peer that starts with it take them at once.
    if (g.phase === "failed" || (s.phase === "waiting" ? groupFault(cfg, s, i) : unable(cfg, s, i))) failed.push(i);
  });
  const heard = Object.entries(s.peers)
    .filter(([, p]) => alive(p))
    .map(([n]) => cfg.nodes.findIndex((x) => x.name === n))
    .filter((i) => i >= 0);
  return {
    state: nodeState(s),
    score: effectiveScore(s),
    groups,
    failed,
    yields: [...s.yields].sort((a, b) => a - b),
    serial: s.serial,
    heard: heard.sort((a, b) => a - b),
  };
}

/** Why this node cannot serve group gi now, if it cannot (not a choice: a fault). */
export function unable(cfg: MachineConfig, s: MachineState, gi: number): string | undefined {
  return nodeFault(cfg, s) ?? arbiterFault(cfg, s, gi) ?? groupFault(cfg, s, gi);
}

/** Why this node can serve nothing at all now: it must remove every floating address at once. */
export function nodeFault(cfg: MachineConfig, s: MachineState): string | undefined {
  return quorumFault(cfg, s) ?? arbiterFault(cfg, s);
}

/** Without a majority of the votes, this node can serve nothing. */
function quorumFault(cfg: MachineConfig, s: MachineState): string | undefined {
  const q = quorumVotes(cfg, s);
  return q.has ? undefined : `no quorum: hears ${q.heard} of ${q.total} votes (more than ${q.total / 2} needed)`;
}

/**
 * The arbiter: a node whose lease may have expired at etcd takes nothing new (it could not get a key
 * anyway, and peers must not hand it a group). What it holds it keeps only while it hears every peer:
 * they see it holding and take nothing. A peer it does not hear may be taking its groups: then it can
 * serve nothing. A key that names another node is that node's group.
 */
export function arbiterFault(cfg: MachineConfig, s: MachineState, gi?: number): string | undefined {
  const a = s.arbiter;
  if (!cfg.arbiter || !a) return undefined;
  if (gi !== undefined) {
    const owner = a.owners[gi];
    if (owner && owner !== cfg.self && selfHolds(s.groups[gi]!)) return `etcd names ${owner} as its holder`;
  }
  if (a.lease) return undefined;
  const why = `no arbiter lease (${a.detail ?? "etcd not reached yet"})`;
  const unheard = Object.entries(s.peers)
    .filter(([, p]) => !alive(p))
    .map(([n]) => n);
  if (unheard.length) return `${why} and ${unheard.join(", ")} not heard: it may be taking over`;
  if (gi !== undefined && !selfHolds(s.groups[gi]!)) return `${why}: it takes nothing new`;
  return undefined;
}

/**
 * The rules above that count peers, for the heartbeat thread to enforce should this loop stall just as a
 * peer goes dead (quorumFault and arbiterFault act first whenever it runs): without an arbiter lease, every
 * peer must be heard; with majority quorum, more than half of the votes. null: no such rule.
 */
export function addressGuard(cfg: MachineConfig, leaseAlive: boolean): AddressGuard | null {
  const peers = cfg.nodes.map((n) => n.name).filter((n) => n !== cfg.self);
  if (cfg.arbiter && !leaseAlive && peers.length)
    return { votes: Object.fromEntries(peers.map((p) => [p, 1])), self: 0, need: peers.length };
  if (!cfg.quorum) return null;
  const { of, majority } = voteTable(cfg.quorum, cfg.nodes);
  return { votes: Object.fromEntries(peers.map((p) => [p, of(p)])), self: of(cfg.self), need: majority };
}

/** What keeps group gi from this node besides quorum. */
function groupFault(cfg: MachineConfig, s: MachineState, gi: number): string | undefined {
  const down = (cfg.groupInterfaces?.[gi] ?? []).filter((i) => s.ifDown.includes(i));
  if (down.length) return `no carrier on ${down.join(", ")}`;
  const settling = (cfg.groupInterfaces?.[gi] ?? []).filter((i) => s.ifSettling?.includes(i));
  if (settling.length) return `carrier just came back on ${settling.join(", ")}: waiting to hear the peers there`;
  const old = s.legacy.filter((x) => (cfg.groupInterfaces?.[gi] ?? []).includes(x.split("@")[1]!));
  if (old.length)
    return `a live Heartbeat node (${old.map((x) => x.replace("@", " on ")).join(", ")}) could hold its addresses`;
  const left = (cfg.groupInterfaces?.[gi] ?? []).filter((i) => s.legacyLeft?.includes(i));
  if (left.length && cfg.groups[gi]?.preferred !== cfg.self)
    return `a Heartbeat node just left ${left.join(", ")}: the preferred node goes first (the peers' state is on its way)`;
  const peers = Object.entries(s.peers);
  if (cfg.requireUplink && s.score === 0 && !peers.some(([, p]) => alive(p)))
    return "isolated: no ping target and no peer answers (require_uplink)";
  const me = cfg.nodes.findIndex((n) => n.name === cfg.self);
  const deaf = peers
    .filter(
      ([, p]) =>
        alive(p) &&
        p.settled &&
        p.record?.state === "active" &&
        p.record.heard !== undefined &&
        !p.record.heard.includes(me),
    )
    .map(([n]) => n);
  if (deaf.length) return `${deaf.join(", ")} cannot hear us (one-way loss): it acts as if we were dead`;
  return unseenHolder(cfg, s, gi);
}

/**
 * Quorum: a majority of the votes does not show who holds a group. A node that rejoins hears one peer a
 * beat before another, and a partial partition may hide a live holder from us while a peer hears it. So
 * while a peer says it hears a node that we do not, that node may hold anything: a group we do not hold
 * is not ours to take (our record says so, and the peers that hear everyone decide). One we hold we keep.
 */
function unseenHolder(cfg: MachineConfig, s: MachineState, gi: number): string | undefined {
  if (!cfg.quorum || selfHolds(s.groups[gi]!)) return undefined;
  const unseen = new Set<string>();
  for (const [name, p] of Object.entries(s.peers))
    if (alive(p))
      for (const i of p.record?.heard ?? []) {
        const other = cfg.nodes[i]?.name;
        const q = other === undefined ? undefined : s.peers[other];
        if (q && !alive(q)) unseen.add(`${other} (heard by ${name})`);
      }
  return unseen.size ? `${[...unseen].join(", ")} is not heard here and may hold it` : undefined;
}

/** Who should run group gi, by the rule in the header. */
export function chooseOwner(cfg: MachineConfig, s: MachineState, gi: number, now: number): string | undefined {
  const g = cfg.groups[gi]!;
  const id = (n: string) => cfg.nodes.find((x) => x.name === n)?.id ?? 1e9;
  const all: string[] = [];
  const yielding = new Set<string>();
  const holders = holdersOf(s, cfg.self, gi);
  const mine = s.groups[gi]!;
  const selfCan =
    (s.phase === "active" || s.phase === "waiting") &&
    !(mine.phase === "failed" && (mine.until === undefined || mine.until > now)) &&
    !unable(cfg, s, gi);
  if (selfCan) all.push(cfg.self);
  if (s.yields.includes(gi)) yielding.add(cfg.self);
  for (const [name, p] of Object.entries(s.peers)) {
    if (!alive(p)) continue;
    const r = p.record;
    if (!r || r.state === "starting" || r.state === "active") if (!r?.failed?.includes(gi)) all.push(name);
    if (r?.yields?.includes(gi)) yielding.add(name);
  }
  // a node that yields the group is a candidate only when no other node can run it
  const firm = all.filter((n) => !yielding.has(n));
  let cands = firm.length ? firm : all;
  if (cands.length === 0) return undefined;
  if (cfg.uplink) {
    // uplink arbitration: only the candidates that reach the most ping targets
    const score = (n: string) => (n === cfg.self ? effectiveScore(s) : (s.peers[n]?.record?.score ?? 100));
    const best = Math.max(...cands.map(score));
    cands = cands.filter((n) => score(n) === best);
  }
  const byId = (list: string[]) => [...list].sort((a, b) => id(a) - id(b))[0];
  const heldBy = holders.filter((h) => cands.includes(h));
  if (cands.includes(g.preferred) && (cfg.autoFailback || heldBy.length === 0 || heldBy.includes(g.preferred)))
    return g.preferred;
  if (heldBy.length === 1) return heldBy[0];
  if (heldBy.length > 1) return heldBy.includes(g.preferred) ? g.preferred : byId(heldBy);
  return byId(cands);
}

/** Can `peer` take group gi from us now, firmly (alive, active, not failed there, not yielding it)?
 * withdrawn: its yield of gi is one we asked for and are withdrawing (hb standby after hb takeover). */
export function peerCanTake(s: MachineState, peer: string, gi: number, withdrawn = false): string | undefined {
  const p = s.peers[peer]!;
  if (!alive(p)) return `${peer} is ${p.liveness === "unknown" ? "not heard yet" : p.liveness}`;
  const r = p.record;
  if (!r) return `${peer} has not sent its state yet`;
  if (r.state !== "active") return `${peer} is ${r.state}`;
  if (r.failed?.includes(gi)) return `the group failed on ${peer}`;
  if (r.yields?.includes(gi) && !withdrawn) return `${peer} yields it too (hb standby there)`;
  return undefined;
}
