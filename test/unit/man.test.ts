/** The man pages: hb(8) from the CLI, ha.toml(5) from the schema; groff renders both without a warning. */
import { expect, test } from "bun:test";
import { buildCli } from "../../src/cli/main.ts";
import { hbManPage } from "../../src/cli/manpage.ts";
import { tomlManPage } from "../../src/config/manpage.ts";
import { type Fields, SCHEMA } from "../../src/config/schema.ts";

/** groff with every warning on (-ww), the man macros, text output: what it says on stderr, and the text. */
function render(page: string): { warnings: string; text: string } {
  const p = Bun.spawnSync(["groff", "-man", "-ww", "-Tutf8", "-P-c", "-P-b", "-P-u"], { stdin: Buffer.from(page) });
  expect(p.exitCode).toBe(0);
  return { warnings: p.stderr.toString(), text: p.stdout.toString() };
}

test("hb(8): every command and option --help shows, exit codes, signals, files; no groff warning", () => {
  const cli = buildCli();
  const { warnings, text } = render(hbManPage(cli, "9.9.9", "2026-12-01"));
  expect(warnings).toBe("");
  for (const c of cli.commands.filter((x) => x.name)) {
    expect(text).toContain(`hb ${c.name.split(" ")[0]}`);
    for (const o of c.options) expect(text).toContain(/--[\w-]+/.exec(o.rawName)![0]);
  }
  for (const s of ["EXIT STATUS", "SIGNALS", "SIGHUP", "FILES", "/etc/hb/ha.toml", "ha.toml(5)"])
    expect(text).toContain(s);
});

test("ha.toml(5): every key of the schema with its default; no groff warning", () => {
  const { warnings, text } = render(tomlManPage("9.9.9", "2026-12-01"));
  expect(warnings).toBe("");
  const flat = text.replace(/\s+/g, " ");
  const walk = (fields: Fields, prefix = "") => {
    for (const [name, f] of Object.entries(fields)) {
      const k = f.kind;
      if (k.t === "table") walk(k.fields, prefix === "" && name !== "monitor" ? "" : `${name}.`);
      else if (k.t === "tables") walk(k.item);
      else if (k.t === "tagged" || k.t === "variants") for (const v of Object.values(k.variants)) walk(v);
      else expect(flat).toContain(`${prefix}${name} `);
    }
  };
  walk(SCHEMA);
  expect(flat).toContain("[quorum]");
  expect(flat).toContain("Why this default:");
});
