/** Heartbeat's timing defaults, brought within hb's rules (each change is a warning). */
import type { HaCf } from "./hacf.ts";
import type { Warn } from "./lines.ts";
import { duration } from "./toml.ts";

export interface Timing {
  keepalive: number;
  warntime: number;
  deadtime: number;
  initdead: number;
}

const d = (ms: number) => JSON.stringify(duration(ms));

export function resolveTiming(t: HaCf["timing"], warn: Warn): Timing {
  const keepalive = t.keepalive?.ms ?? 1000;
  const deadtime = t.deadtime?.ms ?? 30_000;
  let warntime = t.warntime?.ms ?? Math.round(deadtime / 2);
  // Heartbeat's own initdead default: deadtime when it is long, else at least 12 s
  const initDefault = deadtime > 10_000 ? deadtime : deadtime < 6000 ? 12_000 : 2 * deadtime;
  let initdead = t.initdead?.ms ?? initDefault;
  if (!(deadtime > 2 * keepalive))
    warn(
      undefined,
      `deadtime ${d(deadtime)} must exceed 2 x keepalive ${d(keepalive)} (Heartbeat refused this too): fix [timing]`,
    );
  if (!(warntime > keepalive && warntime < deadtime)) {
    const fixed = Math.round(keepalive + (deadtime - keepalive) / 2);
    warn(
      t.warntime?.no,
      `warntime ${d(warntime)} is not between keepalive ${d(keepalive)} and deadtime ${d(deadtime)}: hb requires it; ${d(fixed)} is written`,
    );
    warntime = fixed;
  }
  if (initdead < deadtime) {
    warn(t.initdead?.no, `initdead ${d(initdead)} is below deadtime ${d(deadtime)}: ${d(deadtime)} is written`);
    initdead = deadtime;
  }
  return { keepalive, warntime, deadtime, initdead };
}

/** ucast lines name addresses; hb's unicast link needs each one's node name. */
export function resolveUcast(m: HaCf, warn: Warn): void {
  const nodes = m.nodes.map((n) => n.name);
  for (const [dev, e] of m.ucast) {
    const ips = [...new Set(e.ips)];
    const peers: Record<string, string> = {};
    if (ips.length === nodes.length) {
      for (const [i, ip] of ips.entries()) peers[nodes[i]!] = ip;
      // Heartbeat never paired them: each node skipped its own address, whichever it was
      warn(
        e.no,
        `ucast ${dev}: ${ips.join(", ")} are matched to ${nodes.join(", ")} in file order (Heartbeat did not pair them): check that each node has its own address`,
      );
    } else if (ips.length === 1 && nodes.length === 2) {
      // Heartbeat's ucast names the other node; which one that is depends on whose ha.cf this was
      peers[nodes[1]!] = ips[0]!;
      warn(
        e.no,
        `ucast ${dev} ${ips[0]}: Heartbeat's ucast names the other node's address, so this file belongs to one node; it is written as ${nodes[1]}'s address. hb needs every node's address in one list: add ${nodes[0]} = "<its address on ${dev}>" (from the other node's ha.cf), and swap them if this file was ${nodes[1]}'s`,
      );
    } else {
      for (const [i, ip] of ips.entries()) peers[nodes[i] ?? `node${i + 1}`] = ip;
      warn(
        e.no,
        `ucast ${dev}: ${ips.length} address(es) for ${nodes.length} nodes: matched in order; check that each node name has its own address`,
      );
    }
    e.link.from = e.lines.join("\n# from ");
    e.link.fields = { kind: "udp", interface: dev, mode: "unicast", port: e.port, peers };
  }
}
