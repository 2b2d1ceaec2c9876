/** The legacy guard without a network: Heartbeat v1 framing, bad packets, liveness with a fake clock. */
import { describe, expect, test } from "bun:test";
import { LegacyGuard, type Listener } from "../../src/legacy/guard.ts";
import { parseLegacy } from "../../src/legacy/wire.ts";

const enc = (s: string) => new TextEncoder().encode(s);
/** A status message as Heartbeat 2.x/3.x sends it (classic framing). */
export const CLASSIC = ">>>\nt=status\nst=active\ndt=3a98\nprotocol=1\nsrc=oldnode\n(1)srcuuid=ABCDEFGH\nseq=1b\nhg=4f2a9c10\nts=4f2a9d11\nld=0.00 0.01 0.05 1/98 1234\nttl=3\nauth=1 5ba7d1b3f4b3c2e1a0\n<<<\n";
const netstring = (fields: string[]) => `###\n${fields.map((f) => `${f.length}:${f},`).join("")}%%%\n`;

describe("Heartbeat v1 framing", () => {
  test("classic: the sender, type and status", () => {
    expect(parseLegacy(enc(CLASSIC))).toMatchObject({ src: "oldnode", type: "status", status: "active" });
  });
  test("netstring, with a typed field", () => {
    expect(parseLegacy(enc(netstring(["t=status", "st=up", "src=n2", "(1)srcuuid=xyz", "auth=1 ab"])))).toMatchObject({ src: "n2", type: "status", status: "up" });
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
    const g = new LegacyGuard([eth0], 10_000, (n, alive) => changes.push(`${n.node}@${n.ifname} ${alive ? "alive" : "gone"}`), () => now);
    eth0.queue.push({ payload: enc("junk"), from: "198.51.100.9" }, { payload: enc(CLASSIC.replace("src=oldnode", "src=")), from: "198.51.100.9" });
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
