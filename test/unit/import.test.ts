/** hb import: both articles' files, tricky files, and the CLI around it. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConfigEnv, parseConfig } from "../../src/config/validate.ts";
import { importLegacy, type LegacyFiles, legacyDuration } from "../../src/legacy/import.ts";

const FIX = join(import.meta.dir, "../fixtures/legacy");
const HB = join(import.meta.dir, "../../dist/hb");
const dir = mkdtempSync(join(tmpdir(), "hb-import-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixture = (name: string): LegacyFiles => {
  const r = (f: string) => {
    try {
      return readFileSync(join(FIX, name, f), "utf8");
    } catch {
      return undefined;
    }
  };
  return {
    dir: `/etc/ha.d`,
    haCf: r("ha.cf"),
    haresources: r("haresources"),
    authkeys: r("authkeys"),
    authkeysMode: 0o100600,
  };
};

/** hb check's validation, on this machine's view: the key file exists with mode 0600. */
const check = (toml: string, node: string) => {
  const env: ConfigEnv = {
    hostname: node,
    uid: 0,
    open: (p) =>
      p === "/etc/hb/authkey" || p === "ha.toml"
        ? { mode: 0o100600, uid: 0, text: "0123456789abcdef0123456789abcdef" }
        : new Error("ENOENT"),
  };
  return parseConfig(toml, "ha.toml", env);
};

describe("the articles' configurations", () => {
  test("article 1 (remote-lab.net): sha1 key, bcast, logfile and facility, IPaddr with a dotted netmask", () => {
    const r = importLegacy(fixture("article1"));
    const c = check(r.toml, "server1");
    expect(c.cluster).toEqual({ name: "ha", node: "server1", auto_failback: true });
    expect(c.timing).toMatchObject({ keepalive: 1000, warntime: 2500, deadtime: 5000, initdead: 12_000 });
    expect(c.auth.keys[0]!.id).toBe(2);
    expect(new TextDecoder().decode(c.auth.keys[0]!.secret)).toBe("pass");
    expect(c.nodes.map((n) => n.name)).toEqual(["server1", "server2"]);
    expect(c.links).toEqual([
      { kind: "udp", name: "udp:eth0", interface: "eth0", mode: "broadcast", port: 694, ttl: 1, peers: {} },
    ]);
    expect(c.groups[0]).toMatchObject({ name: "group1", preferred: "server1" });
    expect(c.groups[0]!.resources[0]).toMatchObject({
      kind: "ip",
      address: "10.0.0.20",
      prefix: 24,
      interface: "eth0",
      label: "eth0:0",
    });
    expect(c.log).toMatchObject({ file: "/var/log/ha-log", facility: "local0" });
    expect(c.fencing.method).toBe("none");
    expect(r.hasKey).toBe(true);
    // the old key also goes to the legacy guard, as Heartbeat uses it (key 2, sha1)
    expect(c.legacy.keys).toHaveLength(1);
    expect(c.legacy.keys[0]).toMatchObject({ id: 2, method: "sha1" });
    expect(new TextDecoder().decode(c.legacy.keys[0]!.secret)).toBe("pass");
    expect(r.toml).toContain("# from ha.cf:5: bcast eth0");
    expect(r.toml).toContain("# from haresources:1: server1 IPaddr::10.0.0.20/255.255.255.0");
    expect(r.toml).not.toContain("sha1 pass"); // the comment names the line, not the key
    // the article's wrapped comment is a line of its own: Heartbeat would have refused it
    expect(r.warnings).toContain(
      '/etc/ha.d/ha.cf:8: unknown directive "to": ignored (check the spelling; Heartbeat would have refused to start)',
    );
  });

  test("article 2 (Arch wiki): default keepalive, warntime above deadtime fixed, use_logd, the gateway form, three scripts", () => {
    const r = importLegacy(fixture("article2"));
    const c = check(r.toml, "node1");
    expect(c.timing).toMatchObject({ keepalive: 1000, warntime: 3000, deadtime: 5000, initdead: 15_000 });
    expect(c.groups[0]!.name).toBe("named");
    expect(
      c.groups[0]!.resources.map((x) =>
        x.kind === "ip" ? `ip ${x.address}/${x.prefix} ${x.interface}` : x.kind === "script" ? x.script : "",
      ),
    ).toEqual(["ip 100.200.230.1/24 eth0", "named", "httpd", "mysqld"]);
    // Heartbeat read a script's status by its words: so do the imported monitors
    expect(c.groups[0]!.resources.map((x) => (x.kind === "script" ? x.monitor.style : "-"))).toEqual([
      "-",
      "heartbeat",
      "heartbeat",
      "heartbeat",
    ]);
    expect(r.toml).toContain('{ script = "httpd", monitor = { style = "heartbeat" } },');
    const w = r.warnings.join("\n");
    expect(w).toContain(
      '/etc/ha.d/ha.cf:2: warntime "10s" is not between keepalive "1s" and deadtime "5s": hb requires it; "3s" is written',
    );
    expect(w).toContain("/etc/ha.d/ha.cf:8: use_logd yes: hb sends to syslog itself");
    expect(w).toContain("100.200.230.6 is neither a prefix length nor a netmask (the article calls it a gateway)");
    expect(w).toContain("/etc/ha.d/authkeys: missing");
    expect(r.toml).toContain('file = "/etc/hb/authkey"');
    expect(r.hasKey).toBe(false);
  });

  test("the output is stable: same input, same output", () => {
    for (const f of ["article1", "article2"]) expect(importLegacy(fixture(f))).toEqual(importLegacy(fixture(f)));
  });
});

describe("tricky files", () => {
  const base = "keepalive 500ms\ndeadtime 2.5\nwarntime 1\ninitdead 10\nnode a\nnode b\n";
  const run = (haCf: string, haresources = "a 198.51.100.10\n", authkeys = "auth 1\n1 md5 k3y with spaces\n") =>
    importLegacy({ dir: "/d", haCf, haresources, authkeys, authkeysMode: 0o100600 });

  test("durations keep their units: ms suffix and decimals", () => {
    expect([
      legacyDuration("2"),
      legacyDuration("500ms"),
      legacyDuration("1.5"),
      legacyDuration("2s"),
      legacyDuration("x"),
    ]).toEqual([2000, 500, 1500, 2000, undefined]);
    const r = run(`${base}bcast eth0\n`);
    expect(r.toml).toContain('keepalive = "500ms"');
    expect(r.toml).toContain('deadtime = "2.5s"');
    expect(check(r.toml, "a").timing).toMatchObject({
      keepalive: 500,
      warntime: 1000,
      deadtime: 2500,
      initdead: 10_000,
    });
  });

  test("udpport and baud apply to the media lines after them, in order", () => {
    const r = run(
      `${base}bcast eth0\nudpport 700\nbcast eth1 eth2\nbaud 38400\nserial /dev/ttyS0\nbaud 9600\nserial /dev/ttyS1\nmcast eth3 239.0.0.9 701 2 0\n`,
    );
    const c = check(r.toml, "a");
    expect(
      c.links.map((l) =>
        l.kind === "udp" ? `${l.name} ${l.mode} ${l.port}` : l.kind === "serial" ? `${l.name} ${l.baud}` : l.name,
      ),
    ).toEqual([
      "udp:eth0 broadcast 694",
      "udp:eth1 broadcast 700",
      "udp:eth2 broadcast 700",
      "serial:/dev/ttyS0 38400",
      "serial:/dev/ttyS1 9600",
      "udp:eth3 multicast 701",
    ]);
  });

  test("three nodes or more: majority quorum, written out with the reason; two: none written (pairs have no majority)", () => {
    const three = run(`${base}node c\nbcast eth0\n`);
    expect(three.toml).toContain("[quorum]\n# 3 nodes: a node holds groups only while it hears a majority of them");
    expect(check(three.toml, "a").quorum).toEqual({ mode: "majority", votes: { a: 1, b: 1, c: 1 } });
    const two = run(`${base}bcast eth0\n`);
    expect(two.toml).not.toContain("[quorum]");
    expect(check(two.toml, "a").quorum.mode).toBe("none");
  });

  test("continuations, comments, tabs, several groups and several VIPs", () => {
    const res =
      "# a comment\n\na\tIPaddr::198.51.100.10/24/eth0 \\\n   IPaddr2::198.51.100.11/25/eth1 httpd # web\nb 198.51.100.20 Filesystem::/dev/sdb1::/data::ext4 \\\n  mysqld\n";
    const r = run(`${base}bcast eth0\n`, res);
    const c = check(r.toml, "a");
    expect(
      c.groups.map(
        (g) =>
          `${g.name}@${g.preferred}: ${g.resources.map((x) => (x.kind === "ip" ? `${x.address}/${x.prefix}${x.label ? ` ${x.label}` : ""}` : x.kind === "script" ? [x.script, ...x.args].join(" ") : "")).join(", ")}`,
      ),
    ).toEqual([
      "httpd@a: 198.51.100.10/24 eth0:0, 198.51.100.11/25, httpd",
      "Filesystem@b: 198.51.100.20/24 eth0:1, Filesystem /dev/sdb1 /data ext4, mysqld",
    ]);
    expect(r.toml).toContain(
      "# from haresources:3: a IPaddr::198.51.100.10/24/eth0 IPaddr2::198.51.100.11/25/eth1 httpd",
    );
    expect(r.warnings.join("\n")).toContain("Filesystem::/dev/sdb1::/data::ext4: a Heartbeat resource agent");
  });

  test("addresses: an IPaddr2 label (eth0:web) stays a label, IPv6 (IPaddr2 or IPv6addr) is converted", () => {
    const r = run(
      `${base}bcast eth0\n`,
      "a IPaddr2::198.51.100.10/24/eth0:web IPaddr2::2001:db8::10/64/eth0 IPv6addr::2001:db8::11/64/eth1 httpd\n",
    );
    const c = check(r.toml, "a");
    expect(c.groups[0]!.resources.slice(0, 3)).toMatchObject([
      { kind: "ip", address: "198.51.100.10", prefix: 24, interface: "eth0", label: "eth0:web" },
      { kind: "ip", family: 6, address: "2001:db8::10", prefix: 64, interface: "eth0" },
      { kind: "ip", family: 6, address: "2001:db8::11", prefix: 64, interface: "eth1" },
    ]);
    expect(r.warnings.join("\n")).not.toContain("skipped");
  });

  test("realtime off, and rtprio N: the heartbeat thread's real-time priority", () => {
    expect(check(run(`${base}bcast eth0\nrealtime off\n`).toml, "a").timing.rt_priority).toBe(0);
    expect(check(run(`${base}bcast eth0\nrealtime on\nrtprio 30\n`).toml, "a").timing.rt_priority).toBe(30);
    expect(check(run(`${base}bcast eth0\n`).toml, "a").timing.rt_priority).toBe(10); // hb's default
    expect(run(`${base}bcast eth0\nrtprio 300\n`).warnings.join("\n")).toContain("rtprio 300: expected 1 to 99");
  });

  test("crm on (a Pacemaker cluster) is refused: nothing to import", () => {
    const r = run(`${base}bcast eth0\ncrm on\n`);
    expect(r.refused).toContain("crm on: a Pacemaker (CRM) cluster keeps its resources in the CIB");
    expect(run(`${base}bcast eth0\ncrm off\n`).refused).toBeUndefined();
  });

  test("ucast: both nodes' addresses (one file for both), or only the peer's (this node's file)", () => {
    const both = run(`${base}ucast eth1 203.0.113.1\nucast eth1 203.0.113.2\n`);
    expect(check(both.toml, "a").links[0]).toMatchObject({
      kind: "udp",
      mode: "unicast",
      peers: { a: "203.0.113.1", b: "203.0.113.2" },
    });
    // Heartbeat never paired addresses with nodes: the order is a guess, and the import says so
    expect(both.warnings.join("\n")).toContain(
      "ucast eth1: 203.0.113.1, 203.0.113.2 are matched to a, b in file order (Heartbeat did not pair them)",
    );
    const one = run(`${base}ucast eth1 203.0.113.2\n`);
    expect(check(one.toml, "a").links[0]).toMatchObject({ kind: "udp", mode: "unicast", peers: { b: "203.0.113.2" } });
    expect(one.warnings.join("\n")).toContain('add a = "<its address on eth1>"');
  });

  test("node names with dots are quoted keys in unicast peers, and the output is valid TOML", () => {
    const r = importLegacy({
      dir: "/d",
      haCf: "node alpha.example.com beta.example.com\nucast eth1 203.0.113.1 203.0.113.2\n",
    });
    expect(r.toml).toContain('peers = { "alpha.example.com" = "203.0.113.1", "beta.example.com" = "203.0.113.2" }');
    expect(check(r.toml, "alpha.example.com").links[0]).toMatchObject({
      peers: { "alpha.example.com": "203.0.113.1", "beta.example.com": "203.0.113.2" },
    });
  });

  test("an mcast line with a port or ttl out of range is reported, not written", () => {
    const r = importLegacy({ dir: "/d", haCf: "node a b\nmcast eth0 239.0.0.1 99999 1 0\n" });
    expect(r.warnings.join("\n")).toContain(
      "/d/ha.cf:2: mcast port 99999 ttl 1: a port is 1..65535 and a ttl 1..255: ignored",
    );
    expect(r.toml).not.toContain("[[link]]");
  });

  test("every directive of the issue is mapped or explained", () => {
    const r = run(
      `${base}bcast eth0\nauto_failback legacy\nping 198.51.100.1\nping_group gw 198.51.100.2 198.51.100.3\nrespawn hacluster /usr/lib/heartbeat/ipfail\nrespawn root /usr/sbin/mon\nlogfile /var/log/ha.log\ndebugfile /var/log/ha-debug\nlogfacility daemon\nuse_logd no\nstonith_host * baytech 10.0.0.3 mylogin mysecretpassword\nwatchdog /dev/watchdog\nrealtime on\ncrm off\nhopfudge 1\nfrobnicate 3\n`,
    );
    const c = check(r.toml, "a");
    expect(c.cluster.auto_failback).toBe(false);
    expect(c.uplink.targets).toEqual(["198.51.100.1", "198.51.100.2", "198.51.100.3"]);
    expect(c.fencing).toMatchObject({
      method: "command",
      command: ["/usr/sbin/stonith", "-t", "baytech", "-p", "10.0.0.3 mylogin mysecretpassword", "-T", "off"],
    });
    expect(c.watchdog.device).toBe("/dev/watchdog");
    expect(c.log).toMatchObject({ file: "/var/log/ha.log", facility: "daemon" });
    const w = r.warnings.join("\n");
    for (const s of [
      "ha.cf:8: auto_failback legacy (nice_failback off) has no exact equivalent",
      "ha.cf:10: ping_group gw: hb counts each address as its own target",
      "ha.cf:12: respawn root /usr/sbin/mon: hb does not supervise programs",
      "ha.cf:14: debugfile /var/log/ha-debug: hb has one log",
      "ha.cf:16: use_logd no:",
      "ha.cf:21: hopfudge: hb does not forward heartbeats",
      'ha.cf:22: unknown directive "frobnicate"',
    ])
      expect(w).toContain(s);
    expect(w).not.toContain("crm off");
    // realtime on: the heartbeat thread at hb's real-time priority, said where it came from
    expect(w).not.toContain("realtime");
    expect(r.toml).toContain("rt_priority = 10  # from ha.cf:19: realtime on");
    expect(r.toml).toContain(
      "# from ha.cf:11: respawn hacluster /usr/lib/heartbeat/ipfail (hb moves groups to the node with the better uplink by itself)",
    );
  });

  test("authkeys: crc refused, md5 carried over, a world-readable file reported, a missing selection reported", () => {
    const crc = importLegacy({
      dir: "/d",
      haCf: `${base}bcast eth0\n`,
      authkeys: "auth 1\n1 crc\n",
      authkeysMode: 0o100600,
    });
    expect(crc.hasKey).toBe(false);
    expect(crc.warnings.join("\n")).toContain("/d/authkeys:2: crc is a checksum, not authentication");
    const md5 = run(`${base}bcast eth0\n`);
    expect(new TextDecoder().decode(check(md5.toml, "a").auth.keys[0]!.secret)).toBe("k3y with spaces");
    const open = importLegacy({
      dir: "/d",
      haCf: `${base}bcast eth0\n`,
      authkeys: "auth 3\n3 sha1 x\n",
      authkeysMode: 0o100644,
    });
    expect(open.warnings[0]).toBe(
      "/d/authkeys: readable by group or others (mode 644): the key may be known to others: make a new one when you switch to hb",
    );
    const none = importLegacy({
      dir: "/d",
      haCf: `${base}bcast eth0\n`,
      authkeys: "1 sha1 x\n",
      authkeysMode: 0o100600,
    });
    expect(none.warnings.join("\n")).toContain("no `auth N` line");
  });

  test("missing files and garbage: warnings, never a crash", () => {
    const nothing = importLegacy({ dir: "/d" });
    expect(nothing.warnings.map((w) => w.split(":")[0])).toEqual(["/d/ha.cf", "/d/authkeys", "/d/haresources"]);
    for (let i = 0; i < 300; i++) {
      const junk = Array.from({ length: 40 }, () => String.fromCharCode(9 + Math.floor(Math.random() * 118))).join("");
      const lines = `${base}${junk}\n${junk.split("").reverse().join("")}\nbcast ${junk.slice(0, 5)}\n`;
      expect(() =>
        importLegacy({
          dir: "/d",
          haCf: lines,
          haresources: `a ${junk}\n${junk}\n`,
          authkeys: `auth ${junk}\n${junk}\n`,
        }),
      ).not.toThrow();
    }
  });
});

describe("hb import (the binary)", () => {
  const hb = (args: string[]) => {
    const p = Bun.spawnSync([HB, ...args], { timeout: 20_000 });
    return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  };
  test("stdout by default; --out writes 0600 when it holds a key, refuses to overwrite without --force; hb check accepts it", () => {
    const out = join(dir, "ha.toml");
    const r1 = hb(["import", join(FIX, "article1")]);
    expect(r1.code).toBe(0);
    expect(r1.out).toContain('name = "server1"');
    const w = hb(["import", join(FIX, "article1"), "--out", out]);
    expect(w.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, "utf8")).toBe(r1.out);
    const again = hb(["import", join(FIX, "article1"), "--out", out]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("exists: not overwritten (use --force)");
    expect(hb(["import", join(FIX, "article1"), "--out", out, "--force"]).code).toBe(0);
    const c = hb(["check", "--config", out, "--node", "server1"]);
    expect(c.err).toBe("");
    expect(c.code).toBe(0);
  });
  test("a missing directory, a directory in place of a file, binary garbage: one clear error, exit 1", () => {
    expect(hb(["import", join(dir, "nope")]).err).toContain("no such directory");
    const d1 = join(dir, "dirfile");
    mkdirSync(join(d1, "ha.cf"), { recursive: true });
    expect(hb(["import", d1])).toMatchObject({ code: 1, err: expect.stringContaining("ha.cf is not a file") });
    const d2 = join(dir, "binary");
    mkdirSync(d2, { recursive: true });
    writeFileSync(join(d2, "ha.cf"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    expect(hb(["import", d2])).toMatchObject({ code: 1, err: expect.stringContaining("binary data") });
    const d4 = join(dir, "pacemaker");
    mkdirSync(d4, { recursive: true });
    writeFileSync(join(d4, "ha.cf"), "node a\nnode b\nbcast eth0\ncrm respawn\n");
    expect(hb(["import", d4])).toMatchObject({
      code: 1,
      out: "",
      err: expect.stringContaining(`${d4}/ha.cf:4: crm respawn: a Pacemaker (CRM) cluster`),
    });
    const d3 = join(dir, "empty");
    mkdirSync(d3, { recursive: true });
    expect(hb(["import", d3])).toMatchObject({ code: 1, err: expect.stringContaining("nothing to import") });
  });
});
