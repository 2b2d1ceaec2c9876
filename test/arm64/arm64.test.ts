/**
 * hb on arm64 (issue 15), from this x86-64 machine: dist/hb-linux-arm64 run under qemu-user (Debian's
 * qemu-aarch64-static, with the cross libc as its root: no binfmt registration). It prints its
 * architecture, checks a config loading its own shim from a memfd, imports a Heartbeat config exactly
 * as the x86-64 binary does, and, in network namespaces, fails over with an x86-64 node: the wire
 * format is the same both ways. Emulation is slow: timers are generous and only behaviour is asserted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, HB, HbProcess } from "../lib/cluster.ts";
import { clientMac, failoverConfig, holders, Pinger, writeScripts } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run, waitFor } from "../lib/netns.ts";

const ROOT = join(import.meta.dir, "../..");
const ARM = join(ROOT, "dist/hb-linux-arm64");
const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const Q = [QEMU, "-L", SYSROOT, ARM];

const missing = [ARM, QEMU, `${SYSROOT}/lib/ld-linux-aarch64.so.1`].filter((f) => !existsSync(f));
const why = missing.length ? `missing ${missing.join(", ")} (make dist/hb-linux-arm64 installs them)` : undefined;
if (why) announceSkip("test/arm64/arm64.test.ts", why);
const netWhy = why ?? netnsUnavailable();
if (!why && netWhy) announceSkip("test/arm64/arm64.test.ts (the mixed failover)", netWhy);

describe.skipIf(Boolean(why))("the arm64 binary under emulation", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hb-arm64-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("it is an aarch64 executable and says so in --version", async () => {
    const elf = readFileSync(ARM).subarray(0, 20);
    expect(elf.readUInt32BE(0)).toBe(0x7f454c46); // \x7fELF
    expect(elf.readUInt16LE(18)).toBe(183); // e_machine EM_AARCH64
    const r = await run([...Q, "--version"], 60_000);
    expect(r.stdout).toMatch(/^hb \d+\.\d+\.\d+ \(linux-arm64\)\n$/);
    expect(r.code).toBe(0);
  });

  test("hb check validates a config and loads the arm64 shim from a memfd", async () => {
    writeFileSync(join(dir, "key"), "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    const cfg = join(dir, "ha.toml");
    writeFileSync(
      cfg,
      readFileSync(join(ROOT, "examples/ha.toml"), "utf8").replace("/etc/hb/authkey", join(dir, "key")),
    );
    chmodSync(cfg, 0o600);
    const r = await run([...Q, "check", "--config", cfg, "--node", "node1"], 60_000);
    expect(r.stdout).toContain(`${cfg}: OK`);
    expect(r.stdout).toMatch(/native shim: loaded via memfd \(abi \d+\)/);
    expect(r.code).toBe(0);
  });

  test("hb import writes the same ha.toml and the same warnings as the x86-64 binary", async () => {
    const src = join(ROOT, "test/fixtures/legacy/article2");
    const [a, x] = await Promise.all([run([...Q, "import", src], 60_000), run([HB, "import", src])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("[[group]]");
    expect(a.stdout).toBe(x.stdout);
    expect(a.stderr).toBe(x.stderr);
  });
});

describe.skipIf(Boolean(netWhy))("an arm64 node and an x86-64 node in one cluster", () => {
  let lab: Lab;
  let dir: string;
  let files: ClusterFiles;
  const procs: HbProcess[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-arm64-lab-"));
    files = new ClusterFiles(
      failoverConfig(writeScripts(dir), {
        autoFailback: true,
        timing: { keepalive: "200ms", warntime: "600ms", deadtime: "1s", initdead: "10s" },
      }).replace('preferred = "node1"', 'preferred = "node2"'),
    );
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.destroy();
    files?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  /** node1 runs the arm64 binary under qemu, node2 the x86-64 one */
  const start = (i: 1 | 2) => {
    const cmd = [...(i === 1 ? Q : [HB]), "--config", files.config(i), "--node", `node${i}`, "--log-level", "debug"];
    const p = new HbProcess(
      lab.spawn(lab.nodes[i - 1]!, cmd, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }),
      `node${i}`,
    );
    procs.push(p);
    return p;
  };

  test("each hears the other; the arm64 node takes over when the x86-64 holder dies, and hands back on its return", async () => {
    const a = start(1);
    let x = start(2);
    await x.waitLine(/group web: starting -> running/, 30_000);
    await a.waitLine(/peer node2: \w+ -> up/, 30_000);
    await x.waitLine(/peer node1: \w+ -> up/, 30_000);
    expect(await holders(lab)).toEqual([2]);
    const ping = new Pinger(lab, 0.05);
    try {
      await waitFor("the client to reach the address", () => ping.count > 3, 10_000, 50);
      // the x86-64 holder dies: the arm64 node adds the address (rtnetlink under emulation) and announces it
      x.proc.kill("SIGKILL");
      await x.proc.exited;
      await a.waitLine(/group web: starting -> running/, 30_000);
      await waitFor("the address on node1 only", async () => (await holders(lab)).join() === "1", 10_000, 100);
      await waitFor(
        "the client to follow node1's announcement",
        async () => (await clientMac(lab)) === Lab.nodeMac(1),
        10_000,
        100,
      );
      const n = ping.count;
      await waitFor("the client's pings to be answered by node1", () => ping.count > n + 3, 10_000, 50);
      // the x86-64 node returns: the arm64 node hands the group back (a control message arm64 -> x86-64)
      x = start(2);
      await a.waitLine(/group web: running -> stopping \(handing over to node2\)/, 30_000);
      await x.waitLine(/group web: starting -> running/, 30_000);
      await waitFor("the address on node2 only", async () => (await holders(lab)).join() === "2", 10_000, 100);
      await waitFor("the client to follow node2", async () => (await clientMac(lab)) === Lab.nodeMac(2), 10_000, 100);
    } finally {
      ping.stop();
    }
    expect(a.matching(/ERROR|cannot/)).toEqual([]);
  }, 120_000);
});
