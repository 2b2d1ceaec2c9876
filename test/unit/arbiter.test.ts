/**
 * The arbiter's lease keeper (src/arbiter/keeper.ts) against the in-memory etcd, on a fake clock: when it
 * calls its lease lost (never later than two thirds of the TTL after its last renewal, so etcd cannot
 * have expired it yet), what it does when etcd did expire it, keys changed behind its back, keys left by
 * an earlier run, releases and the revoke at exit.
 */
import { expect, test } from "bun:test";
import { FakeEtcd } from "../../src/arbiter/fake.ts";
import { LeaseKeeper } from "../../src/arbiter/keeper.ts";
import type { ArbiterReport } from "../../src/arbiter/types.ts";
import { FakeClock } from "../../src/heartbeat/fake.ts";

const TTL = 3000;

function setup(groups = ["web", "db"]) {
  const fc = new FakeClock();
  const clock = {
    now: () => fc.now,
    setTimeout: (fn: () => void, ms: number) => fc.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => fc.clearTimeout(h as number),
  };
  const etcd = new FakeEtcd(clock);
  const client = etcd.client("n1");
  const reports: (ArbiterReport & { at: number })[] = [];
  const log: string[] = [];
  const expiries: { at: number; expiry: number | undefined }[] = [];
  const keeper = new LeaseKeeper(client, clock, {
    self: "n1",
    prefix: "/hb/t/",
    ttlMs: TTL,
    groups: () => groups,
    log: (l) => log.push(l),
    onExpiry: (expiry) => expiries.push({ at: fc.now, expiry }),
  });
  keeper.start((e) => reports.push({ ...e, at: fc.now }));
  /** advance ms, 1 ms at a time, letting promises settle */
  const run = async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      fc.advance(1);
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  const key = (g: string) => etcd.keys.get(`/hb/t/groups/${g}`);
  return { fc, etcd, client, keeper, reports, log, run, key, expiries };
}

test("a lease, then a claim: the key names us under our lease and the keeper says so", async () => {
  const t = setup();
  await t.run(10);
  expect(t.reports).toEqual([{ type: "lease", valid: true, detail: undefined, at: expect.any(Number) }]);
  void t.keeper.claim(0, true);
  await t.run(10);
  expect(t.reports.at(-1)).toMatchObject({ type: "claim", group: 0, held: true });
  expect(t.key("web")?.value).toBe("n1");
  expect(t.keeper.status()).toMatchObject({ reachable: true, owners: { web: "n1", db: "" }, ttl_ms: TTL });
});

test("etcd unreachable: the lease is called lost two thirds of the TTL after its last renewal, while etcd still has it", async () => {
  const t = setup();
  void t.keeper.claim(0, true);
  await t.run(1000);
  const renewals: number[] = [];
  const orig = t.client.keepalive.bind(t.client);
  t.client.keepalive = (id) => {
    renewals.push(t.fc.now);
    return orig(id);
  };
  await t.run(600);
  t.client.cut = true;
  const last = renewals.at(-1)!;
  await t.run(TTL);
  const lost = t.reports.find((r) => r.type === "lease" && !r.valid)!;
  expect(lost.at).toBeGreaterThanOrEqual(last + (2 * TTL) / 3);
  expect(lost.at).toBeLessThanOrEqual(last + (2 * TTL) / 3 + 2);
  expect((lost as { detail: string }).detail).toContain("connection timed out");
  // and at that moment etcd still had the lease and our key (a third of the TTL to spare)
  t.fc.now = lost.at;
  t.etcd.expire();
  expect(t.etcd.leases.size).toBe(1);
});

test("every renewal tells when etcd may expire the lease at the earliest (the heartbeat thread's deadline); a lost lease ends it", async () => {
  const t = setup();
  await t.run(10);
  const renewals: number[] = [];
  const orig = t.client.keepalive.bind(t.client);
  t.client.keepalive = (id) => {
    renewals.push(t.fc.now);
    return orig(id);
  };
  await t.run(1200);
  expect(renewals.length).toBeGreaterThanOrEqual(2);
  const last = renewals.at(-1)!;
  // the send time of a renewal + TTL: etcd cannot expire the lease before it
  expect(t.expiries.at(-1)).toEqual({ at: expect.any(Number), expiry: last + TTL });
  t.client.cut = true;
  await t.run(TTL);
  const lost = t.reports.find((r) => r.type === "lease" && !r.valid)!;
  expect(t.expiries.at(-1)).toEqual({ at: lost.at, expiry: undefined });
});

test("etcd expired the lease while we were away: a new lease, and the keys we want are claimed again", async () => {
  const t = setup();
  void t.keeper.claim(0, true);
  await t.run(100);
  t.client.cut = true;
  await t.run(TTL + 500);
  t.etcd.expire();
  expect(t.key("web")).toBeUndefined();
  t.client.cut = false;
  await t.run(1000);
  expect(t.log.join("\n")).toContain("etcd no longer has lease");
  expect(t.key("web")?.value).toBe("n1");
  expect(t.reports.filter((r) => r.type === "lease").map((r) => (r as { valid: boolean }).valid)).toEqual([
    true,
    false,
    true,
  ]);
  expect(t.reports.at(-1)).toMatchObject({ type: "claim", group: 0, held: true });
});

test("a key taken behind our back is reported within a renewal period; one held elsewhere is asked for again until free", async () => {
  const t = setup();
  void t.keeper.claim(0, true);
  await t.run(50);
  const other = t.etcd.grant(3);
  t.etcd.put("/hb/t/groups/web", "n2", other.id);
  await t.run(TTL / 6 + 10);
  expect(t.reports.at(-1)).toMatchObject({ type: "claim", group: 0, held: false, owner: "n2" });
  // n2's lease ends at etcd: the key is free, and ours within POLL_MS
  t.etcd.leases.get(other.id)!.expires = t.fc.now;
  await t.run(150);
  expect(t.reports.at(-1)).toMatchObject({ type: "claim", group: 0, held: true });
  expect(t.key("web")?.value).toBe("n1");
});

test("a key an earlier run of this node left is deleted; a released key is deleted before the release resolves", async () => {
  const fc0 = setup();
  const old = fc0.etcd.grant(60);
  fc0.etcd.put("/hb/t/groups/db", "n1", old.id);
  await fc0.run(20);
  expect(fc0.key("db")).toBeUndefined();
  expect(fc0.log.join("\n")).toContain(
    "removed /hb/t/groups/db: it named this node, which does not hold that group (left by an earlier run)",
  );
  void fc0.keeper.claim(0, true);
  await fc0.run(20);
  let released = false;
  void fc0.keeper.claim(0, false).then(() => (released = true));
  expect(fc0.key("web")?.value).toBe("n1");
  await fc0.run(10);
  expect(released).toBe(true);
  expect(fc0.key("web")).toBeUndefined();
});

test("a release etcd does not answer is done later, when it answers: the key never blocks a peer for good", async () => {
  const t = setup();
  void t.keeper.claim(0, true);
  await t.run(20);
  t.client.cut = true;
  let released = false;
  void t.keeper.claim(0, false).then(() => (released = true));
  await t.run(50);
  expect(released).toBe(true); // the caller is not held up
  expect(t.key("web")?.value).toBe("n1");
  t.client.cut = false;
  await t.run(TTL / 6 + 50);
  expect(t.key("web")).toBeUndefined();
});

test("close revokes the lease: every key of ours is gone at once", async () => {
  const t = setup();
  void t.keeper.claim(0, true);
  void t.keeper.claim(1, true);
  await t.run(20);
  expect(t.etcd.keys.size).toBe(2);
  const closing = t.keeper.close();
  await t.run(5);
  await closing;
  expect(t.etcd.keys.size).toBe(0);
  expect(t.log.join("\n")).toMatch(/lease \d+ revoked/);
});
