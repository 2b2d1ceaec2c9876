/** Operator commands (hb standby / takeover / clear): checked against the same state the decisions use, then answered. */
import { peerCanTake } from "./ownership.ts";
import { alive, type Command, selfHolds } from "./state.ts";
import type { Stepper } from "./stepper.ts";

/** The answer to the operator (the reply effect carries it back to the control socket). */
interface Answer {
  ok: boolean;
  message: string;
}
const yes = (message: string): Answer => ({ ok: true, message });
const no = (message: string): Answer => ({ ok: false, message });

interface Ctx {
  t: Stepper;
  e: Command;
  gis: number[];
  all: boolean;
  label: string;
}

/** A failure here, and a yield (hb standby GROUP here, hb takeover on a peer): both are forgotten. */
function clear({ t, gis, label }: Ctx): Answer {
  const { cfg, s } = t;
  const failed = gis.filter((gi) => s.groups[gi]!.phase === "failed");
  const yielded = gis.filter((gi) => s.yields.includes(gi));
  if (failed.length === 0 && yielded.length === 0)
    return no(`${label}: nothing to clear (neither failed nor yielded on ${cfg.self})`);
  for (const gi of failed)
    t.setGroup(gi, "stopped", "cleared by the operator (hb clear)", {
      until: undefined,
      started: 0,
      failure: undefined,
    });
  s.yields = s.yields.filter((gi) => !yielded.includes(gi));
  s.yieldsAsked = (s.yieldsAsked ?? []).filter((gi) => !yielded.includes(gi));
  const names = (l: number[]) => l.map((gi) => t.name(gi)).join(", ");
  const parts = [
    ...(failed.length ? [`failure of ${names(failed)}`] : []),
    ...(yielded.length ? [`yield of ${names(yielded)}`] : []),
  ];
  return yes(`cleared the ${parts.join(" and the ")} on ${cfg.self}`);
}

/** The groups this node holds that no peer could take now, with why. A peer's yield that our own hb
 * takeover asked for does not count: hb standby withdraws it (see withdrawTakeover). */
function nowhereToGo(t: Stepper, gis: number[]): string[] {
  const peers = Object.keys(t.s.peers);
  const stuck: string[] = [];
  for (const gi of gis) {
    if (!selfHolds(t.s.groups[gi]!)) continue;
    const asked = (t.s.takeoverAsked ?? []).includes(gi);
    const why = peers.map((p) => peerCanTake(t.s, p, gi, asked));
    if (peers.length === 0 || why.every((w) => w !== undefined))
      stuck.push(`${t.name(gi)} (${peers.length ? why.join("; ") : "no peers configured"})`);
  }
  return stuck;
}

/** hb standby after an hb takeover here: the peers that yield because we asked stop yielding. */
function withdrawTakeover(t: Stepper, gis: number[]): void {
  const asked = t.s.takeoverAsked ?? [];
  const withdrawn = asked.filter((gi) => gis.includes(gi));
  t.s.takeoverAsked = asked.filter((gi) => !withdrawn.includes(gi));
  for (const gi of withdrawn) t.effects.push({ type: "control", msg: { kind: "unyield", group: gi } });
}

function standby({ t, e, gis, all }: Ctx): Answer {
  const { cfg, s } = t;
  const blocked = gis.filter((gi) => s.groups[gi]!.phase === "failed" && s.groups[gi]!.until === undefined);
  if (blocked.length)
    return no(
      `group ${blocked.map((gi) => t.name(gi)).join(", ")} could not be stopped here and stays blocked: stop it by hand, then hb clear`,
    );
  const stuck = nowhereToGo(t, gis);
  if (stuck.length && !e.force)
    return no(`refused: no peer can take ${stuck.join(", ")}; use --force to stop it anyway`);
  withdrawTakeover(t, gis);
  if (all) {
    if (s.phase === "standby") return yes(`node ${cfg.self} is already in standby`);
    if (s.phase === "waiting")
      return no(`node ${cfg.self} is still starting (waiting for its peers); try again in a moment`);
    t.setNode("standby", `hb standby${e.force ? " --force" : ""}`);
    t.effects.push({ type: "persist", standby: true });
    return yes(
      `node ${cfg.self} goes to standby: it releases every group and takes none until hb takeover${stuck.length ? ` (stopping ${stuck.join(", ")} with nowhere to go)` : ""}`,
    );
  }
  const gi = gis[0]!;
  if (!s.yields.includes(gi)) s.yields = [...s.yields, gi];
  s.yieldsAsked = (s.yieldsAsked ?? []).filter((x) => x !== gi); // the operator's own now: kept until hb takeover
  t.log.push(`node ${cfg.self}: yields ${t.name(gi)} (hb standby)`);
  return yes(
    selfHolds(s.groups[gi]!)
      ? `moving ${t.name(gi)} away from ${cfg.self}`
      : `${t.name(gi)} does not run here; ${cfg.self} will take it only if no other node can`,
  );
}

/** Why a takeover of these groups cannot happen, group by group. */
function takeoverRefusals(t: Stepper, gis: number[]): string[] {
  const refused: string[] = [];
  for (const gi of gis) {
    const g = t.s.groups[gi]!;
    if (g.phase === "failed")
      refused.push(
        `${t.name(gi)} failed here${g.until === undefined ? " and is blocked" : ""}: hb clear ${t.name(gi)} first`,
      );
    for (const [name, p] of Object.entries(t.s.peers))
      if (alive(p) && p.record?.groups.includes(gi) && p.record.failed?.includes(gi))
        refused.push(`${t.name(gi)} is blocked on ${name} (it could not be stopped there)`);
  }
  return refused;
}

function takeover({ t, gis, all, label }: Ctx): Answer {
  const { cfg, s } = t;
  if (s.phase === "waiting")
    return no(`node ${cfg.self} is still starting (waiting for its peers); try again in a moment`);
  if (s.phase === "standby" && !all) return no(`node ${cfg.self} is in standby: hb takeover (all) ends it`);
  const unheard = Object.entries(s.peers)
    .filter(([, p]) => p.liveness === "unknown")
    .map(([n]) => n);
  if (s.phase === "standby" && unheard.length)
    return no(`node ${cfg.self} has not heard ${unheard.join(", ")} yet (initdead); try again in a moment`);
  const refused = takeoverRefusals(t, gis);
  if (refused.length && !all) return no(`refused: ${refused.join("; ")}`);
  if (s.phase === "standby") {
    t.setNode("active", "hb takeover");
    t.effects.push({ type: "persist", standby: false });
  }
  s.yields = s.yields.filter((gi) => !gis.includes(gi));
  s.yieldsAsked = (s.yieldsAsked ?? []).filter((gi) => !gis.includes(gi));
  s.takeoverAsked = [...new Set([...(s.takeoverAsked ?? []), ...gis])].sort((a, b) => a - b);
  t.effects.push({ type: "control", msg: { kind: "yield", group: all ? "all" : gis[0]! } });
  const here = gis.filter((gi) => s.groups[gi]!.phase === "running");
  const msg = !all && here.length ? `${label} already runs on ${cfg.self}` : `${cfg.self} takes over ${label}`;
  return yes(refused.length ? `${msg}, except: ${refused.join("; ")}` : msg);
}

export function command(t: Stepper, e: Command): void {
  const { cfg, s } = t;
  const all = e.group === "all";
  const gis = all ? cfg.groups.map((_, i) => i) : [e.group as number];
  let a: Answer;
  if (gis.some((gi) => gi < 0 || gi >= cfg.groups.length)) a = no("no such group");
  else if (s.phase === "leaving" || s.phase === "done") a = no(`node ${cfg.self} is shutting down`);
  else {
    const ctx: Ctx = { t, e, gis, all, label: all ? "every group" : `group ${t.name(gis[0]!)}` };
    a = e.cmd === "clear" ? clear(ctx) : e.cmd === "standby" ? standby(ctx) : takeover(ctx);
  }
  t.effects.push({ type: "reply", id: e.id, ok: a.ok, message: a.message });
}
