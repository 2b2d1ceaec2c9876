/**
 * make demo: a live two-node hb cluster in network namespaces on this machine.
 * A switch (bridge), node1, node2 and a client that pings the floating address
 * every 10 ms. It pulls node1's cable, prints the timeline of the failover and
 * the client's outage, plugs it back, shows the failback the same way, and
 * cleans up. Ctrl-C at any point removes everything it made.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HB, type HbProcess } from "../test/lib/cluster.ts";
import {
  ClusterFiles,
  clientMac,
  failoverConfig,
  holders,
  Lab,
  Pinger,
  startHb,
  VIP,
  writeScripts,
} from "../test/lib/failover.ts";
import { netnsUnavailable, waitFor } from "../test/lib/netns.ts";

const why = netnsUnavailable();
if (why) {
  console.error(`make demo needs root and network namespaces (${why}). Run it as root: sudo make demo`);
  process.exit(1);
}

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const t = (ms: number) => new Date(ms).toISOString().slice(11, 23);
/** Wall-clock time (ms) of the first log line of p matching re, after index from. */
const at = async (p: HbProcess, re: RegExp, from = 0) => {
  const l = await p.waitLine(re, 10_000, from);
  return { ms: Date.parse(l.text.slice(0, 24)), index: l.index };
};

const dir = mkdtempSync(join(tmpdir(), "hb-demo-"));
const lab = await Lab.create({ nodes: 2, client: true });
const files = new ClusterFiles(
  failoverConfig(writeScripts(dir), {
    timing: { keepalive: "50ms", warntime: "100ms", deadtime: "150ms", initdead: "2s" },
  }),
);
let pinger: Pinger | undefined;
const cleanup = () => {
  pinger?.stop();
  lab.destroySync();
  files.cleanup();
  rmSync(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  console.log("\ninterrupted: cleaning up");
  cleanup();
  process.exit(130);
});

try {
  console.log(bold("hb demo: two nodes, one floating address, a client"));
  console.log(`  switch:  network namespace ${lab.bridge}`);
  console.log(`  node1:   ${lab.nodes[0]}  eth0 ${Lab.nodeAddr(1)}  ${Lab.nodeMac(1)}  (preferred)`);
  console.log(`  node2:   ${lab.nodes[1]}  eth0 ${Lab.nodeAddr(2)}  ${Lab.nodeMac(2)}`);
  console.log(`  client:  ${lab.client}  eth0 ${Lab.clientAddr}, pings ${VIP} every 10 ms`);
  console.log(`  config:  keepalive 50 ms, deadtime 150 ms, auto_failback on; group web = ip ${VIP}/24 + script ok\n`);

  const n1 = startHb(lab, files, 1);
  const n2 = startHb(lab, files, 2);
  await waitFor("node1 to hold the VIP", async () => JSON.stringify(await holders(lab)) === "[1]", 10_000, 20);
  await waitFor(
    "the client to reach it",
    async () => (await lab.exec(lab.client!, ["ping", "-c1", "-W1", VIP])).code === 0,
    5000,
    20,
  );
  console.log(
    `${bold("steady")}: ${VIP} is on node${(await holders(lab)).join(", node")}; the client's ARP entry says ${await clientMac(lab)} (node1)\n`,
  );

  pinger = new Pinger(lab);
  await waitFor("the pinger", () => pinger!.count > 30, 5000, 20);

  // --- failover: pull node1's cable ---
  let from = pinger.count;
  const mark2 = n2.lines.length;
  const pulled = Date.now();
  await lab.plug(1, false);
  console.log(bold(`${t(pulled)}  node1's cable pulled (its switch port is down)`));
  const mark1a = n1.lines.length;
  const dead = await at(n2, /peer node1: (up|late) -> dead/, mark2);
  const added = await at(n2, /198\.51\.100\.200\/24 added on .* announced/, mark2);
  await waitFor("the client to be served again", () => pinger!.count > from + 30, 5000, 10);
  const back = pinger.firstAfter(pulled);
  const gaveUp = n1.matching(/group web: running -> stopping \(no carrier on eth0\)/, mark1a).length > 0;
  console.log(`${t(dead.ms)}  node2: peer node1 dead                (+${dead.ms - pulled} ms)`);
  if (gaveUp)
    console.log(`             node1: no carrier on eth0: it released the VIP itself (no split brain while cut off)`);
  console.log(`${t(added.ms)}  node2: VIP added, first gratuitous ARP (+${added.ms - pulled} ms)`);
  if (back) console.log(`${t(back)}  client: answered again, by node2      (+${Math.round(back - pulled)} ms)`);
  console.log(
    `client outage: ${bold(`${Math.round(pinger.outage(from))} ms`)}; its ARP entry now says ${await clientMac(lab)} (node2)\n`,
  );

  // --- failback: plug it back ---
  from = pinger.count;
  const mark1 = n1.lines.length;
  const plugged = Date.now();
  await lab.plug(1, true);
  console.log(bold(`${t(plugged)}  node1's cable plugged back`));
  const heard = await at(n1, /peer node2: .* -> up/, mark1);
  // node1 released the VIP when its carrier went (it could not serve it); back, it is preferred and
  // auto_failback is on: node2 hands the group over and node1 starts it, announcing the VIP.
  const released = await at(n2, /198\.51\.100\.200\/24 removed/, mark2);
  const again = await at(n1, /198\.51\.100\.200\/24 added on .* announced/, mark1);
  await waitFor("node1 alone to hold the VIP", async () => JSON.stringify(await holders(lab)) === "[1]", 5000, 20);
  await waitFor("the client back on node1", async () => (await clientMac(lab)) === Lab.nodeMac(1), 5000, 20);
  await Bun.sleep(300);
  console.log(`${t(heard.ms)}  node1: hears node2 again                (+${heard.ms - plugged} ms)`);
  console.log(
    `${t(released.ms)}  node2: hands the VIP back (node1 is preferred, auto_failback on) (+${released.ms - plugged} ms)`,
  );
  console.log(`${t(again.ms)}  node1: VIP added, gratuitous ARP        (+${again.ms - plugged} ms)`);
  console.log(
    `client outage during the failback: ${bold(`${Math.round(pinger.outage(from))} ms`)}; ARP entry: ${await clientMac(lab)} (node1)`,
  );
  console.log(`holders of ${VIP} now: node${(await holders(lab)).join(", node")}\n`);

  console.log("what an operator sees: hb status on node2");
  const st = Bun.spawnSync([HB, "status", "--socket", files.socket(2), "--events", "6"]);
  for (const l of st.stdout.toString().trimEnd().split("\n")) console.log(`  ${l}`);
  const rep = Bun.spawnSync([HB, "report", "--socket", files.socket(2)]);
  console.log(`\nhb report on node2 (for cron / Nagios, exit ${rep.exitCode}):\n  ${rep.stdout.toString().trim()}\n`);

  console.log("node2's log of the whole story:");
  for (const l of n2.lines) if (/\[(cluster|resources)\]|peer node1/.test(l.text)) console.log(`  ${l.text}`);
  await Promise.all([n1.stop(), n2.stop()]);
} finally {
  cleanup();
  console.log("\ncleaned up: namespaces and files removed");
}
