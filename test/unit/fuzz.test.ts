/**
 * Every C parser reachable from outside (frames with the replay window, generations and liveness, the
 * serial deframer, rtnetlink, ICMP echo replies, ARP/ND answers, legacy packets), fuzzed in C
 * under AddressSanitizer + UndefinedBehaviorSanitizer (leak checking on) with
 * 10^6 random and mutated frames in every run.
 */
import { expect, test } from "bun:test";
import { DROP_REASONS } from "../../src/heartbeat/types.ts";
import { buildSanitized } from "../lib/sanitized.ts";

const ITERATIONS = 1_000_000;

test(`fuzz: ${ITERATIONS.toLocaleString("en")} frames under ASan/UBSan, no crash, no leak`, () => {
  const cc = buildSanitized("fuzz_frame");
  expect(cc.stderr).toBe("");
  expect(cc.exitCode).toBe(0);

  const seed = String(Math.floor(Math.random() * 2 ** 48));
  const run = Bun.spawnSync([cc.bin, String(ITERATIONS), seed], {
    env: {
      ...process.env,
      ASAN_OPTIONS: "detect_leaks=1:halt_on_error=1:abort_on_error=0",
      UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1",
    },
    timeout: 120_000,
  });
  const out = run.stdout.toString();
  const err = run.stderr.toString();
  if (run.exitCode !== 0) console.error(`fuzz seed ${seed}:\n${err}`);
  expect(err).not.toMatch(/AddressSanitizer|LeakSanitizer|runtime error/);
  expect(run.exitCode).toBe(0);
  expect(out).toContain(`iterations ${ITERATIONS}`);
  expect(out).toContain("resync ok"); // noise + torn frame + frame, split at every offset: exactly one frame

  // The fuzzer must really reach every branch: frames accepted, and each drop reason hit.
  const link0 = out
    .split("\n")
    .find((l) => l.startsWith("link 0:"))!
    .split(" ")
    .slice(2)
    .map(Number);
  for (let i = 0; i < DROP_REASONS.length; i++)
    expect({ reason: DROP_REASONS[i], hits: link0[i]! > 0 }).toEqual({ reason: DROP_REASONS[i], hits: true });
  expect(Number(/accepted (\d+)/.exec(out)![1])).toBeGreaterThan(1000);
  expect(Number(/events (\d+)/.exec(out)![1])).toBeGreaterThan(1000);
  // ...and every other parser the outside reaches: rtnetlink acks, address dumps and link events, probe
  // answers (ARP/ND), the legacy listener's packets, echo replies; and receivers restarted with their floors
  const reached = Object.fromEntries(
    [.../reached (.*)/.exec(out)![1]!.matchAll(/(\w+) (\d+)/g)].map((m) => [m[1], Number(m[2])]),
  );
  for (const p of ["ack", "addr", "link", "conflict", "legacy", "ping"])
    expect({ parser: p, reached: (reached[p] ?? 0) > 100 }).toEqual({ parser: p, reached: true });
  expect(Number(/restarts (\d+)/.exec(out)![1])).toBeGreaterThanOrEqual(9);
}, 180_000);
