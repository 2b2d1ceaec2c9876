/**
 * ha.cf, read in order as Heartbeat reads it (udpport and baud apply to the
 * media lines after them). Every directive is either mapped into the model or
 * reported with its line and what to do instead: one handler per directive.
 */
import {
  BAUDS,
  DEFAULT_BAUD,
  DEFAULT_UDP_PORT,
  IPV4_PATTERN,
  NAME_PATTERN,
  SYSLOG_FACILITIES,
} from "../config/names.ts";
import { legacyDuration, logicalLines, type Warn } from "./lines.ts";
import type { Value } from "./toml.ts";

export interface Sourced {
  /** the legacy line, for the `# from` comment */
  from: string;
}
export interface Timed extends Sourced {
  ms: number;
  no: number;
}
export type TimingKey = "keepalive" | "deadtime" | "warntime" | "initdead";
export interface LinkOut extends Sourced {
  fields: Record<string, Value>;
}
/** ucast lines of one interface: one unicast link, written once every address is known. */
export interface Ucast {
  link: LinkOut;
  port: number;
  ips: string[];
  lines: string[];
  no: number;
}

export interface HaCf {
  timing: Partial<Record<TimingKey, Timed>>;
  deadping?: Timed;
  nodes: (Sourced & { name: string })[];
  links: LinkOut[];
  ucast: Map<string, Ucast>;
  udpport: number;
  baud: number;
  autoFailback?: Sourced & { on: boolean };
  clusterName?: Sourced & { name: string };
  pings: (Sourced & { ip: string })[];
  ipfail?: string;
  log: (Sourced & { key: "file" | "facility"; value: string })[];
  watchdog?: string;
  stonith: (Sourced & { cmd: string[] })[];
  /** realtime / rtprio: the heartbeat thread's real-time priority (0: off) */
  rt?: Sourced & { prio: number };
  /** why this ha.cf cannot be imported at all (crm on: a Pacemaker cluster) */
  refused?: string;
}

interface Directive {
  key: string;
  args: string[];
  no: number;
  from: string;
  warn: (msg: string) => void;
  /** at least n arguments, or a warning and false */
  need: (n: number) => boolean;
}
type Handler = (m: HaCf, d: Directive) => void;

const KNOWN_IGNORED: Record<string, string> = {
  hopfudge: "hb does not forward heartbeats between nodes; nothing to set",
  hbgenmethod: "hb keeps its boot generation in state_dir by itself",
  compression: "hb frames are small and never compressed",
  compression_threshold: "hb frames are small and never compressed",
  traditional_compression: "hb frames are small and never compressed",
  coredumps: "use systemd's LimitCORE= or ulimit for core dumps",
  coreroot: "use systemd's LimitCORE= or ulimit for core dumps",
  autojoin: "hb clusters list every node: nodes cannot join on their own",
  uuidfrom: "hb identifies nodes by name and id",
  conn_logd_time: "hb logs to syslog itself (log.facility)",
  max_rexmit_delay: "hb does not retransmit: every beat carries the full state",
  msgfmt: "hb has its own frame format",
  apiauth: "hb has no client API; the control socket is root only",
  debug: "use --log-level debug or log.level",
  badpack: "hb counts bad frames by reason (hb status)",
  syslogmsgfmt: "hb log files have one line per record",
  memreserve: "nothing to set",
  env: "hb does not start respawn clients",
  failfast: "hb does not start respawn clients",
  nice_failback: "replaced by auto_failback (see the auto_failback line)",
  quorum_server: "hb has no quorum server: see [uplink] require and [fencing]",
  register_to_apphbd: "nothing to set",
  use_apphbd: "nothing to set",
  enable_config_writes: "hb has no CIB",
  record_config_changes: "hb has no CIB",
  record_pengine_inputs: "hb has no CIB",
};

const timing: Handler = (m, d) => {
  const ms = legacyDuration(d.args[0]);
  if (ms === undefined || ms <= 0)
    d.warn(`${d.key} ${d.args.join(" ")}: not a duration (write 2, 1.5 or 500ms): ignored`);
  else m.timing[d.key.toLowerCase() as TimingKey] = { ms, from: d.from, no: d.no };
};

const deadping: Handler = (m, d) => {
  const ms = legacyDuration(d.args[0]);
  if (ms === undefined) d.warn(`deadping ${d.args.join(" ")}: not a duration: ignored`);
  else m.deadping = { ms, from: d.from, no: d.no };
};

const udpport: Handler = (m, d) => {
  const p = Number(d.args[0]);
  if (!Number.isInteger(p) || p < 1 || p > 65535) d.warn(`udpport ${d.args[0]}: not a port: ignored`);
  else m.udpport = p;
};

const baud: Handler = (m, d) => {
  const b = Number(d.args[0]);
  if (!(BAUDS as readonly number[]).includes(b))
    d.warn(`baud ${d.args[0]}: hb supports ${BAUDS[0]} to ${BAUDS.at(-1)} in the standard steps: ignored`);
  else m.baud = b;
};

const bcast: Handler = (m, d) => {
  if (!d.need(1)) return;
  for (const dev of d.args)
    m.links.push({ from: d.from, fields: { kind: "udp", interface: dev, mode: "broadcast", port: m.udpport } });
};

/** mcast dev group port ttl loop */
const mcast: Handler = (m, d) => {
  if (!d.need(2)) return;
  const [dev, group, port, ttl, loop] = d.args;
  if (!group || !IPV4_PATTERN.test(group)) return d.warn(`mcast group ${group}: not an IPv4 address: ignored`);
  if (loop && loop !== "0")
    d.warn("mcast loop: hb never needs multicast loopback (it ignores its own frames): dropped");
  const p = port === undefined ? m.udpport : Number(port);
  const t = ttl === undefined ? 1 : Number(ttl);
  if (!Number.isInteger(p) || p < 1 || p > 65535 || !Number.isInteger(t) || t < 1 || t > 255)
    return d.warn(`mcast port ${port} ttl ${ttl}: a port is 1..65535 and a ttl 1..255: ignored`);
  const fields = { kind: "udp", interface: dev!, mode: "multicast", group, port: p, ttl: t };
  m.links.push({ from: d.from, fields });
};

const ucast: Handler = (m, d) => {
  if (!d.need(2)) return;
  const [dev = "", ...ips] = d.args;
  const bad = ips.filter((ip) => !IPV4_PATTERN.test(ip));
  if (bad.length) d.warn(`ucast ${bad.join(" ")}: hb needs IPv4 addresses, not host names: write the address`);
  let e = m.ucast.get(dev);
  if (!e) {
    e = { link: { from: d.from, fields: {} }, port: m.udpport, ips: [], lines: [], no: d.no };
    m.ucast.set(dev, e);
    m.links.push(e.link); // in order among the other links; its fields are written by resolveUcast
  }
  e.ips.push(...ips.filter((ip) => IPV4_PATTERN.test(ip)));
  e.lines.push(d.from);
};

const serial: Handler = (m, d) => {
  if (!d.need(1)) return;
  for (const dev of d.args) m.links.push({ from: d.from, fields: { kind: "serial", device: dev, baud: m.baud } });
};

const node: Handler = (m, d) => {
  if (!d.need(1)) return;
  for (const n of d.args) {
    if (!NAME_PATTERN.test(n)) d.warn(`node ${n}: hb node names are letters, digits, '_', '.', '-': rename it`);
    else if (m.nodes.some((x) => x.name === n)) d.warn(`node ${n} is listed twice: once is enough`);
    else m.nodes.push({ name: n, from: d.from });
  }
};

const autoFailback: Handler = (m, d) => {
  const v = (d.args[0] ?? "").toLowerCase();
  if (["on", "yes", "true", "1"].includes(v)) m.autoFailback = { on: true, from: d.from };
  else if (["off", "no", "false", "0"].includes(v)) m.autoFailback = { on: false, from: d.from };
  else if (v === "legacy") {
    m.autoFailback = { on: false, from: d.from };
    d.warn(
      "auto_failback legacy (nice_failback off) has no exact equivalent: off is written; set cluster.auto_failback = true to move groups home when their node returns",
    );
  } else d.warn(`auto_failback ${d.args[0]}: expected on, off or legacy: ignored`);
};

const ping: Handler = (m, d) => {
  for (const ip of d.args) {
    if (IPV4_PATTERN.test(ip)) m.pings.push({ ip, from: d.from });
    else d.warn(`ping ${ip}: hb pings IPv4 addresses only: write the address`);
  }
};

const pingGroup: Handler = (m, d) => {
  if (!d.need(2)) return;
  const [name, ...ips] = d.args;
  d.warn(
    `ping_group ${name}: hb counts each address as its own target (a group counted as one when any member answered): the members are written as plain targets`,
  );
  for (const ip of ips) if (IPV4_PATTERN.test(ip)) m.pings.push({ ip, from: d.from });
};

const respawn: Handler = (m, d) => {
  if (/ipfail$/.test(d.args[1] ?? "")) m.ipfail = d.from;
  else
    d.warn(
      `respawn ${d.args.join(" ")}: hb does not supervise programs: run it as its own systemd service (Restart=always)`,
    );
};

const logfacility: Handler = (m, d) => {
  const fac = (d.args[0] ?? "").toLowerCase();
  if (fac === "none") return;
  if (!(SYSLOG_FACILITIES as readonly string[]).includes(fac))
    d.warn(`logfacility ${d.args[0]}: not a syslog facility hb knows (${SYSLOG_FACILITIES.join(", ")}): ignored`);
  else m.log.push({ from: d.from, key: "facility", value: fac });
};

/** stonith_host HOSTFROM TYPE PARAMS... */
const stonithHost: Handler = (m, d) => {
  if (!d.need(2)) return;
  const [hostFrom, type, ...params] = d.args;
  if (hostFrom !== "*")
    d.warn(`stonith_host for ${hostFrom} only: hb runs the same fence command on every node; check it suits all`);
  m.stonith.push({ cmd: ["/usr/sbin/stonith", "-t", type!, "-p", params.join(" "), "-T", "off"], from: d.from });
};

/** realtime on/off and rtprio N: the heartbeat thread's real-time priority (timing.rt_priority). */
const realtime: Handler = (m, d) => {
  const v = (d.args[0] ?? "").toLowerCase();
  if (["off", "no", "false"].includes(v)) m.rt = { prio: 0, from: d.from };
  else if (!["on", "yes", "true"].includes(v)) d.warn(`realtime ${d.args[0]}: expected on or off: ignored`);
  else if (m.rt?.prio !== 0) m.rt ??= { prio: 10, from: d.from };
};
const rtprio: Handler = (m, d) => {
  const n = Number(d.args[0]);
  if (!Number.isInteger(n) || n < 1 || n > 99) d.warn(`rtprio ${d.args[0]}: expected 1 to 99: ignored`);
  else if (m.rt?.prio !== 0) m.rt = { prio: n, from: d.from };
};

const crm: Handler = (m, d) => {
  if (!["off", "no", "false"].includes((d.args[0] ?? "").toLowerCase()))
    m.refused = `${d.from}: a Pacemaker (CRM) cluster keeps its resources in the CIB, not in haresources; hb replaces haresources clusters only, so nothing was imported`;
};

const DIRECTIVES: Record<string, Handler> = {
  keepalive: timing,
  deadtime: timing,
  warntime: timing,
  initdead: timing,
  deadping,
  udpport,
  baud,
  bcast,
  mcast,
  ucast,
  serial,
  node,
  auto_failback: autoFailback,
  cluster: (m, d) => {
    if (d.need(1)) m.clusterName = { name: d.args[0]!, from: d.from };
  },
  ping,
  ping_group: pingGroup,
  respawn,
  logfile: (m, d) => {
    if (d.need(1)) m.log.push({ from: d.from, key: "file", value: d.args[0]! });
  },
  debugfile: (_m, d) =>
    d.warn(`debugfile ${d.args[0] ?? ""}: hb has one log: set log.level = "debug" to have debug records in log.file`),
  logfacility,
  use_logd: (_m, d) =>
    d.warn(`use_logd ${d.args[0] ?? ""}: hb sends to syslog itself through /dev/log (log.facility); there is no logd`),
  /** stonith TYPE CONFIGFILE */
  stonith: (m, d) => {
    if (d.need(2))
      m.stonith.push({ cmd: ["/usr/sbin/stonith", "-t", d.args[0]!, "-F", d.args[1]!, "-T", "off"], from: d.from });
  },
  stonith_host: stonithHost,
  watchdog: (m, d) => {
    if (d.need(1)) m.watchdog = d.args[0];
  },
  realtime,
  rtprio,
  crm,
  pacemaker: crm,
};

export function parseHaCf(text: string, warn: Warn): HaCf {
  const m: HaCf = {
    timing: {},
    nodes: [],
    links: [],
    ucast: new Map(),
    udpport: DEFAULT_UDP_PORT,
    baud: DEFAULT_BAUD,
    pings: [],
    log: [],
    stonith: [],
  };
  for (const { no, text: line } of logicalLines(text)) {
    const [key = "", ...args] = line.split(" ");
    const k = key.toLowerCase();
    const w = (msg: string) => warn(no, msg);
    const need = (n: number) => {
      if (args.length < n) w(`${key} needs ${n} argument${n > 1 ? "s" : ""}: ignored`);
      return args.length >= n;
    };
    const handler = Object.hasOwn(DIRECTIVES, k) ? DIRECTIVES[k] : undefined;
    if (handler) handler(m, { key, args, no, from: `ha.cf:${no}: ${line}`, warn: w, need });
    else if (Object.hasOwn(KNOWN_IGNORED, k)) w(`${key}: ${KNOWN_IGNORED[k]}`);
    else
      w(
        `unknown directive ${JSON.stringify(key)}: ignored (check the spelling; Heartbeat would have refused to start)`,
      );
  }
  return m;
}
