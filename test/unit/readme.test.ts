import { expect, test } from "bun:test";
import { BEGIN, END, renderReference } from "../../src/config/reference.ts";
import { type Fields, SCHEMA } from "../../src/config/schema.ts";

const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();

test("the README config reference is exactly what the schema renders", () => {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  expect(a).toBeGreaterThan(0);
  // if this fails: bun run scripts/update-readme.ts
  expect(readme.slice(a, b + END.length)).toBe(renderReference());
});

test("every schema key appears in the reference with its default", () => {
  const ref = renderReference();
  const walk = (fields: Fields) => {
    for (const [name, f] of Object.entries(fields)) {
      const k = f.kind;
      if (k.t === "table") walk(k.fields);
      else if (k.t === "tables") walk(k.item);
      else if (k.t === "tagged" || k.t === "variants") for (const v of Object.values(k.variants)) walk(v);
      else {
        // a nested table's keys are written as they nest (monitor.interval)
        expect(ref).toMatch(new RegExp(`\`([a-z_]+\\.)?${name}\``));
        // a non-empty default must say why it was chosen
        const empty =
          f.default === undefined ||
          (Array.isArray(f.default) && f.default.length === 0) ||
          (typeof f.default === "object" && f.default !== null && Object.keys(f.default).length === 0);
        if (!empty) expect({ key: name, reason: typeof f.reason }).toEqual({ key: name, reason: "string" });
      }
    }
  };
  walk(SCHEMA);
});

test("the README documents every CLI command and exit code", async () => {
  const { buildCli } = await import("../../src/cli/main.ts");
  for (const c of buildCli().commands) if (c.name) expect(readme).toContain(`\`hb ${c.name}`);
  for (const code of [0, 1, 2]) expect(readme).toMatch(new RegExp(`\\| ${code} \\|`));
});
