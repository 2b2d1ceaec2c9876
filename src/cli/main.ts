#!/usr/bin/env bun
import { hostname } from "node:os";
/**
 * hb command line. Every command is listed by `hb --help` with one line.
 * Unknown commands and options exit 2 (cac alone would exit 0).
 */
import { cac } from "cac";
import pkg from "../../package.json" with { type: "json" };
import { ConfigError } from "../config/errors.ts";
import { DEFAULT_CONFIG, loadConfig, systemEnv } from "../config/load.ts";
import { DEFAULT_SOCKET, NAME_PATTERN } from "../config/names.ts";
import type { Config } from "../config/schema.ts";
import { didYouMean } from "../config/validate.ts";
import { historyPath } from "../control/history.ts";
import { ControlSocketError } from "../control/server.ts";
import { StartupError } from "../daemon/errors.ts";
import { EXIT } from "../log/exit.ts";
import { LOG_LEVELS, type LogLevel, logger, setLogLevel } from "../log/log.ts";
import { NativeError, reexecWith, ShimLoadError, shimInfo } from "../native/shim.ts";
import { isLocalNode, localProblems, summary } from "./check.ts";
import { CliError } from "./errors.ts";

export const VERSION: string = pkg.version;

interface GlobalOptions {
  config: string;
  node?: string;
  logLevel?: string;
  socket?: string;
}

function load(o: GlobalOptions) {
  return loadConfig(o.config, systemEnv(o.node));
}

/** The control socket: --socket, else control.socket of the config, else the default (with a note why). */
function socketOf(o: GlobalOptions): { socket: string; note?: string; config?: Config } {
  let config: Config | undefined;
  try {
    config = load(o);
  } catch (e) {
    if (o.socket) return { socket: o.socket };
    const why = e instanceof ConfigError ? `${o.config} has errors (hb check)` : (e as Error).message;
    return { socket: DEFAULT_SOCKET, note: `config not usable: ${why}; tried ${DEFAULT_SOCKET}` };
  }
  return { socket: o.socket ?? config.control.socket, config };
}
function socketFor(o: GlobalOptions): string {
  const { socket, note } = socketOf(o);
  if (note) console.error(`hb: ${note}`);
  return socket;
}
const groupArg = (g: string | undefined) => {
  const name = g ?? "all";
  if (!NAME_PATTERN.test(name)) throw new CliError(`"${name}" is not a group name`, EXIT.USAGE);
  return name;
};
const seconds = (v: unknown, what: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${what} must be a number of seconds`, EXIT.USAGE);
  return n;
};

/** A whole number above 0 given to an option. */
function count(v: unknown, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${what} must be a positive whole number`, EXIT.USAGE);
  return n;
}

function applyLogLevel(o: GlobalOptions, fallback: LogLevel) {
  const level = (o.logLevel ?? fallback) as LogLevel;
  if (!LOG_LEVELS.includes(level))
    throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`, EXIT.USAGE);
  setLogLevel(level);
}

type Cli = ReturnType<typeof cac>;

/**
 * JavaScriptCore's optimizing compilers (DFG, FTL) go on compiling as the daemon's functions get hot,
 * for months, and their code is most of the memory a daemon gains over time (README "Memory over time");
 * hb's JavaScript never runs long enough to gain from them. Its options come from the environment at
 * start only, so the daemon starts itself again, at once, with them off (same PID, same arguments).
 * HB_FULL_JIT=1 keeps them. If that start fails, the daemon runs as it is and says so.
 */
const LEAN_JIT = "BUN_JSC_useDFGJIT";
let leanJitError: string | undefined;
function leanJit(): void {
  if (process.env[LEAN_JIT] !== undefined || process.env.HB_FULL_JIT === "1") return;
  leanJitError = reexecWith(LEAN_JIT, "0");
}

function daemonCommand(cli: Cli): void {
  cli
    .option("-c, --config <file>", "Config file", { default: DEFAULT_CONFIG })
    .option("--node <name>", "This node's name (default: cluster.node, else uname -n)")
    .option("--log-level <level>", `Log level: ${LOG_LEVELS.join(", ")} (default: log.level)`);

  cli.command("", "Run the daemon in the foreground (stop with SIGTERM)").action(async (o: GlobalOptions) => {
    leanJit();
    applyLogLevel(o, "info");
    const config = load(o);
    if (!o.logLevel) setLogLevel(config.log.level);
    if (leanJitError) logger("daemon").warn(`could not restart with the lean JIT (${leanJitError}): running as is`);
    const { runDaemon } = await import("../daemon/run.ts");
    return runDaemon(config, { testHooks: process.env.HB_TEST_HOOKS === "1", reread: () => load(o) });
  });
}

/** What an operator runs against the running daemon (through its control socket). */
function statusCommand(cli: Cli): void {
  cli
    .command("status", "Show this node, its peers and links, the groups and the last events")
    .option("--json", "Print the status as JSON (schema hb.status/1, see the README)")
    .option("--events <n>", "How many recent events to show", { default: 10 })
    .option(
      "--watch [seconds]",
      "Show it again every SECONDS (default 2) until Ctrl-C: redrawn on a terminal, else appended",
    )
    .option("--socket <path>", "Control socket (default: control.socket of the config)")
    .action(async (o: GlobalOptions & { json?: boolean; events: number; watch?: boolean | string | number }) => {
      const ops = await import("./ops.ts");
      const { socket, note, config } = socketOf(o);
      if (note) console.error(`hb: ${note}`);
      if (o.watch !== undefined && o.watch !== false) {
        const every = o.watch === true ? 2 : Number(o.watch);
        if (!Number.isFinite(every) || every < 0.1 || every > 3600)
          throw new CliError("--watch takes seconds between 0.1 and 3600", EXIT.USAGE);
        return ops.watch(socket, { json: o.json, events: count(o.events, "--events"), everyMs: every * 1000 });
      }
      // the history file outlives the daemon: shown when it is down (none without a config)
      const historyFile = config ? historyPath(config.paths.state_dir) : undefined;
      return ops.status(socket, { json: o.json, events: count(o.events, "--events"), historyFile });
    });
}

/** Commands that change what the daemon does. */
function controlCommands(cli: Cli): void {
  for (const cmd of ["standby", "takeover"] as const)
    cli
      .command(
        `${cmd} [group]`,
        cmd === "standby"
          ? 'Move GROUP away from this node; with no GROUP or "all": this node holds nothing until hb takeover'
          : 'Move GROUP to this node; with no GROUP or "all": end standby and take every group',
      )
      .option("--wait", "Wait until the move is complete")
      .option("--timeout <seconds>", "With --wait: give up after this long (exit 1)", { default: 60 })
      .option("--socket <path>", "Control socket (default: control.socket of the config)")
      .option(
        "--force",
        cmd === "standby" ? "Even when no peer can take the group over (it stops)" : "(no effect for takeover)",
      )
      .action(
        async (group: string | undefined, o: GlobalOptions & { wait?: boolean; timeout: number; force?: boolean }) => {
          const ops = await import("./ops.ts");
          return ops.move(socketFor(o), cmd, groupArg(group), {
            wait: o.wait,
            timeout: seconds(o.timeout, "--timeout"),
            force: o.force,
          });
        },
      );

  cli
    .command(
      "clear <group>",
      "Clear a failed group on this node (after a failed start, or a stop you finished by hand) and end its yield here",
    )
    .option("--socket <path>", "Control socket (default: control.socket of the config)")
    .action(async (group: string, o: GlobalOptions) => {
      const ops = await import("./ops.ts");
      return ops.clear(socketFor(o), groupArg(group));
    });

  cli
    .command(
      "reload",
      "Re-read the config and apply it if every change is safe live, else change nothing (also SIGHUP)",
    )
    .option("--socket <path>", "Control socket (default: control.socket of the config)")
    .action(async (o: GlobalOptions) => {
      const ops = await import("./ops.ts");
      // the daemon re-reads this same file: with errors in it, say where, and do not ask
      try {
        load(o);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        throw new CliError(
          `${e.message}\nthe config has errors: the daemon was not asked to reload (nothing changed)`,
          EXIT.FAILURE,
        );
      }
      return ops.reload(socketFor(o));
    });
}

/** What the daemon knows, for people and for monitoring. */
function queryCommands(cli: Cli): void {
  cli
    .command("report", "Health for cron and monitoring: one line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    .option("--json", "Print the verdict as JSON (schema hb.report/1)")
    .option("--prometheus <file>", "Also write node_exporter textfile metrics to FILE (atomically)")
    .option("--socket <path>", "Control socket (default: control.socket of the config)")
    .action(async (o: GlobalOptions & { json?: boolean; prometheus?: string }) => {
      const ops = await import("./ops.ts");
      const { socket, note } = socketOf(o);
      return ops.report(socket, { json: o.json, prometheus: o.prometheus, configNote: note });
    });

  cli
    .command("history", "Print the event history kept by the daemon (also across restarts)")
    .option("--json", "Print it as JSON")
    .option("--limit <n>", "At most this many events (newest)")
    .option("--socket <path>", "Control socket (default: control.socket of the config)")
    .action(async (o: GlobalOptions & { json?: boolean; limit?: number }) => {
      const ops = await import("./ops.ts");
      const limit = o.limit === undefined ? undefined : count(o.limit, "--limit");
      return ops.history(socketFor(o), { json: o.json, limit });
    });
}

/** `hb check`: the config, then this host against it when it is one of the nodes. */
async function check(o: GlobalOptions): Promise<number> {
  applyLogLevel(o, "warn");
  const config = load(o);
  console.log(summary(config));
  if (isLocalNode(config)) {
    const problems = localProblems(config);
    if (problems.length) {
      console.error(
        `${o.config}: on this host (node ${config.cluster.node}):\n${problems.map((p) => `  error: ${p}`).join("\n")}`,
      );
      return EXIT.FAILURE;
    }
    console.log(`this host (node ${config.cluster.node}): every interface, device, script and command is here`);
  } else
    console.log(
      `this host (${hostname()}) is not node ${config.cluster.node}: interfaces, devices and scripts not checked (run hb check on that node)`,
    );
  const s = shimInfo();
  console.log(`native shim: loaded via ${s.via} (abi ${s.abi})`);
  return EXIT.OK;
}

/** Tools that work on files, no daemon needed. */
function toolCommands(cli: Cli): void {
  cli
    .command(
      "import [dir]",
      "Convert Heartbeat v1 files (ha.cf, haresources, authkeys in DIR, default /etc/ha.d) to ha.toml",
    )
    .option("--out <file>", "Write ha.toml to FILE (mode 0600 when it holds a key) instead of stdout")
    .option("--force", "With --out: overwrite FILE")
    .action(async (dir: string | undefined, o: GlobalOptions & { out?: string; force?: boolean }) => {
      const { runImport } = await import("./import.ts");
      return runImport(dir ?? "/etc/ha.d", { out: o.out, force: o.force });
    });

  cli
    .command("completion <shell>", "Print a completion script for bash or zsh (commands, options, group names)")
    .action(async (shell: string, o: GlobalOptions) => {
      const c = await import("./completion.ts");
      if (shell === "groups") {
        // what the script asks for: the config's group names, one per line (nothing if unreadable)
        for (const g of c.groupNames(o.config)) console.log(g);
        return EXIT.OK;
      }
      if (shell !== "bash" && shell !== "zsh") throw new CliError(`completion: bash or zsh, not ${shell}`, EXIT.USAGE);
      process.stdout.write(shell === "bash" ? c.bashScript(buildCli()) : c.zshScript(buildCli()));
      return EXIT.OK;
    });

  cli
    .command("systemd-unit", "Print a systemd unit (Type=notify, watchdog) for this binary and config")
    .action(async (o: GlobalOptions) => {
      const config = load(o);
      const { systemdUnit } = await import("../daemon/systemd.ts");
      const { resolve, basename } = await import("node:path");
      const exe = process.execPath;
      if (basename(exe) === "bun")
        console.error("hb: warning: running from source; ExecStart names bun, not an hb binary (use dist/hb)");
      process.stdout.write(systemdUnit(exe, resolve(o.config), config, o.node, o.logLevel));
      return EXIT.OK;
    });

  cli.command("check", "Validate the config and print a summary of the cluster").action(check);
}

export function buildCli() {
  const cli = cac("hb");
  daemonCommand(cli);
  statusCommand(cli);
  controlCommands(cli);
  queryCommands(cli);
  toolCommands(cli);
  cli.usage("[-c FILE]            run the daemon\n  $ hb <command> [options]");
  cli.option("-v, --version", "Print the version");
  cli.help();
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    cli.parse(argv, { run: false });
    if (cli.options.help) return EXIT.OK;
    if (cli.options.version) {
      // the architecture too: which of hb-linux-x64 and hb-linux-arm64 this is
      console.log(`hb ${VERSION} (linux-${process.arch})`);
      return EXIT.OK;
    }
    if (!cli.matchedCommandName && cli.args[0] === "help" && cli.args.length === 1) {
      cli.outputHelp(); // `hb help`, as people type it
      return EXIT.OK;
    }
    if (!cli.matchedCommandName && cli.args[0] === "help" && cli.args.length === 2) {
      // `hb help status`: that command's own help, as `hb status --help` prints it
      const known = cli.commands.some((c) => c.name.split(" ")[0] === cli.args[1]);
      if (known) return main([...argv.slice(0, 2), String(cli.args[1]), "--help"]);
    }
    if (!cli.matchedCommandName && cli.args.length > 0) {
      const known = cli.commands.map((c) => c.name.split(" ")[0]!).filter(Boolean);
      const guess = didYouMean(String(cli.args[0]), known);
      throw new CliError(
        `unknown command "${cli.args[0]}"${guess ? ` (did you mean "${guess}"?)` : ""} (see hb --help)`,
        EXIT.USAGE,
      );
    }
    const rc = await cli.runMatchedCommand();
    return typeof rc === "number" ? rc : EXIT.OK;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.message.split("\n")) console.error(issue);
      console.error(
        `hb: ${e.issues.length} problem${e.issues.length === 1 ? "" : "s"} in the config; nothing was started`,
      );
      return EXIT.FAILURE;
    }
    if (e instanceof CliError) {
      console.error(`hb: ${e.message}`);
      return e.code;
    }
    // cac does not export its error class: its name is the only mark it has
    if (e instanceof Error && e.name === "CACError") {
      console.error(`hb: ${e.message.replace(/`/g, '"')} (see hb --help)`);
      return EXIT.USAGE;
    }
    if (e instanceof NativeError) {
      console.error(`hb: cannot start the heartbeat: ${e.message}`);
      return EXIT.FAILURE;
    }
    if (e instanceof ControlSocketError || e instanceof StartupError) {
      console.error(`hb: ${e.message}; nothing was started`);
      return EXIT.FAILURE;
    }
    if (e instanceof ShimLoadError) {
      console.error(`hb: ${e.message}`);
      return EXIT.FAILURE;
    }
    logger("hb").error(e);
    return EXIT.FAILURE;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv);
}
