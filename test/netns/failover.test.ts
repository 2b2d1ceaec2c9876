/**
 * Failover end to end on a real kernel: two nodes, a VIP, a client pinging it
 * every 10 ms. Each case checks exactly one holder after convergence, that the
 * client's neighbour entry carries the holder's MAC, and records the outage.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HbProcess } from "../lib/cluster.ts";
import {
  ClusterFiles,
  clientMac,
  failoverConfig,
  holders,
  Lab,
  Pinger,
  startHb,
  VIP,
  VIP6,
  writeScripts,
} from "../lib/failover.ts";
import { announceSkip, netnsUnavailable, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/failover.test.ts", why);

describe.skipIf(Boolean(why))("failover on a real kernel", () => {
  let lab: Lab;
  let dir: string;
  let scripts: string;
  let files: ClusterFiles | undefined;
  let procs: HbProcess[] = [];
  let pinger: Pinger | undefined;
  const outages: string[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-fo-"));
    scripts = writeScripts(dir);
  });
  afterEach(async () => {
    pinger?.stop();
    pinger = undefined;
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
    files?.cleanup();
    files = undefined;
    for (const i of [1, 2]) {
      await lab.plug(i, true);
      await lab.exec(lab.nodes[i - 1]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
    }
  });
  afterAll(async () => {
    console.log(`client outages (ping every 10 ms, deadtime 150 ms):\n  ${outages.join("\n  ")}`);
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const up = (opts: Parameters<typeof failoverConfig>[1] = {}) => {
    files = new ClusterFiles(failoverConfig(scripts, opts));
  };
  const start = (i: number) => {
    const p = startHb(lab, files!, i);
    procs.push(p);
    return p;
  };
  /** Wait for exactly `node` to hold the VIP and the client to be served by it. */
  const converged = async (node: number, timeoutMs = 5000) => {
    await waitFor(
      `node${node} alone to hold the VIP`,
      async () => JSON.stringify(await holders(lab)) === `[${node}]`,
      timeoutMs,
      20,
    );
    await waitFor(
      `the client to reach the VIP through node${node}`,
      async () =>
        (await lab.exec(lab.client!, ["ping", "-c1", "-W1", VIP])).code === 0 &&
        (await clientMac(lab)) === Lab.nodeMac(node),
      timeoutMs,
      20,
    );
  };
  const steady = async () => {
    start(1);
    start(2);
    await converged(1);
    pinger = new Pinger(lab);
    await waitFor("the first answers", () => pinger!.count > 20, 5000, 20);
    return pinger.count;
  };

  test("pull the plug of the holder: the peer takes over; plugged back, exactly one holder", async () => {
    up();
    const from = await steady();
    await lab.plug(1, false);
    await waitFor("node2 to hold the VIP", async () => (await holders(lab)).includes(2), 3000, 10);
    await waitFor("the client served again", () => pinger!.count > from + 50, 5000, 10);
    expect(await clientMac(lab)).toBe(Lab.nodeMac(2));
    const outage = pinger!.outage(from);
    outages.push(`pull the plug: ${outage.toFixed(0)} ms`);
    expect(outage).toBeLessThan(1000);
    await lab.plug(1, true);
    await converged(1); // auto_failback: back to the preferred node, exactly one holder
  });

  test("kill -9 of the holder: the peer takes over; the dead node's VIP disappears within the lease", async () => {
    up();
    const from = await steady();
    procs[0]!.proc.kill("SIGKILL");
    await waitFor("node2 to hold the VIP", async () => (await holders(lab)).includes(2), 3000, 10);
    await waitFor("the client served again", () => pinger!.count > from + 50, 5000, 10);
    outages.push(`kill -9: ${pinger!.outage(from).toFixed(0)} ms`);
    // the lease (3 s) runs out on node1: no duplicate after it
    await waitFor("node1's VIP to expire", async () => !(await holders(lab)).includes(1), 5000, 100);
    expect(await holders(lab)).toEqual([2]);
    expect(await clientMac(lab)).toBe(Lab.nodeMac(2));
  });

  test("SIGTERM of the holder: planned handover, the client barely notices", async () => {
    up();
    const from = await steady();
    const a = procs[0]!;
    a.proc.kill("SIGTERM");
    expect(await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => "hung")])).toBe(0);
    await converged(2);
    await waitFor("the client served again", () => pinger!.count > from + 50, 5000, 10);
    const outage = pinger!.outage(from);
    outages.push(`SIGTERM: ${outage.toFixed(0)} ms`);
    expect(outage).toBeLessThan(150); // well below deadtime: the peer did not wait for it
    expect(
      a.matching(/group web: running -> stopping \(SIGTERM\)|group web: running -> stopping \(node leaving\)/).length,
    ).toBe(1);
    expect(procs[1]!.matching(/group web: stopped -> starting \((node1 released it|node1 is stopping)\)/).length).toBe(
      1,
    );
  });

  test("the preferred node returns: coordinated failback", async () => {
    up();
    start(2);
    await converged(2, 6000); // initdead 2 s, then node2 alone
    pinger = new Pinger(lab);
    await waitFor("the first answers", () => pinger!.count > 20, 5000, 20);
    const from = pinger.count;
    start(1);
    await converged(1);
    await waitFor("the client served again", () => pinger!.count > from + 50, 5000, 10);
    const outage = pinger.outage(from);
    outages.push(`failback: ${outage.toFixed(0)} ms`);
    expect(outage).toBeLessThan(150);
  });

  test("an address someone else answers for is not added: conflict reported, group failed on both", async () => {
    await lab.exec(lab.client!, ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"]); // the client squats the VIP
    try {
      up();
      const a = start(1);
      const b = start(2);
      await a.waitLine(/address conflict: another host answers for 198\.51\.100\.200 on eth0/, 8000);
      await b.waitLine(/address conflict: another host answers for 198\.51\.100\.200 on eth0/, 8000);
      await Bun.sleep(300);
      expect(await holders(lab)).toEqual([]);
    } finally {
      await lab.exec(lab.client!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
    }
  });

  test("a stale copy of the VIP (left by a crash) is removed at start on the node that does not hold it", async () => {
    await lab.exec(lab.nodes[1]!, ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"]);
    up();
    const b = start(2);
    await b.waitLine(/removed stale 198\.51\.100\.200\/24 from eth0/, 5000);
    start(1);
    await converged(1);
  });

  test("a service that cannot be stopped: SIGTERM leaves the group blocked and claimed, the peer never starts it", async () => {
    files = new ClusterFiles(failoverConfig(scripts, { script: "nostop" }));
    const a = start(1);
    const b = start(2);
    await converged(1);
    a.proc.kill("SIGTERM");
    await a.waitLine(/resource script nostop failed to stop 1 times/, 5000);
    await a.waitLine(/not exiting: group web could not be stopped and stays claimed here/, 5000);
    await Bun.sleep(1000);
    expect(a.proc.exitCode).toBeNull(); // still running, still beating, still claiming
    expect(await holders(lab)).toEqual([1]);
    expect(b.matching(/group web: stopped -> starting/)).toEqual([]);
    // the operator's way out: kill -9; the peer takes over after deadtime
    a.proc.kill("SIGKILL");
    await waitFor("node2 to hold the VIP", async () => (await holders(lab)).includes(2), 3000, 20);
  });

  test("an IPv6 VIP moves with the group: the client's IPv6 neighbour entry follows", async () => {
    const c = lab.client!;
    await lab.exec(c, ["ip", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"]);
    try {
      up({ ipv6: true });
      start(1);
      start(2);
      await converged(1);
      await waitFor(
        "the client reaches the IPv6 VIP",
        async () => (await lab.exec(c, ["ping", "-6", "-c1", "-W1", VIP6])).code === 0,
        5000,
        50,
      );
      expect((await lab.exec(c, ["ip", "-6", "neigh", "show", VIP6])).stdout).toContain(Lab.nodeMac(1));
      await lab.plug(1, false);
      await waitFor(
        "node2 to answer on IPv6",
        async () =>
          (await lab.exec(c, ["ping", "-6", "-c1", "-W1", VIP6])).code === 0 &&
          (await lab.exec(c, ["ip", "-6", "neigh", "show", VIP6])).stdout.includes(Lab.nodeMac(2)),
        5000,
        20,
      );
      expect((await lab.exec(lab.nodes[1]!, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout).toMatch(
        new RegExp(`inet6 ${VIP6}/64 scope global .*nodad`),
      );
    } finally {
      await lab.exec(c, ["ip", "addr", "del", "2001:db8::100/64", "dev", "eth0"]);
      for (const ns of lab.nodes) await lab.exec(ns, ["ip", "addr", "del", `${VIP6}/64`, "dev", "eth0"]);
    }
  });

  test("a service script that fails to start: the group goes to the peer and stays there", async () => {
    files = new ClusterFiles(failoverConfig(scripts, { script: "SCRIPT" }), (node, t) =>
      t.replace('"SCRIPT"', node === 1 ? '"fail"' : '"ok"'),
    );
    start(1);
    start(2);
    await converged(2, 8000);
    await procs[0]!.waitLine(/resource script fail failed to start: start exited 1/);
    await procs[0]!.waitLine(/fail: cannot start \(test\)/); // the script's own words, in the log under its name
    await Bun.sleep(500);
    expect(await holders(lab)).toEqual([2]);
  });

  test("a script that hangs past its timeout is killed and counts as a failure", async () => {
    files = new ClusterFiles(failoverConfig(scripts, { script: "SCRIPT", timeout: "500ms" }), (node, t) =>
      t.replace('"SCRIPT"', node === 1 ? '"hang"' : '"ok"'),
    );
    const a = start(1);
    start(2);
    await a.waitLine(/start timed out after 500 ms \(killed\)/, 8000);
    await converged(2, 8000);
    // the heartbeat went on while the script hung: node2 never saw node1 late
    expect(procs[1]!.matching(/peer node1: .* -> (late|dead)/)).toEqual([]);
  });
});
