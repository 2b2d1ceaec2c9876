/**
 * `hb import`: Heartbeat v1 files (ha.cf, haresources, authkeys) to ha.toml.
 * Pure: file texts in, TOML text and warnings out. Every ha.cf directive is
 * either mapped or reported with `file:line` and what to do (hacf.ts); each
 * part of the output carries a comment naming the legacy line it came from
 * (render.ts). Same input, same output.
 */
import { type Keys, parseAuthkeys } from "./authkeys.ts";
import { type HaCf, parseHaCf } from "./hacf.ts";
import { parseHaresources } from "./haresources.ts";
import type { Warn } from "./lines.ts";
import { render } from "./render.ts";
import { resolveTiming, resolveUcast } from "./timing.ts";

export { legacyDuration } from "./lines.ts";

export interface LegacyFiles {
  /** directory the files came from, for messages */
  dir: string;
  haCf?: string;
  haresources?: string;
  authkeys?: string;
  /** mode bits of authkeys (group/other access is reported) */
  authkeysMode?: number;
}

export interface ImportResult {
  toml: string;
  warnings: string[];
  /** the output carries a key: write it 0600 */
  hasKey: boolean;
  /** why nothing can be imported (a Pacemaker cluster): the command then fails */
  refused?: string;
}

const MISSING = {
  haCf: "missing: nothing from it (timing, links, nodes); the output uses hb's defaults and needs [[node]] and [[link]] added by hand",
  authkeys:
    "missing: write a key to /etc/hb/authkey (umask 077; openssl rand -hex 32 > /etc/hb/authkey), the same on every node",
  haresources: "missing: no groups are written",
};

/** The interface an address with no interface most likely lives on: the first heartbeat interface. */
const firstDev = (h: HaCf): string | undefined =>
  h.links.map((l) => l.fields.interface).find((i): i is string => typeof i === "string") ?? [...h.ucast.keys()][0];

/** Warnings that only the whole picture shows. */
function crossWarnings(h: HaCf, warn: Warn): void {
  if (h.stonith.length > 1)
    warn(undefined, `${h.stonith.length} stonith lines: hb runs one fence command; the first is written`);
  if (h.ipfail && h.pings.length === 0)
    warn(undefined, "ipfail is respawned but no ping targets are listed: add [uplink] targets");
  if (h.deadping && !h.pings.length && !h.ipfail) warn(h.deadping.no, "deadping without ping targets: ignored");
}

export function importLegacy(f: LegacyFiles): ImportResult {
  const warnings: string[] = [];
  const warnIn =
    (file: string): Warn =>
    (line, msg) =>
      warnings.push(`${f.dir}/${file}${line ? `:${line}` : ""}: ${msg}`);
  const cf = warnIn("ha.cf");
  if (f.haCf === undefined) cf(undefined, MISSING.haCf);
  const hacf = parseHaCf(f.haCf ?? "", cf);
  const timing = resolveTiming(hacf.timing, cf);
  let keys: Keys = {};
  if (f.authkeys === undefined) warnIn("authkeys")(undefined, MISSING.authkeys);
  else keys = parseAuthkeys(f.authkeys, f.authkeysMode, warnIn("authkeys"));
  if (f.haresources === undefined) warnIn("haresources")(undefined, MISSING.haresources);
  const nodes = hacf.nodes.map((n) => n.name);
  const groups = parseHaresources(f.haresources ?? "", nodes, firstDev(hacf), warnIn("haresources"));
  resolveUcast(hacf, cf);
  crossWarnings(hacf, cf);
  const toml = render({ dir: f.dir, hacf, timing, keys, groups });
  return { toml, warnings, hasKey: Boolean(keys.key), ...(hacf.refused ? { refused: hacf.refused } : {}) };
}
