/** Whole clusters on the fake network and clock: the real Driver and state machine on every node. */
import { expect, test } from "bun:test";
import { Sim } from "./sim.ts";

const VIA = (sim: Sim, node: string) => sim.logs.get(node)!.join("\n");

test("simultaneous start: the preferred node takes the group, the other does not touch it", async () => {
  const sim = new Sim();
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.touching()).toEqual(["n1"]);
  expect(VIA(sim, "n1")).toContain("node n1: waiting -> active (every peer heard)");
});

test("one-by-one start: nothing is taken before initdead; the late preferred node gets it back with auto_failback", async () => {
  const sim = new Sim({ autoFailback: true });
  sim.start("n2");
  await sim.run(900);
  expect(sim.touching()).toEqual([]); // waiting for initdead (1000 ms)
  await sim.run(200);
  expect(sim.holders()).toEqual(["n2"]);
  sim.start("n1");
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.touching()).toEqual(["n1"]);
  expect(VIA(sim, "n2")).toContain("group web: running -> stopping (handing over to n1)");
});

test("auto_failback off: the group stays where it is when the preferred node returns", async () => {
  const sim = new Sim({ autoFailback: false });
  sim.start("n2");
  await sim.run(1200);
  sim.start("n1");
  await sim.run(500);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.touching()).toEqual(["n2"]);
});

test("pull the plug on the holder: the peer takes over right after deadtime; plug back: exactly one holder", async () => {
  const sim = new Sim({ autoFailback: true });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  const t0 = sim.clock.now;
  sim.net.isolate("n1", true);
  await sim.run(400);
  // both hold it while partitioned: neither can tell (require_uplink and fencing limit this: test/sim/splitbrain.test.ts)
  expect(sim.holders()).toEqual(["n1", "n2"]);
  const takeover = sim.logs.get("n2")!.find((l) => l.includes("group web: stopped -> starting"))!;
  expect(Number(takeover.split(" ")[0]) - t0).toBeLessThanOrEqual(150 + 50);
  sim.net.isolate("n1", false);
  await sim.run(400);
  // healed: exactly one keeps it (the preferred node, by the rule), the other released it
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.touching()).toEqual(["n1"]);
  // and the keeper told the LAN again, since clients had moved to n2
  expect(sim.runners.get("n1")!.announcements).toBe(1);
  expect(VIA(sim, "n1")).toMatch(/group web: n2 (released it|no longer holds it); announcing our addresses again/);
});

test("kill -9 of the holder: the peer takes over after deadtime", async () => {
  const sim = new Sim();
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.kill("n1");
  await sim.run(300);
  expect(sim.drivers.get("n2")!.state.groups[0]!.phase).toBe("running");
});

test("graceful stop (SIGTERM): the holder releases, the peer starts at once, not after deadtime", async () => {
  const sim = new Sim({ resourceMs: 5 });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  const t0 = sim.clock.now;
  sim.drivers.get("n1")!.dispatch({ type: "shutdown", reason: "SIGTERM" });
  await sim.run(100);
  expect(sim.exits.get("n1")).toBe(0);
  expect(sim.holders()).toEqual(["n2"]);
  const started = sim.logs.get("n2")!.find((l) => l.includes("group web: starting -> running"))!;
  // two resources stopped (10 ms) + two started (10 ms): far below deadtime (150 ms)
  expect(Number(started.split(" ")[0]) - t0).toBeLessThan(40);
  // told at once, by the release message or by the extra beat with n1's new record
  expect(VIA(sim, "n2")).toMatch(/group web: stopped -> starting \((n1 released it|n1 is stopping)\)/);
});

test("a second SIGTERM during the shutdown changes nothing: no half-started group anywhere", async () => {
  const sim = new Sim({ resourceMs: 20 });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  const d = sim.drivers.get("n1")!;
  d.dispatch({ type: "shutdown", reason: "SIGTERM" });
  await sim.run(10);
  d.dispatch({ type: "shutdown", reason: "SIGTERM again" });
  await sim.run(200);
  expect(sim.exits.get("n1")).toBe(0);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.touching()).toEqual(["n2"]);
});

test("a resource that fails to start: what started is stopped, the peer takes the group, no ping-pong", async () => {
  const sim = new Sim();
  sim.runners.set("n1", undefined as never);
  sim.start("n1");
  sim.runners.get("n1")!.faults.set("start:0/1", true); // httpd fails on n1
  sim.start("n2");
  await sim.run(600);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.touching()).toEqual(["n2"]); // n1's half-started httpd and its ip were stopped
  expect(sim.phase("n1")).toBe("failed");
  await sim.run(3000);
  expect(sim.holders()).toEqual(["n2"]); // auto_failback does not pull it back to a node where it failed
});

test("a resource that cannot be stopped: the group is blocked (failed) and never started elsewhere", async () => {
  const sim = new Sim({ autoFailback: true });
  sim.start("n2");
  await sim.run(1200); // n2 holds it (n1 absent)
  sim.runners.get("n2")!.faults.set("stop:0/1", true);
  sim.start("n1"); // failback asks n2 to stop: httpd will not stop
  await sim.run(600);
  expect(sim.phase("n2")).toBe("failed");
  expect(sim.touching()).toEqual(["n2"]);
  expect(VIA(sim, "n2")).toContain("blocked until cleared");
  expect(sim.holders()).not.toContain("n1");
});

test("a lost beat now and then: nothing moves", async () => {
  const sim = new Sim();
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  // drop n1's frames for 40 ms every 300 ms: at most one beat lost, silence <= 2 x keepalive < deadtime
  for (let i = 0; i < 10; i++) {
    sim.net.isolate("n1", true);
    await sim.run(40);
    sim.net.isolate("n1", false);
    await sim.run(260);
  }
  expect(sim.holders()).toEqual(["n1"]);
  expect(VIA(sim, "n2")).not.toContain("stopped -> starting");
});

test("flapping past deadtime: after every heal exactly one node holds the group", async () => {
  const sim = new Sim({ autoFailback: true });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  for (let i = 0; i < 5; i++) {
    sim.net.isolate("n1", true);
    await sim.run(250);
    sim.net.isolate("n1", false);
    await sim.run(300);
    expect(sim.holders()).toEqual(["n1"]);
    expect(sim.touching()).toEqual(["n1"]);
  }
});

test("three nodes: the group goes to the preferred node, then to the lowest id survivor", async () => {
  const sim = new Sim({ nodes: ["n1", "n2", "n3"], groups: [{ name: "db", preferred: "n2", resources: ["ip"] }] });
  for (const n of sim.nodes) sim.start(n);
  await sim.run(300);
  expect(sim.holders()).toEqual(["n2"]);
  sim.kill("n2");
  await sim.run(400);
  expect(sim.holders()).toContain("n1");
  expect(sim.holders().filter((n) => n !== "n2")).toEqual(["n1"]);
});
