/**
 * The legacy guard's wiring: listeners on hb's interfaces, its log lines and
 * history, and the machine events for an authenticated Heartbeat node (the
 * only kind that may hold hb off a group).
 */

import type { MachineEvent } from "../cluster/machine.ts";
import type { Config } from "../config/schema.ts";
import { vipInterfaces } from "../heartbeat/setup.ts";
import { LegacyGuard } from "../legacy/guard.ts";
import { logger } from "../log/log.ts";
import { LegacyListener } from "../native/shim.ts";

/** Forged packets are cheap to send: one log line per FORGED_LOG_MS at most (the count is in hb status). */
const FORGED_LOG_MS = 10_000;

export function startLegacyGuard(
  config: Config,
  record: (text: string) => void,
  dispatch: (e: MachineEvent) => void,
  /** call poll when fd is readable (the heartbeat engine watches it) */
  watch: (fd: number, poll: () => void) => void,
): LegacyGuard {
  const log = logger("legacy");
  const listeners: LegacyListener[] = [];
  if (config.legacy.guard) {
    const ifaces = [
      ...new Set([
        ...config.links.flatMap((l) => (l.kind === "serial" ? [] : [l.interface])),
        ...vipInterfaces(config.groups),
      ]),
    ];
    for (const i of ifaces) {
      try {
        listeners.push(new LegacyListener(i, config.legacy.port));
      } catch (e) {
        log.error(
          `legacy guard: cannot listen on ${i}: ${(e as Error).message}; a Heartbeat node there would not be noticed`,
        );
      }
    }
  }
  let forgedTold = -Infinity;
  const guard: LegacyGuard = new LegacyGuard(
    listeners,
    config.legacy.deadtime,
    (n, alive) => {
      const line = !alive
        ? `Heartbeat v1 node ${n.node} on ${n.ifname}: silent for ${config.legacy.deadtime / 1000} s: gone`
        : n.trusted
          ? `Heartbeat v1 node ${n.node} (${n.address}, status ${n.status ?? "?"}) is alive on ${n.ifname}: hb takes no group with an address there until it stops`
          : `Heartbeat v1 node ${n.node} (${n.address}, status ${n.status ?? "?"}) is heard on ${n.ifname}, unauthenticated (${config.legacy.keys.length ? "classic framing" : "no [[legacy.key]]"}): hb keeps its groups; give the old cluster's authkeys key as [[legacy.key]] to let it hold hb off`;
      (alive ? (n.trusted ? log.error : log.warn) : log.info)(line);
      record(line);
      if (n.trusted) dispatch({ type: "legacy", node: n.node, ifname: n.ifname, alive });
    },
    config.legacy.keys,
    (why) => {
      if (performance.now() - forgedTold < FORGED_LOG_MS) return;
      forgedTold = performance.now();
      log.warn(`forged Heartbeat packet ignored (${guard.stats.forged} so far): ${why}`);
    },
  );
  if (listeners.length) {
    for (const fd of guard.descriptors) watch(fd, () => guard.poll());
    logger("daemon").info(
      `legacy guard: listening for Heartbeat v1 on UDP ${config.legacy.port} of ${listeners.map((l) => l.ifname).join(", ")}`,
    );
  }
  return guard;
}
