/**
 * The shapes of names and values that more than one part of hb checks: the
 * schema validates ha.toml with them, the control protocol and the CLI check
 * group names, `hb import` and the legacy guard check Heartbeat's words. One
 * home, so that a name hb accepts in one place is accepted in all.
 */

/** Node, group, link and cluster names. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const NAME_HINT = "letters, digits, '_', '.', '-', starting with a letter or digit, at most 63 characters";

/** Linux interface names (IFNAMSIZ 16 with the NUL); ':' for old alias labels. */
export const IFNAME_PATTERN = /^[A-Za-z0-9_.:-]{1,15}$/;
export const IFNAME_HINT = "an interface name of 1 to 15 characters, like eth0";

/** A dotted-quad IPv4 address, each octet 0..255, no leading sign or spaces. */
export const IPV4_PATTERN = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)$/;

export const SYSLOG_FACILITIES = [
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

/** The serial speeds termios has, from 1200 up (Heartbeat's list). */
export const BAUDS = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400] as const;
/** Heartbeat's default serial speed, and hb's. */
export const DEFAULT_BAUD = 19200;
/** Heartbeat's registered UDP port (ha-cluster), and hb's default. */
/** What a heartbeat record can carry (src/cluster/record.ts): nodes in its heard set, groups in its sets. */
export const MAX_NODES = 32;
export const MAX_GROUPS = 128;

export const DEFAULT_UDP_PORT = 694;
/** Where the daemon listens for hb status, standby, reload... (control.socket). */
export const DEFAULT_SOCKET = "/run/hb/hb.sock";
