/** Start-up cannot go on (printed as one line by the CLI). Its own module, so the CLI can match it without loading the daemon. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}
