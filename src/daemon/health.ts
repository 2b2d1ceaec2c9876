/**
 * The node health check ([health] command): a Watch like a resource monitor, always running, whose
 * crossings become health events; the state machine lowers the score this node offers while it fails.
 */
import type { MachineEvent } from "../cluster/machine.ts";
import type { HealthConfig } from "../config/schema.ts";
import type { logger } from "../log/log.ts";
import { probeCommand } from "../resources/checks.ts";
import { Watch } from "../resources/monitor.ts";

export function startHealth(
  h: HealthConfig,
  dispatch: (e: MachineEvent) => void,
  log: ReturnType<typeof logger>,
): Watch | undefined {
  if (h.command.length === 0) return undefined;
  return new Watch(
    () => probeCommand(h.command, h.timeout),
    h,
    (v, detail) => dispatch({ type: "health", ok: v === "recovered", detail }),
    (r, th) => {
      if (!r.ok && !th.failed) log.warn(`health check failed (${th.failures} of ${th.fall}): ${r.detail}`);
    },
  ).start();
}
