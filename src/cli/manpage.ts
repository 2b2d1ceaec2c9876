/**
 * hb(8), rendered from the command line's own definition (every command and option as --help shows
 * it) and the facts the README states about exit codes, signals and files. `make man` writes it.
 */
import type { CAC } from "cac";
import { roff, th } from "../config/roff.ts";

const EXIT = [
  ["0", "Success (hb report: OK)."],
  ["1", "The config is invalid, the daemon failed, a command was refused, or --wait timed out (hb report: WARNING)."],
  ["2", "Usage error: an unknown command or option, a bad value (hb report: CRITICAL)."],
  ["3", "hb report only: UNKNOWN, the daemon is not reachable."],
];
const SIGNALS = [
  [
    "SIGTERM, SIGINT, SIGQUIT",
    "Hand every group over to a peer, then exit 0. A second one while that runs is logged and ignored.",
  ],
  ["SIGHUP", "Reopen the log file and reload the config (as hb reload)."],
  ["SIGUSR1", "Write a status snapshot to the log."],
  ["SIGUSR2", "Toggle debug logging."],
  ["others", "Every other signal whose default action would end a process is caught and logged; none ends hb."],
];
const FILES = [
  ["/etc/hb/ha.toml", "The configuration (ha.toml(5))."],
  ["/run/hb/hb.sock", "The control socket: root's, and read-only for the control group."],
  [
    "/var/lib/hb",
    "State kept across restarts: the event history, the boot generation, what was last heard from each peer, standby.",
  ],
];

const tp = (rows: string[][]) => rows.flatMap(([k, v]) => [".TP", `.B ${roff(k!)}`, roff(v!)]);

export function hbManPage(cli: CAC, version: string, date: string): string {
  const out = [
    th("hb", 8, date, version, "System Administration"),
    ".SH NAME",
    "hb \\- high-availability daemon: heartbeats, floating addresses and services that move to a live node",
    ".SH SYNOPSIS",
    ".B hb",
    "[\\-\\-config FILE] [\\-\\-node NAME] [\\-\\-log\\-level LEVEL]",
    ".br",
    ".B hb",
    "COMMAND [OPTIONS]",
    ".SH DESCRIPTION",
    "hb replaces Linux-HA Heartbeat v1. Nodes exchange authenticated heartbeats on every link; when the node that holds a group of resources dies, a survivor adds the group's floating addresses, announces them with gratuitous ARP (IPv6: unsolicited neighbour advertisements) and starts its services, in order.",
    "Without a command, hb runs the daemon in the foreground.",
    ".SH COMMANDS",
  ];
  for (const c of cli.commands.filter((x) => x.name)) {
    out.push(".TP", `.B hb ${roff(c.rawName)}`, roff(c.description));
    for (const o of c.options) out.push(".RS", ".TP", `.B ${roff(o.rawName)}`, roff(o.description), ".RE");
  }
  out.push(
    ".SH OPTIONS",
    ...cli.globalCommand.options.flatMap((o) => [".TP", `.B ${roff(o.rawName)}`, roff(o.description)]),
  );
  out.push(".SH EXIT STATUS", ...tp(EXIT), ".SH SIGNALS", ...tp(SIGNALS), ".SH FILES", ...tp(FILES));
  out.push(".SH SEE ALSO", ".BR ha.toml (5),", ".BR systemctl (1)");
  return `${out.join("\n")}\n`;
}
