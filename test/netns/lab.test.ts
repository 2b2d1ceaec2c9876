/** The test lab itself: topology, cable pulls, and cleanup even on failure. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { announceSkip, Lab, leftoverNamespaces, netnsUnavailable, run, runSync, waitFor } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/lab.test.ts", why);

const rootLinks = () =>
  runSync(["ip", "-o", "link", "show"])
    .stdout.split("\n")
    .map((l) => l.split(":")[1]?.trim())
    .filter((x): x is string => Boolean(x))
    .sort();

describe.skipIf(Boolean(why))("network lab", () => {
  let lab: Lab;
  let before: string[];
  let beforeAddrs: string;
  beforeAll(async () => {
    before = rootLinks();
    beforeAddrs = runSync(["ip", "-o", "addr", "show"]).stdout;
    lab = await Lab.create({ nodes: 2, lans: 2, client: true });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  test("nodes reach the client and each other on both LANs; the root namespace is untouched", async () => {
    expect((await lab.exec(lab.nodes[0]!, ["ping", "-c1", "-W1", Lab.clientAddr])).code).toBe(0);
    expect((await lab.exec(lab.nodes[0]!, ["ping", "-c1", "-W1", Lab.nodeAddr(2, 1)])).code).toBe(0);
    expect(rootLinks()).toEqual(before);
    expect(runSync(["ip", "-o", "addr", "show"]).stdout).toBe(beforeAddrs);
  });

  test("pulling a node's switch port cuts it off, plugging it back restores it", async () => {
    await lab.plug(1, false);
    expect((await lab.exec(lab.nodes[0]!, ["ping", "-c1", "-W1", Lab.clientAddr])).code).not.toBe(0);
    // the other LAN still works
    expect((await lab.exec(lab.nodes[0]!, ["ping", "-c1", "-W1", Lab.nodeAddr(2, 1)])).code).toBe(0);
    await lab.plug(1, true);
    await waitFor(
      "node1 to reach the client again",
      async () => (await lab.exec(lab.nodes[0]!, ["ping", "-c1", "-W1", Lab.clientAddr])).code === 0,
      5000,
      50,
    );
  });

  test("destroy removes every namespace of the lab", async () => {
    const l = await Lab.create({ nodes: 1 });
    expect(leftoverNamespaces(l.prefix).length).toBe(2);
    await l.destroy();
    expect(leftoverNamespaces(l.prefix)).toEqual([]);
  });

  for (const how of ["throw", "SIGTERM", "SIGINT"] as const) {
    test(`a test process that dies (${how}) leaves no namespace behind`, async () => {
      const p = Bun.spawn([process.execPath, `${import.meta.dir}/../lib/fixtures/lab-crash.ts`, how], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const reader = p.stdout.getReader();
      const { value } = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => ({ value: undefined }))]);
      const prefix = new TextDecoder().decode(value).trim();
      expect(prefix).toMatch(/^hbt/);
      if (how !== "throw") {
        expect(leftoverNamespaces(prefix).length).toBe(4);
        p.kill(how);
      }
      await Promise.race([p.exited, Bun.sleep(10_000)]);
      expect(p.exitCode).not.toBe(0);
      expect(leftoverNamespaces(prefix)).toEqual([]);
    });
  }
});

test("run() is bounded: a hung command is killed at its timeout", async () => {
  const t0 = performance.now();
  const r = await run(["sleep", "5"], 200);
  expect(r.code).not.toBe(0);
  expect(performance.now() - t0).toBeLessThan(3000);
});
