/**
 * Exit codes of hb, the last thing the process tells whoever started it
 * (documented in the README; `hb report` has its own, Nagios-style). Here,
 * below the CLI and the daemon, because both end the process.
 */
export const EXIT = {
  OK: 0,
  /** Invalid config, or the daemon failed (cannot load the shim, open a link...). */
  FAILURE: 1,
  /** Unknown command or option, bad argument. */
  USAGE: 2,
} as const;
