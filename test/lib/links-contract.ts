/**
 * The Links contract: what every implementation of the heartbeat boundary must do, as scenarios
 * on two nodes with two links. test/sim runs them on the FakeNetwork (a fake clock), test/netns on
 * the C engine in network namespaces; the same assertions, so that simulations built on the fake
 * mean what the kernel does. Times are asserted as bounds (the real one wakes a little late).
 */
import { describe, expect, test } from "bun:test";
import type { HeartbeatEvent } from "../../src/heartbeat/types.ts";

export const TIMING = { keepalive: 50, warntime: 150, deadtime: 250, initdead: 2000 };
export const NODES = ["node1", "node2"] as const;
export const LINKS = ["udp:eth0", "ether:eth1"] as const;
export type Node = (typeof NODES)[number];
export type Link = (typeof LINKS)[number];

export interface World {
  /** Both nodes running; resolves once each has heard the other. */
  start(): Promise<void>;
  /** Drop (on) or pass again (off) what `from` sends to `to` on one link, or on every link. */
  block(from: Node, to: Node, link: Link | "all", on: boolean): Promise<void>;
  /** The node's heartbeat stops (its Links.stop, or the process ends). */
  stop(node: Node): Promise<void>;
  /** Let ms pass (real or fake). */
  wait(ms: number): Promise<void>;
  events(node: Node): HeartbeatEvent[];
  close(): Promise<void>;
}

const peerEvents = (w: World, at: Node, of: Node) =>
  w.events(at).filter((e): e is Extract<HeartbeatEvent, { type: "peer" }> => e.type === "peer" && e.peer === of);
const linkEvents = (w: World, at: Node, of: Node, link: Link) =>
  w
    .events(at)
    .filter(
      (e): e is Extract<HeartbeatEvent, { type: "link" }> => e.type === "link" && e.peer === of && e.link === link,
    );
const states = (es: { state: string }[]) => es.map((e) => e.state);
const ALL = TIMING.deadtime + 4 * TIMING.keepalive; // long enough to be dead, whatever the phase

export function linksContract(name: string, make: () => Promise<World>, skip?: string): void {
  describe.skipIf(Boolean(skip))(`Links contract: ${name}`, () => {
    const scenario = (title: string, body: (w: World) => Promise<void>) =>
      test(title, async () => {
        const w = await make();
        try {
          await w.start();
          await body(w);
        } finally {
          await w.close();
        }
      }, 30_000);

    scenario("both nodes see each other up, on every link, and stay up", async (w) => {
      await w.wait(10 * TIMING.keepalive);
      for (const [at, of] of [
        ["node1", "node2"],
        ["node2", "node1"],
      ] as const) {
        expect(states(peerEvents(w, at, of))).toEqual(["up"]);
        for (const l of LINKS) expect(states(linkEvents(w, at, of, l))).toEqual(["up"]);
      }
    });

    scenario(
      "one link cut both ways: that link goes late, then dead; the peer stays up; healed, it is up",
      async (w) => {
        await w.block("node1", "node2", "ether:eth1", true);
        await w.block("node2", "node1", "ether:eth1", true);
        await w.wait(ALL);
        expect(states(linkEvents(w, "node2", "node1", "ether:eth1"))).toEqual(["up", "late", "dead"]);
        expect(states(linkEvents(w, "node2", "node1", "udp:eth0"))).toEqual(["up"]);
        expect(states(peerEvents(w, "node2", "node1"))).toEqual(["up"]);
        await w.block("node1", "node2", "ether:eth1", false);
        await w.block("node2", "node1", "ether:eth1", false);
        await w.wait(6 * TIMING.keepalive);
        expect(states(linkEvents(w, "node2", "node1", "ether:eth1"))).toEqual(["up", "late", "dead", "up"]);
      },
    );

    scenario("every link cut: the peer is late after warntime, dead after deadtime; healed, up again", async (w) => {
      await w.block("node1", "node2", "all", true);
      await w.block("node2", "node1", "all", true);
      await w.wait(ALL);
      const seen = peerEvents(w, "node2", "node1");
      expect(states(seen)).toEqual(["up", "late", "dead"]);
      expect(seen[1]!.gapMs).toBeGreaterThanOrEqual(TIMING.warntime);
      expect(seen[2]!.gapMs).toBeGreaterThanOrEqual(TIMING.deadtime);
      // (not the time between the two: a loaded machine may wake late for warntime and on time for deadtime)
      await w.block("node1", "node2", "all", false);
      await w.block("node2", "node1", "all", false);
      await w.wait(6 * TIMING.keepalive);
      const back = peerEvents(w, "node2", "node1");
      expect(states(back)).toEqual(["up", "late", "dead", "up"]);
      expect(back[3]!.gapMs).toBeGreaterThanOrEqual(TIMING.deadtime);
    });

    scenario("one-way loss: only the receiving side sees the peer die", async (w) => {
      await w.block("node1", "node2", "all", true);
      await w.wait(ALL);
      expect(states(peerEvents(w, "node2", "node1"))).toEqual(["up", "late", "dead"]);
      expect(states(peerEvents(w, "node1", "node2"))).toEqual(["up"]);
    });

    scenario("a node stops: its peer sees it late, then dead", async (w) => {
      await w.stop("node1");
      await w.wait(ALL);
      expect(states(peerEvents(w, "node2", "node1"))).toEqual(["up", "late", "dead"]);
    });
  });
}
