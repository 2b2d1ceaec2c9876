/**
 * build.ts: the C shim, then the single executable.
 *   bun run build.ts           shim (build/libhb.so) + dist/hb
 *   bun run build.ts --shim    shim only
 * The shim is embedded in dist/hb and loaded at run time from a memfd
 * (src/native/load.ts). dist/hb uses Bun's "baseline" runtime (no AVX2), so it
 * runs on any x86-64 CPU; that runtime comes from npm like Bun itself.
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = import.meta.dir;
const CFLAGS = [
  "-std=gnu11",
  "-O2",
  "-g",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-Wshadow",
  "-Wstrict-prototypes",
  "-fPIC",
  "-fvisibility=hidden",
  "-fno-strict-aliasing",
  "-D_GNU_SOURCE",
  // hardening: stack canaries and checked buffer calls (the __*_chk symbols are older than glibc 2.17)
  "-fstack-protector-strong",
  "-D_FORTIFY_SOURCE=2",
];
const LDFLAGS = ["-shared", "-Wl,-z,relro,-z,now", "-Wl,--no-undefined", "-Wl,--as-needed"];
/** Sources of the shim: everything in native/ but test and fuzz drivers. */
export const shimSources = () =>
  readdirSync(join(root, "native"))
    .filter((f) => f.endsWith(".c") && !/^(fuzz|test)_/.test(f))
    .sort()
    .map((f) => join("native", f));

function run(cmd: string[]) {
  const p = Bun.spawnSync(cmd, { cwd: root, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) {
    console.error(`build: failed (${p.exitCode}): ${cmd.join(" ")}`);
    process.exit(1);
  }
}

function newer(out: string, inputs: string[]): boolean {
  try {
    const t = statSync(join(root, out)).mtimeMs;
    return inputs.every((f) => statSync(join(root, f)).mtimeMs < t);
  } catch {
    return false;
  }
}

export function buildShim() {
  mkdirSync(join(root, "build"), { recursive: true });
  const srcs = shimSources();
  const headers = readdirSync(join(root, "native"))
    .filter((f) => f.endsWith(".h"))
    .map((f) => join("native", f));
  if (newer("build/libhb.so", [...srcs, ...headers, "build.ts"])) return;
  run(["gcc", ...CFLAGS, ...LDFLAGS, "-o", "build/libhb.so", ...srcs]);
  console.log("build: build/libhb.so");
}

async function buildExe() {
  const runtime = join(root, "node_modules/@oven/bun-linux-x64-baseline/bin/bun");
  const result = await Bun.build({
    entrypoints: [join(root, "src/cli/main.ts")],
    compile: { target: "bun-linux-x64-baseline", outfile: join(root, "dist/hb"), executablePath: runtime },
    minify: { syntax: true, whitespace: true },
    sourcemap: "none",
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log("build: dist/hb");
}

if (import.meta.main) {
  buildShim();
  if (!process.argv.includes("--shim")) await buildExe();
}
