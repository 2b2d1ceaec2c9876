/**
 * The etcd arbiter against a real etcd (issue 12): Debian's etcd 3.4, three members in their own lab
 * namespaces, TLS with certificates made by the test, two hb nodes. Every node's address changes are
 * recorded by `ip -ts monitor address` (each change with its time, finer than sampling) through all the
 * faults in turn: the heartbeat cut while both reach etcd, etcd down entirely, one etcd member down, the
 * holder cut off from everything, kill -9 of the holder. At no instant do both nodes hold the address;
 * the group runs again within the bound stated at each step; the client is answered afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AddressLog, overlap } from "../lib/address-log.ts";
import { blockJs, ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { EtcdCluster } from "../lib/etcd.ts";
import { Pinger, VIP, writeScripts } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/arbiter.test.ts", why);

const TTL_S = 2;

describe.skipIf(Boolean(why))("the etcd arbiter on a real kernel and a real etcd", () => {
  let lab: Lab;
  let dir: string;
  let files: ClusterFiles;
  let etcd: EtcdCluster;
  const procs: (HbProcess | undefined)[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 5, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-arbiter-"));
    etcd = new EtcdCluster(
      lab,
      lab.nodes.slice(2),
      [3, 4, 5].map((i) => Lab.nodeAddr(i)),
    );
    await etcd.start();
    chmodSync(etcd.client.key, 0o600);
    files =
      new ClusterFiles(`${configText({ nodes: 2, autoFailback: true, links: ['kind = "udp"\ninterface = "eth0"'] })}
[quorum]
arbiter = "etcd"
endpoints = [${etcd.endpoints.map((e) => `"${e}"`).join(", ")}]
ca = "${etcd.client.ca}"
cert = "${etcd.client.cert}"
key = "${etcd.client.key}"
ttl = "${TTL_S}s"

[[group]]
name = "web"
preferred = "node1"
resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "ok" }]

[paths]
script_dirs = ["${writeScripts(dir)}"]
`);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p?.stop()));
    await etcd?.stop();
    await lab?.destroy();
    files?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Drop, in the switch, what crosses between the given ports (n1l0 = node1, ..., c = client). */
  const cut = (name: string, rules: string[] | undefined) =>
    lab.exec(lab.bridge, [
      "nft",
      rules
        ? `add table bridge ${name}; add chain bridge ${name} fw { type filter hook forward priority 0; }; ${rules.map((r) => `add rule bridge ${name} fw ${r} drop`).join("; ")}`
        : `delete table bridge ${name}`,
    ]);
  const keyOwner = async () => (await etcd.ctl(["get", "--print-value-only", "/hb/lab/groups/web"])).stdout.trim();
  const status = async (i: number) =>
    JSON.parse((await run([HB, "status", "--json", "--socket", files.socket(i)])).stdout) as {
      node: { arbiter: { lease_alive: boolean; reachable: boolean; endpoint: string; keys: Record<string, string> } };
    };
  const hasVip = async (i: number) =>
    (await lab.exec(lab.nodes[i - 1]!, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout.includes(`inet ${VIP}/`);

  test("through every fault: one holder at every instant, the group back within its bound, the client answered", async () => {
    const logs = [1, 2].map((i) => new AddressLog(lab, lab.nodes[i - 1]!));
    await Bun.sleep(200); // the monitors listen before anything happens
    procs.push(startHb(lab, files, 1, { HB_TEST_HOOKS: "1" }), startHb(lab, files, 2));
    const [a, b] = procs as [HbProcess, HbProcess];
    await a.waitLine(/group web: starting -> running/, 15_000);
    await a.waitLine(/arbiter: lease \d+ granted by https:/, 1000);
    expect(await keyOwner()).toBe("node1");
    const ping = new Pinger(lab, 0.02);
    try {
      await waitFor("the client to reach node1", () => ping.count > 3, 5000, 20);
      expect((await run([HB, "status", "--socket", files.socket(1)])).stdout).toMatch(
        /arbiter: etcd at https:\/\/198\.51\.100\.1[345]:2379, lease \d+ alive \(\d\.\d s left of 2 s\), revision \d+; keys: web -> node1/,
      );

      // (a) the heartbeat cut between the nodes while both reach etcd: node2 waits for the key, node1 keeps it
      await cut("hb", ['iifname "n1l0" oifname "n2l0"', 'iifname "n2l0" oifname "n1l0"']);
      await b.waitLine(/group web: waiting for etcd: its key names node1/, 5000);
      await Bun.sleep(TTL_S * 1000 + 500); // past the TTL: a lease that could expire would have
      expect(await hasVip(1)).toBe(true);
      expect(await hasVip(2)).toBe(false);
      await cut("hb", undefined);
      await Bun.sleep(1000);
      const answered = async (what: string) => {
        const k = ping.count;
        await waitFor(what, () => ping.count > k + 5, 5000, 20);
      };
      await answered("the client to be answered after the heartbeat cut");

      // (d) etcd down entirely while the heartbeats are fine: node1 keeps the group, nothing moves
      const fromD = b.lines.length;
      const fromDa = a.lines.length;
      for (const m of [0, 1, 2]) await etcd.stopMember(m);
      await a.waitLine(/arbiter lease lost .*keeps web only while it hears every peer/, 5000);
      const rep = await run([HB, "report", "--socket", files.socket(1)]);
      expect(rep.code).toBe(1);
      expect(rep.stdout).toContain("node1 has no etcd lease");
      await Bun.sleep(1000);
      expect(await hasVip(1)).toBe(true);
      for (const m of [0, 1, 2]) etcd.startMember(m);
      await a.waitLine(/node node1: arbiter lease alive/, 15_000, fromDa);
      await waitFor("node1's lease", async () => (await status(1)).node.arbiter.lease_alive, 15_000, 100);
      expect(b.matching(/starting -> running/, fromD)).toEqual([]);
      await answered("the client to be answered after etcd's outage");

      // (c) one etcd member down: the lease lives on through the others
      const used = (await status(1)).node.arbiter.endpoint;
      const m = etcd.endpoints.indexOf(used);
      await etcd.stopMember(m);
      await Bun.sleep(TTL_S * 1000 + 500); // past the TTL: a lease that could expire would have
      const st = (await status(1)).node.arbiter;
      expect(st.lease_alive).toBe(true);
      expect(st.endpoint).not.toBe(used);
      await answered("the client to be answered with one etcd member down");

      // (b) the holder cut off from everything: it drops the address before its lease can expire; node2 takes over
      const t0 = Date.now();
      const fromB = [a.lines.length, b.lines.length] as const;
      await cut("iso", ['iifname "n1l0"', 'oifname "n1l0"']);
      await a.waitLine(
        /no arbiter lease .* and node2 not heard: it may be taking over: removing its floating addresses/,
        5000,
        fromB[0],
      );
      await b.waitLine(/group web: starting -> running/, 10_000, fromB[1]);
      const took = Date.now() - t0;
      // bound: node1's lease expires at etcd at most TTL after its last renewal; node2 asks every 100 ms
      expect(took).toBeLessThan(TTL_S * 1000 + 1500);
      expect(took).toBeGreaterThan(TTL_S * 1000 - (TTL_S * 1000) / 6 - 200);
      const n = ping.count;
      await waitFor("the client to be answered by node2", () => ping.count > n + 5, 5000, 20);
      expect(await keyOwner()).toBe("node2");
      const healed = a.lines.length;
      await cut("iso", undefined);
      etcd.startMember(m);
      // healed: node1 is preferred (auto_failback): the key and the group move back together, planned
      await a.waitLine(/group web: starting -> running/, 10_000, healed);
      await waitFor("node1 to hold the key", async () => (await keyOwner()) === "node1", 10_000, 100);

      // (f) the holder's JavaScript stalls as it is cut off from everything: its heartbeat thread, which
      // renews the address by itself, removes it at a sixth of the TTL before etcd may free the key
      // (the address log below proves no overlap; without that deadline node1 kept it until its loop ran)
      await Bun.sleep(500);
      const fromF = [a.lines.length, b.lines.length] as const;
      await cut("iso", ['iifname "n1l0"', 'oifname "n1l0"']);
      const stall = blockJs(files, 1, TTL_S * 1000 + 1500);
      await b.waitLine(/group web: starting -> running/, 10_000, fromF[1]);
      await stall;
      await a.waitLine(
        /address 198\.51\.100\.\d+ removed by the heartbeat thread: the etcd lease was not renewed/,
        5000,
        fromF[0],
      );
      await cut("iso", undefined);
      await a.waitLine(/group web: starting -> running/, 15_000, fromF[0]);
      await waitFor("node1 to hold the key again", async () => (await keyOwner()) === "node1", 10_000, 100);

      // (g) the holder keeps its group without a lease (it cannot reach etcd, it hears node2), then its
      // JavaScript stalls just as the heartbeat is cut too: node2, which reaches etcd, finds the key free
      // (node1's lease expired there) and takes over. No deadline guards this mode; node1's heartbeat
      // thread removes the address itself the moment node2 goes dead (without it, node1 kept the
      // address for the whole stall: the address log below)
      await Bun.sleep(500);
      const fromG = [a.lines.length, b.lines.length] as const;
      const etcdPorts = [3, 4, 5].map((i) => `"n${i}l0"`).join(", ");
      await cut("noetcd", [`iifname "n1l0" oifname { ${etcdPorts} }`, `iifname { ${etcdPorts} } oifname "n1l0"`]);
      await a.waitLine(/arbiter lease lost .*keeps web only while it hears every peer/, 5000, fromG[0]);
      const stallG = blockJs(files, 1, 4000);
      await a.waitLine(/test hook: blocking the JS thread/, 2000, fromG[0]);
      await cut("hb", ['iifname "n1l0" oifname "n2l0"', 'iifname "n2l0" oifname "n1l0"']);
      await b.waitLine(/group web: starting -> running/, 10_000, fromG[1]);
      expect(await hasVip(1)).toBe(false); // node1's loop is still blocked: its heartbeat thread removed it
      await stallG;
      await a.waitLine(
        /address 198\.51\.100\.\d+ removed by the heartbeat thread as node2 went dead: the peers still heard are too few/,
        5000,
        fromG[0],
      );
      await cut("hb", undefined);
      await cut("noetcd", undefined);
      await a.waitLine(/group web: starting -> running/, 15_000, fromG[0]);
      await waitFor("node1 to hold the key again", async () => (await keyOwner()) === "node1", 10_000, 100);

      // (e) kill -9 of the holder: node2 takes over once etcd expires node1's lease
      await Bun.sleep(500);
      const t1 = Date.now();
      const fromE = b.lines.length;
      a.proc.kill("SIGKILL");
      await a.proc.exited;
      // (its address stays in its kernel until the address lease ends: with the arbiter that is 1 s here,
      // two thirds of the TTL, before etcd can free the key; the address log proves it)
      await b.waitLine(/group web: starting -> running/, 10_000, fromE);
      const took2 = Date.now() - t1;
      expect(took2).toBeLessThan(TTL_S * 1000 + 1000);
      expect(b.matching(/waiting for etcd: its key names node1/, fromE).length).toBeGreaterThan(0);
      const n2 = ping.count;
      await waitFor("the client to be answered after kill -9", () => ping.count > n2 + 5, 5000, 20);
      console.log(`arbiter: holder cut off -> taken over in ${took} ms; kill -9 -> ${took2} ms (TTL ${TTL_S} s)`);
    } finally {
      ping.stop();
      for (const l of logs) l.stop();
    }
    expect(overlap(logs)).toBeLessThanOrEqual(0);
    expect(logs[0]!.all().length).toBeGreaterThan(1);
    expect(logs[1]!.all().length).toBeGreaterThan(0);
  }, 120_000);
});

describe.skipIf(Boolean(why))("the etcd arbiter with etcd's password authentication", () => {
  let lab: Lab;
  let dir: string;
  let etcd: EtcdCluster;
  const procs: HbProcess[] = [];
  const files: ClusterFiles[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    dir = mkdtempSync(join(tmpdir(), "hb-arbiter-auth-"));
    etcd = new EtcdCluster(lab, [lab.nodes[1]!], [Lab.nodeAddr(2)], { tls: false, port: 12379 });
    await etcd.start();
    for (const cmd of [
      ["user", "add", "root:rootpw"],
      ["user", "add", "hb:hbpw"],
      ["role", "add", "hb"],
      ["role", "grant-permission", "hb", "--prefix=true", "readwrite", "/hb/"],
      ["user", "grant-role", "hb", "hb"],
      ["auth", "enable"],
    ])
      expect((await etcd.ctl(cmd)).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await etcd?.stop();
    await lab?.destroy();
    for (const f of files) f.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const single = (password: string) =>
    new ClusterFiles(`${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"'] })}
[quorum]
arbiter = "etcd"
endpoints = ["${etcd.endpoints[0]}"]
user = "hb"
password = "${password}"

[[group]]
name = "web"
preferred = "node1"
resources = [{ ip = "${VIP}/24", interface = "eth0" }]
`);

  test("the right password: a lease and the key; a wrong one: a clear log line, and the group does not start", async () => {
    const bad = single("wrong");
    files.push(bad);
    const p = startHb(lab, bad, 1);
    procs.push(p);
    await p.waitLine(
      /arbiter: etcd refused a request: etcd \/v3\/auth\/authenticate: etcdserver: authentication failed/,
      10_000,
    );
    await Bun.sleep(1000);
    expect(p.matching(/starting -> running/)).toEqual([]);
    await p.stop();
    const good = single("hbpw");
    files.push(good);
    const q = startHb(lab, good, 1);
    procs.push(q);
    await q.waitLine(/group web: starting -> running/, 10_000);
    const owner = await etcd.ctl(["--user=hb:hbpw", "get", "--print-value-only", "/hb/lab/groups/web"]);
    expect(owner.stdout.trim()).toBe("node1");
  }, 60_000);
});
