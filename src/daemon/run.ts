/**
 * The daemon: wires the real parts together (native heartbeat links, the
 * resource runner, the monotonic clock, signals, the control socket, log
 * sinks, systemd) around the Driver, the one loop that owns the cluster state.
 * Operator commands and reloads reach the state only as events.
 */
import { closeSync, existsSync, openSync, rmSync, writeSync } from "node:fs";
import { privateDir, writeAtomic } from "../config/files.ts";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../config/errors.ts";
import { logger, setLogLevel, setSinks, type Sink } from "../log/log.ts";
import { FileSink, SyslogSink } from "../log/sinks.ts";
import { shimInfo, errnoName, monotonicMs, DgramSocket } from "../native/shim.ts";
import type { LegacyGuard } from "../legacy/guard.ts";
import { startLegacyGuard } from "./legacy.ts";
import { EXIT } from "../log/exit.ts";
import { nextGeneration } from "./generation.ts";
import { heartbeatSetup } from "../heartbeat/setup.ts";
import { NativeLinks } from "../heartbeat/native.ts";
import type { MachineConfig, MachineState } from "../cluster/machine.ts";
import { HEARD_OFFSET } from "../cluster/record.ts";
import { ResourceRunner } from "../resources/runner.ts";
import { resourceName } from "../resources/types.ts";
import { Driver, type Clock } from "./driver.ts";
import type { Links } from "../heartbeat/types.ts";
import { History } from "../control/history.ts";
import { ControlServer } from "../control/server.ts";
import { fail, success, type Request, type Response } from "../control/protocol.ts";
import type { Status } from "../control/status.ts";
import { AuthWatch, buildStatus, describeEvent, GroupTracker, HeartbeatLog, holdersOf, reportDrops } from "./observer.ts";
import { planReload } from "./reload.ts";
import { Notifier } from "./systemd.ts";
import { Signals } from "./signals.ts";
import { loadFloors, saveFloors, SAVE_MS } from "./peers.ts";
import { evaluate } from "../control/report.ts";

export interface DaemonOptions {
  testHooks: boolean;
  /** read and validate the config file again (hb reload, SIGHUP); throws ConfigError */
  reread: () => Config;
}

/** Start-up cannot go on (printed as one line by the CLI). */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** A watchdog device: opening arms it; every write is a keep-alive; "V" then close disarms it. */
function openWatchdog(device: string): { kick(): void; disarm(): void } {
  let fd: number;
  try {
    fd = openSync(device, "w");
  } catch (e) {
    throw new StartupError(`cannot open the watchdog ${device}: ${(e as Error).message} (load softdog, or remove watchdog.device)`, { cause: e });
  }
  const log = logger("watchdog");
  let told = false;
  return {
    kick() {
      try {
        writeSync(fd, "\0");
        told = false;
      } catch (e) {
        if (!told) log.error(`cannot write to ${device}: ${(e as Error).message}`);
        told = true;
      }
    },
    disarm() {
      try {
        writeSync(fd, "V");
        closeSync(fd);
      } catch (e) {
        log.error(`cannot disarm ${device}: ${(e as Error).message}`);
      }
    },
  };
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
    groupInterfaces: config.groups.map((g) => [...new Set(g.resources.flatMap((r) => (r.kind === "ip" ? [r.interface] : [])))]),
    uplink: config.uplink.targets.length > 0,
    scoreHold: config.uplink.hold_down,
    requireUplink: config.uplink.require,
    fencing: config.fencing.method === "command",
    fenceBackoff: config.fencing.backoff,
    // a peer's first beats after it comes up predate its hearing us: its "heard" set counts after this
    deafGrace: Math.max(config.timing.warntime, 2 * config.timing.keepalive),
    // heartbeats on that interface need up to deadtime to be heard again after its carrier returns
    carrierGrace: config.timing.deadtime,
  };
}

/** The log sinks a config asks for (log.file, log.facility). */
class Sinks {
  file?: FileSink;
  syslog?: SyslogSink;
  constructor(private readonly dgram: DgramSocket) {}
  apply(log: Config["log"]): void {
    if (this.file?.path !== log.file) {
      this.file?.close();
      this.file = log.file ? new FileSink(log.file) : undefined;
    }
    this.syslog = log.facility ? new SyslogSink(log.facility, log.syslog_socket, (p, m) => this.dgram.send(p, m)) : undefined;
    const list: Sink[] = [];
    if (this.file) list.push(this.file.sink);
    if (this.syslog) list.push(this.syslog.sink);
    setSinks(list);
  }
  reopen(): void {
    this.file?.reopen();
  }
  close(): void {
    setSinks([]);
    this.file?.close();
  }
}

/** One line for systemd's STATUS= and the logs. */
function summaryLine(config: Config, s: MachineState): string {
  const here = config.groups.filter((_, i) => holdersOf(s, config.cluster.node, i).includes(config.cluster.node)).map((g) => g.name);
  const peers = Object.entries(s.peers).map(([n, p]) => `${n} ${p.liveness}`).join(", ");
  return `${s.phase}; ${here.length ? `running ${here.join(", ")}` : "running no group"}; peers: ${peers || "none"}`;
}

export async function runDaemon(initial: Config, opts: DaemonOptions): Promise<number> {
  let config = initial;
  const log = logger("daemon");
  let exited: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (exited = resolve));
  let driver: Driver | undefined;
  let stopping = false;
  // Signal handlers first: no signal may find its default action once we have announced ourselves.
  const onStop = (sig: string) => {
    if (!driver) return exited(EXIT.OK); // not started yet: nothing to hand over
    if (stopping) {
      log.warn(`${sig}: already stopping (groups are being handed over; kill -9 aborts, leaving the lease to remove the addresses)`);
      return;
    }
    stopping = true;
    notifier.stopping();
    log.info(`${sig}: stopping; handing groups over`);
    driver.dispatch({ type: "shutdown", reason: sig });
  };
  let debug = false;
  const signals = new Signals(
    {
      stop: onStop,
      toggleDebug: () => {
        debug = !debug;
        setLogLevel(debug ? "debug" : config.log.level);
        log.warn(`SIGUSR2: debug logging ${debug ? "on" : `off (back to ${config.log.level})`}`);
      },
    },
    logger("signal"),
  );
  const strayTimer = setInterval(() => signals.poll(), 1000);

  const dgram = new DgramSocket(); // syslog and systemd notify
  const sinks = new Sinks(dgram);
  sinks.apply(config.log);
  const notifier = new Notifier(process.env, (p, m) => dgram.send(p, m));
  const startedAt = new Date();
  const history = new History(join(config.paths.state_dir, "history.jsonl"), config.control.history);
  const record = (kind: Parameters<History["add"]>[0], text: string, cause = "") => {
    history.add(kind, text, cause);
    if (history.lastError) log.warn(history.lastError);
  };
  const s = shimInfo();
  log.info(`hb ${pkg.version} starting: node ${config.cluster.node}, cluster ${config.cluster.name}, native shim via ${s.via}`);

  // The control socket comes first: if another hb answers on it, this one must not beat as a second copy of the node.
  let status: () => Status = () => {
    throw new Error("starting");
  };
  let commands = 0;
  let reload: (why: string) => Response = () => fail("refused", "the daemon is still starting");
  const conflicts: Status["conflicts"] = [];
  const handle = async (req: Request): Promise<Response> => {
    if (!driver) return fail("refused", "the daemon is still starting");
    switch (req.cmd) {
      case "status":
        return success(status());
      case "history":
        return success(history.recent(req.limit ?? config.control.history));
      case "reload":
        return reload("hb reload");
      case "test-block": {
        // test only (HB_TEST_HOOKS=1): block the JS thread, to prove the heartbeat does not depend on it
        if (!opts.testHooks) return fail("unknown_command", `unknown command "test-block"`);
        log.warn(`test hook: blocking the JS thread for ${req.ms} ms`);
        const until = monotonicMs() + req.ms;
        while (monotonicMs() < until) { /* busy */ }
        log.warn("test hook: JS thread free again");
        return success({});
      }
      case "standby":
      case "takeover":
      case "clear": {
        const gi = config.groups.findIndex((g) => g.name === req.group);
        if (req.group !== "all" && gi < 0) return fail("refused", `no group "${req.group}" (groups: ${config.groups.map((g) => g.name).join(", ") || "none"})`);
        commands++;
        const r = await driver.command({ cmd: req.cmd, group: req.group === "all" ? "all" : gi, force: "force" in req ? req.force : undefined });
        const line = `hb ${req.cmd} ${req.group}${"force" in req && req.force ? " --force" : ""}: ${r.ok ? "" : "refused: "}${r.message.replace(/^refused: /, "")}`;
        (r.ok ? log.info : log.warn)(line);
        record("command", line, "control socket");
        return r.ok ? success({ message: r.message }) : fail("refused", r.message.replace(/^refused: /, ""));
      }
    }
  };
  const server = await ControlServer.listen(config.control.socket, handle, (m) => log.warn(m));
  let links: NativeLinks | undefined;
  let guard: LegacyGuard | undefined;
  try {
    try {
      privateDir(config.paths.state_dir);
    } catch (e) {
      throw new StartupError(`state_dir: ${(e as Error).message}`, { cause: e });
    }
    const gen = nextGeneration(config.paths.state_dir);
    if (gen.warning) log.warn(gen.warning);
    record("daemon", `hb ${pkg.version} started (pid ${process.pid}, generation ${gen.generation})`);
    const setup = heartbeatSetup(config, gen.generation, HEARD_OFFSET);
    // what an earlier run last accepted from each peer: frames from before this start stay replays
    const floors = loadFloors(config.paths.state_dir, setup.peers, setup.links);
    if (floors.warning) log.warn(floors.warning);
    setup.spec.floors = floors.floors;
    const nl = new NativeLinks(setup);
    links = nl;
    const hbLog = new HeartbeatLog(logger("heartbeat"), (kind, text) => record(kind, text, "heartbeat"), errnoName, (peer) => driver?.state.peers[peer]?.left === true);
    const lostAt = new Map<string, number>();
    const runner = new ResourceRunner({
      groups: config.groups,
      addresses: config.addresses,
      scriptDirs: config.paths.script_dirs,
      keeper: nl,
      fence: config.fencing.method === "command" ? { command: config.fencing.command, timeout: config.fencing.timeout } : undefined,
      peerRecentlyLost: () => [...lostAt.values()].some((t) => performance.now() - t < config.addresses.lease + 2000),
      onConflict: (address, iface, message) => {
        conflicts.push({ address, interface: iface, time: new Date().toISOString(), message });
        if (conflicts.length > 20) conflicts.shift();
        record("fault", message, "address probe");
      },
    });
    const observed: Links = {
      start: (onEvent) =>
        nl.start((e) => {
          hbLog.onEvent(e);
          if (e.type === "peer" && e.state === "dead") lostAt.set(e.peer, performance.now());
          // a second sender with a peer's id (a clone) may vanish any moment, leaving its addresses until their lease ends
          if (e.type === "duplicate" && e.peer) lostAt.set(e.peer, performance.now());
          onEvent(e);
        }),
      setRecord: (r) => nl.setRecord(r),
      sendControl: (d) => nl.sendControl(d),
      counters: () => nl.counters(),
      stop: () => nl.stop(),
    };
    const clock: Clock = { now: () => performance.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as Timer) };
    const wallOffset = Date.now() - performance.now();
    const tracker = new GroupTracker();
    const machineLog = logger("cluster");
    const standbyFile = join(config.paths.state_dir, "standby");
    let ready = false;
    driver = new Driver(machineConfig(config), observed, runner, clock, {
      log: (line, level) => machineLog[level](line),
      exit: (code) => exited(code),
      onStep: (e, st, lines) => {
        const cause = describeEvent(e, driver!.cfg);
        tracker.onStep(e, st, driver!.cfg, cause);
        for (const l of lines) record(l.startsWith("node ") ? "node" : "group", l, cause);
        if (!ready && st.phase !== "waiting") {
          ready = true;
          notifier.ready(summaryLine(config, st));
        } else if (ready) notifier.status(summaryLine(config, st));
      },
      persist: (standby) => {
        try {
          if (standby) writeAtomic(standbyFile, `${new Date().toISOString()}\n`, 0o600);
          else rmSync(standbyFile, { force: true });
        } catch (e) {
          log.warn(`cannot remember standby in ${standbyFile}: ${(e as Error).message}`);
        }
      },
    });
    status = () =>
      buildStatus({
        version: pkg.version, config, cfg: driver!.cfg, state: driver!.state, startedAt, generation: gen.generation, hb: hbLog,
        nowMono: monotonicMs(), peerLinks: nl.peerLinks(), counters: nl.counters(), tracker, conflicts, history, commands, guard,
        wall: (t) => new Date(wallOffset + t),
      });

    await driver.start();
    if (existsSync(standbyFile)) {
      log.warn(`node ${config.cluster.node} stays in standby (set by hb standby before this start; hb takeover ends it)`);
      driver.dispatch({ type: "standby", on: true });
    }
    log.info(`heartbeat: ${setup.links.length} link(s) [${setup.links.join(", ")}], peers [${setup.peers.join(", ")}], generation ${gen.generation}; groups [${config.groups.map((g) => g.name).join(", ")}]; control socket ${config.control.socket}`);

    /** Re-read the config; apply it whole if every change is safe live, else nothing. */
    reload = (why: string): Response => {
      notifier.reloading();
      try {
        let next: Config;
        try {
          next = opts.reread();
        } catch (e) {
          const msg = e instanceof ConfigError ? e.message : (e as Error).message;
          log.error(`${why}: the config has errors; nothing changed:\n${msg}`);
          record("config", `${why}: refused: the config has errors`, msg.split("\n")[0] ?? "");
          return fail("refused", `the config has errors; nothing changed:\n${msg}`);
        }
        const plan = planReload(config, next);
        if (plan.refused.length) {
          log.error(`${why}: nothing changed: ${plan.refused.join("; ")}`);
          record("config", `${why}: refused: ${plan.refused.join("; ")}`);
          return fail("refused", `nothing changed:\n${plan.refused.join("\n")}`);
        }
        if (plan.changes.length === 0) {
          log.info(`${why}: the config is unchanged`);
          return success({ changes: [] });
        }
        // every change is safe: apply all of them
        const t = next.timing;
        if (t.keepalive !== config.timing.keepalive || t.warntime !== config.timing.warntime || t.deadtime !== config.timing.deadtime)
          nl.setTiming(t.keepalive, t.warntime, t.deadtime);
        config = next;
        setLogLevel(next.log.level);
        sinks.apply(next.log);
        history.resize(next.control.history);
        runner.reconfigure(next.groups, next.paths.script_dirs);
        driver!.reconfigure(machineConfig(next));
        for (const c of plan.changes) log.info(`${why}: ${c}`);
        record("config", `${why}: applied ${plan.changes.join("; ")}`);
        return success({ changes: plan.changes });
      } finally {
        notifier.reloaded();
      }
    };
    signals.set({
      reload: () => {
        sinks.reopen();
        log.info("SIGHUP: log file reopened; reloading the config");
        reload("SIGHUP");
      },
      snapshot: () => {
        const st = status();
        log.info(`SIGUSR1: ${summaryLine(config, driver!.state)}; ${evaluate(st).summary}`);
        for (const g of st.groups) log.info(`SIGUSR1: group ${g.name}: here ${g.here}, held by ${g.holders.join(", ") || "nobody"} since ${g.since} (${g.reason})`);
        for (const p of st.peers) log.info(`SIGUSR1: peer ${p.name}: ${p.state}${p.node_state ? ` (${p.node_state})` : ""}; links ${p.links.map((l) => `${l.name} ${l.state}`).join(", ")}`);
      },
    });

    const saveSeen = () => {
      try {
        saveFloors(config.paths.state_dir, nl.seen());
      } catch (e) {
        log.warn(`cannot keep what was heard from the peers in ${config.paths.state_dir}: ${(e as Error).message}`);
      }
    };
    const seenTimer = setInterval(saveSeen, SAVE_MS);
    const dropLog = logger("heartbeat");
    const authWatch = new AuthWatch(dropLog, (text) => record("fault", text, "heartbeat"), () => performance.now());
    let counters = nl.counters();
    const dropTimer = setInterval(() => {
      const now = nl.counters();
      reportDrops(dropLog, counters, now);
      authWatch.check(nl.peerLinks());
      counters = now;
    }, 2000);

    // The watchdog ping goes out from this loop only while the driver keeps up with its events:
    // a blocked event loop or a state machine stuck in a step sends nothing, and systemd restarts us.
    // The legacy guard: a live (authenticated) Heartbeat v1 node beside us keeps our groups away from its interfaces.
    guard = startLegacyGuard(config, (text) => record("fault", text, "legacy guard"), (e) => driver!.dispatch(e));
    const hw = config.watchdog.device ? openWatchdog(config.watchdog.device) : undefined;
    const hwTimer = hw
      ? setInterval(() => {
          if (!driver!.stuck()) hw.kick();
        }, config.watchdog.interval)
      : undefined;
    if (hw) log.info(`watchdog ${config.watchdog.device}: kept alive every ${config.watchdog.interval} ms from the event loop`);
    const watchdog = notifier.watchdogMs
      ? setInterval(() => {
          if (!driver!.stuck()) notifier.watchdog();
        }, notifier.watchdogMs)
      : undefined;

    const code = await done;
    clearInterval(dropTimer);
    clearInterval(seenTimer);
    saveSeen();
    if (hwTimer) clearInterval(hwTimer);
    hw?.disarm(); // a clean stop: the magic close, so the node is not rebooted
    if (watchdog) clearInterval(watchdog);
    record("daemon", `hb stopped (exit ${code})`);
    log.info(`stopped (exit ${code})`);
    return code;
  } finally {
    // also when start-up fails half-way: nothing may keep the process alive or the socket bound
    clearInterval(strayTimer);
    links?.stop();
    guard?.stop();
    server.close();
    sinks.close();
    dgram.close();
  }
}
