/** Resource monitoring on simulated clusters: a service that dies is restarted in place, then failed over. */
import { expect, test } from "bun:test";
import { MONITOR_MS, Sim } from "./sim.ts";

const log = (sim: Sim, node: string) => sim.logs.get(node)!.join("\n");
/** the service (httpd, step 1 of web) dies on a node, as a crash would leave it */
const crash = (sim: Sim, node: string) => sim.runners.get(node)!.up.delete("0/1");

async function started(): Promise<Sim> {
  const sim = new Sim({
    groups: [{ name: "web", preferred: "n1", resources: ["ip", "httpd"], maxRestarts: 2, restartWindow: 60_000 }],
  });
  sim.start("n1");
  sim.start("n2");
  await sim.run(300);
  expect(sim.holders()).toEqual(["n1"]);
  return sim;
}

test("a crashed service is noticed after fall checks and restarted in place; the address never moves", async () => {
  const sim = await started();
  crash(sim, "n1");
  await sim.run(MONITOR_MS * 2 + 50);
  expect(sim.holders()).toEqual(["n1"]);
  expect(sim.drivers.get("n1")!.state.groups[0]!.restarts.length).toBe(1);
  expect(log(sim, "n1")).toContain("(httpd failed its monitor (0/1 is not running): restart 1 of 2 within 1m)");
  expect(sim.runners.get("n1")!.ops).toEqual(["start:0/0", "start:0/1", "stop:0/1", "start:0/1"]);
  expect(sim.touching()).toEqual(["n1"]);
});

test("a service that keeps dying: max_restarts restarts, then the peer takes the group", async () => {
  const sim = await started();
  for (let i = 0; i < 3; i++) {
    crash(sim, "n1");
    await sim.run(MONITOR_MS * 3 + 50);
  }
  await sim.run(300);
  expect(sim.holders()).toEqual(["n2"]);
  expect(sim.touching()).toEqual(["n2"]);
  expect(sim.phase("n1")).toBe("failed");
  expect(log(sim, "n1")).toContain("2 restarts within 1m used up: failing over");
  // the peer's own monitor watches it there
  crash(sim, "n2");
  await sim.run(MONITOR_MS * 3 + 50);
  expect(sim.holders()).toEqual(["n2"]);
  expect(log(sim, "n2")).toContain("restart 1 of 2");
});
