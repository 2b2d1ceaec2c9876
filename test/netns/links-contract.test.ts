/** The Links contract on the C engine, two nodes in network namespaces: see test/lib/links-contract.ts. */
import { join } from "node:path";
import type { HeartbeatEvent } from "../../src/heartbeat/types.ts";
import { ClusterFiles, configText, HbProcess } from "../lib/cluster.ts";
import { LINKS, type Link, linksContract, NODES, type Node, TIMING, type World } from "../lib/links-contract.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) console.warn(`SKIPPED: Links contract on the C engine: ${why}`);
const HELPER = join(import.meta.dir, "../lib/links-node.ts");
const BUN = process.execPath;
const ms = (n: number) => `${n}ms`;

linksContract(
  "the C engine in network namespaces",
  async (): Promise<World> => {
    const lab = await Lab.create({ nodes: 2, lans: 2 });
    const files = new ClusterFiles(
      configText({
        nodes: 2,
        timing: {
          keepalive: ms(TIMING.keepalive),
          warntime: ms(TIMING.warntime),
          deadtime: ms(TIMING.deadtime),
          initdead: "2s",
        },
        links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth1"'],
      }),
    );
    const procs = new Map<Node, HbProcess>();
    const rules = new Map<string, string>();
    /** The switch drops what `from` sends to `to` on the LANs of these links (carrier stays up). */
    const apply = async () => {
      const body = [...rules.values()].join("; ");
      await lab.exec(lab.bridge, ["nft", "delete table bridge lc"]);
      const add = `add table bridge lc; add chain bridge lc fw { type filter hook forward priority 0; }${body ? `; ${body}` : ""}`;
      const r = await lab.exec(lab.bridge, ["nft", add]);
      if (r.code !== 0) throw new Error(`nft: ${r.stderr}`);
    };
    const events = (n: Node): HeartbeatEvent[] =>
      (procs.get(n)?.lines ?? []).flatMap((l) => {
        try {
          const e = JSON.parse(l.text);
          return e.type === "started" ? [] : [e as HeartbeatEvent];
        } catch {
          return [];
        }
      });
    return {
      async start() {
        for (const [i, n] of NODES.entries())
          procs.set(n, new HbProcess(lab.spawn(lab.nodes[i]!, [BUN, HELPER, files.config(i + 1), n]), n));
        for (const [n, p] of procs) {
          const peer = n === "node1" ? "node2" : "node1";
          await p.waitLine(new RegExp(`"type":"peer","peer":"${peer}","state":"up"`), 10_000);
        }
      },
      async block(from, to, link, on) {
        const lans = link === "all" ? [0, 1] : [LINKS.indexOf(link as Link)];
        for (const l of lans) {
          const key = `${from}>${to}#${l}`;
          const f = NODES.indexOf(from) + 1;
          const t = NODES.indexOf(to) + 1;
          if (on) rules.set(key, `add rule bridge lc fw iifname "n${f}l${l}" oifname "n${t}l${l}" drop`);
          else rules.delete(key);
        }
        await apply();
      },
      async stop(node) {
        procs.get(node)!.proc.kill("SIGKILL");
        await procs.get(node)!.proc.exited;
      },
      wait: (n) => Bun.sleep(n),
      events,
      async close() {
        for (const p of procs.values()) await p.stop();
        await lab.destroy();
        files.cleanup();
      },
    };
  },
  why,
);
