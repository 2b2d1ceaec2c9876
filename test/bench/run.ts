/**
 * make bench: performance figures that unit tests must not assert on.
 * Heartbeat: daemon CPU and RSS (issue 3). Idle: CPU and wake-ups by thread next to keepalived (issue 14). Failover: outage, detection and decision -> GARP for hb
 * and keepalived side by side (issue 4). Arbiter: kill -9 and planned moves with and without etcd (issue 12). Monitors: kill of a service -> the client's next connect, restart and failover (issue 17). Packet loss: false failovers at 10/30/50 % (issue 6). Load: false failovers under stress-ng, hb next to keepalived (issue 16), and where the time of a late beat goes. Floods of
 * forged frames: CPU per frame and the rate a real beat survives. The wake-up floor of this machine
 * is printed first: in a VM every sleep/wake costs tens of microseconds, which
 * bounds what any daemon with N wake-ups per keepalive can reach.
 */
import { join } from "node:path";
import { benchArbiter, printArbiter } from "./arbiter.ts";
import { benchFailover, printFailover } from "./failover.ts";
import { benchFlood, printFlood } from "./flood.ts";
import { benchHeartbeat, printHeartbeat } from "./heartbeat.ts";
import { benchIdle, printIdle } from "./idle.ts";
import { benchLoad, printLoad } from "./load.ts";
import { benchLoss, printLoss } from "./loss.ts";
import { benchMonitor, printMonitor } from "./monitor.ts";
import { benchPauses, printPauses } from "./pauses.ts";

const ROOT = join(import.meta.dir, "../..");
const cc = Bun.spawnSync(["gcc", "-O2", "-o", join(ROOT, "build/wakeup"), join(import.meta.dir, "wakeup.c")]);
if (cc.exitCode === 0) {
  console.log("wake-up floor of this machine (a thread that only sleeps and wakes):");
  for (const [ms, n] of [
    [1000, 3],
    [20, 250],
  ] as const)
    console.log(
      `  ${Bun.spawnSync([join(ROOT, "build/wakeup"), String(ms), String(n)], { timeout: 20_000 })
        .stdout.toString()
        .trim()}`,
    );
}
printHeartbeat(await benchHeartbeat());
printIdle(await benchIdle());
printFailover(await benchFailover());
printMonitor(await benchMonitor());
printArbiter(await benchArbiter());
printLoss(await benchLoss());
printLoad(await benchLoad());
printPauses(await benchPauses());
printFlood(await benchFlood());
