/**
 * make cts: CTS_ITERATIONS (default 100) seeded iterations; CTS_SEED replays a run (default: a new
 * seed, printed first). Prints the faults x audits table and every failure; keeps the daemons' logs
 * of failing iterations in build/cts/SEED/. Exit 1 on any audit failure or leak. Needs root.
 */
import { join } from "node:path";
import { announceSkip, netnsUnavailable } from "../lib/netns.ts";
import { renderTable, runCts } from "./cts.ts";

const why = netnsUnavailable();
if (why) {
  announceSkip("make cts", why);
  process.exit(1);
}
const seed = process.env.CTS_SEED ? Number(process.env.CTS_SEED) : Math.floor(Math.random() * 2 ** 31);
const iterations = Number(process.env.CTS_ITERATIONS ?? 100);
if (!Number.isInteger(seed) || !Number.isInteger(iterations) || iterations < 1) {
  console.error("cts: CTS_SEED and CTS_ITERATIONS must be whole numbers");
  process.exit(2);
}
console.log(
  `cts: seed ${seed}, ${iterations} iterations (replay: CTS_SEED=${seed} CTS_ITERATIONS=${iterations} make cts)`,
);
const keepDir = join(import.meta.dir, "../../build/cts", String(seed));
const r = await runCts({ seed, iterations, keepDir });
console.log(`\n${renderTable(r)}\n`);
for (const f of r.failures)
  console.log(`FAILED iteration ${f.iteration}: ${f.fault} on node${f.node}: ${f.audit}: ${f.message}`);
for (const l of r.leaks) console.log(`LEAK: ${l}`);
console.log(
  `cts: seed ${seed}: ${r.iterations} iterations in ${Math.round(r.seconds)} s, ${r.failures.length} audit failure(s), ${r.leaks.length} leak(s)${r.failures.length ? `; logs in ${keepDir}` : ""}`,
);
process.exit(r.failures.length || r.leaks.length ? 1 : 0);
