/**
 * One step's working state: the state being changed, the effects and log lines
 * it produces, and the only places where a group or the node changes phase.
 */
import { chooseOwner, holdersOf, nodeFault, unable } from "./ownership.ts";
import {
  alive,
  type Effect,
  type GroupPhase,
  type GroupState,
  type MachineConfig,
  type MachineState,
  type NodePhase,
  quorumVotes,
  selfHolds,
  type TimerName,
} from "./state.ts";

export class Stepper {
  effects: Effect[] = [];
  log: string[] = [];
  /** groups this step would start but for their arbiter key */
  private readonly wantKeys = new Set<number>();
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
    // its resources are watched exactly while it runs here
    if ((g.phase === "running") !== (phase === "running"))
      this.effects.push({ type: "monitor", group: gi, on: phase === "running" });
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
    this.setGroup(gi, "starting", reason, {
      step: 0,
      started: 0,
      stopAttempts: 0,
      announce: false,
      until: undefined,
      floor: 0,
      failure: undefined,
    });
    this.effects.push({ type: "start", group: gi, step: 0 });
  }

  /** Stop from the last started resource down to `floor` (0: all of them); then `after` (restart: start again from `floor`). */
  stopGroup(gi: number, reason: string, after: GroupState["after"], announce: boolean, floor = 0) {
    const g = this.s.groups[gi]!;
    const top = g.phase === "running" ? this.cfg.groups[gi]!.resources.length : g.started;
    if (top === 0) {
      this.setGroup(gi, after === "restart" ? "stopped" : after, reason, { step: 0, started: 0 });
      if (announce) this.effects.push({ type: "control", msg: { kind: "released", group: gi } });
      return;
    }
    this.setGroup(gi, "stopping", reason, { step: top - 1, started: top, after, announce, stopAttempts: 0, floor });
    this.effects.push({ type: "stop", group: gi, step: top - 1 });
  }

  /** A running group's resources from `from` up are stopped (last first) and started again, in place. */
  restartGroup(gi: number, from: number, reason: string) {
    this.stopGroup(gi, reason, "restart", false, from);
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
        const reason = leaving
          ? this.s.phase === "leaving"
            ? "node leaving"
            : "standby"
          : fault
            ? fault
            : owner
              ? `handing over to ${owner}`
              : why(gi, owner);
        this.stopGroup(gi, reason, "stopped", true);
        return;
      }
      if (
        (g.phase === "stopped" || (g.phase === "failed" && g.until !== undefined && g.until <= this.now)) &&
        owner === this.cfg.self &&
        this.s.phase === "active"
      ) {
        // wait while another live node still holds it: it is releasing it
        const stillHeld = holdersOf(this.s, this.cfg.self, gi).some((h) => h !== this.cfg.self);
        if (stillHeld) return;
        // a peer that is back but whose record has not arrived yet may hold it: wait for the record
        if (Object.values(this.s.peers).some((p) => alive(p) && !p.record)) return;
        // a lost holder is given the time to see that it lost quorum and release (quorum)
        if (Object.values(this.s.releasing ?? {}).some((r) => r.held.includes(gi))) return;
        // a dead peer that held it must be fenced first (it may only look dead)
        const fencing = Object.entries(this.s.fence)
          .filter(([, f]) => f.state !== "done" && f.held.includes(gi))
          .map(([n]) => n);
        if (fencing.length) return;
        // the arbiter: only once etcd's key names us (a lost holder's lease must expire first)
        if (this.cfg.arbiter && !this.s.arbiter?.held.includes(gi)) {
          this.wantKeys.add(gi);
          return;
        }
        if (this.s.yields.includes(gi)) {
          this.s.yields = this.s.yields.filter((x) => x !== gi);
          this.s.yieldsAsked = (this.s.yieldsAsked ?? []).filter((x) => x !== gi);
          this.log.push(`group ${this.name(gi)}: no other node can run it: this node no longer yields it`);
        }
        this.startGroup(gi, why(gi, owner));
      }
    });
  }

  /**
   * Quorum (or the arbiter's backing) just lost: every address this node may hold goes at once, before
   * any stop script runs.
   */
  loseQuorum(before: string | undefined) {
    const now = nodeFault(this.cfg, this.s);
    if (before !== undefined || now === undefined) return;
    const q = quorumVotes(this.cfg, this.s);
    this.log.push(
      q.has
        ? `node ${this.cfg.self}: ${now}: removing its floating addresses, then stopping its groups`
        : `node ${this.cfg.self}: lost quorum (hears ${q.heard} of ${q.total} votes): removing its floating addresses, then stopping its groups`,
    );
    this.s.groups.forEach((g, gi) => {
      if (selfHolds(g)) this.effects.push({ type: "drop-addresses", group: gi });
    });
  }

  /**
   * The arbiter's keys follow what this node holds or is about to start: asked for when wanted, given up
   * (deleted) when not. A give-up goes out before the "released" message of the same step, so the taker
   * finds the key free.
   */
  syncClaims() {
    const a = this.s.arbiter;
    if (!this.cfg.arbiter || !a) return;
    const want = new Set(this.wantKeys);
    this.s.groups.forEach((g, gi) => {
      if (selfHolds(g)) want.add(gi);
    });
    const claims: Effect[] = [];
    for (const gi of want) if (!a.wanted.includes(gi)) claims.push({ type: "claim", group: gi, on: true });
    for (const gi of a.wanted)
      if (!want.has(gi)) {
        claims.push({ type: "claim", group: gi, on: false });
        delete a.owners[gi];
      }
    a.wanted = [...want].sort((x, y) => x - y);
    a.held = a.held.filter((gi) => want.has(gi));
    this.effects.unshift(...claims);
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
      const blocked = this.s.groups.flatMap((g, i) =>
        g.phase === "failed" && g.until === undefined ? [this.name(i)] : [],
      );
      if (
        blocked.length &&
        this.s.groups.every((g) => !selfHolds(g) || (g.phase === "failed" && g.until === undefined))
      )
        this.log.push(
          `node ${this.cfg.self}: not exiting: group ${blocked.join(", ")} could not be stopped and stays claimed here (stop policy block); stop it by hand, then kill -9 hb to let a peer take over`,
        );
      return;
    }
    this.setNode("done", "every group released");
    this.s.exitCode = 0;
    this.effects.push({ type: "exit", code: 0 });
  }

  timer(timer: TimerName, at: number) {
    this.effects.push({ type: "timer", timer, at });
  }
}
