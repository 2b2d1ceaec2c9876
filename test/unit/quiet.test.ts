/**
 * Quiet listening (native/engine_quiet.c): the bell's socket filter rings for news only. Run by
 * native/test_bell.c on an AF_UNIX socketpair under ASan/UBSan: the kernel runs the real filter.
 */
import { expect, test } from "bun:test";
import { buildSanitized } from "../lib/sanitized.ts";

test("the bell rings for a control message, a new record or generation, a sender not read yet; not for a routine beat or a stranger's frame", () => {
  const cc = buildSanitized("test_bell");
  expect(cc.stderr).toBe("");
  const run = Bun.spawnSync([cc.bin], { env: { ...process.env, ASAN_OPTIONS: "detect_leaks=1" }, timeout: 30_000 });
  expect(run.stderr.toString()).toBe("");
  const got = Object.fromEntries(
    run.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => l.split(" ")),
  );
  expect(got).toEqual({
    // ether links (the frame right after the Ethernet header)
    "unknown-record": "rings", // nothing read from that sender yet
    routine: "quiet", // same generation, same record: waits in the socket
    "changed-record": "rings", // the last byte differs
    "shorter-record": "rings",
    "new-generation": "rings", // the peer restarted (or a clone)
    "new-generation-high": "rings",
    control: "rings",
    "other-cluster": "quiet",
    "unknown-sender": "quiet",
    self: "quiet",
    "second-peer-unknown": "rings",
    "second-peer-routine": "quiet",
    "second-peer-changed": "rings",
    "other-version": "quiet",
    runt: "quiet",
    // udp links (a packet socket for IPv4: the IP header, its options, the UDP port)
    "routine-udp": "quiet",
    "routine-udp-options": "quiet",
    "changed-record-udp": "rings",
    "changed-record-udp-options": "rings",
    "changed-record-other-port": "quiet",
    "changed-record-fragment": "quiet",
    "control-udp": "rings",
  });
  expect(run.exitCode).toBe(0);
}, 60_000);
