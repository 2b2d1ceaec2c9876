/**
 * ha.toml(5), rendered from SCHEMA like the README reference (src/config/reference.ts): every key with
 * its type, default, meaning and the reason for its default. `make man` writes it to build/man.
 */
import { defaultOf, typeOf } from "./reference.ts";
import { roff, th } from "./roff.ts";
import { type Field, type Fields, SCHEMA } from "./schema.ts";

const nested = ["table", "tables", "tagged", "variants"];

function keys(fields: Fields, prefix = ""): string[] {
  const out: string[] = [];
  for (const [name, f] of Object.entries(fields)) {
    if (nested.includes(f.kind.t)) continue;
    out.push(".TP", `.B ${roff(prefix + name)}`, `${roff(typeOf(f))}; default ${roff(defaultOf(f))}.`);
    out.push(roff(f.doc));
    if (f.reason) out.push(`.I Why this default:`, `${roff(f.reason)}.`);
  }
  return out;
}

function section(title: string, f: Field): string[] {
  const k = f.kind;
  const out = [`.SS ${roff(title)}${f.required ? " (required)" : ""}`, roff(f.doc)];
  if (k.t === "table") {
    out.push(...keys(k.fields));
    for (const [sub, sf] of Object.entries(k.fields))
      if (nested.includes(sf.kind.t)) out.push(...section(`[[${title.replace(/^\[+|\]+$/g, "")}.${sub}]]`, sf));
  } else if (k.t === "tables") {
    out.push(...keys(k.item));
    for (const [sub, sf] of Object.entries(k.item))
      if (sf.kind.t === "variants" || sf.kind.t === "tagged") out.push(...section(`${title} ${sub}`, sf));
  } else if (k.t === "tagged") {
    for (const [v, fields] of Object.entries(k.variants)) out.push(".PP", `${k.tag} = "${v}":`, ...keys(fields));
  } else if (k.t === "variants") {
    const inner = new Map<string, Field>();
    for (const [v, fields] of Object.entries(k.variants)) {
      out.push(".PP", `\\fB${v}\\fR resources:`, ...keys(fields));
      for (const [sub, sf] of Object.entries(fields)) if (sf.kind.t === "table") inner.set(sub, sf);
    }
    for (const [sub, sf] of inner)
      if (sf.kind.t === "table")
        out.push(".PP", `${sub} = { ... } in every resource: ${roff(sf.doc)}`, ...keys(sf.kind.fields, `${sub}.`));
  }
  return out;
}

export function tomlManPage(version: string, date: string): string {
  const out = [
    th("ha.toml", 5, date, version, "File Formats"),
    ".SH NAME",
    "ha.toml \\- configuration of the hb high-availability daemon",
    ".SH SYNOPSIS",
    "/etc/hb/ha.toml",
    ".SH DESCRIPTION",
    "One TOML 1.0 file, the same on every node, holds the whole cluster: its nodes, the heartbeat links, the resource groups and how they move.",
    'Durations are strings with a unit ("150ms", "2s", "1m").',
    "Unknown keys are errors (with a guess at the key meant), and",
    ".B hb check",
    "prints every problem with its file, line and column.",
    "A file that holds a secret must not be readable by group or others.",
    ".SH SECTIONS",
  ];
  for (const [name, f] of Object.entries(SCHEMA)) {
    const isArray = f.kind.t === "tables" || f.kind.t === "tagged";
    out.push(...section(isArray ? `[[${name}]]` : `[${name}]`, f));
  }
  out.push(".SH EXAMPLE", "See /etc/hb/ha.toml.example (examples/ha.toml in the source).");
  out.push(".SH SEE ALSO", ".BR hb (8)");
  return `${out.join("\n")}\n`;
}
