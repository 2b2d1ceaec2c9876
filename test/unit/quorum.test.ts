/** Majority quorum (issue 12) in the state machine: who may hold, what a node that loses it does, and the grace. */
import { describe, expect, test } from "bun:test";
import {
  type Effect,
  initialState,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  quorumVotes,
  recordOf,
  step,
  unable,
} from "../../src/cluster/machine.ts";
import { addressGuard } from "../../src/cluster/ownership.ts";
import type { StateRecord } from "../../src/cluster/record.ts";

const cfg = (self: string, over: Partial<MachineConfig> = {}): MachineConfig => ({
  self,
  nodes: [
    { name: "a", id: 1 },
    { name: "b", id: 2 },
    { name: "c", id: 3 },
  ],
  groups: [{ name: "web", preferred: "a", resources: ["ip", "httpd"] }],
  autoFailback: true,
  initdead: 1000,
  failureHold: 60_000,
  stopRetries: 0,
  stopPolicy: "block",
  quorum: { votes: { a: 1, b: 1, c: 1 }, grace: 250 },
  ...over,
});
const rec = (groups: number[] = []): StateRecord => ({ state: "active", score: 100, groups, failed: [] });

/** Events in order; every start/stop answered at once; effects as short strings. */
function play(c: MachineConfig, events: [number, MachineEvent][], s0?: MachineState) {
  let s = s0 ?? initialState(c, 0);
  const effects: string[] = [];
  const logs: string[] = [];
  const answer = (x: Effect): MachineEvent[] => {
    if (x.type === "start" || x.type === "stop") {
      effects.push(`${x.type}:${x.step}`);
      return [{ type: "done", group: x.group, step: x.step, op: x.type, ok: true }];
    }
    if (x.type === "drop-addresses") effects.push("drop-addresses");
    if (x.type === "timer" && x.timer.kind === "release") effects.push(`timer:release@${x.at}`);
    return [];
  };
  for (const [now, e] of events) {
    const queue: MachineEvent[] = [e];
    for (let n = 0; n < 100 && queue.length; n++) {
      const r = step(c, s, queue.shift()!, now);
      s = r.state;
      logs.push(...r.log);
      for (const x of r.effects) queue.push(...answer(x));
    }
  }
  return { s, effects, logs };
}

/** Node a with both peers heard, holding web. */
function holding() {
  const c = cfg("a");
  const r = play(c, [
    [0, { type: "start" }],
    [1, { type: "peer", peer: "b", liveness: "up" }],
    [2, { type: "record", peer: "b", record: rec() }],
    [3, { type: "peer", peer: "c", liveness: "up" }],
    [4, { type: "record", peer: "c", record: rec() }],
  ]);
  expect(r.s.groups[0]!.phase).toBe("running");
  return { c, ...r };
}

/** Node b (or c) hearing a, which holds web, and the third node. */
const hearsAHolding = (c: MachineConfig) =>
  play(c, [
    [0, { type: "start" }],
    [1, { type: "peer", peer: "a", liveness: "up" }],
    [2, { type: "record", peer: "a", record: rec([0]) }],
    [3, { type: "peer", peer: "c", liveness: "up" }],
    [4, { type: "record", peer: "c", record: rec() }],
  ]);

describe("majority quorum", () => {
  test("votes: more than half of all, its own included; optional weights", () => {
    const c = cfg("a");
    const s = initialState(c, 0);
    expect(quorumVotes(c, s)).toEqual({ heard: 1, total: 3, has: false });
    s.peers.b!.liveness = "up";
    expect(quorumVotes(c, s)).toEqual({ heard: 2, total: 3, has: true });
    const weighted = cfg("a", { quorum: { votes: { a: 2, b: 1, c: 0 }, grace: 0 } });
    expect(quorumVotes(weighted, initialState(weighted, 0)).has).toBe(true); // 2 of 3
    expect(quorumVotes(cfg("a", { quorum: undefined }), initialState(c, 0)).has).toBe(true);
  });

  test("alone after initdead: no quorum, nothing is taken, and the record says it cannot serve", () => {
    const c = cfg("a");
    const r = play(c, [
      [0, { type: "start" }],
      [1000, { type: "timer", timer: { kind: "initdead" } }],
    ]);
    expect(r.effects).toEqual([]);
    expect(recordOf(r.s, c).failed).toEqual([0]);
  });

  test("the holder loses both peers: its addresses go first, then the services stop, and it says so", () => {
    const h = holding();
    const r = play(
      h.c,
      [
        [10, { type: "peer", peer: "b", liveness: "dead" }],
        [11, { type: "peer", peer: "c", liveness: "dead" }],
      ],
      h.s,
    );
    // one peer lost: still 2 of 3, nothing moves
    expect(r.effects).toEqual(["drop-addresses", "stop:1", "stop:0"]);
    expect(r.logs).toContain(
      "node a: lost quorum (hears 1 of 3 votes): removing its floating addresses, then stopping its groups",
    );
    expect(r.logs).toContain("group web: running -> stopping (no quorum: hears 1 of 3 votes (more than 1.5 needed))");
    expect(r.s.groups[0]!.phase).toBe("stopped");
  });

  test("the majority takes a lost holder's group only after the grace (keepalive + deadtime)", () => {
    const c = cfg("b", { groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
    const heard = hearsAHolding(c);
    const lost = play(c, [[100, { type: "peer", peer: "a", liveness: "dead" }]], heard.s);
    expect(lost.effects).toEqual(["timer:release@350"]);
    expect(lost.logs).toContain(
      "node a: lost while holding web; it releases when it sees it lost quorum: taking over in 250 ms (keepalive + deadtime)",
    );
    const after = play(c, [[350, { type: "timer", timer: { kind: "release", peer: "a" } }]], lost.s);
    expect(after.effects).toEqual(["start:0"]);
  });

  test("a lost holder that comes back before the grace ends keeps its group; one that left on purpose needs no grace", () => {
    const c = cfg("b", { groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
    const heard = hearsAHolding(c);
    const back = play(
      c,
      [
        [100, { type: "peer", peer: "a", liveness: "dead" }],
        [200, { type: "peer", peer: "a", liveness: "up" }],
        [201, { type: "record", peer: "a", record: rec([0]) }],
        [350, { type: "timer", timer: { kind: "release", peer: "a" } }],
      ],
      heard.s,
    );
    expect(back.effects).toEqual(["timer:release@350"]);
    expect(back.s.releasing).toEqual({});
    const left = play(
      c,
      [
        [100, { type: "control", peer: "a", msg: { kind: "leaving" } }],
        [101, { type: "peer", peer: "a", liveness: "dead" }],
      ],
      heard.s,
    );
    expect(left.effects).toEqual(["start:0"]);
  });

  test("with fencing, the fence is the proof: no grace", () => {
    const c = cfg("b", { fencing: true, groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
    const heard = hearsAHolding(c);
    const lost = play(
      c,
      [
        [100, { type: "peer", peer: "a", liveness: "dead" }],
        [120, { type: "fenced", peer: "a", ok: true }],
      ],
      heard.s,
    );
    expect(lost.effects).toEqual(["start:0"]);
  });

  test("quorum lost while a start runs: what started comes down, addresses first", () => {
    const c = cfg("a");
    // b is heard (2 of 3 votes), c never is: at initdead web starts (step 0 asked); before it answers, b is lost
    let s = step(c, initialState(c, 0), { type: "start" }, 0).state;
    s = step(c, s, { type: "peer", peer: "b", liveness: "up" }, 1).state;
    s = step(c, s, { type: "record", peer: "b", record: rec() }, 2).state;
    const started = step(c, s, { type: "timer", timer: { kind: "initdead" } }, 1000);
    expect(started.effects).toContainEqual({ type: "start", group: 0, step: 0 });
    s = step(c, started.state, { type: "peer", peer: "b", liveness: "dead" }, 1003).state;
    const r = play(c, [[1004, { type: "done", group: 0, step: 0, op: "start", ok: true }]], s);
    expect(r.effects).toEqual(["drop-addresses", "stop:0"]);
    expect(r.s.groups[0]!.phase).toBe("stopped");
  });

  test("a node a peer hears but we do not may hold anything: we take nothing we do not hold, and keep what we hold", () => {
    const c = cfg("a");
    const s = initialState(c, 0);
    s.phase = "active";
    s.peers.b = { liveness: "up", record: { ...rec(), heard: [0, 2] } }; // b hears a and c
    s.peers.c = { liveness: "dead" };
    expect(unable(c, s, 0)).toBe("c (heard by b) is not heard here and may hold it");
    expect(recordOf(s, c).failed).toEqual([0]);
    s.groups[0]!.phase = "running";
    expect(unable(c, s, 0)).toBeUndefined();
    // without quorum configured, nothing changes
    s.groups[0]!.phase = "stopped";
    expect(unable(cfg("a", { quorum: undefined }), s, 0)).toBeUndefined();
  });
});

describe("the heartbeat thread's guard (addressGuard): the same rules, counted the way the engine counts", () => {
  test("majority: the votes of each peer, its own, and more than half of the total", () => {
    expect(addressGuard(cfg("a"), true)).toEqual({ votes: { b: 1, c: 1 }, self: 1, need: 2 });
    // a node with 0 votes never counts; 2 + 1 + 0 = 3 votes, so 2 are needed
    const weighted = cfg("c", { quorum: { votes: { a: 2, b: 1, c: 0 }, grace: 250 } });
    expect(addressGuard(weighted, true)).toEqual({ votes: { a: 2, b: 1 }, self: 0, need: 2 });
  });

  test("the arbiter without a lease: every peer must be heard; with one, or with no rule at all, nothing", () => {
    const arb = cfg("a", { quorum: undefined, arbiter: { grace: 250 } });
    expect(addressGuard(arb, false)).toEqual({ votes: { b: 1, c: 1 }, self: 0, need: 2 });
    expect(addressGuard(arb, true)).toBeNull();
    expect(addressGuard(cfg("a", { quorum: undefined }), false)).toBeNull();
    // both: without the lease the stricter rule (every peer); with it, the majority
    const both = cfg("a", { arbiter: { grace: 250 } });
    expect(addressGuard(both, false)?.need).toBe(2);
    expect(addressGuard(both, false)?.self).toBe(0);
    expect(addressGuard(both, true)).toEqual({ votes: { b: 1, c: 1 }, self: 1, need: 2 });
  });

  test("the guard's need matches quorumVotes: a node keeps quorum exactly when the engine would keep the address", () => {
    const c = cfg("a", { quorum: { votes: { a: 1, b: 2, c: 2 }, grace: 250 } });
    const g = addressGuard(c, true)!;
    for (const alive of [[], ["b"], ["c"], ["b", "c"]]) {
      let s = initialState(c, 0);
      for (const p of alive) s = step(c, s, { type: "peer", peer: p, liveness: "up" }, 1).state;
      const heard = g.self + alive.reduce((a, p) => a + g.votes[p]!, 0);
      expect(heard >= g.need).toBe(quorumVotes(c, s).has);
    }
  });
});
