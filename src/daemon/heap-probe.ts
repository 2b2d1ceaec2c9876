/**
 * A diagnostic for memory hunts (issue 19), off unless HB_HEAP_PROBE names a file: every
 * HB_HEAP_PROBE_S seconds (default 60) a full collection, then one JSON line with the heap size and
 * the count of live objects by type. Two lines a few hours apart show what grows; `make soak` reads
 * them. Costs nothing when off: no timer is made.
 */
import { appendFileSync } from "node:fs";

export function startHeapProbe(env: Record<string, string | undefined>): Timer | undefined {
  const file = env.HB_HEAP_PROBE;
  if (!file) return undefined;
  const every = Math.max(1, Number(env.HB_HEAP_PROBE_S ?? 60)) * 1000;
  const write = () => {
    try {
      Bun.gc(true);
      const { heapStats } = require("bun:jsc") as typeof import("bun:jsc");
      const h = heapStats();
      const m = process.memoryUsage();
      const line = { t: Math.round(performance.now() / 1000), rss: m.rss, heap: h.heapSize, objects: h.objectCount };
      appendFileSync(file, `${JSON.stringify({ ...line, types: h.objectTypeCounts })}\n`);
    } catch {
      // a diagnostic must never hurt the daemon
    }
  };
  write();
  return setInterval(write, every);
}
