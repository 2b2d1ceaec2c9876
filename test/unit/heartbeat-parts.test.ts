import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRecord, encodeRecord, HEARD_OFFSET, heardOffset } from "../../src/cluster/record.ts";
import { nextGeneration } from "../../src/daemon/generation.ts";
import type { HeartbeatSlice } from "../../src/heartbeat/setup.ts";
import { clusterId, heartbeatSetup } from "../../src/heartbeat/setup.ts";
import { Engine, NativeError } from "../../src/native/shim.ts";

describe("boot generation", () => {
  test("strictly increases across restarts, even when the clock stands still or goes back", () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-gen-"));
    try {
      const a = nextGeneration(dir, 1_000_000);
      const b = nextGeneration(dir, 1_000_000);
      const c = nextGeneration(dir, 5); // clock set back
      expect(a).toEqual({ generation: 1_000_000n, persisted: true });
      expect(b.generation).toBe(1_000_001n);
      expect(c.generation).toBe(1_000_002n);
      expect(readFileSync(join(dir, "generation"), "utf8")).toBe("1000002\n");
      expect(nextGeneration(dir, 2_000_000).generation).toBe(2_000_000n); // the clock wins when ahead
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("an unwritable state dir falls back to the clock with a warning; garbage in the file is ignored", () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-gen-"));
    try {
      writeFileSync(join(dir, "generation"), "not a number");
      expect(nextGeneration(dir, 42).generation).toBe(42n);
      const blocked = join(dir, "file-not-dir");
      writeFileSync(blocked, "");
      const r = nextGeneration(join(blocked, "state"), 777);
      expect(r.generation).toBe(777n);
      expect(r.persisted).toBe(false);
      expect(r.warning).toMatch(/using the wall clock as boot generation/);
    } finally {
      chmodSync(dir, 0o700);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("state record", () => {
  test("round-trips and stays within the 64-byte payload", () => {
    const r = {
      state: "active" as const,
      score: 80,
      groups: [0, 3, 31],
      failed: [2],
      yields: [1, 4],
      serial: 201,
      heard: [0, 2],
    };
    const b = encodeRecord(r);
    expect(b.length).toBeLessThanOrEqual(64);
    expect(decodeRecord(b)).toEqual(r);
  });
  test("a 12-byte record of an older hb reads as yielding nothing", () => {
    const b = encodeRecord({ state: "active", score: 100, groups: [1], failed: [], yields: [0] }).slice(0, 12);
    expect(decodeRecord(b)).toEqual({ state: "active", score: 100, groups: [1], failed: [], yields: [] });
  });
  test("more than 32 groups: version 2 (128 groups), the heard set at its own offset; 32 or fewer: version 1 still", () => {
    const r = {
      state: "active" as const,
      score: 80,
      groups: [0, 33, 127],
      failed: [64],
      yields: [31, 100],
      serial: 7,
      heard: [0, 15, 31],
    };
    const b = encodeRecord(r, 128);
    expect(b[0]).toBe(2);
    expect(b.length).toBeLessThanOrEqual(64);
    expect(decodeRecord(b)).toEqual(r);
    expect(heardOffset(128)).toBe(53);
    expect(heardOffset(32)).toBe(HEARD_OFFSET);
    expect(encodeRecord(r, 32)[0]).toBe(1);
    // the engine writes the heard set at the offset: the decoder finds it there
    const w = encodeRecord({ ...r, heard: [] }, 128);
    new DataView(w.buffer).setUint32(heardOffset(128), 0x80000001);
    expect(decodeRecord(w)!.heard).toEqual([0, 31]);
  });
  test("unknown versions and short records are refused, not guessed", () => {
    expect(decodeRecord(new Uint8Array(3))).toBeUndefined();
    const b = encodeRecord({ state: "standby", score: 0, groups: [] });
    b[0] = 2; // a version 2 record must be 57 bytes
    expect(decodeRecord(b)).toBeUndefined();
    b[0] = 3;
    expect(decodeRecord(b)).toBeUndefined();
    b[0] = 1;
    b[1] = 200;
    expect(decodeRecord(b)).toBeUndefined();
  });
});

describe("heartbeat setup from the config slice", () => {
  const slice: HeartbeatSlice = {
    cluster: { name: "web", node: "b" },
    timing: { keepalive: 100, warntime: 300, deadtime: 500, initdead: 10_000, rt_priority: 0 },
    auth: {
      send: 2,
      keys: [
        { id: 1, secret: new Uint8Array([1]) },
        { id: 2, secret: new Uint8Array([2]) },
      ],
    },
    nodes: [
      { name: "a", id: 1 },
      { name: "b", id: 2 },
      { name: "c", id: 7 },
    ],
    links: [
      { kind: "ether", name: "e", interface: "eth1", peer_mac: { c: "02:00:00:00:00:07" } },
      {
        kind: "udp",
        name: "u",
        interface: "eth0",
        mode: "unicast",
        port: 694,
        ttl: 1,
        peers: { a: "198.51.100.1", b: "198.51.100.2", c: "198.51.100.7" },
      },
      {
        kind: "udp",
        name: "m",
        interface: "eth0",
        mode: "multicast",
        port: 695,
        ttl: 2,
        group: "239.1.2.3",
        peers: {},
      },
    ],
  };
  test("peers are the other nodes; unicast goes to the others' addresses; MACs map to peers", () => {
    const s = heartbeatSetup(slice, 9n);
    expect(s.peers).toEqual(["a", "c"]);
    expect(s.links).toEqual(["e", "u", "m"]);
    expect(s.spec).toMatchObject({ selfId: 2, generation: 9n, sendKey: 2, peerIds: [1, 7], keepalive: 100 });
    expect(s.spec.links[0]).toEqual({ kind: "ether", device: "eth1", macs: [Uint8Array.of(2, 0, 0, 0, 0, 7)] });
    expect(s.spec.links[1]).toMatchObject({ kind: "udp", mode: "unicast", dests: ["198.51.100.1", "198.51.100.7"] });
    expect(s.spec.links[2]).toMatchObject({ kind: "udp", mode: "multicast", dests: ["239.1.2.3"], ttl: 2, port: 695 });
  });
  test("the cluster id is the first 4 bytes of SHA-256(name)", () => {
    // sha256("web") = 4d8a2ad9...
    expect(clusterId("web").toString(16)).toBe(
      new Bun.CryptoHasher("sha256").update("web").digest("hex").slice(0, 8).replace(/^0+/, ""),
    );
  });
});

describe("engine set-up errors are named", () => {
  const spec = {
    clusterId: 1,
    selfId: 1,
    generation: 1n,
    keepalive: 100,
    warntime: 300,
    deadtime: 500,
    initdead: 1000,
    keys: [{ id: 1, secret: new Uint8Array([1, 2, 3]) }],
    sendKey: 1,
    peerIds: [2],
  };
  test("a missing interface is ENODEV with the link named", () => {
    expect(() => new Engine({ ...spec, links: [{ kind: "ether", device: "hbnosuch0" }] })).toThrow(
      "ether link on hbnosuch0: ENODEV",
    );
    expect(() => new Engine({ ...spec, links: [{ kind: "udp", device: "hbnosuch0" }] })).toThrow(NativeError);
  });
  test("a missing serial device is ENOENT", () => {
    expect(
      () => new Engine({ ...spec, links: [{ kind: "serial", device: "/dev/hb-no-such-tty", baud: 19200 }] }),
    ).toThrow("serial link on /dev/hb-no-such-tty: ENOENT");
  });
  test("bad timing is refused by the shim itself", () => {
    expect(() => new Engine({ ...spec, warntime: 50, links: [] })).toThrow("hb_engine_new: EINVAL");
  });
});
