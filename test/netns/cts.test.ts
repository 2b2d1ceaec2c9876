/**
 * The short, fixed-seed pass of the randomized cluster test (the long run is `make cts`): every
 * fault once on a 2-node cluster, then once on a 3-node cluster, each followed by the audits.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { FAULTS, renderTable, runCts } from "../cts/cts.ts";
import { announceSkip, netnsUnavailable } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/cts.test.ts", why);

test.skipIf(Boolean(why))(
  "cts, fixed seed: every fault on 2 and 3 nodes, every audit passes, nothing leaks",
  async () => {
    const r = await runCts({
      seed: 20261201,
      iterations: 2 * FAULTS.length,
      block: FAULTS.length,
      cover: true,
      say: () => {},
      keepDir: join(import.meta.dir, "../../build/cts/make-test"),
    });
    console.log(
      `${renderTable(r)}\n${r.failures.map((f) => `FAILED iteration ${f.iteration}: ${f.fault} on node${f.node}: ${f.audit}: ${f.message}`).join("\n")}`,
    );
    expect(r.failures).toEqual([]);
    expect(r.leaks).toEqual([]);
    for (const f of FAULTS) expect(r.table[f]["one holder"][0]).toBe(2);
  },
  300_000,
);
