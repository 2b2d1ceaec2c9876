/** The control layer without a daemon: protocol parsing, report verdicts, metrics, history, reload plans, systemd. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/validate.ts";
import { History } from "../../src/control/history.ts";
import { isResponse, MAX_REQUEST, parseRequest } from "../../src/control/protocol.ts";
import { evaluate, prometheus, unreachable } from "../../src/control/report.ts";
import { renderStatus, type Status } from "../../src/control/status.ts";
import { planReload } from "../../src/daemon/reload.ts";
import { Notifier, systemdUnit } from "../../src/daemon/systemd.ts";
import { syslogLine } from "../../src/log/sinks.ts";

const dir = mkdtempSync(join(tmpdir(), "hb-ctl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("protocol v1", () => {
  const code = (line: string) => {
    const r = parseRequest(line);
    return isResponse(r) ? (r.ok ? "ok" : r.error.code) : r.cmd;
  };
  test.each([
    ['{"v":1,"cmd":"status"}', "status"],
    ['{"v":1,"cmd":"standby","group":"web"}', "standby"],
    ['{"v":1,"cmd":"takeover","group":"all","force":true}', "takeover"],
    ['{"v":1,"cmd":"history","limit":5}', "history"],
    ["", "bad_request"],
    ["[]", "bad_request"],
    ["null", "bad_request"],
    ['{"cmd":"status"}', "version"],
    ['{"v":2,"cmd":"status"}', "version"],
    ['{"v":1,"cmd":"shutdown"}', "unknown_command"],
    ['{"v":1,"cmd":"__proto__"}', "unknown_command"],
    ['{"v":1,"cmd":"standby"}', "bad_request"],
    ['{"v":1,"cmd":"standby","group":"../../etc"}', "bad_request"],
    ['{"v":1,"cmd":"standby","group":"web","force":"yes"}', "bad_request"],
    ['{"v":1,"cmd":"history","limit":-1}', "bad_request"],
    ["\u0000\u00ff garbage", "bad_request"],
  ])("%s -> %s", (line, want) => expect(code(line)).toBe(want));
  test("the request limit is 64 KiB", () => expect(MAX_REQUEST).toBe(65536));
});

/** A healthy two-node status: node a runs web (preferred a). */
function healthy(): Status {
  const link = (name: string) => ({
    name,
    state: "up" as const,
    last_heard_ms: 20,
    late_count: 0,
    frames_rx: 100,
    auth_failures: 0,
    last_auth_failure_ms: null as number | null,
  });
  const drops = {
    length: 0,
    version: 0,
    cluster: 0,
    sender: 0,
    key: 0,
    mac: 0,
    link: 0,
    generation: 0,
    replay: 0,
    duplicate: 0,
  };
  return {
    schema: "hb.status/1",
    version: "0.1.0",
    time: "2026-11-22T10:00:00.000Z",
    node: {
      name: "a",
      id: 1,
      state: "active",
      since: "2026-11-22T09:00:00.000Z",
      pid: 1,
      uptime_s: 3600,
      config: "/etc/hb/ha.toml",
      generation: "1",
      yields: [],
      score: 100,
      score_measured: null,
      faults: [],
    },
    fencing: [],
    duplicates: [],
    legacy: { nodes: [], packets: 0, bad: 0, last_bad: null, forged: 0, last_forged: null },
    cluster: { name: "c", auto_failback: true },
    peers: [
      {
        name: "b",
        id: 2,
        state: "up",
        node_state: "active",
        last_heard_ms: 20,
        yields: [],
        score: 100,
        links: [link("udp:eth0"), link("ether:eth1")],
      },
    ],
    links: ["udp:eth0", "ether:eth1"].map((name) => ({
      name,
      kind: name.split(":")[0]!,
      sending: true,
      carrier: true,
      frames_tx: 100,
      tx_errors: 0,
      frames_rx: 100,
      drops: { ...drops },
    })),
    groups: [
      {
        name: "web",
        preferred: "a",
        here: "running",
        blocked: false,
        failed_until: null,
        holders: ["a"],
        since: "2026-11-22T09:00:00.000Z",
        reason: "start",
        resources: ["ip 198.51.100.200/24"],
      },
    ],
    conflicts: [],
    counters: { failovers: 0, group_starts: 1, commands: 0 },
    events: [],
  };
}

describe("hb report verdicts", () => {
  const cases: [string, (s: Status) => void, number, string][] = [
    ["all well", () => {}, 0, "HB OK - a active, 1/1 peers up, running web"],
    [
      "a link down",
      (s) => {
        s.peers[0]!.links[1]!.state = "dead";
      },
      1,
      "HB WARNING - link ether:eth1 to b dead (redundancy lost)",
    ],
    [
      "a late peer",
      (s) => {
        s.peers[0]!.state = "late";
      },
      1,
      "HB WARNING - peer b late",
    ],
    [
      "a link that cannot send",
      (s) => {
        s.links[0]!.sending = false;
      },
      1,
      "HB WARNING - link udp:eth0 cannot send",
    ],
    [
      "no carrier",
      (s) => {
        s.links[1]!.carrier = false;
      },
      1,
      "HB WARNING - link ether:eth1 has no carrier",
    ],
    [
      "away from its preferred node",
      (s) => {
        s.groups[0]!.holders = ["b"];
        s.groups[0]!.here = "stopped";
      },
      1,
      "HB WARNING - group web on b, not on its preferred node a",
    ],
    [
      "an address conflict in the last hour",
      (s) => {
        s.conflicts.push({
          address: "198.51.100.200",
          interface: "eth0",
          time: "2026-11-22T09:30:00.000Z",
          message: "x",
        });
      },
      1,
      "HB WARNING - address conflict on 198.51.100.200 (last hour)",
    ],
    [
      "an old address conflict",
      (s) => {
        s.conflicts.push({
          address: "198.51.100.200",
          interface: "eth0",
          time: "2026-11-22T08:00:00.000Z",
          message: "x",
        });
      },
      0,
      "HB OK",
    ],
    [
      "this node in standby",
      (s) => {
        s.node.state = "standby";
        s.groups[0]!.holders = ["b"];
        s.groups[0]!.preferred = "b";
      },
      1,
      "HB WARNING - node a in standby",
    ],
    [
      "a dead peer",
      (s) => {
        s.peers[0]!.state = "dead";
        s.peers[0]!.last_heard_ms = 61_000;
      },
      2,
      "HB CRITICAL - peer b dead (last heard 61 s ago)",
    ],
    [
      "a peer that left (a planned stop)",
      (s) => {
        s.peers[0]!.state = "left";
        s.peers[0]!.last_heard_ms = 5_000;
      },
      2,
      "HB CRITICAL - peer b left (a planned stop, last heard 5 s ago): no failover target",
    ],
    [
      "a peer never heard whose frames fail authentication",
      (s) => {
        s.peers[0]!.state = "unknown";
        s.peers[0]!.last_heard_ms = null;
        s.peers[0]!.links[0]!.auth_failures = 12;
        s.peers[0]!.links[0]!.last_auth_failure_ms = 300;
      },
      2,
      "HB CRITICAL - peer b not heard: frames from b fail authentication on udp:eth0: are the keys the same?",
    ],
    [
      "old authentication failures are not reported",
      (s) => {
        s.peers[0]!.links[0]!.auth_failures = 3;
        s.peers[0]!.links[0]!.last_auth_failure_ms = 3_600_000;
      },
      0,
      "HB OK - ",
    ],
    [
      "a group running nowhere",
      (s) => {
        s.groups[0]!.holders = [];
        s.groups[0]!.here = "stopped";
      },
      2,
      "HB CRITICAL - group web running nowhere",
    ],
    [
      "a failed group",
      (s) => {
        s.groups[0]!.here = "failed";
        s.groups[0]!.holders = ["b"];
        s.groups[0]!.preferred = "b";
        s.groups[0]!.failure = "ip 192.0.2.10/24 failed to start";
      },
      2,
      "HB CRITICAL - group web failed on a: ip 192.0.2.10/24 failed to start",
    ],
    [
      "no quorum",
      (s) => {
        s.node.quorum = { votes_heard: 1, votes_total: 3, has: false };
      },
      2,
      "HB CRITICAL - a has no quorum: hears 1 of 3 votes, so it holds and takes nothing",
    ],
    [
      "a blocked group",
      (s) => {
        s.groups[0]!.here = "failed";
        s.groups[0]!.blocked = true;
      },
      2,
      "HB CRITICAL - group web blocked on a: a resource could not be stopped",
    ],
    [
      "fencing failing",
      (s) => {
        s.fencing.push({ peer: "b", state: "failed", attempts: 2, since: s.time, error: "exit 1" });
      },
      2,
      "HB CRITICAL - fencing b failed (2 attempts: exit 1): its groups are not taken over",
    ],
    [
      "fencing under way",
      (s) => {
        s.fencing.push({ peer: "b", state: "running", attempts: 1, since: s.time, error: null });
      },
      1,
      "HB WARNING - fencing b in progress",
    ],
    [
      "uplink degraded",
      (s) => {
        s.node.score_measured = 50;
      },
      1,
      "HB WARNING - uplink of a: score 50",
    ],
    [
      "uplink gone",
      (s) => {
        s.node.score_measured = 0;
      },
      2,
      "HB CRITICAL - uplink of a: score 0",
    ],
    [
      "a fault: no carrier on the group's interface",
      (s) => {
        s.node.faults.push({ group: "web", reason: "no carrier on eth0" });
        s.groups[0]!.holders = ["b"];
        s.groups[0]!.preferred = "b";
      },
      1,
      "HB WARNING - group web cannot run on a: no carrier on eth0",
    ],
    [
      "an unauthenticated Heartbeat v1 node, and forged packets: warnings only",
      (s) => {
        s.legacy.nodes.push({
          node: "oldnode",
          interface: "eth0",
          address: "198.51.100.9",
          status: "active",
          last_heard_ms: 500,
          trusted: false,
        });
        s.legacy.forged = 3;
        s.legacy.last_forged = "claims oldnode, from 198.51.100.66 on eth0: x";
      },
      1,
      "HB WARNING - Heartbeat v1 node oldnode heard on eth0 (198.51.100.9), unauthenticated: not obeyed (set [[legacy.key]]); 3 forged Heartbeat packet(s) ignored (last: claims oldnode, from 198.51.100.66 on eth0: x)",
    ],
    [
      "a duplicate node seen a moment ago",
      (s) => {
        s.duplicates.push({
          node: "b",
          link: "udp:eth0",
          addresses: ["198.51.100.2", "198.51.100.9"],
          last_seen_ms: 2_000,
        });
      },
      2,
      "HB CRITICAL - duplicate node b: two live senders on udp:eth0 (198.51.100.2 and 198.51.100.9), last 2 s ago",
    ],
    [
      "a duplicate node seen long ago",
      (s) => {
        s.duplicates.push({
          node: "b",
          link: "udp:eth0",
          addresses: ["198.51.100.2", "198.51.100.9"],
          last_seen_ms: 600_000,
        });
      },
      0,
      "HB OK - ",
    ],
    [
      "a live Heartbeat v1 node",
      (s) => {
        s.legacy.nodes.push({
          node: "oldnode",
          interface: "eth0",
          address: "198.51.100.9",
          status: "active",
          last_heard_ms: 500,
          trusted: true,
        });
        s.node.faults.push({
          group: "web",
          reason: "a live Heartbeat node (oldnode on eth0) could hold its addresses",
        });
      },
      2,
      "HB CRITICAL - Heartbeat v1 node oldnode alive on eth0 (198.51.100.9): hb takes no group with an address there",
    ],
    [
      "two owners",
      (s) => {
        s.groups[0]!.holders = ["a", "b"];
      },
      2,
      "HB CRITICAL - group web held by a and b",
    ],
    [
      "critical comes first, warnings after",
      (s) => {
        s.peers[0]!.links[1]!.state = "dead";
        s.groups[0]!.holders = ["a", "b"];
      },
      2,
      "HB CRITICAL - group web held by a and b; link ether:eth1 to b dead (redundancy lost)",
    ],
  ];
  for (const [name, change, code, line] of cases)
    test(name, () => {
      const s = healthy();
      change(s);
      const r = evaluate(s);
      expect(r.code).toBe(code);
      expect(r.summary.startsWith(line)).toBe(true);
    });
  test("daemon down: UNKNOWN (3)", () => {
    expect(unreachable("hb daemon not reachable at /run/hb/hb.sock: no socket")).toMatchObject({
      code: 3,
      level: "UNKNOWN",
      summary: "HB UNKNOWN - hb daemon not reachable at /run/hb/hb.sock: no socket",
    });
  });
});

describe("metrics and rendering", () => {
  test("every sample line is NAME{labels} VALUE after its HELP and TYPE; label values are escaped", () => {
    const s = healthy();
    s.groups[0]!.name = 'we"b';
    const text = prometheus(s, evaluate(s));
    const seen = new Set<string>();
    for (const line of text.trim().split("\n")) {
      const help = /^# HELP (\w+) \S/.exec(line);
      const type = /^# TYPE (\w+) (gauge|counter)$/.exec(line);
      if (help) seen.add(`help:${help[1]}`);
      else if (type) seen.add(`type:${type[1]}`);
      else {
        const m = /^(\w+)(\{[^}]*\})? (-?\d+(\.\d+)?(e-?\d+)?)$/.exec(line);
        expect(m, line).not.toBeNull();
        expect(seen.has(`help:${m![1]}`) && seen.has(`type:${m![1]}`)).toBe(true);
      }
    }
    expect(text).toContain('hb_group_running_here{group="we\\"b"} 1');
    expect(text).toContain('hb_frames_dropped_total{link="udp:eth0",reason="mac"} 0');
  });
  test("daemon down: hb_up 0 and the verdict only", () => {
    expect(prometheus(undefined, unreachable("x"))).toBe(
      "# HELP hb_up 1 if the hb daemon answered on its control socket.\n# TYPE hb_up gauge\nhb_up 0\n# HELP hb_report_status Verdict of hb report: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n# TYPE hb_report_status gauge\nhb_report_status 3\n",
    );
  });
  test("the status table shows peers, links, groups and events", () => {
    const s = healthy();
    s.events.push({
      time: "2026-11-22T09:00:00.000Z",
      kind: "group",
      text: "group web: starting -> running (all resources started)",
      cause: "start of ip done",
    });
    const t = renderStatus(s);
    expect(t).toContain("Cluster c: node a (id 1) is ACTIVE since 2026-11-22 09:00:00Z");
    expect(t).toMatch(/\n {2}b +up +active +20 ms ago +udp:eth0 +up +0 +20 ms ago\n/);
    expect(t).toMatch(/\n {2}web +a +running +a +2026-11-22 09:00:00Z +start\n/);
    expect(t).toContain(
      "2026-11-22 09:00:00Z  group web: starting -> running (all resources started)  [start of ip done]",
    );
  });
});

describe("history", () => {
  test("bounded in memory and on disk; survives a restart; skips torn lines", () => {
    const file = join(dir, "history.jsonl");
    const h = new History(file, 10);
    for (let i = 0; i < 55; i++) h.add("group", `event ${i}`, "test");
    expect(h.recent().map((e) => e.text)).toEqual(Array.from({ length: 10 }, (_, i) => `event ${45 + i}`));
    expect(readFileSync(file, "utf8").trim().split("\n").length).toBeLessThanOrEqual(20);
    writeFileSync(file, `${readFileSync(file, "utf8")}{"time":"2026-11-2`, { flag: "w" });
    const again = new History(file, 10);
    expect(again.recent().at(-1)!.text).toBe("event 54");
    expect(again.recent()).toHaveLength(10);
  });
  test("an unwritable file is reported, not thrown", () => {
    const h = new History("/proc/hb-cannot-write/history.jsonl", 10);
    h.add("daemon", "x");
    expect(h.lastError).toContain("cannot write");
    expect(h.recent()).toHaveLength(1);
  });
});

describe("reload plans are all or nothing", () => {
  const env = { hostname: "n1", uid: 0, open: () => ({ mode: 0o600, uid: 0, text: "k" }) };
  const base = `[cluster]\nname = "c"\nnode = "n1"\n[auth]\n[[auth.key]]\nid = 1\nsecret = "s"\n[[node]]\nname = "n1"\n[[node]]\nname = "n2"\n[fencing]\nmethod = "none"\n[[link]]\nkind = "udp"\ninterface = "eth0"\n[[group]]\nname = "web"\npreferred = "n1"\nresources = [{ ip = "198.51.100.10/24", interface = "eth0" }]\n`;
  const cfg = (extra = "", text = base) => parseConfig(text + extra, "ha.toml", env);
  test("timing, logging, a new group at the end: applied", () => {
    const p = planReload(
      cfg(),
      cfg(
        '[[group]]\nname = "db"\npreferred = "n2"\nresources = [{ script = "db" }]\n[timing]\nkeepalive = "50ms"\n[log]\nlevel = "debug"\n',
      ),
    );
    expect(p.refused).toEqual([]);
    expect(p.changes).toEqual([
      "timing.keepalive: 100ms -> 50ms",
      'log.level: "info" -> "debug"',
      "group db added (preferred n2)",
    ]);
  });
  test("links, keys, an existing group: refused, with every reason", () => {
    const p = planReload(
      cfg(),
      cfg(
        "",
        base
          .replace('interface = "eth0"\n[[group]]', 'interface = "eth1"\n[[group]]')
          .replace('secret = "s"', 'secret = "t"')
          .replace("198.51.100.10", "198.51.100.11"),
      ),
    );
    expect(p.refused).toEqual([
      "auth.keys[0].secret changed: restart hb to change keys (list the new key beside the old one first, so nodes with either agree)",
      'link[0].interface: "eth0" -> "eth1"; link[0].name: "udp:eth0" -> "udp:eth1": restart hb to change it (one node at a time)',
      "group web changed: its resources may be running; restart hb to change it (one node at a time)",
    ]);
  });
  test("a group's monitors and failure handling, and the health check: applied live, each change named", () => {
    const p = planReload(
      cfg(),
      cfg(
        '[health]\ncommand = ["/usr/local/bin/fit"]\npenalty = 30\n',
        base.replace(
          'interface = "eth0" }]',
          'interface = "eth0", monitor = { interval = "2s", fall = 3 } }]\non_fail = "failover"\nrestart_window = "1h"',
        ),
      ),
    );
    expect(p.refused).toEqual([]);
    expect(p.changes).toEqual([
      'health.command: [] -> ["/usr/local/bin/fit"]',
      "health.penalty: 50 -> 30",
      'group.web.on_fail: "restart" -> "failover"',
      "group.web.restart_window: 15m -> 60m",
      "group.web.resources[0].monitor.interval: 10s -> 2s",
      "group.web.resources[0].monitor.fall: 2 -> 3",
    ]);
  });
  test("quorum (mode or a node's votes) needs a restart of every node", () => {
    const p = planReload(cfg(), cfg('[quorum]\nmode = "majority"\n'));
    expect(p.refused).toEqual(['quorum.mode: "none" -> "majority": restart hb to change it (one node at a time)']);
    const votes = planReload(cfg(), cfg("", base.replace('[[node]]\nname = "n2"', '[[node]]\nname = "n2"\nvotes = 2')));
    expect(votes.refused).toEqual(["quorum.votes.n2: 1 -> 2: restart hb to change it (one node at a time)"]);
  });
  test("uplink, fencing and watchdog need a restart", () => {
    const p = planReload(
      cfg(),
      cfg(
        '[uplink]\ntargets = ["198.51.100.1"]\n[watchdog]\ndevice = "/dev/watchdog"\n',
        base.replace('[fencing]\nmethod = "none"', '[fencing]\nmethod = "command"\ncommand = ["/bin/fence"]'),
      ),
    );
    expect(p.refused).toEqual([
      'uplink.targets[0]: absent -> "198.51.100.1": restart hb to change it (one node at a time)',
      'fencing.method: "none" -> "command"; fencing.command[0]: absent -> "/bin/fence": restart hb to change it (one node at a time)',
      'watchdog.device: absent -> "/dev/watchdog": restart hb to change it (one node at a time)',
    ]);
  });
  test("a removed group or one inserted before the others: refused", () => {
    expect(planReload(cfg(), cfg("", base.replace(/\[\[group\]\][\s\S]*$/, ""))).refused[0]).toMatch(
      /^group web was removed/,
    );
    const inserted = base.replace(
      "[[group]]",
      '[[group]]\nname = "db"\npreferred = "n2"\nresources = [{ script = "db" }]\n[[group]]',
    );
    expect(planReload(cfg(), cfg("", inserted)).refused[0]).toMatch(/^group web was replaced by db at the same place/);
  });
});

describe("systemd", () => {
  test("the unit runs this binary with this config, Type=notify with a watchdog", () => {
    const env = { hostname: "n1", uid: 0, open: () => ({ mode: 0o600, uid: 0, text: "k" }) };
    const c = parseConfig(
      `[cluster]\nname = "c"\nnode = "n1"\n[auth]\n[[auth.key]]\nid = 1\nsecret = "s"\n[[node]]\nname = "n1"\n[[node]]\nname = "n2"\n[fencing]\nmethod = "none"\n[[link]]\nkind = "udp"\ninterface = "eth0"\n[[group]]\nname = "db"\npreferred = "n1"\nresources = [{ script = "pg", timeout = "2m" }]\n`,
      "ha.toml",
      env,
    );
    const u = systemdUnit("/usr/local/sbin/hb", "/etc/hb/my ha.toml", c);
    expect(u).toContain("Type=notify\n");
    expect(u).toContain('ExecStart=/usr/local/sbin/hb --config "/etc/hb/my ha.toml"\n');
    expect(u).toContain("WatchdogSec=10s\n");
    expect(u).toContain("KillMode=mixed\n");
    expect(u).toContain("TimeoutStopSec=390s\n"); // 120 s stop x (2 retries + 1) + 30 s
    // hb's own directories at their default places: systemd makes them, root's and 0700
    expect(u).toContain("RuntimeDirectory=hb\nRuntimeDirectoryMode=0700\nStateDirectory=hb\nStateDirectoryMode=0700\n");
    const other = systemdUnit("/usr/local/sbin/hb", "/etc/hb/ha.toml", {
      ...c,
      paths: { ...c.paths, state_dir: "/srv/hb" },
      control: { ...c.control, socket: "/srv/hb/hb.sock" },
    });
    expect(other).not.toContain("Directory=");
  });
  test("the notifier speaks only with NOTIFY_SOCKET, and pings at half WATCHDOG_USEC for our pid only", () => {
    const sent: string[] = [];
    const n = new Notifier(
      { NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "4000000", WATCHDOG_PID: "42" },
      (p, m) => sent.push(`${p} ${m}`),
      42,
    );
    expect(n.watchdogMs).toBe(2000);
    n.ready("active");
    n.status("active");
    n.status("standby");
    n.watchdog();
    expect(sent).toEqual(["@sd READY=1\nSTATUS=active", "@sd STATUS=standby", "@sd WATCHDOG=1"]);
    expect(
      new Notifier({ NOTIFY_SOCKET: "@sd", WATCHDOG_USEC: "4000000", WATCHDOG_PID: "7" }, () => {}, 42).watchdogMs,
    ).toBeUndefined();
    const quiet: string[] = [];
    new Notifier({}, (_p, m) => quiet.push(m)).ready("x");
    expect(quiet).toEqual([]);
  });
  test("a syslog line carries facility and severity", () => {
    const d = new Date(2026, 10, 2, 7, 5, 9);
    expect(syslogLine("local0", { level: "warn", tag: "cluster", message: "m", date: d }, 9)).toBe(
      "<132>Nov  2 07:05:09 hb[9]: WARN [cluster] m",
    );
    expect(syslogLine("daemon", { level: "error", tag: "", message: "x", date: d }, 9)).toBe(
      "<27>Nov  2 07:05:09 hb[9]: ERROR x",
    );
  });
});
