/** Root's file writes never follow a planted symlink; its own directories must be its own. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAppend, privateDir, writeAtomic } from "../../src/config/files.ts";
import { History } from "../../src/control/history.ts";
import { FileSink } from "../../src/log/sinks.ts";

const root = process.getuid?.() === 0;
let dir: string;
let victim: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hb-files-"));
  victim = join(dir, "victim");
  writeFileSync(victim, "root's own file\n", { mode: 0o644 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const untouched = () => expect(readFileSync(victim, "utf8")).toBe("root's own file\n");

describe("writes", () => {
  test("a whole-file write replaces a planted symlink instead of writing through it", () => {
    const target = join(dir, "hb.prom");
    symlinkSync(victim, target);
    writeAtomic(target, "hb_up 1\n", 0o644);
    untouched();
    expect(lstatSync(target).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, "utf8")).toBe("hb_up 1\n");
    expect(statSync(target).mode & 0o777).toBe(0o644);
    // no temp file is left behind
    expect(
      require("node:fs")
        .readdirSync(dir)
        .filter((f: string) => f.endsWith(".tmp")),
    ).toEqual([]);
  });
  test("a whole-file write through a directory that is a symlink is refused: the directory is opened once, as itself", () => {
    const real = join(dir, "real-dir");
    mkdirSync(real);
    const linked = join(dir, "linked-dir");
    symlinkSync(real, linked);
    expect(() => writeAtomic(join(linked, "hb.prom"), "x\n", 0o644)).toThrow(/ELOOP|ENOTDIR/);
    expect(require("node:fs").readdirSync(real)).toEqual([]);
  });
  test("appends (a log file, the history) refuse a symlink", () => {
    const log = join(dir, "hb.log");
    symlinkSync(victim, log);
    expect(() => openAppend(log, 0o640)).toThrow();
    const sink = new FileSink(log);
    sink.sink({ level: "info", tag: "x", message: "should not land", date: new Date() });
    sink.close();
    const hist = join(dir, "history.jsonl");
    symlinkSync(victim, hist);
    const h = new History(hist, 10);
    h.add("daemon", "should not land either");
    expect(h.lastError).toBeTruthy();
    untouched();
  });
});

describe("directories of hb's own", () => {
  test("created 0700 when absent; a real, private one is fine", () => {
    const d = join(dir, "state");
    privateDir(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    privateDir(d);
  });
  test("writable by others, or a symlink: refused, saying how to fix it", () => {
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => privateDir(open)).toThrow(`${open} is writable by group or others (mode 777): chmod go-w ${open}`);
    const link = join(dir, "link");
    symlinkSync(open, link);
    expect(() => privateDir(link)).toThrow(/is not a directory \(a symbolic link\?\)/);
  });
  test.skipIf(!root)("owned by another user: refused", () => {
    const theirs = join(dir, "theirs");
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 1000, 1000);
    expect(() => privateDir(theirs)).toThrow(`${theirs} is owned by uid 1000, not by root: chown root: ${theirs}`);
    expect(existsSync(theirs)).toBe(true);
  });
});

test("the control socket: refused in a directory others can write; born 0600 in a private one", async () => {
  const { ControlServer } = await import("../../src/control/server.ts");
  const shared = join(dir, "shared-run");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  await expect(
    ControlServer.listen(
      join(shared, "hb.sock"),
      async () => ({ v: 1, ok: true, result: null }),
      () => {},
    ),
  ).rejects.toThrow(/writable by group or others/);
  const own = join(dir, "run");
  const s = await ControlServer.listen(
    join(own, "hb.sock"),
    async () => ({ v: 1, ok: true, result: null }),
    () => {},
  );
  try {
    expect(statSync(join(own, "hb.sock")).mode & 0o777).toBe(0o600);
    expect(statSync(own).mode & 0o777).toBe(0o700);
  } finally {
    s.close();
  }
});
