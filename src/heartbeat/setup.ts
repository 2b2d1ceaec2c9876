/** From the config to what the heartbeat engine needs: its slice, nothing else. */
import { createHash } from "node:crypto";
import type {
  AuthConfig,
  ClusterConfig,
  GroupConfig,
  LinkConfig,
  NodeConfig,
  TimingConfig,
  UplinkConfig,
} from "../config/schema.ts";
import type { EngineSpec } from "../native/shim.ts";

/** First 4 bytes of SHA-256(cluster name), big-endian: the cluster id in every frame. */
export function clusterId(name: string): number {
  return createHash("sha256").update(name).digest().readUInt32BE(0);
}

const mac = (s: string) => Uint8Array.from(s.split(":").map((h) => parseInt(h, 16)));

export interface HeartbeatSlice {
  cluster: Pick<ClusterConfig, "name" | "node">;
  timing: TimingConfig;
  auth: AuthConfig;
  nodes: NodeConfig[];
  links: LinkConfig[];
  /** for the interfaces to watch (carrier of the floating addresses' interfaces) */
  groups?: Pick<GroupConfig, "resources">[];
  uplink?: UplinkConfig;
}

/** Interfaces that carry floating addresses, in first-use order. */
export function vipInterfaces(groups: Pick<GroupConfig, "resources">[]): string[] {
  return [...new Set(groups.flatMap((g) => g.resources.flatMap((r) => (r.kind === "ip" ? [r.interface] : []))))];
}

export interface HeartbeatSetup {
  spec: EngineSpec;
  /** engine peer index -> node name */
  peers: string[];
  /** engine link index -> link name */
  links: string[];
  /** engine watch index -> interface name */
  watches: string[];
}

/**
 * heardOffset: where the state record keeps the set of nodes its sender hears (bit i = the i-th
 * [[node]]); the engine fills it in at send time, so it is never older than the beat.
 */
export function heartbeatSetup(c: HeartbeatSlice, generation: bigint, heardOffset?: number): HeartbeatSetup {
  const self = c.nodes.find((n) => n.name === c.cluster.node);
  if (!self) throw new Error(`node ${c.cluster.node} is not in the node list`);
  const others = c.nodes.filter((n) => n !== self);
  const watches = vipInterfaces(c.groups ?? []);
  const up = c.uplink;
  return {
    peers: others.map((n) => n.name),
    links: c.links.map((l) => l.name),
    watches,
    spec: {
      watches,
      pings: (up?.targets ?? []).map((addr) => ({
        addr,
        ifname: up!.interface ?? "",
        intervalMs: up!.interval,
        timeoutMs: up!.timeout,
        misses: up!.misses,
      })),
      clusterId: clusterId(c.cluster.name),
      selfId: self.id,
      generation,
      ...c.timing,
      keys: c.auth.keys,
      sendKey: c.auth.send,
      peerIds: others.map((n) => n.id),
      ...(heardOffset !== undefined
        ? { heard: { offset: heardOffset, bits: others.map((n) => c.nodes.indexOf(n)) } }
        : {}),
      links: c.links.map((l) => {
        if (l.kind === "ether")
          return {
            kind: "ether",
            device: l.interface,
            macs: others.filter((n) => l.peer_mac[n.name]).map((n) => mac(l.peer_mac[n.name]!)),
          };
        if (l.kind === "udp")
          return {
            kind: "udp",
            device: l.interface,
            mode: l.mode,
            port: l.port,
            ttl: l.ttl,
            dests:
              l.mode === "multicast"
                ? [l.group!]
                : l.mode === "unicast"
                  ? others.map((n) => l.peers[n.name]!).filter(Boolean)
                  : [],
          };
        return { kind: "serial", device: l.device, baud: l.baud };
      }),
    },
  };
}
