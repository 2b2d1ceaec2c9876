/**
 * The legacy guard against a real Heartbeat 3.0.6 (Debian's heartbeat package)
 * and against forged packets from a third host. The old node runs in the
 * client's namespace with its own /etc/ha.d, /var/lib/heartbeat and
 * /var/run/heartbeat (a private mount namespace) and its own hostname (a UTS
 * namespace); it is ended by the PID in its own pid file. hb trusts it only
 * because its packets verify with the authkeys key given as [[legacy.key]].
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HB, type HbProcess } from "../lib/cluster.ts";
import { ClusterFiles, failoverConfig, holders, Lab, startHb, writeScripts } from "../lib/failover.ts";
import { announceSkip, netnsUnavailable, run, waitFor } from "../lib/netns.ts";

const HEARTBEAT = "/usr/libexec/heartbeat/heartbeat";
const why =
  netnsUnavailable() ??
  (existsSync(HEARTBEAT)
    ? undefined
    : `${HEARTBEAT} is missing (Debian package heartbeat; make test-toolchain installs it)`);
if (why) announceSkip("test/netns/legacy.test.ts", why);

const SECRET = "s3cret-legacy-0123";
const legacyKey = (secret: string) =>
  `\n[legacy]\ndeadtime = "3s"\n[[legacy.key]]\nid = 2\nmethod = "sha1"\nsecret = "${secret}"\n`;

describe.skipIf(Boolean(why))("legacy guard against a real Heartbeat 3.0.6", () => {
  let lab: Lab;
  let dir: string;
  let scripts: string;
  let files: ClusterFiles | undefined;
  let procs: HbProcess[] = [];
  let oldDir: string;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, client: true }); // node3's namespace is the forger; it runs no hb
    dir = mkdtempSync(join(tmpdir(), "hb-legacy-"));
    scripts = writeScripts(dir);
    // Heartbeat broadcasts to the interface's broadcast address: give the old node one
    await lab.exec(lab.client!, ["ip", "addr", "del", `${Lab.clientAddr}/24`, "dev", "eth0"]);
    await lab.exec(lab.client!, ["ip", "addr", "add", `${Lab.clientAddr}/24`, "brd", "+", "dev", "eth0"]);
    oldDir = join(dir, "oldnode");
    for (const d of ["ha.d", "lib/cores", "run"]) mkdirSync(join(oldDir, d), { recursive: true });
    // the package's own /etc/ha.d (rc.d, resource.d, shellfuncs), then this node's three files
    cpSync("/etc/ha.d", join(oldDir, "ha.d"), { recursive: true });
    writeFileSync(
      join(oldDir, "ha.d/ha.cf"),
      `logfile ${join(oldDir, "ha-log")}\nkeepalive 1\nwarntime 5\ndeadtime 10\ninitdead 20\nudpport 694\nbcast eth0\nnode oldnode\nnode othernode\nauto_failback on\ncrm off\n`,
    );
    writeFileSync(join(oldDir, "ha.d/authkeys"), `auth 2\n2 sha1 ${SECRET}\n`, { mode: 0o600 });
    writeFileSync(join(oldDir, "ha.d/haresources"), "");
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
    files?.cleanup();
    files = undefined;
    await stopOld();
  });
  afterAll(async () => {
    await stopOld();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Start Heartbeat as "oldnode" in the client namespace; it daemonizes and writes its pid file. */
  const startOld = async () => {
    // its pid file is /run/heartbeat.pid and its sockets live in /var/run/heartbeat: a private /run
    const inner = [
      `mount --bind ${join(oldDir, "run")} /run`,
      "mkdir -p /run/heartbeat",
      `mount --bind ${join(oldDir, "ha.d")} /etc/ha.d`,
      `mount --bind ${join(oldDir, "lib")} /var/lib/heartbeat`,
      "hostname oldnode",
      `exec ${HEARTBEAT} </dev/null >${join(oldDir, "out")} 2>&1`,
    ].join(" && ");
    const r = await lab.exec(lab.client!, [
      "unshare",
      "--mount",
      "--uts",
      "--propagation",
      "private",
      "sh",
      "-c",
      inner,
    ]);
    expect(r.code).toBe(0);
    await waitFor("Heartbeat's pid file", () => existsSync(join(oldDir, "run/heartbeat.pid")), 10_000, 100);
    // its children must be up too before the test goes on
    await waitFor(
      "Heartbeat's first packet",
      () =>
        existsSync(join(oldDir, "ha-log")) &&
        readFileSync(join(oldDir, "ha-log"), "utf8").includes("Local status now set to"),
      10_000,
      100,
    );
  };
  /** End the Heartbeat this test started, by the PID it wrote; bounded. */
  const stopOld = async () => {
    const file = join(oldDir ?? "/nonexistent", "run/heartbeat.pid");
    if (!existsSync(file)) return;
    const pid = Number(readFileSync(file, "utf8").trim());
    rmSync(file, { force: true });
    if (!Number.isInteger(pid) || pid <= 1) return;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return;
    }
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await Bun.sleep(100);
    }
    // it daemonized as a session leader: its children are in its process group
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  const report = async (i: number) => {
    const r = await run([HB, "report", "--socket", files!.socket(i)]);
    return { code: r.code, line: r.stdout.trim() };
  };
  const up = async (extra: string) => {
    files = new ClusterFiles(failoverConfig(scripts) + extra);
    const a = startHb(lab, files, 1);
    const b = startHb(lab, files, 2);
    procs.push(a, b);
    await a.waitLine(/group web: starting -> running/, 8000);
    return [a, b] as const;
  };

  test("forged packets from a third host are counted and ignored; the real Heartbeat with the key holds hb off; stopped: back", async () => {
    const [a, b] = await up(legacyKey(SECRET));
    // node3 forges Heartbeat 3 status packets for "oldnode": right shape, wrong authentication; bounded: 30 rounds
    const body = (seq: number) =>
      `###\n11:(0)t=status,12:(0)st=active,14:(0)src=oldnode,${`seq=${seq}`.length + 3}:(0)seq=${seq},50:(0)auth=2 ${"ab".repeat(20)},%%%\n`;
    const forge = join(dir, "forge.sh");
    writeFileSync(
      forge,
      `#!/bin/sh\nfor i in $(seq 1 30); do\n  printf '${body(7).replace(/\n/g, "\\n").replace(/%/g, "%%")}42:2 0123456789abcdef0123456789abcdef01234567,' | socat -u - UDP-DATAGRAM:198.51.100.255:694,broadcast\n  sleep 0.1\ndone\n`,
    );
    chmodSync(forge, 0o755);
    const f = await lab.exec(lab.nodes[2]!, [forge], 20_000);
    expect(f.code).toBe(0);
    await a.waitLine(
      new RegExp(
        `forged Heartbeat packet ignored .*claims oldnode, from ${Lab.nodeAddr(3).replace(/\./g, "\\.")} on eth0: authentication with key 2 \\(sha1\\) does not verify`,
      ),
      3000,
    );
    expect(await holders(lab)).toEqual([1]);
    expect(a.matching(/group web: running -> stopping/)).toEqual([]);
    const warned = await report(1);
    expect(warned.code).toBe(1);
    expect(warned.line).toContain("forged Heartbeat packet(s) ignored");

    // the real old node, with the authkeys key hb was given: it holds hb off
    await startOld();
    await a.waitLine(
      /\[legacy\] Heartbeat v1 node oldnode \(198\.51\.100\.100, status [^)]+\) is alive on eth0: hb takes no group/,
      10_000,
    );
    await a.waitLine(
      /group web: running -> stopping \(a live Heartbeat node \(oldnode on eth0\) could hold its addresses\)/,
      3000,
    );
    await b.waitLine(/Heartbeat v1 node oldnode .* is alive on eth0/, 5000);
    await waitFor("no hb node to hold the VIP", async () => (await holders(lab)).length === 0, 3000, 50);
    const crit = await report(2);
    expect(crit.code).toBe(2);
    expect(crit.line).toContain("Heartbeat v1 node oldnode alive on eth0 (198.51.100.100)");
    const st = JSON.parse((await run([HB, "status", "--json", "--socket", files!.socket(1)])).stdout);
    expect(st.legacy.nodes[0]).toMatchObject({
      node: "oldnode",
      interface: "eth0",
      address: "198.51.100.100",
      trusted: true,
    });
    expect(st.legacy.forged).toBeGreaterThanOrEqual(30);

    await stopOld();
    await a.waitLine(/Heartbeat v1 node oldnode on eth0: silent for 3 s: gone/, 10_000);
    try {
      await waitFor("web back on node1", async () => JSON.stringify(await holders(lab)) === "[1]", 5000, 50);
    } catch (e) {
      console.log(
        "A:\n" +
          a.lines
            .slice(-25)
            .map((l) => l.text)
            .join("\n"),
      );
      console.log(
        "B:\n" +
          b.lines
            .slice(-25)
            .map((l) => l.text)
            .join("\n"),
      );
      throw e;
    }
  }, 60_000);

  test("without the old cluster's key the real Heartbeat is reported, not obeyed: hb keeps web", async () => {
    const [a] = await up("");
    await startOld();
    await a.waitLine(
      /Heartbeat v1 node oldnode \(198\.51\.100\.100, status [^)]+\) is heard on eth0, unauthenticated \(no \[\[legacy\.key\]\]\): hb keeps its groups/,
      10_000,
    );
    await Bun.sleep(500);
    expect(await holders(lab)).toEqual([1]);
    const r = await report(1);
    expect(r.code).toBe(1);
    expect(r.line).toContain("Heartbeat v1 node oldnode heard on eth0 (198.51.100.100), unauthenticated: not obeyed");
  }, 60_000);

  test("a wrong key: the real Heartbeat's packets count as forged; hb keeps web", async () => {
    const [a] = await up(legacyKey("not-the-old-secret"));
    await startOld();
    await a.waitLine(
      /forged Heartbeat packet ignored .*claims oldnode, from 198\.51\.100\.100 on eth0: authentication with key 2 \(sha1\) does not verify/,
      10_000,
    );
    expect(await holders(lab)).toEqual([1]);
  }, 60_000);
});
