/** A C test driver from native/ built with the whole shim under AddressSanitizer and UBSan (fuzz, bells). */
import { join } from "node:path";
import { shimSources } from "../../build.ts";

const ROOT = join(import.meta.dir, "../..");

/** Compile native/<driver>.c with the shim's sources into build/<driver>; returns its path and gcc's output. */
export function buildSanitized(driver: string): { bin: string; exitCode: number; stderr: string } {
  const bin = join(ROOT, "build", driver);
  const cc = Bun.spawnSync(
    [
      "gcc",
      "-std=gnu11",
      "-O1",
      "-g",
      "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all",
      "-fno-omit-frame-pointer",
      "-D_GNU_SOURCE",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-o",
      bin,
      `native/${driver}.c`,
      ...shimSources(),
    ],
    { cwd: ROOT },
  );
  return { bin, exitCode: cc.exitCode, stderr: cc.stderr.toString() };
}
