import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const SHIM = join(import.meta.dir, "../../build/libhb.so");

/** Every versioned glibc symbol the shim needs, from objdump -T. */
function glibcVersions(): { symbol: string; version: string }[] {
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

describe("the shim loads on glibc 2.17", () => {
  test("objdump -T lists no GLIBC symbol version above 2.17", () => {
    const syms = glibcVersions();
    expect(syms.length).toBeGreaterThan(0); // the parse found something to judge
    const tooNew = syms.filter((s) => cmp(s.version, "GLIBC_2.17") > 0);
    expect(tooNew).toEqual([]);
  });
  test("the pthread entry points are bound to their pre-2.34 versions", () => {
    // guards compat.h: without it these would be GLIBC_2.34
    const pthread = glibcVersions().filter((s) => s.symbol === "pthread_create" || s.symbol === "pthread_join");
    expect(pthread.map((s) => s.symbol).sort()).toEqual(["pthread_create", "pthread_join"]);
    for (const s of pthread) expect(s.version).toBe("GLIBC_2.2.5");
  });
  test("it needs no library but libc", () => {
    const p = Bun.spawnSync(["objdump", "-p", SHIM]);
    const needed = [...p.stdout.toString().matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
    expect(needed).toEqual(["libc.so.6"]);
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
