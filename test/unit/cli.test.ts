/** The CLI as a user meets it: dist/hb as a subprocess. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const HB = join(import.meta.dir, "../../dist/hb");
const hb = (args: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawnSync([HB, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hb-cli-"));
  writeFileSync(join(dir, "authkey"), "0123456789abcdef\n", { mode: 0o600 });
  // what examples/two-node-etcd.toml names: etcd's CA and a client certificate and key
  for (const f of ["etcd-ca.pem", "etcd-client.pem", "etcd-client.key"])
    writeFileSync(join(dir, f), "-----BEGIN X-----\n", { mode: 0o600 });
  const example = require("node:fs").readFileSync(join(import.meta.dir, "../../examples/ha.toml"), "utf8");
  writeFileSync(join(dir, "ha.toml"), example.replace("/etc/hb/authkey", join(dir, "authkey")), { mode: 0o644 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hb CLI", () => {
  test("every example config is valid as shipped (with a key file in place)", () => {
    for (const name of require("node:fs").readdirSync(join(import.meta.dir, "../../examples")) as string[]) {
      const text = require("node:fs").readFileSync(join(import.meta.dir, "../../examples", name), "utf8") as string;
      const file = join(dir, `example-${name}`);
      const local = text.replace("/etc/hb/authkey", join(dir, "authkey")).replaceAll("/etc/hb/etcd-", `${dir}/etcd-`);
      writeFileSync(file, local, { mode: 0o644 });
      const r = hb(["check", "-c", file, "--node", "node2"]);
      expect({ name, err: r.err, code: r.code }).toEqual({ name, err: "", code: 0 });
    }
  });
  test("--help lists every command with a one-line purpose", () => {
    const r = hb(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n {2}check +Validate the config and print a summary of the cluster\n/);
    for (const cmd of [
      "status",
      "standby \\[group\\]",
      "takeover \\[group\\]",
      "clear <group>",
      "reload",
      "report",
      "history",
      "systemd-unit",
    ])
      expect(r.out).toMatch(new RegExp(`\\n  ${cmd} +[A-Z]`));
    expect(r.out).toContain("Run the daemon in the foreground");
    for (const opt of ["--config", "--node", "--log-level", "--version"]) expect(r.out).toContain(opt);
  });
  test("--version prints the version and exits 0", () => {
    const r = hb(["--version"]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/^hb \d+\.\d+\.\d+ \(linux-x64\)\n$/);
  });
  test("an unknown command exits 2 with a clear message", () => {
    const r = hb(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('hb: unknown command "frobnicate" (see hb --help)\n');
  });
  test("a mistyped command gets a guess; hb help is hb --help; counts must be whole numbers", () => {
    const r = hb(["stauts"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('hb: unknown command "stauts" (did you mean "status"?) (see hb --help)\n');
    const help = hb(["help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("Run the daemon in the foreground");
    for (const args of [
      ["status", "--events", "abc"],
      ["status", "--events", "0"],
      ["history", "--limit", "1.5"],
    ]) {
      const bad = hb([...args, "--socket", join(dir, "none.sock")]);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain("must be a positive whole number");
    }
  });
  test("reload with a broken config names file:line and does not ask the daemon", () => {
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, '[cluster]\nname = "x"\nbogus = 1\n', { mode: 0o600 });
    const r = hb(["reload", "--config", bad, "--socket", join(dir, "none.sock")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:3:1: cluster.bogus: unknown key "bogus"`);
    expect(r.err).toContain("the daemon was not asked to reload (nothing changed)");
  });
  test("systemd-unit passes --node on: the unit starts as that node whatever uname -n says", () => {
    const r = hb(["systemd-unit", "--config", join(dir, "ha.toml"), "--node", "node2"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ExecStart=\S+ --config \S+ --node node2$/m);
    const debug = hb(["systemd-unit", "--config", join(dir, "ha.toml"), "--node", "node2", "--log-level", "debug"]);
    expect(debug.out).toMatch(/^ExecStart=\S+ --config \S+ --node node2 --log-level debug$/m);
  });
  test("hb help COMMAND prints that command's help; hb help with an unknown one says so", () => {
    const r = hb(["help", "status"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--watch [seconds]");
    expect(r.out).toContain("$ hb status");
    const bad = hb(["help", "frob"]);
    expect(bad.code).toBe(2);
  });
  test("an unknown option exits 2 with a clear message", () => {
    for (const args of [["--frob"], ["check", "--frob"]]) {
      const r = hb(args);
      expect(r.code).toBe(2);
      expect(r.err).toContain('hb: Unknown option "--frob"');
    }
  });
  test("a bad --log-level exits 2", () => {
    const r = hb(["check", "--log-level", "loud", "-c", join(dir, "ha.toml")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--log-level must be one of");
  });
  test("check on the example config prints the cluster summary", () => {
    const r = hb(["check", "-c", join(dir, "ha.toml"), "--node", "node2"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("this node is node2 (id 2)");
    expect(r.out).toContain(
      "web, preferred node1: ip 192.0.2.20/24 on eth0:0, script named, script httpd, script mysqld",
    );
    expect(r.out).toContain("udp:eth0: UDP broadcast on eth0 port 694");
  });
  test("check elsewhere than on the node says it skipped the host checks", () => {
    const r = hb(["check", "-c", join(dir, "ha.toml"), "--node", "node2"]);
    expect(r.out).toMatch(/this host \(.*\) is not node node2: interfaces, devices and scripts not checked/);
  });
  // hostname is per UTS namespace: unshare one (root only) named like the node
  const asNode = (node: string, args: string[]) => {
    const p = Bun.spawnSync(["unshare", "--uts", "sh", "-c", `hostname ${node} && exec "$@"`, "sh", HB, ...args], {
      env: { PATH: process.env.PATH ?? "" },
      timeout: 20_000,
    });
    return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  };
  test.skipIf(process.getuid?.() !== 0)(
    "check on the node itself: missing interfaces and scripts are errors; present ones pass",
    () => {
      const r = asNode("node2", ["check", "-c", join(dir, "ha.toml")]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("on this host (node node2):");
      expect(r.err).toMatch(/error: group web: script named not found \(or not executable\) in /);
      expect(r.err).toMatch(/error: group web: script mysqld not found/);
      const scripts = join(dir, "resource.d");
      require("node:fs").mkdirSync(scripts, { recursive: true });
      for (const s of ["named", "httpd", "mysqld"])
        writeFileSync(join(scripts, s), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      const text = require("node:fs").readFileSync(join(dir, "ha.toml"), "utf8") as string;
      // this host's own interface (lo) for every link and address: only what exists here may pass
      const local = join(dir, "local.toml");
      writeFileSync(
        local,
        `${text.replace(/interface = "eth[01]"/g, 'interface = "lo"').replace(/label = "eth0:0"/g, 'label = "lo:0"')}\n[paths]\nscript_dirs = ["${scripts}"]\n`,
        { mode: 0o644 },
      );
      const ok = asNode("node2", ["check", "-c", local]);
      expect(ok.err).toBe("");
      expect(ok.out).toContain("this host (node node2): every interface, device, script and command is here");
      expect(ok.code).toBe(0);
      // a monitor's probe and the health command must be there too
      const probes = join(dir, "probes.toml");
      writeFileSync(
        probes,
        `${(require("node:fs").readFileSync(local, "utf8") as string).replace('monitor = { tcp = "127.0.0.1:3306" }', 'monitor = { command = ["/nonexistent/check-db"] }')}\n[health]\ncommand = ["/nonexistent/fit"]\n`,
        { mode: 0o644 },
      );
      const missing = asNode("node2", ["check", "-c", probes]);
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(
        "error: group web: monitor command /nonexistent/check-db not found (or not executable)",
      );
      expect(missing.err).toContain("error: health: command /nonexistent/fit not found (or not executable)");
    },
  );
  test("check on a broken config exits 1 and prints file:line:col", () => {
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, `[cluster]\nname = "x"\nauto_failback = "on"\n`, { mode: 0o600 });
    const r = hb(["check", "-c", bad, "--node", "a"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${bad}:3:17: cluster.auto_failback: expected true or false, found the string "on"\n  hint: write true (not "on")`,
    );
    expect(r.err).toMatch(/hb: \d+ problems in the config; nothing was started/);
  });
  test("the daemon refuses to start on a world-readable inline key", () => {
    const cfg = join(dir, "inline.toml");
    const text = require("node:fs")
      .readFileSync(join(dir, "ha.toml"), "utf8")
      .replace(`file = "${join(dir, "authkey")}"`, `secret = "0123456789abcdef"`);
    writeFileSync(cfg, text);
    chmodSync(cfg, 0o644);
    const r = hb(["-c", cfg, "--node", "node1"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("holds an inline key but is accessible by group or others (mode 644)");
  });
});
