/** The daemon: one loop that owns the cluster state. Later issues give it its work. */
import type { Config } from "../config/schema.ts";
import { logger } from "../log/log.ts";
import { shimInfo } from "../native/shim.ts";
import { EXIT } from "../cli/exit.ts";

export interface DaemonOptions {
  testHooks: boolean;
}

export async function runDaemon(config: Config, _opts: DaemonOptions): Promise<number> {
  const log = logger("daemon");
  // Signal handlers first: a SIGTERM must never find the default action once we have announced ourselves.
  const stop = new Promise<string>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
  });
  const s = shimInfo();
  log.info(`hb starting: node ${config.cluster.node}, cluster ${config.cluster.name}, native shim via ${s.via}`);
  const signal = await stop;
  log.info(`${signal}: stopping`);
  return EXIT.OK;
}
