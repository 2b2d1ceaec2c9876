/**
 * The set-up most netns suites share: one lab for the suite, a directory with the test scripts,
 * and per-test configs and daemons, all cleaned up (daemons after each test, the lab at the end).
 * Call it inside describe().
 */
import { afterAll, afterEach, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterFiles, HB, type HbProcess, startHb } from "./cluster.ts";
import { writeScripts } from "./failover.ts";
import { Lab, type LabOptions, run } from "./netns.ts";

export interface Suite {
  lab: Lab;
  /** the suite's own temporary directory, and the LSB test scripts in it */
  dir: string;
  scripts: string;
  /** this test's configs, if it made any (cleaned up after it) */
  files?: ClusterFiles;
  /** daemons started with start(): stopped after each test */
  procs: HbProcess[];
  start(i: number, env?: Record<string, string>): HbProcess;
  report(i: number): Promise<{ code: number; line: string }>;
}

export function labSuite(opts: LabOptions, tag: string): Suite {
  const s: Suite = {
    lab: undefined as unknown as Lab,
    dir: "",
    scripts: "",
    procs: [],
    start(i, env = {}) {
      const p = startHb(s.lab, s.files!, i, env);
      s.procs.push(p);
      return p;
    },
    async report(i) {
      const r = await run([HB, "report", "--socket", s.files!.socket(i)]);
      return { code: r.code, line: r.stdout.trim() };
    },
  };
  beforeAll(async () => {
    s.lab = await Lab.create(opts);
    s.dir = mkdtempSync(join(tmpdir(), `hb-${tag}-`));
    s.scripts = writeScripts(s.dir);
  });
  afterEach(async () => {
    await Promise.all(s.procs.map((p) => p.stop()));
    s.procs = [];
    s.files?.cleanup();
    s.files = undefined;
  });
  afterAll(async () => {
    await s.lab?.destroy();
    rmSync(s.dir, { recursive: true, force: true });
  });
  return s;
}
