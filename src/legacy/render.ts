/**
 * The ha.toml `hb import` writes: one function per section, each part with a
 * `# from` comment naming the legacy line it came from. Data goes through
 * toml.ts; only comments are written here as text.
 */
import { NAME_PATTERN } from "../config/names.ts";
import type { Keys } from "./authkeys.ts";
import type { HaCf } from "./hacf.ts";
import type { GroupOut } from "./haresources.ts";
import type { Timing } from "./timing.ts";
import { duration, tomlLine, tomlValue } from "./toml.ts";

export interface Model {
  dir: string;
  hacf: HaCf;
  timing: Timing;
  keys: Keys;
  groups: GroupOut[];
}

const KEY_HELP = "umask 077; openssl rand -hex 32 > /etc/hb/authkey";

function cluster({ hacf }: Model): string[] {
  const o = ["[cluster]"];
  const n = hacf.clusterName;
  o.push(n ? `# from ${n.from}` : "# Heartbeat clusters had no name: the name's hash tells clusters on one LAN apart");
  o.push(tomlLine("name", n && NAME_PATTERN.test(n.name) ? n.name : "ha"));
  const af = hacf.autoFailback;
  o.push(af ? `# from ${af.from}` : "# no auto_failback line: Heartbeat's default (legacy) behaves as off");
  o.push(tomlLine("auto_failback", af?.on ?? false));
  return o;
}

function timing({ hacf, timing: t }: Model): string[] {
  const keys = ["keepalive", "warntime", "deadtime", "initdead"] as const;
  return [
    "[timing]",
    ...keys.map(
      (k) =>
        `${tomlLine(k, duration(t[k]))}${hacf.timing[k] ? `  # from ${hacf.timing[k].from}` : "  # Heartbeat's default"}`,
    ),
    ...(hacf.rt ? [`${tomlLine("rt_priority", hacf.rt.prio)}  # from ${hacf.rt.from}`] : []),
  ];
}

function auth({ keys }: Model): string[] {
  const o = ["[auth]", "[[auth.key]]"];
  if (!keys.key) return [...o, "id = 1", `file = "/etc/hb/authkey"  # create it: ${KEY_HELP} (the same on every node)`];
  return [...o, `# from ${keys.key.from}`, tomlLine("id", keys.key.id), tomlLine("secret", keys.key.secret)];
}

const table = (header: string, from: string, fields: Record<string, unknown>): string[] => [
  "",
  `# from ${from}`,
  header,
  ...Object.entries(fields).map(([k, v]) => tomlLine(k, v as never)),
];

function members({ hacf, groups }: Model): string[] {
  return [
    ...hacf.nodes.flatMap((n) => table("[[node]]", n.from, { name: n.name })),
    ...hacf.links.flatMap((l) => table("[[link]]", l.from, l.fields)),
    ...groups.flatMap((g) => [
      ...table("[[group]]", g.from, { name: g.name, preferred: g.preferred }),
      "resources = [",
      ...g.resources.map((r) => `  ${tomlValue(r.value)},  # ${r.line}`),
      "]",
    ]),
  ];
}

function fencing({ hacf }: Model): string[] {
  const first = hacf.stonith[0];
  if (!first)
    return [
      "[fencing]",
      "# Heartbeat had no stonith here: running without fencing is written as the explicit choice",
      'method = "none"',
    ];
  return [
    "[fencing]",
    `# from ${first.from}`,
    "# cluster-glue's stonith tool powers the node off; check the command by hand before relying on it",
    'method = "command"',
    tomlLine("command", first.cmd),
  ];
}

function uplink({ hacf }: Model): string[] {
  if (!hacf.pings.length && !hacf.ipfail) return [];
  const o = ["", "[uplink]", ...[...new Set(hacf.pings.map((x) => x.from))].map((f) => `# from ${f}`)];
  if (hacf.ipfail) o.push(`# from ${hacf.ipfail} (hb moves groups to the node with the better uplink by itself)`);
  o.push(tomlLine("targets", [...new Set(hacf.pings.map((p) => p.ip))]));
  if (hacf.deadping) {
    o.push(`# from ${hacf.deadping.from}`);
    o.push(
      `${tomlLine("misses", Math.max(1, Math.min(100, Math.ceil(hacf.deadping.ms / 1000))))}  # one ping a second`,
    );
  }
  return o;
}

function rest({ hacf, keys }: Model): string[] {
  const o: string[] = [];
  if (hacf.log.length) o.push("", "[log]", ...hacf.log.flatMap((l) => [`# from ${l.from}`, tomlLine(l.key, l.value)]));
  const old = keys.oldKey;
  if (old) {
    o.push("", "[legacy]");
    o.push(`# from ${old.from}: while Heartbeat still runs somewhere, only its packets that verify with this key`);
    o.push("# hold hb off a group (forged ones are ignored); remove it once the migration is done");
    o.push("[[legacy.key]]", tomlLine("id", old.id), tomlLine("method", old.method), tomlLine("secret", old.secret));
  }
  if (hacf.watchdog) o.push("", "[watchdog]", `# from watchdog ${hacf.watchdog}`, tomlLine("device", hacf.watchdog));
  return o;
}

/** Three nodes or more: majority quorum, written out so that the choice can be read (and undone). */
function quorum({ hacf }: Model): string[] {
  if (hacf.nodes.length < 3) return [];
  return [
    "",
    "[quorum]",
    `# ${hacf.nodes.length} nodes: a node holds groups only while it hears a majority of them, so a network split`,
    "# leaves the floating addresses on one side only (Heartbeat gave them to both sides). hb's default from",
    '# three nodes on; "none" acts as Heartbeat did.',
    tomlLine("mode", "majority"),
  ];
}

export function render(m: Model): string {
  const o = [
    `# ha.toml converted by \`hb import\` from ${m.dir} (ha.cf, haresources, authkeys).`,
    "# Each part names the legacy line it came from. Check it with `hb check`.",
    "",
    ...cluster(m),
    "",
    ...timing(m),
    "",
    ...auth(m),
    ...members(m),
    "",
    ...fencing(m),
    ...quorum(m),
    ...uplink(m),
    ...rest(m),
  ];
  return `${o.join("\n")}\n`;
}
