/**
 * The config reference in the README, rendered from SCHEMA so the two cannot
 * drift: test/unit/readme.test.ts compares the README block with this output,
 * and `bun run scripts/update-readme.ts` rewrites it.
 */
import { formatDuration } from "./duration.ts";
import type { Field, Fields } from "./schema.ts";
import { SCHEMA } from "./schema.ts";

export const BEGIN = "<!-- config-reference:begin (generated from src/config/schema.ts) -->";
export const END = "<!-- config-reference:end -->";

export function typeOf(f: Field): string {
  const k = f.kind;
  switch (k.t) {
    case "string":
      return k.oneOf ? k.oneOf.map((o) => `"${o}"`).join(" \\| ") : "string";
    case "duration":
      return `duration (${formatDuration(k.min)}..${formatDuration(k.max)})`;
    case "bool":
      return "bool";
    case "int":
      return k.oneOf ? `int: ${k.oneOf.join(", ")}` : `int (${k.min}..${k.max})`;
    case "strings":
      return "array of strings";
    case "map":
      return "table: node = string";
    default:
      return k.t;
  }
}

export function defaultOf(f: Field): string {
  if (f.required) return "**required**";
  if (f.defaultText) return f.defaultText;
  if (f.default === undefined) return "(none)";
  if (f.kind.t === "duration") return `"${formatDuration(f.default as number)}"`;
  return JSON.stringify(f.default).replace(/,/g, ", ");
}

const esc = (s: string) => s.replace(/\|/g, "\\|");

function table(fields: Fields, prefix: string): string[] {
  const rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"];
  for (const [name, f] of Object.entries(fields)) {
    if (["table", "tables", "tagged", "variants"].includes(f.kind.t)) continue;
    const why = f.reason ? ` *Why this default:* ${f.reason}.` : "";
    rows.push(`| \`${prefix}${name}\` | ${typeOf(f)} | ${esc(defaultOf(f))} | ${esc(f.doc)}${esc(why)} |`);
  }
  return rows;
}

function section(name: string, f: Field, out: string[], header: string) {
  const k = f.kind;
  const required = f.required ? " (required)" : "";
  if (k.t === "table") {
    out.push(`### ${header}${required}`, "", f.doc, "");
    const scalar = Object.values(k.fields).some((x) => !["table", "tables", "tagged", "variants"].includes(x.kind.t));
    if (scalar) out.push(...table(k.fields, ""), "");
    for (const [sub, sf] of Object.entries(k.fields))
      if (["table", "tables", "tagged", "variants"].includes(sf.kind.t))
        section(sub, sf, out, `${header.replace(/^\[|\]$/g, "").replace(/^/, "[[")}.${sub}]]`);
  } else if (k.t === "tables") {
    out.push(`### ${header}${required}`, "", f.doc, "");
    out.push(...table(k.item, ""), "");
    for (const [sub, sf] of Object.entries(k.item))
      if (sf.kind.t === "variants" || sf.kind.t === "tagged") section(sub, sf, out, `${header} ${sub}`);
  } else if (k.t === "tagged") {
    out.push(`### ${header}${required}`, "", f.doc, "");
    for (const [v, fields] of Object.entries(k.variants)) out.push(`${k.tag} = "${v}":`, "", ...table(fields, ""), "");
  } else if (k.t === "variants") {
    out.push(`#### ${header}`, "", f.doc, "");
    for (const [v, fields] of Object.entries(k.variants)) out.push(`\`${v}\` resources:`, "", ...table(fields, ""), "");
    // a table every variant has (monitor) is described once, its keys written as they nest
    const nested = new Map<string, Field>();
    for (const fields of Object.values(k.variants))
      for (const [sub, sf] of Object.entries(fields)) if (sf.kind.t === "table") nested.set(sub, sf);
    for (const [sub, sf] of nested)
      if (sf.kind.t === "table")
        out.push(`\`${sub} = { ... }\` in every resource: ${sf.doc}`, "", ...table(sf.kind.fields, `${sub}.`), "");
  }
  void name;
}

export function renderReference(): string {
  const out: string[] = [BEGIN, ""];
  for (const [name, f] of Object.entries(SCHEMA)) {
    const isArray = f.kind.t === "tables" || f.kind.t === "tagged";
    section(name, f, out, isArray ? `[[${name}]]` : `[${name}]`);
  }
  out.push(END);
  return out.join("\n");
}
