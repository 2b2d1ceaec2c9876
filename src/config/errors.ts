/** One problem found in a config file, with where it is and what to do. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** Key path like `group[0].resources[1].ip`, or "" for the whole file. */
  path: string;
  message: string;
  hint?: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = `${i.file}:${i.line}:${i.col}`;
  const head = i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
  return i.hint ? `${head}\n  hint: ${i.hint}` : head;
}

/** The config cannot be used. Carries every issue found, not just the first. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly issues: ConfigIssue[],
    options?: ErrorOptions,
  ) {
    super(issues.map(formatIssue).join("\n"), options);
  }
}
