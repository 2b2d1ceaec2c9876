/** Resource monitoring (issue 17): thresholds, and what the state machine does with a failed monitor. */
import { describe, expect, test } from "bun:test";
import {
  type Effect,
  initialState,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  recordOf,
  step,
} from "../../src/cluster/machine.ts";
import { Threshold } from "../../src/resources/monitor.ts";

describe("thresholds: fall failures in a row fail it, rise successes in a row clear it", () => {
  const cases: [string, number, number, string, string][] = [
    // name, fall, rise, results (x fail, o ok), verdicts after each (- none, F failed, R recovered)
    ["one failure is not enough at fall 2", 2, 2, "xo", "--"],
    ["two in a row fail it", 2, 2, "xx", "-F"],
    ["it fails once, not again on more failures", 2, 2, "xxxx", "-F--"],
    ["a flapping check never crosses", 2, 2, "xoxoxoxo", "--------"],
    ["one success does not clear it at rise 2", 2, 2, "xxoxo", "-F---"],
    ["two successes in a row clear it", 2, 2, "xxoo", "-F-R"],
    ["fall 1 rise 1: every change counts", 1, 1, "xoxo", "FRFR"],
    ["fall 3: the count restarts after a success", 3, 1, "xxoxxx", "-----F"],
  ];
  for (const [name, fall, rise, results, want] of cases)
    test(name, () => {
      const th = new Threshold(fall, rise);
      const sign: Record<string, string> = { failed: "F", recovered: "R" };
      const got = [...results].map((r) => sign[th.record(r === "o") ?? ""] ?? "-");
      expect(got.join("")).toBe(want);
    });
});

const cfg = (over: Partial<MachineConfig["groups"][0]> = {}, more: Partial<MachineConfig> = {}): MachineConfig => ({
  self: "a",
  nodes: [{ name: "a", id: 1 }],
  groups: [{ name: "web", preferred: "a", resources: ["ip", "httpd", "db"], ...over }],
  autoFailback: true,
  initdead: 1000,
  failureHold: 60_000,
  stopRetries: 0,
  stopPolicy: "block",
  ...more,
});

/** Feed events, answering every start/stop effect with success at once; the effects as short strings. */
class Run {
  s: MachineState;
  now = 0;
  effects: string[] = [];
  logs: string[] = [];
  /** "start:1" -> false makes that start fail */
  fail = new Set<string>();
  constructor(readonly c: MachineConfig) {
    this.s = initialState(c, 0);
  }
  send(e: MachineEvent, at = this.now): this {
    this.now = at;
    const queue: MachineEvent[] = [e];
    for (let n = 0; n < 100 && queue.length; n++) {
      const r = step(this.c, this.s, queue.shift()!, this.now);
      this.s = r.state;
      this.logs.push(...r.log);
      for (const x of r.effects) queue.push(...this.answer(x));
    }
    return this;
  }
  private answer(x: Effect): MachineEvent[] {
    if (x.type === "start" || x.type === "stop") {
      this.effects.push(`${x.type}:${x.step}`);
      const ok = !this.fail.has(`${x.type}:${x.step}`);
      return [{ type: "done", group: x.group, step: x.step, op: x.type, ok, error: ok ? undefined : "injected" }];
    }
    if (x.type === "monitor") this.effects.push(`monitor:${x.on ? "on" : "off"}`);
    if (x.type === "control" && x.msg.kind === "released") this.effects.push("released");
    return [];
  }
  /** the effects since the last call */
  take(): string[] {
    const e = this.effects;
    this.effects = [];
    return e;
  }
  failed(step: number, at: number): this {
    return this.send({ type: "monitor", group: 0, step, ok: false, detail: "status exited 3: not running" }, at);
  }
}

const running = (c: MachineConfig) => {
  const r = new Run(c).send({ type: "start" });
  expect(r.take()).toEqual(["start:0", "start:1", "start:2", "monitor:on"]);
  expect(r.s.groups[0]!.phase).toBe("running");
  return r;
};

describe("a failed monitor, by on_fail", () => {
  test("restart: the failed resource and those after it are stopped and started again, in place", () => {
    const r = running(cfg()).failed(1, 1000);
    expect(r.take()).toEqual(["monitor:off", "stop:2", "stop:1", "start:1", "start:2", "monitor:on"]);
    expect(r.s.groups[0]).toMatchObject({ phase: "running", restarts: [1000] });
    expect(r.logs).toContain(
      "group web: running -> stopping (httpd failed its monitor (status exited 3: not running): restart 1 of 3 within 15m)",
    );
    expect(r.logs).toContain("group web: stopping -> starting (restarting in place)");
    // the address (step 0) stayed; the peers were never told the group moved
    expect(recordOf(r.s, r.c).groups).toEqual([0]);
  });

  test("restart: after max_restarts within the window it fails over (released, held away)", () => {
    const r = running(cfg({ maxRestarts: 2, restartWindow: 60_000 }));
    r.failed(2, 1000).failed(2, 2000);
    expect(r.s.groups[0]!.restarts).toEqual([1000, 2000]);
    r.take();
    r.failed(2, 3000);
    expect(r.take()).toEqual(["monitor:off", "stop:2", "stop:1", "stop:0", "released"]);
    expect(r.s.groups[0]).toMatchObject({ phase: "failed", until: 3000 + 60_000 });
    expect(recordOf(r.s, r.c).failed).toEqual([0]);
    expect(r.logs).toContainEqual(
      expect.stringContaining(
        "db failed its monitor (status exited 3: not running); 2 restarts within 1m used up: failing over",
      ),
    );
  });

  test("restart: restarts older than the window no longer count", () => {
    const r = running(cfg({ maxRestarts: 1, restartWindow: 10_000 }));
    r.failed(1, 1000).failed(1, 12_000).failed(1, 23_000);
    expect(r.s.groups[0]).toMatchObject({ phase: "running", restarts: [23_000] });
  });

  test("max_restarts 0: the first failure fails over", () => {
    const r = running(cfg({ maxRestarts: 0 })).failed(1, 1000);
    expect(r.s.groups[0]!.phase).toBe("failed");
  });

  test("failover: at once, without a restart", () => {
    const r = running(cfg({ onFail: "failover" })).failed(2, 1000);
    expect(r.take()).toEqual(["monitor:off", "stop:2", "stop:1", "stop:0", "released"]);
    expect(r.s.groups[0]!.phase).toBe("failed");
  });

  test("ignore: logged, nothing else; recovery logged too", () => {
    const r = running(cfg({ onFail: "ignore" })).failed(1, 1000);
    expect(r.take()).toEqual([]);
    expect(r.logs.at(-1)).toBe(
      "group web: httpd failed its monitor (status exited 3: not running); on_fail = ignore: reported only",
    );
    r.send({ type: "monitor", group: 0, step: 1, ok: true }, 2000);
    expect(r.logs.at(-1)).toBe("group web: resource httpd passes its monitor again");
  });

  test("a verdict for a group that is not running (stale, or an unknown resource) changes nothing", () => {
    const r = running(cfg({ onFail: "failover" })).failed(1, 1000);
    r.take();
    r.failed(1, 2000);
    expect(r.take()).toEqual([]);
    const run = running(cfg()).failed(7, 1000);
    expect(run.take()).toEqual([]);
  });

  test("a restart whose start fails: everything stops, the group fails over", () => {
    const r = running(cfg());
    r.fail.add("start:1");
    r.failed(1, 1000);
    expect(r.take()).toEqual(["monitor:off", "stop:2", "stop:1", "start:1", "stop:1", "stop:0", "released"]);
    expect(r.s.groups[0]!.phase).toBe("failed");
  });

  test("the node leaves during a restart: the rest is stopped too and released, no restart", () => {
    const r = running(cfg());
    // stop:2 answered, then a shutdown arrives before stop:1 is done
    r.s = step(r.c, r.s, { type: "monitor", group: 0, step: 1, ok: false }, 1000).state;
    r.s = step(r.c, r.s, { type: "done", group: 0, step: 2, op: "stop", ok: true }, 1001).state;
    r.send({ type: "shutdown", reason: "SIGTERM" }, 1002);
    r.take();
    r.send({ type: "done", group: 0, step: 1, op: "stop", ok: true }, 1003);
    expect(r.take()).toEqual(["stop:0", "released"]);
    expect(r.s.phase).toBe("done");
  });
});

describe("node health", () => {
  const two = (penalty?: number): MachineConfig => ({
    ...cfg({ resources: ["ip"] }),
    nodes: [
      { name: "a", id: 1 },
      { name: "b", id: 2 },
    ],
    uplink: true,
    healthPenalty: penalty,
  });
  test("a failed health check lowers the score this node offers; passing again restores it", () => {
    const c = two(30);
    let s = initialState(c, 0);
    s = step(c, s, { type: "health", ok: false, detail: "/srv not mounted" }, 10).state;
    expect(recordOf(s, c).score).toBe(70);
    s = step(c, s, { type: "health", ok: true }, 20).state;
    expect(recordOf(s, c).score).toBe(100);
  });
  test("the group moves to the healthier peer", () => {
    const c = two();
    const r = new Run(c).send({ type: "start" });
    r.send({ type: "peer", peer: "b", liveness: "up" }, 10);
    r.send({ type: "record", peer: "b", record: { state: "active", score: 100, groups: [], failed: [] } }, 20);
    expect(r.s.groups[0]!.phase).toBe("running");
    r.take();
    r.send({ type: "health", ok: false, detail: "replica behind" }, 30);
    expect(r.take()).toEqual(["monitor:off", "stop:0", "released"]);
    expect(r.logs).toContain("node a: health check failed (replica behind): score lowered by 50 to 50");
  });
});
