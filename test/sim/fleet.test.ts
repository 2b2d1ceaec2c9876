/**
 * A fleet (issue 12, part 6): 16 nodes and 128 groups, preferences spread over the nodes, version 2
 * records on the wire. After every step of a seeded random sequence of node deaths and returns, each
 * group runs on exactly one live node.
 */
import { expect, test } from "bun:test";
import { Sim } from "./sim.ts";

const NODES = Array.from({ length: 16 }, (_, i) => `n${i + 1}`);
const GROUPS = Array.from({ length: 128 }, (_, i) => ({ name: `g${i}`, preferred: NODES[i % 16]!, resources: ["ip"] }));

/** A small seeded generator (mulberry32): the same sequence on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("16 nodes, 128 groups: every group on exactly one live node after each death and return", async () => {
  const sim = new Sim({ nodes: NODES, groups: GROUPS, autoFailback: true, resourceMs: 1 });
  for (const n of NODES) sim.start(n);
  await sim.run(300);
  const check = (live: Set<string>) => {
    const wrong: string[] = [];
    GROUPS.forEach((g, gi) => {
      const h = sim.holders(gi);
      if (h.length !== 1 || !live.has(h[0]!)) wrong.push(`${g.name}: ${h.join("+") || "nowhere"}`);
    });
    return wrong;
  };
  const live = new Set(NODES);
  expect(check(live)).toEqual([]);
  // everyone runs the groups it prefers
  expect(GROUPS.every((g, gi) => sim.holders(gi)[0] === g.preferred)).toBe(true);
  const rnd = random(1203);
  for (let step = 0; step < 12; step++) {
    const node = NODES[Math.floor(rnd() * NODES.length)]!;
    if (live.has(node) && live.size > 2) {
      sim.kill(node);
      sim.runners.get(node)!.up.clear(); // a dead node holds nothing
      live.delete(node);
    } else if (!live.has(node)) {
      sim.start(node);
      live.add(node);
    }
    await sim.run(600);
    expect({ step, node, wrong: check(live) }).toEqual({ step, node, wrong: [] });
  }
}, 60_000);
