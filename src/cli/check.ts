/** `hb check`: validate the config and print a short summary of the cluster. */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { formatDuration } from "../config/duration.ts";
import type { Config, LinkConfig, ResourceConfig } from "../config/schema.ts";
import { groupId } from "../native/shim.ts";
import { CHILD_ENV } from "../resources/exec.ts";
import { findScript } from "../resources/runner.ts";

const link = (l: LinkConfig): string => {
  switch (l.kind) {
    case "ether": {
      const peers = Object.keys(l.peer_mac);
      return `raw Ethernet on ${l.interface}, ${peers.length ? `unicast to ${peers.join(", ")}` : "broadcast"}`;
    }
    case "udp":
      return `UDP ${l.mode} on ${l.interface} port ${l.port}${l.mode === "multicast" ? ` group ${l.group} ttl ${l.ttl}` : ""}${
        l.mode === "unicast"
          ? ` to ${Object.entries(l.peers)
              .map(([n, a]) => `${n}=${a}`)
              .join(", ")}`
          : ""
      }`;
    case "serial":
      return `serial ${l.device} at ${l.baud} bit/s`;
  }
};

const resource = (r: ResourceConfig): string => {
  switch (r.kind) {
    case "ip":
      return `ip ${r.address}/${r.prefix} on ${r.label ?? r.interface}`;
    case "script":
      return `script ${[r.script, ...r.args].join(" ")}`;
    case "systemd":
      return `systemd ${r.systemd}`;
  }
};

export function summary(c: Config): string {
  const self = c.nodes.find((n) => n.name === c.cluster.node)!;
  const t = c.timing;
  const lines = [
    `${c.file}: OK`,
    `cluster ${c.cluster.name}: this node is ${self.name} (id ${self.id}); nodes ${c.nodes.map((n) => `${n.name}(${n.id})`).join(", ")}`,
    `timing: keepalive ${formatDuration(t.keepalive)}, warntime ${formatDuration(t.warntime)}, deadtime ${formatDuration(t.deadtime)}, initdead ${formatDuration(t.initdead)}; auto_failback ${c.cluster.auto_failback ? "on" : "off"}`,
    `auth: ${c.auth.keys.length} key${c.auth.keys.length === 1 ? "" : "s"} (ids ${c.auth.keys.map((k) => k.id).join(", ")}), signing with ${c.auth.send}`,
    `links (${c.links.length}):`,
    ...c.links.map((l) => `  ${l.name}: ${link(l)}`),
    `groups (${c.groups.length}):`,
    ...c.groups.map((g) => `  ${g.name}, preferred ${g.preferred}: ${g.resources.map(resource).join(", ")}`),
  ];
  lines.push(
    c.fencing.method === "command"
      ? `fencing: ${c.fencing.command.join(" ")} NODE (timeout ${formatDuration(c.fencing.timeout)})`
      : "fencing: none (chosen in the config): a node that only looks dead may keep its addresses until its lease ends",
  );
  if (c.quorum.mode === "majority")
    lines.push(
      `quorum: majority of ${Object.values(c.quorum.votes).reduce((a, v) => a + v, 0)} votes; a lost holder is given ${formatDuration(t.keepalive + t.deadtime)} to release`,
    );
  const e = c.quorum.etcd;
  if (e)
    lines.push(
      `arbiter: etcd at ${e.endpoints.join(", ")}${e.tls.cert ? " (client certificate)" : ""}${e.user ? ` as ${e.user}` : ""}; keys ${e.prefix}groups/NAME, lease ${formatDuration(e.ttl)}; a crashed holder's groups move after about ${formatDuration(e.ttl)}`,
    );
  if (c.uplink.targets.length)
    lines.push(
      `uplink: ping ${c.uplink.targets.join(", ")} every ${formatDuration(c.uplink.interval)}; hold-down ${formatDuration(c.uplink.hold_down)}${c.uplink.require ? "; require_uplink: an isolated node releases its groups" : ""}`,
    );
  if (c.watchdog.device) lines.push(`watchdog: ${c.watchdog.device}, fed every ${formatDuration(c.watchdog.interval)}`);
  if (c.links.length < 2)
    lines.push(
      "note: one link only; a second path (another NIC, or a serial cable) guards against a false failover when it breaks",
    );
  return lines.join("\n");
}

/** Is this host the node the config is for? Its name (or short name) is the node's. */
export function isLocalNode(c: Config, host = hostname()): boolean {
  return c.cluster.node === host || c.cluster.node === host.split(".")[0];
}

/**
 * What only this host can tell: every interface exists, every serial device and script resolves,
 * the fence, monitor and health commands are there. Returns the problems (empty: all found). systemd units are left to
 * systemctl at start (they may be installed later by the same package run).
 */
export function localProblems(c: Config, sysNet = "/sys/class/net", path: string = CHILD_ENV.PATH): string[] {
  const out: string[] = [];
  const iface = (name: string, what: string) => {
    if (!existsSync(`${sysNet}/${name}`)) out.push(`${what}: interface ${name} does not exist on this host`);
  };
  for (const l of c.links) {
    if (l.kind === "serial") {
      if (!existsSync(l.device)) out.push(`link ${l.name}: serial device ${l.device} does not exist`);
    } else iface(l.interface, `link ${l.name}`);
  }
  for (const g of c.groups)
    for (const r of g.resources) {
      if (r.kind === "ip") iface(r.interface, `group ${g.name}: ip ${r.address}`);
      if (r.kind === "script" && !findScript(r.script, c.paths.script_dirs))
        out.push(
          `group ${g.name}: script ${r.script} not found (or not executable)${r.script.startsWith("/") ? "" : ` in ${c.paths.script_dirs.join(", ")}`}`,
        );
      const probe = r.monitor.command[0];
      if (probe && !findScript(probe, []))
        out.push(`group ${g.name}: monitor command ${probe} not found (or not executable)`);
    }
  if (c.control.group && groupId(c.control.group) === undefined)
    out.push(`control.group: this host has no group ${c.control.group}: the control socket would stay root only`);
  const health = c.health.command[0];
  if (health && !findScript(health, [])) out.push(`health: command ${health} not found (or not executable)`);
  if (c.uplink.interface) iface(c.uplink.interface, "uplink");
  if (c.fencing.method === "command") {
    const cmd = c.fencing.command[0]!;
    if (!findScript(cmd, cmd.includes("/") ? [] : path.split(":")))
      out.push(`fencing: command ${cmd} not found (or not executable)`);
  }
  return out;
}
