/**
 * make bench (loss part, issue 6): packet loss on the heartbeat path (tc netem on both nodes'
 * eth0, both directions, independent loss) for BENCH_SECONDS (default 60) at keepalive 50 ms /
 * deadtime 300 ms, with node1 holding a group; counts false failovers (the peer declared dead,
 * the group started on node2). Two set-ups: one link (UDP), and two links on the same wire (UDP
 * and raw Ethernet: each beat goes out twice, so both copies must be lost).
 * Expected for one link: a peer is declared dead when 6 beats in a row are lost: p^6 per beat,
 * 0.3^6 = 7e-4 x 1200 beats a minute x 2 directions: about 1.7 a minute at 30 %.
 */
import { ClusterFiles, configText, startHb } from "../lib/cluster.ts";
import { Lab, netnsUnavailable } from "../lib/netns.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);

export interface LossBench {
  links: number;
  loss: number;
  seconds: number;
  peerDead: number;
  takeovers: number;
  late: number;
  how: string;
}

export async function benchLoss(): Promise<LossBench[]> {
  const why = netnsUnavailable();
  if (why) throw new Error(`bench needs root and network namespaces: ${why}`);
  const out: LossBench[] = [];
  for (const links of [1, 2]) {
    for (const loss of [10, 30, 50]) {
      const lab = await Lab.create({ nodes: 2 });
      const files = new ClusterFiles(`${configText({
        nodes: 2,
        timing: { keepalive: "50ms", warntime: "150ms", deadtime: "300ms", initdead: "2s" },
        links: ['kind = "udp"\ninterface = "eth0"', ...(links === 2 ? ['kind = "ether"\ninterface = "eth0"'] : [])],
      })}
[[group]]
name = "svc"
preferred = "node1"
resources = [{ script = "/bin/true" }]
`);
      try {
        const a = startHb(lab, files, 1);
        const b = startHb(lab, files, 2);
        await a.waitLine(/group svc: starting -> running/, 8000);
        await b.waitLine(/peer node1: unknown -> up/, 5000);
        let how = "tc netem";
        for (const ns of lab.nodes) {
          const r = await lab.exec(ns, ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", `${loss}%`]);
          if (r.code !== 0) how = "";
        }
        if (!how) {
          // a kernel without sch_netem (this VM's): the same independent random loss, in the switch
          for (const ns of lab.nodes) await lab.exec(ns, ["tc", "qdisc", "del", "dev", "eth0", "root"]);
          const rules = ["n1l0", "n2l0"]
            .map((p) => `add rule bridge loss fw iifname "${p}" numgen random mod 100 < ${loss} drop`)
            .join("; ");
          const r = await lab.exec(lab.bridge, [
            "nft",
            `add table bridge loss; add chain bridge loss fw { type filter hook forward priority 0; }; ${rules}`,
          ]);
          if (r.code !== 0) throw new Error(`no way to drop packets: tc netem failed and nft said ${r.stderr}`);
          how = "nftables numgen random in the switch";
        }
        const markA = a.lines.length;
        const markB = b.lines.length;
        await Bun.sleep(SECONDS * 1000);
        for (const ns of lab.nodes) await lab.exec(ns, ["tc", "qdisc", "del", "dev", "eth0", "root"]);
        await lab.exec(lab.bridge, ["nft", "flush", "ruleset"]);
        const peerDead =
          a.matching(/peer node2: \w+ -> dead/, markA).length + b.matching(/peer node1: \w+ -> dead/, markB).length;
        const takeovers = b.matching(/group svc: stopped -> starting/, markB).length;
        const late =
          a.matching(/peer node2: up -> late/, markA).length + b.matching(/peer node1: up -> late/, markB).length;
        out.push({ links, loss, seconds: SECONDS, peerDead, takeovers, late, how });
        await Promise.all([a.stop(), b.stop()]);
      } finally {
        files.cleanup();
        await lab.destroy();
      }
    }
  }
  return out;
}

export function printLoss(rows: LossBench[]): void {
  console.log(
    `\nheartbeat under packet loss (${rows[0]?.how ?? "tc netem"}, both directions, keepalive 50 ms, deadtime 300 ms, ${rows[0]?.seconds ?? SECONDS} s each):`,
  );
  console.log("  links  loss  peer declared dead  false takeovers  peer late");
  for (const r of rows)
    console.log(
      `  ${String(r.links).padEnd(5)}  ${`${r.loss} %`.padEnd(4)}  ${String(r.peerDead).padEnd(18)}  ${String(r.takeovers).padEnd(15)}  ${r.late}`,
    );
}

if (import.meta.main) printLoss(await benchLoss());
