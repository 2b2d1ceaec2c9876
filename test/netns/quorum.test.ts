/**
 * Majority quorum on a real kernel (issue 12): three hb nodes, the holder cut off from both others in the
 * switch (nftables on the bridge). Every node's address changes are recorded by `ip -ts monitor address`
 * (each change with its time, finer than any sampling) for the whole fault: at no instant do two nodes
 * hold the floating address, the majority side runs the group again within a stated bound, and the
 * client is answered afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressLog, overlap } from "../lib/address-log.ts";
import { blockJs, ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { Pinger, VIP, writeScripts } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/quorum.test.ts", why);

describe.skipIf(Boolean(why))("majority quorum on a real kernel", () => {
  let lab: Lab;
  let dir: string;
  let files: ClusterFiles;
  const procs: HbProcess[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-quorum-"));
    files =
      new ClusterFiles(`${configText({ nodes: 3, links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth0"'] })}
[[group]]
name = "web"
preferred = "node1"
resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "ok" }]

[paths]
script_dirs = ["${writeScripts(dir)}"]
`);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.destroy();
    files?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Node `node` cut off from both others in the switch, or healed (0). */
  const cut = (on: boolean, node = 1) =>
    lab.exec(lab.bridge, [
      "nft",
      on
        ? `add table bridge cut; add chain bridge cut fw { type filter hook forward priority 0; }; add rule bridge cut fw iifname "n${node}l0" drop; add rule bridge cut fw oifname "n${node}l0" drop`
        : "delete table bridge cut",
    ]);

  test("the holder cut off from both others: it drops the address, the majority takes over, never two at once", async () => {
    const logs = lab.nodes.map((ns) => new AddressLog(lab, ns));
    await Bun.sleep(200); // the monitors listen before anything happens
    for (const i of [1, 2, 3]) procs.push(startHb(lab, files, i, { HB_TEST_HOOKS: "1" }));
    const [a, b, c] = procs as [HbProcess, HbProcess, HbProcess];
    await a.waitLine(/group web: starting -> running/, 10_000);
    await a.waitLine(/quorum|every peer heard/, 5000);
    const ping = new Pinger(lab, 0.02);
    try {
      await waitFor("the client to reach node1", () => ping.count > 3, 5000, 20);
      const t0 = Date.now();
      expect((await cut(true)).code).toBe(0);
      await a.waitLine(/node node1: lost quorum \(hears 1 of 3 votes\)/, 5000);
      const rep = await run([HB, "report", "--socket", files.socket(1)]);
      expect(rep.code).toBe(2);
      expect(rep.stdout).toContain("node1 has no quorum: hears 1 of 3 votes, so it holds and takes nothing");
      expect((await run([HB, "status", "--socket", files.socket(1)])).stdout).toContain(
        "quorum: NO (it holds and takes nothing), hears 1 of 3 votes (more than 1.5 needed)",
      );
      const taker = await Promise.race([
        b.waitLine(/group web: starting -> running/, 5000).then(() => 2),
        c.waitLine(/group web: starting -> running/, 5000).then(() => 3),
      ]);
      const took = Date.now() - t0;
      // bound: deadtime (150 ms) to see node1 dead, keepalive + deadtime (200 ms) of grace, the start: under 2 s
      expect(took).toBeLessThan(2000);
      expect(procs[taker - 1]!.matching(/taking over in 200 ms \(keepalive \+ deadtime\)/).length).toBe(1);
      const n = ping.count;
      await waitFor("the client to be answered by the majority", () => ping.count > n + 5, 5000, 20);
      await Bun.sleep(1000); // the partition lasts: node1 must not take anything back
      await cut(false);
      await Bun.sleep(1500); // healed: node1 hears the others again; auto_failback is off, the group stays
      const r = await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"]);
      expect(r.stdout).not.toContain(`inet ${VIP}/`);

      // The new holder's JavaScript stalls just as it is cut off: its heartbeat thread, which renews
      // the address by itself, removes it the moment it sees the peers dead (too few votes left), and
      // the majority takes over keepalive + deadtime later: still never two at once (the address log)
      const holder = procs[taker - 1]!;
      const others = procs.filter((p) => p !== holder);
      const from = procs.map((p) => p.lines.length);
      const stall = blockJs(files, taker, 2500);
      await holder.waitLine(/test hook: blocking the JS thread/, 2000, from[taker - 1]);
      expect((await cut(true, taker)).code).toBe(0);
      const started = () =>
        others.some((p) => p.matching(/group web: starting -> running/, from[procs.indexOf(p)]).length);
      await waitFor("the majority to run web again", started, 5000, 20);
      await stall;
      await holder.waitLine(
        /address 198\.51\.100\.\d+ removed by the heartbeat thread as node\d went dead: the peers still heard are too few/,
        5000,
        from[taker - 1],
      );
      await cut(false);
      const m = ping.count;
      await waitFor("the client to be answered after the stalled holder's cut", () => ping.count > m + 5, 5000, 20);
    } finally {
      ping.stop();
      for (const l of logs) l.stop();
    }
    expect(overlap(logs)).toBeLessThanOrEqual(0);
    // the address really moved: node1 had it, then the taker
    expect(logs[0]!.all().length).toBeGreaterThan(0);
    expect(logs.slice(1).some((l) => l.all().length > 0)).toBe(true);
  }, 60_000);
});
