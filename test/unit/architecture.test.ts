/** The shape the design card asks for, checked on the sources. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const SRC = join(import.meta.dir, "../../src");
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
const imports = (file: string) => [...readFileSync(file, "utf8").matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);

test("one module, src/native/shim.ts, is the only importer of bun:ffi", () => {
  const importers = files(SRC).filter((f) => imports(f).includes("bun:ffi")).map((f) => relative(SRC, f));
  expect(importers).toEqual(["native/shim.ts"]);
});

test("the state machine (src/cluster) imports no native code, effects, daemon or node: modules", () => {
  for (const f of files(join(SRC, "cluster"))) {
    for (const i of imports(f)) {
      expect({ file: relative(SRC, f), import: i, ok: !/native|resources|daemon|^node:|^bun/.test(i) }).toMatchObject({ ok: true });
    }
  }
});

test("the C shim is reached only through src/native (everything else uses the typed wrappers)", () => {
  for (const f of files(SRC)) {
    if (relative(SRC, f).startsWith("native/")) continue;
    expect(readFileSync(f, "utf8")).not.toMatch(/libhb\.so|dlopen/);
  }
});
