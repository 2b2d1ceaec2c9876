/**
 * `hb import`: Heartbeat v1 files (ha.cf, haresources, authkeys) to ha.toml.
 * Pure: file texts in, TOML text and warnings out. Every ha.cf directive is
 * either mapped or reported with `file:line` and what to do; ha.cf is read in
 * order, as Heartbeat reads it (udpport and baud apply to the media lines
 * after them). Each part of the output carries a comment naming the legacy
 * line it came from. Same input, same output.
 */

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
}

interface Line {
  no: number;
  text: string;
}

/** Logical lines: comments stripped, `\` continuations joined, blank lines dropped. */
function logicalLines(text: string): Line[] {
  const out: Line[] = [];
  const raw = text.replace(/\r\n?/g, "\n").split("\n");
  let acc = "";
  let start = 0;
  raw.forEach((l, i) => {
    const noComment = l.replace(/(^|\s)#.*$/, "").replace(/\t/g, " ");
    if (!acc) start = i + 1;
    if (/\\\s*$/.test(noComment)) {
      acc += `${noComment.replace(/\\\s*$/, "")} `;
      return;
    }
    acc += noComment;
    if (acc.trim()) out.push({ no: start, text: acc.trim().replace(/\s+/g, " ") });
    acc = "";
  });
  if (acc.trim()) out.push({ no: start, text: acc.trim().replace(/\s+/g, " ") });
  return out;
}

/** Heartbeat durations: "2" = seconds, "500ms", "1.5", "2s"; in ms, or undefined. */
export function legacyDuration(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(m[2] === "ms" ? n : m[2] === "us" ? n / 1000 : n * 1000);
}

/** A duration as hb writes it, keeping the unit the user thinks in. */
function dur(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `"${ms / 60_000}m"`;
  if (ms % 1000 === 0) return `"${ms / 1000}s"`;
  if (ms > 1000 && (ms % 100 === 0)) return `"${ms / 1000}s"`;
  return `"${ms}ms"`;
}

const q = (s: string) => JSON.stringify(s);
const IPV4 = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** A dotted netmask to a prefix length, or undefined when it is not a netmask. */
function maskBits(mask: string): number | undefined {
  if (!IPV4.test(mask)) return undefined;
  const n = mask.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const bits = n.toString(2).padStart(32, "0");
  return /^1*0*$/.test(bits) ? bits.indexOf("0") === -1 ? 32 : bits.indexOf("0") : undefined;
}

interface Link {
  from: string;
  body: string[];
}
interface Resource {
  line: string;
  toml: string;
}
interface Group {
  from: string;
  name: string;
  preferred: string;
  resources: Resource[];
}

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
  cluster: "set cluster.name (written below from it)",
  nice_failback: "replaced by auto_failback (see the auto_failback line)",
  quorum_server: "hb has no quorum server: see [uplink] require and [fencing]",
  register_to_apphbd: "nothing to set",
  use_apphbd: "nothing to set",
  enable_config_writes: "hb has no CIB",
  record_config_changes: "hb has no CIB",
  record_pengine_inputs: "hb has no CIB",
};

export function importLegacy(f: LegacyFiles): ImportResult {
  const warnings: string[] = [];
  const warn = (file: string, line: number | undefined, msg: string) => warnings.push(`${f.dir}/${file}${line ? `:${line}` : ""}: ${msg}`);
  const cfg = "ha.cf";

  // ---------- ha.cf ----------
  const timing: Record<"keepalive" | "deadtime" | "warntime" | "initdead", { ms: number; from: string; no: number } | undefined> = { keepalive: undefined, deadtime: undefined, warntime: undefined, initdead: undefined };
  const nodes: { name: string; from: string }[] = [];
  const links: Link[] = [];
  let udpport = 694;
  let baud = 19200;
  let autoFailback: { on: boolean; from: string } | undefined;
  let clusterName: { name: string; from: string } | undefined;
  const pings: { ip: string; from: string }[] = [];
  let ipfail: string | undefined;
  let deadping: { ms: number; from: string; no: number } | undefined;
  const log: string[] = [];
  let watchdog: string | undefined;
  const stonith: { cmd: string[]; from: string }[] = [];
  /** ucast lines by interface: one unicast link each, written once every address is known */
  const ucastByDev = new Map<string, { link: Link; port: number; ips: string[]; from: string[]; no: number }>();

  if (f.haCf === undefined) warn(cfg, undefined, "missing: nothing from it (timing, links, nodes); the output uses hb's defaults and needs [[node]] and [[link]] added by hand");
  for (const { no, text } of logicalLines(f.haCf ?? "")) {
    const [key = "", ...args] = text.split(" ");
    const k = key.toLowerCase();
    const from = `ha.cf:${no}: ${text}`;
    const need = (n: number) => {
      if (args.length >= n) return true;
      warn(cfg, no, `${key} needs ${n} argument${n > 1 ? "s" : ""}: ignored`);
      return false;
    };
    switch (k) {
      case "keepalive":
      case "deadtime":
      case "warntime":
      case "initdead": {
        const ms = legacyDuration(args[0]);
        if (ms === undefined || ms <= 0) warn(cfg, no, `${key} ${args.join(" ")}: not a duration (write 2, 1.5 or 500ms): ignored`);
        else timing[k] = { ms, from, no };
        break;
      }
      case "deadping": {
        const ms = legacyDuration(args[0]);
        if (ms === undefined) warn(cfg, no, `deadping ${args.join(" ")}: not a duration: ignored`);
        else deadping = { ms, from, no };
        break;
      }
      case "udpport": {
        const p = Number(args[0]);
        if (!Number.isInteger(p) || p < 1 || p > 65535) warn(cfg, no, `udpport ${args[0]}: not a port: ignored`);
        else udpport = p;
        break;
      }
      case "baud": {
        const b = Number(args[0]);
        if (![1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400].includes(b)) warn(cfg, no, `baud ${args[0]}: hb supports 1200 to 230400 in the standard steps: ignored`);
        else baud = b;
        break;
      }
      case "bcast":
        if (!need(1)) break;
        for (const dev of args) links.push({ from, body: ['kind = "udp"', `interface = ${q(dev)}`, 'mode = "broadcast"', `port = ${udpport}`] });
        break;
      case "mcast": {
        // mcast dev group port ttl loop
        if (!need(2)) break;
        const [dev, group, port, ttl] = args;
        if (!group || !IPV4.test(group)) { warn(cfg, no, `mcast group ${group}: not an IPv4 address: ignored`); break; }
        const p = port ? Number(port) : udpport;
        const t = ttl ? Number(ttl) : 1;
        if (args[4] && args[4] !== "0") warn(cfg, no, "mcast loop: hb never needs multicast loopback (it ignores its own frames): dropped");
        links.push({ from, body: ['kind = "udp"', `interface = ${q(dev!)}`, 'mode = "multicast"', `group = ${q(group)}`, `port = ${p}`, `ttl = ${t}`] });
        break;
      }
      case "ucast": {
        if (!need(2)) break;
        const [dev, ...ips] = args;
        const bad = ips.filter((ip) => !IPV4.test(ip));
        if (bad.length) warn(cfg, no, `ucast ${bad.join(" ")}: hb needs IPv4 addresses, not host names: write the address`);
        let e = ucastByDev.get(dev!);
        if (!e) {
          e = { link: { from, body: [] }, port: udpport, ips: [], from: [], no };
          ucastByDev.set(dev!, e);
          links.push(e.link); // in order among the other links; its body is written below
        }
        e.ips.push(...ips.filter((ip) => IPV4.test(ip)));
        e.from.push(from);
        break;
      }
      case "serial":
        if (!need(1)) break;
        for (const dev of args) links.push({ from, body: ['kind = "serial"', `device = ${q(dev)}`, `baud = ${baud}`] });
        break;
      case "node":
        if (!need(1)) break;
        for (const n of args) {
          if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(n)) warn(cfg, no, `node ${n}: hb node names are letters, digits, '_', '.', '-': rename it`);
          else if (nodes.some((x) => x.name === n)) warn(cfg, no, `node ${n} is listed twice: once is enough`);
          else nodes.push({ name: n, from });
        }
        break;
      case "auto_failback": {
        const v = (args[0] ?? "").toLowerCase();
        if (["on", "yes", "true", "1"].includes(v)) autoFailback = { on: true, from };
        else if (["off", "no", "false", "0"].includes(v)) autoFailback = { on: false, from };
        else if (v === "legacy") {
          autoFailback = { on: false, from };
          warn(cfg, no, "auto_failback legacy (nice_failback off) has no exact equivalent: off is written; set cluster.auto_failback = true to move groups home when their node returns");
        } else warn(cfg, no, `auto_failback ${args[0]}: expected on, off or legacy: ignored`);
        break;
      }
      case "cluster":
        if (need(1)) clusterName = { name: args[0]!, from };
        break;
      case "ping":
        for (const ip of args) {
          if (IPV4.test(ip)) pings.push({ ip, from });
          else warn(cfg, no, `ping ${ip}: hb pings IPv4 addresses only: write the address`);
        }
        break;
      case "ping_group": {
        if (!need(2)) break;
        const [name, ...ips] = args;
        warn(cfg, no, `ping_group ${name}: hb counts each address as its own target (a group counted as one when any member answered): the members are written as plain targets`);
        for (const ip of ips) if (IPV4.test(ip)) pings.push({ ip, from });
        break;
      }
      case "respawn": {
        const prog = args[1] ?? "";
        if (/ipfail$/.test(prog)) ipfail = from;
        else warn(cfg, no, `respawn ${args.join(" ")}: hb does not supervise programs: run it as its own systemd service (Restart=always)`);
        break;
      }
      case "logfile":
        if (need(1)) log.push(`# from ${from}`, `file = ${q(args[0]!)}`);
        break;
      case "debugfile":
        warn(cfg, no, `debugfile ${args[0] ?? ""}: hb has one log: set log.level = "debug" to have debug records in log.file`);
        break;
      case "logfacility": {
        const fac = (args[0] ?? "").toLowerCase();
        const known = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"];
        if (fac === "none") break;
        if (!known.includes(fac)) warn(cfg, no, `logfacility ${args[0]}: not a syslog facility hb knows (${known.join(", ")}): ignored`);
        else log.push(`# from ${from}`, `facility = ${q(fac)}`);
        break;
      }
      case "use_logd":
        warn(cfg, no, `use_logd ${args[0] ?? ""}: hb sends to syslog itself through /dev/log (log.facility); there is no logd`);
        break;
      case "stonith":
        // stonith TYPE CONFIGFILE
        if (need(2)) stonith.push({ cmd: ["/usr/sbin/stonith", "-t", args[0]!, "-F", args[1]!, "-T", "off"], from });
        break;
      case "stonith_host": {
        // stonith_host HOSTFROM TYPE PARAMS...
        if (!need(2)) break;
        const [hostFrom, type, ...params] = args;
        if (hostFrom !== "*") warn(cfg, no, `stonith_host for ${hostFrom} only: hb runs the same fence command on every node; check it suits all`);
        stonith.push({ cmd: ["/usr/sbin/stonith", "-t", type!, "-p", params.join(" "), "-T", "off"], from });
        break;
      }
      case "watchdog":
        if (need(1)) watchdog = args[0];
        break;
      case "realtime":
        if (!["on", "yes", "true", "off", "no", "false"].includes((args[0] ?? "").toLowerCase())) warn(cfg, no, `realtime ${args[0]}: expected on or off: ignored`);
        else warn(cfg, no, `realtime ${args[0]}: hb's heartbeat runs on its own native thread with exact timers; it needs no real-time priority (set CPUSchedulingPolicy= in the unit if you want one)`);
        break;
      case "rtprio":
        warn(cfg, no, "rtprio: see realtime: hb needs no real-time priority");
        break;
      case "crm":
      case "pacemaker": {
        const v = (args[0] ?? "").toLowerCase();
        if (!["off", "no", "false"].includes(v)) warn(cfg, no, `crm ${args[0]}: a Pacemaker (CRM) cluster keeps its resources in the CIB, not in haresources: this import covers haresources clusters only`);
        break;
      }
      default:
        if (KNOWN_IGNORED[k]) warn(cfg, no, `${key}: ${KNOWN_IGNORED[k]}`);
        else warn(cfg, no, `unknown directive ${q(key)}: ignored (check the spelling; Heartbeat would have refused to start)`);
    }
  }

  // ---------- timing, with Heartbeat's defaults and hb's rules ----------
  const ka = timing.keepalive?.ms ?? 1000;
  const dead = timing.deadtime?.ms ?? 30_000;
  let warnMs = timing.warntime?.ms ?? Math.round(dead / 2);
  const initDefault = dead > 10_000 ? dead : dead < 6000 ? 12_000 : 2 * dead;
  let init = timing.initdead?.ms ?? initDefault;
  if (!(dead > 2 * ka)) warn(cfg, undefined, `deadtime ${dur(dead)} must exceed 2 x keepalive ${dur(ka)} (Heartbeat refused this too): fix [timing]`);
  if (!(warnMs > ka && warnMs < dead)) {
    const fixed = Math.round(ka + (dead - ka) / 2);
    warn(cfg, timing.warntime?.no, `warntime ${dur(warnMs)} is not between keepalive ${dur(ka)} and deadtime ${dur(dead)}: hb requires it; ${dur(fixed)} is written`);
    warnMs = fixed;
  }
  if (init < dead) {
    warn(cfg, timing.initdead?.no, `initdead ${dur(init)} is below deadtime ${dur(dead)}: ${dur(dead)} is written`);
    init = dead;
  }

  // ---------- authkeys ----------
  let key: { id: number; secret?: string; from: string } | undefined;
  /** the old cluster's key as Heartbeat uses it: the legacy guard verifies live Heartbeat nodes with it */
  let oldKey: { id: number; method: string; secret: string; from: string } | undefined;
  if (f.authkeys === undefined) warn("authkeys", undefined, "missing: write a key to /etc/hb/authkey (umask 077; openssl rand -hex 32 > /etc/hb/authkey), the same on every node");
  else {
    if (f.authkeysMode !== undefined && (f.authkeysMode & 0o077) !== 0)
      warn("authkeys", undefined, `readable by group or others (mode ${(f.authkeysMode & 0o777).toString(8)}): the key may be known to others: make a new one when you switch to hb`);
    const lines = logicalLines(f.authkeys);
    const methods = new Map<number, { method: string; secret: string; no: number }>();
    let selected: { n: number; no: number } | undefined;
    for (const { no, text } of lines) {
      const [a, ...rest] = text.split(" ");
      if (a === "auth") {
        const n = Number(rest[0]);
        if (!Number.isInteger(n)) warn("authkeys", no, `auth ${rest[0]}: not a key number`);
        else selected = { n, no };
      } else if (/^\d+$/.test(a ?? "")) {
        const [method = "", ...secret] = rest;
        methods.set(Number(a), { method: method.toLowerCase(), secret: secret.join(" "), no });
      } else warn("authkeys", no, `unreadable line: ${text}`);
    }
    const chosen = selected ? methods.get(selected.n) : undefined;
    if (!selected) warn("authkeys", undefined, "no `auth N` line: which key Heartbeat used is unknown: write a key to /etc/hb/authkey");
    else if (!chosen) warn("authkeys", selected.no, `auth ${selected.n} selects a key that is not listed`);
    else if (chosen.method === "crc") warn("authkeys", chosen.no, "crc is a checksum, not authentication: anyone on the LAN could forge heartbeats; it is not carried over: write a key to /etc/hb/authkey (umask 077; openssl rand -hex 32 > /etc/hb/authkey)");
    else if (chosen.method !== "sha1" && chosen.method !== "md5") warn("authkeys", chosen.no, `method ${chosen.method}: unknown; not carried over`);
    else if (!chosen.secret) warn("authkeys", chosen.no, `${chosen.method} with an empty key: not carried over`);
    else {
      if (selected.n < 1 || selected.n > 255) warn("authkeys", selected.no, `key number ${selected.n} is outside 1..255: written as 1`);
      key = { id: selected.n >= 1 && selected.n <= 255 ? selected.n : 1, secret: chosen.secret, from: `authkeys:${chosen.no}: ${selected.n} ${chosen.method} ****` };
      if (selected.n >= 0 && selected.n <= 15) oldKey = { id: selected.n, method: chosen.method, secret: chosen.secret, from: key.from };
      else warn("authkeys", selected.no, `key number ${selected.n} is outside Heartbeat's 0..15: not written as [[legacy.key]]; the legacy guard will only warn`);
      warnings.push(`${f.dir}/authkeys:${chosen.no}: the ${chosen.method} key is carried over as hb's HMAC-SHA256 key; the wire format is new, so Heartbeat and hb nodes do not hear each other: see the migration guide`);
    }
  }

  // ---------- haresources ----------
  const groups: Group[] = [];
  const firstDev = links.map((l) => /interface = "([^"]+)"/.exec(l.body.join("\n"))?.[1]).find(Boolean) ?? [...ucastByDev.keys()][0];
  const nodeNames = new Set(nodes.map((n) => n.name));
  const aliases = new Map<string, number>();
  if (f.haresources === undefined) warn("haresources", undefined, "missing: no groups are written");
  for (const { no, text } of logicalLines(f.haresources ?? "")) {
    const [preferred = "", ...specs] = text.split(" ");
    const from = `haresources:${no}: ${text}`;
    if (nodeNames.size && !nodeNames.has(preferred)) warn("haresources", no, `${preferred} is not a node of ha.cf: hb will refuse it as preferred node`);
    if (specs.length === 0) { warn("haresources", no, "a node with no resources: ignored"); continue; }
    const resources: Resource[] = [];
    for (const spec of specs) {
      const [type = "", ...args] = spec.split("::");
      const isIp = type === "IPaddr" || type === "IPaddr2" || (args.length === 0 && IPV4.test(type.split("/")[0]!));
      if (isIp) {
        const parts = (type === "IPaddr" || type === "IPaddr2" ? args[0] ?? "" : type).split("/");
        const [ip = "", nm, nic, bcast] = parts;
        if (!IPV4.test(ip)) { warn("haresources", no, `${spec}: ${ip} is not an IPv4 address: skipped`); continue; }
        let prefix: number | undefined;
        if (nm !== undefined && nm !== "") {
          if (/^\d+$/.test(nm) && Number(nm) <= 32) prefix = Number(nm);
          else {
            prefix = maskBits(nm);
            if (prefix === undefined)
              warn("haresources", no, `${spec}: ${nm} is neither a prefix length nor a netmask (the article calls it a gateway). Heartbeat's IPaddr could not use it as a netmask and fell back to the interface whose network holds ${ip}; hb needs prefix and interface written: /24 and ${firstDev ?? "eth0"} are written, check them`);
          }
        } else warn("haresources", no, `${spec}: no prefix: Heartbeat took the netmask of the interface whose network holds ${ip}; /24 is written, check it`);
        const iface = nic || firstDev || "eth0";
        if (!nic) warn("haresources", no, `${spec}: no interface: Heartbeat found it from the routes; ${iface} (the first heartbeat interface) is written, check it`);
        if (bcast) warn("haresources", no, `${spec}: broadcast ${bcast}: hb computes the broadcast address from the prefix`);
        // IPaddr made alias labels (eth0:0, eth0:1, ...); IPaddr2 plain addresses
        const alias = aliases.get(iface) ?? 0;
        if (type !== "IPaddr2") aliases.set(iface, alias + 1);
        resources.push({ line: spec, toml: `{ ip = ${q(`${ip}/${prefix ?? 24}`)}, interface = ${q(iface)}${type === "IPaddr2" ? "" : `, label = ${q(`${iface}:${alias}`)}`} }` });
      } else {
        if (!/^[A-Za-z0-9_.@+-]+$/.test(type)) { warn("haresources", no, `${spec}: not a resource name: skipped`); continue; }
        if (/^(Filesystem|drbddisk|LVM|MailTo|SendArp|Raid1|ServeRAID|WAS|WinPopup|Xinetd|apache|db2|hto-mapfuncs|ICP|IPsrcaddr|IPv6addr|LinuxSCSI|OCF|portblock|AudibleAlarm|Delay|ids)$/.test(type))
          warn("haresources", no, `${spec}: a Heartbeat resource agent: hb calls it from /etc/ha.d/resource.d as "${type} ${args.join(" ")} start|stop" (keep the heartbeat package's resource.d, or copy it)`);
        resources.push({ line: spec, toml: `{ script = ${q(type)}${args.length ? `, args = [${args.map(q).join(", ")}]` : ""} }` });
      }
    }
    if (resources.length === 0) continue;
    const firstScript = /script = "([^"]+)"/.exec(resources.map((r) => r.toml).join(" "))?.[1];
    let name = firstScript && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(firstScript) ? firstScript : `group${groups.length + 1}`;
    if (groups.some((g) => g.name === name)) name = `group${groups.length + 1}`;
    groups.push({ from, name, preferred, resources });
  }

  // ---------- ucast: peers need a node name for each address ----------
  for (const [dev, e] of ucastByDev) {
    const ips = [...new Set(e.ips)];
    const peers: string[] = [];
    if (ips.length === nodes.length) ips.forEach((ip, i) => peers.push(`${nodes[i]!.name} = ${q(ip)}`));
    else if (ips.length === 1 && nodes.length === 2) {
      // Heartbeat's ucast names the other node; which one is that depends on whose ha.cf this was
      peers.push(`${nodes[1]!.name} = ${q(ips[0]!)}`);
      warn(cfg, e.no, `ucast ${dev} ${ips[0]}: Heartbeat's ucast names the other node's address, so this file belongs to one node; it is written as ${nodes[1]!.name}'s address. hb needs every node's address in one list: add ${nodes[0]!.name} = "<its address on ${dev}>" (from the other node's ha.cf), and swap them if this file was ${nodes[1]!.name}'s`);
    } else {
      ips.forEach((ip, i) => peers.push(`${nodes[i]?.name ?? `node${i + 1}`} = ${q(ip)}`));
      warn(cfg, e.no, `ucast ${dev}: ${ips.length} address(es) for ${nodes.length} nodes: matched in order; check that each node name has its own address`);
    }
    e.link.from = e.from.join("\n# from ");
    e.link.body = ['kind = "udp"', `interface = ${q(dev)}`, 'mode = "unicast"', `port = ${e.port}`, `peers = { ${peers.join(", ")} }`];
  }

  // ---------- output ----------
  const o: string[] = [];
  o.push(`# ha.toml converted by \`hb import\` from ${f.dir} (ha.cf, haresources, authkeys).`);
  o.push("# Each part names the legacy line it came from. Check it with `hb check`.");
  o.push("");
  o.push("[cluster]");
  if (clusterName) o.push(`# from ${clusterName.from}`);
  else o.push("# Heartbeat clusters had no name: the name's hash tells clusters on one LAN apart");
  o.push(`name = ${q(clusterName && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(clusterName.name) ? clusterName.name : "ha")}`);
  if (autoFailback) o.push(`# from ${autoFailback.from}`);
  else o.push("# no auto_failback line: Heartbeat's default (legacy) behaves as off");
  o.push(`auto_failback = ${autoFailback?.on ?? false}`);
  o.push("");
  o.push("[timing]");
  for (const [k, ms, src] of [["keepalive", ka, timing.keepalive], ["warntime", warnMs, timing.warntime], ["deadtime", dead, timing.deadtime], ["initdead", init, timing.initdead]] as const) {
    o.push(`${k} = ${dur(ms)}${src ? `  # from ${src.from}` : "  # Heartbeat's default"}`);
  }
  o.push("");
  o.push("[auth]");
  o.push("[[auth.key]]");
  if (key) {
    o.push(`# from ${key.from}`);
    o.push(`id = ${key.id}`);
    o.push(`secret = ${q(key.secret!)}`);
  } else {
    o.push("id = 1");
    o.push('file = "/etc/hb/authkey"  # create it: umask 077; openssl rand -hex 32 > /etc/hb/authkey (the same on every node)');
  }
  for (const n of nodes) {
    o.push("");
    o.push(`# from ${n.from}`);
    o.push("[[node]]");
    o.push(`name = ${q(n.name)}`);
  }
  for (const l of links) {
    o.push("");
    o.push(`# from ${l.from}`);
    o.push("[[link]]");
    o.push(...l.body);
  }
  for (const g of groups) {
    o.push("");
    o.push(`# from ${g.from}`);
    o.push("[[group]]");
    o.push(`name = ${q(g.name)}`);
    o.push(`preferred = ${q(g.preferred)}`);
    o.push("resources = [");
    for (const r of g.resources) o.push(`  ${r.toml},  # ${r.line}`);
    o.push("]");
  }
  o.push("");
  o.push("[fencing]");
  if (stonith.length) {
    if (stonith.length > 1) warn(cfg, undefined, `${stonith.length} stonith lines: hb runs one fence command; the first is written`);
    o.push(`# from ${stonith[0]!.from}`);
    o.push('# cluster-glue\'s stonith tool powers the node off; check the command by hand before relying on it');
    o.push('method = "command"');
    o.push(`command = [${stonith[0]!.cmd.map(q).join(", ")}]`);
  } else {
    o.push("# Heartbeat had no stonith here: running without fencing is written as the explicit choice");
    o.push('method = "none"');
  }
  if (pings.length || ipfail) {
    o.push("");
    o.push("[uplink]");
    for (const p of [...new Set(pings.map((x) => x.from))]) o.push(`# from ${p}`);
    if (ipfail) o.push(`# from ${ipfail} (hb moves groups to the node with the better uplink by itself)`);
    o.push(`targets = [${[...new Set(pings.map((p) => p.ip))].map(q).join(", ")}]`);
    if (deadping) {
      o.push(`# from ${deadping.from}`);
      o.push(`misses = ${Math.max(1, Math.min(100, Math.ceil(deadping.ms / 1000)))}  # one ping a second`);
    }
    if (ipfail && pings.length === 0) warn(cfg, undefined, "ipfail is respawned but no ping targets are listed: add [uplink] targets");
  } else if (deadping) warn(cfg, deadping.no, "deadping without ping targets: ignored");
  if (log.length) {
    o.push("");
    o.push("[log]");
    o.push(...log);
  }
  if (oldKey) {
    o.push("");
    o.push("[legacy]");
    o.push(`# from ${oldKey.from}: while Heartbeat still runs somewhere, only its packets that verify with this key`);
    o.push("# hold hb off a group (forged ones are ignored); remove it once the migration is done");
    o.push("[[legacy.key]]");
    o.push(`id = ${oldKey.id}`);
    o.push(`method = ${q(oldKey.method)}`);
    o.push(`secret = ${q(oldKey.secret)}`);
  }
  if (watchdog) {
    o.push("");
    o.push("[watchdog]");
    o.push(`# from watchdog ${watchdog}`);
    o.push(`device = ${q(watchdog)}`);
  }
  return { toml: `${o.join("\n")}\n`, warnings, hasKey: Boolean(key) };
}
