/**
 * The daemon: wires the real parts together (native heartbeat links, the
 * resource runner, the monotonic clock, signals, the control socket, log
 * sinks, systemd, watchdogs, the legacy guard) around the Driver, the one loop
 * that owns the cluster state. Operator commands and reloads reach the state
 * only as events. What each part does lives in its own module; here is the
 * order they start and stop in.
 */

import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { EtcdClient } from "../arbiter/etcd.ts";
import { LeaseKeeper } from "../arbiter/keeper.ts";
import type { Arbiter } from "../arbiter/types.ts";
import { describeEvent, type MachineState } from "../cluster/machine.ts";
import { addressGuard } from "../cluster/ownership.ts";
import { heardOffset } from "../cluster/record.ts";
import { privateDir, writeAtomic } from "../config/files.ts";
import type { Config } from "../config/schema.ts";
import { History, historyPath } from "../control/history.ts";
import type { Response } from "../control/protocol.ts";
import { evaluate } from "../control/report.ts";
import { ControlServer } from "../control/server.ts";
import type { Status } from "../control/status.ts";
import { NativeLinks } from "../heartbeat/native.ts";
import { heartbeatSetup } from "../heartbeat/setup.ts";
import type { Links } from "../heartbeat/types.ts";
import type { LegacyGuard } from "../legacy/guard.ts";
import { EXIT } from "../log/exit.ts";
import { logger, setLogLevel } from "../log/log.ts";
import { LogSinks } from "../log/sinks.ts";
import { DgramSocket, errnoName, groupId, monotonicMs, shimInfo } from "../native/shim.ts";
import type { Watch } from "../resources/monitor.ts";
import { ResourceRunner } from "../resources/runner.ts";
import { type ControlContext, controlHandler } from "./control.ts";
import { type Clock, Driver } from "./driver.ts";
import { StartupError } from "./errors.ts";
import { nextGeneration } from "./generation.ts";
import { startHealth } from "./health.ts";
import { startHeapProbe } from "./heap-probe.ts";
import { startLegacyGuard } from "./legacy.ts";
import { machineConfig } from "./machine-config.ts";
import { startMetrics } from "./metrics.ts";
import { AuthWatch, buildStatus, GroupTracker, HeartbeatLog, reportDrops, summaryLine } from "./observer.ts";
import { loadFloors, SAVE_MS, saveFloors } from "./peers.ts";
import { type ReloadContext, reload } from "./reload.ts";
import { Signals } from "./signals.ts";
import { Notifier } from "./systemd.ts";
import { startWatchdogs } from "./watchdog.ts";

export { StartupError } from "./errors.ts";

/** The loop's clock: monotonic milliseconds (performance.now), with the platform's timers. */
const MONOTONIC: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as Timer),
};

export interface DaemonOptions {
  testHooks: boolean;
  /** read and validate the config file again (hb reload, SIGHUP); throws ConfigError */
  reread: () => Config;
}

type HistoryKind = Parameters<History["add"]>[0];

/** The parts that exist once the heartbeat runs. */
interface Running {
  links: NativeLinks;
  /** the etcd arbiter, when [quorum] arbiter = "etcd" */
  arbiter?: Arbiter;
  runner: ResourceRunner;
  hbLog: HeartbeatLog;
  tracker: GroupTracker;
  generation: bigint;
  guard?: LegacyGuard;
}

class Daemon implements ControlContext, ReloadContext {
  readonly log = logger("daemon");
  readonly history: History;
  readonly testHooks: boolean;
  driver?: Driver;
  commands = 0;
  private running?: Running;
  private readonly conflicts: Status["conflicts"] = [];
  private readonly signals: Signals;
  private readonly dgram = new DgramSocket(); // syslog and systemd notify
  private readonly sinks = new LogSinks((p, m) => this.dgram.send(p, m));
  private readonly notifier = new Notifier(process.env, (p, m) => this.dgram.send(p, m));
  private readonly startedAt = new Date();
  private readonly wallOffset = Date.now() - performance.now();
  private readonly lostAt = new Map<string, number>();
  /** What was last accepted from the peers, kept in state_dir (see peers.ts for when). */
  private saveSeen(): void {
    const links = this.running?.links;
    if (!links) return;
    try {
      saveFloors(this.config.paths.state_dir, links.seen());
    } catch (e) {
      this.log.warn(
        `cannot keep what was heard from the peers in ${this.config.paths.state_dir}: ${(e as Error).message}`,
      );
    }
  }

  /** frames were dropped (HB_EV_DROPS): log which and why */
  private onDrops?: () => void;
  private readonly timers: Timer[] = [];
  private readonly stops: (() => void)[] = [];
  private exit: (code: number) => void = () => {};
  private readonly done = new Promise<number>((resolve) => (this.exit = resolve));
  private stopping = false;
  private debug = false;
  private health?: Watch;
  private metrics?: { stop(): void };

  constructor(
    public config: Config,
    private readonly opts: DaemonOptions,
  ) {
    this.testHooks = opts.testHooks;
    // Signal handlers first: no signal may find its default action once we have announced ourselves.
    this.signals = new Signals(
      { stop: (sig) => this.onStop(sig), toggleDebug: () => this.toggleDebug() },
      logger("signal"),
    );
    this.sinks.apply(config.log);
    this.history = new History(historyPath(config.paths.state_dir), config.control.history);
  }

  record(kind: HistoryKind, text: string, cause = ""): void {
    this.history.add(kind, text, cause);
    if (this.history.lastError) this.log.warn(this.history.lastError);
  }

  status(): Status {
    const r = this.running;
    if (!r || !this.driver) throw new Error("starting");
    return buildStatus({
      version: pkg.version,
      config: this.config,
      cfg: this.driver.cfg,
      state: this.driver.state,
      startedAt: this.startedAt,
      generation: r.generation,
      hb: r.hbLog,
      nowMono: monotonicMs(),
      peerLinks: r.links.peerLinks(),
      counters: r.links.counters(),
      tracker: r.tracker,
      conflicts: this.conflicts,
      history: this.history,
      commands: this.commands,
      guard: r.guard,
      wall: (t) => new Date(this.wallOffset + t),
      monitors: (gi) => r.runner.monitorStatus(gi),
      lateness: r.links.lateness(),
      health: this.health?.status(),
      arbiter: r.arbiter?.status(),
    });
  }

  reload(why: string): Response {
    this.notifier.reloading();
    try {
      return reload(this, why);
    } finally {
      this.notifier.reloaded();
    }
  }

  reread(): Config {
    return this.opts.reread();
  }

  apply(next: Config): void {
    const r = this.running!;
    const metricsChanged = next.metrics.listen !== this.config.metrics.listen;
    const [t, cur] = [next.timing, this.config.timing];
    if (t.keepalive !== cur.keepalive || t.warntime !== cur.warntime || t.deadtime !== cur.deadtime)
      r.links.setTiming(t.keepalive, t.warntime, t.deadtime);
    this.config = next;
    setLogLevel(next.log.level);
    this.sinks.apply(next.log);
    this.history.resize(next.control.history);
    r.runner.reconfigure(next.groups, next.paths.script_dirs);
    this.driver!.reconfigure(machineConfig(next));
    this.restartHealth();
    if (metricsChanged) this.restartMetrics();
    if (next.timing.rt_priority !== cur.rt_priority) this.applyRealtime();
  }

  private onStop(sig: string): void {
    if (!this.driver) {
      this.exit(EXIT.OK); // not started yet: nothing to hand over
      return;
    }
    if (this.stopping) {
      this.log.warn(
        `${sig}: already stopping (groups are being handed over; kill -9 aborts, leaving the lease to remove the addresses)`,
      );
      return;
    }
    this.stopping = true;
    this.notifier.stopping();
    this.log.info(`${sig}: stopping; handing groups over`);
    this.driver.dispatch({ type: "shutdown", reason: sig });
  }

  private toggleDebug(): void {
    this.debug = !this.debug;
    setLogLevel(this.debug ? "debug" : this.config.log.level);
    this.log.warn(`SIGUSR2: debug logging ${this.debug ? "on" : `off (back to ${this.config.log.level})`}`);
  }

  private snapshot(): void {
    const st = this.status();
    this.log.info(`SIGUSR1: ${summaryLine(this.config, this.driver!.state)}; ${evaluate(st).summary}`);
    for (const g of st.groups)
      this.log.info(
        `SIGUSR1: group ${g.name}: here ${g.here}, held by ${g.holders.join(", ") || "nobody"} since ${g.since} (${g.reason})`,
      );
    for (const p of st.peers)
      this.log.info(
        `SIGUSR1: peer ${p.name}: ${p.state}${p.node_state ? ` (${p.node_state})` : ""}; links ${p.links.map((l) => `${l.name} ${l.state}`).join(", ")}`,
      );
  }

  /** The control group's id: the one configured, else "hb" if this host has it; undefined: root only. */
  private controlGroup(): number | undefined {
    const name = this.config.control.group;
    const gid = groupId(name ?? "hb");
    if (name && gid === undefined)
      this.log.error(`control.group: this host has no group ${name}: the control socket stays root only`);
    if (gid !== undefined)
      this.log.info(`control socket: members of group ${name ?? "hb"} may read status and history`);
    return gid;
  }

  async run(): Promise<number> {
    this.log.info(
      `hb ${pkg.version} starting: node ${this.config.cluster.node}, cluster ${this.config.cluster.name}, native shim via ${shimInfo().via}`,
    );
    // The control socket comes first: if another hb answers on it, this one must not beat as a second copy of the node.
    const server = await ControlServer.listen(
      this.config.control.socket,
      controlHandler(this),
      (m) => this.log.warn(m),
      this.controlGroup(),
    );
    try {
      await this.start();
      const code = await this.done;
      for (const stop of this.stops.splice(0).reverse()) stop();
      await this.closeArbiter();
      this.record("daemon", `hb stopped (exit ${code})`);
      this.log.info(`stopped (exit ${code})`);
      return code;
    } finally {
      // also when start-up fails half-way: nothing may keep the process alive or the socket bound
      for (const t of this.timers) clearInterval(t);
      this.running?.links.stop();
      this.running?.guard?.stop();
      server.close();
      this.sinks.close();
      this.dgram.close();
    }
  }

  /** At exit: the keys of released groups are deleted, then the lease revoked (bounded: etcd may be away). */
  private async closeArbiter(): Promise<void> {
    const a = this.running?.arbiter;
    if (!a || !this.driver) return;
    await this.driver.settled(1000);
    await Promise.race([a.close(), Bun.sleep(1000)]);
  }

  /** The heartbeat thread's own backstop for the rules that count peers (addressGuard): it removes the
   * addresses when a peer goes dead below them, should this loop be stalled just then. */
  private guardAddresses(leaseAlive: boolean): void {
    this.running?.links.vipGuard(addressGuard(this.driver?.cfg ?? machineConfig(this.config), leaseAlive));
  }

  private makeArbiter(clock: Clock): Arbiter | undefined {
    const etcd = this.config.quorum.etcd;
    if (!etcd) return undefined;
    const log = logger("arbiter");
    return new LeaseKeeper(new EtcdClient(etcd, etcd.ttl / 6), clock, {
      self: this.config.cluster.node,
      prefix: etcd.prefix,
      ttlMs: etcd.ttl,
      groups: () => (this.driver?.cfg ?? machineConfig(this.config)).groups.map((g) => g.name),
      log: (line, level) => log[level](line),
      // The heartbeat thread renews the addresses by itself. Should this thread stall while cut off
      // from etcd, it must not keep them until etcd may give the key to a peer: past a sixth of the
      // TTL before that, the heartbeat thread removes them. A healthy loop drops them itself at a third
      // before (the lease counts as lost), and then clears this deadline. From then on it keeps its
      // groups only while it hears every peer: the heartbeat thread, which judges that, removes the
      // addresses itself the moment a peer goes dead, should this thread stall then.
      onExpiry: (at) => {
        this.running?.links.vipDeadline(at === undefined ? null : at - etcd.ttl / 6 - clock.now());
        this.guardAddresses(at !== undefined);
      },
    });
  }

  private async start(): Promise<void> {
    const { links, generation, setup } = this.openHeartbeat();
    const hbLog = new HeartbeatLog(
      logger("heartbeat"),
      (kind, text) => this.record(kind, text, "heartbeat"),
      errnoName,
      (peer) => this.driver?.state.peers[peer]?.left === true,
    );
    this.running = {
      links,
      runner: this.makeRunner(links),
      hbLog,
      tracker: new GroupTracker(),
      generation,
      arbiter: this.makeArbiter(MONOTONIC),
    };
    this.guardAddresses(false); // the arbiter's lease is not alive until etcd has granted it
    this.driver = this.makeDriver(this.observe(links, hbLog), this.running);
    await this.driver.start();
    const standbyFile = join(this.config.paths.state_dir, "standby");
    if (existsSync(standbyFile)) {
      this.log.warn(
        `node ${this.config.cluster.node} stays in standby (set by hb standby before this start; hb takeover ends it)`,
      );
      this.driver.dispatch({ type: "standby", on: true });
    }
    const groups = this.config.groups.map((g) => g.name).join(", ");
    this.log.info(
      `heartbeat: ${setup.links.length} link(s) [${setup.links.join(", ")}], peers [${setup.peers.join(", ")}], generation ${generation}; groups [${groups}]; control socket ${this.config.control.socket}`,
    );
    this.signals.set({ reload: () => this.onHangup(), snapshot: () => this.snapshot() });
    this.startChores(links);
    this.applyRealtime();
    this.lockMemory();
    this.restartMetrics();
    this.stops.push(() => this.metrics?.stop());
    this.restartHealth();
    this.stops.push(() => this.health?.stop());
    // Stray signals and the legacy guard's sockets wake JS through the engine's epoll: no JS timer polls them.
    // The legacy guard: a live (authenticated) Heartbeat v1 node beside us keeps our groups away from its interfaces.
    const watch = (fd: number, poll: () => void) => links.wakeOn(fd, poll);
    if (this.signals.wakeFd >= 0) watch(this.signals.wakeFd, () => this.signals.poll());
    this.running.guard = startLegacyGuard(
      this.config,
      (text) => this.record("fault", text, "legacy guard"),
      (e) => this.driver!.dispatch(e),
      watch,
    );
    const w = startWatchdogs({
      device: this.config.watchdog.device,
      interval: this.config.watchdog.interval,
      systemdMs: this.notifier.watchdogMs,
      systemdPing: () => this.notifier.watchdog(),
      stuck: () => this.driver!.stuck(),
    });
    this.stops.push(() => w.stop());
  }

  /** What the heartbeat thread touches stays in RAM (a host short of memory pages out anything else first). */
  private lockMemory(): void {
    const n = this.running!.links.lockMemory();
    if (n >= 0)
      this.log.info(`heartbeat thread: ${Math.round(n / 1024)} kB locked in memory (its code, stack and state)`);
    else
      this.log.warn(
        `heartbeat thread: its memory cannot be locked (${errnoName(-n)}: RLIMIT_MEMLOCK or CAP_IPC_LOCK): under memory pressure a beat may wait for the disk`,
      );
  }

  /** The heartbeat thread's real-time priority (timing.rt_priority): applied, or the refusal said. */
  private applyRealtime(): void {
    const prio = this.config.timing.rt_priority;
    const rc = this.running!.links.realtime(prio);
    if (rc === 0) {
      if (prio) this.log.info(`heartbeat thread: real-time priority ${prio} (SCHED_FIFO)`);
      return;
    }
    this.log.warn(
      `heartbeat thread: real-time priority ${prio} refused (${errnoName(-rc)}: no CAP_SYS_NICE, or a container that forbids it): it runs at normal priority, where CPU load can delay a beat`,
    );
  }

  /** The metrics endpoint with the config in effect (again after a reload that changed it). */
  private restartMetrics(): void {
    this.metrics?.stop();
    this.metrics = startMetrics(
      this.config.metrics.listen,
      { status: () => this.status(), stuck: () => this.driver?.stuck() ?? false },
      logger("metrics"),
    );
  }

  /** The health check with the config in effect (again after a reload); a new check starts healthy. */
  private restartHealth(): void {
    this.health?.stop();
    if (this.health) this.driver!.dispatch({ type: "health", ok: true });
    this.health = startHealth(this.config.health, (e) => this.driver!.dispatch(e), logger("health"));
  }

  private onHangup(): void {
    this.sinks.reopen();
    this.log.info("SIGHUP: log file reopened; reloading the config");
    this.reload("SIGHUP");
  }

  /** state_dir, the boot generation, the replay floors of the last run, and the links. */
  private openHeartbeat() {
    const dir = this.config.paths.state_dir;
    try {
      privateDir(dir);
    } catch (e) {
      throw new StartupError(`state_dir: ${(e as Error).message}`, { cause: e });
    }
    const gen = nextGeneration(dir);
    if (gen.warning) this.log.warn(gen.warning);
    this.record("daemon", `hb ${pkg.version} started (pid ${process.pid}, generation ${gen.generation})`);
    const setup = heartbeatSetup(this.config, gen.generation, heardOffset(this.config.groups.length));
    // what an earlier run last accepted from each peer: frames from before this start stay replays
    const floors = loadFloors(dir, setup.peers, setup.links);
    if (floors.warning) this.log.warn(floors.warning);
    setup.spec.floors = floors.floors;
    const links = new NativeLinks(setup);
    this.running = { links } as Running; // stopped by run() even if the rest of start-up fails
    return { links, generation: gen.generation, setup };
  }

  private makeRunner(links: NativeLinks): ResourceRunner {
    const c = this.config;
    return new ResourceRunner({
      groups: c.groups,
      addresses: c.addresses,
      scriptDirs: c.paths.script_dirs,
      keeper: links,
      fence: c.fencing.method === "command" ? { command: c.fencing.command, timeout: c.fencing.timeout } : undefined,
      peerRecentlyLost: () =>
        [...this.lostAt.values()].some((t) => performance.now() - t < this.config.addresses.lease + 2000),
      onRepair: (text) => this.record("fault", text, "monitor"),
      onConflict: (address, iface, message) => {
        this.conflicts.push({ address, interface: iface, time: new Date().toISOString(), message });
        if (this.conflicts.length > 20) this.conflicts.shift();
        this.record("fault", message, "address probe");
      },
    });
  }

  /** The links as the driver sees them, with every event also logged and each lost peer's time kept. */
  private observe(nl: NativeLinks, hbLog: HeartbeatLog): Links {
    return {
      start: (onEvent) =>
        nl.start((e) => {
          // a dead peer's last frame is its newest: kept before anything else, so no crash can lose it
          if (e.type === "peer" && e.state === "dead") this.saveSeen();
          hbLog.onEvent(e);
          if (e.type === "drops") this.onDrops?.();
          if (e.type === "peer" && e.state === "dead") this.lostAt.set(e.peer, performance.now());
          // a second sender with a peer's id (a clone) may vanish any moment, leaving its addresses until their lease ends
          if (e.type === "duplicate" && e.peer) this.lostAt.set(e.peer, performance.now());
          onEvent(e);
        }),
      setRecord: (r) => nl.setRecord(r),
      sendControl: (d) => nl.sendControl(d),
      counters: () => nl.counters(),
      stop: () => nl.stop(),
    };
  }

  private makeDriver(links: Links, r: Running): Driver {
    const clock = MONOTONIC;
    const machineLog = logger("cluster");
    const standbyFile = join(this.config.paths.state_dir, "standby");
    let ready = false;
    const onStep = (e: Parameters<typeof describeEvent>[0], st: MachineState, lines: string[]) => {
      const cause = describeEvent(e, this.driver!.cfg);
      r.tracker.onStep(e, st, this.driver!.cfg, cause);
      for (const l of lines) this.record(l.startsWith("node ") ? "node" : "group", l, cause);
      if (ready) this.notifier.status(summaryLine(this.config, st));
      else if (st.phase !== "waiting") {
        ready = true;
        this.notifier.ready(summaryLine(this.config, st));
      }
    };
    const persist = (standby: boolean) => {
      try {
        if (standby) writeAtomic(standbyFile, `${new Date().toISOString()}\n`, 0o600);
        else rmSync(standbyFile, { force: true });
      } catch (e) {
        this.log.warn(`cannot remember standby in ${standbyFile}: ${(e as Error).message}`);
      }
    };
    return new Driver(
      machineConfig(this.config),
      links,
      r.runner,
      clock,
      {
        log: (line, level) => machineLog[level](line),
        exit: (code) => this.exit(code),
        onStep,
        persist,
      },
      r.arbiter,
    );
  }

  /**
   * What is kept on disk and told in the log while the daemon runs: replay floors (every SAVE_MS, the one
   * timer of an idle daemon: a crash must not lose more of them), drop counters and auth failures.
   */
  private startChores(nl: NativeLinks): void {
    this.timers.push(setInterval(() => this.saveSeen(), SAVE_MS));
    const probe = startHeapProbe(process.env);
    if (probe) this.timers.push(probe);
    this.stops.push(() => this.saveSeen());
    const dropLog = logger("heartbeat");
    const authWatch = new AuthWatch(
      dropLog,
      (text) => this.record("fault", text, "heartbeat"),
      () => performance.now(),
    );
    let counters = nl.counters();
    // the engine says when frames were dropped (at most every 2 s): no timer here
    this.onDrops = () => {
      const now = nl.counters();
      reportDrops(dropLog, counters, now);
      authWatch.check(nl.peerLinks());
      counters = now;
    };
  }
}

export function runDaemon(config: Config, opts: DaemonOptions): Promise<number> {
  return new Daemon(config, opts).run();
}
