/**
 * The etcd arbiter on simulated pairs (issue 12), an in-memory etcd whose leases expire on the same clock:
 * every millisecond of each fault at most one node has the address, and the group runs again when it
 * should. The same scenarios run against a real etcd in test/netns/arbiter.test.ts.
 */
import { expect, test } from "bun:test";
import { Sim, watch, withAddress } from "./sim.ts";

const TIMING = { keepalive: 50, warntime: 100, deadtime: 150, initdead: 1000 };
const TTL = 3000;
const pair = () => new Sim({ timing: TIMING, etcd: { ttlMs: TTL } });

/** Run until pred holds (at most ms); the ms it took, or -1. */
async function until(sim: Sim, pred: () => boolean, ms: number): Promise<number> {
  for (let t = 0; t < ms; t++) {
    if (pred()) return t;
    await sim.run(1);
  }
  return -1;
}

async function started(): Promise<Sim> {
  const sim = pair();
  for (const n of sim.nodes) sim.start(n);
  await sim.run(500);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.keyOwner()).toBe("n1");
  return sim;
}

test("a node starts a group only once etcd's key names it", async () => {
  const sim = pair();
  sim.etcd!.down = true;
  for (const n of sim.nodes) sim.start(n);
  expect(await watch(sim, 1500)).toBe(0);
  expect(sim.logs.get("n1")!.join("\n")).toContain("arbiter: etcd does not answer");
  sim.etcd!.down = false;
  expect(await until(sim, () => sim.holders().length === 1, 1500)).toBeGreaterThan(0);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.keyOwner()).toBe("n1");
});

test("kill -9 of the holder: the peer takes over once etcd expires the dead node's lease, not before", async () => {
  const sim = await started();
  sim.kill("n1");
  sim.runners.get("n1")!.up.clear(); // its address goes with its kernel lease
  const took = await until(sim, () => sim.holders().includes("n2"), TTL + 1000);
  // the key outlives the process by the lease's TTL (less the time since its last renewal, at most TTL/6)
  expect(took).toBeGreaterThan(TTL - TTL / 6 - 50);
  expect(took).toBeLessThan(TTL + 300);
  expect(sim.keyOwner()).toBe("n2");
  expect(sim.logs.get("n2")!.join("\n")).toContain("waiting for etcd: its key names n1");
});

test("the heartbeat cut while both reach etcd: the holder keeps its key and the peer never takes it", async () => {
  const sim = await started();
  sim.net.isolate("n1", true);
  expect(await watch(sim, 2 * TTL)).toBe(1);
  expect(withAddress(sim)).toEqual(["n1"]);
  expect(sim.keyOwner()).toBe("n1");
  sim.net.isolate("n1", false);
  expect(await watch(sim, 1000)).toBe(1);
  expect(sim.holders()).toEqual(["n1"]);
});

test("the holder cut off from everything: it drops its address before its lease can expire, then the peer takes over", async () => {
  const sim = await started();
  sim.net.isolate("n1", true);
  sim.etcdClients.get("n1")!.cut = true;
  expect(await watch(sim, TTL + 1000)).toBe(1);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.keyOwner()).toBe("n2");
  const n1 = sim.logs.get("n1")!.join("\n");
  expect(n1).toContain("arbiter lease lost");
  expect(n1).toMatch(/no arbiter lease .* and n2 not heard: it may be taking over: removing its floating addresses/);
  // healed: n1 learns that n2 holds it; auto_failback hands it back through etcd, still one at a time
  sim.net.isolate("n1", false);
  sim.etcdClients.get("n1")!.cut = false;
  expect(await watch(sim, 2000)).toBe(1);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.keyOwner()).toBe("n1");
});

test("etcd down for every node while the heartbeats are fine: the holder keeps the group, nobody takes anything new", async () => {
  const sim = await started();
  sim.etcd!.down = true;
  expect(await watch(sim, 2 * TTL)).toBe(1);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.logs.get("n1")!.join("\n")).toContain("keeps web only while it hears every peer");
  // the holder dies meanwhile: without etcd the peer cannot know its lease is gone, so it waits
  sim.kill("n1");
  sim.runners.get("n1")!.up.clear();
  expect(await watch(sim, 1000)).toBe(0);
  sim.etcd!.down = false; // etcd back: it renews the leases it has, so n1's lasts one more TTL
  const took = await until(sim, () => sim.holders().includes("n2"), 2 * TTL);
  expect(took).toBeGreaterThan(TTL - 500);
  expect(sim.keyOwner()).toBe("n2");
});

test("the holder loses etcd alone: it keeps the group while it hears its peer, and drops it the moment it does not", async () => {
  const sim = await started();
  sim.etcdClients.get("n1")!.cut = true;
  expect(await watch(sim, 2 * TTL)).toBe(1);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.keyOwner()).toBe(""); // its lease expired at etcd; the peer, hearing it hold the group, took nothing
  // now the heartbeat goes too: n1 drops at once, n2 takes over after keepalive + deadtime of grace
  sim.net.isolate("n1", true);
  expect(await watch(sim, 1000)).toBe(1);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.logs.get("n2")!.join("\n")).toContain("taking over in 200 ms (keepalive + deadtime)");
});

test("a planned move hands the key over with the group, without waiting for a lease", async () => {
  const sim = await started();
  const reply = sim.drivers.get("n1")!.command({ cmd: "standby", group: "all" });
  const took = await until(sim, () => sim.holders().includes("n2"), 2000);
  expect((await reply).ok).toBe(true);
  expect(took).toBeGreaterThan(0);
  expect(took).toBeLessThan(200);
  expect(sim.keyOwner()).toBe("n2");
});
