/**
 * Resource monitoring against real processes in network namespaces (issue 17): a small TCP/HTTP service
 * started by an LSB script resource, killed on the active node: restarted in place (the client connects
 * again), killed again: failed over (the client connects to the peer); a monitor that hangs is killed
 * and counts; one that flaps around its threshold moves nothing; an address removed by hand comes back
 * and is announced to the client.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { VIP } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run, waitFor } from "../lib/netns.ts";
import { PORT, writeServiceScripts as writeScripts } from "../lib/service.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/monitor.test.ts", why);

describe.skipIf(Boolean(why))("resource monitoring", () => {
  let lab: Lab;
  let dir: string;
  let scripts: string;
  let files: ClusterFiles | undefined;
  let procs: HbProcess[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-mon-"));
    scripts = writeScripts(dir);
  });
  /** the services this suite started, by the pids their scripts wrote */
  const killServices = () => {
    for (const f of readdirSync(dir).filter((x) => x.startsWith("tcpd-") && x.endsWith(".pid"))) {
      try {
        process.kill(Number(readFileSync(join(dir, f), "utf8")), "SIGKILL");
      } catch {
        /* gone */
      }
      rmSync(join(dir, f), { force: true });
    }
  };
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
    killServices();
    files?.cleanup();
    files = undefined;
    rmSync(join(dir, "flap.count"), { force: true });
    for (const n of lab.nodes) rmSync(join(dir, `sick-${n}`), { force: true });
    for (const i of [1, 2]) await lab.exec(lab.nodes[i - 1]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
  });
  afterAll(async () => {
    killServices();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (group: string, extra = "") => {
    files = new ClusterFiles(
      `${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth0"'] })}
[[group]]
name = "web"
preferred = "node1"
${group}

[resources]
failure_hold = "1m"

[paths]
script_dirs = ["${scripts}"]
${extra}`,
    );
    procs = [startHb(lab, files, 1), startHb(lab, files, 2)];
    await procs[0]!.waitLine(/group web: starting -> running/, 10_000);
    return procs as [HbProcess, HbProcess];
  };
  const hb = (i: number, args: string[]) => run([HB, ...args, "--socket", files!.socket(i)], 20_000);
  const statusOf = async (i: number) => JSON.parse((await hb(i, ["status", "--json"])).stdout);
  /** what the client gets from the service at the floating address: the namespace that answered, or "" */
  const ask = async () =>
    (await lab.exec(lab.client!, ["socat", "-T", "1", "-u", `TCP:${VIP}:${PORT},connect-timeout=1`, "-"])).stdout;
  const servicePid = (node: number) => Number(readFileSync(join(dir, `tcpd-${lab.nodes[node - 1]}.pid`), "utf8"));
  const answers = (node: number) => async () => (await ask()).includes(lab.nodes[node - 1]!);

  const TCPD = (monitor: string) =>
    `resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "tcpd", monitor = { ${monitor} } }]`;

  test("a killed service is restarted in place: the address stays, the client connects again", async () => {
    const [a] = await start(`${TCPD('interval = "200ms", fall = 2, rise = 1')}\nmax_restarts = 2`);
    await waitFor("the client to reach node1's service", answers(1), 5000, 50);
    const before = servicePid(1);
    process.kill(before, "SIGKILL");
    const restart = await a.waitLine(
      /group web: running -> stopping \(script tcpd failed its monitor \(status exited 3: not running \(tcpd is not running\)\): restart 1 of 2 within 15m\)/,
      5000,
    );
    await a.waitLine(/group web: stopping -> starting \(restarting in place\)/, 5000, restart.index);
    await a.waitLine(/group web: starting -> running/, 5000, restart.index);
    await waitFor("the client to reach the restarted service", answers(1), 5000, 50);
    expect(servicePid(1)).not.toBe(before);
    // the address was never released: no stop of it, node2 never took the group
    expect(a.matching(/removed on eth0/)).toEqual([]);
    await waitFor(
      "the restarted service's monitor to pass",
      async () => (await statusOf(1)).groups[0].monitors[1].state === "ok",
      5000,
      50,
    );
    const s = await statusOf(1);
    expect(s.groups[0]).toMatchObject({
      here: "running",
      holders: ["node1"],
      on_fail: "restart",
      restarts: 1,
      restarts_left: 1,
    });
    const m = s.groups[0].monitors.find((x: { resource: string }) => x.resource === "script tcpd");
    expect(m).toMatchObject({ state: "ok", fall: 2, rise: 1 });
    expect(s.groups[0].monitors.map((x: { resource: string }) => x.resource)).toEqual([`ip ${VIP}/24`, "script tcpd"]);
    expect(s.events.some((e: { text: string }) => /restart 1 of 2/.test(e.text))).toBe(true);
    const table = (await hb(1, ["status"])).stdout;
    expect(table).toMatch(/\n {2}web +script tcpd +ok +passed /);
    expect(table).toContain("web restarted 1 time(s) in place, 1 left in the window");
    const prom = join(dir, "metrics.prom");
    await hb(1, ["report", "--prometheus", prom]);
    const metrics = readFileSync(prom, "utf8");
    expect(metrics).toContain('hb_monitor_up{group="web",resource="script tcpd"} 1');
    expect(metrics).toContain('hb_group_restarts{group="web"} 1');
  });

  test("killed again and again: after max_restarts the group fails over and the client reaches the peer", async () => {
    // probes instead of the LSB status: the service's own TCP port and HTTP answer
    const [a] = await start(
      `${TCPD(`enabled = false, tcp = "${VIP}:${PORT}", http = "http://${VIP}:${PORT}/", interval = "200ms", fall = 2, rise = 1`)}\nmax_restarts = 1`,
    );
    await waitFor("the client to reach node1's service", answers(1), 5000, 50);
    process.kill(servicePid(1), "SIGKILL");
    await a.waitLine(/restart 1 of 1 within 15m/, 5000);
    await waitFor("the restarted service", answers(1), 5000, 50);
    process.kill(servicePid(1), "SIGKILL");
    await a.waitLine(/1 restarts within 15m used up: failing over/, 5000);
    await waitFor("the client to reach node2's service", answers(2), 8000, 50);
    const s = await statusOf(1);
    expect(s.groups[0]).toMatchObject({ here: "failed", holders: ["node2"] });
    const rep = await hb(1, ["report"]);
    expect(rep.code).toBe(2);
    expect(rep.stdout).toMatch(
      /group web failed on node1: script tcpd failed its monitor \(.*\); 1 restarts within 15m used up: failing over/,
    );
  });

  test("a monitor that hangs is killed at its timeout (its whole process group) and counts as a failure", async () => {
    const hang = join(scripts, "hangcheck");
    const [a] = await start(
      `${TCPD(`enabled = false, command = ["${hang}"], interval = "100ms", timeout = "300ms", fall = 2`)}\non_fail = "failover"`,
    );
    await a.waitLine(/check failed \(1 of 2\): .*hangcheck timed out after 300 ms \(killed\)/, 5000);
    await a.waitLine(/on_fail = failover: failing over/, 5000);
    await waitFor("the client to reach node2's service", answers(2), 8000, 50);
    const pids = readFileSync(join(dir, "hang.pids"), "utf8").trim().split("\n").map(Number);
    await waitFor("every hung check to be gone", () => pids.every((p) => !existsSync(`/proc/${p}`)), 5000, 50);
  });

  test("a monitor that flaps around its threshold moves nothing and restarts nothing", async () => {
    const flap = join(scripts, "flapcheck");
    const [a] = await start(
      `${TCPD(`enabled = false, command = ["${flap}"], interval = "100ms", fall = 2, rise = 2`)}`,
    );
    await waitFor("ten checks", () => Number(readFileSync(join(dir, "flap.count"), "utf8")) >= 12, 10_000, 100);
    const s = await statusOf(1);
    expect(s.groups[0]).toMatchObject({ here: "running", restarts: 0 });
    const m = s.groups[0].monitors[1];
    expect(m.failed_checks).toBeGreaterThanOrEqual(4);
    expect(["ok", "failing"]).toContain(m.state);
    expect(a.matching(/failed its monitor/)).toEqual([]);
    expect(
      a.matching(/check failed \(1 of 2\): .*flapcheck exited 1: failed \(flap: failing this time\)/).length,
    ).toBeGreaterThan(0);
  });

  test("an address removed by hand comes back at once and is announced to the client", async () => {
    // no lease: nothing but the monitor puts the address back
    const [a] = await start(
      `resources = [{ ip = "${VIP}/24", interface = "eth0", monitor = { interval = "200ms" } }]`,
      '\n[addresses]\nlease = "0s"\n',
    );
    const mac1 = Lab.nodeMac(1);
    // the client believes the address lives elsewhere
    await lab.exec(lab.client!, [
      "ip",
      "neigh",
      "replace",
      VIP,
      "lladdr",
      "02:00:00:00:99:99",
      "dev",
      "eth0",
      "nud",
      "stale",
    ]);
    await lab.exec(lab.nodes[0]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
    await a.waitLine(/was removed from eth0 by another program: added back and announced/, 5000);
    const has = await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"]);
    expect(has.stdout).toContain(`inet ${VIP}/24`);
    await waitFor(
      "the client's neighbour entry to name node1",
      async () => (await lab.exec(lab.client!, ["ip", "neigh", "show", VIP, "dev", "eth0"])).stdout.includes(mac1),
      3000,
      50,
    );
    const s = await statusOf(1);
    expect(s.events.some((e: { kind: string; text: string }) => e.kind === "fault" && /added back/.test(e.text))).toBe(
      true,
    );
  });

  test("node health: a failing health check lowers the score and the group moves to the healthy peer", async () => {
    const check = join(scripts, "healthcheck");
    const [a] = await start(
      `resources = [{ ip = "${VIP}/24", interface = "eth0" }, { script = "tcpd" }]`,
      `\n[health]\ncommand = ["${check}"]\ninterval = "100ms"\nfall = 2\nrise = 2\npenalty = 40\n`,
    );
    await waitFor("the client to reach node1's service", answers(1), 5000, 50);
    writeFileSync(join(dir, `sick-${lab.nodes[0]}`), "");
    await a.waitLine(
      /health check failed \(.*healthcheck exited 1: failed \(disk on fire\)\): score lowered by 40 to 60/,
      5000,
    );
    await waitFor("the client to reach node2's service", answers(2), 8000, 50);
    const s = await statusOf(1);
    expect(s.node.health).toMatchObject({ resource: "health", state: "failed" });
    expect(s.node.score).toBe(100);
    const rep = await hb(1, ["report"]);
    expect(rep.stdout).toMatch(/health check of node1 failed \(score lowered\): .*disk on fire/);
    expect((await statusOf(2)).peers[0].score).toBe(60);
  });
});
