/** Floating-address primitives on a real kernel: rtnetlink, lease, announcements, probes. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { announceSkip, Lab, netnsUnavailable, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/vip.test.ts", why);
const OP = join(import.meta.dir, "../lib/fixtures/vip-op.ts");
const VIP = "198.51.100.50";
const VIP6 = "2001:db8::50";

describe.skipIf(Boolean(why))("VIP primitives", () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  const op = async (node: number, args: string[], env: Record<string, string> = {}) => {
    const r = await lab.exec(lab.nodes[node - 1]!, [process.execPath, OP, ...args], 10_000, {
      ...process.env,
      ...env,
    } as Record<string, string>);
    return r.stdout.trim();
  };
  const addrs = async (ns: string) => (await lab.exec(ns, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout;

  test("add with label and lifetime, look up, remove; removing twice says it was not there", async () => {
    expect(await op(1, ["add", "4", VIP, "24", "eth0", "eth0:hb"], { LIFETIME: "30" })).toBe("");
    const shown = await addrs(lab.nodes[0]!);
    expect(shown).toMatch(new RegExp(`inet ${VIP}/24 brd 198.51.100.255 scope global secondary dynamic eth0:hb`));
    expect(shown).toMatch(/valid_lft (29|30)sec preferred_lft (29|30)sec/);
    expect(await op(1, ["has", "4", VIP, "24", "eth0"])).toBe("true");
    expect(await op(1, ["add", "4", VIP, "24", "eth0"])).toMatch(/error: add 198.51.100.50\/24 on eth0: EEXIST/);
    expect(await op(1, ["del", "4", VIP, "24", "eth0"])).toBe("true");
    expect(await op(1, ["del", "4", VIP, "24", "eth0"])).toBe("false");
    expect(await op(1, ["has", "4", VIP, "24", "eth0"])).toBe("false");
  });

  test("the kernel removes an address whose lease is not renewed", async () => {
    expect(await op(1, ["add", "4", VIP, "24", "eth0"], { LIFETIME: "1" })).toBe("");
    expect(await op(1, ["has", "4", VIP, "24", "eth0"])).toBe("true");
    await waitFor("the lease to expire", async () => !(await addrs(lab.nodes[0]!)).includes(VIP), 5000, 100);
  });

  test("IPv6 is added without DAD (usable at once)", async () => {
    expect(await op(1, ["add", "6", VIP6, "64", "eth0"])).toBe("");
    const line = (await addrs(lab.nodes[0]!)).split("\n").find((l) => l.includes(VIP6)) ?? "";
    expect(line).toMatch(new RegExp(`inet6 ${VIP6}/64 scope global nodad`));
    expect(line).not.toContain("tentative");
    expect(await op(1, ["del", "6", VIP6, "64", "eth0"])).toBe("true");
  });

  test("gratuitous ARP moves the client's neighbour entry to the announcing node's MAC", async () => {
    const c = lab.client!;
    // the client learns VIP -> node1
    await op(1, ["add", "4", VIP, "24", "eth0"]);
    expect((await lab.exec(c, ["ping", "-c1", "-W1", VIP])).code).toBe(0);
    expect((await lab.exec(c, ["ip", "neigh", "show", VIP])).stdout).toContain(Lab.nodeMac(1));
    // node2 takes over and announces; the client is told, without asking
    await op(1, ["del", "4", VIP, "24", "eth0"]);
    await op(2, ["add", "4", VIP, "24", "eth0"]);
    await Bun.sleep(1100); // past the client's locktime since it learned node1
    expect(await op(2, ["announce", "4", VIP, "24", "eth0", "2"])).toBe("4");
    await waitFor(
      "the client's entry to point at node2",
      async () => (await lab.exec(c, ["ip", "neigh", "show", VIP])).stdout.includes(Lab.nodeMac(2)),
      2000,
      20,
    );
    await op(2, ["del", "4", VIP, "24", "eth0"]);
  });

  test("unsolicited NA moves the client's IPv6 neighbour entry", async () => {
    const c = lab.client!;
    await lab.exec(c, ["ip", "addr", "add", "2001:db8::100/64", "dev", "eth0", "nodad"]);
    await op(1, ["add", "6", VIP6, "64", "eth0"]);
    await waitFor(
      "client reaches the IPv6 VIP",
      async () => (await lab.exec(c, ["ping", "-6", "-c1", "-W1", VIP6])).code === 0,
      5000,
      100,
    );
    expect((await lab.exec(c, ["ip", "-6", "neigh", "show", VIP6])).stdout).toContain(Lab.nodeMac(1));
    await op(1, ["del", "6", VIP6, "64", "eth0"]);
    await op(2, ["add", "6", VIP6, "64", "eth0"]);
    expect(await op(2, ["announce", "6", VIP6, "64", "eth0", "1"])).toBe("2");
    await waitFor(
      "the client's IPv6 entry to point at node2",
      async () => (await lab.exec(c, ["ip", "-6", "neigh", "show", VIP6])).stdout.includes(Lab.nodeMac(2)),
      2000,
      20,
    );
    await op(2, ["del", "6", VIP6, "64", "eth0"]);
  });

  test("the probe finds an address someone else answers for, and not a free one", async () => {
    expect(await op(2, ["probe", "4", VIP, "24", "eth0", "50"])).toBe("false");
    await op(1, ["add", "4", VIP, "24", "eth0"]);
    expect(await op(2, ["probe", "4", VIP, "24", "eth0", "50"])).toBe("true");
    await op(1, ["del", "4", VIP, "24", "eth0"]);
    // IPv6: DAD solicitation answered by the holder
    await op(1, ["add", "6", VIP6, "64", "eth0"]);
    expect(await op(2, ["probe", "6", VIP6, "64", "eth0", "100"])).toBe("true");
    await op(1, ["del", "6", VIP6, "64", "eth0"]);
    expect(await op(2, ["probe", "6", VIP6, "64", "eth0", "50"])).toBe("false");
  });
});
