/** The Links contract on the FakeNetwork (fake clock): see test/lib/links-contract.ts. */
import { FakeNetwork } from "../../src/heartbeat/fake.ts";
import type { HeartbeatEvent } from "../../src/heartbeat/types.ts";
import { LINKS, linksContract, NODES, type Node, TIMING, type World } from "../lib/links-contract.ts";

linksContract("the fake network", async (): Promise<World> => {
  const net = new FakeNetwork([...NODES], [...LINKS], TIMING);
  const seen: Record<Node, HeartbeatEvent[]> = { node1: [], node2: [] };
  return {
    async start() {
      for (const n of NODES) net.endpoint(n).start((e) => seen[n].push(e));
      net.clock.advance(2 * TIMING.keepalive);
    },
    async block(from, to, link, on) {
      net.setPath(from, to, !on, link === "all" ? undefined : link);
    },
    async stop(node) {
      net.endpoint(node).stop();
    },
    async wait(ms) {
      net.clock.advance(ms);
    },
    events: (n) => seen[n],
    async close() {},
  };
});
