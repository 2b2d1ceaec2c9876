#!/usr/bin/env bun
/**
 * hb command line. Every command is listed by `hb --help` with one line.
 * Unknown commands and options exit 2 (cac alone would exit 0).
 */
import { cac } from "cac";
import pkg from "../../package.json" with { type: "json" };
import { ConfigError } from "../config/errors.ts";
import { DEFAULT_CONFIG, loadConfig, systemEnv } from "../config/load.ts";
import { LOG_LEVELS, logger, setLogLevel, type LogLevel } from "../log/log.ts";
import { summary } from "./check.ts";
import { CliError, EXIT } from "./exit.ts";

export const VERSION: string = pkg.version;

interface GlobalOptions {
  config: string;
  node?: string;
  logLevel?: string;
}

function load(o: GlobalOptions) {
  return loadConfig(o.config, systemEnv(o.node));
}

function applyLogLevel(o: GlobalOptions, fallback: LogLevel) {
  const level = (o.logLevel ?? fallback) as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`, EXIT.USAGE);
  setLogLevel(level);
}

export function buildCli() {
  const cli = cac("hb");
  cli
    .option("-c, --config <file>", "Config file", { default: DEFAULT_CONFIG })
    .option("--node <name>", "This node's name (default: cluster.node, else uname -n)")
    .option("--log-level <level>", `Log level: ${LOG_LEVELS.join(", ")} (default: log.level)`);

  cli
    .command("", "Run the daemon in the foreground (stop with SIGTERM)")
    .action(async (o: GlobalOptions) => {
      applyLogLevel(o, "info");
      const config = load(o);
      if (!o.logLevel) setLogLevel(config.log.level);
      const { runDaemon } = await import("../daemon/run.ts");
      return runDaemon(config, { testHooks: process.env.HB_TEST_HOOKS === "1" });
    });

  cli
    .command("check", "Validate the config and print a summary of the cluster")
    .action(async (o: GlobalOptions) => {
      applyLogLevel(o, "warn");
      const config = load(o);
      console.log(summary(config));
      const { shimInfo } = await import("../native/shim.ts");
      const s = shimInfo();
      console.log(`native shim: loaded via ${s.via} (abi ${s.abi})`);
      return EXIT.OK;
    });

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
      console.log(`hb ${VERSION}`);
      return EXIT.OK;
    }
    if (!cli.matchedCommandName && cli.args.length > 0)
      throw new CliError(`unknown command "${cli.args[0]}" (see hb --help)`, EXIT.USAGE);
    const rc = await cli.runMatchedCommand();
    return typeof rc === "number" ? rc : EXIT.OK;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.message.split("\n")) console.error(issue);
      console.error(`hb: ${e.issues.length} problem${e.issues.length === 1 ? "" : "s"} in the config; nothing was started`);
      return EXIT.FAILURE;
    }
    if (e instanceof CliError) {
      console.error(`hb: ${e.message}`);
      return e.code;
    }
    if (e instanceof Error && e.name === "CACError") {
      console.error(`hb: ${e.message.replace(/`/g, '"')} (see hb --help)`);
      return EXIT.USAGE;
    }
    if (e instanceof Error && e.name === "NativeError") {
      console.error(`hb: cannot start the heartbeat: ${e.message}`);
      return EXIT.FAILURE;
    }
    if (e instanceof Error && e.name === "ShimLoadError") {
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
