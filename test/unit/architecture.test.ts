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
const imports = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);

test("one module, src/native/shim.ts, is the only importer of bun:ffi", () => {
  const importers = files(SRC)
    .filter((f) => imports(f).includes("bun:ffi"))
    .map((f) => relative(SRC, f));
  expect(importers).toEqual(["native/shim.ts"]);
});

test("the state machine (src/cluster) imports no native code, effects, daemon or node: modules", () => {
  for (const f of files(join(SRC, "cluster"))) {
    for (const i of imports(f)) {
      expect({ file: relative(SRC, f), import: i, ok: !/native|resources|daemon|^node:|^bun/.test(i) }).toMatchObject({
        ok: true,
      });
    }
  }
});

test("the C shim is reached only through src/native (everything else uses the typed wrappers)", () => {
  for (const f of files(SRC)) {
    if (relative(SRC, f).startsWith("native/")) continue;
    expect(readFileSync(f, "utf8")).not.toMatch(/libhb\.so|dlopen/);
  }
});

/**
 * Dependencies point down (the design card): cli -> daemon -> cluster / control /
 * resources -> heartbeat / log / legacy -> config -> native. A module may import
 * its own directory and anything below; never a layer above or beside it.
 */
const LAYER: Record<string, number> = {
  cli: 5,
  daemon: 4,
  cluster: 3,
  control: 3,
  resources: 3,
  arbiter: 3,
  heartbeat: 2,
  log: 2,
  legacy: 2,
  config: 1,
  native: 0,
};

test("every import between src/ directories points down a layer", () => {
  const wrong: string[] = [];
  for (const f of files(SRC)) {
    const from = relative(SRC, f).split("/")[0]!;
    expect(Object.keys(LAYER)).toContain(from);
    for (const i of imports(f).filter((x) => x.startsWith("."))) {
      const target = relative(SRC, join(f, "..", i)).split("/")[0]!;
      if (target === from || target === "..") continue; // own directory; package.json
      if (!(target in LAYER) || LAYER[target]! >= LAYER[from]!) wrong.push(`${relative(SRC, f)} -> ${i}`);
    }
  }
  expect(wrong).toEqual([]);
});

test("the checker above sees the imports (it would catch an upward one)", () => {
  const all = files(SRC).flatMap((f) => imports(f).map((i) => `${relative(SRC, f)} ${i}`));
  expect(all).toContain("daemon/run.ts ../control/server.ts");
  expect(all.length).toBeGreaterThan(100);
});

/** Functions that fit on a screen: none in src/ over 80 lines (TypeScript's own parser counts them). */
test("no function in src/ is longer than 80 lines", async () => {
  const ts = (await import("typescript")).default;
  const long: string[] = [];
  for (const f of files(SRC)) {
    const sf = ts.createSourceFile(f, readFileSync(f, "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (n: import("typescript").Node): void => {
      if (ts.isFunctionLike(n) && "body" in n && n.body) {
        const lines =
          sf.getLineAndCharacterOfPosition(n.getEnd()).line - sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        if (lines > 80)
          long.push(`${relative(SRC, f)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1} (${lines} lines)`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  expect(long).toEqual([]);
});

/** The same for the C shim (its test drivers aside): a function is from a line at column 0 ending in "{" to the next "}" at column 0. */
test("no function in native/ is longer than 80 lines", () => {
  const NATIVE = join(import.meta.dir, "../../native");
  const long: string[] = [];
  let functions = 0;
  for (const f of readdirSync(NATIVE).filter((x) => x.endsWith(".c") && !/^(fuzz|test)_/.test(x))) {
    let start = -1;
    readFileSync(join(NATIVE, f), "utf8")
      .split("\n")
      .forEach((l, i) => {
        if (start < 0 && /^[A-Za-z].*\)\s*\{$/.test(l)) start = i;
        else if (start >= 0 && l === "}") {
          if (i - start + 1 > 80) long.push(`${f}:${start + 1} (${i - start + 1} lines)`);
          functions++;
          start = -1;
        }
      });
  }
  expect(long).toEqual([]);
  expect(functions).toBeGreaterThan(100); // the scanner sees them
});
