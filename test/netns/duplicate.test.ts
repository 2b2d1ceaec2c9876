/**
 * A duplicate node: a clone of node1 (a cloned VM: same config, same node
 * name, its own state directory, so a newer boot generation) runs for 2 s in
 * a third namespace, then dies. node2 must say so loudly (log, status,
 * report CRITICAL with both addresses), node1 too (another sender with its
 * id), and once the clone is gone node2 hears the real node1 again within
 * deadtime, without declaring it dead and without a restart of anything.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HB, HbProcess } from "../lib/cluster.ts";
import { ClusterFiles, failoverConfig, holders, Lab } from "../lib/failover.ts";
import { announceSkip, netnsUnavailable, run, waitFor } from "../lib/netns.ts";
import { labSuite } from "../lib/suite.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/duplicate.test.ts", why);

describe.skipIf(Boolean(why))("a duplicate node on a real kernel", () => {
  const t = labSuite({ nodes: 3, client: true }, "dup"); // node3's namespace hosts the clone
  const report = t.report;

  test("a clone of node1 for 2 s: reported with both addresses; gone: the real node1 is heard again, nothing restarts", async () => {
    t.files = new ClusterFiles(failoverConfig(t.scripts));
    const files = t.files;
    const a = t.start(1);
    const b = t.start(2);
    await a.waitLine(/group web: starting -> running/, 8000);
    await waitFor("node2 to see node1 hold web", async () => (await report(2)).code === 0, 5000, 50);
    // the clone: node1's config, its own state directory and control socket
    const cloneState = join(files.dir, "state-clone");
    mkdirSync(cloneState, { recursive: true });
    const cloneConfig = join(files.dir, "ha-clone.toml");
    writeFileSync(
      cloneConfig,
      readFileSync(files.config(1), "utf8").replaceAll(join(files.dir, "state-node1"), cloneState),
      { mode: 0o600 },
    );
    const clone = new HbProcess(
      t.lab.spawn(t.lab.nodes[2]!, [HB, "--config", cloneConfig, "--node", "node1", "--log-level", "debug"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      }),
      "clone",
    );
    try {
      const dup = await b.waitLine(
        /DUPLICATE NODE: two live senders claim to be node1 on udp:eth0: (\S+) \(in use\) and (\S+):/,
        5000,
      );
      expect(dup.text).toMatch(
        new RegExp(
          `${Lab.nodeAddr(3).replace(/\./g, "\\.")} \\(in use\\) and ${Lab.nodeAddr(1).replace(/\./g, "\\.")}`,
        ),
      );
      await a.waitLine(
        new RegExp(
          `DUPLICATE NODE: another sender claims to be this node on udp:eth0, from ${Lab.nodeAddr(3).replace(/\./g, "\\.")}`,
        ),
        5000,
      );
      const r = await report(2);
      expect(r.code).toBe(2);
      expect(r.line).toContain(
        `duplicate node node1: two live senders on udp:eth0 (${Lab.nodeAddr(3)} and ${Lab.nodeAddr(1)})`,
      );
      const st = JSON.parse((await run([HB, "status", "--json", "--socket", files.socket(2)])).stdout);
      expect(st.duplicates[0]).toMatchObject({ node: "node1", link: "udp:eth0" });
      await Bun.sleep(1500);
    } finally {
      clone.proc.kill("SIGKILL");
      await clone.proc.exited;
    }
    const gone = b.lines.length;
    const stopsBefore = a.matching(/group web: running -> stopping/).length;
    // the real node1 is heard again within deadtime: never dead, and its record is node2's view again
    await waitFor(
      "node2 to hear the real node1 again",
      async () => {
        const st = JSON.parse((await run([HB, "status", "--json", "--socket", files.socket(2)])).stdout);
        return st.peers[0].state === "up" && st.groups[0].holders.join() === "node1";
      },
      3000,
      20,
    );
    await Bun.sleep(500);
    expect(b.matching(/peer node1: .* -> dead/, gone)).toEqual([]);
    expect(a.matching(/cannot hear us/)).toEqual([]);
    expect(a.matching(/group web: running -> stopping/).length).toBe(stopsBefore);
    // the clone's address lease runs out in its namespace; then node1 alone holds the VIP
    await waitFor("node1 alone to hold the VIP", async () => JSON.stringify(await holders(t.lab)) === "[1]", 6000, 100);
  }, 40_000);
});
