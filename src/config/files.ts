/**
 * Files root reads and writes, in one place. Root never follows a symbolic
 * link it did not make: reads and appends open with O_NOFOLLOW and check what
 * they opened; whole-file writes open the directory once and, relative to it,
 * write a fresh file under a random name (O_CREAT | O_EXCL | O_NOFOLLOW:
 * nothing can be planted there in advance), set its mode on the descriptor, and
 * rename it over the target (a rename replaces a planted symlink, it never
 * writes through it): native/files.c. The directories hb
 * keeps its own state in must be root's and writable by nobody else.
 */
import { constants as C, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { writeAtomicAt } from "../native/shim.ts";

export interface FileInfo {
  mode: number;
  uid: number;
  text: string;
}

const me = () => process.getuid?.() ?? 0;

export const errText = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  return err.code === "ENOENT"
    ? "no such file"
    : err.code === "EACCES"
      ? "permission denied"
      : err.code === "ELOOP"
        ? "it is a symbolic link (refused: give the file it points to)"
        : (err.message ?? String(e));
};

/** Open once, never through a symlink; the owner and mode checked are those of what is read. */
export function openFile(path: string): FileInfo | Error {
  let fd = -1;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) return new Error("not a regular file");
    return { mode: st.mode, uid: st.uid, text: readFileSync(fd, "utf8") };
  } catch (e) {
    return new Error(errText(e));
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * A directory for hb's own files (state, control socket): created 0700 if absent; if present it
 * must be a real directory (not a link), owned by root (or the user hb runs as), writable by
 * nobody else. Throws with what is wrong and how to fix it.
 */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw new Error(
      `${dir} is not a directory (a symbolic link?): hb keeps root's files there only in a real directory`,
    );
  if (st.uid !== 0 && st.uid !== me())
    throw new Error(`${dir} is owned by uid ${st.uid}, not by root: chown root: ${dir}`);
  if (st.mode & 0o022)
    throw new Error(`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod go-w ${dir}`);
}

/** Replace `file` whole, never through a symlink (see writeAtomicAt in the shim). */
export function writeAtomic(file: string, text: string, mode: number, sync = false): void {
  writeAtomicAt(dirname(file), basename(file), new TextEncoder().encode(text), mode, sync);
}

/** Open for appending (a log, the history), never through a symlink, and only a regular file of root's. */
export function openAppend(file: string, mode: number): number {
  const fd = openSync(file, C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW | C.O_NOCTTY, mode);
  const st = fstatSync(fd);
  if (!st.isFile() || (st.uid !== 0 && st.uid !== me())) {
    closeSync(fd);
    throw new Error(`${file} is not a regular file of root's: refused`);
  }
  return fd;
}
