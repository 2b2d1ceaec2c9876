/** Majority quorum on simulated three-node clusters: one holder of the address in every millisecond of a partition. */
import { expect, test } from "bun:test";
import { Sim, watch, withAddress } from "./sim.ts";

const TIMING = { keepalive: 50, warntime: 100, deadtime: 150, initdead: 1000 };
const three = () =>
  new Sim({
    nodes: ["n1", "n2", "n3"],
    timing: TIMING,
    machine: { quorum: { votes: { n1: 1, n2: 1, n3: 1 }, grace: TIMING.keepalive + TIMING.deadtime } },
  });

test("the holder cut off from both others: it drops the address, the majority takes over after the grace, never two", async () => {
  const sim = three();
  for (const n of sim.nodes) sim.start(n);
  await sim.run(400);
  expect(sim.holders()).toEqual(["n1"]);
  sim.net.isolate("n1", true);
  expect(await watch(sim, 1000)).toBe(1);
  expect(withAddress(sim)).toEqual(["n2"]);
  expect(sim.holders()).toEqual(["n2"]);
  const n1 = sim.logs.get("n1")!.join("\n");
  expect(n1).toContain("node n1: lost quorum (hears 1 of 3 votes)");
  expect(sim.logs.get("n2")!.join("\n")).toContain("taking over in 200 ms (keepalive + deadtime)");
  // healed: n1 (preferred, auto_failback) takes it back through a handover; still never two
  sim.net.isolate("n1", false);
  expect(await watch(sim, 1000)).toBe(1);
  expect(sim.holders()).toEqual(["n1"]);
});

test("one node of three dies: the other two keep quorum and the group moves (after the grace)", async () => {
  const sim = three();
  for (const n of sim.nodes) sim.start(n);
  await sim.run(400);
  sim.kill("n1");
  sim.runners.get("n1")!.up.clear(); // a dead node holds nothing
  await sim.run(150 + 200 + 100);
  expect(sim.holders()).toEqual(["n2"]);
  // and a second death leaves the last node without quorum: the group stops
  sim.kill("n2");
  sim.runners.get("n2")!.up.clear();
  await sim.run(600);
  expect(sim.holders()).toEqual([]);
  expect(sim.logs.get("n3")!.join("\n")).toContain("node n3: lost quorum (hears 1 of 3 votes)");
});
