/** The legacy guard without a network: Heartbeat v1 framing, bad packets, liveness with a fake clock. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LegacyKey } from "../../src/config/schema.ts";
import { LegacyGuard, type Listener } from "../../src/legacy/guard.ts";
import { parseLegacy, verifyLegacy } from "../../src/legacy/wire.ts";

/** A status packet captured from a running Heartbeat 3.0.6 (Debian), authkeys `2 sha1 s3cret-legacy`. */
const REAL = new Uint8Array(readFileSync(join(import.meta.dir, "../fixtures/legacy/heartbeat-3.0.6-status-sha1.bin")));
const KEY: LegacyKey = { id: 2, method: "sha1", secret: enc0("s3cret-legacy") };
function enc0(s: string) {
  return new TextEncoder().encode(s);
}

const enc = (s: string) => new TextEncoder().encode(s);
/** A status message as Heartbeat 2.x/3.x sends it (classic framing). */
export const CLASSIC =
  ">>>\nt=status\nst=active\ndt=3a98\nprotocol=1\nsrc=oldnode\n(1)srcuuid=ABCDEFGH\nseq=1b\nhg=4f2a9c10\nts=4f2a9d11\nld=0.00 0.01 0.05 1/98 1234\nttl=3\nauth=1 5ba7d1b3f4b3c2e1a0\n<<<\n";
const netstring = (fields: string[]) => `###\n${fields.map((f) => `${f.length}:${f},`).join("")}%%%\n`;

describe("Heartbeat v1 framing", () => {
  test("classic: the sender, type and status", () => {
    expect(parseLegacy(enc(CLASSIC))).toMatchObject({ src: "oldnode", type: "status", status: "active" });
  });
  test("netstring, with a typed field", () => {
    expect(parseLegacy(enc(netstring(["t=status", "st=up", "src=n2", "(1)srcuuid=xyz", "auth=1 ab"])))).toMatchObject({
      src: "n2",
      type: "status",
      status: "up",
    });
  });
  test.each([
    ["no end marker", ">>>\nt=status\nsrc=a\nauth=1 x\n"],
    ["no sender", ">>>\nt=status\nauth=1 x\n<<<\n"],
    ["a sender that is not a node name", ">>>\nt=status\nsrc=../../x\nauth=1 x\n<<<\n"],
    ["no auth", ">>>\nt=status\nsrc=a\n<<<\n"],
    ["a line that is not key=value", ">>>\nt=status\nsrc=a\nauth=1 x\nrm -rf /\n<<<\n"],
    ["a truncated netstring", "###\n20:t=status,%%%\n"],
    ["a netstring with a bad length", "###\nxx:t=status,%%%\n"],
    ["something else on the port", "hello\n"],
  ])("%s: refused", (_, s) => expect(typeof parseLegacy(enc(s))).toBe("string"));
  test("random bytes never throw", () => {
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(4 + Math.floor(Math.random() * 300)).map(() => Math.floor(Math.random() * 256));
      if (i % 2) b.set(enc(i % 4 === 1 ? ">>>\n" : "###\n"));
      expect(() => parseLegacy(b)).not.toThrow();
    }
  });
});

class FakeListener implements Listener {
  readonly queue: { payload: Uint8Array; from: string }[] = [];
  closed = false;
  readonly descriptor = -1;
  constructor(readonly ifname: string) {}
  read() {
    return this.queue.shift();
  }
  close() {
    this.closed = true;
  }
}

describe("the guard", () => {
  test("a node is alive from its first valid message until deadtime passes; bad packets are counted, not believed", () => {
    let now = 0;
    const eth0 = new FakeListener("eth0");
    const changes: string[] = [];
    const g = new LegacyGuard(
      [eth0],
      10_000,
      (n, alive) => changes.push(`${n.node}@${n.ifname} ${alive ? "alive" : "gone"}`),
      [],
      () => {},
      () => now,
    );
    eth0.queue.push(
      { payload: enc("junk"), from: "198.51.100.9" },
      { payload: enc(CLASSIC.replace("src=oldnode", "src=")), from: "198.51.100.9" },
    );
    g.poll();
    expect(changes).toEqual([]);
    expect(g.stats).toMatchObject({ packets: 2, bad: 2 });
    eth0.queue.push({ payload: enc(CLASSIC), from: "198.51.100.9" });
    g.poll();
    expect(changes).toEqual(["oldnode@eth0 alive"]);
    now = 9000;
    eth0.queue.push({ payload: enc(CLASSIC), from: "198.51.100.9" });
    g.poll(); // heard again: still alive, no new change
    now = 18_000;
    g.poll();
    expect(changes).toEqual(["oldnode@eth0 alive"]);
    now = 19_001;
    g.poll();
    expect(changes).toEqual(["oldnode@eth0 alive", "oldnode@eth0 gone"]);
    g.stop();
    expect(eth0.closed).toBe(true);
  });
});

describe("Heartbeat authentication (verifyLegacy)", () => {
  test("a packet of a real Heartbeat 3.0.6 verifies with its authkeys key", () => {
    expect(parseLegacy(REAL)).toMatchObject({ src: "oldnode", type: "status" });
    expect(verifyLegacy(REAL, [KEY])).toEqual({ verdict: "verified" });
  });
  test("another secret, another method, another key number, a changed byte: forged", () => {
    expect(verifyLegacy(REAL, [{ ...KEY, secret: enc0("guess") }]).verdict).toBe("forged");
    expect(verifyLegacy(REAL, [{ ...KEY, method: "md5" }]).verdict).toBe("forged");
    expect(verifyLegacy(REAL, [{ ...KEY, id: 1 }])).toMatchObject({
      verdict: "forged",
      why: "names key 2, which is not a [[legacy.key]]",
    });
    const text = new TextDecoder("latin1").decode(REAL);
    const tampered = Uint8Array.from(Buffer.from(text.replace("st=up", "st=ok"), "latin1"));
    expect(verifyLegacy(tampered, [KEY]).verdict).toBe("forged");
    const stripped = REAL.subarray(0, text.lastIndexOf("%%%\n") + 4);
    expect(verifyLegacy(stripped, [KEY])).toMatchObject({
      verdict: "forged",
      why: "no authentication after the message",
    });
  });
  test("no key, or the classic framing: unverifiable", () => {
    expect(verifyLegacy(REAL, []).verdict).toBe("unverifiable");
    expect(verifyLegacy(enc(CLASSIC), [KEY]).verdict).toBe("unverifiable");
  });
  test("the guard: verified nodes are trusted, unverifiable ones reported untrusted, forged ones counted; senders capped", () => {
    const eth0 = new FakeListener("eth0");
    const changes: string[] = [];
    const forged: string[] = [];
    const g = new LegacyGuard(
      [eth0],
      10_000,
      (n, alive) => changes.push(`${n.node} ${alive ? "alive" : "gone"} ${n.trusted ? "trusted" : "untrusted"}`),
      [KEY],
      (w) => forged.push(w),
      () => 0,
    );
    eth0.queue.push({
      payload: enc(
        `${netstring(["t=status", "st=active", "src=evil", "auth=2 00"])}42:2 0000000000000000000000000000000000000000,`,
      ),
      from: "198.51.100.66",
    });
    eth0.queue.push({ payload: enc(CLASSIC), from: "198.51.100.9" }, { payload: REAL, from: "198.51.100.9" });
    g.poll();
    expect(changes).toEqual(["oldnode alive untrusted", "oldnode alive trusted"]);
    expect(g.stats.forged).toBe(1);
    expect(forged[0]).toContain(
      "claims evil, from 198.51.100.66 on eth0: authentication with key 2 (sha1) does not verify",
    );
    for (let i = 0; i < 40; i++)
      eth0.queue.push({ payload: enc(CLASSIC.replace("src=oldnode", `src=n${i}`)), from: "198.51.100.9" });
    g.poll();
    expect(g.alive.size).toBe(16);
    expect(g.stats.capped).toBe(40 - 15);
  });
  test("status text with terminal escapes is made printable", () => {
    expect(parseLegacy(enc(CLASSIC.replace("st=active", "st=\x1b[31mred\x07")))).toMatchObject({ status: "?[31mred?" });
  });
});
