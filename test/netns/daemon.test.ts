/** The daemon process as a sysadmin runs it: foreground, plain logs, signals, errors. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ClusterFiles, configText, HB, startHb } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/daemon.test.ts", why);

describe.skipIf(Boolean(why))("hb daemon", () => {
  let lab: Lab;
  let files: ClusterFiles;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    files = new ClusterFiles(configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"'] }));
  });
  afterAll(async () => {
    await lab?.destroy();
    files?.cleanup();
  });

  test("runs in the foreground, logs plain lines, and exits 0 on SIGTERM and on SIGINT", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      const a = startHb(lab, files, 1);
      const first = await a.waitLine(/\[daemon\] hb [\d.]+ starting/);
      expect(first.text).toMatch(
        /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO \[daemon\] hb [\d.]+ starting: node node1, cluster lab, native shim via memfd$/,
      );
      await a.waitLine(/\[daemon\] heartbeat: 1 link/);
      a.proc.kill(sig);
      expect(await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => "hung")])).toBe(0);
      expect(a.lines.some((l) => l.text.includes(`${sig}: stopping`))).toBe(true);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: an ESC (colour codes) must not be there
      for (const l of a.lines) expect(l.text).not.toMatch(/\x1b\[|^\s*$/); // no colours, no blank lines
    }
  });

  test("a SIGTERM right at start-up still exits 0", async () => {
    for (let i = 0; i < 5; i++) {
      const a = startHb(lab, files, 1);
      await a.waitLine(/hb [\d.]+ starting/);
      a.proc.kill("SIGTERM");
      expect(await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => "hung")])).toBe(0);
    }
  });

  test("the daemon starts itself again at once with JavaScriptCore's optimizing JIT off (same PID); HB_FULL_JIT=1 keeps it", async () => {
    for (const [env, lean] of [
      [{}, true],
      [{ HB_FULL_JIT: "1" }, false],
    ] as const) {
      const a = startHb(lab, files, 1, env);
      await a.waitLine(/\[daemon\] heartbeat: 1 link/);
      const environ = readFileSync(`/proc/${a.proc.pid}/environ`, "utf8").split("\0");
      expect(environ.includes("BUN_JSC_useDFGJIT=0")).toBe(lean);
      expect(a.lines.filter((l) => /hb [\d.]+ starting/.test(l.text))).toHaveLength(1);
      expect(a.lines.filter((l) => /lean JIT/.test(l.text))).toEqual([]);
      a.proc.kill("SIGTERM");
      expect(await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => "hung")])).toBe(0);
    }
  });

  test("a link on a missing interface stops start-up with one clear line and exit 1", async () => {
    const bad = new ClusterFiles(configText({ nodes: 2, links: ['kind = "ether"\ninterface = "eth7"'] }));
    try {
      const r = await lab.exec(lab.nodes[0]!, [HB, "--config", bad.config(1), "--node", "node1"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("hb: cannot start the heartbeat: ether link on eth7: ENODEV");
    } finally {
      bad.cleanup();
    }
  });
});
