/** What each event does to the state, one handler per event type (the ownership rule then runs in step()). */

import { formatDuration } from "../config/duration.ts";
import { command } from "./commands.ts";
import { arbiterFault, nodeFault } from "./ownership.ts";
import {
  alive,
  type ControlMsg,
  effectiveScore,
  type MachineEvent,
  newer,
  newGroup,
  quorumVotes,
  selfHolds,
  type TimerName,
} from "./state.ts";
import type { Stepper } from "./stepper.ts";

type Of<T extends MachineEvent["type"]> = Extract<MachineEvent, { type: T }>;
type Handlers = { [T in MachineEvent["type"]]: (t: Stepper, e: Of<T>) => void };

function onPeer(t: Stepper, e: Of<"peer">): void {
  const { cfg, s, now } = t;
  const p = s.peers[e.peer];
  if (!p) return;
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
  else if (was !== "up") t.timer({ kind: "settle", peer: e.peer }, now + (cfg.deafGrace ?? 0));
  if (alive(p) && was !== "up" && was !== "late") p.left = false;
  if (alive(p) && s.fence[e.peer]) {
    if (s.fence[e.peer]!.state !== "done") t.log.push(`node ${e.peer}: alive again: fencing abandoned`);
    delete s.fence[e.peer];
  }
  if (alive(p)) delete s.releasing?.[e.peer];
  else if (was === "up" || was === "late") awaitRelease(t, e.peer, p.record?.groups ?? [], p.left === true);
  if (!alive(p)) p.record = undefined; // what a dead node held is no longer held
}

/**
 * Quorum: a holder we lost may be alive on the other side of a partition. It sees the same partition
 * at most one keepalive later than we do (each side declares the other dead deadtime after the last
 * frame it got, and frames leave every keepalive), and, having lost the majority, removes its addresses
 * at once; deadtime more is its budget to do so (a node slower than that would count as dead anyway).
 * So its groups wait keepalive + deadtime here. A planned stop (it said it was leaving) has released
 * already; with fencing, the fence proves it instead.
 */
function awaitRelease(t: Stepper, peer: string, held: number[], left: boolean): void {
  const { cfg, s, now } = t;
  const grace = cfg.quorum?.grace ?? cfg.arbiter?.grace;
  if (grace === undefined || cfg.fencing || left || held.length === 0 || !quorumVotes(cfg, s).has) return;
  const until = now + grace;
  s.releasing = { ...(s.releasing ?? {}), [peer]: { until, held } };
  t.log.push(
    `node ${peer}: lost while holding ${held.map((gi) => t.name(gi)).join(", ")}; it releases when it sees it ${cfg.quorum ? "lost quorum" : "cannot keep it (no lease, a peer unheard)"}: taking over in ${grace} ms (keepalive + deadtime)`,
  );
  t.timer({ kind: "release", peer }, until);
}

function onRecord(t: Stepper, e: Of<"record">): void {
  const p = t.s.peers[e.peer];
  if (!p) return;
  // a peer stopped holding a group we run (its release message may have been lost): announce
  for (const gi of p.record?.groups ?? [])
    if (!e.record.groups.includes(gi) && t.s.groups[gi]?.phase === "running") {
      t.log.push(`group ${t.name(gi)}: ${e.peer} no longer holds it; announcing our addresses again`);
      t.effects.push({ type: "announce", group: gi });
    }
  p.record = e.record;
}

function onReleased(t: Stepper, peer: string, msg: Extract<ControlMsg, { kind: "released" }>): void {
  const p = t.s.peers[peer]!;
  // its etcd key is gone now (a release deletes it before saying so): a claim waiting for it is tried
  // again at once (even when its record came first and this message is stale as news of the group)
  const a = t.s.arbiter;
  if (a?.wanted.includes(msg.group) && !a.held.includes(msg.group))
    t.effects.push({ type: "claim", group: msg.group, on: true });
  // a release older than the record we know is stale (the same message comes once per link,
  // and the peer may have taken the group again since): the record wins
  if (!p.record || (msg.serial !== undefined && p.record.serial !== undefined && !newer(msg.serial, p.record.serial)))
    return;
  const gi = msg.group;
  const news = p.record.groups.includes(gi); // the same message comes once per link
  p.record = { ...p.record, groups: p.record.groups.filter((x) => x !== gi) };
  // a peer let go of a group we run (a healed partition): clients may point at it
  if (news && t.s.groups[gi]?.phase === "running") {
    t.log.push(`group ${t.name(gi)}: ${peer} released it; announcing our addresses again`);
    t.effects.push({ type: "announce", group: gi });
  }
}

/** A peer ran hb takeover: it comes first for these groups (we still take them if it dies). */
function onYield(t: Stepper, peer: string, group: number | "all"): void {
  const { cfg, s } = t;
  const gs = group === "all" ? cfg.groups.map((_, i) => i) : [group];
  const added = gs.filter((gi) => gi < cfg.groups.length && !s.yields.includes(gi));
  s.yieldsAsked = [...new Set([...(s.yieldsAsked ?? []), ...added])];
  if (added.length) {
    s.yields = [...s.yields, ...added];
    t.log.push(
      `node ${cfg.self}: yields ${added.map((gi) => t.name(gi)).join(", ")} to ${peer} (hb takeover on ${peer})`,
    );
  }
}

/** A peer withdrew its hb takeover (hb standby there): the yields it asked for end; our operator's own stay. */
function onUnyield(t: Stepper, peer: string, group: number | "all"): void {
  const { cfg, s } = t;
  const ended = (s.yieldsAsked ?? []).filter((gi) => group === "all" || gi === group);
  if (!ended.length) return;
  s.yields = s.yields.filter((gi) => !ended.includes(gi));
  s.yieldsAsked = (s.yieldsAsked ?? []).filter((gi) => !ended.includes(gi));
  t.log.push(
    `node ${cfg.self}: no longer yields ${ended.map((gi) => t.name(gi)).join(", ")}: ${peer} withdrew its hb takeover (hb standby on ${peer})`,
  );
}

function onControl(t: Stepper, e: Of<"control">): void {
  const p = t.s.peers[e.peer];
  if (!p) return;
  if (e.msg.kind === "released") onReleased(t, e.peer, e.msg);
  else if (e.msg.kind === "yield") onYield(t, e.peer, e.msg.group);
  else if (e.msg.kind === "unyield") onUnyield(t, e.peer, e.msg.group);
  else {
    p.left = true;
    if (p.record) p.record = { ...p.record, state: "stopping" };
  }
}

function onTimer(t: Stepper, e: { timer: TimerName }): void {
  const { cfg, s, now } = t;
  const tm = e.timer;
  switch (tm.kind) {
    case "initdead":
      if (s.phase === "waiting") t.setNode("active", "initdead passed without hearing every peer");
      break;
    case "score":
      if (s.pendingScore === undefined) break;
      t.log.push(`node ${cfg.self}: uplink score ${s.score} -> ${s.pendingScore} (held ${cfg.scoreHold ?? 0} ms)`);
      s.score = s.pendingScore;
      s.pendingScore = undefined;
      break;
    case "carrier":
      s.ifSettling = (s.ifSettling ?? []).filter((i) => i !== tm.ifname);
      break;
    case "legacy":
      s.legacyLeft = (s.legacyLeft ?? []).filter((i) => i !== tm.ifname);
      break;
    case "settle":
      if (s.peers[tm.peer]?.liveness === "up") s.peers[tm.peer]!.settled = true;
      break;
    case "fence": {
      const f = s.fence[tm.peer];
      if (f?.state !== "failed") break;
      f.state = "running";
      f.attempts++;
      t.log.push(`node ${tm.peer}: fencing again (attempt ${f.attempts})`);
      t.effects.push({ type: "fence", peer: tm.peer });
      break;
    }
    case "release":
      // (the driver fires a timer at its deadline, never before, and a newer wait for this peer replaces it)
      delete s.releasing?.[tm.peer];
      break;
    case "hold": {
      const g = s.groups[tm.group];
      if (g && g.phase === "failed" && g.until !== undefined && g.until <= now)
        t.setGroup(tm.group, "stopped", "failure hold-down passed", { until: undefined, failure: undefined });
      break;
    }
  }
}

function onStartDone(t: Stepper, e: Of<"done">): void {
  const g = t.s.groups[e.group]!;
  const res = t.cfg.groups[e.group]!.resources;
  // (the group is held here while starting: the arbiter's only objection can be a key naming another node)
  const fault = nodeFault(t.cfg, t.s) ?? arbiterFault(t.cfg, t.s, e.group);
  if (e.ok && fault) {
    // quorum (or the arbiter's backing) went away during the start: what is up comes down, addresses first
    g.started = e.step + 1;
    t.effects.push({ type: "drop-addresses", group: e.group });
    t.stopGroup(e.group, `${fault} while starting`, "stopped", true);
    return;
  }
  if (e.ok) {
    g.started = e.step + 1;
    if (g.started === res.length) t.setGroup(e.group, "running", "all resources started");
    else {
      g.step = e.step + 1;
      t.effects.push({ type: "start", group: e.group, step: g.step });
    }
    return;
  }
  t.log.push(`group ${t.name(e.group)}: resource ${res[e.step]} failed to start: ${e.error ?? "error"}`);
  g.started = e.step + 1; // the failed one is stopped too, in case it half-started
  failHere(t, e.group, `${res[e.step]} failed to start`);
}

/** Stop the group, release it, and keep it away from this node for failure_hold (a peer may take it). */
function failHere(t: Stepper, gi: number, reason: string): void {
  const until = t.now + t.cfg.failureHold;
  t.stopGroup(gi, reason, "failed", true);
  Object.assign(t.s.groups[gi]!, { until, failure: reason });
  t.timer({ kind: "hold", group: gi }, until);
}

const DEFAULT_MAX_RESTARTS = 3;
const DEFAULT_RESTART_WINDOW = 900_000;

/** A monitor crossed its threshold: recovered is news only; failed is acted on by the group's on_fail. */
function onMonitor(t: Stepper, e: Of<"monitor">): void {
  const { s, now } = t;
  const g = s.groups[e.group];
  const gc = t.cfg.groups[e.group];
  // a verdict about a group that no longer runs here (it was stopped meanwhile) is stale
  if (!g || !gc || g.phase !== "running" || e.step >= gc.resources.length) return;
  const what = gc.resources[e.step]!;
  if (e.ok) {
    t.log.push(`group ${t.name(e.group)}: resource ${what} passes its monitor again`);
    return;
  }
  const why = `${what} failed its monitor (${e.detail ?? "failed"})`;
  const policy = gc.onFail ?? "restart";
  if (policy === "ignore") {
    t.log.push(`group ${t.name(e.group)}: ${why}; on_fail = ignore: reported only`);
    return;
  }
  const max = gc.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  const window = gc.restartWindow ?? DEFAULT_RESTART_WINDOW;
  g.restarts = g.restarts.filter((at) => at > now - window);
  if (policy === "restart" && g.restarts.length < max) {
    g.restarts.push(now);
    t.restartGroup(e.group, e.step, `${why}: restart ${g.restarts.length} of ${max} within ${formatDuration(window)}`);
    return;
  }
  const used = policy === "restart" ? `${max} restarts within ${formatDuration(window)} used up` : "on_fail = failover";
  failHere(t, e.group, `${why}; ${used}: failing over`);
}

/** The node health check crossed its threshold: the score this node offers drops by the penalty, or comes back. */
function onHealth(t: Stepper, e: Of<"health">): void {
  const penalty = e.ok ? 0 : (t.cfg.healthPenalty ?? 50);
  if ((t.s.penalty ?? 0) === penalty) return;
  t.s.penalty = penalty;
  t.log.push(
    e.ok
      ? `node ${t.cfg.self}: health check passes again: score ${effectiveScore(t.s)}`
      : `node ${t.cfg.self}: health check failed (${e.detail ?? "failed"}): score lowered by ${penalty} to ${effectiveScore(t.s)}`,
  );
}

/** A stop failed more often than stop_retries allows: the stop policy decides. */
function stopFailed(t: Stepper, e: Of<"done">, what: string): void {
  t.log.push(
    `group ${t.name(e.group)}: resource ${what} failed to stop ${t.s.groups[e.group]!.stopAttempts + 1} times: ${e.error ?? "error"}`,
  );
  if (t.cfg.stopPolicy === "reboot") {
    t.setGroup(e.group, "failed", `${what} cannot be stopped: rebooting (stop policy)`, {
      until: undefined,
      failure: `${what} cannot be stopped`,
    });
    t.effects.push({ type: "reboot", reason: `group ${t.name(e.group)}: ${what} cannot be stopped` });
  } else
    t.setGroup(e.group, "failed", `${what} cannot be stopped: blocked until cleared (stop policy)`, {
      until: undefined,
      failure: `${what} cannot be stopped`,
    });
}

function onStopDone(t: Stepper, e: Of<"done">): void {
  const g = t.s.groups[e.group]!;
  const what = t.cfg.groups[e.group]!.resources[e.step]!;
  if (!e.ok && g.stopAttempts < t.cfg.stopRetries) {
    g.stopAttempts++;
    t.log.push(
      `group ${t.name(e.group)}: resource ${what} failed to stop (${e.error ?? "error"}); retry ${g.stopAttempts} of ${t.cfg.stopRetries}`,
    );
    t.effects.push({ type: "stop", group: e.group, step: e.step });
  } else if (!e.ok) stopFailed(t, e, what);
  else if (e.step === g.floor && g.after === "restart" && t.s.phase === "active") {
    t.setGroup(e.group, "starting", "restarting in place", { step: e.step, started: e.step, stopAttempts: 0 });
    t.effects.push({ type: "start", group: e.group, step: e.step });
  } else if (e.step > g.floor || (e.step > 0 && g.after === "restart")) {
    // (a restart whose node is leaving meanwhile stops the rest too, and releases it)
    if (g.after === "restart" && t.s.phase !== "active")
      Object.assign(g, { after: "stopped", floor: 0, announce: true });
    g.step = e.step - 1;
    g.stopAttempts = 0;
    t.effects.push({ type: "stop", group: e.group, step: g.step });
  } else {
    const after = g.after === "restart" ? "stopped" : g.after;
    if (g.after === "restart") g.announce = true;
    t.setGroup(e.group, after, after === "failed" ? "resources stopped after a failure" : "all resources stopped", {
      started: 0,
      until: after === "failed" ? g.until : undefined,
    });
    if (g.announce) t.effects.push({ type: "control", msg: { kind: "released", group: e.group } });
  }
}

function onDone(t: Stepper, e: Of<"done">): void {
  const g = t.s.groups[e.group];
  if (!g || g.step !== e.step) return; // a stale result
  if (e.op === "start" && g.phase === "starting") onStartDone(t, e);
  else if (e.op === "stop" && g.phase === "stopping") onStopDone(t, e);
}

function onIface(t: Stepper, e: Of<"iface">): void {
  const { cfg, s } = t;
  const had = s.ifDown.includes(e.ifname);
  if (!e.up && !had) {
    s.ifDown = [...s.ifDown, e.ifname];
    t.log.push(`node ${cfg.self}: no carrier on ${e.ifname}: its groups cannot be served here`);
  } else if (e.up && had) {
    s.ifDown = s.ifDown.filter((i) => i !== e.ifname);
    s.ifSettling = [...(s.ifSettling ?? []).filter((i) => i !== e.ifname), e.ifname];
    t.log.push(`node ${cfg.self}: carrier back on ${e.ifname}`);
    t.timer({ kind: "carrier", ifname: e.ifname }, t.now + (cfg.carrierGrace ?? 0));
  }
}

function onFenced(t: Stepper, e: Of<"fenced">): void {
  const f = t.s.fence[e.peer];
  if (f?.state !== "running") return;
  if (e.ok) {
    f.state = "done";
    t.log.push(`node ${e.peer}: fenced (attempt ${f.attempts}): taking over what it held`);
    return;
  }
  f.state = "failed";
  f.error = e.error;
  const delay = Math.min(60_000, (t.cfg.fenceBackoff ?? 5000) * 2 ** (f.attempts - 1));
  t.log.push(
    `node ${e.peer}: fencing failed (attempt ${f.attempts}): ${e.error ?? "error"}; not taking over its groups; retry in ${delay < 10_000 ? `${delay} ms` : `${Math.round(delay / 1000)} s`}`,
  );
  t.timer({ kind: "fence", peer: e.peer }, t.now + delay);
}

function onLegacy(t: Stepper, e: Of<"legacy">): void {
  const { cfg, s } = t;
  const key = `${e.node}@${e.ifname}`;
  if (e.alive && !s.legacy.includes(key)) {
    s.legacy = [...s.legacy, key];
    t.log.push(
      `node ${cfg.self}: a live Heartbeat v1 node ${e.node} is heard on ${e.ifname}: no group with an address there runs here until it is gone`,
    );
  } else if (!e.alive && s.legacy.includes(key)) {
    s.legacy = s.legacy.filter((x) => x !== key);
    t.log.push(`node ${cfg.self}: Heartbeat node ${e.node} on ${e.ifname} is gone`);
    // every hb node saw it go at the same moment: their records still say they cannot serve there
    s.legacyLeft = [...(s.legacyLeft ?? []).filter((i) => i !== e.ifname), e.ifname];
    t.timer({ kind: "legacy", ifname: e.ifname }, t.now + (cfg.deafGrace ?? 0));
  }
}

/** The arbiter's lease is alive by our clock, or no longer (loseQuorum then acts if a peer is unheard). */
function onLease(t: Stepper, e: Of<"lease">): void {
  const a = t.s.arbiter;
  if (!a || a.lease === e.valid) return;
  a.lease = e.valid;
  a.detail = e.valid ? undefined : e.detail;
  const held = t.s.groups.flatMap((g, gi) => (selfHolds(g) ? [t.name(gi)] : []));
  t.log.push(
    e.valid
      ? `node ${t.cfg.self}: arbiter lease alive`
      : `node ${t.cfg.self}: arbiter lease lost (${e.detail ?? "no answer"}): takes nothing new${held.length ? `; keeps ${held.join(", ")} only while it hears every peer` : ""}`,
  );
}

/** What etcd's key for a wanted group says now. A key that names another node while we hold the group: it is theirs. */
function onClaim(t: Stepper, e: Of<"claim">): void {
  const a = t.s.arbiter;
  if (!a?.wanted.includes(e.group)) return; // given up meanwhile
  a.owners[e.group] = e.held ? t.cfg.self : (e.owner ?? "");
  a.held = e.held ? [...new Set([...a.held, e.group])].sort((x, y) => x - y) : a.held.filter((x) => x !== e.group);
  const g = t.s.groups[e.group];
  if (!e.held && e.owner && g && selfHolds(g)) {
    t.log.push(`group ${t.name(e.group)}: etcd names ${e.owner} as its holder: removing its addresses at once`);
    t.effects.push({ type: "drop-addresses", group: e.group });
  } else if (!e.held && !e.owner && g?.phase === "stopped")
    t.log.push(`group ${t.name(e.group)}: its etcd key is free: claiming it`);
  else if (!e.held && e.owner && g?.phase === "stopped")
    t.log.push(
      `group ${t.name(e.group)}: waiting for etcd: its key names ${e.owner} (until that node releases it or its lease expires)`,
    );
}

export const HANDLERS: Handlers = {
  lease: onLease,
  claim: onClaim,
  start(t) {
    t.timer({ kind: "initdead" }, t.now + t.cfg.initdead);
    if (Object.keys(t.s.peers).length === 0) t.setNode("active", "no peers configured");
  },
  peer: onPeer,
  record: onRecord,
  control: onControl,
  timer: onTimer,
  done: onDone,
  shutdown(t, e) {
    if (t.s.phase === "leaving" || t.s.phase === "done") return;
    t.setNode("leaving", e.reason);
    t.effects.push({ type: "control", msg: { kind: "leaving" } });
  },
  standby(t, e) {
    if (e.on && (t.s.phase === "active" || t.s.phase === "waiting"))
      t.setNode("standby", "standby kept from before the restart");
    else if (!e.on && t.s.phase === "standby") t.setNode("active", "standby ended");
  },
  command,
  iface: onIface,
  score(t, e) {
    const s = t.s;
    if (e.score === s.score) s.pendingScore = undefined;
    else if (e.score !== s.pendingScore) {
      s.pendingScore = e.score;
      t.timer({ kind: "score" }, t.now + (t.cfg.scoreHold ?? 0));
    }
  },
  fenced: onFenced,
  legacy: onLegacy,
  monitor: onMonitor,
  health: onHealth,
  reload(t) {
    while (t.s.groups.length < t.cfg.groups.length) {
      t.log.push(`group ${t.name(t.s.groups.length)}: added by a config reload`);
      t.s.groups.push(newGroup(t.now));
    }
  },
};
