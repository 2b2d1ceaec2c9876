/** What was last heard from each peer, kept across restarts (state_dir/peers.json). */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadFloors, PEERS_FILE, saveFloors } from "../../src/daemon/peers.ts";

const dir = mkdtempSync(join(tmpdir(), "hb-peers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("saved, then loaded by engine order (peers, links); a peer or link not saved has no floor", () => {
  saveFloors(dir, {
    node2: { generation: "1796139760400", seqs: { "udp:eth0": "812", "ether:eth1": "809" } },
    node3: { generation: "0", seqs: {} },
  });
  expect(statSync(join(dir, PEERS_FILE)).mode & 0o777).toBe(0o600);
  const { floors, warning } = loadFloors(dir, ["node3", "node2"], ["ether:eth1", "udp:eth0", "serial:/dev/ttyS0"]);
  expect(warning).toBeUndefined();
  expect(floors).toEqual([undefined, { generation: 1796139760400n, seqs: [809n, 812n, 0n] }]);
});

test("no file: no floors, no warning; a broken or hostile file: no floors and a warning, never a throw", () => {
  const empty = mkdtempSync(join(tmpdir(), "hb-peers-"));
  expect(loadFloors(empty, ["node2"], ["udp:eth0"])).toEqual({ floors: [] });
  writeFileSync(join(empty, PEERS_FILE), "{not json");
  expect(loadFloors(empty, ["node2"], ["udp:eth0"]).warning).toContain("is not JSON");
  writeFileSync(
    join(empty, PEERS_FILE),
    JSON.stringify({
      version: 1,
      peers: { node2: { generation: "-5", seqs: { "udp:eth0": "1e99" } }, __proto__: { generation: "1" } },
    }),
  );
  expect(loadFloors(empty, ["node2"], ["udp:eth0"]).floors).toEqual([undefined]);
  writeFileSync(
    join(empty, PEERS_FILE),
    JSON.stringify({ version: 1, peers: { node2: { generation: "7", seqs: { "udp:eth0": "x" } } } }),
  );
  expect(loadFloors(empty, ["node2"], ["udp:eth0"]).floors).toEqual([{ generation: 7n, seqs: [0n] }]);
  rmSync(empty, { recursive: true, force: true });
});
