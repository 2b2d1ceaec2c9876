/**
 * Operating hb against live daemons in network namespaces: status, standby,
 * takeover, clear, report (every verdict and its exit code, Prometheus
 * metrics parsed by promtool), history across restarts, reload, the log file
 * and syslog, systemd notify and watchdog, and abuse of the control socket.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blockJs, HB, type HbProcess } from "../lib/cluster.ts";
import { ClusterFiles, clientMac, failoverConfig, holders, Lab, startHb, VIP, writeScripts } from "../lib/failover.ts";
import { announceSkip, netnsUnavailable, run, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/operate.test.ts", why);

/** Two links: UDP and raw Ethernet on the same wire, so one can be cut alone (nftables drops UDP). */
function config(scripts: string, extra = "", opts: Parameters<typeof failoverConfig>[1] = {}): string {
  return (
    failoverConfig(scripts, opts).replace(
      '[[link]]\nkind = "udp"\ninterface = "eth0"\n',
      '[[link]]\nkind = "udp"\ninterface = "eth0"\n\n[[link]]\nkind = "ether"\ninterface = "eth0"\n',
    ) + extra
  );
}

describe.skipIf(Boolean(why))("operating hb", () => {
  let lab: Lab;
  let dir: string;
  let scripts: string;
  let files: ClusterFiles | undefined;
  let procs: HbProcess[] = [];
  const receivers: ReturnType<typeof Bun.spawn>[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-op-"));
    scripts = writeScripts(dir);
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
    for (const r of receivers.splice(0)) r.kill("SIGKILL");
    files?.cleanup();
    files = undefined;
    for (const i of [1, 2]) {
      await lab.plug(i, true);
      await lab.exec(lab.nodes[i - 1]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
      await lab.exec(lab.nodes[i - 1]!, ["nft", "flush", "ruleset"]);
    }
    await lab.exec(lab.client!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
  });
  afterAll(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (i: number, env: Record<string, string> = {}) => {
    const p = startHb(lab, files!, i, env);
    procs.push(p);
    return p;
  };
  const hb = (i: number, args: string[], timeoutMs = 20_000) =>
    run([HB, ...args, "--socket", files!.socket(i)], timeoutMs);
  const statusOf = async (i: number) => {
    const r = await hb(i, ["status", "--json"]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };
  const report = async (i: number) => {
    const r = await hb(i, ["report"]);
    return { code: r.code, line: r.stdout.trim() };
  };
  /** Both nodes up and web on node1 (the preferred node). */
  const cluster = async (extra = "", opts: Parameters<typeof failoverConfig>[1] = {}) => {
    files = new ClusterFiles(config(scripts, extra, opts));
    const a = start(1);
    const b = start(2);
    await a.waitLine(/group web: starting -> running/, 8000);
    await waitFor(
      "node2 to see node1 hold web",
      async () => (await statusOf(2)).groups[0].holders.join() === "node1",
      5000,
      50,
    );
    return [a, b] as const;
  };

  test("status: table and JSON (schema hb.status/1) show nodes, links, groups and events", async () => {
    await cluster();
    const r = await hb(1, ["status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Cluster lab: node node1 \(id 1\) is ACTIVE since/);
    expect(r.stdout).toMatch(/\n {2}node2 +up +active +\d+ ms ago +udp:eth0 +up +0 /);
    expect(r.stdout).toMatch(/\n +ether:eth0 +up /);
    expect(r.stdout).toMatch(/\n {2}web +node1 +running +node1 /);
    expect(r.stdout).toContain("group web: starting -> running (all resources started)");
    const s = await statusOf(1);
    expect(s.schema).toBe("hb.status/1");
    expect(s.node).toMatchObject({ name: "node1", id: 1, state: "active" });
    // the daemon's memory, for operators watching a months-long run
    expect(s.node.rss_bytes).toBeGreaterThan(5_000_000);
    expect(s.node.js_heap_bytes).toBeGreaterThan(100_000);
    expect(s.node.js_heap_bytes).toBeLessThan(s.node.rss_bytes);
    expect(s.peers).toHaveLength(1);
    expect(s.peers[0]).toMatchObject({ name: "node2", state: "up", node_state: "active" });
    expect(s.peers[0].last_heard_ms).toBeLessThan(1000);
    expect(s.peers[0].links.map((l: { name: string; state: string }) => `${l.name}=${l.state}`)).toEqual([
      "udp:eth0=up",
      "ether:eth0=up",
    ]);
    expect(s.peers[0].links[0].frames_rx).toBeGreaterThan(0);
    expect(
      s.links.map((l: { name: string; kind: string; sending: boolean }) => `${l.name} ${l.kind} ${l.sending}`),
    ).toEqual(["udp:eth0 udp true", "ether:eth0 ether true"]);
    expect(Object.keys(s.links[0].drops)).toEqual([
      "length",
      "version",
      "cluster",
      "sender",
      "key",
      "mac",
      "link",
      "generation",
      "replay",
      "duplicate",
    ]);
    expect(s.groups[0]).toMatchObject({
      name: "web",
      preferred: "node1",
      here: "running",
      holders: ["node1"],
      blocked: false,
    });
    expect(s.groups[0].resources).toEqual([`ip ${VIP}/24`, "script ok"]);
    expect(
      s.events.some(
        (e: { kind: string; text: string; cause: string }) =>
          e.kind === "group" && /stopped -> starting/.test(e.text) && e.cause,
      ),
    ).toBe(true);
    const s2 = await statusOf(2);
    expect(s2.groups[0]).toMatchObject({ here: "stopped", holders: ["node1"] });
    const nothing = await hb(1, ["clear", "web"]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain("hb: refused: group web: nothing to clear (neither failed nor yielded on node1)");
  }, 30_000);

  test("standby GROUP and takeover GROUP move web through the coordinated handover; --wait waits", async () => {
    await cluster();
    const r = await hb(1, ["standby", "web", "--wait", "--timeout", "10"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("moving web away from node1");
    expect(r.stdout).toContain("done: web on node2");
    expect(await holders(lab)).toEqual([2]);
    await waitFor(
      "the client to reach node2",
      async () =>
        (await lab.exec(lab.client!, ["ping", "-c1", "-W1", VIP])).code === 0 &&
        (await clientMac(lab)) === Lab.nodeMac(2),
      5000,
      50,
    );
    // auto_failback is on and node1 is preferred, yet web stays away: node1 yields it
    await Bun.sleep(500);
    expect(await holders(lab)).toEqual([2]);
    expect((await statusOf(1)).node.yields).toEqual(["web"]);
    expect((await statusOf(2)).peers[0].yields).toEqual(["web"]);
    const back = await hb(1, ["takeover", "web", "--wait", "--timeout", "10"]);
    expect(back.code).toBe(0);
    expect(back.stdout).toContain("node1 takes over group web");
    expect(back.stdout).toContain("done: web on node1");
    expect(await holders(lab)).toEqual([1]);
    // takeover from the other side: node2 asks for it
    const t2 = await hb(2, ["takeover", "web", "--wait", "--timeout", "10"]);
    expect(t2.code).toBe(0);
    expect(await holders(lab)).toEqual([2]);
    expect((await statusOf(1)).node.yields).toEqual(["web"]);
    expect((await report(1)).line).toContain("node node1 yields web (its preferred node");
    // node2 changes its mind: hb standby there withdraws its takeover, so node1 takes web back and
    // stops yielding (it was refused before: "node1 yields it too")
    const s2 = await hb(2, ["standby", "web", "--wait", "--timeout", "10"]);
    expect(s2.stderr).toBe("");
    expect(s2.code).toBe(0);
    expect(s2.stdout).toContain("done: web on node1");
    expect(await holders(lab)).toEqual([1]);
    expect((await statusOf(1)).node.yields).toEqual([]);
    expect((await statusOf(2)).node.yields).toEqual(["web"]);
  }, 40_000);

  test("moves that end with web on its preferred node leave hb report OK on both nodes; hb clear ends a yield", async () => {
    await cluster();
    const ok = async (when: string) => {
      for (const i of [1, 2])
        await waitFor(`${when}: report OK on node${i}`, async () => (await report(i)).code === 0, 5000, 50);
    };
    // node2 asks for web, then node1 asks it back: node2's yield ends once web is home
    expect((await hb(2, ["takeover", "web", "--wait", "--timeout", "10"])).code).toBe(0);
    expect((await hb(1, ["takeover", "web", "--wait", "--timeout", "10"])).code).toBe(0);
    await ok("takeover on node2, then on node1");
    expect((await statusOf(2)).node.yields).toEqual([]);
    // node1 steps aside for web, then takes it back
    expect((await hb(1, ["standby", "web", "--wait", "--timeout", "10"])).code).toBe(0);
    expect((await hb(1, ["takeover", "web", "--wait", "--timeout", "10"])).code).toBe(0);
    await ok("standby web on node1, then takeover on node1");
    // a yield on the node that is not preferred changes nothing while web is home: not a warning
    expect((await hb(2, ["standby", "web"])).code).toBe(0);
    await ok("standby web on node2");
    expect((await statusOf(2)).node.yields).toEqual(["web"]);
    const c = await hb(2, ["clear", "web"]);
    expect(c.stdout).toContain("cleared the yield of web on node2");
    expect((await statusOf(2)).node.yields).toEqual([]);
    expect(await holders(lab)).toEqual([1]);
  }, 60_000);

  test("different keys are named as such (log, status, report); a planned stop shows as left, not dead", async () => {
    files = new ClusterFiles(config(scripts), (node, text) =>
      node === 2 ? text.replace('secret = "lab-secret-0123456789"', 'secret = "another-secret-9876543210"') : text,
    );
    const a = start(1);
    const b = start(2);
    await b.waitLine(/frames from node1 fail authentication on udp:eth0: are the keys the same\?/, 8000);
    await a.waitLine(/frames from node2 fail authentication on udp:eth0: are the keys the same\?/, 8000);
    const r = await report(2);
    expect(r.code).toBe(2);
    expect(r.line).toMatch(
      /peer node1 dead \(last heard never\): frames from node1 fail authentication on udp:eth0(, ether:eth0)?: are the keys the same\?/,
    );
    const st = await hb(2, ["status"]);
    expect(st.stdout).toMatch(/AUTH: \d+ frame\(s\) from node1 failed authentication on udp:eth0/);
    expect((await statusOf(2)).peers[0].links[0].auth_failures).toBeGreaterThan(0);
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
    files.cleanup();
    // same keys: node2 stops (SIGTERM): node1 reports it as left, in its log and history too
    files = new ClusterFiles(config(scripts));
    const c = start(1);
    const d = start(2);
    await c.waitLine(/group web: starting -> running/, 8000);
    await waitFor("node1 to hear node2", async () => (await statusOf(1)).peers[0].state === "up", 5000, 50);
    expect(await d.stop()).toBe(0);
    await c.waitLine(/peer node2: (up|late) -> left \(it said it was leaving: a planned stop/, 3000);
    const st1 = await statusOf(1);
    expect(st1.peers[0].state).toBe("left");
    expect(st1.events.some((e: { text: string }) => e.text.includes("-> left"))).toBe(true);
    const r1 = await report(1);
    expect(r1.code).toBe(2);
    expect(r1.line).toContain("peer node2 left (a planned stop");
    expect(c.matching(/peer node2: .* -> dead/)).toEqual([]);
  }, 40_000);

  test("refusals: standby with the peer dead, takeover of a failed group, an unknown group", async () => {
    const [, b] = await cluster();
    await b.stop();
    procs = procs.filter((p) => p !== b);
    await waitFor(
      "node1 to see node2 gone (a planned stop: left)",
      async () => (await statusOf(1)).peers[0].state === "left",
      5000,
      50,
    );
    const r = await hb(1, ["standby", "web"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hb: refused: no peer can take web (node2 is dead); use --force to stop it anyway");
    const all = await hb(1, ["standby"]);
    expect(all.code).toBe(1);
    expect(await holders(lab)).toEqual([1]); // nothing moved, nothing stopped
    const unknown = await hb(1, ["takeover", "db"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no group "db" (groups: web)');
    const bad = await hb(1, ["standby", "we b"]);
    expect(bad.code).toBe(2);
    // --force: the operator's choice, the group stops with nowhere to go
    const forced = await hb(1, ["standby", "--force", "--wait", "--timeout", "5"]);
    expect(forced.stdout).toContain("goes to standby");
    await waitFor("the VIP to be gone", async () => (await holders(lab)).length === 0, 5000, 50);
    expect((await report(1)).code).toBe(2);
  }, 40_000);

  test("takeover of a group that failed here is refused until hb clear", async () => {
    files = new ClusterFiles(config(scripts, "", { script: "fail" }));
    const a = start(1);
    start(2);
    await a.waitLine(/group web: stopping -> failed/, 8000);
    const s = await statusOf(1);
    expect(s.groups[0].here).toBe("failed");
    expect(s.groups[0].failed_until).toMatch(/^\d{4}-/);
    const t = await hb(1, ["takeover", "web"]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("web failed here: hb clear web first");
    const rep = await report(1);
    expect(rep.code).toBe(2);
    expect(rep.line).toMatch(/group web failed on node1: script fail failed to start/);
    const c = await hb(1, ["clear", "web"]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain("cleared the failure of web on node1");
    await a.waitLine(/group web: failed -> stopped \(cleared by the operator \(hb clear\)\)/, 3000);
  }, 30_000);

  test("standby (all) is kept across a restart and ended by takeover", async () => {
    const [a] = await cluster();
    const r = await hb(1, ["standby", "--wait", "--timeout", "10"]);
    expect(r.code).toBe(0);
    expect(await holders(lab)).toEqual([2]);
    expect((await report(1)).line).toContain("node node1 in standby");
    await a.stop();
    procs = procs.filter((p) => p !== a);
    expect(existsSync(join(files!.state(1), "standby"))).toBe(true);
    const a2 = start(1);
    await a2.waitLine(/stays in standby/, 5000);
    await waitFor("node1 up again", async () => (await statusOf(1)).peers[0].state === "up", 5000, 50);
    await Bun.sleep(300);
    expect(await holders(lab)).toEqual([2]);
    expect((await statusOf(1)).node.state).toBe("standby");
    const t = await hb(1, ["takeover", "--wait", "--timeout", "10"]);
    expect(t.stderr).toBe("");
    expect(t.code).toBe(0);
    expect(await holders(lab)).toEqual([1]);
    expect(existsSync(join(files!.state(1), "standby"))).toBe(false);
  }, 40_000);

  test("report: OK, then WARNING for a cut link and a group away from home, CRITICAL for a dead peer, UNKNOWN with no daemon", async () => {
    const [, b] = await cluster();
    const ok = await report(1);
    expect(ok).toEqual({ code: 0, line: "HB OK - node1 active, 1/1 peers up, running web" });
    // cut the UDP link only: the ether link keeps the peer up, no failover
    const nft = await lab.exec(lab.nodes[1]!, [
      "nft",
      "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in udp dport 694 drop",
    ]);
    expect(nft.stderr).toBe("");
    await waitFor("the udp link to die (as node2 sees it)", async () => (await report(2)).code === 1, 5000, 50);
    const w = await report(2);
    expect(w.code).toBe(1);
    expect(w.line).toMatch(/^HB WARNING - link udp:eth0 to node1 dead \(redundancy lost\)/);
    expect(await holders(lab)).toEqual([1]);
    await lab.exec(lab.nodes[1]!, ["nft", "flush", "ruleset"]);
    await waitFor("the link back", async () => (await report(2)).code === 0, 5000, 50);
    // away from its preferred node
    expect((await hb(1, ["standby", "web", "--wait", "--timeout", "10"])).code).toBe(0);
    const away = await report(2);
    expect(away.code).toBe(1);
    expect(away.line).toContain("group web on node2, not on its preferred node node1");
    // a dead peer (a crash, not a planned stop): CRITICAL
    b.proc.kill("SIGKILL");
    await b.proc.exited;
    procs = procs.filter((p) => p !== b);
    await waitFor("node1 to take web back", async () => JSON.stringify(await holders(lab)) === "[1]", 5000, 50);
    const crit = await report(1);
    expect(crit.code).toBe(2);
    expect(crit.line).toMatch(/^HB CRITICAL - peer node2 dead/);
    const json = JSON.parse((await hb(1, ["report", "--json"])).stdout);
    expect(json).toMatchObject({ schema: "hb.report/1", level: "CRITICAL", code: 2 });
    // no daemon: UNKNOWN, and it says why
    const down = await hb(2, ["report"]);
    expect(down.code).toBe(3);
    expect(down.stdout.trim()).toMatch(
      /^HB UNKNOWN - hb daemon not reachable at .*hb\.sock: (no socket|connection refused)/,
    );
  }, 60_000);

  test("report: CRITICAL for a group running nowhere, WARNING for an address conflict", async () => {
    files = new ClusterFiles(config(scripts));
    // the VIP is taken by another host (the client): both nodes find the conflict
    expect((await lab.exec(lab.client!, ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"])).code).toBe(0);
    const a = start(1);
    start(2);
    await a.waitLine(/address conflict/, 8000);
    await waitFor(
      "both nodes to give up",
      async () => (await statusOf(1)).groups[0].holders.length === 0 && (await statusOf(2)).groups[0].here === "failed",
      8000,
      100,
    );
    const r = await report(1);
    expect(r.code).toBe(2);
    expect(r.line).toContain("group web running nowhere");
    expect(r.line).toContain(`address conflict on ${VIP} (last hour)`);
    const s = await statusOf(1);
    expect(s.conflicts[0]).toMatchObject({ address: VIP, interface: "eth0" });
    expect((await hb(1, ["status"])).stdout).toContain("Address conflicts");
  }, 30_000);

  test("report --prometheus writes metrics that promtool accepts, atomically; with the daemon down too", async () => {
    await cluster();
    const file = join(dir, "hb.prom");
    const r = await hb(1, ["report", "--prometheus", file]);
    expect(r.code).toBe(0);
    const text = readFileSync(file, "utf8");
    const lint = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: Buffer.from(text) });
    expect(`${lint.stdout}${lint.stderr}`).toBe("");
    expect(lint.exitCode).toBe(0);
    expect(text).toContain("hb_up 1");
    expect(text).toContain('hb_peer_up{peer="node2"} 1');
    expect(text).toContain('hb_link_up{link="udp:eth0",peer="node2"} 1');
    expect(text).toContain('hb_group_running_here{group="web"} 1');
    expect(text).toContain("hb_failovers_total 0");
    expect(text).toMatch(/^hb_resident_memory_bytes \d{7,}$/m);
    expect(text).toMatch(/^hb_js_heap_bytes \d{6,}$/m);
    expect(text).toContain('hb_frames_dropped_total{link="ether:eth0",reason="replay"} 0');
    expect(text).toMatch(/hb_heartbeat_age_seconds\{link="udp:eth0",peer="node2"\} 0\.\d+/);
    expect(text).toContain("hb_report_status 0");
    expect(readFileSync(file, "utf8")).not.toContain(".tmp");
    expect(Bun.spawnSync(["ls", "-a", dir]).stdout.toString()).not.toContain(".tmp");
    // after a failover (node1 killed) the counter moves
    procs[0]!.proc.kill("SIGKILL");
    await waitFor("node2 to take web", async () => JSON.stringify(await holders(lab)) === "[2]", 5000, 50);
    expect((await hb(2, ["report", "--prometheus", file])).code).toBe(2);
    expect(readFileSync(file, "utf8")).toContain("hb_failovers_total 1");
    const down = await hb(1, ["report", "--prometheus", file]);
    expect(down.code).toBe(3);
    const t2 = readFileSync(file, "utf8");
    expect(t2).toContain("hb_up 0");
    expect(t2).toContain("hb_report_status 3");
    expect(Bun.spawnSync(["promtool", "check", "metrics"], { stdin: Buffer.from(t2) }).exitCode).toBe(0);
  }, 40_000);

  test("--wait on a terminal says every second what it still waits for", async () => {
    files = new ClusterFiles(config(scripts, "", { script: "hang", timeout: "10s" }));
    const a = start(1);
    const b = start(2);
    await a.waitLine(/group web: stopped -> starting/, 8000);
    await b.waitLine(/node node2: waiting -> active/, 8000);
    // script(1) gives the command a terminal; stdout and stderr both come out of it
    const cmd = `${HB} takeover web --wait --timeout 2.5 --socket ${files.socket(1)}`;
    const r = await run(["script", "-qec", cmd, "/dev/null"], 15_000);
    expect(r.code).toBe(1);
    expect(r.stdout.match(/waiting: web starting here, on node1 \(\d s\)/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toContain("timed out after 2.5 s waiting");
  });

  test("status --watch: appended under a time line when piped, redrawn on a terminal, until stopped", async () => {
    await cluster();
    // piped: bounded by the run's own timeout (it runs until killed, like watch(1))
    const piped = await run([HB, "status", "--watch", "0.2", "--socket", files!.socket(1)], 1500);
    const shown = piped.stdout.split("\n").filter((l) => /^--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/.test(l));
    expect(shown.length).toBeGreaterThanOrEqual(3);
    expect(piped.stdout.match(/^Cluster lab: node node1/gm)?.length).toBe(shown.length);
    const tty = await run(
      ["script", "-qec", `${HB} status --watch 0.2 --socket ${files!.socket(1)}`, "/dev/null"],
      1500,
    );
    expect(tty.stdout.split("\x1b[H\x1b[2J").length).toBeGreaterThanOrEqual(3);
    expect(tty.stdout).toContain("every 0.2 s (Ctrl-C to stop)");
    const bad = await run([HB, "status", "--watch", "0", "--socket", files!.socket(1)]);
    expect(bad).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--watch takes seconds between 0.1 and 3600"),
    });
  });

  test("alone at start, hb status says how long until it decides without its peers (initdead)", async () => {
    files = new ClusterFiles(
      config(scripts, "", { timing: { keepalive: "50ms", warntime: "100ms", deadtime: "150ms", initdead: "20s" } }),
    );
    const a = start(1);
    await a.waitLine(/control socket/, 5000);
    const st = await statusOf(1);
    expect(st.node.state).toBe("waiting");
    expect(st.node.initdead_left_ms).toBeGreaterThan(10_000);
    expect(st.node.initdead_left_ms).toBeLessThanOrEqual(20_000);
    expect((await hb(1, ["status"])).stdout).toMatch(
      /waiting for every peer: it decides alone in 1\d\.\d s \(initdead\)/,
    );
  });

  test("history survives a restart; the file stays bounded", async () => {
    const [a] = await cluster("\n[control]\nhistory = 10\n");
    await a.stop();
    procs = procs.filter((p) => p !== a);
    const a2 = start(1);
    await a2.waitLine(/control socket/, 5000);
    const r = await hb(1, ["history", "--json"]);
    expect(r.code).toBe(0);
    const { schema, events: h } = JSON.parse(r.stdout) as { schema: string; events: { text: string }[] };
    expect(schema).toBe("hb.history/1");
    expect(h.length).toBeLessThanOrEqual(10);
    expect(h.some((e) => /^hb stopped \(exit 0\)/.test(e.text))).toBe(true);
    expect(h.some((e) => /hb .* started/.test(e.text))).toBe(true);
    const lines = readFileSync(join(files!.state(1), "history.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(lines.length).toBeLessThanOrEqual(20);
    const st = (await hb(1, ["status"])).stdout;
    expect(st).toContain("hb stopped (exit 0)");
    // with the daemon down, status says so and shows the last recorded events
    await a2.stop();
    procs = procs.filter((p) => p !== a2);
    const down = await run([HB, "status", "--config", files!.config(1), "--node", "node1"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/hb daemon not reachable at .*hb\.sock/);
    expect(down.stdout).toContain("Last events recorded in");
    expect(down.stdout).toMatch(/hb stopped \(exit 0\)\s*$/);
  }, 30_000);

  test("reload: safe changes applied whole (timing live, a new group), unsafe ones refuse everything", async () => {
    const [a] = await cluster();
    const text = readFileSync(files!.config(1), "utf8");
    const cfgFile = files!.config(1);
    const withGroup = `${text.replace('keepalive = "50ms"', 'keepalive = "20ms"')}\n[[group]]\nname = "extra"\npreferred = "node1"\nresources = [{ script = "ok" }]\n`;
    writeFileSync(cfgFile, withGroup, { mode: 0o600 });
    const r = await run([HB, "reload", "--config", cfgFile, "--node", "node1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("timing.keepalive: 50ms -> 20ms");
    // the native thread beats faster at once: about 100 frames in 2 s per link, not 40
    const tx0 = (await statusOf(1)).links[0].frames_tx;
    await Bun.sleep(2000);
    const tx1 = (await statusOf(1)).links[0].frames_tx;
    expect(tx1 - tx0).toBeGreaterThan(80);
    expect(r.stdout).toContain("group extra added (preferred node1)");
    await a.waitLine(/group extra: starting -> running/, 5000);
    expect((await statusOf(1)).groups.map((g: { name: string }) => g.name)).toEqual(["web", "extra"]);
    // now a refused change (a link) with a safe one (log level): nothing applies
    writeFileSync(
      cfgFile,
      `${withGroup.replace('interface = "eth0"\n\n[[link]]\nkind = "ether"', 'interface = "eth0"\nport = 695\n\n[[link]]\nkind = "ether"')}\n[log]\nlevel = "warn"\n`,
      { mode: 0o600 },
    );
    const bad = await run([HB, "reload", "--config", cfgFile, "--node", "node1"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("nothing changed");
    expect(bad.stderr).toMatch(/link\[\d\]\.\S+: .* -> .*: restart hb to change it/);
    const mark = a.lines.length;
    await hb(1, ["status"]);
    // the log level did not change: info lines still come (a peer link event would be info; use the command log)
    expect((await hb(1, ["standby", "extra"])).code).toBe(0);
    await a.waitLine(/\[daemon\] hb standby extra/, 3000, mark);
    // a config with errors: hb reload shows its file:line:col and does not even ask the daemon
    writeFileSync(cfgFile, `${withGroup}\n[timing]\n`, { mode: 0o600 });
    const broken = await run([HB, "reload", "--socket", files!.socket(1), "--config", cfgFile]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`${cfgFile}:`);
    expect(broken.stderr).toContain("the config has errors: the daemon was not asked to reload (nothing changed)");
    // SIGHUP does the same: the process stays up
    a.proc.kill("SIGHUP");
    await a.waitLine(/SIGHUP: the config has errors; nothing changed/, 3000, mark);
    expect(a.proc.exitCode).toBeNull();
  }, 40_000);

  test("log file reopened on SIGHUP (logrotate); syslog records reach the syslog socket with the facility", async () => {
    const logFile = join(dir, "hb.log");
    const sys = join(dir, "syslog.sock");
    const recv = Bun.spawn(["socat", "-u", `UNIX-RECV:${sys}`, "-"], { stdout: "pipe", stderr: "ignore" });
    receivers.push(recv);
    await waitFor("the syslog socket", () => existsSync(sys), 3000);
    const [a] = await cluster(`\n[log]\nfile = "${logFile}"\nfacility = "local3"\nsyslog_socket = "${sys}"\n`);
    expect(readFileSync(logFile, "utf8")).toMatch(/INFO \[cluster\] group web: starting -> running/);
    renameSync(logFile, `${logFile}.1`);
    a.proc.kill("SIGHUP");
    await waitFor(
      "a new log file",
      () => existsSync(logFile) && readFileSync(logFile, "utf8").includes("SIGHUP"),
      3000,
    );
    expect(readFileSync(`${logFile}.1`, "utf8")).not.toContain("SIGHUP: log file reopened");
    recv.kill("SIGTERM");
    const got = await new Response(recv.stdout).text();
    // local3 = 19: info = 19*8+6 = 158, warn = 156
    expect(got).toMatch(/<158>\w{3} [ \d]\d \d\d:\d\d:\d\d hb\[\d+\]: INFO \[cluster\] group web: starting -> running/);
  }, 30_000);

  test("systemd: READY=1 once decided, STATUS= on changes, WATCHDOG=1 from the loop and none while it is blocked", async () => {
    const sock = join(dir, "notify.sock");
    rmSync(sock, { force: true });
    const recv = Bun.spawn(["socat", "-u", `UNIX-RECV:${sock}`, "-"], { stdout: "pipe", stderr: "ignore" });
    receivers.push(recv);
    await waitFor("the notify socket", () => existsSync(sock), 3000);
    files = new ClusterFiles(config(scripts));
    const env = { NOTIFY_SOCKET: sock, WATCHDOG_USEC: "400000", HB_TEST_HOOKS: "1" };
    const a = start(1, env);
    start(2);
    await a.waitLine(/group web: starting -> running/, 8000);
    await Bun.sleep(600);
    const blocked = blockJs(files, 1, 2000);
    await a.waitLine(/JS thread free again/, 5000);
    await blocked;
    await Bun.sleep(600);
    recv.kill("SIGTERM");
    // socat writes datagrams back to back; find the messages by their keys
    const got = await new Response(recv.stdout).text();
    expect(got).toContain("READY=1\nSTATUS=active");
    expect(got).toMatch(/STATUS=active; running web; peers: node2 up/);
    const n = (got.match(/WATCHDOG=1/g) ?? []).length;
    // ~200 ms apart for ~(start + 0.6 s + 0.6 s) and none during the 2 s block
    expect(n).toBeGreaterThanOrEqual(5);
    const blockedFor = 2000 / 200;
    const total = a.lines.length > 0 ? (performance.now() - a.lines[0]!.t) / 200 : 0;
    expect(n).toBeLessThan(total - blockedFor + 3);
  }, 30_000);

  test("control socket abuse: silent, garbage, 10 MB, 100 clients at once; the daemon and its heartbeat carry on", async () => {
    const [a, b] = await cluster();
    const path = files!.socket(1);
    const mode = Bun.spawnSync(["stat", "-c", "%a", path]).stdout.toString().trim();
    expect(mode).toBe("600");
    const talk = (payload: string | Buffer | null, waitMs = 7000) =>
      new Promise<string>((resolve) => {
        const c = createConnection(path);
        let out = "";
        c.setEncoding("utf8");
        c.on("connect", () => {
          if (payload !== null) c.write(payload, () => {});
        });
        c.on("data", (d: string) => (out += d));
        c.on("error", () => {});
        c.on("close", () => resolve(out));
        setTimeout(() => {
          c.destroy();
          resolve(out);
        }, waitMs);
      });
    const silent = talk(null);
    const garbage = await talk("this is not json\n");
    expect(JSON.parse(garbage)).toMatchObject({ v: 1, ok: false, error: { code: "bad_request" } });
    expect(JSON.parse(await talk('{"v":9,"cmd":"status"}\n'))).toMatchObject({ ok: false, error: { code: "version" } });
    expect(JSON.parse(await talk('{"v":1,"cmd":"rm -rf"}\n'))).toMatchObject({
      ok: false,
      error: { code: "unknown_command" },
    });
    expect(JSON.parse(await talk('{"v":1,"cmd":"standby","group":["x"]}\n'))).toMatchObject({
      ok: false,
      error: { code: "bad_request" },
    });
    const huge = await talk(Buffer.alloc(10 * 1024 * 1024, "a"));
    expect(JSON.parse(huge.split("\n")[0]!)).toMatchObject({ ok: false, error: { code: "too_large" } });
    // while the silent one is still connected, status works; --events bounds the events in JSON too
    const two = await hb(1, ["status", "--json", "--events", "2"]);
    expect(two.code).toBe(0);
    expect(JSON.parse(two.stdout).events).toHaveLength(2);
    const many = await Promise.all(Array.from({ length: 100 }, () => talk('{"v":1,"cmd":"status"}\n', 15_000)));
    const answers = many.map((m) => JSON.parse(m.split("\n")[0]!));
    const served = answers.filter((x) => x.ok).length;
    const busy = answers.filter((x) => !x.ok && x.error.code === "busy").length;
    expect(served + busy).toBe(100);
    expect(served).toBeGreaterThanOrEqual(31); // 32 slots, one held by the silent client
    expect(JSON.parse(await silent)).toMatchObject({ ok: false, error: { code: "timeout" } });
    // nothing was lost: the peer never saw node1 late or dead, web never moved
    expect(b.matching(/peer node1: up -> (late|dead)/)).toEqual([]);
    expect(a.proc.exitCode).toBeNull();
    expect(await holders(lab)).toEqual([1]);
    expect((await report(1)).code).toBe(0);
  }, 60_000);
});
