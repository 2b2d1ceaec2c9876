import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type ConfigIssue } from "../../src/config/errors.ts";
import { openFile } from "../../src/config/files.ts";
import { type ConfigEnv, parseConfig } from "../../src/config/validate.ts";
import { MONITOR_DEFAULTS } from "../lib/monitor.ts";

const BASE = `# a valid two-node cluster
[cluster]
name = "web"
auto_failback = true

[timing]
keepalive = "100ms"
warntime = "300ms"
deadtime = "500ms"
initdead = "10s"

[auth]
[[auth.key]]
id = 1
secret = "0123456789abcdef0123"

[[node]]
name = "node1"

[[node]]
name = "node2"

[[link]]
kind = "udp"
interface = "eth0"

[[link]]
kind = "ether"
interface = "eth1"

[[group]]
name = "web"
preferred = "node1"
resources = [
  { ip = "192.0.2.20/24", interface = "eth0", label = "eth0:0" },
  { script = "httpd" },
]

[fencing]
method = "none"
`;

/** A fake system: files by path as [mode, text, owner uid (default root)]; hb runs as root. */
function env(over: Partial<ConfigEnv> & { files?: Record<string, [number, string, number?]> } = {}): ConfigEnv {
  const files: Record<string, [number, string, number?]> = { "ha.toml": [0o100600, ""], ...over.files };
  return {
    hostname: "node1",
    uid: 0,
    open: (p) =>
      files[p] ? { mode: files[p][0], text: files[p][1], uid: files[p][2] ?? 0 } : new Error("no such file"),
    ...over,
  };
}

function issues(text: string, e: ConfigEnv = env()): ConfigIssue[] {
  try {
    parseConfig(text, "ha.toml", e);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

/** Replace the first occurrence of `from` (which must exist) in BASE. */
const edit = (from: string, to: string) => {
  expect(BASE.includes(from)).toBe(true);
  return BASE.replace(from, to);
};

describe("valid config", () => {
  test("the base config parses with its defaults applied", () => {
    const c = parseConfig(BASE, "ha.toml", env());
    expect(c.cluster).toEqual({ name: "web", node: "node1", auto_failback: true });
    expect(c.timing).toEqual({ keepalive: 100, warntime: 300, deadtime: 500, initdead: 10_000, rt_priority: 10 });
    expect(c.nodes).toEqual([
      { name: "node1", id: 1 },
      { name: "node2", id: 2 },
    ]);
    expect(c.links.map((l) => l.name)).toEqual(["udp:eth0", "ether:eth1"]);
    expect(c.links[0]).toMatchObject({ kind: "udp", mode: "broadcast", port: 694, ttl: 1 });
    expect(c.groups[0]!.resources).toEqual([
      {
        kind: "ip",
        ip: "192.0.2.20/24",
        family: 4,
        address: "192.0.2.20",
        prefix: 24,
        interface: "eth0",
        label: "eth0:0",
        monitor: MONITOR_DEFAULTS,
      },
      { kind: "script", script: "httpd", args: [], timeout: 60_000, monitor: MONITOR_DEFAULTS },
    ]);
    expect(c.groups[0]).toMatchObject({ on_fail: "restart", max_restarts: 3, restart_window: 900_000 });
    expect(c.health).toEqual({ command: [], interval: 10_000, timeout: 20_000, fall: 2, rise: 2, penalty: 50 });
    expect(c.auth.send).toBe(1);
    expect(new TextDecoder().decode(c.auth.keys[0]!.secret)).toBe("0123456789abcdef0123");
    expect(c.log.level).toBe("info");
    expect(c.paths.state_dir).toBe("/var/lib/hb");
    expect(c.addresses).toEqual({ lease: 3000, probe_wait: 2, garp_pairs: 3, garp_second: 1500, garp_refresh: 0 });
    expect(c.resources).toEqual({ failure_hold: 300_000, stop_retries: 2, stop_policy: "block" });
  });

  test("the lease outlasts a long deadtime by default, and must be whole seconds", () => {
    expect(
      parseConfig(
        edit(`deadtime = "500ms"`, `deadtime = "5s"`)
          .replace(`warntime = "300ms"`, `warntime = "3s"`)
          .replace(`initdead = "10s"`, `initdead = "15s"`),
        "ha.toml",
        env(),
      ).addresses.lease,
    ).toBe(6000);
    expect(issues(`${BASE}\n[addresses]\nlease = "2500ms"\n`)[0]!.message).toMatch(/not a whole number of seconds/);
  });

  test("omitted sections take their documented defaults", () => {
    const c = parseConfig(
      edit(`[timing]\nkeepalive = "100ms"\nwarntime = "300ms"\ndeadtime = "500ms"\ninitdead = "10s"\n`, ""),
      "ha.toml",
      env(),
    );
    expect(c.timing).toEqual({ keepalive: 100, warntime: 300, deadtime: 500, initdead: 10_000, rt_priority: 10 });
    expect(c.cluster.auto_failback).toBe(true);
  });

  test("--node overrides uname -n, and cluster.node overrides uname -n", () => {
    expect(parseConfig(BASE, "ha.toml", env({ nodeOverride: "node2" })).cluster.node).toBe("node2");
    expect(
      parseConfig(edit(`name = "web"\n`, `name = "web"\nnode = "node2"\n`), "ha.toml", env({ hostname: "elsewhere" }))
        .cluster.node,
    ).toBe("node2");
  });

  test("a key file with mode 0600 is read and trimmed; several keys need send", () => {
    const text = edit(
      `[[auth.key]]\nid = 1\nsecret = "0123456789abcdef0123"\n`,
      `send = 2\n[[auth.key]]\nid = 1\nfile = "/etc/hb/k1"\n[[auth.key]]\nid = 2\nfile = "/etc/hb/k2"\n`,
    );
    const c = parseConfig(
      text,
      "ha.toml",
      env({
        files: { "ha.toml": [0o100644, ""], "/etc/hb/k1": [0o100600, "one\n"], "/etc/hb/k2": [0o100400, " two "] },
      }),
    );
    expect(c.auth.send).toBe(2);
    expect(c.auth.keys.map((k) => new TextDecoder().decode(k.secret))).toEqual(["one", "two"]);
  });

  test("multicast and unicast udp links, ether peer MACs, IPv6 address, systemd unit", () => {
    const text = edit(
      `[[link]]\nkind = "udp"\ninterface = "eth0"\n`,
      `[[link]]\nkind = "udp"\ninterface = "eth0"\nmode = "multicast"\ngroup = "239.0.0.1"\nttl = 2\n\n[[link]]\nkind = "udp"\nname = "uc"\ninterface = "eth0"\nmode = "unicast"\npeers = { node1 = "192.0.2.1", node2 = "192.0.2.2" }\n\n[[link]]\nkind = "serial"\ndevice = "/dev/ttyS0"\n`,
    )
      .replace(
        `{ script = "httpd" },`,
        `{ script = "httpd" },\n  { ip = "2001:db8::10/64", interface = "eth0" },\n  { systemd = "mysqld.service", timeout = "2m" },`,
      )
      .replace(`interface = "eth1"\n`, `interface = "eth1"\npeer_mac = { node2 = "02:00:00:00:00:02" }\n`);
    const c = parseConfig(text, "ha.toml", env());
    expect(c.links.map((l) => l.name)).toEqual(["udp:eth0", "uc", "serial:/dev/ttyS0", "ether:eth1"]);
    expect(c.links[2]).toMatchObject({ kind: "serial", baud: 19200 });
    expect(c.groups[0]!.resources[2]).toMatchObject({ family: 6, prefix: 64 });
    expect(c.groups[0]!.resources[3]).toEqual({
      kind: "systemd",
      systemd: "mysqld.service",
      timeout: 120_000,
      monitor: MONITOR_DEFAULTS,
    });
  });
});

// Each broken config: the edit, then the exact position, key path and words of the first issue.
const BROKEN: [string, string, string, string, string, RegExp][] = [
  ["TOML syntax error", `name = "web"`, `name = web`, "3:8", "", /TOML syntax/],
  [
    "unknown top-level key",
    `[cluster]`,
    `[clutser]\nname = "x"\n[cluster]`,
    "2:1",
    "clutser",
    /unknown key "clutser"[\s\S]*did you mean "cluster"/,
  ],
  [
    "misspelt key",
    `auto_failback = true`,
    `auto_fallback = true`,
    "4:1",
    "cluster.auto_fallback",
    /did you mean "auto_failback"/,
  ],
  [
    "duration without unit",
    `keepalive = "100ms"`,
    `keepalive = 1`,
    "7:13",
    "timing.keepalive",
    /with a unit, like "1s"/,
  ],
  [
    "unreadable duration",
    `deadtime = "500ms"`,
    `deadtime = "half a second"`,
    "9:12",
    "timing.deadtime",
    /cannot read "half a second"/,
  ],
  [
    "deadtime not above 2 x keepalive",
    `deadtime = "500ms"`,
    `deadtime = "200ms"`,
    "9:12",
    "timing.deadtime",
    /must exceed 2 x keepalive/,
  ],
  [
    "warntime outside keepalive..deadtime",
    `warntime = "300ms"`,
    `warntime = "50ms"`,
    "8:12",
    "timing.warntime",
    /between keepalive/,
  ],
  [
    "initdead below deadtime",
    `initdead = "10s"`,
    `initdead = "400ms"`,
    "10:12",
    "timing.initdead",
    /at least deadtime/,
  ],
  ["bool written as on", `auto_failback = true`, `auto_failback = "on"`, "4:17", "cluster.auto_failback", /write true/],
  [
    "preferred node not listed",
    `preferred = "node1"`,
    `preferred = "nod1"`,
    "33:13",
    "group[0].preferred",
    /"nod1" is not a listed node[\s\S]*did you mean "node1"/,
  ],
  [
    "local node not listed",
    `name = "node1"`,
    `name = "alpha"`,
    "17:1",
    "node",
    /this node is "node1" \(from uname -n\)/,
  ],
  [
    "address without prefix",
    `"192.0.2.20/24"`,
    `"192.0.2.20"`,
    "35:10",
    "group[0].resources[0].ip",
    /no prefix length/,
  ],
  [
    "invalid address",
    `"192.0.2.20/24"`,
    `"192.0.2.300/24"`,
    "35:10",
    "group[0].resources[0].ip",
    /not an IPv4 or IPv6 address/,
  ],
  ["prefix out of range", `"192.0.2.20/24"`, `"192.0.2.20/33"`, "35:10", "group[0].resources[0].ip", /prefix \/33/],
  [
    "network address as VIP",
    `"192.0.2.20/24"`,
    `"192.0.2.0/24"`,
    "35:10",
    "group[0].resources[0].ip",
    /network address/,
  ],
  [
    "label of another interface",
    `label = "eth0:0"`,
    `label = "eth1:0"`,
    "35:55",
    "group[0].resources[0].label",
    /does not start with its interface/,
  ],
  [
    "unknown link kind",
    `kind = "ether"`,
    `kind = "ethernet"`,
    "28:1",
    "link[1].kind",
    /"ethernet" is not a known kind[\s\S]*did you mean "ether"/,
  ],
  ["link without kind", `kind = "ether"\n`, ``, "27:1", "link[1]", /missing required key "kind"/],
  [
    "multicast without group",
    `interface = "eth0"\n`,
    `interface = "eth0"\nmode = "multicast"\n`,
    "23:1",
    "link[0]",
    /needs a group/,
  ],
  [
    "unicast missing a peer",
    `interface = "eth0"\n`,
    `interface = "eth0"\nmode = "unicast"\npeers = { node1 = "192.0.2.1" }\n`,
    "27:1",
    "link[0].peers",
    /needs an address for "node2"/,
  ],
  [
    "resource with two kinds",
    `{ script = "httpd" }`,
    `{ script = "httpd", systemd = "httpd.service" }`,
    "36:3",
    "group[0].resources[1]",
    /both "script" and "systemd"/,
  ],
  [
    "missing required section",
    `[auth]\n[[auth.key]]\nid = 1\nsecret = "0123456789abcdef0123"\n`,
    ``,
    "1:1",
    "",
    /missing required key "auth"/,
  ],
  [
    "key with neither secret nor file",
    `secret = "0123456789abcdef0123"\n`,
    ``,
    "13:1",
    "auth.key[0]",
    /needs "secret" or "file"/,
  ],
  [
    "wrong type for a port",
    `interface = "eth0"\n`,
    `interface = "eth0"\nport = "694"\n`,
    "26:8",
    "link[0].port",
    /expected a whole number/,
  ],
  ["duplicate node", `name = "node2"`, `name = "node1"`, "21:8", "node[1].name", /listed twice/],
  [
    "out-of-range enum",
    `kind = "udp"\ninterface = "eth0"\n`,
    `kind = "udp"\ninterface = "eth0"\nmode = "broadcats"\n`,
    "26:8",
    "link[0].mode",
    /did you mean "broadcast"/,
  ],
];

describe("broken configs give file:line:col, key path and a hint", () => {
  for (const [name, from, to, at, path, words] of BROKEN) {
    test(name, () => {
      const found = issues(edit(from, to));
      expect(found.length).toBeGreaterThan(0);
      const first = found[0]!;
      expect(`${first.line}:${first.col}`).toBe(at);
      expect(first.path).toBe(path);
      expect(first.file).toBe("ha.toml");
      expect(`${first.message}\n${first.hint ?? ""}`).toMatch(words);
    });
  }
});

describe("secrets", () => {
  test("an inline key in a group- or world-readable ha.toml is refused", () => {
    const found = issues(BASE, env({ files: { "ha.toml": [0o100644, ""] } }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ line: 12, col: 1, path: "auth" });
    expect(found[0]!.message).toMatch(/mode 644/);
    expect(found[0]!.hint).toMatch(/chmod 600 ha.toml/);
  });
  test("a readable key file is refused, a missing one too", () => {
    const text = edit(`secret = "0123456789abcdef0123"`, `file = "/etc/hb/authkey"`);
    const readable = issues(text, env({ files: { "/etc/hb/authkey": [0o100640, "k"] } }));
    expect(readable[0]).toMatchObject({ line: 15, col: 8, path: "auth.key[0].file" });
    expect(readable[0]!.hint).toBe("chmod 600 /etc/hb/authkey");
    expect(issues(text)[0]!.message).toMatch(/cannot read key file \/etc\/hb\/authkey: no such file/);
    // the config itself may be world-readable when the key is in a file
    expect(issues(text, env({ files: { "ha.toml": [0o100644, ""], "/etc/hb/authkey": [0o100600, "k"] } }))).toEqual([]);
  });
  test("[[legacy.key]]: sha1 or md5 only; its file is checked like hb's own keys", () => {
    const legacy = (k: string) => `${BASE}\n[legacy]\n[[legacy.key]]\nid = 2\n${k}\n`;
    const crc = issues(legacy(`method = "crc"\nsecret = "x"`));
    expect(crc[0]).toMatchObject({ path: "legacy.key[0].method" });
    expect(crc[0]!.message).toBe(`"crc" is not one of "sha1", "md5"`);
    const readable = issues(
      legacy(`method = "sha1"\nfile = "/etc/ha.d/authkeys.secret"`),
      env({ files: { "/etc/ha.d/authkeys.secret": [0o100644, "k"] } }),
    );
    expect(readable[0]).toMatchObject({ path: "legacy.key[0].file" });
    expect(readable[0]!.hint).toBe("chmod 600 /etc/ha.d/authkeys.secret");
    const c = parseConfig(legacy(`method = "md5"\nsecret = "old"`), "ha.toml", env());
    expect(c.legacy.keys).toEqual([{ id: 2, method: "md5", secret: new TextEncoder().encode("old") }]);
    expect(parseConfig(BASE, "ha.toml", env()).legacy.keys).toEqual([]);
  });
  test("a key file or ha.toml owned by another user, or an ha.toml others can write, is refused", () => {
    const text = edit(`secret = "0123456789abcdef0123"`, `file = "/etc/hb/authkey"`);
    const foreign = issues(text, env({ files: { "/etc/hb/authkey": [0o100600, "k", 1000] } }));
    expect(foreign[0]).toMatchObject({
      path: "auth.key[0].file",
      message: "key file /etc/hb/authkey is owned by uid 1000, not by root",
    });
    expect(foreign[0]!.hint).toBe("chown root: /etc/hb/authkey; chmod 600 /etc/hb/authkey");
    const owned = issues(text, env({ files: { "ha.toml": [0o100644, "", 1000], "/etc/hb/authkey": [0o100600, "k"] } }));
    expect(owned[0]!.message).toBe("ha.toml is owned by uid 1000, not by root: it names the commands root runs");
    const writable = issues(text, env({ files: { "ha.toml": [0o100666, ""], "/etc/hb/authkey": [0o100600, "k"] } }));
    expect(writable[0]!.message).toBe(
      "ha.toml is writable by group or others (mode 666): it names the commands root runs",
    );
    // a user checking a config of their own
    expect(
      issues(
        text,
        env({ uid: 1000, files: { "ha.toml": [0o100644, "", 1000], "/etc/hb/authkey": [0o100600, "k", 1000] } }),
      ),
    ).toEqual([]);
  });
  test("files are opened once and never through a symlink", () => {
    const d = mkdtempSync(join(tmpdir(), "hb-open-"));
    try {
      writeFileSync(join(d, "key"), "k\n", { mode: 0o600 });
      symlinkSync(join(d, "key"), join(d, "link"));
      expect(openFile(join(d, "key"))).toMatchObject({ text: "k\n", mode: 0o100600 });
      expect((openFile(join(d, "link")) as Error).message).toBe(
        "it is a symbolic link (refused: give the file it points to)",
      );
      expect((openFile(d) as Error).message).toBe("not a regular file");
      expect((openFile(join(d, "absent")) as Error).message).toBe("no such file");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
  test("several keys without send are refused", () => {
    const text = edit(
      `secret = "0123456789abcdef0123"\n`,
      `secret = "0123456789abcdef0123"\n[[auth.key]]\nid = 2\nsecret = "x"\n`,
    );
    expect(issues(text)[0]!.message).toMatch(/"send" is not set/);
  });
});

test("every issue is reported, not just the first", () => {
  const text = edit(`keepalive = "100ms"`, `keepalive = "1x"`)
    .replace(`preferred = "node1"`, `preferred = "zz"`)
    .replace(`port`, `port`);
  const found = issues(text.replace(`interface = "eth1"`, `interface = "eth1"\nbogus = 1`));
  expect(found.map((i) => i.path).sort()).toEqual(["group[0].preferred", "link[1].bogus", "timing.keepalive"].sort());
});

test("bad input never throws anything but ConfigError", () => {
  const samples = [
    "",
    "\u0000",
    "[[[",
    "a = 1",
    "cluster = 5",
    "[cluster]\nname = 1",
    "[[node]]\n[[node]]",
    "group = 3",
    "link = [1, 2]",
    "[cluster]\nname='x'\n[auth]\nkey = 5",
    "[[group]]\nresources = [1]",
    "[[group]]\nresources = 'x'",
  ];
  for (let i = 0; i < 300; i++) {
    // random slices of the base config, and random byte flips
    const a = Math.floor(Math.random() * BASE.length);
    const b = a + Math.floor(Math.random() * 60);
    samples.push(BASE.slice(0, a) + BASE.slice(b));
    const chars = [...BASE];
    chars[Math.floor(Math.random() * chars.length)] = String.fromCharCode(32 + Math.floor(Math.random() * 95));
    samples.push(chars.join(""));
  }
  for (const s of samples) {
    try {
      parseConfig(s, "ha.toml", env());
    } catch (e) {
      if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(s.slice(0, 80))}: ${e}`);
      for (const i of e.issues) expect(i.line).toBeGreaterThanOrEqual(1);
    }
  }
});

describe("split-brain settings", () => {
  const msg = (text: string) => issues(text).map((i) => `${i.path}: ${i.message}`);
  test("fencing must be chosen: no [fencing] is an error that says so", () => {
    const out = issues(BASE.replace(`[fencing]\nmethod = "none"\n`, ""));
    expect(out.map((i) => `${i.path}: ${i.message}`)).toEqual([': missing required key "fencing"']);
    expect(out[0]!.hint).toContain("running without it is a choice written in the config");
  });
  test("fencing commands: needed with method command, an absolute path, none with method none", () => {
    expect(msg(BASE.replace(`method = "none"`, `method = "command"`))).toEqual([
      `fencing.command: method = "command" needs a command`,
    ]);
    expect(msg(BASE.replace(`method = "none"`, `method = "command"\ncommand = ["fence-ipmi"]`))).toEqual([
      `fencing.command[0]: "fence-ipmi" is not an absolute path`,
    ]);
    expect(msg(BASE.replace(`method = "none"`, `method = "none"\ncommand = ["/bin/true"]`))).toEqual([
      `fencing.command: a command is given but method = "none"`,
    ]);
    const ok = parseConfig(
      BASE.replace(`method = "none"`, `method = "command"\ncommand = ["/usr/sbin/fence", "-x"]\ntimeout = "10s"`),
      "ha.toml",
      env(),
    );
    expect(ok.fencing).toEqual({
      method: "command",
      command: ["/usr/sbin/fence", "-x"],
      timeout: 10_000,
      backoff: 5000,
    });
  });
  test("uplink: IPv4 targets, timeout within interval, require needs targets; defaults", () => {
    expect(msg(`${BASE}\n[uplink]\ntargets = ["198.51.100.1", "gateway"]\n`)).toEqual([
      `uplink.targets[1]: "gateway" is not an IPv4 address`,
    ]);
    expect(msg(`${BASE}\n[uplink]\ntargets = ["198.51.100.1"]\ninterval = "100ms"\ntimeout = "200ms"\n`)).toEqual([
      "uplink.timeout: timeout 200ms exceeds interval 100ms",
    ]);
    expect(msg(`${BASE}\n[uplink]\nrequire = true\n`)).toEqual(["uplink.require: require = true needs ping targets"]);
    expect(parseConfig(BASE, "ha.toml", env()).uplink).toEqual({
      targets: [],
      interval: 1000,
      timeout: 500,
      misses: 3,
      hold_down: 2000,
      require: false,
    });
  });

  test("monitors and failure handling: probes that can run, on_fail by name, health by absolute path", () => {
    const mon = (m: string) => edit(`{ script = "httpd" }`, `{ script = "httpd", monitor = { ${m} } }`);
    const c = parseConfig(
      mon(`interval = "5s", tcp = "[2001:db8::10]:80", http = "https://127.0.0.1/health", http_status = 204`),
      "ha.toml",
      env(),
    );
    expect(c.groups[0]!.resources[1]!.monitor).toMatchObject({
      enabled: true,
      interval: 5000,
      tcp: "[2001:db8::10]:80",
      http: "https://127.0.0.1/health",
      http_status: 204,
    });
    expect(msg(mon(`command = ["check-db"]`))).toEqual([
      `group[0].resources[1].monitor.command[0]: "check-db" is not an absolute path`,
    ]);
    expect(msg(mon(`tcp = "127.0.0.1:99999"`))).toEqual([
      "group[0].resources[1].monitor.tcp: port 99999 is out of range",
    ]);
    expect(msg(mon(`tcp = "localhost"`))).toEqual([`group[0].resources[1].monitor.tcp: "localhost" is not valid here`]);
    expect(msg(mon(`http = "ftp://x/"`))).toEqual([`group[0].resources[1].monitor.http: "ftp://x/" is not valid here`]);
    expect(msg(mon(`fal = 3`))).toEqual([`group[0].resources[1].monitor.fal: unknown key "fal"`]);
    expect(msg(mon(`interval = "10ms"`))).toEqual(["group[0].resources[1].monitor.interval: 10ms is out of range"]);
    expect(msg(edit(`preferred = "node1"`, `preferred = "node1"\non_fail = "restrat"`))).toEqual([
      `group[0].on_fail: "restrat" is not one of "restart", "failover", "ignore"`,
    ]);
    expect(msg(`${BASE}\n[health]\ncommand = ["check"]\n`)).toEqual([
      `health.command[0]: "check" is not an absolute path`,
    ]);
  });

  test("the wire's limits: at most 32 nodes and 128 groups, refused with the reason", () => {
    const nodes = Array.from({ length: 33 }, (_, i) => `[[node]]\nname = "n${i + 1}"\n`).join("");
    const many = BASE.replace('[[node]]\nname = "node1"', `${nodes}[[node]]\nname = "node1"`);
    expect(msg(many).filter((m) => m.startsWith("node:"))).toEqual(["node: 35 nodes: at most 32"]);
    const groups = Array.from(
      { length: 128 },
      (_, i) => `[[group]]\nname = "g${i}"\npreferred = "node1"\nresources = [{ script = "s${i}" }]\n`,
    ).join("");
    expect(msg(`${BASE}\n${groups}`)).toEqual(["group: 129 groups: at most 128"]);
  });
});

describe('the etcd arbiter ([quorum] arbiter = "etcd")', () => {
  const ETCD = `\n[quorum]\narbiter = "etcd"\nendpoints = ["https://192.0.2.5:2379", "https://192.0.2.6:2379/"]\nca = "/etc/hb/ca.pem"\ncert = "/etc/hb/hb.pem"\nkey = "/etc/hb/hb.key"\n`;
  const files: Record<string, [number, string, number?]> = {
    "/etc/hb/ca.pem": [0o100644, "CA PEM"],
    "/etc/hb/hb.pem": [0o100644, "CERT PEM"],
    "/etc/hb/hb.key": [0o100600, "KEY PEM"],
    "/etc/hb/etcd-password": [0o100600, "s3cret\n"],
  };
  const parse = (text: string, f = files) => parseConfig(text, "ha.toml", env({ files: f }));
  const messages = (text: string, f = files) => issues(text, env({ files: f })).map((i) => `${i.path}: ${i.message}`);

  test("the files are read, the defaults derived: prefix from the cluster name, a 3 s TTL, an address lease under two thirds of it", () => {
    const c = parse(`${BASE}${ETCD}`);
    expect(c.quorum.etcd).toEqual({
      endpoints: ["https://192.0.2.5:2379", "https://192.0.2.6:2379"],
      tls: { ca: "CA PEM", cert: "CERT PEM", key: "KEY PEM" },
      user: undefined,
      password: undefined,
      ttl: 3000,
      prefix: "/hb/web/",
    });
    expect(c.quorum.mode).toBe("none");
    expect(c.addresses.lease).toBe(2000);
    const three = parse(
      `${BASE}\n[[node]]\nname = "node3"\n${ETCD}ttl = "5s"\nuser = "hb"\npassword_file = "/etc/hb/etcd-password"\n`,
    );
    expect(three.quorum.mode).toBe("none"); // the arbiter decides, not a majority
    expect(three.quorum.etcd?.password).toBe("s3cret");
    expect(three.addresses.lease).toBe(3000);
  });

  test("what cannot work is refused with the reason", () => {
    expect(messages(`${BASE}\n[quorum]\narbiter = "etcd"\n`)).toEqual([
      "quorum.arbiter: the etcd arbiter needs endpoints",
    ]);
    expect(messages(`${BASE}\n[quorum]\nendpoints = ["https://192.0.2.5:2379"]\n`)).toEqual([
      'quorum.endpoints: endpoints given without arbiter = "etcd"',
    ]);
    expect(messages(`${BASE}${ETCD}mode = "majority"\n`)).toEqual([
      'quorum.mode: mode = "majority" and arbiter = "etcd" both decide ownership',
    ]);
    expect(messages(`${BASE}${ETCD.replace('cert = "/etc/hb/hb.pem"\n', "")}`)).toEqual([
      "quorum.key: cert and key go together",
    ]);
    expect(messages(`${BASE}${ETCD}ttl = "2500ms"\n`)).toEqual(["quorum.ttl: etcd leases last whole seconds"]);
    expect(messages(`${BASE}${ETCD}user = "hb"\n`)).toEqual([
      "quorum.user: an etcd user needs password or password_file (one of them)",
    ]);
    expect(messages(`${BASE}${ETCD.replace('"https://192.0.2.6:2379/"', '"192.0.2.6"')}`)).toEqual([
      'quorum.endpoints[1]: "192.0.2.6" is not an etcd client URL',
    ]);
    expect(messages(`${BASE}${ETCD}\n[addresses]\nlease = "3s"\n`)[0]).toMatch(
      /^addresses.lease: with the etcd arbiter, a lease of 3s would let a killed holder keep its addresses after etcd gives its groups away/,
    );
  });

  test("the client key and the password file are secrets: root's own, mode 600; a missing file is named", () => {
    expect(messages(`${BASE}${ETCD}`, { ...files, "/etc/hb/hb.key": [0o100644, "KEY"] })).toEqual([
      "quorum.key: /etc/hb/hb.key is accessible by group or others (mode 644)",
    ]);
    const { "/etc/hb/ca.pem": _, ...noCa } = files;
    expect(messages(`${BASE}${ETCD}`, noCa)).toEqual(["quorum.ca: cannot read /etc/hb/ca.pem: no such file"]);
    expect(
      messages(`${BASE}${ETCD}user = "hb"\npassword_file = "/etc/hb/etcd-password"\n`, {
        ...files,
        "/etc/hb/etcd-password": [0o100600, "pw", 1000],
      }),
    ).toEqual(["quorum.password_file: /etc/hb/etcd-password is owned by uid 1000, not by root"]);
    // an inline password makes ha.toml a secret too
    expect(
      issues(
        `${BASE}${ETCD}user = "hb"\npassword = "pw"\n`,
        env({ files: { ...files, "ha.toml": [0o100644, ""] } }),
      )[0]!.message,
    ).toMatch(/holds an inline key but is accessible by group or others/);
  });
});
