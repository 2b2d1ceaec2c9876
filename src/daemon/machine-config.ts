/** What the pure state machine needs to know of the config, with the graces derived from the timing. */
import type { MachineConfig } from "../cluster/machine.ts";
import type { Config } from "../config/schema.ts";
import { resourceName } from "../resources/types.ts";

export function machineConfig(config: Config): MachineConfig {
  return {
    self: config.cluster.node,
    nodes: config.nodes,
    groups: config.groups.map((g) => ({
      name: g.name,
      preferred: g.preferred,
      resources: g.resources.map(resourceName),
      onFail: g.on_fail,
      maxRestarts: g.max_restarts,
      restartWindow: g.restart_window,
    })),
    autoFailback: config.cluster.auto_failback,
    initdead: config.timing.initdead,
    failureHold: config.resources.failure_hold,
    stopRetries: config.resources.stop_retries,
    stopPolicy: config.resources.stop_policy,
    groupInterfaces: config.groups.map((g) => [
      ...new Set(g.resources.flatMap((r) => (r.kind === "ip" ? [r.interface] : []))),
    ]),
    // scores count when something can lower them: ping targets or a health check
    uplink: config.uplink.targets.length > 0 || config.health.command.length > 0,
    healthPenalty: config.health.penalty,
    scoreHold: config.uplink.hold_down,
    requireUplink: config.uplink.require,
    fencing: config.fencing.method === "command",
    fenceBackoff: config.fencing.backoff,
    // majority quorum: a lost holder gets keepalive + deadtime to release (events.ts, awaitRelease)
    quorum:
      config.quorum.mode === "majority"
        ? { votes: config.quorum.votes, grace: config.timing.keepalive + config.timing.deadtime }
        : undefined,
    // the etcd arbiter: a lost holder that can no longer keep its groups is given the same time to release
    arbiter: config.quorum.etcd ? { grace: config.timing.keepalive + config.timing.deadtime } : undefined,
    // a peer's first beats after it comes up predate its hearing us: its "heard" set counts after this
    deafGrace: Math.max(config.timing.warntime, 2 * config.timing.keepalive),
    // heartbeats on that interface need up to deadtime to be heard again after its carrier returns
    carrierGrace: config.timing.deadtime,
  };
}
