/** Exit codes of hb (documented in the README; `hb report` has its own, Nagios-style). */
export const EXIT = {
  OK: 0,
  /** Invalid config, or the daemon failed (cannot load the shim, open a link...). */
  FAILURE: 1,
  /** Unknown command or option, bad argument. */
  USAGE: 2,
} as const;

/** An error that the CLI reports in one line and exits with `code`. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly code: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
