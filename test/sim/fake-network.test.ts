/** The fake network judges liveness like the C engine, on a fake clock. */
import { expect, test } from "bun:test";
import { FakeNetwork } from "../../src/heartbeat/fake.ts";
import type { HeartbeatEvent } from "../../src/heartbeat/types.ts";

const timing = { keepalive: 50, warntime: 100, deadtime: 150, initdead: 1000 };

function setup(nodes = ["a", "b"], links = ["udp", "ether"]) {
  const net = new FakeNetwork(nodes, links, timing);
  const seen: Record<string, HeartbeatEvent[]> = {};
  for (const n of nodes) {
    seen[n] = [];
    net.endpoint(n).start((e) => seen[n]!.push(e));
  }
  const peers = (n: string) =>
    seen[n]!.filter((e) => e.type === "peer").map(
      (e) => `${e.at} ${(e as { peer: string }).peer} ${(e as { state: string }).state}`,
    );
  return { net, seen, peers };
}

// setup() starts a, then b, at t=0: a's first beat (t=0) goes out before b listens, so b hears a at 50.
test("both nodes see each other up at once and stay up", () => {
  const { net, peers } = setup();
  net.clock.advance(5000);
  expect(peers("a")).toEqual(["0 b up"]);
  expect(peers("b")).toEqual(["50 a up"]);
});

test("cutting one of two links: that link dies, the peer stays up", () => {
  const { net, seen, peers } = setup();
  net.clock.advance(1000);
  net.setBoth("a", "b", false, "ether");
  net.clock.advance(1000);
  const links = seen
    .b!.filter((e) => e.type === "link" && e.link === "ether")
    .map((e) => `${e.at} ${(e as { state: string }).state}`);
  expect(links).toEqual(["50 up", "1100 late", "1150 dead"]); // last ether beat at 1000
  expect(peers("b")).toEqual(["50 a up"]);
});

test("cutting every link: late at warntime, dead at deadtime after the last beat; back up at the next beat", () => {
  const { net, peers, seen } = setup();
  net.clock.advance(1010); // last beat from a at 1000
  net.isolate("a", true);
  net.clock.advance(1000);
  net.isolate("a", false);
  net.clock.advance(60);
  expect(peers("b")).toEqual(["50 a up", "1100 a late", "1150 a dead", "2050 a up"]);
  const up = seen.b!.filter((e) => e.type === "peer").at(-1) as { gapMs: number };
  expect(up.gapMs).toBe(1050);
});

test("a peer never heard is declared dead at initdead, then up when it starts", () => {
  const net = new FakeNetwork(["a", "b"], ["udp"], timing);
  const seen: HeartbeatEvent[] = [];
  net.endpoint("a").start((e) => seen.push(e));
  net.clock.advance(2000);
  net.endpoint("b").start(() => {});
  net.clock.advance(10);
  expect(seen.filter((e) => e.type === "peer").map((e) => `${e.at} ${(e as { state: string }).state}`)).toEqual([
    "1000 dead",
    "2000 up",
  ]);
});

test("one-way loss: only the receiving side sees the peer die", () => {
  const { net, peers } = setup();
  net.clock.advance(510); // last beat from a at 500
  net.setPath("a", "b", false);
  net.clock.advance(2000);
  expect(peers("b")).toEqual(["50 a up", "600 a late", "650 a dead"]);
  expect(peers("a")).toEqual(["0 b up"]);
});

test("records are reported when they change, controls every time (once per link)", () => {
  const { net, seen } = setup(["a", "b"], ["udp"]);
  net.endpoint("a").setRecord(Uint8Array.of(1, 2));
  net.clock.advance(200);
  net.endpoint("a").setRecord(Uint8Array.of(1, 3));
  net.clock.advance(200);
  net.endpoint("a").sendControl(Uint8Array.of(9));
  const recs = seen
    .b!.filter((e) => e.type === "record")
    .map((e) => Buffer.from((e as { record: Uint8Array }).record).toString("hex"));
  expect(recs).toEqual(["0102", "0103"]);
  expect(seen.b!.filter((e) => e.type === "control").length).toBe(1);
});

test("stopping a node: its peers see it die after deadtime", () => {
  const { net, peers } = setup();
  net.clock.advance(300);
  net.endpoint("a").stop();
  net.clock.advance(500);
  expect(peers("b")).toEqual(["50 a up", "400 a late", "450 a dead"]); // last beat at 300
});
