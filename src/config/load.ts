/** Read ha.toml from disk and validate it against the real system. */
import { readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { ConfigError } from "./errors.ts";
import type { Config } from "./schema.ts";
import { parseConfig, type ConfigEnv } from "./validate.ts";

export const DEFAULT_CONFIG = "/etc/hb/ha.toml";

const errText = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  return err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : (err.message ?? String(e));
};

export const systemEnv = (nodeOverride?: string): ConfigEnv => ({
  hostname: hostname(),
  nodeOverride,
  mode(path) {
    try { return statSync(path).mode; } catch (e) { return new Error(errText(e)); }
  },
  read(path) {
    try { return readFileSync(path, "utf8"); } catch (e) { return new Error(errText(e)); }
  },
});

export function loadConfig(file: string, env: ConfigEnv = systemEnv()): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError([{ file, line: 1, col: 1, path: "", message: `cannot read the config file: ${errText(e)}`, hint: "pass --config FILE (an example is in examples/ha.toml)" }], { cause: e });
  }
  return parseConfig(text, file, env);
}
