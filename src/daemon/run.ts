/**
 * The daemon: wires the real parts together (native heartbeat links, the
 * resource runner, the monotonic clock, signals) around the Driver, the one
 * loop that owns the cluster state, and logs what the heartbeat reports.
 */
import type { Config } from "../config/schema.ts";
import { logger } from "../log/log.ts";
import { shimInfo, errnoName, monotonicMs } from "../native/shim.ts";
import { EXIT } from "../cli/exit.ts";
import { nextGeneration } from "./generation.ts";
import { heartbeatSetup } from "../heartbeat/setup.ts";
import { NativeLinks } from "../heartbeat/native.ts";
import type { MachineConfig } from "../cluster/machine.ts";
import { resourceName, ResourceRunner } from "../resources/runner.ts";
import { Driver, type Clock } from "./driver.ts";
import type { HeartbeatEvent, LinkCounters, Links, Liveness } from "../heartbeat/types.ts";

/** The native links, with every event also logged and peer deaths remembered (for the VIP probe). */
function observed(links: NativeLinks, hbLog: HeartbeatLog, lostAt: Map<string, number>): Links {
  return {
    start: (onEvent) =>
      links.start((e) => {
        hbLog.onEvent(e);
        if (e.type === "peer" && e.state === "dead") lostAt.set(e.peer, performance.now());
        onEvent(e);
      }),
    setRecord: (r) => links.setRecord(r),
    sendControl: (d) => links.sendControl(d),
    counters: () => links.counters(),
    stop: () => links.stop(),
  };
}

export interface DaemonOptions {
  testHooks: boolean;
}

const ms = (x: number) => `${Math.round(x)} ms`;

/** Log what the heartbeat reports, as old -> new with the reason. */
export class HeartbeatLog {
  private readonly peers = new Map<string, Liveness>();
  private readonly links = new Map<string, Liveness>();
  private readonly log = logger("heartbeat");

  onEvent(e: HeartbeatEvent): void {
    switch (e.type) {
      case "peer": {
        const old = this.peers.get(e.peer) ?? "unknown";
        this.peers.set(e.peer, e.state);
        const why =
          e.state === "up" ? (old === "unknown" ? "first heartbeat" : `heard again after ${ms(e.gapMs)}`) :
          e.state === "late" ? `silent ${ms(e.gapMs)} on every link` :
          old === "unknown" ? `not heard within initdead (${ms(e.gapMs)})` : `silent ${ms(e.gapMs)} on every link`;
        const line = `peer ${e.peer}: ${old} -> ${e.state} (${why})`;
        if (e.state === "up") this.log.info(line);
        else this.log.warn(line);
        break;
      }
      case "link": {
        const key = `${e.link}/${e.peer}`;
        const old = this.links.get(key) ?? "unknown";
        this.links.set(key, e.state);
        const why = e.state === "up" ? (old === "unknown" ? "first heartbeat" : `heard again after ${ms(e.gapMs)}`) : `silent ${ms(e.gapMs)}`;
        const line = `link ${e.link} to ${e.peer}: ${old} -> ${e.state} (${why})`;
        if (e.state === "up") this.log.info(line);
        else this.log.warn(line);
        break;
      }
      case "local":
        if (e.up) this.log.info(`link ${e.link}: sending works again`);
        else this.log.error(`link ${e.link}: marked down locally: sending fails (${errnoName(e.errno)})`);
        break;
      case "carrier":
        (e.up ? this.log.info : this.log.warn)(`link ${e.link}: carrier ${e.up ? "up" : "lost"}`);
        break;
      case "record":
      case "control":
        this.log.debug(`${e.type} from ${e.peer}: ${Buffer.from(e.type === "record" ? e.record : e.data).toString("hex")}`);
        break;
      case "overflow":
        this.log.warn(`heartbeat event queue overflowed: ${e.lost} events lost`);
        break;
      case "stopped":
        if (e.errno) this.log.error(`heartbeat thread stopped: ${errnoName(e.errno)}`);
        break;
    }
  }
}

/** Log increases of the drop counters, at most once per link per call. */
export function reportDrops(log: ReturnType<typeof logger>, before: Record<string, LinkCounters>, now: Record<string, LinkCounters>): void {
  for (const [link, c] of Object.entries(now)) {
    const prev = before[link];
    const parts = Object.entries(c.drops)
      .map(([reason, n]) => [reason, n - (prev?.drops[reason as keyof LinkCounters["drops"]] ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .map(([reason, d]) => `${reason} ${d}`);
    if (parts.length) log.warn(`link ${link}: dropped frames: ${parts.join(", ")}`);
  }
}

export function machineConfig(config: Config): MachineConfig {
  return {
    self: config.cluster.node,
    nodes: config.nodes,
    groups: config.groups.map((g) => ({ name: g.name, preferred: g.preferred, resources: g.resources.map(resourceName) })),
    autoFailback: config.cluster.auto_failback,
    initdead: config.timing.initdead,
    failureHold: config.resources.failure_hold,
    stopRetries: config.resources.stop_retries,
    stopPolicy: config.resources.stop_policy,
  };
}

export async function runDaemon(config: Config, opts: DaemonOptions): Promise<number> {
  const log = logger("daemon");
  let exited: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (exited = resolve));
  let driver: Driver | undefined;
  let stopping = false;
  // Signal handlers first: a SIGTERM must never find the default action once we have announced ourselves.
  const onSignal = (sig: string) => {
    if (!driver) return exited(EXIT.OK); // not started yet: nothing to hand over
    if (stopping) {
      log.warn(`${sig}: already stopping (groups are being handed over; kill -9 aborts, leaving the lease to remove the addresses)`);
      return;
    }
    stopping = true;
    log.info(`${sig}: stopping; handing groups over`);
    driver.dispatch({ type: "shutdown", reason: sig });
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => onSignal(sig));
  const s = shimInfo();
  log.info(`hb starting: node ${config.cluster.node}, cluster ${config.cluster.name}, native shim via ${s.via}`);

  const gen = nextGeneration(config.paths.state_dir);
  if (gen.warning) log.warn(gen.warning);
  const setup = heartbeatSetup(config, gen.generation);
  const links = new NativeLinks(setup);
  const hbLog = new HeartbeatLog();
  const lostAt = new Map<string, number>();
  const runner = new ResourceRunner({
    groups: config.groups,
    addresses: config.addresses,
    scriptDirs: config.paths.script_dirs,
    keeper: links,
    peerRecentlyLost: () => [...lostAt.values()].some((t) => performance.now() - t < config.addresses.lease + 2000),
  });
  const clock: Clock = { now: () => performance.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as Timer) };
  const machineLog = logger("cluster");
  driver = new Driver(machineConfig(config), observed(links, hbLog, lostAt), runner, clock, {
    log: (line, level) => machineLog[level](line),
    exit: (code) => exited(code),
  });
  await driver.start();
  log.info(`heartbeat: ${setup.links.length} link(s) [${setup.links.join(", ")}], peers [${setup.peers.join(", ")}], generation ${gen.generation}; groups [${config.groups.map((g) => g.name).join(", ")}]`);

  const dropLog = logger("heartbeat");
  let counters = links.counters();
  const dropTimer = setInterval(() => {
    const now = links.counters();
    reportDrops(dropLog, counters, now);
    counters = now;
  }, 2000);

  if (opts.testHooks) {
    // test only: block the JS thread for 2 s on SIGUSR2, to prove the heartbeat does not depend on it
    process.on("SIGUSR2", () => {
      log.warn("test hook: blocking the JS thread for 2000 ms");
      const until = monotonicMs() + 2000;
      while (monotonicMs() < until) { /* busy */ }
      log.warn("test hook: JS thread free again");
    });
  }

  const code = await done;
  clearInterval(dropTimer);
  links.stop();
  log.info(`stopped (exit ${code})`);
  return code;
}
