/**
 * The heartbeat thread's own guard on the floating addresses (hb_engine_vip_guard), on a real kernel.
 * The daemon sets it for the rules that count peers: majority quorum, and the etcd arbiter while a holder
 * keeps its groups without a lease on the word of every peer it hears. The moment the thread declares a
 * peer dead and the votes it still hears fall below the rule, it removes the addresses itself, with no
 * JavaScript involved (the whole daemon's case, a real etcd and a stalled loop: arbiter.test.ts, scenario
 * g). Three engines; node1 keeps the address; the switch cuts node1 from one peer, then from the other.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { AddressGuard } from "../../src/heartbeat/types.ts";
import { ClusterFiles, configText, HbProcess } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/vip-guard.test.ts", why);
const HELPER = join(import.meta.dir, "../lib/links-node.ts");
const ADDR = "198.51.100.99";

describe.skipIf(Boolean(why))("the heartbeat thread's guard on the floating addresses", () => {
  let lab: Lab;
  let files: ClusterFiles;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3 });
    files = new ClusterFiles(
      configText({
        nodes: 3,
        timing: { keepalive: "50ms", warntime: "150ms", deadtime: "250ms", initdead: "2s" },
        links: ['kind = "udp"\ninterface = "eth0"'],
      }),
    );
  }, 30_000);
  afterAll(async () => {
    await lab?.destroy();
    files?.cleanup();
  });

  /** The switch also drops everything between node1 and `peer` (carrier stays up); heal() ends every cut.
   * Rules are only added, never replaced: a cut peer must not be heard for a moment between two cuts. */
  const cut = async (peer: number) => {
    const rules = [`iifname "n1l0" oifname "n${peer}l0" drop`, `iifname "n${peer}l0" oifname "n1l0" drop`];
    const add = `add table bridge vg; add chain bridge vg fw { type filter hook forward priority 0; }; ${rules.map((x) => `add rule bridge vg fw ${x}`).join("; ")}`;
    expect((await lab.exec(lab.bridge, ["nft", add])).code).toBe(0);
  };
  const heal = () => lab.exec(lab.bridge, ["nft", "delete table bridge vg"]);
  const hasAddr = async () =>
    (await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout.includes(`inet ${ADDR}/`);
  const vipEvents = (n: HbProcess) =>
    n.lines.filter((l) => l.text.includes('"type":"vip"')).map((l) => JSON.parse(l.text) as Record<string, unknown>);

  /**
   * node1 keeps ADDR under `rule`; all three see each other; the switch cuts node1 from node2, then
   * also from node3. Returns whether node1 still had the address after each cut, and node1's events.
   */
  async function run(rule: AddressGuard | null): Promise<{ after: boolean[]; node1: HbProcess }> {
    expect((await lab.exec(lab.nodes[0]!, ["ip", "addr", "replace", `${ADDR}/24`, "dev", "eth0"])).code).toBe(0);
    const env = {
      ...process.env,
      LINKS_NODE_VIP: `${ADDR}/24@eth0`,
      LINKS_NODE_GUARD: rule ? JSON.stringify(rule) : "",
    };
    const procs = [1, 2, 3].map(
      (i) =>
        new HbProcess(
          lab.spawn(lab.nodes[i - 1]!, [process.execPath, HELPER, files.config(i), `node${i}`], i === 1 ? { env } : {}),
          `node${i}`,
        ),
    );
    const node1 = procs[0]!;
    try {
      for (const p of [2, 3]) await node1.waitLine(new RegExp(`"type":"peer","peer":"node${p}","state":"up"`), 10_000);
      expect(await hasAddr()).toBe(true);
      const after: boolean[] = [];
      for (const peer of [2, 3]) {
        await cut(peer);
        await node1.waitLine(new RegExp(`"type":"peer","peer":"node${peer}","state":"dead"`), 5000);
        await Bun.sleep(300); // a removal that was to come has come
        after.push(await hasAddr());
      }
      return { after, node1 };
    } finally {
      await heal();
      await Promise.all(procs.map((p) => p.stop()));
    }
  }

  test("every peer needed (the arbiter without a lease): the first peer to go dead takes the address", async () => {
    const { after, node1 } = await run({ votes: { node2: 1, node3: 1 }, self: 0, need: 2 });
    expect(after).toEqual([false, false]);
    expect(vipEvents(node1)).toEqual([
      expect.objectContaining({ type: "vip", op: "peer-dead", peer: "node2", errno: 0, address: ADDR }),
    ]);
  }, 30_000);

  test("a majority needed (2 of 3 votes): one peer dead keeps it, both dead take it", async () => {
    const { after, node1 } = await run({ votes: { node2: 1, node3: 1 }, self: 1, need: 2 });
    expect(after).toEqual([true, false]);
    expect(vipEvents(node1)).toEqual([expect.objectContaining({ op: "peer-dead", peer: "node3", address: ADDR })]);
  }, 30_000);

  test("no rule: the same cuts leave the address where it is", async () => {
    const { after, node1 } = await run(null);
    expect(after).toEqual([true, true]);
    expect(vipEvents(node1)).toEqual([]);
  }, 30_000);
});
