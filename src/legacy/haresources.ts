/** haresources: one group per line, `node resource resource...`, addresses and scripts in order. */
import { isIPv6 } from "node:net";
import { IPV4_PATTERN, NAME_PATTERN } from "../config/names.ts";
import { logicalLines, maskBits, type Warn } from "./lines.ts";
import type { Value } from "./toml.ts";

export interface ResourceOut {
  /** the haresources word it came from */
  line: string;
  value: Record<string, Value>;
}
export interface GroupOut {
  from: string;
  name: string;
  preferred: string;
  resources: ResourceOut[];
}

interface Context {
  /** the first heartbeat interface: where an address with no interface most likely lives */
  firstDev: string | undefined;
  /** IPaddr made alias labels (eth0:0, eth0:1, ...): the next number per interface */
  aliases: Map<string, number>;
  warn: (msg: string) => void;
}

const AGENTS =
  /^(Filesystem|drbddisk|LVM|MailTo|SendArp|Raid1|ServeRAID|WAS|WinPopup|Xinetd|apache|db2|hto-mapfuncs|ICP|IPsrcaddr|LinuxSCSI|OCF|portblock|AudibleAlarm|Delay|ids)$/;
/** Heartbeat's address agents: hb adds these addresses itself */
const IP_AGENTS = ["IPaddr", "IPaddr2", "IPv6addr"];

function prefixOf(spec: string, ip: string, nm: string | undefined, c: Context): number {
  if (nm === undefined || nm === "") {
    c.warn(
      `${spec}: no prefix: Heartbeat took the netmask of the interface whose network holds ${ip}; /24 is written, check it`,
    );
    return 24;
  }
  if (/^\d+$/.test(nm) && Number(nm) <= 32) return Number(nm);
  const bits = maskBits(nm);
  if (bits === undefined)
    c.warn(
      `${spec}: ${nm} is neither a prefix length nor a netmask (the article calls it a gateway). Heartbeat's IPaddr could not use it as a netmask and fell back to the interface whose network holds ${ip}; hb needs prefix and interface written: /24 and ${c.firstDev ?? "eth0"} are written, check them`,
    );
  return bits ?? 24;
}

/** IPv6addr::ip/prefix/nic (or IPaddr2 with an IPv6 address): no labels, prefix 64 when absent. */
function address6(spec: string, ip: string, nm: string | undefined, nic: string | undefined, c: Context): ResourceOut {
  const prefix = nm && /^\d+$/.test(nm) && Number(nm) <= 128 ? Number(nm) : 64;
  if (prefix !== Number(nm)) c.warn(`${spec}: no usable prefix: /64 is written, check it`);
  const iface = (nic || c.firstDev || "eth0").split(":")[0]!;
  if (!nic) c.warn(`${spec}: no interface: ${iface} (the first heartbeat interface) is written, check it`);
  return { line: spec, value: { ip: `${ip}/${prefix}`, interface: iface } };
}

/** IPaddr::ip/mask/nic/bcast, IPaddr2::..., IPv6addr::..., or a bare address. */
function address(spec: string, type: string, arg: string | undefined, c: Context): ResourceOut | undefined {
  const [ip = "", nm, nic, bcast] = (IP_AGENTS.includes(type) ? (arg ?? "") : type).split("/");
  if (isIPv6(ip)) return address6(spec, ip, nm, nic, c);
  if (!IPV4_PATTERN.test(ip)) {
    c.warn(`${spec}: ${ip} is not an IP address: skipped`);
    return undefined;
  }
  const prefix = prefixOf(spec, ip, nm, c);
  // "eth0:web": the interface, and the label the address carries there
  const [dev, alias] = (nic ?? "").split(":");
  const iface = dev || c.firstDev || "eth0";
  if (!nic)
    c.warn(
      `${spec}: no interface: Heartbeat found it from the routes; ${iface} (the first heartbeat interface) is written, check it`,
    );
  if (bcast) c.warn(`${spec}: broadcast ${bcast}: hb computes the broadcast address from the prefix`);
  const value: Record<string, Value> = { ip: `${ip}/${prefix}`, interface: iface };
  if (alias) value.label = nic!;
  else if (type !== "IPaddr2") {
    const alias = c.aliases.get(iface) ?? 0;
    c.aliases.set(iface, alias + 1);
    value.label = `${iface}:${alias}`;
  }
  return { line: spec, value };
}

function script(spec: string, type: string, args: string[], c: Context): ResourceOut | undefined {
  if (!/^[A-Za-z0-9_.@+-]+$/.test(type)) {
    c.warn(`${spec}: not a resource name: skipped`);
    return undefined;
  }
  if (AGENTS.test(type))
    c.warn(
      `${spec}: a Heartbeat resource agent: hb calls it from /etc/ha.d/resource.d as "${type} ${args.join(" ")} start|stop" (keep the heartbeat package's resource.d, or copy it)`,
    );
  // Heartbeat read a status by its words, not its exit code: so does the monitor of an imported script
  const monitor = { style: "heartbeat" };
  return { line: spec, value: args.length ? { script: type, args, monitor } : { script: type, monitor } };
}

function resource(spec: string, c: Context): ResourceOut | undefined {
  const [type = "", ...args] = spec.split("::");
  // an address agent's one argument may itself hold "::" (IPv6): everything after the first "::"
  if (IP_AGENTS.includes(type)) return address(spec, type, spec.slice(type.length + 2), c);
  if (args.length === 0 && IPV4_PATTERN.test(type.split("/")[0]!)) return address(spec, type, undefined, c);
  return script(spec, type, args, c);
}

/** A group is named after its first script (the service), else group1, group2... */
function groupName(resources: ResourceOut[], groups: GroupOut[]): string {
  const first = resources.find((r) => typeof r.value.script === "string")?.value.script as string | undefined;
  const name = first && NAME_PATTERN.test(first) ? first : `group${groups.length + 1}`;
  return groups.some((g) => g.name === name) ? `group${groups.length + 1}` : name;
}

export function parseHaresources(text: string, nodes: string[], firstDev: string | undefined, warn: Warn): GroupOut[] {
  const groups: GroupOut[] = [];
  const aliases = new Map<string, number>();
  for (const { no, text: line } of logicalLines(text)) {
    const [preferred = "", ...specs] = line.split(" ");
    const c: Context = { firstDev, aliases, warn: (msg) => warn(no, msg) };
    if (nodes.length && !nodes.includes(preferred))
      c.warn(`${preferred} is not a node of ha.cf: hb will refuse it as preferred node`);
    if (specs.length === 0) {
      c.warn("a node with no resources: ignored");
      continue;
    }
    const resources = specs.flatMap((s) => resource(s, c) ?? []);
    if (resources.length)
      groups.push({ from: `haresources:${no}: ${line}`, name: groupName(resources, groups), preferred, resources });
  }
  return groups;
}
