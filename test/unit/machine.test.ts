/** The state machine by tables: event in, transitions and effects out. */
import { describe, expect, test } from "bun:test";
import {
  chooseOwner,
  initialState,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  step,
} from "../../src/cluster/machine.ts";
import type { StateRecord } from "../../src/cluster/record.ts";

const cfg = (over: Partial<MachineConfig> = {}): MachineConfig => ({
  self: "a",
  nodes: [
    { name: "a", id: 1 },
    { name: "b", id: 2 },
  ],
  groups: [{ name: "web", preferred: "a", resources: ["ip", "httpd"] }],
  autoFailback: true,
  initdead: 1000,
  failureHold: 60_000,
  stopRetries: 1,
  stopPolicy: "block",
  ...over,
});
const rec = (state: StateRecord["state"], groups: number[] = [], failed: number[] = []): StateRecord => ({
  state,
  score: 100,
  groups,
  failed,
});

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
  const heard = (r: StateRecord): MachineEvent[] => [
    { type: "start" },
    { type: "peer", peer: "b", liveness: "up" },
    { type: "record", peer: "b", record: r },
  ];
  const cases: [string, Partial<MachineConfig>, MachineEvent[], string[]][] = [
    ["start: waits for the peer (no start before it is heard)", {}, [{ type: "start" }], []],
    [
      "peer heard, owns nothing: the preferred node (us) starts",
      {},
      heard(rec("active")),
      ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (b is active)"],
    ],
    [
      "peer holds it, auto_failback on: we wait for its release",
      {},
      heard(rec("active", [0])),
      ["node a: waiting -> active (every peer heard)"],
    ],
    [
      "peer released it: we start at once",
      {},
      [...heard(rec("active", [0])), { type: "control", peer: "b", msg: { kind: "released", group: 0 } }],
      ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (b released it)"],
    ],
    [
      "peer holds it, auto_failback off: it stays there",
      { autoFailback: false },
      [...heard(rec("active", [0])), { type: "record", peer: "b", record: rec("active", [0]) }],
      ["node a: waiting -> active (every peer heard)"],
    ],
    [
      "initdead passes alone: we start",
      {},
      [{ type: "start" }, { type: "timer", timer: { kind: "initdead" } }],
      [
        "node a: waiting -> active (initdead passed without hearing every peer)",
        "group web: stopped -> starting (initdead passed without every peer)",
      ],
    ],
    [
      "the group failed on the peer: ours even if not preferred",
      { groups: [{ name: "web", preferred: "b", resources: ["ip"] }] },
      heard(rec("active", [], [0])),
      ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (b is active)"],
    ],
    [
      "peer in standby is no candidate",
      { groups: [{ name: "web", preferred: "b", resources: ["ip"] }] },
      heard(rec("standby")),
      ["node a: waiting -> active (every peer heard)", "group web: stopped -> starting (b is standby)"],
    ],
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
      '{"type":"monitor","group":0,"on":true}',
      '{"type":"control","msg":{"kind":"leaving"}}',
      '{"type":"monitor","group":0,"on":false}',
      '{"type":"stop","group":0,"step":1}',
      '{"type":"stop","group":0,"step":0}',
      '{"type":"control","msg":{"kind":"released","group":0,"serial":3}}',
      '{"type":"exit","code":0}',
    ]);
  });

  test("a failing start stops what was started (the failed one too), then holds the group away", () => {
    const c = cfg({ nodes: [{ name: "a", id: 1 }] });
    let s = play(c, [{ type: "start" }, { type: "done", group: 0, step: 0, op: "start", ok: true }]).state;
    const r = step(c, s, { type: "done", group: 0, step: 1, op: "start", ok: false, error: "exit 1" }, 50);
    expect(r.effects.filter((e) => e.type === "stop")).toEqual([{ type: "stop", group: 0, step: 1 }]);
    expect(r.effects).toContainEqual({ type: "timer", timer: { kind: "hold", group: 0 }, at: 50 + 60_000 });
    s = step(c, r.state, { type: "done", group: 0, step: 1, op: "stop", ok: true }, 60).state;
    s = step(c, s, { type: "done", group: 0, step: 0, op: "stop", ok: true }, 70).state;
    expect(s.groups[0]).toMatchObject({ phase: "failed", until: 60_050 });
    // the hold passes: the group is eligible here again, and (alone) is started again
    const back = step(c, s, { type: "timer", timer: { kind: "hold", group: 0 } }, 60_050);
    expect(back.log).toEqual([
      "group web: failed -> stopped (failure hold-down passed)",
      "group web: stopped -> starting (failure hold-down of web passed)",
    ]);
  });

  test("a stop that keeps failing: one retry, then blocked (or reboot by policy)", () => {
    for (const policy of ["block", "reboot"] as const) {
      const c = cfg({ nodes: [{ name: "a", id: 1 }], stopPolicy: policy });
      let s = play(c, [
        { type: "start" },
        { type: "done", group: 0, step: 0, op: "start", ok: true },
        { type: "done", group: 0, step: 1, op: "start", ok: true },
        { type: "shutdown", reason: "SIGTERM" },
      ]).state;
      let r = step(c, s, { type: "done", group: 0, step: 1, op: "stop", ok: false, error: "timeout" }, 1);
      expect(r.effects.filter((e) => e.type === "stop")).toEqual([{ type: "stop", group: 0, step: 1 }]); // the retry
      r = step(c, r.state, { type: "done", group: 0, step: 1, op: "stop", ok: false, error: "timeout" }, 2);
      expect(r.state.groups[0]!.phase).toBe("failed");
      if (policy === "reboot") expect(r.effects.some((e) => e.type === "reboot")).toBe(true);
      // a blocked group is still ours (its resources may be up): the record says we hold it
      const recEff = r.effects.find((e) => e.type === "record") as { record: StateRecord } | undefined;
      expect(
        recEff?.record.groups ??
          step(c, r.state, { type: "timer", timer: { kind: "score" } }, 3).state.groups.map((_, i) => i),
      ).toContain(0);
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
    let s = play(c, [
      { type: "start" },
      { type: "peer", peer: "b", liveness: "up" },
      { type: "record", peer: "b", record: rec("active") },
      { type: "done", group: 0, step: 0, op: "start", ok: true },
      { type: "done", group: 0, step: 1, op: "start", ok: true },
    ]).state;
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
      const onB = chooseOwner(
        cfg({ groups, self: "b" }),
        (() => {
          const s = state(rec("active", [0]), "running");
          s.peers = { a: { liveness: "up", record: rec("active", [0]) } };
          return s;
        })(),
        0,
        1,
      );
      expect(onA).toBe(preferred);
      expect(onB).toBe(preferred);
    }
  });
  test("the preferred node failed: the holder with the lowest id keeps it", () => {
    const c = cfg({
      nodes: [
        { name: "a", id: 5 },
        { name: "b", id: 2 },
      ],
      groups: [{ name: "web", preferred: "z", resources: ["ip"] }],
    });
    expect(chooseOwner(c, state(rec("active", [0]), "running"), 0, 1)).toBe("b");
  });
});

describe("records and releases in any order (two links deliver every control message twice)", () => {
  const c = cfg({ self: "b", groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
  const base = () => {
    const s = initialState(c, 0);
    s.phase = "active";
    s.peers = { a: { liveness: "up", record: { ...rec("active", [0]), serial: 7 } } };
    return s;
  };
  test("a release older than the record we hold is ignored: the peer took the group again", () => {
    const s = base();
    const r = step(c, s, { type: "control", peer: "a", msg: { kind: "released", group: 0, serial: 6 } }, 1);
    expect(r.state.peers.a!.record!.groups).toEqual([0]);
    expect(r.effects.filter((e) => e.type === "start")).toEqual([]);
  });
  test("a release newer than the record is applied (serials wrap at 256)", () => {
    const s = base();
    s.peers.a!.record!.serial = 255;
    const r = step(c, s, { type: "control", peer: "a", msg: { kind: "released", group: 0, serial: 0 } }, 1);
    expect(r.state.peers.a!.record!.groups).toEqual([]);
  });
  test("our record serial moves with every change, and our release carries the serial of the record without the group", () => {
    const a = cfg({ nodes: [{ name: "a", id: 1 }], groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
    let s = play(a, [{ type: "start" }, { type: "done", group: 0, step: 0, op: "start", ok: true }]).state;
    const before = s.serial;
    const r = step(a, s, { type: "shutdown", reason: "SIGTERM" }, 100);
    s = step(a, r.state, { type: "done", group: 0, step: 0, op: "stop", ok: true }, 101).state;
    const last = step(a, r.state, { type: "done", group: 0, step: 0, op: "stop", ok: true }, 101);
    const released = last.effects.find((e) => e.type === "control");
    const record = last.effects.find((e) => e.type === "record");
    expect(record && record.type === "record" && record.record.groups).toEqual([]);
    expect(released).toEqual({ type: "control", msg: { kind: "released", group: 0, serial: s.serial } });
    expect(s.serial).toBeGreaterThan(before);
  });
  test("no hand-over to a peer that is up again but whose record has not arrived", () => {
    const s = base();
    s.groups[0]!.phase = "running";
    s.peers = { a: { liveness: "dead" } };
    const r = step(c, s, { type: "peer", peer: "a", liveness: "up" }, 1);
    expect(r.state.groups[0]!.phase).toBe("running");
  });
});

describe("operator commands", () => {
  const c = cfg({ groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
  /** a runs web, b is up and active */
  const running = (peer: StateRecord = rec("active")) => {
    const s = initialState(c, 0);
    s.phase = "active";
    s.groups[0]!.phase = "running";
    s.peers = { b: { liveness: "up", record: peer } };
    return s;
  };
  const cmd = (
    s: MachineState,
    x: Partial<{ cmd: "standby" | "takeover" | "clear"; group: number | "all"; force: boolean }>,
    cc = c,
  ) => step(cc, s, { type: "command", id: 7, cmd: "standby", group: 0, ...x }, 5);
  const reply = (r: ReturnType<typeof step>) => r.effects.find((e) => e.type === "reply");
  const cases: [string, () => MachineState, Parameters<typeof cmd>[1], boolean, RegExp, string[]][] = [
    [
      "standby web: yields it, the holder hands over",
      () => running(),
      {},
      true,
      /moving web away from a/,
      ["node a: yields web (hb standby)", "group web: running -> stopping (handing over to b)"],
    ],
    [
      "standby web with the peer dead: refused",
      () => {
        const s = running();
        s.peers.b = { liveness: "dead" };
        return s;
      },
      {},
      false,
      /no peer can take web \(b is dead\); use --force/,
      [],
    ],
    [
      "standby web with the group failed on the peer: refused",
      () => running(rec("active", [], [0])),
      {},
      false,
      /the group failed on b/,
      [],
    ],
    ["standby web with the peer in standby: refused", () => running(rec("standby")), {}, false, /b is standby/, []],
    [
      "standby web --force with the peer dead: stops it",
      () => {
        const s = running();
        s.peers.b = { liveness: "dead" };
        return s;
      },
      { group: "all", force: true },
      true,
      /goes to standby/,
      ["node a: active -> standby (hb standby --force)", "group web: running -> stopping (standby)"],
    ],
    [
      "standby all: node standby, remembered",
      () => running(),
      { group: "all" },
      true,
      /goes to standby/,
      ["node a: active -> standby (hb standby)", "group web: running -> stopping (standby)"],
    ],
    [
      "takeover web from b: b is told to yield",
      () => {
        const s = running(rec("active", [0]));
        s.groups[0]!.phase = "stopped";
        return s;
      },
      { cmd: "takeover" },
      true,
      /a takes over group web/,
      [],
    ],
    [
      "takeover of a group blocked on the peer: refused",
      () => {
        const s = running(rec("active", [0], [0]));
        s.groups[0]!.phase = "stopped";
        return s;
      },
      { cmd: "takeover" },
      false,
      /web is blocked on b/,
      [],
    ],
    [
      "takeover of a group failed here: refused",
      () => {
        const s = running();
        s.groups[0] = { ...s.groups[0]!, phase: "failed", until: 1000 };
        return s;
      },
      { cmd: "takeover" },
      false,
      /web failed here: hb clear web first/,
      [],
    ],
    [
      "takeover GROUP in standby: refused",
      () => {
        const s = running();
        s.phase = "standby";
        s.groups[0]!.phase = "stopped";
        return s;
      },
      { cmd: "takeover" },
      false,
      /is in standby: hb takeover \(all\) ends it/,
      [],
    ],
    ["clear a group that is fine: refused", () => running(), { cmd: "clear" }, false, /nothing to clear/, []],
    [
      "clear a blocked group",
      () => {
        const s = running();
        s.groups[0] = { ...s.groups[0]!, phase: "failed", until: undefined };
        return s;
      },
      { cmd: "clear" },
      true,
      /cleared the failure of web on a/,
      ["group web: failed -> stopped (cleared by the operator (hb clear))"],
    ],
    ["an unknown group index", () => running(), { group: 9 }, false, /no such group/, []],
    [
      "while shutting down",
      () => {
        const s = running();
        s.phase = "done";
        return s;
      },
      { cmd: "takeover" },
      false,
      /shutting down/,
      [],
    ],
  ];
  for (const [name, state, x, ok, msg, log] of cases)
    test(name, () => {
      const r = cmd(state(), x);
      const rep = reply(r);
      expect(rep && rep.type === "reply" && { ok: rep.ok, id: rep.id }).toEqual({ ok, id: 7 });
      expect(rep && rep.type === "reply" && rep.message).toMatch(msg);
      expect(r.log.slice(0, log.length)).toEqual(log);
      if (!ok) expect(r.effects.filter((e) => e.type !== "reply")).toEqual([]); // a refusal changes nothing
    });
  test("standby all is persisted; takeover all ends it and tells the peers to yield everything", () => {
    const s1 = cmd(running(), { group: "all" });
    expect(s1.effects).toContainEqual({ type: "persist", standby: true });
    const s2 = step(c, s1.state, { type: "command", id: 8, cmd: "takeover", group: "all" }, 6);
    expect(s2.effects).toContainEqual({ type: "persist", standby: false });
    expect(s2.effects).toContainEqual({ type: "control", msg: { kind: "yield", group: "all" } });
    expect(s2.state.phase).toBe("active");
  });
  test("a peer's takeover makes us yield: we hand over although we are preferred; if it dies we take the group back", () => {
    const s = running();
    const r = step(c, s, { type: "control", peer: "b", msg: { kind: "yield", group: 0 } }, 6);
    expect(r.state.yields).toEqual([0]);
    expect(r.log).toEqual([
      "node a: yields web to b (hb takeover on b)",
      "group web: running -> stopping (handing over to b)",
    ]);
    const st = step(c, r.state, { type: "done", group: 0, step: 0, op: "stop", ok: true }, 7).state;
    const held = step(c, st, { type: "record", peer: "b", record: rec("active", [0], []) }, 8).state;
    const dead = step(c, held, { type: "peer", peer: "b", liveness: "dead" }, 9);
    expect(dead.log).toEqual([
      "group web: no other node can run it: this node no longer yields it",
      "group web: stopped -> starting (peer b dead)",
    ]);
    expect(dead.state.yields).toEqual([]);
  });
  test("hb standby after our own hb takeover: the peer that yields because we asked is told to stop, and takes the group back", () => {
    // b's group, taken over here with hb takeover: b yields it because we asked
    const cb = cfg({ groups: [{ name: "web", preferred: "b", resources: ["ip"] }] });
    const s = running({ ...rec("active"), yields: [0] });
    const took = step(cb, s, { type: "command", id: 6, cmd: "takeover", group: 0 }, 4).state;
    expect(took.takeoverAsked).toEqual([0]);
    const r = cmd(took, {}, cb);
    expect(reply(r)).toMatchObject({ ok: true, message: "moving web away from a" });
    expect(r.effects).toContainEqual({ type: "control", msg: { kind: "unyield", group: 0 } });
    expect(r.state.takeoverAsked).toEqual([]);
    // both yield now: b, the preferred node, gets it
    expect(r.log).toContain("group web: running -> stopping (handing over to b)");
    // without our takeover, a peer's yield is its operator's: standby is refused as before
    const refused = cmd(running({ ...rec("active"), yields: [0] }), {}, cb);
    expect(reply(refused)).toMatchObject({ ok: false });
    expect(refused.effects.filter((e) => e.type === "control")).toEqual([]);
  });
  test("a withdrawn takeover ends only the yields peers asked for; the operator's own stays", () => {
    const asked = { ...running(), yields: [0], yieldsAsked: [0] };
    const r = step(c, asked, { type: "control", peer: "b", msg: { kind: "unyield", group: 0 } }, 6);
    expect(r.state.yields).toEqual([]);
    expect(r.log).toContain("node a: no longer yields web: b withdrew its hb takeover (hb standby on b)");
    const own = { ...running(), yields: [0], yieldsAsked: [] };
    const kept = step(c, own, { type: "control", peer: "b", msg: { kind: "unyield", group: 0 } }, 6);
    expect(kept.state.yields).toEqual([0]);
    expect(kept.log.filter((l) => l.includes("no longer yields"))).toEqual([]);
  });
});

test("no start while a live peer's record is unknown (it came back and may hold the group)", () => {
  const c = cfg({ groups: [{ name: "web", preferred: "a", resources: ["ip"] }] });
  const s = initialState(c, 0);
  s.phase = "active";
  s.peers = { b: { liveness: "dead" } };
  const up = step(c, s, { type: "peer", peer: "b", liveness: "up" }, 1);
  expect(up.effects.filter((e) => e.type === "start")).toEqual([]);
  const held = step(c, up.state, { type: "record", peer: "b", record: rec("active", [0]) }, 2);
  expect(held.effects.filter((e) => e.type === "start")).toEqual([]); // b holds it: it hands over
  const released = step(c, held.state, { type: "record", peer: "b", record: rec("active", []) }, 3);
  expect(released.effects.filter((e) => e.type === "start")).toEqual([{ type: "start", group: 0, step: 0 }]);
});

describe("one-way loss: a peer's heard set counts only after a gap-free grace", () => {
  const c = cfg({ deafGrace: 100 });
  const deaf = (groups: number[]): StateRecord => ({ ...rec("active", groups), heard: [] });
  const running = (): MachineState => {
    let s = initialState(c, 0);
    for (const e of [
      { type: "start" },
      { type: "peer", peer: "b", liveness: "up" },
      { type: "record", peer: "b", record: { ...rec("active"), heard: [0] } },
      { type: "timer", timer: { kind: "settle", peer: "b" } },
      { type: "done", group: 0, step: 0, op: "start", ok: true },
      { type: "done", group: 0, step: 1, op: "start", ok: true },
    ] as MachineEvent[])
      s = step(c, s, e, 10).state;
    expect(s.groups[0]!.phase).toBe("running");
    return s;
  };
  const stops = (s: MachineState, events: MachineEvent[]) => {
    const log: string[] = [];
    for (const e of events) {
      const r = step(c, s, e, 20);
      s = r.state;
      log.push(...r.log);
    }
    return log.filter((l) => l.includes("cannot hear us"));
  };
  test("heard all along, then its record drops us: release at once", () => {
    expect(stops(running(), [{ type: "record", peer: "b", record: deaf([0]) }])).toHaveLength(1);
  });
  test("late, then up with a record from before it heard us again (a heal): nothing until the grace; a fresh record wins", () => {
    const s = running();
    expect(
      stops(s, [
        { type: "peer", peer: "b", liveness: "late" },
        { type: "peer", peer: "b", liveness: "up" },
        { type: "record", peer: "b", record: deaf([0]) },
        { type: "record", peer: "b", record: { ...rec("active", [0]), heard: [0] } },
        { type: "timer", timer: { kind: "settle", peer: "b" } },
      ]),
    ).toEqual([]);
  });
  test("late, then up, and it still does not hear us after the grace: release", () => {
    const s = running();
    expect(
      stops(s, [
        { type: "peer", peer: "b", liveness: "late" },
        { type: "peer", peer: "b", liveness: "up" },
        { type: "record", peer: "b", record: deaf([0]) },
        { type: "timer", timer: { kind: "settle", peer: "b" } },
      ]),
    ).toHaveLength(1);
  });
});

describe("a Heartbeat v1 node leaves: every hb node's fault clears at the same moment", () => {
  const groups = [{ name: "web", preferred: "a", resources: ["ip"] }];
  /** this node with the old node alive beside it, the peer alive and (by its last record) unable to serve web */
  const beside = (self: string) => {
    const c = cfg({ self, groups, groupInterfaces: [["eth0"]], deafGrace: 300 });
    let s = initialState(c, 0);
    s.phase = "active";
    const peer = self === "a" ? "b" : "a";
    s.peers = { [peer]: { liveness: "up", record: rec("active", [], [0]) } };
    s = step(c, s, { type: "legacy", node: "old", ifname: "eth0", alive: true }, 1).state;
    return { c, s };
  };
  test("the preferred node takes the group back at once", () => {
    const { c, s } = beside("a");
    const r = step(c, s, { type: "legacy", node: "old", ifname: "eth0", alive: false }, 2);
    expect(r.effects).toContainEqual({ type: "start", group: 0, step: 0 });
  });
  test("another node waits until the peers' records can have arrived, and then leaves it to the preferred node", () => {
    const { c, s } = beside("b");
    const gone = step(c, s, { type: "legacy", node: "old", ifname: "eth0", alive: false }, 2);
    // the preferred node's record still says it cannot serve web: without the wait, b would start it too
    expect(gone.effects.filter((e) => e.type === "start")).toEqual([]);
    expect(gone.effects).toContainEqual({ type: "timer", timer: { kind: "legacy", ifname: "eth0" }, at: 302 });
    const told = step(c, gone.state, { type: "record", peer: "a", record: rec("active", [0]) }, 5).state;
    const after = step(c, told, { type: "timer", timer: { kind: "legacy", ifname: "eth0" } }, 302);
    expect(after.effects.filter((e) => e.type === "start")).toEqual([]);
  });
  test("if the preferred node cannot take it, another node does after the wait", () => {
    const { c, s } = beside("b");
    const gone = step(c, s, { type: "legacy", node: "old", ifname: "eth0", alive: false }, 2).state;
    const after = step(c, gone, { type: "timer", timer: { kind: "legacy", ifname: "eth0" } }, 302);
    expect(after.effects).toContainEqual({ type: "start", group: 0, step: 0 });
  });
});
