/**
 * Stray signals on a real daemon: the holder of a VIP gets every signal an
 * operator or a program might send by mistake. It must stay up, keep the VIP,
 * never look late or dead to its peer, and do what each signal is documented
 * to do (USR1: a status snapshot in the log; USR2: debug logging toggled).
 * TERM and QUIT still hand over and exit 0.
 */
import { describe, expect, test } from "bun:test";
import { constants } from "node:os";
import { ClusterFiles, failoverConfig, holders } from "../lib/failover.ts";
import { announceSkip, netnsUnavailable, waitFor } from "../lib/netns.ts";
import { labSuite } from "../lib/suite.ts";

const why = netnsUnavailable();
if (why) announceSkip("test/netns/signals.test.ts", why);

// glibc: SIGRTMIN is 34, SIGRTMAX 64
// SIGPWR is the runtime's own (no effect, not logged); the last four are ignored by default anyway
const STRAY = [
  "SIGPIPE",
  "SIGALRM",
  "SIGIO",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGPWR",
  "SIGTRAP",
  "SIGSYS",
  "SIGURG",
  "SIGWINCH",
  "SIGCHLD",
  "SIGCONT",
] as const;
const NUMBERED = [16, 34, 35, 40, 50, 63, 64]; // SIGSTKFLT and real-time signals

describe.skipIf(Boolean(why))("signals on a running holder", () => {
  const t = labSuite({ nodes: 2, client: true }, "sig");
  const cluster = async () => {
    t.files = new ClusterFiles(
      failoverConfig(t.scripts, {
        timing: { keepalive: "50ms", warntime: "100ms", deadtime: "150ms", initdead: "2s" },
      }),
    );
    const a = t.start(1);
    const b = t.start(2);
    await a.waitLine(/group web: starting -> running/, 8000);
    await waitFor("node1 alone to hold the VIP", async () => JSON.stringify(await holders(t.lab)) === "[1]", 5000, 20);
    return [a, b] as const;
  };

  test("every stray signal is survived and logged; USR1 snapshots, USR2 toggles debug; nobody notices", async () => {
    const [a, b] = await cluster();
    const mark = b.lines.length;
    const pid = a.proc.pid;
    for (const sig of STRAY) {
      process.kill(pid, constants.signals[sig]);
      await Bun.sleep(30);
    }
    for (const n of NUMBERED) {
      process.kill(pid, n);
      await Bun.sleep(30);
    }
    process.kill(pid, "SIGUSR1");
    await a.waitLine(/SIGUSR1: active; running web; peers: node2 up/, 3000);
    await a.waitLine(/SIGUSR1: group web: here running, held by node1/, 3000);
    process.kill(pid, "SIGUSR2");
    await a.waitLine(/SIGUSR2: debug logging on/, 3000);
    process.kill(pid, "SIGUSR2");
    await a.waitLine(/SIGUSR2: debug logging off/, 3000);
    // the shim's counting handler is read every second
    await a.waitLine(/SIGSTKFLT received: ignored/, 3000);
    await a.waitLine(/SIGRTMIN\+0 received: ignored/, 3000);
    expect(
      ["SIGPIPE", "SIGALRM", "SIGXCPU", "SIGSYS", "SIGTRAP"].filter(
        (sig) => a.matching(new RegExp(`${sig} received`)).length === 0,
      ),
    ).toEqual([]);
    await Bun.sleep(300);
    expect(a.proc.exitCode).toBeNull();
    expect(await holders(t.lab)).toEqual([1]);
    expect(b.matching(/peer node1: .* -> (late|dead)/, mark)).toEqual([]);
    expect(a.matching(/test hook/)).toEqual([]);
  }, 30_000);

  test("a storm of one signal is logged once per 10 s with a count", async () => {
    const [a] = await cluster();
    for (let i = 0; i < 200; i++) process.kill(a.proc.pid, "SIGALRM");
    await Bun.sleep(500);
    expect(a.proc.exitCode).toBeNull();
    expect(a.matching(/SIGALRM received/).length).toBe(1);
  }, 30_000);

  for (const sig of ["SIGQUIT", "SIGINT"] as const)
    test(`${sig} hands the group over and exits 0`, async () => {
      const [a, b] = await cluster();
      a.proc.kill(sig);
      expect(await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => -1)])).toBe(0);
      await b.waitLine(/group web: stopped -> starting/, 3000);
      await waitFor(
        "node2 alone to hold the VIP",
        async () => JSON.stringify(await holders(t.lab)) === "[2]",
        3000,
        20,
      );
      expect(b.matching(/peer node1: up -> dead/)).toEqual([]);
    }, 30_000);
});
