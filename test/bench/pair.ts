/** Two hb nodes with two links (UDP broadcast on eth0, raw Ethernet on eth1; `links` 1: the UDP one only) in
 * namespaces, hearing each other. */
import { ClusterFiles, configText, type HbProcess, startHb } from "../lib/cluster.ts";
import { Lab } from "../lib/netns.ts";

export async function withPair<T>(
  timing: { keepalive: string; warntime: string; deadtime: string },
  fn: (a: HbProcess, b: HbProcess) => Promise<T>,
  links: 1 | 2 = 2,
): Promise<T> {
  const lab = await Lab.create({ nodes: 2, lans: 2 });
  const files = new ClusterFiles(
    configText({
      nodes: 2,
      timing: { ...timing, initdead: "5s" },
      links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth1"'].slice(0, links),
    }),
  );
  try {
    const a = startHb(lab, files, 1);
    const b = startHb(lab, files, 2);
    await a.waitLine(/peer node2: unknown -> up/, 10_000);
    await b.waitLine(/peer node1: unknown -> up/, 10_000);
    const r = await fn(a, b);
    await a.stop();
    await b.stop();
    return r;
  } finally {
    await lab.destroy();
    files.cleanup();
  }
}
