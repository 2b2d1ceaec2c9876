/**
 * The Debian package (issue 13, part 1): lintian finds no error in it; installed with dpkg into a
 * throwaway root (maintainer scripts run chrootless there: they honour DPKG_ROOT), hb runs from that
 * root and checks its example config; the group hb is made, nothing is started; removed, nothing is
 * left but the conffiles. The root has no libc6 package in its dpkg database, hence --force-depends.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { announceSkip, IS_ROOT } from "../lib/netns.ts";

const DEB = join(import.meta.dir, `../../dist/hb_${pkg.version}-1_amd64.deb`);
const why = !IS_ROOT
  ? "needs root"
  : !existsSync(DEB)
    ? `${DEB} is not built (make deb)`
    : !existsSync("/usr/bin/lintian")
      ? "lintian is not installed (make test installs it)"
      : undefined;
if (why) announceSkip("test/system/deb.test.ts", why);

const sh = (cmd: string[], env: Record<string, string> = {}) => {
  const p = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};
const filesUnder = (root: string, dir = root): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(root, p) : [`/${relative(root, p)}`];
  });

describe.skipIf(Boolean(why))("the Debian package", () => {
  let root: string;
  const dpkg = (args: string[]) =>
    sh(["dpkg", `--root=${root}`, "--force-script-chrootless", "--force-depends", "--log=/dev/null", ...args]);
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "hb-debroot-"));
    for (const d of ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"]) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, "var/lib/dpkg/status"), "");
    writeFileSync(join(root, "etc/group"), "root:x:0:\n");
    writeFileSync(join(root, "etc/gshadow"), "root:*::\n");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("lintian reports no error", () => {
    const r = sh(["lintian", "--tag-display-limit", "0", DEB]);
    expect(r.out.split("\n").filter((l) => l.startsWith("E:"))).toEqual([]);
    expect(r.code).toBe(0);
  });

  test("installed into a throwaway root: hb runs from there, the group hb exists, nothing is started", () => {
    const i = dpkg(["-i", DEB]);
    expect(i.code).toBe(0);
    const hb = join(root, "usr/sbin/hb");
    expect(sh([hb, "--version"]).out).toMatch(/^hb \d+\.\d+\.\d+ \(linux-x64\)\n$/);
    // the example, with a key where it says the key lives
    writeFileSync(join(root, "etc/hb/authkey"), "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    const cfg = join(root, "etc/hb/ha.toml");
    const example = readFileSync(join(root, "etc/hb/ha.toml.example"), "utf8");
    writeFileSync(cfg, example.replace("/etc/hb/authkey", join(root, "etc/hb/authkey")), { mode: 0o600 });
    const c = sh([hb, "check", "--config", cfg, "--node", "node1"]);
    expect(c.err).toBe("");
    expect(c.out).toContain(`${cfg}: OK`);
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^hb:x:\d+:$/m);
    expect(statSync(join(root, "lib/systemd/system/hb.service")).isFile()).toBe(true);
    for (const f of [
      "usr/share/man/man8/hb.8.gz",
      "usr/share/man/man5/ha.toml.5.gz",
      "usr/share/bash-completion/completions/hb",
    ])
      expect(existsSync(join(root, f))).toBe(true);
    // nothing enabled or started: no maintainer script asks systemd for anything
    for (const s of ["postinst", "postrm"]) {
      const text = readFileSync(join(root, `var/lib/dpkg/info/hb.${s}`), "utf8");
      expect(text).not.toMatch(/systemctl|deb-systemd|invoke-rc\.d/);
    }
    rmSync(cfg);
    rmSync(join(root, "etc/hb/authkey"));
  });

  test("removed: nothing is left but the conffiles (and the group, which Debian keeps)", () => {
    const r = dpkg(["-r", "hb"]);
    expect(r.code).toBe(0);
    const left = filesUnder(root).filter(
      (f) => !f.startsWith("/var/lib/dpkg/") && !/^\/etc\/(g?shadow|group)-?$/.test(f),
    );
    expect(left.sort()).toEqual(["/etc/hb/ha.toml.example", "/etc/logrotate.d/hb"]);
  });
});
