/** `hb import`: read the legacy files, convert, write ha.toml (stdout or --out), warnings on stderr. */
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { importLegacy } from "../legacy/import.ts";
import { EXIT } from "../log/exit.ts";
import { CliError } from "./errors.ts";

function read(path: string): { text?: string; mode?: number; error?: string } {
  try {
    const st = statSync(path);
    if (!st.isFile()) return { error: `${path} is not a file` };
    return { text: readFileSync(path, "utf8"), mode: st.mode };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return {};
    return {
      error: `cannot read ${path}: ${code === "EACCES" ? "permission denied (run as root)" : (e as Error).message}`,
    };
  }
}

export async function runImport(dir: string, o: { out?: string; force?: boolean }): Promise<number> {
  if (!existsSync(dir))
    throw new CliError(
      `${dir}: no such directory (give the directory that holds ha.cf, haresources and authkeys)`,
      EXIT.FAILURE,
    );
  const files = {
    haCf: read(join(dir, "ha.cf")),
    haresources: read(join(dir, "haresources")),
    authkeys: read(join(dir, "authkeys")),
  };
  const errors = Object.values(files).flatMap((f) => (f.error ? [f.error] : []));
  if (errors.length) throw new CliError(errors.join("\n"), EXIT.FAILURE);
  if (!files.haCf.text && !files.haresources.text && !files.authkeys.text)
    throw new CliError(`${dir} holds none of ha.cf, haresources, authkeys: nothing to import`, EXIT.FAILURE);
  if ([files.haCf.text, files.haresources.text, files.authkeys.text].some((t) => t?.includes("\u0000")))
    throw new CliError(`${dir}: a file holds binary data (NUL bytes): not a Heartbeat config`, EXIT.FAILURE);
  const r = importLegacy({
    dir,
    haCf: files.haCf.text,
    haresources: files.haresources.text,
    authkeys: files.authkeys.text,
    authkeysMode: files.authkeys.mode,
  });
  for (const w of r.warnings) console.error(`warning: ${w}`);
  if (r.refused) throw new CliError(`${dir}/ha.cf:${r.refused.replace(/^ha\.cf:/, "")}`, EXIT.FAILURE);
  if (!o.out) {
    process.stdout.write(r.toml);
    return EXIT.OK;
  }
  let fd: number;
  try {
    // O_EXCL unless --force: never overwrite a config by accident; 0600 when it carries a key
    fd = openSync(o.out, o.force ? "w" : "wx", r.hasKey ? 0o600 : 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new CliError(`${o.out} exists: not overwritten (use --force)`, EXIT.FAILURE);
    throw new CliError(`cannot write ${o.out}: ${(e as Error).message}`, EXIT.FAILURE);
  }
  try {
    writeSync(fd, r.toml);
  } finally {
    closeSync(fd);
  }
  if (r.hasKey) chmodSync(o.out, 0o600); // also when --force replaced a file with wider permissions
  console.error(
    `wrote ${o.out}${r.hasKey ? " (mode 0600: it holds the key)" : ""}; ${r.warnings.length} warning${r.warnings.length === 1 ? "" : "s"}; next: hb check --config ${o.out}`,
  );
  return EXIT.OK;
}
