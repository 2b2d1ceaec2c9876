/** The state machine by tables: event in, transitions and effects out. */
import { describe, expect, test } from "bun:test";
import { chooseOwner, initialState, step, type MachineConfig, type MachineEvent, type MachineState } from "../../src/cluster/machine.ts";
import type { StateRecord } from "../../src/cluster/record.ts";

const cfg = (over: Partial<MachineConfig> = {}): MachineConfig => ({
  self: "a",
  nodes: [{ name: "a", id: 1 }, { name: "b", id: 2 }],
  groups: [{ name: "web", preferred: "a", resources: ["ip", "httpd"] }],
  autoFailback: true, initdead: 1000, failureHold: 60_000, stopRetries: 1, stopPolicy: "block",
  ...over,
});
const rec = (state: StateRecord["state"], groups: number[] = [], failed: number[] = []): StateRecord => ({ state, priority: 0, score: 100, groups, failed });

/** Run events in order from the initial state; return the last result and all logs. */
function play(c: MachineConfig, events: MachineEvent[]) {
  let s: MachineState = initialState(c, 0);
  const logs: string[] = [];
  let last = { state: s, effects: [] as ReturnType<typeof step>["effects"], log: [] as string[] };
  events.forEach((e, i) => {
    last = step(c, s, e, i * 10);
    s = last.state;
    logs.push(...last.log);
  });
  return { ...last, logs };
}

describe("decisions", () => {
  const heard = (r: StateRecord): MachineEvent[] => [{ type: "start" }, { type: "peer", peer: "b", liveness: "up" }, { type: "record", peer: "b", record: r }];
  const cases: [string, Partial<MachineConfig>, MachineEvent[], string[]][] = [
    ["start: waits for the peer (no start before it is heard)", {}, [{ type: "start" }], []],
    ["peer heard, owns nothing: the preferred node (us) starts", {}, heard(rec("active")), ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (peer b state active)"]],
    ["peer holds it, auto_failback on: we wait for its release", {}, heard(rec("active", [0])), ["node a: waiting -> active (every peer heard)"]],
    ["peer released it: we start at once", {}, [...heard(rec("active", [0])), { type: "control", peer: "b", msg: { kind: "released", group: 0 } }], ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (b released it)"]],
    ["peer holds it, auto_failback off: it stays there", { autoFailback: false }, [...heard(rec("active", [0])), { type: "record", peer: "b", record: rec("active", [0]) }], ["node a: waiting -> active (every peer heard)"]],
    ["initdead passes alone: we start", {}, [{ type: "start" }, { type: "timer", name: "initdead" }], ["node a: waiting -> active (initdead passed without hearing every peer)", "group web: stopped -> starting (initdead passed without every peer)"]],
    ["the group failed on the peer: ours even if not preferred", { groups: [{ name: "web", preferred: "b", resources: ["ip"] }] }, heard(rec("active", [], [0])), ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (peer b state active)"]],
    ["peer in standby is no candidate", { groups: [{ name: "web", preferred: "b", resources: ["ip"] }] }, heard(rec("standby")), ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (peer b state standby)"]],
  ];
  for (const [name, over, events, want] of cases) test(name, () => expect(play(cfg(over), events).logs).toEqual(want));
});

describe("resources in order, stopped in reverse", () => {
  test("start runs step 0 then 1, then running; shutdown stops 1 then 0, releases, exits", () => {
    const c = cfg({ nodes: [{ name: "a", id: 1 }] });
    let r = play(c, [{ type: "start" }]);
    expect(r.effects).toContainEqual({ type: "start", group: 0, step: 0 });
    const seq: MachineEvent[] = [
      { type: "done", group: 0, step: 0, op: "start", ok: true },
      { type: "done", group: 0, step: 1, op: "start", ok: true },
      { type: "shutdown", reason: "SIGTERM" },
      { type: "done", group: 0, step: 1, op: "stop", ok: true },
      { type: "done", group: 0, step: 0, op: "stop", ok: true },
    ];
    let s = r.state;
    const effects: string[] = [];
    seq.forEach((e, i) => {
      r = { ...step(c, s, e, 100 + i), logs: [] };
      s = r.state;
      effects.push(...r.effects.filter((x) => x.type !== "record").map((x) => JSON.stringify(x)));
    });
    expect(effects).toEqual([
      '{"type":"start","group":0,"step":1}',
      '{"type":"control","msg":{"kind":"leaving"}}',
      '{"type":"stop","group":0,"step":1}',
      '{"type":"stop","group":0,"step":0}',
      '{"type":"control","msg":{"kind":"released","group":0}}',
      '{"type":"exit","code":0}',
    ]);
  });

  test("a failing start stops what was started (the failed one too), then holds the group away", () => {
    const c = cfg({ nodes: [{ name: "a", id: 1 }] });
    let s = play(c, [{ type: "start" }, { type: "done", group: 0, step: 0, op: "start", ok: true }]).state;
    const r = step(c, s, { type: "done", group: 0, step: 1, op: "start", ok: false, error: "exit 1" }, 50);
    expect(r.effects.filter((e) => e.type === "stop")).toEqual([{ type: "stop", group: 0, step: 1 }]);
    expect(r.effects).toContainEqual({ type: "timer", name: "hold:0", at: 50 + 60_000 });
    s = step(c, r.state, { type: "done", group: 0, step: 1, op: "stop", ok: true }, 60).state;
    s = step(c, s, { type: "done", group: 0, step: 0, op: "stop", ok: true }, 70).state;
    expect(s.groups[0]).toMatchObject({ phase: "failed", until: 60_050 });
    // the hold passes: the group is eligible here again, and (alone) is started again
    const back = step(c, s, { type: "timer", name: "hold:0" }, 60_050);
    expect(back.log).toEqual(["group web: failed -> stopped (failure hold-down passed)", "group web: stopped -> starting (timer hold:0)"]);
  });

  test("a stop that keeps failing: one retry, then blocked (or reboot by policy)", () => {
    for (const policy of ["block", "reboot"] as const) {
      const c = cfg({ nodes: [{ name: "a", id: 1 }], stopPolicy: policy });
      let s = play(c, [{ type: "start" }, { type: "done", group: 0, step: 0, op: "start", ok: true }, { type: "done", group: 0, step: 1, op: "start", ok: true }, { type: "shutdown", reason: "SIGTERM" }]).state;
      let r = step(c, s, { type: "done", group: 0, step: 1, op: "stop", ok: false, error: "timeout" }, 1);
      expect(r.effects.filter((e) => e.type === "stop")).toEqual([{ type: "stop", group: 0, step: 1 }]); // the retry
      r = step(c, r.state, { type: "done", group: 0, step: 1, op: "stop", ok: false, error: "timeout" }, 2);
      expect(r.state.groups[0]!.phase).toBe("failed");
      if (policy === "reboot") expect(r.effects.some((e) => e.type === "reboot")).toBe(true);
      // a blocked group is still ours (its resources may be up): the record says we hold it
      const recEff = r.effects.find((e) => e.type === "record") as { record: StateRecord } | undefined;
      expect(recEff?.record.groups ?? step(c, r.state, { type: "timer", name: "x" }, 3).state.groups.map((_, i) => i)).toContain(0);
      // blocked: the node does not exit (exiting would let a peer start what may still run here)
      expect(r.effects.some((e) => e.type === "exit")).toBe(false);
      expect(r.log.some((l) => l.includes("not exiting: group web could not be stopped"))).toBe(true);
      s = r.state;
    }
  });

  test("stale results are ignored", () => {
    const c = cfg({ nodes: [{ name: "a", id: 1 }] });
    const s = play(c, [{ type: "start" }]).state;
    const r = step(c, s, { type: "done", group: 0, step: 5, op: "start", ok: true }, 1);
    expect(r.log).toEqual([]);
    expect(r.effects).toEqual([]);
  });
});

describe("announcing again after a healed partition", () => {
  const running = () => {
    const c = cfg();
    let s = play(c, [{ type: "start" }, { type: "peer", peer: "b", liveness: "up" }, { type: "record", peer: "b", record: rec("active") },
      { type: "done", group: 0, step: 0, op: "start", ok: true }, { type: "done", group: 0, step: 1, op: "start", ok: true }]).state;
    s = step(c, s, { type: "record", peer: "b", record: rec("active", [0]) }, 100).state; // b holds it too (partition)
    return { c, s };
  };
  test("the release message, once per link, announces once", () => {
    const { c, s } = running();
    const r1 = step(c, s, { type: "control", peer: "b", msg: { kind: "released", group: 0 } }, 101);
    const r2 = step(c, r1.state, { type: "control", peer: "b", msg: { kind: "released", group: 0 } }, 102);
    const r3 = step(c, r2.state, { type: "record", peer: "b", record: rec("active") }, 103);
    expect([r1, r2, r3].map((r) => r.effects.filter((e) => e.type === "announce").length)).toEqual([1, 0, 0]);
  });
  test("a lost release message: the peer's next record announces", () => {
    const { c, s } = running();
    const r = step(c, s, { type: "record", peer: "b", record: rec("active") }, 103);
    expect(r.effects).toContainEqual({ type: "announce", group: 0 });
  });
});

test("the holder hands over only to an active node, not to one still starting up", () => {
  const c = cfg({ self: "b", groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
  let s = initialState(c, 0);
  s.phase = "active";
  s.groups[0]!.phase = "running";
  s.peers = { a: { liveness: "up" } };
  s = step(c, s, { type: "record", peer: "a", record: rec("starting") }, 1).state;
  expect(s.groups[0]!.phase).toBe("running");
  const r = step(c, s, { type: "record", peer: "a", record: rec("active") }, 2);
  expect(r.log).toEqual(["group web: running -> stopping (handing over to a)"]);
});

describe("ownership rule", () => {
  const state = (peer: StateRecord, selfPhase: "running" | "stopped") => {
    const s = initialState(cfg(), 0);
    s.phase = "active";
    s.groups[0]!.phase = selfPhase;
    s.peers.b = { liveness: "up", record: peer };
    return s;
  };
  test("both hold it after a partition: exactly one keeps it, the same answer on both sides", () => {
    for (const preferred of ["a", "b"]) {
      const groups = [{ name: "web", preferred, resources: ["ip"] }];
      const onA = chooseOwner(cfg({ groups }), state(rec("active", [0]), "running"), 0, 1);
      const onB = chooseOwner(cfg({ groups, self: "b" }), (() => { const s = state(rec("active", [0]), "running"); s.peers = { a: { liveness: "up", record: rec("active", [0]) } }; return s; })(), 0, 1);
      expect(onA).toBe(preferred);
      expect(onB).toBe(preferred);
    }
  });
  test("the preferred node failed: the holder with the lowest id keeps it", () => {
    const c = cfg({ nodes: [{ name: "a", id: 5 }, { name: "b", id: 2 }], groups: [{ name: "web", preferred: "z", resources: ["ip"] }] });
    expect(chooseOwner(c, state(rec("active", [0]), "running"), 0, 1)).toBe("b");
  });
});
