/** Events in words: one sentence per event, for the log's reasons and the history's causes. */
import type { MachineConfig, MachineEvent, TimerName } from "./state.ts";

function describeTimer(t: TimerName, group: (i: number) => string): string {
  switch (t.kind) {
    case "initdead":
      return "initdead passed without every peer";
    case "score":
      return "uplink score held long enough";
    case "carrier":
      return `carrier on ${t.ifname} back for long enough`;
    case "settle":
      return `${t.peer} heard without a gap`;
    case "fence":
      return `fence of ${t.peer} due again`;
    case "hold":
      return `failure hold-down of ${group(t.group)} passed`;
    case "legacy":
      return `the peers had time to tell their state after the Heartbeat node left ${t.ifname}`;
    case "release":
      return `${t.peer} had the time to release what it held (quorum or arbiter)`;
  }
}

/** What happened, in one short sentence. */
export function describeEvent(e: MachineEvent, cfg: MachineConfig): string {
  const g = (i: number) => cfg.groups[i]?.name ?? `#${i}`;
  switch (e.type) {
    case "start":
      return "daemon start";
    case "peer":
      return `peer ${e.peer} ${e.liveness}`;
    case "record":
      return `${e.peer} is ${e.record.state}`;
    case "control":
      return e.msg.kind === "released"
        ? `${e.peer} released ${g(e.msg.group)}`
        : e.msg.kind === "yield"
          ? `hb takeover on ${e.peer}`
          : e.msg.kind === "unyield"
            ? `hb standby on ${e.peer} (its takeover withdrawn)`
            : `${e.peer} leaving`;
    case "timer":
      return describeTimer(e.timer, g);
    case "done":
      return `${e.op} of ${cfg.groups[e.group]?.resources[e.step] ?? "a resource"} ${e.ok ? "done" : `failed: ${e.error ?? ""}`}`;
    case "shutdown":
      return e.reason;
    case "standby":
      return e.on ? "standby kept from before the restart" : "standby ended";
    case "command":
      return `hb ${e.cmd} ${typeof e.group === "number" ? g(e.group) : "all"}`;
    case "reload":
      return "config reloaded";
    case "iface":
      return `carrier ${e.up ? "back" : "lost"} on ${e.ifname}`;
    case "score":
      return `uplink score measured ${e.score}`;
    case "fenced":
      return `fence of ${e.peer} ${e.ok ? "succeeded" : `failed: ${e.error ?? ""}`}`;
    case "legacy":
      return `Heartbeat node ${e.node} ${e.alive ? "heard" : "silent"} on ${e.ifname}`;
    case "monitor":
      return `monitor of ${cfg.groups[e.group]?.resources[e.step] ?? "a resource"} ${e.ok ? "passes again" : `failed: ${e.detail ?? ""}`}`;
    case "health":
      return e.ok ? "health check passes again" : `health check failed: ${e.detail ?? ""}`;
    case "lease":
      return e.valid ? "arbiter lease alive" : `arbiter lease lost: ${e.detail ?? ""}`;
    case "claim":
      return e.held
        ? `etcd gave us ${g(e.group)}`
        : e.owner
          ? `etcd names ${e.owner} as holder of ${g(e.group)}`
          : `etcd names nobody as holder of ${g(e.group)}`;
  }
}

/** Why a group decision was taken: the event, or, for the group a peer released, that it did. */
export const reasonFor =
  (e: MachineEvent, cfg: MachineConfig) =>
  (gi: number): string =>
    e.type === "control" && e.msg.kind === "released" && e.msg.group === gi
      ? `${e.peer} released it`
      : describeEvent(e, cfg);
