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
import { reasonFor } from "./describe.ts";
import { HANDLERS } from "./events.ts";
import { nodeFault, recordOf } from "./ownership.ts";
import { alive, type MachineConfig, type MachineEvent, type MachineState, type StepResult } from "./state.ts";
import { Stepper } from "./stepper.ts";

export { describeEvent } from "./describe.ts";
export { chooseOwner, holdersOf, nodeFault, recordOf, unable } from "./ownership.ts";
export * from "./state.ts";

/** One event in, the new state, its effects and its log lines out. */
export function step(cfg: MachineConfig, prev: MachineState, e: MachineEvent, now: number): StepResult {
  const s: MachineState = structuredClone(prev);
  const t = new Stepper(cfg, s, now);
  const before = JSON.stringify(recordOf(prev, cfg));
  const fault = nodeFault(cfg, prev);
  (HANDLERS[e.type] as (t: Stepper, e: MachineEvent) => void)(t, e);
  t.loseQuorum(fault);

  // Leave the waiting phase as soon as every peer has been heard from (its record is known). With quorum,
  // also heard by them: a record sent before its sender heard a majority says it cannot serve anything,
  // and deciding on it would let every starting node take the groups at once.
  const me = cfg.nodes.findIndex((n) => n.name === cfg.self);
  const ready = (p: MachineState["peers"][string]) =>
    p.record !== undefined && alive(p) && (!cfg.quorum || (p.record.heard?.includes(me) ?? true));
  if (s.phase === "waiting" && Object.values(s.peers).every(ready)) t.setNode("active", "every peer heard");
  t.reconcile(reasonFor(e, cfg));
  t.endAskedYields();
  t.finishLeaving();
  t.syncClaims();

  const record = recordOf(s, cfg);
  if (JSON.stringify(record) !== before) {
    s.serial = (s.serial + 1) & 255;
    t.effects.unshift({ type: "record", record: { ...record, serial: s.serial } });
  }
  // a release is as new as the record that no longer lists the group
  for (const eff of t.effects)
    if (eff.type === "control" && eff.msg.kind === "released") eff.msg = { ...eff.msg, serial: s.serial };
  return { state: s, effects: t.effects, log: t.log };
}
