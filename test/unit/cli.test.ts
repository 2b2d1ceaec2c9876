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
  const example = require("node:fs").readFileSync(join(import.meta.dir, "../../examples/ha.toml"), "utf8");
  writeFileSync(join(dir, "ha.toml"), example.replace("/etc/hb/authkey", join(dir, "authkey")), { mode: 0o644 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hb CLI", () => {
  test("--help lists every command with a one-line purpose", () => {
    const r = hb(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n  check +Validate the config and print a summary of the cluster\n/);
    for (const cmd of ["status", "standby \\[group\\]", "takeover \\[group\\]", "clear <group>", "reload", "report", "history", "systemd-unit"])
      expect(r.out).toMatch(new RegExp(`\\n  ${cmd} +[A-Z]`));
    expect(r.out).toContain("Run the daemon in the foreground");
    for (const opt of ["--config", "--node", "--log-level", "--version"]) expect(r.out).toContain(opt);
  });
  test("--version prints the version and exits 0", () => {
    const r = hb(["--version"]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toMatch(/^hb \d+\.\d+\.\d+\n$/);
  });
  test("an unknown command exits 2 with a clear message", () => {
    const r = hb(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('hb: unknown command "frobnicate" (see hb --help)\n');
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
    expect(r.out).toContain("web, preferred node1: ip 192.0.2.20/24 on eth0:0, script named, script httpd, script mysqld");
    expect(r.out).toContain("udp:eth0: UDP broadcast on eth0 port 694");
  });
  test("check on a broken config exits 1 and prints file:line:col", () => {
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, `[cluster]\nname = "x"\nauto_failback = "on"\n`, { mode: 0o600 });
    const r = hb(["check", "-c", bad, "--node", "a"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:3:17: cluster.auto_failback: expected true or false, found the string "on"\n  hint: write true (not "on")`);
    expect(r.err).toMatch(/hb: \d+ problems in the config; nothing was started/);
  });
  test("the daemon refuses to start on a world-readable inline key", () => {
    const cfg = join(dir, "inline.toml");
    const text = require("node:fs").readFileSync(join(dir, "ha.toml"), "utf8").replace(`file = "${join(dir, "authkey")}"`, `secret = "0123456789abcdef"`);
    writeFileSync(cfg, text);
    chmodSync(cfg, 0o644);
    const r = hb(["-c", cfg, "--node", "node1"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("holds an inline key but is accessible by group or others (mode 644)");
  });
});
