/**
 * The engine's peer-dead guard (hb_engine_vip_guard), on a real kernel: the etcd arbiter turns it on
 * while a holder keeps its groups without a lease on the word of the peers it hears. The moment the
 * heartbeat thread declares a peer dead, it removes the floating addresses itself, with no JavaScript
 * involved (the whole daemon's case, with a real etcd and a stalled loop: arbiter.test.ts, scenario g).
 * Without the guard the same cut leaves the address in place: that is what the guard changes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ClusterFiles, configText, HbProcess } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/vip-guard.test.ts", why);
const HELPER = join(import.meta.dir, "../lib/links-node.ts");
const ADDR = "198.51.100.99";

describe.skipIf(Boolean(why))("the heartbeat thread's peer-dead guard on the floating addresses", () => {
  let lab: Lab;
  let files: ClusterFiles;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    files = new ClusterFiles(
      configText({
        nodes: 2,
        timing: { keepalive: "50ms", warntime: "150ms", deadtime: "250ms", initdead: "2s" },
        links: ['kind = "udp"\ninterface = "eth0"'],
      }),
    );
  }, 30_000);
  afterAll(async () => {
    await lab?.destroy();
    files?.cleanup();
  });

  /** The switch drops everything between the two nodes (carrier stays up), or nothing. */
  const cut = async (on: boolean) => {
    const rules = ['iifname "n1l0" oifname "n2l0" drop', 'iifname "n2l0" oifname "n1l0" drop'];
    const r = await lab.exec(lab.bridge, [
      "nft",
      on
        ? `add table bridge vg; add chain bridge vg fw { type filter hook forward priority 0; }; ${rules.map((x) => `add rule bridge vg fw ${x}`).join("; ")}`
        : "delete table bridge vg",
    ]);
    expect(r.code).toBe(0);
  };
  const hasAddr = async () =>
    (await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout.includes(`inet ${ADDR}/`);

  /** node1 keeps ADDR (guarded or not), node2 beats; both see each other up; then the cut. */
  async function cutWith(guard: boolean): Promise<HbProcess> {
    expect((await lab.exec(lab.nodes[0]!, ["ip", "addr", "replace", `${ADDR}/24`, "dev", "eth0"])).code).toBe(0);
    const env = { ...process.env, LINKS_NODE_VIP: `${ADDR}/24@eth0`, LINKS_NODE_GUARD: guard ? "1" : "0" };
    const n1 = new HbProcess(
      lab.spawn(lab.nodes[0]!, [process.execPath, HELPER, files.config(1), "node1"], { env }),
      "node1",
    );
    const n2 = new HbProcess(lab.spawn(lab.nodes[1]!, [process.execPath, HELPER, files.config(2), "node2"]), "node2");
    try {
      await n1.waitLine(/"type":"peer","peer":"node2","state":"up"/, 10_000);
      await n2.waitLine(/"type":"peer","peer":"node1","state":"up"/, 10_000);
      expect(await hasAddr()).toBe(true);
      await cut(true);
      await n1.waitLine(/"type":"peer","peer":"node2","state":"dead"/, 5000);
      await Bun.sleep(300); // a removal that was to come has come
      return n1;
    } finally {
      await cut(false);
      await Promise.all([n1.stop(), n2.stop()]);
    }
  }

  test("guarded: node2 going dead takes the address with it, reported with node2's name", async () => {
    const n1 = await cutWith(true);
    expect(await hasAddr()).toBe(false);
    const ev = n1.lines.map((l) => l.text).find((t) => t.includes('"type":"vip"'));
    expect(ev).toBeDefined();
    expect(JSON.parse(ev!)).toMatchObject({ type: "vip", op: "peer-dead", peer: "node2", errno: 0, address: ADDR });
    // the removal comes after the verdict, in the same wake-up: the verdict's line is first
    const lines = n1.lines.map((l) => l.text);
    expect(lines.findIndex((t) => t.includes('"state":"dead"'))).toBeLessThan(lines.indexOf(ev!));
  }, 30_000);

  test("unguarded: the same cut leaves the address where it is", async () => {
    const n1 = await cutWith(false);
    expect(await hasAddr()).toBe(true);
    expect(n1.lines.some((l) => l.text.includes('"type":"vip"'))).toBe(false);
  }, 30_000);
});
