/** Read ha.toml from disk and validate it against the real system. */
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { ConfigError } from "./errors.ts";
import type { Config } from "./schema.ts";
import { parseConfig, type ConfigEnv, type FileInfo } from "./validate.ts";

export const DEFAULT_CONFIG = "/etc/hb/ha.toml";

const errText = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  return err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.code === "ELOOP" ? "it is a symbolic link (refused: give the file it points to)" : (err.message ?? String(e));
};

/** Open once, never through a symlink; the owner and mode checked are those of what is read. */
export function openFile(path: string): FileInfo | Error {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) return new Error("not a regular file");
    return { mode: st.mode, uid: st.uid, text: readFileSync(fd, "utf8") };
  } catch (e) {
    return new Error(errText(e));
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export const systemEnv = (nodeOverride?: string): ConfigEnv => ({
  hostname: hostname(),
  nodeOverride,
  uid: process.getuid?.() ?? 0,
  open: openFile,
});

export function loadConfig(file: string, env: ConfigEnv = systemEnv()): Config {
  const self = env.open(file);
  if (self instanceof Error)
    throw new ConfigError([{ file, line: 1, col: 1, path: "", message: `cannot read the config file: ${self.message}`, hint: "pass --config FILE (an example is in examples/ha.toml)" }]);
  return parseConfig(self.text, file, env, self);
}
