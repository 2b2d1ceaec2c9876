import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Each architecture's shim, and the version its pthread entry points must keep (the oldest glibc has). */
const SHIMS = [
  { arch: "x64", path: join(import.meta.dir, "../../build/libhb.so"), pthread: "GLIBC_2.2.5", needs: ["libc.so.6"] },
  // arm64's stack-protector guard (__stack_chk_guard) lives in the dynamic loader, which every process has
  {
    arch: "arm64",
    path: join(import.meta.dir, "../../build/arm64/libhb.so"),
    pthread: "GLIBC_2.17",
    needs: ["libc.so.6", "ld-linux-aarch64.so.1"],
  },
];
if (!existsSync(SHIMS[1]!.path))
  console.warn("SKIPPED: the arm64 shim's ABI (build/arm64/libhb.so is not built: make dist/hb-linux-arm64)");

/** Every versioned glibc symbol the shim needs, from objdump -T. */
function glibcVersions(SHIM: string): { symbol: string; version: string }[] {
  const p = Bun.spawnSync(["objdump", "-T", SHIM]);
  expect(p.exitCode).toBe(0);
  const out: { symbol: string; version: string }[] = [];
  for (const line of p.stdout.toString().split("\n")) {
    const m = /\(?(GLIBC_[0-9.]+)\)?\s+(\S+)$/.exec(line.trim());
    if (m) out.push({ version: m[1]!, symbol: m[2]! });
  }
  return out;
}

const cmp = (a: string, b: string) => {
  const x = a.replace("GLIBC_", "").split(".").map(Number);
  const y = b.replace("GLIBC_", "").split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

for (const { arch, path: SHIM, pthread: oldest, needs } of SHIMS)
  describe.skipIf(!existsSync(SHIM))(`the ${arch} shim loads on glibc 2.17`, () => {
    test("objdump -T lists no GLIBC symbol version above 2.17", () => {
      const syms = glibcVersions(SHIM);
      expect(syms.length).toBeGreaterThan(0); // the parse found something to judge
      const tooNew = syms.filter((s) => cmp(s.version, "GLIBC_2.17") > 0);
      expect(tooNew).toEqual([]);
    });
    test("the pthread entry points are bound to their pre-2.34 versions", () => {
      // guards compat.h: without it these would be GLIBC_2.34
      const pthread = glibcVersions(SHIM).filter((s) => s.symbol === "pthread_create" || s.symbol === "pthread_join");
      expect(pthread.map((s) => s.symbol).sort()).toEqual(["pthread_create", "pthread_join"]);
      for (const s of pthread) expect(s.version).toBe(oldest);
    });
    test("it needs no library but libc (and, on arm64, the dynamic loader)", () => {
      const p = Bun.spawnSync(["objdump", "-p", SHIM]);
      const needed = [...p.stdout.toString().matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
      expect(needed).toEqual(needs);
    });
    test("it exports only hb_ symbols", () => {
      const p = Bun.spawnSync(["objdump", "-T", SHIM]);
      const defined = p.stdout
        .toString()
        .split("\n")
        .filter((l) => /\.text/.test(l))
        .map((l) => l.trim().split(/\s+/).pop());
      expect(defined.length).toBeGreaterThan(0);
      for (const name of defined) expect(name).toMatch(/^hb_/);
    });
  });
