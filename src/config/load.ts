/** Read ha.toml from disk and validate it against the real system. */
import { hostname } from "node:os";
import { ConfigError } from "./errors.ts";
import { openFile } from "./files.ts";
import type { Config } from "./schema.ts";
import { type ConfigEnv, parseConfig } from "./validate.ts";

export const DEFAULT_CONFIG = "/etc/hb/ha.toml";

export const systemEnv = (nodeOverride?: string): ConfigEnv => ({
  hostname: hostname(),
  nodeOverride,
  uid: process.getuid?.() ?? 0,
  open: openFile,
});

export function loadConfig(file: string, env: ConfigEnv = systemEnv()): Config {
  const self = env.open(file);
  if (self instanceof Error)
    throw new ConfigError([
      {
        file,
        line: 1,
        col: 1,
        path: "",
        message: `cannot read the config file: ${self.message}`,
        hint: "pass --config FILE (an example is in examples/ha.toml)",
      },
    ]);
  return parseConfig(self.text, file, env, self);
}
