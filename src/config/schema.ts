/**
 * The ha.toml schema: one table that says, for every key, its type, its
 * default with unit, and why that default. The validator walks it, the README
 * config reference is rendered from it (test/unit/readme.test.ts keeps them
 * equal), and the typed Config below is what the rest of hb receives, slice by
 * slice.
 */

import {
  BAUDS,
  DEFAULT_BAUD,
  DEFAULT_SOCKET,
  DEFAULT_UDP_PORT,
  IFNAME_HINT,
  IFNAME_PATTERN,
  NAME_HINT,
  NAME_PATTERN,
  SYSLOG_FACILITIES,
} from "./names.ts";

export type Kind =
  | { t: "string"; pattern?: RegExp; patternHint?: string; oneOf?: readonly string[] }
  | { t: "duration"; min: number; max: number } // milliseconds
  | { t: "bool" }
  | { t: "int"; min: number; max: number; oneOf?: readonly number[] }
  | { t: "strings" }
  | { t: "map"; valueHint: string } // free keys (node names) to strings
  | { t: "table"; fields: Fields }
  | { t: "tables"; item: Fields; minItems: number } // array of tables
  | { t: "variants"; minItems: number; by: "presence"; variants: Record<string, Fields> } // array of tables, one shape per marker key
  | { t: "tagged"; minItems: number; tag: string; variants: Record<string, Fields> }; // array of tables, one shape per value of `tag`

export interface Field {
  kind: Kind;
  /** Value used when the key is absent. `undefined` with required=false means "absent is meaningful". */
  default?: unknown;
  /** How the default reads in docs when it is computed (e.g. "uname -n"). */
  defaultText?: string;
  required?: boolean;
  unit?: string;
  doc: string;
  /** Why this default (shown in the reference). */
  reason?: string;
}
export type Fields = Record<string, Field>;

const NAME = NAME_PATTERN;
const IFNAME = IFNAME_PATTERN;

import type { SyslogFacility } from "./names.ts";

const linkName: Field = {
  kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
  defaultText: "KIND:INTERFACE (or KIND:DEVICE)",
  doc: "Name shown by `hb status` and the logs.",
};

const timeout = (ms: number, what: string): Field => ({
  kind: { t: "duration", min: 100, max: 3_600_000 },
  default: ms,
  unit: "duration",
  doc: `How long one ${what} call may run before it is killed and counted as failed.`,
  reason: "init scripts of databases can take tens of seconds; a hung one must not hold a failover forever",
});

/** One shape for every secret: inline, or in a file; either way readable by root alone (checked in validate.ts). */
const secretFields = (what: string): Fields => ({
  secret: {
    kind: { t: "string" },
    doc: `${what[0]!.toUpperCase()}${what.slice(1)}, inline. Then ha.toml must not be readable by group or others (chmod 600).`,
  },
  file: {
    kind: { t: "string" },
    doc: `A file that holds ${what} (surrounding white space ignored). It must not be readable by group or others (chmod 600).`,
  },
});

/** A check's timing and thresholds: resource monitors and the node health command share them. */
const checkTiming = (what: string): Fields => ({
  interval: {
    kind: { t: "duration", min: 100, max: 3_600_000 },
    default: 10_000,
    unit: "duration",
    doc: `Time from the end of one ${what} to the start of the next.`,
    reason: "a check every 10 s costs nothing and finds a dead service within fall x interval (20 s)",
  },
  timeout: {
    kind: { t: "duration", min: 100, max: 600_000 },
    default: 20_000,
    unit: "duration",
    doc: `A ${what} that has not answered by then is killed (its whole process group) and counts as a failure.`,
    reason: "a status that takes longer than 20 s is hanging; a hung check must count, never block",
  },
  fall: {
    kind: { t: "int", min: 1, max: 100 },
    default: 2,
    doc: "Failures in a row that count as failed.",
    reason: "one slow check on a busy host is not a dead service; two in a row are",
  },
  rise: {
    kind: { t: "int", min: 1, max: 100 },
    default: 2,
    doc: "Successes in a row that clear a failure.",
    reason: "a check that fails now and then must pass twice before it counts as healthy again: no flapping",
  },
});

/** How a resource is watched while its group runs here (issue 17); in every resource as `monitor = { ... }`. */
const MONITOR: Field = {
  kind: {
    t: "table",
    fields: {
      enabled: {
        kind: { t: "bool" },
        default: true,
        doc: "The built-in check: a script with `SCRIPT [args] status` (LSB: exit 0 running, 3 stopped, anything else failed), a systemd unit with `systemctl is-active`, an address by asking the kernel (one that another program removed is added back and announced). false: no built-in check; the probes below still run.",
        reason:
          "a service that dies on the active node must not go unnoticed; these checks are cheap and every LSB script has status",
      },
      style: {
        kind: { t: "string", oneOf: ["lsb", "heartbeat"] },
        default: "lsb",
        doc: 'How a script\'s status answer reads (scripts only): lsb (exit 0 running, 3 stopped, anything else failed) or heartbeat, for Heartbeat v1 resource.d agents whose exit code means nothing (running when its last line says "running" or "OK", and not "not running", "stopped" or "dead", whatever the exit code). `hb import` writes heartbeat.',
        reason: "what LSB init scripts and systemd's sysv wrappers answer",
      },
      ...checkTiming("check"),
      command: {
        kind: { t: "strings" },
        default: [],
        doc: "A probe: a program (absolute path, then arguments) that exits 0 while the service works. Run like the scripts: its own process group, a fixed PATH, killed at timeout.",
      },
      tcp: {
        kind: {
          t: "string",
          pattern: /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
          patternHint: 'HOST:PORT, like "127.0.0.1:3306" or "[2001:db8::10]:80"',
        },
        doc: "A probe: a TCP connection to HOST:PORT must be accepted.",
      },
      http: {
        kind: {
          t: "string",
          pattern: /^https?:\/\/\S+$/,
          patternHint: 'an http:// or https:// URL, like "http://127.0.0.1/health"',
        },
        doc: "A probe: GET this URL (https certificates are verified) and expect `http_status`.",
      },
      http_status: {
        kind: { t: "int", min: 100, max: 599 },
        default: 200,
        doc: "The status the `http` probe expects.",
        reason: "what a health endpoint answers when all is well",
      },
    },
  },
  default: {},
  doc: "How the resource is watched while its group runs on this node (`monitor = { ... }` in the resource). Every check and probe given must pass.",
};

export const SCHEMA: Fields = {
  cluster: {
    kind: {
      t: "table",
      fields: {
        name: {
          kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
          required: true,
          doc: "Cluster name. Its hash is the cluster id carried in every heartbeat, so two clusters on one LAN ignore each other.",
        },
        node: {
          kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
          defaultText: "uname -n",
          doc: "Name of this node, one of the [[node]] names. `--node` on the command line overrides it.",
          reason: "the same file is copied to every node, as with Heartbeat (node names must match uname -n)",
        },
        auto_failback: {
          kind: { t: "bool" },
          default: false,
          doc: "When a group's preferred node comes back, move the group back to it (Heartbeat `auto_failback on`).",
          reason:
            "a failback is a second, planned interruption; turn it on when the preferred node matters (local data, a bigger machine), as both Heartbeat articles do",
        },
      },
    },
    required: true,
    doc: "The cluster as a whole.",
  },
  timing: {
    kind: {
      t: "table",
      fields: {
        keepalive: {
          kind: { t: "duration", min: 5, max: 60_000 },
          default: 100,
          unit: "duration",
          doc: "Interval between heartbeats, sent on every link.",
          reason: "ten beats a second cost nothing on a LAN (about 100 bytes each) and allow sub-second detection",
        },
        warntime: {
          kind: { t: "duration", min: 10, max: 600_000 },
          default: 300,
          unit: "duration",
          doc: "Silence after which a peer (or one link to it) is reported late. Must lie between keepalive and deadtime.",
          reason: "three missed beats: a hint of trouble long before a failover",
        },
        deadtime: {
          kind: { t: "duration", min: 15, max: 600_000 },
          default: 500,
          unit: "duration",
          doc: "Silence on every link after which a peer is declared dead and its groups are taken over. Must exceed 2 x keepalive.",
          reason: "five missed beats: one lost frame never causes a failover, and clients wait half a second at most",
        },
        initdead: {
          kind: { t: "duration", min: 15, max: 3_600_000 },
          default: 10_000,
          unit: "duration",
          doc: "At start, how long to wait to hear a peer before taking groups alone. Must be at least deadtime.",
          reason:
            "after boot a switch port may still be negotiating; taking the VIP before hearing the peer risks two owners",
        },
        rt_priority: {
          kind: { t: "int", min: 0, max: 99 },
          default: 10,
          doc: "Real-time priority (SCHED_FIFO) of the heartbeat thread alone, so that CPU load cannot delay a beat (Heartbeat `realtime` / `rtprio`, keepalived `vrrp_rt_priority`); 0: normal scheduling. Where the kernel or a container refuses it (no CAP_SYS_NICE), hb says so in the log and runs at normal priority.",
          reason:
            "a modest priority: above every normal process, below the kernel's own real-time threads; the thread sleeps between beats, so it takes nothing from anyone",
        },
      },
    },
    default: {},
    doc: 'Heartbeat timing. Durations are strings with a unit: "150ms", "2s", "1m".',
  },
  auth: {
    kind: {
      t: "table",
      fields: {
        send: {
          kind: { t: "int", min: 1, max: 255 },
          defaultText: "the id of the only key",
          doc: "Id of the key used to sign outgoing heartbeats. Required when several keys are listed (key rotation).",
          reason: "every key listed is accepted on receive, so keys rotate without downtime, like authkeys `auth N`",
        },
        key: {
          kind: {
            t: "tables",
            minItems: 1,
            item: {
              id: {
                kind: { t: "int", min: 1, max: 255 },
                required: true,
                doc: "Key id, carried in each frame so the receiver knows which key to check.",
              },
              ...secretFields("the key"),
            },
          },
          required: true,
          doc: "Shared keys for HMAC-SHA256 on every frame (`[[auth.key]]`, one of `secret` or `file` each).",
        },
      },
    },
    required: true,
    doc: "Authentication of heartbeats.",
  },
  node: {
    kind: {
      t: "tables",
      minItems: 2,
      item: {
        name: {
          kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
          required: true,
          doc: "Node name, as `uname -n` prints it on that node.",
        },
        id: {
          kind: { t: "int", min: 1, max: 65535 },
          defaultText: "position in the list, from 1",
          doc: "Node id carried in heartbeats. Give it explicitly if you may reorder the list.",
        },
        votes: {
          kind: { t: "int", min: 0, max: 100 },
          default: 1,
          doc: "Its votes for majority quorum (`[quorum]`): a node holds groups only while it hears more than half of all votes, its own included. 0: it never counts (a node that only serves).",
          reason: "one node, one vote, as corosync's votequorum",
        },
      },
    },
    required: true,
    doc: "The cluster members (`[[node]]`, at least two).",
  },
  link: {
    kind: {
      t: "tagged",
      minItems: 1,
      tag: "kind",
      variants: {
        ether: {
          name: linkName,
          interface: {
            kind: { t: "string", pattern: IFNAME, patternHint: IFNAME_HINT },
            required: true,
            doc: "Interface for raw Ethernet heartbeats (EtherType 0x88B5). Needs no IP address; not filtered by iptables/nftables.",
          },
          peer_mac: {
            kind: { t: "map", valueHint: "a MAC address like 02:00:00:00:00:02" },
            default: {},
            defaultText: "{} (broadcast)",
            doc: "Peer node name to MAC address: send to each peer's MAC instead of broadcast.",
            reason: "broadcast needs no per-node setup; unicast keeps heartbeats off other hosts' NICs",
          },
        },
        udp: {
          name: linkName,
          interface: {
            kind: { t: "string", pattern: IFNAME, patternHint: IFNAME_HINT },
            required: true,
            doc: "Interface the UDP socket is bound to (SO_BINDTODEVICE).",
          },
          mode: {
            kind: { t: "string", oneOf: ["broadcast", "multicast", "unicast"] },
            default: "broadcast",
            doc: "broadcast (Heartbeat `bcast`), multicast (`mcast`, needs `group`) or unicast (`ucast`, needs `peers`).",
            reason: "broadcast works on any LAN with no per-node setup",
          },
          port: {
            kind: { t: "int", min: 1, max: 65535 },
            default: DEFAULT_UDP_PORT,
            doc: "UDP port.",
            reason: "694 is Heartbeat's registered port (ha-cluster)",
          },
          group: {
            kind: { t: "string" },
            doc: 'Multicast group address, for mode = "multicast" (e.g. 239.0.0.1).',
          },
          ttl: {
            kind: { t: "int", min: 1, max: 255 },
            default: 1,
            doc: "Multicast TTL.",
            reason: "heartbeats belong on the local segment",
          },
          peers: {
            kind: { t: "map", valueHint: "an IP address" },
            default: {},
            doc: 'Node name to IP address, for mode = "unicast": each node sends to every other node listed.',
          },
        },
        serial: {
          name: linkName,
          device: {
            kind: { t: "string", pattern: /^\/\S+$/, patternHint: "an absolute path, like /dev/ttyS0" },
            required: true,
            doc: "Serial device (null-modem cable between two nodes).",
          },
          baud: {
            kind: { t: "int", min: 1200, max: 230400, oneOf: BAUDS },
            default: DEFAULT_BAUD,
            unit: "bit/s",
            doc: "Line speed.",
            reason: "Heartbeat's default; a 100-byte beat takes about 50 ms at 19200, so set keepalive accordingly",
          },
        },
      },
    },
    required: true,
    doc: "Heartbeat paths (`[[link]]`, `kind` = ether, udp or serial). Give at least two for redundancy: a peer is dead only when silent on every link.",
  },
  group: {
    kind: {
      t: "tables",
      minItems: 0,
      item: {
        name: {
          kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
          required: true,
          doc: "Group name, used by `hb status`, `hb standby GROUP` and the logs.",
        },
        preferred: {
          kind: { t: "string", pattern: NAME, patternHint: NAME_HINT },
          required: true,
          doc: "Preferred node (the first field of a haresources line).",
        },
        resources: {
          kind: {
            t: "variants",
            by: "presence",
            minItems: 1,
            variants: {
              ip: {
                ip: {
                  kind: { t: "string" },
                  required: true,
                  doc: 'Floating address with prefix: "192.0.2.10/24" or "2001:db8::10/64".',
                },
                interface: {
                  kind: { t: "string", pattern: IFNAME, patternHint: IFNAME_HINT },
                  required: true,
                  doc: "Interface that carries the address.",
                },
                monitor: MONITOR,
                label: {
                  kind: { t: "string", pattern: IFNAME, patternHint: IFNAME_HINT },
                  doc: "IPv4 label (`eth0:0` style, shown by ifconfig); must start with the interface name.",
                },
              },
              script: {
                script: {
                  kind: { t: "string", pattern: /^\S+$/, patternHint: "a script name or an absolute path, no spaces" },
                  required: true,
                  doc: "LSB init script, by name (searched in the script directories) or absolute path; called SCRIPT [args] start|stop|status.",
                },
                args: {
                  kind: { t: "strings" },
                  default: [],
                  doc: "Arguments given before start/stop/status (haresources `script::arg1::arg2`).",
                },
                timeout: timeout(60_000, "script"),
                monitor: MONITOR,
              },
              systemd: {
                systemd: {
                  kind: {
                    t: "string",
                    pattern: /^[A-Za-z0-9:_.\\@-]+\.(service|target|mount|socket)$/,
                    patternHint: "a unit name like mysqld.service",
                  },
                  required: true,
                  doc: "systemd unit, started and stopped with systemctl.",
                },
                timeout: timeout(90_000, "systemctl"),
                monitor: MONITOR,
              },
            },
          },
          required: true,
          doc: "Ordered resources: started first to last, stopped last to first. Each is one of `{ ip = ... }`, `{ script = ... }`, `{ systemd = ... }`.",
        },
        on_fail: {
          kind: { t: "string", oneOf: ["restart", "failover", "ignore"] },
          default: "restart",
          doc: "When a monitor counts as failed: restart (stop and start the resources from the failed one onwards, in place, up to max_restarts within restart_window; then fail over), failover (release the group at once; failure_hold keeps it away from this node) or ignore (log and report only).",
          reason:
            "most crashed services come back with a restart, which is faster than a failover and keeps the address where it is",
        },
        max_restarts: {
          kind: { t: "int", min: 0, max: 100 },
          default: 3,
          doc: "Restarts in place within restart_window before the group fails over instead.",
          reason: "a service that keeps dying here is broken here: after three tries the peer gets its chance",
        },
        restart_window: {
          kind: { t: "duration", min: 1000, max: 86_400_000 },
          default: 900_000,
          unit: "duration",
          doc: "How long a restart counts against max_restarts.",
          reason: "three crashes in 15 minutes is a pattern; three in a month is bad luck",
        },
      },
    },
    default: [],
    doc: "Resource groups (`[[group]]`, one per haresources line).",
  },
  addresses: {
    kind: {
      t: "table",
      fields: {
        lease: {
          kind: { t: "duration", min: 0, max: 3_600_000 },
          defaultText:
            "3s, or deadtime + 1s in whole seconds if longer; with the etcd arbiter two thirds of quorum.ttl (at least 1s)",
          unit: "duration, whole seconds",
          doc: 'Kernel lifetime of the floating addresses, renewed every third of it by the native thread; "0s" = no lease (forever). Should exceed deadtime, or a killed holder\'s address vanishes before its peer takes over.',
          reason:
            "if hb is killed or hangs, the kernel removes its addresses by itself soon after the peer has taken over, so no duplicate outlives the takeover for long",
        },
        probe_wait: {
          kind: { t: "duration", min: 0, max: 1000 },
          default: 2,
          unit: "duration",
          doc: 'Before adding an address, how long to wait for an answer to an ARP probe (IPv6: DAD); an answer is a conflict and the address is not added. "0s" skips the probe. An answer from a peer that just died (its lease still running) is not a conflict.',
          reason: "a LAN answers within a millisecond; the wait delays every takeover",
        },
        garp_pairs: {
          kind: { t: "int", min: 1, max: 20 },
          default: 3,
          doc: "Gratuitous ARP request + reply pairs per burst (IPv6: 2 unsolicited NAs each).",
          reason: "one frame can be lost; three pairs cost nothing",
        },
        garp_second: {
          kind: { t: "duration", min: 0, max: 60_000 },
          default: 1500,
          unit: "duration",
          doc: 'Delay of the second burst after takeover; "0s" = none.',
          reason:
            "Linux ignores a neighbour update within locktime (1 s) of the previous one: a second burst after that reaches them",
        },
        garp_refresh: {
          kind: { t: "duration", min: 0, max: 3_600_000 },
          default: 0,
          unit: "duration",
          doc: 'Repeat a burst this often while holding the address; "0s" = never.',
          reason: "switches learn from traffic; turn it on for switches that age MAC entries of quiet hosts",
        },
      },
    },
    default: {},
    doc: "Floating addresses: lease, conflict probe, announcements.",
  },
  resources: {
    kind: {
      t: "table",
      fields: {
        failure_hold: {
          kind: { t: "duration", min: 0, max: 86_400_000 },
          default: 300_000,
          unit: "duration",
          doc: "After a group failed on this node (a start failed, or a failed monitor moved it away), how long it stays away from this node (restarting hb on the node ends it sooner).",
          reason: "no ping-pong: a broken service is not moved back and forth; five minutes to notice and repair",
        },
        stop_retries: {
          kind: { t: "int", min: 0, max: 10 },
          default: 2,
          doc: "Extra attempts of a stop that fails before stop_policy applies.",
          reason: "a stop can fail once (a busy resource); repeated failure is real",
        },
        stop_policy: {
          kind: { t: "string", oneOf: ["block", "reboot"] },
          default: "block",
          doc: "When a resource cannot be stopped: block (the group is marked failed, stays claimed by this node and is not started anywhere else, loudly) or reboot (self-fence as Heartbeat did).",
          reason:
            "a reboot of the active node is drastic and surprising; block never runs a service twice, and an operator decides",
        },
      },
    },
    default: {},
    doc: "Resource groups: failure handling.",
  },
  quorum: {
    kind: {
      t: "table",
      fields: {
        mode: {
          kind: { t: "string", oneOf: ["majority", "none"] },
          defaultText: '"majority" with 3 or more nodes and no arbiter, else "none"',
          doc: "majority: a node may hold or take a group only while it hears more than half of the votes (`[[node]] votes`), itself included. One that loses them removes its floating addresses at once, then stops its services; the side that keeps the majority takes a lost holder's groups only after keepalive + deadtime, time for the other side to see the same partition and release. none: every node acts on what it hears (a partition leaves both sides holding until it heals).",
          reason:
            "with three or more nodes a majority exists on at most one side of any partition, so the address has one owner; a pair has no majority without its peer, so it would stop at every peer failure",
        },
        arbiter: {
          kind: { t: "string", oneOf: ["none", "etcd"] },
          default: "none",
          doc: "etcd: each group's ownership is a key in etcd (`PREFIX/groups/NAME`, its value the holder's name) bound to the holder's etcd lease. A node starts a group only once the key names it; it keeps a group while its lease is alive, or, when it cannot reach etcd, while it still hears every peer (they see it holding the group and take nothing); without either it removes its addresses before its lease can expire at etcd. Planned moves delete the key before telling the peers. The heartbeat still detects failures; etcd only decides who owns. With an arbiter, `mode` defaults to none.",
          reason: "an arbiter needs a running etcd; without one a pair cannot tell a dead peer from a partition",
        },
        endpoints: {
          kind: { t: "strings" },
          default: [],
          doc: "etcd client URLs (`https://10.0.0.5:2379`), tried in turn: a request that fails or times out goes to the next.",
          reason: 'needed with arbiter = "etcd"',
        },
        ca: {
          kind: { t: "string" },
          doc: "PEM file of the CA that signed etcd's server certificates (https endpoints).",
          reason: "absent: the system's trusted CAs",
        },
        cert: {
          kind: { t: "string" },
          doc: "PEM client certificate for etcd's `--client-cert-auth` (with `key`).",
          reason: "absent: no client certificate",
        },
        key: {
          kind: { t: "string" },
          doc: "PEM private key of `cert`; root's own, mode 600.",
          reason: "absent: no client certificate",
        },
        user: {
          kind: { t: "string" },
          doc: "etcd user (etcd auth enabled), with `password` or `password_file`.",
          reason: "absent: no etcd authentication",
        },
        password: {
          kind: { t: "string" },
          doc: "The etcd user's password, inline (ha.toml must then be mode 600).",
          reason: "absent: password_file, or no authentication",
        },
        password_file: {
          kind: { t: "string" },
          doc: "A file holding the etcd user's password (root's own, mode 600).",
          reason: "absent: password, or no authentication",
        },
        ttl: {
          kind: { t: "duration", min: 1000, max: 60_000 },
          defaultText: '"3s"',
          unit: "whole seconds",
          doc: "TTL of this node's etcd lease, renewed every sixth of it. A node that cannot renew gives up its groups (unless it hears every peer) a third of the TTL before the lease can expire; a crashed holder's groups are taken over once etcd expires its lease, about `ttl` after the crash. etcd grants at least 1.5 election timeouts (2 s with its defaults).",
          reason:
            "a crashed holder costs about 3 s, while an etcd leader election (about 1 s with etcd's defaults) never costs a group",
        },
        prefix: {
          kind: { t: "string", pattern: /^\/[!-~]*\/$/, patternHint: "starts and ends with /" },
          defaultText: '"/hb/CLUSTER/" (cluster.name)',
          doc: "Where hb keeps its keys in etcd. Clusters sharing one etcd need distinct prefixes (the cluster name gives one).",
        },
      },
    },
    default: {},
    doc: "Quorum: one owner even when the network splits (issue 12).",
  },
  health: {
    kind: {
      t: "table",
      fields: {
        command: {
          kind: { t: "strings" },
          default: [],
          doc: "A program (absolute path, then arguments) that exits 0 while this node is fit to serve (a disk, a mount, a database replica in sync). While it counts as failed, this node's score is lowered by `penalty`, so a group moves to a healthier node before anything fails outright (keepalived `track_script` weight, Heartbeat's ipfail idea).",
          reason: "absent: no health check; every node counts as healthy",
        },
        ...checkTiming("health check"),
        penalty: {
          kind: { t: "int", min: 1, max: 100 },
          default: 50,
          doc: "How much a failed health check takes from this node's score (0..100, shared with the uplink score; the node with the best score runs a group).",
          reason:
            "any penalty moves groups to a healthy peer; 50 keeps a sick node ahead of one that reaches no ping target at all",
        },
      },
    },
    default: {},
    doc: "Node health: a command that lowers this node's score while it fails.",
  },
  log: {
    kind: {
      t: "table",
      fields: {
        level: {
          kind: { t: "string", oneOf: ["error", "warn", "info", "debug", "trace"] },
          default: "info",
          doc: "Least severe level logged. `--log-level` overrides it.",
          reason: "info logs every state change and nothing per beat",
        },
        file: {
          kind: { t: "string", pattern: /^\/\S+$/, patternHint: "an absolute path, like /var/log/hb.log" },
          doc: "Also append every record to this file (Heartbeat `logfile`); reopened on SIGHUP and `hb reload`, for logrotate.",
          reason: "absent: stderr only, which journald keeps when systemd runs hb",
        },
        facility: {
          kind: { t: "string", oneOf: SYSLOG_FACILITIES },
          doc: "Also send every record to syslog with this facility (Heartbeat `logfacility`), through `syslog_socket`.",
          reason: "absent: no syslog; journald already has stderr",
        },
        syslog_socket: {
          kind: { t: "string", pattern: /^\/\S+$/, patternHint: "an absolute path" },
          default: "/dev/log",
          doc: "The local syslog socket used when `facility` is set. Sends never block: when syslog is slow, records are dropped (the first drop is said on stderr).",
          reason: "where every syslog daemon (and journald) listens",
        },
      },
    },
    default: {},
    doc: "Logging: always stderr (journald when run by systemd); optionally a file and syslog.",
  },
  uplink: {
    kind: {
      t: "table",
      fields: {
        targets: {
          kind: { t: "strings" },
          default: [],
          doc: "IPv4 addresses to ping (Heartbeat `ping` / `ping_group`): the default gateway, a core switch. Each node announces the share it reaches (its score) in its heartbeats; a group runs on a node with the best score.",
          reason: "absent: no arbitration; a node whose uplink died keeps its groups while its heartbeat path works",
        },
        interface: {
          kind: { t: "string", pattern: IFNAME, patternHint: IFNAME_HINT },
          doc: "Send the pings out of this interface only (the clients' side).",
        },
        interval: {
          kind: { t: "duration", min: 10, max: 60_000 },
          default: 1000,
          unit: "duration",
          doc: "Time between pings to each target.",
          reason: "one small packet a second per target is nothing to a router, and loss is seen within seconds",
        },
        timeout: {
          kind: { t: "duration", min: 1, max: 60_000 },
          default: 500,
          unit: "duration",
          doc: "An answer later than this is a miss. At most interval.",
          reason: "a LAN gateway answers within milliseconds; half a second forgives a busy one",
        },
        misses: {
          kind: { t: "int", min: 1, max: 100 },
          default: 3,
          doc: "Misses in a row that make a target unreachable (one answer makes it reachable again).",
          reason: "one lost ping is noise; three in a row is an outage",
        },
        hold_down: {
          kind: { t: "duration", min: 0, max: 3_600_000 },
          default: 2000,
          unit: "duration",
          doc: "A changed score counts only once it has lasted this long, so a flapping uplink does not move groups back and forth.",
          reason: "longer than a switch's port flap, shorter than anyone's patience",
        },
        require: {
          kind: { t: "bool" },
          default: false,
          doc: "require_uplink: a node that reaches none of its targets and hears no peer releases its groups (it is the isolated one, so it must not keep the floating address). Needs targets.",
          reason:
            "off: a cluster without reliable ping targets would otherwise lose its service when the targets go down with the peer",
        },
      },
    },
    default: {},
    doc: "Uplink arbitration: ping targets (Heartbeat `ping`, `ping_group`, ipfail).",
  },
  fencing: {
    kind: {
      t: "table",
      fields: {
        method: {
          kind: { t: "string", oneOf: ["command", "none"] },
          required: true,
          doc: '"command": run `command` against a peer declared dead before taking over what it held (Heartbeat `stonith`); "none": take over at once, accepting that a peer that only looks dead may still hold the address.',
        },
        command: {
          kind: { t: "strings" },
          default: [],
          doc: "The fence program and its arguments; the dead node's name is appended. It must exit 0 only once the node is certainly off (IPMI power off, a cloud API stop, a STONITH device).",
        },
        timeout: {
          kind: { t: "duration", min: 100, max: 3_600_000 },
          default: 60_000,
          unit: "duration",
          doc: "How long one fence call may run before it is killed and counted as failed.",
          reason: "IPMI and cloud APIs answer in seconds; a minute covers a slow BMC",
        },
        backoff: {
          kind: { t: "duration", min: 100, max: 600_000 },
          default: 5000,
          unit: "duration",
          doc: "Delay before retrying a failed fence; it doubles after each failure, up to a minute. Retries go on until a fence succeeds or the peer is heard again.",
          reason: "gives a BMC time to recover without leaving the service down for long",
        },
      },
    },
    required: true,
    doc: "Fencing (STONITH). Required, so that running without it is a choice written in the config.",
  },
  watchdog: {
    kind: {
      t: "table",
      fields: {
        device: {
          kind: { t: "string", pattern: /^\/\S+$/, patternHint: "an absolute path, like /dev/watchdog" },
          doc: "A watchdog device (hardware, or softdog) the daemon keeps alive from its event loop: if hb hangs, the kernel reboots the node, so a hung holder cannot keep its addresses. On a clean stop it is disarmed (magic close).",
          reason: "absent: no watchdog; the address lease already bounds a hung holder",
        },
        interval: {
          kind: { t: "duration", min: 100, max: 60_000 },
          default: 1000,
          unit: "duration",
          doc: "Time between keep-alive writes; keep it well below the device's timeout (softdog: 60 s unless soft_margin says otherwise).",
          reason: "frequent enough for any watchdog timeout of a few seconds",
        },
      },
    },
    default: {},
    doc: "Hardware or software watchdog (Heartbeat `watchdog`).",
  },
  legacy: {
    kind: {
      t: "table",
      fields: {
        guard: {
          kind: { t: "bool" },
          default: true,
          doc: "Listen (read-only) for Heartbeat v1 packets on hb's interfaces. While a live Heartbeat node whose packets verify with a `[[legacy.key]]` is heard on an interface, hb takes no group with an address there (and releases one it holds), says so in the log, `hb status` and `hb report` (CRITICAL). Without a legacy key it only warns.",
          reason:
            "during a migration an old Heartbeat node and hb must never both own the VIP: Heartbeat cannot hear hb, so hb must be the one that yields",
        },
        port: {
          kind: { t: "int", min: 1, max: 65535 },
          default: DEFAULT_UDP_PORT,
          doc: "The UDP port Heartbeat uses (its `udpport`).",
          reason: "Heartbeat's default",
        },
        key: {
          kind: {
            t: "tables",
            minItems: 1,
            item: {
              id: {
                kind: { t: "int", min: 0, max: 15 },
                required: true,
                doc: "The key's number in Heartbeat's authkeys (the N of `N sha1 SECRET`).",
              },
              method: {
                kind: { t: "string", oneOf: ["sha1", "md5"] },
                required: true,
                doc: "Heartbeat's method for that key: sha1 or md5 (HMAC). crc authenticates nothing and is not accepted.",
              },
              ...secretFields("the authkeys secret"),
            },
          },
          doc: "The old cluster's authkeys keys (`[[legacy.key]]`; `hb import` writes them). Only a Heartbeat packet whose authentication verifies with one of them can hold hb off a group; others are counted as forged. Without any, the guard can verify nothing: it only warns (`hb report` WARNING) and never releases a group.",
          reason: "absent: any host on the LAN could otherwise take the service down with three forged packets",
        },
        deadtime: {
          kind: { t: "duration", min: 1000, max: 3_600_000 },
          default: 10_000,
          unit: "duration",
          doc: "A Heartbeat node counts as gone after this long without a packet from it.",
          reason:
            "Heartbeat sends every 1 to 2 s; ten seconds forgive a few lost packets and still free the groups soon after the old node is stopped",
        },
      },
    },
    default: {},
    doc: "Migration guard against a live Heartbeat v1 node (see the migration guide).",
  },
  control: {
    kind: {
      t: "table",
      fields: {
        socket: {
          kind: { t: "string", pattern: /^\/\S+$/, patternHint: "an absolute path" },
          default: DEFAULT_SOCKET,
          doc: "Unix socket for `hb status`, `standby`, `takeover`, `clear`, `reload` and `report`; mode 0600 in a 0700 directory, so only root may use it (see `group` for read-only access).",
          reason: "/run is cleared at boot, so no stale socket outlives the daemon",
        },
        group: {
          kind: { t: "string", pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, patternHint: "a group name or number" },
          defaultText: '"hb" when that group exists, else none',
          doc: "Members of this group may read through the control socket (`hb status`, `hb history`, `hb report`, for a monitoring agent); standby, takeover, clear and reload stay root's. The socket is then 0660 in a 0750 directory of that group; each client's uid comes from the kernel (SO_PEERCRED). A group this host does not have leaves the socket root only (logged; `hb check` reports it).",
          reason: "the Debian package makes the hb group; without it nothing changes: root only",
        },
        history: {
          kind: { t: "int", min: 10, max: 100_000 },
          default: 200,
          unit: "events",
          doc: "Transitions kept in memory and in STATE_DIR/history.jsonl, shown by `hb status` (also after a restart).",
          reason: "a few days of a quiet cluster, or the whole story of a bad hour; the file stays under 100 kB",
        },
      },
    },
    default: {},
    doc: "The control socket and the event history.",
  },
  metrics: {
    kind: {
      t: "table",
      fields: {
        listen: {
          kind: {
            t: "string",
            pattern: /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):\d{1,5}$/,
            patternHint: 'ADDRESS:PORT, like "127.0.0.1:9694" or "[::1]:9694"',
          },
          doc: "Serve Prometheus metrics over HTTP on this address: `/metrics` (the same metrics as `hb report --prometheus`, with HELP and TYPE) and `/healthz` (200 while the daemon's loop keeps up, 503 when it does not). Served by the daemon's event loop; the heartbeat thread never waits for it.",
          reason:
            "absent: no port is opened; hb report --prometheus with node_exporter's textfile collector needs none",
        },
      },
    },
    default: {},
    doc: "A live metrics endpoint (off unless `listen` is set).",
  },
  paths: {
    kind: {
      t: "table",
      fields: {
        state_dir: {
          kind: { t: "string", pattern: /^\//, patternHint: "an absolute path" },
          default: "/var/lib/hb",
          doc: "Directory for state kept across restarts (boot generation, event history).",
          reason: "the FHS place for a daemon's persistent state",
        },
        script_dirs: {
          kind: { t: "strings" },
          default: ["/etc/hb/resource.d", "/etc/ha.d/resource.d", "/etc/init.d"],
          doc: "Directories searched, in order, for scripts named without a path.",
          reason: "hb's own first, then Heartbeat's, then LSB init scripts, so existing setups work unchanged",
        },
      },
    },
    default: {},
    doc: "Files and directories.",
  },
};

/* ---------- The typed result: what the rest of hb receives ---------- */

export interface ClusterConfig {
  name: string;
  node: string;
  auto_failback: boolean;
}
export interface TimingConfig {
  keepalive: number; // ms
  warntime: number;
  deadtime: number;
  initdead: number;
  /** SCHED_FIFO priority of the heartbeat thread; 0 = normal */
  rt_priority: number;
}
export interface AuthKey {
  id: number;
  secret: Uint8Array;
}
export interface AuthConfig {
  send: number;
  keys: AuthKey[];
}
export interface NodeConfig {
  name: string;
  id: number;
}
export type LinkConfig =
  | { kind: "ether"; name: string; interface: string; peer_mac: Record<string, string> }
  | {
      kind: "udp";
      name: string;
      interface: string;
      mode: "broadcast" | "multicast" | "unicast";
      port: number;
      group?: string;
      ttl: number;
      peers: Record<string, string>;
    }
  | { kind: "serial"; name: string; device: string; baud: number };
/** How a resource is watched while its group runs here (the defaults: schema.ts, MONITOR). */
export interface MonitorConfig {
  enabled: boolean;
  style: "lsb" | "heartbeat";
  interval: number;
  timeout: number;
  fall: number;
  rise: number;
  command: string[];
  tcp?: string;
  http?: string;
  http_status: number;
}
export type ResourceConfig =
  | {
      kind: "ip";
      ip: string;
      family: 4 | 6;
      address: string;
      prefix: number;
      interface: string;
      label?: string;
      monitor: MonitorConfig;
    }
  | { kind: "script"; script: string; args: string[]; timeout: number; monitor: MonitorConfig }
  | { kind: "systemd"; systemd: string; timeout: number; monitor: MonitorConfig };
export type OnFail = "restart" | "failover" | "ignore";
export interface GroupConfig {
  name: string;
  preferred: string;
  resources: ResourceConfig[];
  on_fail: OnFail;
  max_restarts: number;
  restart_window: number;
}
export interface QuorumConfig {
  mode: "majority" | "none";
  /** votes by node name ([[node]] votes) */
  votes: Record<string, number>;
  /** the etcd arbiter, when arbiter = "etcd" (files read, password resolved) */
  etcd?: EtcdConfig;
}
export interface EtcdConfig {
  endpoints: string[];
  /** PEM contents, not paths */
  tls: { ca?: string; cert?: string; key?: string };
  user?: string;
  password?: string;
  /** ms, whole seconds */
  ttl: number;
  prefix: string;
}
export interface HealthConfig {
  command: string[];
  interval: number;
  timeout: number;
  fall: number;
  rise: number;
  penalty: number;
}
export interface AddressesConfig {
  lease: number;
  probe_wait: number;
  garp_pairs: number;
  garp_second: number;
  garp_refresh: number;
}
export interface ResourcesConfig {
  failure_hold: number;
  stop_retries: number;
  stop_policy: "block" | "reboot";
}
export interface LogConfig {
  level: "error" | "warn" | "info" | "debug" | "trace";
  file?: string;
  facility?: SyslogFacility;
  syslog_socket: string;
}
export interface UplinkConfig {
  targets: string[];
  interface?: string;
  interval: number;
  timeout: number;
  misses: number;
  hold_down: number;
  require: boolean;
}
export interface FencingConfig {
  method: "command" | "none";
  command: string[];
  timeout: number;
  backoff: number;
}
export interface WatchdogConfig {
  device?: string;
  interval: number;
}
export interface LegacyKey {
  id: number;
  method: "sha1" | "md5";
  secret: Uint8Array;
}
export interface LegacyConfig {
  guard: boolean;
  port: number;
  deadtime: number;
  /** authkeys keys of the old cluster; none: the guard only warns */
  keys: LegacyKey[];
}
export interface ControlConfig {
  socket: string;
  /** absent: "hb" if this host has it */
  group?: string;
  history: number;
}
export interface MetricsConfig {
  listen?: string;
}
export interface PathsConfig {
  state_dir: string;
  script_dirs: string[];
}
export interface Config {
  file: string;
  cluster: ClusterConfig;
  timing: TimingConfig;
  auth: AuthConfig;
  nodes: NodeConfig[];
  links: LinkConfig[];
  groups: GroupConfig[];
  addresses: AddressesConfig;
  resources: ResourcesConfig;
  health: HealthConfig;
  quorum: QuorumConfig;
  log: LogConfig;
  control: ControlConfig;
  uplink: UplinkConfig;
  fencing: FencingConfig;
  watchdog: WatchdogConfig;
  legacy: LegacyConfig;
  metrics: MetricsConfig;
  paths: PathsConfig;
}
