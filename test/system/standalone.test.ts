/**
 * dist/hb alone in a bare root: no bun, node, gcc, /usr/include or project
 * tree; TMPDIR unset; /tmp mounted noexec. The root is built in a private
 * mount namespace (unshare -m), so its mounts vanish with the test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { announceSkip, IS_ROOT, run } from "../lib/netns.ts";

const HB = join(import.meta.dir, "../../dist/hb");
const why = !IS_ROOT ? "not running as root (needs unshare -m and chroot)" : undefined;
if (why) announceSkip("test/system/standalone.test.ts", why);

const CONFIG = `[cluster]
name = "bare"
node = "alpha"
[auth]
[[auth.key]]
id = 1
secret = "a-long-enough-shared-secret"
[[node]]
name = "alpha"
[[node]]
name = "beta"
[[link]]
kind = "ether"
interface = "eth0"
[[group]]
name = "web"
preferred = "alpha"
resources = [{ ip = "198.51.100.50/24", interface = "eth0" }]
[fencing]
method = "none"
`;

/** Every file below dir, relative. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? [`${p.slice(base.length)}/`, ...walk(p, base)] : [p.slice(base.length)];
  });
}

describe.skipIf(Boolean(why))("dist/hb in a bare root", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "hb-bare-"));
    chmodSync(root, 0o755);
    for (const d of ["proc", "tmp", "dev", "etc/hb"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(HB, join(root, "hb"));
    chmodSync(join(root, "hb"), 0o755);
    // only the C libraries the dynamic loader needs (ldd), nothing else
    const ldd = Bun.spawnSync(["ldd", HB]).stdout.toString();
    for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) {
      const lib = m[1]!;
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib));
    }
    writeFileSync(join(root, "etc/hb/ha.toml"), CONFIG, { mode: 0o600 });
    writeFileSync(join(root, "dev/null"), "");
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Run hb inside the bare root; `mounts` are set up in a private mount namespace first. */
  const bare = (args: string[], opts: { noexec?: boolean; env?: Record<string, string> } = {}) => {
    const noexec = opts.noexec ?? true;
    const script = [
      "set -e",
      `mount -t tmpfs -o ${noexec ? "noexec," : ""}nosuid,nodev,mode=1777 tmpfs "$R/tmp"`,
      `mount --bind /dev/null "$R/dev/null"`,
      `mount -t proc proc "$R/proc"`,
      // prove the conditions from inside the namespace before running hb
      noexec ? `grep -q " $R/tmp tmpfs .*noexec" /proc/self/mounts` : ":",
      `exec chroot "$R" /hb "$@"`,
    ].join("\n");
    // env -i semantics: only what is listed here reaches hb (no TMPDIR, no HOME)
    return run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", ...args], 20_000, {
      R: root,
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      ...opts.env,
    });
  };

  test("the root holds only hb, its config and the C libraries", () => {
    const files = walk(root).filter((f) => !f.endsWith("/"));
    for (const f of files)
      expect(f).toMatch(/^\/(hb|etc\/hb\/ha\.toml|dev\/null|(usr\/)?lib(64|\/x86_64-linux-gnu)?\/[^/]+\.so[.\d]*)$/);
    for (const absent of ["usr/bin/bun", "usr/bin/node", "usr/bin/gcc", "usr/include", "node_modules", "src", "build"])
      expect(() => statSync(join(root, absent))).toThrow();
  });

  test("hb --version runs with TMPDIR unset and /tmp noexec", async () => {
    const r = await bare(["--version"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toMatch(/^hb \d+\.\d+\.\d+ \(linux-x64\)$/);
    expect(r.code).toBe(0);
  });

  test("hb check validates the config and loads the shim from a memfd", async () => {
    const r = await bare(["check", "--config", "/etc/hb/ha.toml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("/etc/hb/ha.toml: OK");
    expect(r.stdout).toContain("this node is alpha (id 1)");
    expect(r.stdout).toMatch(/native shim: loaded via memfd \(abi \d+\)/);
  });

  test("without memfd, the fallback extracts the shim to an exec-able /tmp", async () => {
    const r = await bare(["check", "--config", "/etc/hb/ha.toml"], { noexec: false, env: { HB_NO_MEMFD: "1" } });
    expect(r.stdout).toMatch(/native shim: loaded via extract \(abi \d+\)/);
    expect(r.code).toBe(0);
  });

  test("when memfd and extraction both fail, one clear error names both", async () => {
    const r = await bare(["check", "--config", "/etc/hb/ha.toml"], { env: { HB_NO_MEMFD: "1" } });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^hb: cannot load the native shim: via memfd: skipped \(HB_NO_MEMFD=1\); via extraction to \(TMPDIR unset\): .+ hb needs \/proc mounted/,
    );
  });

  test("hb check still reports config errors there, with file:line:col", async () => {
    const r = await bare(["check", "--config", "/etc/hb/missing.toml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/etc/hb/missing.toml:1:1: cannot read the config file: no such file");
  });
});
