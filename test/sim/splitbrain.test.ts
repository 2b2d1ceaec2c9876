/**
 * No split brain, simulated: one-way loss, uplink arbitration, require_uplink,
 * fencing, carrier loss on a group's interface. The real Driver and machine on
 * the fake network and fake clock; `holders()` is the truth.
 */
import { expect, test } from "bun:test";
import { Sim } from "./sim.ts";

/** Run in 1 ms steps and remember the longest stretch with two holders. */
async function watch(sim: Sim, ms: number): Promise<number> {
  let both = 0;
  let worst = 0;
  for (let t = 0; t < ms; t++) {
    await sim.run(1);
    both = sim.holders().length > 1 ? both + 1 : 0;
    worst = Math.max(worst, both);
  }
  return worst;
}

test("one-way loss (n1 -> n2 dropped): n2 takes over, n1 sees it is not heard and releases; overlap within a few ms", async () => {
  const sim = new Sim();
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  sim.net.setPath("n1", "n2", false);
  const overlap = await watch(sim, 600);
  expect(sim.holders()).toEqual(["n2"]);
  expect(overlap).toBeLessThanOrEqual(20);
  expect(
    sim.logs.get("n1")!.some((l) => /group web: running -> stopping \(n2 cannot hear us \(one-way loss\)/.test(l)),
  ).toBe(true);
  // and the other direction: still one holder
  sim.net.setPath("n1", "n2", true);
  sim.net.setPath("n2", "n1", false);
  const overlap2 = await watch(sim, 600);
  expect(sim.holders()).toHaveLength(1);
  expect(overlap2).toBeLessThanOrEqual(20);
});

test("uplink arbitration: the holder loses its ping targets, the group moves after the hold-down, and back with auto_failback", async () => {
  const sim = new Sim({ machine: { uplink: true, scoreHold: 200 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 0 });
  await sim.run(150);
  expect(sim.holders()).toEqual(["n1"]); // within the hold-down: no move
  await sim.run(200);
  expect(sim.holders()).toEqual(["n2"]);
  // a blip shorter than the hold-down changes nothing
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 100 });
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]); // back: n1 is preferred and auto_failback is on
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 50 });
  await sim.run(100);
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 100 });
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.logs.get("n2")!.filter((l) => l.includes("stopped -> starting"))).toHaveLength(1);
});

test("score 0 never takes a group from a live peer with a better score, even when preferred", async () => {
  const sim = new Sim({ machine: { uplink: true, scoreHold: 0 } });
  sim.start("n2");
  await sim.run(1100); // n2 alone after initdead: it runs web
  expect(sim.holders()).toEqual(["n2"]);
  const d1 = sim.start("n1");
  d1.dispatch({ type: "score", score: 0 });
  await sim.run(500);
  expect(sim.holders()).toEqual(["n2"]);
});

test("healing after a partition: the better uplink keeps the group, whatever the preference", async () => {
  const sim = new Sim({ machine: { uplink: true, scoreHold: 0 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.net.isolate("n1", true);
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 50 }); // n1 cut off from part of the LAN
  await sim.run(400);
  expect(sim.holders()).toEqual(["n1", "n2"]);
  sim.net.isolate("n1", false);
  await sim.run(400);
  expect(sim.holders()).toEqual(["n2"]); // n2 (score 100) wins over the preferred n1 (50)
  expect(sim.runners.get("n2")!.announcements).toBeGreaterThan(0); // the winner announces again
});

test("require_uplink: an isolated node (no peer, no ping target) releases its groups", async () => {
  const sim = new Sim({ machine: { uplink: true, requireUplink: true, scoreHold: 0 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.net.isolate("n1", true);
  await sim.run(300); // both see the other dead: both hold web
  expect(sim.holders()).toEqual(["n1", "n2"]);
  sim.drivers.get("n1")!.dispatch({ type: "score", score: 0 }); // and n1 reaches no ping target
  await sim.run(100);
  expect(sim.holders()).toEqual(["n2"]);
  expect(
    sim.logs.get("n1")!.some((l) => l.includes("isolated: no ping target and no peer answers (require_uplink)")),
  ).toBe(true);
  // a node that still reaches its targets keeps serving alone
  sim.net.isolate("n1", false);
  await sim.run(400);
  sim.net.isolate("n2", true);
  await sim.run(400);
  expect(sim.holders()).toContain("n2");
});

test("fencing: no takeover until the fence succeeds; failures are retried with backoff", async () => {
  const sim = new Sim({ machine: { fencing: true, fenceBackoff: 100 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.runners.get("n2")!.fenceResults.push(false, false);
  sim.kill("n1");
  await sim.run(200);
  expect(sim.holders()).toEqual(["n1"]); // n1's resources are still up (killed daemon); n2 did not start
  expect(sim.runners.get("n2")!.fenced).toEqual(["n1"]);
  await sim.run(500); // retry after 100 ms fails, then after 200 ms succeeds
  expect(sim.runners.get("n2")!.fenced).toEqual(["n1", "n1", "n1"]);
  expect(sim.phase("n2")).toBe("running");
  const log = sim.logs.get("n2")!.join("\n");
  expect(log).toContain("node n1: fencing it before taking over web");
  expect(log).toContain(
    "node n1: fencing failed (attempt 1): injected fence failure; not taking over its groups; retry in 100 ms",
  );
  expect(log).toContain("node n1: fenced (attempt 3): taking over what it held");
});

test("fencing: a peer that holds nothing is not fenced; one that comes back is not fenced any more", async () => {
  const sim = new Sim({ machine: { fencing: true, fenceBackoff: 1000 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.kill("n2"); // holds nothing
  await sim.run(300);
  expect(sim.runners.get("n1")!.fenced).toEqual([]);
  sim.start("n2");
  await sim.run(300);
  sim.runners.get("n2")!.fenceResults.push(false);
  sim.net.isolate("n1", true);
  await sim.run(300);
  sim.net.isolate("n1", false);
  await sim.run(300);
  expect(sim.logs.get("n2")!.some((l) => l.includes("node n1: alive again: fencing abandoned"))).toBe(true);
  expect(sim.holders()).toEqual(["n1"]);
});

test("carrier lost on the group's interface: the holder releases, the peer takes over; carrier back: failback after the grace", async () => {
  const sim = new Sim({ machine: { groupInterfaces: [["eth0"]], carrierGrace: 150 } });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  sim.drivers.get("n1")!.dispatch({ type: "iface", ifname: "eth0", up: false });
  await sim.run(100);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.logs.get("n1")!.some((l) => l.includes("group web: running -> stopping (no carrier on eth0)"))).toBe(true);
  sim.drivers.get("n1")!.dispatch({ type: "iface", ifname: "eth0", up: true });
  await sim.run(100);
  expect(sim.holders()).toEqual(["n2"]); // within the grace: n1 does not take it yet
  await sim.run(150);
  expect(sim.holders()).toEqual(["n1"]);
});
