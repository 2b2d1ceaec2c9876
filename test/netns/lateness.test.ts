/**
 * Load immunity, the parts that can be proved here (issue 16, parts 2 and 3): the heartbeat thread alone
 * runs at real-time priority (timing.rt_priority), changed live by a reload; and a beat sent late (the
 * daemon frozen with SIGSTOP for 200 ms, as a swapping or overloaded host would hold it) is measured by
 * the thread itself and shown in the log, hb status, hb report and the metrics; nodes frozen together
 * forgive each other's silence (the pause is their own), while a node frozen alone is seen dead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { ClusterFiles, configText, HB, HbProcess, startHb } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable, run } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/lateness.test.ts", why);

/** The scheduling policy (0 normal, 1 SCHED_FIFO) and real-time priority of a process's thread by name. */
function sched(pid: number, thread: string): { policy: number; prio: number } {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() !== thread) continue;
    // after "(comm)": field 3 is the state; rt_priority is field 40, policy 41
    const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return { prio: Number(f[37]), policy: Number(f[38]) };
  }
  throw new Error(`no thread ${thread} in ${pid}`);
}

describe.skipIf(Boolean(why))("the heartbeat thread under pressure", () => {
  let lab: Lab;
  let files: ClusterFiles;
  let a: HbProcess;
  let b: HbProcess;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    files = new ClusterFiles(
      configText({
        nodes: 2,
        links: ['kind = "udp"\ninterface = "eth0"'],
        timing: { keepalive: "50ms", warntime: "200ms", deadtime: "1s", initdead: "2s" },
      }),
    );
    a = startHb(lab, files, 1);
    b = startHb(lab, files, 2);
    await a.waitLine(/peer node2: \w+ -> up/, 10_000);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await lab?.destroy();
    files?.cleanup();
  });
  const hb = (args: string[]) => run([HB, ...args, "--socket", files.socket(1)]);

  test("the heartbeat thread alone runs SCHED_FIFO at rt_priority; a reload to 0 makes it normal again", async () => {
    await a.waitLine(/heartbeat thread: real-time priority 10 \(SCHED_FIFO\)/, 5000);
    expect(sched(a.proc.pid, "hb-engine")).toEqual({ policy: 1, prio: 10 });
    // and what it touches is locked in RAM: its code, stack and state, not the 100 MB executable
    const line = await a.waitLine(/heartbeat thread: (\d+) kB locked in memory \(its code, stack and state\)/, 5000);
    const vmlck = Number(/VmLck:\s+(\d+) kB/.exec(readFileSync(`/proc/${a.proc.pid}/status`, "utf8"))?.[1]);
    expect(vmlck).toBeGreaterThanOrEqual(512);
    expect(vmlck).toBeLessThan(8192);
    expect(Number(/(\d+) kB locked/.exec(line.text)?.[1])).toBe(vmlck);
    expect(sched(a.proc.pid, readFileSync(`/proc/${a.proc.pid}/comm`, "utf8").trim()).policy).toBe(0); // the JS thread
    const cfg = files.config(1);
    writeFileSync(cfg, readFileSync(cfg, "utf8").replace('initdead = "2s"', 'initdead = "2s"\nrt_priority = 0'), {
      mode: 0o600,
    });
    const r = await run([HB, "reload", "--config", cfg, "--node", "node1"]);
    expect(r.stdout).toContain("timing.rt_priority: 10 -> 0");
    expect(sched(a.proc.pid, "hb-engine")).toEqual({ policy: 0, prio: 0 });
  });

  test("a beat sent late is measured and said: log, status, report, metrics", async () => {
    const before = (
      JSON.parse((await hb(["status", "--json"])).stdout) as { node: { lateness: { late_beats: number } } }
    ).node.lateness.late_beats;
    expect(before).toBe(0);
    process.kill(a.proc.pid, "SIGSTOP");
    await Bun.sleep(200);
    process.kill(a.proc.pid, "SIGCONT");
    await a.waitLine(/heartbeat thread: a beat left \d+ ms late, over half the way from keepalive to warntime/, 5000);
    const s = JSON.parse((await hb(["status", "--json"])).stdout).node.lateness;
    expect(s.late_beats).toBeGreaterThanOrEqual(1);
    expect(s.worst_ms).toBeGreaterThanOrEqual(100);
    expect(s.warn_ms).toBe(75);
    expect((await hb(["status"])).stdout).toMatch(/LATE BEATS: \d+ beat\(s\) left over 75 ms late/);
    const rep = await hb(["report"]);
    expect(rep.stdout).toMatch(/beats leave late on node1: \d+ ms lately, where 75 ms is half the way to warntime/);
    const prom = `${files.dir}/m.prom`;
    await hb(["report", "--prometheus", prom]);
    expect(readFileSync(prom, "utf8")).toMatch(/hb_beats_late_total [1-9]/);
  });

  test("both nodes frozen together (one hypervisor, one overloaded host) do not call each other dead; one frozen alone is", async () => {
    const from = [a.lines.length, b.lines.length] as const;
    for (const p of [a, b]) process.kill(p.proc.pid, "SIGSTOP");
    await Bun.sleep(1500); // longer than deadtime (1 s)
    for (const p of [a, b]) process.kill(p.proc.pid, "SIGCONT");
    await Bun.sleep(1000);
    expect(a.matching(/-> dead/, from[0])).toEqual([]);
    expect(b.matching(/-> dead/, from[1])).toEqual([]);
    // one frozen alone: its peer, listening all along, sees it dead; on waking it finds the peer's beats
    // waiting in its socket (read before any verdict), so it holds nothing against the peer
    process.kill(a.proc.pid, "SIGSTOP");
    await b.waitLine(/peer node1: \w+ -> dead/, 5000, from[1]);
    process.kill(a.proc.pid, "SIGCONT");
    await b.waitLine(/peer node1: dead -> up/, 5000, from[1]);
    await Bun.sleep(500);
    expect(a.matching(/peer node2: \w+ -> dead/, from[0])).toEqual([]);
  });

  test("where real-time priority is refused (no CAP_SYS_NICE), hb says so and beats at normal priority", async () => {
    await b.stop();
    // root without CAP_SYS_NICE, as in a container that drops it
    const p = lab.spawn(lab.nodes[1]!, [
      "setpriv",
      "--bounding-set=-sys_nice",
      HB,
      "--config",
      files.config(2),
      "--node",
      "node2",
    ]);
    b = new HbProcess(p, "node2");
    await b.waitLine(
      /heartbeat thread: real-time priority 10 refused \(EPERM: no CAP_SYS_NICE, or a container that forbids it\)/,
      10_000,
    );
    await b.waitLine(/peer node1: \w+ -> up/, 10_000);
    expect(sched(p.pid, "hb-engine").policy).toBe(0);
  });
});
