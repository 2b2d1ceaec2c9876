/**
 * Quiet listening on a real kernel (native/engine_quiet.c). An idle pair at keepalive 1.5 s, two links:
 * - routine beats wait in one node's sockets (its UDP receive queue is seldom empty), while the
 *   other reads them as they come: the quiet node wakes on its own timer only;
 * - news still reaches the quiet node at once: a planned move asked just after its beat, when it
 *   would next read its sockets a whole keepalive later, completes within half a keepalive;
 * - replayed routine frames (a third host floods them) make the quiet node listen again, and no
 *   peer goes late.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { holders, VIP } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run } from "../lib/netns.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/quiet.test.ts", why);

const ROOT = join(import.meta.dir, "../..");
const RAWPKT = join(ROOT, "build/rawpkt");
const KEEPALIVE_MS = 1500;

describe.skipIf(Boolean(why))("quiet listening on a real kernel", () => {
  let lab: Lab;
  let files: ClusterFiles;
  const procs: HbProcess[] = [];
  beforeAll(async () => {
    const cc = Bun.spawnSync(["gcc", "-O2", "-Wall", "-Werror", "-o", RAWPKT, "test/lib/rawpkt.c"], { cwd: ROOT });
    if (cc.exitCode !== 0) throw new Error(cc.stderr.toString());
    lab = await Lab.create({ nodes: 3, lans: 2 });
    files = new ClusterFiles(
      configText({
        nodes: 2,
        timing: { keepalive: `${KEEPALIVE_MS}ms`, warntime: "3s", deadtime: "4500ms", initdead: "5s" },
        links: ['kind = "udp"\ninterface = "eth0"', 'kind = "ether"\ninterface = "eth1"'],
        extra: `[[group]]\nname = "web"\npreferred = "node1"\nresources = [{ ip = "${VIP}/24", interface = "eth0" }]\n`,
      }),
    );
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.destroy();
    files?.cleanup();
  });

  /** Bytes waiting in node i's heartbeat UDP socket (port 694), from /proc/net/udp. */
  const rxQueue = async (i: number) => {
    const r = await lab.exec(lab.nodes[i - 1]!, ["cat", "/proc/net/udp"]);
    const line = r.stdout.split("\n").find((l) => / [0-9A-F]{8}:02B6 /.test(l));
    return Number.parseInt(line?.trim().split(/\s+/)[4]?.split(":")[1] ?? "0", 16);
  };
  /** Of `n` samples 100 ms apart, how often each node had frames waiting. */
  const waiting = async (n: number) => {
    const count = [0, 0];
    for (let s = 0; s < n; s++) {
      for (const i of [1, 2]) if ((await rxQueue(i)) > 0) count[i - 1]!++;
      await Bun.sleep(100);
    }
    return count;
  };
  const hb = (i: number, args: string[]) => run([HB, ...args, "--socket", files.socket(i)], 15_000);
  const noneLate = () => procs.flatMap((p) => p.matching(/peer node\d: up -> (late|dead)/));

  test("one node of an idle pair leaves routine beats in its socket; news reaches it at once; replays make it listen", async () => {
    const a = startHb(lab, files, 1);
    const b = startHb(lab, files, 2);
    procs.push(a, b);
    await a.waitLine(/group web: \w+ -> running/, 15_000);
    await b.waitLine(/peer node1: unknown -> up/, 15_000);
    await Bun.sleep(2 * KEEPALIVE_MS); // in step, the records settled

    // routine beats wait in the quiet node's socket; the other node's is read as they come. Anything
    // unusual (a pause of this VM, a record that changed) makes both listen for a while: a few windows
    let [w1, w2] = [0, 0];
    for (let window = 0; window < 4 && !(Math.max(w1, w2) >= 6 && Math.min(w1, w2) <= 2); window++)
      [w1, w2] = (await waiting(10)) as [number, number];
    if (Math.max(w1, w2) < 6)
      for (const p of [a, b])
        console.log(
          p.lines
            .slice(-25)
            .map((l) => `${p.name}: ${l.text}`)
            .join("\n"),
        );
    const quiet = w1 > w2 ? 1 : 2;
    expect(Math.max(w1, w2)).toBeGreaterThanOrEqual(6);
    expect(Math.min(w1, w2)).toBeLessThanOrEqual(2);

    // right after the quiet node's beat (as the other node heard it), ask for a move that it must
    // hear: node1 quiet: node2 asks to take web over; node2 quiet: node1 stands by
    const other = quiet === 1 ? 2 : 1;
    const st = JSON.parse((await hb(other, ["status", "--json"])).stdout);
    const heard = Math.min(...st.peers[0].links.map((l: { last_heard_ms: number }) => l.last_heard_ms));
    await Bun.sleep((KEEPALIVE_MS - (heard % KEEPALIVE_MS) + 50) % KEEPALIVE_MS);
    const t0 = performance.now();
    const cmd = quiet === 1 ? hb(2, ["takeover", "web"]) : hb(1, ["standby", "web"]);
    let moved = Number.NaN;
    for (let i = 0; i < 250 && Number.isNaN(moved); i++) {
      if ((await holders(lab)).join() === "2") moved = performance.now() - t0;
      else await Bun.sleep(20);
    }
    expect((await cmd).code).toBe(0);
    console.log(
      `node${quiet} was quiet (frames waiting in ${Math.max(w1, w2)} of 10 samples, the other node ${Math.min(w1, w2)}); the move took ${Math.round(moved)} ms at keepalive ${KEEPALIVE_MS} ms`,
    );
    expect(moved).toBeLessThan(KEEPALIVE_MS / 2);

    // replays of routine frames, captured by a third host, flooded back: the bells stay silent for
    // them, the quiet socket fills, and the node listens again for a while; nobody goes late
    await Bun.sleep(500); // the records settle
    const attacker = lab.nodes[2]!;
    const caps = await Promise.all(
      [0, 1].map((l) => lab.exec(attacker, [RAWPKT, "capture", `eth${l}`, "4", String(KEEPALIVE_MS + 500)], 5000)),
    );
    const frames = caps.map((c) => c.stdout.trim().split("\n").filter(Boolean));
    expect(frames[0]!.length + frames[1]!.length).toBeGreaterThanOrEqual(4);
    const marks = procs.map((p) => p.lines.length);
    for (const l of [0, 1]) {
      const p = Bun.spawn(["ip", "netns", "exec", attacker, RAWPKT, "send", `eth${l}`], {
        stdin: "pipe",
        stdout: "ignore",
      });
      p.stdin.write(`${Array.from({ length: 600 }, () => frames[l]!.join("\n")).join("\n")}\n`);
      await p.stdin.end();
      await p.exited;
    }
    await a.waitLine(/dropped frames: .*replay \d+/, 5000, marks[0]);
    await b.waitLine(/dropped frames: .*replay \d+/, 5000, marks[1]);
    const after = await waiting(5);
    expect(Math.max(...after)).toBeLessThanOrEqual(1); // both listen: nothing waits
    await Bun.sleep(1000);
    expect(noneLate()).toEqual([]);
    expect(await holders(lab)).toEqual([2]);
  }, 60_000);
});
