/**
 * make bench (failover part): N trials (BENCH_TRIALS, default 5) of pull the plug, kill -9,
 * graceful stop and failback, for hb and for keepalived (Debian's, VRRPv3, advert interval =
 * keepalive), at keepalive 50 ms / deadtime 150 ms and 1 s / 3 s. A client pings the VIP every
 * 10 ms. Figures: client outage, detection (cut -> the survivor acts, as its log line arrives),
 * and for hb decision -> first gratuitous ARP (from its own log timestamps).
 * Targets (issue 4): outage <= detection + 30 ms; planned moves <= 30 ms; decision -> GARP <= 5 ms.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HbProcess } from "../lib/cluster.ts";
import { ClusterFiles, failoverConfig, holders, Lab, Pinger, startHb, VIP, writeScripts } from "../lib/failover.ts";
import { waitFor } from "../lib/netns.ts";

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
type Scenario = "pull the plug" | "kill -9" | "graceful stop" | "failback";
const SCENARIOS: Scenario[] = ["pull the plug", "kill -9", "graceful stop", "failback"];

interface Sample {
  outage: number;
  detection?: number;
  garp?: number;
  leftover?: boolean;
}
export type FailoverResults = Record<string, Record<string, Sample[]>>; // impl@timing -> scenario -> samples

/** A daemon implementation under test: how to start it on node i, and what its "I took over" line is. */
interface Impl {
  name: string;
  start(i: number): HbProcess;
  /** kill -9 every process of the daemon on node i */
  killHard(i: number, p: HbProcess): void;
  tookOver: RegExp;
  cleanup(): void;
}

function hbImpl(
  lab: Lab,
  timing: { keepalive: string; warntime: string; deadtime: string; initdead: string },
  dir: string,
): Impl {
  const files = new ClusterFiles(failoverConfig(writeScripts(dir), { timing }));
  return {
    name: "hb",
    start: (i) => startHb(lab, files, i),
    killHard: (_i, p) => p.proc.kill("SIGKILL"),
    tookOver: /peer node1: (up|late) -> dead|node1 released it/,
    cleanup: () => files.cleanup(),
  };
}

function keepalivedImpl(lab: Lab, advertS: number, dir: string): Impl {
  return {
    name: "keepalived",
    start(i) {
      const d = join(dir, `ka${i}`);
      mkdirSync(d, { recursive: true });
      const conf = join(d, "keepalived.conf");
      writeFileSync(
        conf,
        `global_defs {\n  router_id node${i}\n  vrrp_version 3\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 3\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority ${i === 1 ? 150 : 100}\n  advert_int ${advertS}\n  virtual_ipaddress {\n    ${VIP}/24 dev eth0\n  }\n}\n`,
      );
      const p = lab.spawn(lab.nodes[i - 1]!, [
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-G",
        "-P",
        "-f",
        conf,
        "-p",
        join(d, "k.pid"),
        "-r",
        join(d, "v.pid"),
      ]);
      return new HbProcess(p, `keepalived${i}`);
    },
    killHard(i, p) {
      // keepalived -P runs VRRP in a child process: kill -9 it too, or it exits gracefully
      try {
        process.kill(Number(require("node:fs").readFileSync(join(dir, `ka${i}`, "v.pid"), "utf8")), "SIGKILL");
      } catch {
        /* gone */
      }
      p.proc.kill("SIGKILL");
    },
    tookOver: /Entering MASTER STATE/,
    cleanup: () => {},
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function trials(lab: Lab, impl: Impl, deadMs: number): Promise<Record<Scenario, Sample[]>> {
  const out = Object.fromEntries(SCENARIOS.map((s) => [s, [] as Sample[]])) as Record<Scenario, Sample[]>;
  const settle = Math.max(1500, deadMs * 3);
  let n1 = impl.start(1);
  const n2 = impl.start(2);
  const converged = async (node: number, ms = 15_000) =>
    waitFor(`node${node} alone holds the VIP`, async () => JSON.stringify(await holders(lab)) === `[${node}]`, ms, 20);
  await converged(1);
  const pinger = new Pinger(lab);
  try {
    await waitFor("pings", () => pinger.count > 20, 5000, 20);
    for (let t = 0; t < TRIALS; t++) {
      // pull the plug of node1, then plug it back (a healed partition: exactly one keeps it)
      await Bun.sleep(300);
      let from = pinger.count;
      let mark = n2.lines.length;
      let t0 = performance.now();
      await lab.plug(1, false);
      let took = await n2.waitLine(impl.tookOver, 15_000, mark);
      await waitFor("served again", () => pinger.count > from + 30, 15_000, 10);
      out["pull the plug"].push({
        outage: pinger.outage(from),
        detection: took.t - t0,
        garp: garpLatency(impl, n2, mark),
      });
      await lab.plug(1, true);
      await converged(1);
      await Bun.sleep(settle);

      // kill -9 of node1's daemon: who answers, and is the VIP left behind after the lease?
      from = pinger.count;
      mark = n2.lines.length;
      t0 = performance.now();
      impl.killHard(1, n1);
      took = await n2.waitLine(impl.tookOver, 15_000, mark);
      await Bun.sleep(4500); // past hb's 3 s lease
      out["kill -9"].push({
        outage: pinger.outage(from),
        detection: took.t - t0,
        garp: garpLatency(impl, n2, mark),
        leftover: (await holders(lab)).includes(1),
      });
      await lab.exec(lab.nodes[0]!, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
      n1 = impl.start(1);
      await converged(1);
      await Bun.sleep(settle);

      // graceful stop of node1, then its return (failback)
      from = pinger.count;
      mark = n2.lines.length;
      t0 = performance.now();
      n1.proc.kill("SIGTERM");
      await Promise.race([n1.proc.exited, Bun.sleep(10_000)]);
      await converged(2);
      await waitFor("served again", () => pinger.count > from + 30, 15_000, 10);
      out["graceful stop"].push({ outage: pinger.outage(from), garp: garpLatency(impl, n2, mark) });
      await Bun.sleep(settle);
      from = pinger.count;
      n1 = impl.start(1);
      const mark1 = n1.lines.length;
      await converged(1);
      await waitFor("served again", () => pinger.count > from + 30, 15_000, 10);
      out.failback.push({ outage: pinger.outage(from), garp: garpLatency(impl, n1, mark1) });
      await Bun.sleep(settle);
    }
  } finally {
    pinger.stop();
    await Promise.all([n1.stop(), n2.stop()]);
    for (const ns of lab.nodes) await lab.exec(ns, ["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
  }
  return out;
}

/** hb only: ms from the decision to start (log) to the first gratuitous ARP (log), by hb's own clock. */
function garpLatency(impl: Impl, p: HbProcess, from: number): number | undefined {
  if (impl.name !== "hb") return undefined;
  const lines = p.lines.slice(from).map((l) => l.text);
  const decided = lines.find((l) => /group web: (stopped|failed) -> starting/.test(l));
  const announced = lines.find((l) => /added on .* announced/.test(l));
  if (!decided || !announced) return undefined;
  return Date.parse(announced.slice(0, 24)) - Date.parse(decided.slice(0, 24));
}

export async function benchFailover(): Promise<FailoverResults> {
  const results: FailoverResults = {};
  const haveKeepalived = Bun.spawnSync(["sh", "-c", "command -v keepalived"]).exitCode === 0;
  for (const [ka, warn, dead, initdead, adv] of [
    ["50ms", "100ms", "150ms", "2s", 0.05],
    ["1s", "2s", "3s", "6s", 1],
  ] as const) {
    for (const kind of ["hb", ...(haveKeepalived ? ["keepalived"] : [])]) {
      const lab = await Lab.create({ nodes: 2, client: true });
      const dir = mkdtempSync(join(tmpdir(), "hb-bench-"));
      const impl =
        kind === "hb"
          ? hbImpl(lab, { keepalive: ka, warntime: warn, deadtime: dead, initdead }, dir)
          : keepalivedImpl(lab, adv, dir);
      try {
        results[`${kind}@${ka}`] = await trials(
          lab,
          impl,
          Number(dead.replace(/ms|s/, "")) * (dead.endsWith("ms") ? 1 : 1000),
        );
      } catch (e) {
        console.error(`${kind} at ${ka}: ${(e as Error).message.split("\n")[0]}`);
      } finally {
        impl.cleanup();
        await lab.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return results;
}

export function printFailover(r: FailoverResults): void {
  console.log(`\nfailover, ${TRIALS} trials each, client pinging every 10 ms (median / min / max, ms)`);
  console.log(
    "implementation     scenario        client outage          detection   decision->GARP   VIP left on killed node",
  );
  const fmt = (xs: number[]) =>
    xs.length
      ? `${median(xs).toFixed(0).padStart(5)} / ${Math.min(...xs)
          .toFixed(0)
          .padStart(4)} / ${Math.max(...xs)
          .toFixed(0)
          .padStart(5)}`
      : "      -        ";
  for (const [impl, scen] of Object.entries(r))
    for (const [name, samples] of Object.entries(scen)) {
      const det = samples.flatMap((s) => (s.detection === undefined ? [] : [s.detection]));
      const garp = samples.flatMap((s) => (s.garp === undefined ? [] : [s.garp]));
      const left = samples.filter((s) => s.leftover !== undefined);
      console.log(
        `${impl.padEnd(18)} ${name.padEnd(15)} ${fmt(samples.map((s) => s.outage))}   ${det.length ? median(det).toFixed(0).padStart(8) : "       -"}   ${garp.length ? median(garp).toFixed(1).padStart(13) : "            -"}   ${left.length ? `${left.filter((s) => s.leftover).length} of ${left.length}` : "-"}`,
      );
    }
  console.log(
    "note: after kill -9 the killed node's kernel still answers pings until the survivor's gratuitous ARP moves the client, so ICMP outage is near zero; what matters is whether the address is left behind (a duplicate).",
  );
}

if (import.meta.main) printFailover(await benchFailover());
