/**
 * build.ts: the C shim, then the single executable.
 *   bun run build.ts                 shim (build/libhb.so) + dist/hb (x86-64, this machine)
 *   bun run build.ts --shim          shim only
 *   bun run build.ts --arch arm64    build/arm64/libhb.so (cross-compiled) + dist/hb-linux-arm64
 * The shim is embedded in the executable and loaded at run time from a memfd
 * (src/native/shim.ts). dist/hb uses Bun's "baseline" runtime (no AVX2), so it
 * runs on any x86-64 CPU; the arm64 one runs on any ARMv8-A (a Raspberry Pi 3 and later).
 * Both runtimes come from npm like Bun itself (the arm64 one unpacked by the Makefile).
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BunPlugin } from "bun";

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

/** What differs by architecture: the compiler, where the shim goes, Bun's target and runtime, the output. */
export const ARCHS = {
  x64: {
    cc: "gcc",
    shim: "build/libhb.so",
    target: "bun-linux-x64-baseline",
    runtime: "node_modules/@oven/bun-linux-x64-baseline/bin/bun",
    out: "dist/hb",
  },
  arm64: {
    cc: "aarch64-linux-gnu-gcc",
    shim: "build/arm64/libhb.so",
    target: "bun-linux-arm64",
    runtime: "build/bun-linux-aarch64/package/bin/bun", // npm pack @oven/bun-linux-aarch64 (Makefile)
    out: "dist/hb-linux-arm64",
  },
} as const;
export type Arch = keyof typeof ARCHS;

export function buildShim(arch: Arch = "x64") {
  const a = ARCHS[arch];
  mkdirSync(join(root, dirname(a.shim)), { recursive: true });
  const srcs = shimSources();
  const headers = readdirSync(join(root, "native"))
    .filter((f) => f.endsWith(".h"))
    .map((f) => join("native", f));
  if (newer(a.shim, [...srcs, ...headers, "build.ts"])) return;
  run([a.cc, ...CFLAGS, ...LDFLAGS, "-o", a.shim, ...srcs]);
  console.log(`build: ${a.shim}`);
}

/** src/native/shim.ts embeds build/libhb.so; another architecture's build embeds its own shim instead. */
const shimFor = (arch: Arch): BunPlugin => ({
  name: "hb-shim",
  setup(b) {
    b.onResolve({ filter: /\/build\/libhb\.so$/ }, () => ({ path: join(root, ARCHS[arch].shim) }));
  },
});

async function buildExe(arch: Arch = "x64") {
  const a = ARCHS[arch];
  const result = await Bun.build({
    entrypoints: [join(root, "src/cli/main.ts")],
    compile: { target: a.target, outfile: join(root, a.out), executablePath: join(root, a.runtime) },
    plugins: arch === "x64" ? [] : [shimFor(arch)],
    minify: { syntax: true, whitespace: true },
    sourcemap: "none",
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`build: ${a.out}`);
}

if (import.meta.main) {
  const i = process.argv.indexOf("--arch");
  const arch = (i > 0 ? process.argv[i + 1] : "x64") as Arch;
  if (!(arch in ARCHS)) {
    console.error(`build: unknown --arch ${arch} (known: ${Object.keys(ARCHS).join(", ")})`);
    process.exit(2);
  }
  buildShim(arch);
  if (!process.argv.includes("--shim")) await buildExe(arch);
}
